"""The container of labelled clusters that every data source returns: ``ClusterSet``.

The clusters are packed into one (P, 4) array (x, y, z, intensity in [0, 1]) with offsets, one label
per cluster and per-cluster metadata. Clusters stay in the SENSOR frame (not centred) so range and
height features can be computed later; CAD sources (ModelNet40) are centred on the unit sphere instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_META_PREFIX = "meta__"


@dataclass
class ClusterSet:
    """K labelled clusters packed into one array.

    points: (P, 4) float32 x, y, z, intensity (intensity in [0, 1], 0 when unknown), sensor frame.
    offsets: (K+1,) int64; cluster i is ``points[offsets[i]:offsets[i+1]]``.
    labels: (K,) int64 index into ``class_names``.
    class_names: the class of every label id.
    meta: per-cluster (K,) arrays: "source" (str), "range_m" (float32, xy distance of the cluster
        centroid from the sensor), "purity" (float32, majority share of the ground truth; 1 for
        sources whose clusters are exact objects), "sensor" (str), "frame" (int32, the scene id
        within its source: the sim seed, the KITTI frame number, the object/file index).
    info: free-form JSON-serialisable provenance (e.g. the drop summary of the sim source).
    """

    points: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points = np.ascontiguousarray(self.points, dtype=np.float32).reshape(-1, 4)
        self.offsets = np.asarray(self.offsets, dtype=np.int64).reshape(-1)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.class_names = tuple(str(c) for c in self.class_names)
        k = len(self.labels)
        if len(self.offsets) != k + 1 or self.offsets[0] != 0 or self.offsets[-1] != len(self.points):
            raise ValueError(
                f"offsets must have K+1={k + 1} entries from 0 to P={len(self.points)}, "
                f"got {len(self.offsets)} entries ending at {self.offsets[-1] if len(self.offsets) else None}"
            )
        if np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must be non-decreasing")
        if k and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must lie in [0, {len(self.class_names)})")
        for key, arr in self.meta.items():
            if len(arr) != k:
                raise ValueError(f"meta[{key!r}] has {len(arr)} entries, expected {k}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def outlier(self) -> np.ndarray:
        """(K,) bool: clusters that no class fits (ground remnants, merges; ``meta["outlier"]``)."""
        return np.asarray(self.meta.get("outlier", np.zeros(len(self), bool)), bool)

    @property
    def sizes(self) -> np.ndarray:
        """(K,) int64 number of points of every cluster."""
        return np.diff(self.offsets)

    @property
    def ranges(self) -> np.ndarray:
        """(K,) xy distance (m) of every cluster's centroid from the sensor: ``meta["range_m"]``, which
        every loader writes; computed from the points for a set built without it."""
        if "range_m" in self.meta:
            return np.asarray(self.meta["range_m"], np.float64)
        return centroid_ranges(self.points, self.offsets)

    def cluster(self, i: int) -> np.ndarray:
        """Points (n_i, 4) of cluster ``i`` (a view)."""
        return self.points[self.offsets[i] : self.offsets[i + 1]]

    def subset(self, idx: np.ndarray | Sequence[int]) -> ClusterSet:
        """The clusters ``idx`` (int indices in the given order, or a (K,) bool mask), repacked."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"mask must have shape ({len(self)},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        sizes = self.sizes[idx]
        offsets = np.zeros(len(idx) + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        # Point index of every output point: start of its cluster + position inside it.
        starts = np.repeat(self.offsets[idx] - offsets[:-1], sizes)
        rows = np.arange(offsets[-1], dtype=np.int64) + starts
        return ClusterSet(
            self.points[rows], offsets, self.labels[idx], self.class_names,
            {k: v[idx] for k, v in self.meta.items()}, dict(self.info),
        )

    def class_counts(self) -> dict[str, int]:
        """Number of clusters of every class (all classes, zeros included)."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts, strict=True)}

    def groups(self) -> np.ndarray:
        """(K,) int64 scene group of every cluster: one id per distinct (source, frame)."""
        src = self.meta.get("source", np.full(len(self), "", dtype="<U1")).astype(str)
        frame = self.meta.get("frame", np.arange(len(self), dtype=np.int32)).astype(np.int64)
        keys = np.char.add(np.char.add(src, "#"), frame.astype(str))
        return np.unique(keys, return_inverse=True)[1].reshape(-1).astype(np.int64)

    def split(self, fractions: Sequence[float], seed: int = 0) -> list[ClusterSet]:
        """Split by scene, never by cluster: all clusters of one (source, frame) go to one part.

        For the sim source ``frame`` is the seed, so the views of one scene by different sensors stay
        together and test clusters come from unseen scenes. ``fractions`` (positive, normalised to
        sum 1) are shares of the scenes; the scene order is shuffled with ``seed``.
        """
        frac = np.asarray(fractions, dtype=np.float64)
        if frac.ndim != 1 or len(frac) == 0 or np.any(frac < 0) or frac.sum() <= 0:
            raise ValueError(f"fractions must be non-negative with a positive sum, got {list(fractions)}")
        groups = self.groups()
        n_groups = int(groups.max()) + 1 if len(groups) else 0
        perm = np.random.default_rng(seed).permutation(n_groups)
        bounds = np.round(np.cumsum(frac / frac.sum()) * n_groups).astype(np.int64)
        part_of_group = np.empty(n_groups, np.int64)
        start = 0
        for p, stop in enumerate(bounds):
            part_of_group[perm[start:stop]] = p
            start = stop
        part = part_of_group[groups] if len(groups) else np.zeros(0, np.int64)
        return [self.subset(np.flatnonzero(part == p)) for p in range(len(frac))]

    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` (no pickled objects; strings as fixed-width unicode). Returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "points": self.points,
            "offsets": self.offsets,
            "labels": self.labels,
            "class_names": np.array(self.class_names, dtype=str),
            "info": np.array(json.dumps(self.info, sort_keys=True)),
        }
        for key, arr in self.meta.items():
            arr = np.asarray(arr)
            if arr.dtype == object:
                arr = arr.astype(str)
            arrays[_META_PREFIX + key] = arr
        # Write next to the target and rename, so a killed run never leaves a truncated cache file.
        tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ClusterSet:
        """Read a file written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = {k[len(_META_PREFIX) :]: z[k] for k in z.files if k.startswith(_META_PREFIX)}
            info = json.loads(str(z["info"])) if "info" in z.files else {}
            return cls(z["points"], z["offsets"], z["labels"], tuple(z["class_names"].tolist()), meta, info)

    @classmethod
    def concatenate(cls, sets: Sequence[ClusterSet]) -> ClusterSet:
        """Join sets with the same ``class_names`` and meta keys (info of the first set is kept)."""
        if not sets:
            raise ValueError("nothing to concatenate")
        names = sets[0].class_names
        keys = set(sets[0].meta)
        for s in sets[1:]:
            if s.class_names != names:
                raise ValueError(f"class_names differ: {s.class_names} vs {names}")
            if set(s.meta) != keys:
                raise ValueError(f"meta keys differ: {sorted(s.meta)} vs {sorted(keys)}")
        sizes = np.concatenate([s.sizes for s in sets])
        offsets = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        return cls(
            np.concatenate([s.points for s in sets]), offsets, np.concatenate([s.labels for s in sets]), names,
            {k: np.concatenate([s.meta[k] for s in sets]) for k in sorted(keys)}, dict(sets[0].info),
        )

    @classmethod
    def from_list(
        cls,
        clusters: Sequence[np.ndarray],
        labels: Sequence[int],
        class_names: Sequence[str],
        *,
        source: str | Sequence[str],
        sensor: str | Sequence[str],
        frame: int | Sequence[int],
        purity: float | Sequence[float] = 1.0,
        range_m: Sequence[float] | None = None,
        info: dict[str, Any] | None = None,
    ) -> ClusterSet:
        """A ClusterSet from a list of (n_i, 4) clusters; scalars in the meta are broadcast."""
        k = len(clusters)
        sizes = np.array([len(c) for c in clusters], np.int64)
        offsets = np.zeros(k + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        points = np.concatenate(clusters).astype(np.float32) if k else np.zeros((0, 4), np.float32)
        if range_m is None:
            range_m = centroid_ranges(points, offsets)

        def full(v, dtype):
            if isinstance(v, str | int | float):  # a str whole: np.full(k, "folder", dtype=str) keeps "f"
                return np.full(k, v, dtype=f"<U{max(len(v), 1)}" if isinstance(v, str) else dtype)
            return np.asarray(v, dtype=dtype).reshape(k)

        meta = {
            "source": full(source, str),
            "range_m": full(range_m, np.float32),
            "purity": full(purity, np.float32),
            "outlier": np.zeros(k, bool),
            "sensor": full(sensor, str),
            "frame": full(frame, np.int32),
        }
        return cls(points, offsets, np.asarray(labels, np.int64).reshape(k), tuple(class_names), meta, info or {})


    @classmethod
    def empty(cls, class_names: Sequence[str]) -> ClusterSet:
        """A set of no clusters."""
        return cls.from_list([], [], class_names, source=[], sensor=[], frame=[], purity=[], range_m=[])


def centroid_ranges(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(K,) float64 xy distance (m) of every cluster's centroid from the sensor: the clusters of
    ``points`` (N, >=2) packed by ``offsets`` (K + 1,); 0 for an empty cluster."""
    sizes = np.diff(offsets)
    k = len(sizes)
    seg = np.repeat(np.arange(k), sizes)
    n = np.maximum(sizes, 1)
    x, y = (np.bincount(seg, weights=points[:, i], minlength=k) / n for i in (0, 1))
    return np.hypot(x, y)


def format_summary(cs: ClusterSet) -> str:
    """One human-readable block: clusters kept/dropped (sim), class balance, points per cluster."""
    lines = []
    s = cs.info.get("summary")
    if s:
        lines.append(
            f"{s.get('frames', 0)} frames in {s.get('seconds', 0):.1f} s ({s.get('workers', 1)} workers): "
            f"{s.get('clusters', 0)} clusters, kept {s.get('kept', 0)}, outliers (ground remnants "
            f"{s.get('outliers_ground', 0)}, merges {s.get('outliers_impure', 0)}), dropped small "
            f"{s.get('dropped_small', 0)}; "
            f"oversize left out by the pipeline {s.get('oversize_left_out', 0)}"
        )
    n = max(len(cs), 1)
    lines.append(
        "classes: " + ", ".join(f"{k} {v} ({100 * v / n:.1f}%)" for k, v in cs.class_counts().items())
    )
    if len(cs):
        sz = cs.sizes
        lines.append(
            f"{len(cs)} clusters, {len(cs.points)} points; points/cluster median {int(np.median(sz))}, "
            f"p10 {int(np.percentile(sz, 10))}, p90 {int(np.percentile(sz, 90))}, max {int(sz.max())}"
        )
    return "\n".join(lines)


def intensity01(pts: np.ndarray) -> np.ndarray:
    """Copy with intensity scaled to [0, 1]: values above 1 are taken as 0..255 driver units."""
    pts = np.array(pts[:, :4], dtype=np.float32)
    if len(pts) and np.nanmax(pts[:, 3]) > 1.0:
        pts[:, 3] /= 255.0
    pts[:, 3] = np.clip(np.nan_to_num(pts[:, 3]), 0.0, 1.0)
    return pts

