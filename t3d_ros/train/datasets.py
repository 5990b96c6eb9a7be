"""Labelled point-cloud clusters for training and evaluating the cluster classifier.

Every source returns one container, :class:`ClusterSet`: the clusters packed into one (P, 4) array
(x, y, z, intensity in [0, 1]) with offsets, one label per cluster and per-cluster metadata.
Clusters stay in the SENSOR frame (not centred) so range / height features can be computed later;
CAD sources (ModelNet40) are centred on the unit sphere instead (range 0).

Sources:

- :func:`make_sim_clusters` / :func:`load_or_make_sim_clusters`: simulated frames cut by the node's
  own segmentation, each cluster labelled by the majority ground-truth class of its points. The
  default training data: the same partial views, ground remnants and merges the node sees.
- :func:`load_modelnet40`: ModelNet40 in the ``modelnet40_normal_resampled`` (txt) or
  ``modelnet40_ply_hdf5_2048`` (HDF5, needs ``h5py``) layout, for teacher pre-training.
- :func:`load_kitti_objects` (points inside the labelled 3D boxes) and
  :func:`load_kitti_frame_clusters` (the node's clusters labelled by the boxes): real evaluation data.
- :func:`load_folder`: a user folder ``<root>/<class>/*.{npy,bin,pcd,csv}``.

Nothing here downloads anything, and the node never imports this module.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from t3d_ros.classes import CLASSES, GROUND_ID

log = logging.getLogger(__name__)

SIM_SENSORS: tuple[str, ...] = ("vlp16", "hdl32", "hdl64", "os1-128")
# Bump when the sim-cluster recipe changes so stale caches are not reused.
_SIM_CACHE_VERSION = 1

# KITTI object types -> package classes (None / absent: skipped). 'Van' goes to truck: KITTI vans
# (mean ~5.1 x 1.9 x 2.2 m, minibuses and delivery vans) match the simulator's truck/"van" models
# (5.0-6.5 m long, 2.2-2.8 m high), while its cars and SUVs stay below 1.9 m (DESIGN, classes.py:
# "truck: trucks, buses, large vans"). Tram is the closest to a bus.
KITTI_TO_T3D: dict[str, str | None] = {
    "Car": "car",
    "Van": "truck",
    "Truck": "truck",
    "Tram": "truck",
    "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian",
    "Cyclist": "cyclist",
    "Misc": "misc",
    "DontCare": None,
}

_META_PREFIX = "meta__"


# --------------------------------------------------------------------------------------------
# The container
# --------------------------------------------------------------------------------------------


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
    def sizes(self) -> np.ndarray:
        """(K,) int64 number of points of every cluster."""
        return np.diff(self.offsets)

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


def _pack(
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
    """Build a ClusterSet from a list of (n_i, 4) clusters; scalars in the meta are broadcast."""
    k = len(clusters)
    sizes = np.array([len(c) for c in clusters], np.int64)
    offsets = np.zeros(k + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    points = np.concatenate(clusters).astype(np.float32) if k else np.zeros((0, 4), np.float32)
    if range_m is None:
        range_m = [float(np.hypot(*c[:, :2].mean(axis=0))) if len(c) else 0.0 for c in clusters]

    def full(v, dtype):
        if isinstance(v, str | int | float):
            return np.full(k, v, dtype=dtype)
        return np.asarray(v, dtype=dtype).reshape(k)

    meta = {
        "source": full(source, str),
        "range_m": full(range_m, np.float32),
        "purity": full(purity, np.float32),
        "sensor": full(sensor, str),
        "frame": full(frame, np.int32),
    }
    return ClusterSet(points, offsets, np.asarray(labels, np.int64).reshape(k), tuple(class_names), meta, info or {})


def _empty(class_names: Sequence[str]) -> ClusterSet:
    return _pack([], [], class_names, source=[], sensor=[], frame=[], purity=[], range_m=[])


# --------------------------------------------------------------------------------------------
# (a) Simulated clusters cut by the node's own segmentation
# --------------------------------------------------------------------------------------------


def _label_clusters(
    input_cluster_id: np.ndarray, truth: np.ndarray, n_clusters: int, n_truth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Majority truth of every cluster.

    input_cluster_id: (N,) cluster of every point (-1 none); truth: (N,) id in [0, n_truth).
    Returns majority (K,) int64, its share (K,) float32 and the cluster sizes (K,) int64.
    """
    sel = input_cluster_id >= 0
    table = np.zeros((n_clusters, n_truth), np.int64)
    np.add.at(table, (input_cluster_id[sel], truth[sel]), 1)
    size = table.sum(axis=1)
    major = table.argmax(axis=1)
    share = table[np.arange(n_clusters), major] / np.maximum(size, 1)
    return major.astype(np.int64), share.astype(np.float32), size


def _sim_frame_clusters(task: tuple[int, str, float, int, float, dict | None]) -> tuple[dict, dict[str, int]]:
    """Worker: simulate and segment one (seed, sensor) frame. Module-level so ``spawn`` can pickle it."""
    seed, sensor, density, min_points, min_purity, cfg_dict = task
    from t3d_ros.pipeline import Pipeline, PipelineConfig
    from t3d_ros.sim import simulate

    _, frame = simulate(seed, sensor, density)
    cfg = PipelineConfig(**cfg_dict) if cfg_dict is not None else PipelineConfig()
    pts = np.column_stack([frame.xyz, frame.intensity]).astype(np.float32)
    seg = Pipeline(cfg)(pts)
    k = seg.num_clusters
    # Ground (-1) becomes the last truth column so it can win the majority vote and be dropped.
    truth = np.where(frame.label == GROUND_ID, len(CLASSES), frame.label).astype(np.int64)
    major, purity, _ = _label_clusters(seg.input_cluster_id, truth, k, len(CLASSES) + 1)
    sizes = np.diff(seg.cluster_offsets)
    is_ground = major == len(CLASSES)
    small = sizes < min_points
    impure = purity < min_purity
    keep = ~is_ground & ~small & ~impure
    stats = {
        "frames": 1,
        "clusters": k,
        "kept": int(keep.sum()),
        "dropped_ground": int(is_ground.sum()),
        "dropped_small": int((small & ~is_ground).sum()),
        "dropped_impure": int((impure & ~small & ~is_ground).sum()),
        "oversize_left_out": int(seg.n_oversize),
        "input_points": len(frame),
    }
    ki = np.flatnonzero(keep)
    cl_sizes = sizes[ki]
    rows = np.concatenate([np.arange(seg.cluster_offsets[i], seg.cluster_offsets[i + 1]) for i in ki]) if len(ki) \
        else np.zeros(0, np.int64)
    cpts = seg.cluster_points[rows, :4].copy()
    cpts[:, 3] = np.clip(cpts[:, 3] / 255.0, 0.0, 1.0)  # sim intensity is 0..255 like the drivers
    offsets = np.zeros(len(ki) + 1, np.int64)
    np.cumsum(cl_sizes, out=offsets[1:])
    centre = np.add.reduceat(cpts[:, :2].astype(np.float64), offsets[:-1], axis=0) / cl_sizes[:, None] \
        if len(ki) else np.zeros((0, 2))
    out = {
        "points": cpts,
        "offsets": offsets,
        "labels": major[ki],
        "purity": purity[ki],
        "range_m": np.hypot(centre[:, 0], centre[:, 1]).astype(np.float32),
        "seed": seed,
        "sensor": sensor,
    }
    return out, stats


def _sim_tasks(seeds, sensors, density, min_points, min_purity, pipeline_config):
    cfg = asdict(pipeline_config) if pipeline_config is not None else None
    return [
        (int(s), str(sen), float(density), int(min_points), float(min_purity), cfg) for s in seeds for sen in sensors
    ]


def make_sim_clusters(
    seeds: Sequence[int],
    sensors: Sequence[str] = SIM_SENSORS,
    density: float = 1.0,
    min_points: int = 10,
    min_purity: float = 0.7,
    pipeline_config: Any = None,
    workers: int = 1,
    verbose: bool = False,
) -> ClusterSet:
    """Simulate one frame per (seed, sensor), segment it with the node's pipeline, label the clusters.

    Every cluster is labelled by the majority ground-truth class of its input points (ground counts
    as a class), ``purity`` = that majority's share. Clusters whose majority is ground, with fewer
    than ``min_points`` points or purity below ``min_purity`` are dropped; the counts per cause are in
    ``info["summary"]`` (and logged, printed when ``verbose``). Points are the packed cluster points the
    classifier receives at run time (sensor frame, intensity / 255). ``meta["frame"]`` is the seed, so
    ``split`` keeps all sensors' views of a scene together. Output order is (seed, sensor) order,
    independent of ``workers`` (> 1: a ``spawn`` process pool, safe from any caller).
    """
    from t3d_ros.pipeline import PipelineConfig

    if pipeline_config is not None and not isinstance(pipeline_config, PipelineConfig):
        raise TypeError(f"pipeline_config must be a PipelineConfig, got {type(pipeline_config).__name__}")
    if pipeline_config is not None:
        pipeline_config.validate()
    tasks = _sim_tasks(seeds, sensors, density, min_points, min_purity, pipeline_config)
    t0 = time.perf_counter()
    if workers > 1 and len(tasks) > 1:
        with mp.get_context("spawn").Pool(min(workers, len(tasks))) as pool:
            results = pool.map(_sim_frame_clusters, tasks, chunksize=1)
    else:
        results = [_sim_frame_clusters(t) for t in tasks]
    elapsed = time.perf_counter() - t0

    totals: Counter[str] = Counter()
    parts = []
    for out, stats in results:
        totals.update(stats)
        n = len(out["labels"])
        parts.append(
            ClusterSet(
                out["points"], out["offsets"], out["labels"], CLASSES,
                {
                    "source": np.full(n, "sim", dtype=str),
                    "range_m": out["range_m"],
                    "purity": out["purity"],
                    "sensor": np.full(n, out["sensor"], dtype="<U16"),
                    "frame": np.full(n, out["seed"], dtype=np.int32),
                },
            )
        )
    cs = ClusterSet.concatenate(parts) if parts else _empty(CLASSES)
    summary = dict(totals)
    summary["seconds"] = round(elapsed, 2)
    summary["workers"] = int(workers)
    cs.info = {
        "source": "sim",
        "seeds": [int(s) for s in seeds] if len(seeds) <= 64 else f"{len(seeds)} seeds, {min(seeds)}..{max(seeds)}",
        "sensors": list(sensors),
        "density": density,
        "min_points": min_points,
        "min_purity": min_purity,
        "summary": summary,
        "class_counts": cs.class_counts(),
    }
    msg = format_summary(cs)
    log.info("%s", msg)
    if verbose:
        print(msg)
    return cs


def format_summary(cs: ClusterSet) -> str:
    """One human-readable block: clusters kept/dropped (sim), class balance, points per cluster."""
    lines = []
    s = cs.info.get("summary")
    if s:
        lines.append(
            f"{s.get('frames', 0)} frames in {s.get('seconds', 0):.1f} s ({s.get('workers', 1)} workers): "
            f"{s.get('clusters', 0)} clusters, kept {s.get('kept', 0)}, dropped ground {s.get('dropped_ground', 0)}, "
            f"small {s.get('dropped_small', 0)}, impure {s.get('dropped_impure', 0)}; "
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


def sim_cache_key(
    seeds: Sequence[int],
    sensors: Sequence[str] = SIM_SENSORS,
    density: float = 1.0,
    min_points: int = 10,
    min_purity: float = 0.7,
    pipeline_config: Any = None,
) -> str:
    """Hash (16 hex digits) of everything that changes the sim clusters (not ``workers``)."""
    from t3d_ros.pipeline import PipelineConfig

    cfg = asdict(pipeline_config if pipeline_config is not None else PipelineConfig())
    blob = json.dumps(
        {
            "v": _SIM_CACHE_VERSION,
            "seeds": [int(s) for s in seeds],
            "sensors": list(sensors),
            "density": float(density),
            "min_points": int(min_points),
            "min_purity": float(min_purity),
            "pipeline": cfg,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_or_make_sim_clusters(
    cache_dir: str | Path,
    seeds: Sequence[int],
    sensors: Sequence[str] = SIM_SENSORS,
    density: float = 1.0,
    min_points: int = 10,
    min_purity: float = 0.7,
    pipeline_config: Any = None,
    workers: int = 1,
    verbose: bool = False,
) -> ClusterSet:
    """:func:`make_sim_clusters`, cached as ``<cache_dir>/sim_<key>.npz`` (key: :func:`sim_cache_key`).

    The cache does not know about changes to the simulator or pipeline code: delete the folder (or
    bump ``_SIM_CACHE_VERSION``) after changing them.
    """
    key = sim_cache_key(seeds, sensors, density, min_points, min_purity, pipeline_config)
    path = Path(cache_dir) / f"sim_{key}.npz"
    if path.is_file():
        cs = ClusterSet.load(path)
        log.info("sim clusters from cache %s", path)
        if verbose:
            print(f"loaded {path}\n{format_summary(cs)}")
        return cs
    cs = make_sim_clusters(seeds, sensors, density, min_points, min_purity, pipeline_config, workers, verbose)
    cs.save(path)
    return cs


# --------------------------------------------------------------------------------------------
# (b) ModelNet40
# --------------------------------------------------------------------------------------------

_TXT_LAYOUT = "modelnet40_normal_resampled"
_H5_LAYOUT = "modelnet40_ply_hdf5_2048"


def _unit_sphere(xyz: np.ndarray) -> np.ndarray:
    """Centre on the centroid and scale the farthest point to radius 1 (PointNet++ pc_normalize)."""
    xyz = xyz - xyz.mean(axis=0)
    r = float(np.sqrt((xyz**2).sum(axis=1)).max()) if len(xyz) else 0.0
    return xyz / r if r > 0 else xyz


def _detect_modelnet(root: Path, split: str) -> tuple[str, Path]:
    for base in (root, root / _TXT_LAYOUT, root / _H5_LAYOUT):
        if (base / "modelnet40_shape_names.txt").is_file() and (base / f"modelnet40_{split}.txt").is_file():
            return "txt", base
        if (base / "shape_names.txt").is_file() and sorted(base.glob(f"ply_data_{split}*.h5")):
            return "h5", base
    raise FileNotFoundError(
        f"no ModelNet40 {split!r} split found under {root} (also looked in {_TXT_LAYOUT}/ and {_H5_LAYOUT}/). "
        f"Expected either the {_TXT_LAYOUT} layout: modelnet40_shape_names.txt, modelnet40_{split}.txt and "
        f"<class>/<class>_0001.txt files with 'x,y,z,nx,ny,nz' lines; or the {_H5_LAYOUT} layout: "
        f"shape_names.txt and ply_data_{split}*.h5 (datasets 'data' (B, 2048, 3), 'label' (B, 1)). "
        "Nothing is downloaded."
    )


def load_modelnet40(root: str | Path, split: str = "train", n_points: int | None = 1024) -> ClusterSet:
    """ModelNet40 objects as a ClusterSet (layout autodetected, see the module docstring).

    Every object keeps its first ``n_points`` points (both releases store them in sampled order;
    None keeps all) and is centred on the unit sphere; intensity 0, range 0, sensor "cad",
    ``meta["frame"]`` = object index. ``class_names`` are the 40 ModelNet names.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    layout, base = _detect_modelnet(Path(root), split)
    objects: list[np.ndarray] = []
    labels: list[int] = []
    if layout == "txt":
        names = [s.strip() for s in (base / "modelnet40_shape_names.txt").read_text().splitlines() if s.strip()]
        index = {n: i for i, n in enumerate(names)}
        for shape_id in (base / f"modelnet40_{split}.txt").read_text().split():
            cls = shape_id.rsplit("_", 1)[0]
            if cls not in index:
                raise ValueError(f"{shape_id}: class {cls!r} is not in modelnet40_shape_names.txt")
            path = base / cls / f"{shape_id}.txt"
            xyz = np.loadtxt(path, delimiter=",", usecols=(0, 1, 2), max_rows=n_points, dtype=np.float64, ndmin=2)
            objects.append(xyz)
            labels.append(index[cls])
    else:
        try:
            import h5py
        except ImportError as e:  # offline-only dependency
            raise ImportError(f"{base} holds the {_H5_LAYOUT} layout; reading it needs h5py (pip install h5py)") from e
        names = [s.strip() for s in (base / "shape_names.txt").read_text().splitlines() if s.strip()]
        for path in sorted(base.glob(f"ply_data_{split}*.h5")):
            with h5py.File(path, "r") as f:
                data = np.asarray(f["data"][:, :n_points, :3], dtype=np.float64)
                lab = np.asarray(f["label"][:]).reshape(-1).astype(np.int64)
            if len(lab) != len(data):
                raise ValueError(f"{path}: {len(data)} objects but {len(lab)} labels")
            if len(lab) and (lab.min() < 0 or lab.max() >= len(names)):
                raise ValueError(f"{path}: labels outside [0, {len(names)}) of shape_names.txt")
            objects.extend(data)
            labels.extend(lab.tolist())
    clusters = []
    for xyz in objects:
        pts = np.zeros((len(xyz), 4), np.float32)
        pts[:, :3] = _unit_sphere(xyz)
        clusters.append(pts)
    return _pack(
        clusters, labels, names, source=f"modelnet40-{split}", sensor="cad",
        frame=np.arange(len(clusters)), purity=1.0, range_m=np.zeros(len(clusters)),
        info={"source": "modelnet40", "layout": layout, "split": split, "root": str(base), "n_points": n_points},
    )


# --------------------------------------------------------------------------------------------
# (c) KITTI
# --------------------------------------------------------------------------------------------


def _kitti_frames(root: Path, frames: Iterable[str | int] | None) -> list[str]:
    train = root / "training"
    if not (train / "velodyne").is_dir() or not (train / "label_2").is_dir() or not (train / "calib").is_dir():
        raise FileNotFoundError(
            f"{root}: expected training/velodyne/*.bin, training/label_2/*.txt and training/calib/*.txt"
        )
    if frames is None:
        return sorted(p.stem for p in (train / "label_2").glob("*.txt"))
    return [f"{int(f):06d}" if isinstance(f, int) or str(f).isdigit() else str(f) for f in frames]


def _kitti_class_table(classes: Mapping[str, str | None]) -> tuple[tuple[str, ...], dict[str, int]]:
    """Package classes (CLASSES order, plus any extra targets) and the KITTI type -> label id map."""
    targets = {t for t in classes.values() if t}
    names = tuple(CLASSES) + tuple(sorted(targets - set(CLASSES)))
    return names, {k: names.index(v) for k, v in classes.items() if v}


def _intensity01(pts: np.ndarray) -> np.ndarray:
    """Copy with intensity scaled to [0, 1]: values above 1 are taken as 0..255 driver units."""
    pts = np.array(pts[:, :4], dtype=np.float32)
    if len(pts) and np.nanmax(pts[:, 3]) > 1.0:
        pts[:, 3] /= 255.0
    pts[:, 3] = np.clip(np.nan_to_num(pts[:, 3]), 0.0, 1.0)
    return pts


def load_kitti_objects(
    root: str | Path,
    frames: Iterable[str | int] | None = None,
    min_points: int = 10,
    classes: Mapping[str, str | None] = KITTI_TO_T3D,
    margin: float = 0.2,
    pipeline_config: Any = None,
) -> ClusterSet:
    """Points inside every labelled 3D box of ``<root>/training`` frames, one cluster per box.

    Boxes are grown by ``margin`` (m) on every side (labels are tight, returns are noisy); ground is
    removed with the node's own ground filter (``pipeline_config``, default config) and nothing below
    the labelled box bottom is kept, so the clusters stand on the ground as at run time. Types that
    ``classes`` maps to None or does not list (DontCare) are skipped, as are boxes with fewer than
    ``min_points`` points. ``meta["frame"]`` = KITTI frame number; sensor "hdl64"; purity 1.
    """
    from t3d_ros.kitti import load_frame, points_in_boxes
    from t3d_ros.pipeline import Pipeline

    root = Path(root)
    names, to_id = _kitti_class_table(classes)
    pipe = Pipeline(pipeline_config)
    clusters, labels, frame_ids = [], [], []
    skipped: Counter[str] = Counter()
    for fr in _kitti_frames(root, frames):
        pts, lab = load_frame(root, fr)
        if not len(lab.boxes):
            continue
        ground = pipe(pts).input_ground
        inside = points_in_boxes(pts[:, :3], lab.boxes, margin)  # (N, K)
        bottom = lab.boxes[:, 2] - lab.boxes[:, 5] / 2
        for k, name in enumerate(lab.names):
            if name not in to_id:
                skipped[f"type {name}"] += 1
                continue
            sel = inside[:, k] & ~ground & (pts[:, 2] >= bottom[k])
            if sel.sum() < min_points:
                skipped["too few points"] += 1
                continue
            clusters.append(_intensity01(pts[sel]))
            labels.append(to_id[name])
            frame_ids.append(int(fr) if fr.isdigit() else len(frame_ids))
    return _pack(
        clusters, labels, names, source="kitti-objects", sensor="hdl64", frame=frame_ids, purity=1.0,
        info={"source": "kitti-objects", "root": str(root), "margin": margin, "skipped": dict(skipped)},
    )


def load_kitti_frame_clusters(
    root: str | Path,
    frames: Iterable[str | int] | None = None,
    min_points: int = 10,
    min_purity: float = 0.3,
    classes: Mapping[str, str | None] = KITTI_TO_T3D,
    margin: float = 0.2,
    pipeline_config: Any = None,
) -> ClusterSet:
    """The node's clusters on real KITTI frames, each labelled by the GT box holding most of its points.

    This is what the classifier sees at run time on real data. A cluster with no point in any
    (``margin``-grown) box is unlabelled and skipped (so are clusters whose box type maps to None),
    purity = share of the cluster's points in that box; clusters below ``min_purity`` or
    ``min_points`` are dropped. The low default purity (0.3) keeps the merges the node makes on real
    data (a car merged with the hedge beside it is still scored as the car); filter on
    ``meta["purity"]`` for a cleaner set. Counts per cause are in ``info["summary"]``. KITTI boxes cover only
    the camera's field of view, so clusters behind the car are never labelled.
    """
    from t3d_ros.kitti import load_frame, points_in_boxes
    from t3d_ros.pipeline import Pipeline

    root = Path(root)
    names, to_id = _kitti_class_table(classes)
    pipe = Pipeline(pipeline_config)
    clusters, labels, purities, frame_ids = [], [], [], []
    totals: Counter[str] = Counter()
    for fr in _kitti_frames(root, frames):
        pts, lab = load_frame(root, fr)
        seg = pipe(pts)
        k = seg.num_clusters
        totals["clusters"] += k
        if k == 0:
            continue
        in_cl = np.flatnonzero(seg.input_cluster_id >= 0)
        if len(lab.boxes):
            inside = points_in_boxes(pts[in_cl, :3], lab.boxes, margin)  # (M, B)
            table = np.zeros((k, len(lab.boxes)), np.int64)
            np.add.at(table, seg.input_cluster_id[in_cl], inside.astype(np.int64))
        else:
            table = np.zeros((k, 1), np.int64)
        size = np.bincount(seg.input_cluster_id[in_cl], minlength=k)
        best = table.argmax(axis=1)
        hits = table[np.arange(k), best]
        for c in range(k):
            if hits[c] == 0:
                totals["unlabelled"] += 1
                continue
            name = lab.names[best[c]]
            if name not in to_id:
                totals[f"type {name}"] += 1
                continue
            purity = hits[c] / size[c]
            n = seg.cluster_offsets[c + 1] - seg.cluster_offsets[c]
            if n < min_points:
                totals["dropped_small"] += 1
                continue
            if purity < min_purity:
                totals["dropped_impure"] += 1
                continue
            clusters.append(_intensity01(seg.cluster(c)))
            labels.append(to_id[name])
            purities.append(purity)
            frame_ids.append(int(fr) if fr.isdigit() else len(frame_ids))
    totals["kept"] = len(clusters)
    return _pack(
        clusters, labels, names, source="kitti-clusters", sensor="hdl64", frame=frame_ids, purity=purities,
        info={"source": "kitti-clusters", "root": str(root), "margin": margin, "summary": dict(totals)},
    )


# --------------------------------------------------------------------------------------------
# (d) A user folder of labelled clusters
# --------------------------------------------------------------------------------------------


def load_folder(
    root: str | Path,
    class_names: Sequence[str] | None = None,
    min_points: int = 1,
    sensor: str = "unknown",
) -> ClusterSet:
    """Clusters from ``<root>/<class>/*`` (``.npy``, ``.bin``, ``.pcd``, ``.csv``; read by
    :func:`t3d_ros.frames.read_points`), one cluster per file, labelled by its sub-folder.

    ``class_names`` None: the sorted sub-folder names; given (e.g. ``CLASSES``): every sub-folder must
    be one of them (else ``ValueError`` naming the unknown and known classes), absent ones simply have
    no clusters. Points are used as stored (sensor frame if the files are); intensities above 1 are
    taken as 0..255 and scaled. Other files (README...) are ignored; files with fewer than
    ``min_points`` finite points are skipped. ``meta["frame"]`` = file index.
    """
    from t3d_ros.frames import SUFFIXES, read_points

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (expected <root>/<class>/<files>)")
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise FileNotFoundError(f"{root}: no class sub-folders (expected <root>/<class>/<files>)")
    if class_names is None:
        names = tuple(d.name for d in dirs)
    else:
        names = tuple(class_names)
        unknown = [d.name for d in dirs if d.name not in names]
        if unknown:
            raise ValueError(f"{root}: unknown class folder(s) {unknown}; known classes: {', '.join(names)}")
    clusters, labels, skipped = [], [], []
    for d in dirs:
        for path in sorted(d.iterdir()):
            if not path.is_file() or path.suffix.lower() not in SUFFIXES or path.name.startswith("."):
                continue
            pts = read_points(path)
            if len(pts) < min_points:
                skipped.append(str(path))
                continue
            clusters.append(_intensity01(pts))
            labels.append(names.index(d.name))
    if not clusters:
        log.warning("%s: no readable cluster files (%s)", root, ", ".join(SUFFIXES))
    return _pack(
        clusters, labels, names, source="folder", sensor=sensor, frame=np.arange(len(clusters)), purity=1.0,
        info={"source": "folder", "root": str(root), "skipped": skipped},
    )
