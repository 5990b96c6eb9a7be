"""Network inputs for a frame's clusters: the one definition shared by training and the node.

A cluster (n_i points in the sensor frame) becomes:
  xyz      (K, N, 3)  N points chosen by farthest point sampling (cycled when n_i < N), in METRES,
                      centred on the cluster's xy mean and its lowest point (z = height above the
                      cluster's bottom). Not rescaled: the metric size separates a car from a bin.
                      With ``InputSpec.frame`` "bearing" also turned about z so that the sensor lies
                      on the -x side (the cluster's xy mean on the +x axis of the sensor frame).
  feats    (K, N, F)  per-point extras named in ``InputSpec.point_features``
  globals  (K, G)     per-cluster extras named in ``InputSpec.global_features``:
                        "extent"    3 values: spreads along the two principal xy axes (rotation
                                    invariant, large first) and the z extent, in metres
                        "log_count" log(1 + n_i) / 10 - how many returns the sensor got
                        "range"     xy distance of the cluster from the sensor / 50 m
  indices             the FPS / ball-query index tensors of the model's set-abstraction levels,
                      computed here (CUDA or CPU ops), not in the network.
Point features: "intensity" (as given, expected in [0, 1]) and "height" (z above the bottom / 2 m).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from t3d_ros.classify.ops import _cpu
from t3d_ros.classify.ops._common import is_tensor, like, to_numpy
from t3d_ros.classify.ops.sampling import SALevel, sample_and_group, sample_clusters

POINT_FEATURES = {"intensity": 1, "height": 1}
GLOBAL_FEATURES = {"extent": 3, "log_count": 1, "range": 1}
FRAMES = ("sensor", "bearing")
STARTS = ("first", "far")


@dataclass(frozen=True)
class InputSpec:
    """How clusters are turned into network inputs; stored in every model card."""

    n_points: int = 256
    # (npoint, radius m, nsample) per indexed level; radius and nsample are tuples on multi-scale levels
    levels: tuple[tuple, ...] = ()
    point_features: tuple[str, ...] = ()
    global_features: tuple[str, ...] = ("extent", "log_count", "range")
    scale: str = "metric"  # "metric" (metres) or "unit_sphere" (the ModelNet recipe; loses size, for ablation)
    # "sensor": xy as in the sensor frame (the network must learn every bearing); "bearing": turned so
    # that the sensor lies on the -x side, which removes an exact symmetry of the data from what the
    # network must learn (an object at another bearing is the same object, seen from the same side).
    frame: str = "sensor"
    # Where farthest point sampling starts in each cluster: "first", at its first point as the points
    # come (the driver's order: Velodyne and Ouster drivers, and the simulator, order them differently,
    # so the same object gave another sample and sometimes another label); "far", at the point farthest
    # from the cluster's centroid, whatever the order (the shipped card since 2026-12-01, late evening).
    start: str = "first"

    def __post_init__(self) -> None:
        if self.scale not in ("metric", "unit_sphere"):
            raise ValueError(f"scale={self.scale!r}: must be 'metric' or 'unit_sphere'")
        if self.start not in STARTS:
            raise ValueError(f"start={self.start!r}: must be one of {', '.join(STARTS)}")
        if self.frame not in FRAMES:
            raise ValueError(f"frame={self.frame!r}: must be one of {', '.join(FRAMES)}")
        for name in self.point_features:
            if name not in POINT_FEATURES:
                raise ValueError(f"unknown point feature {name!r}; known: {', '.join(POINT_FEATURES)}")
        for name in self.global_features:
            if name not in GLOBAL_FEATURES:
                raise ValueError(f"unknown global feature {name!r}; known: {', '.join(GLOBAL_FEATURES)}")
        if self.n_points < 1:
            raise ValueError(f"n_points={self.n_points}: must be >= 1")

    @property
    def in_feats(self) -> int:
        return sum(POINT_FEATURES[n] for n in self.point_features)

    @property
    def global_feats(self) -> int:
        return sum(GLOBAL_FEATURES[n] for n in self.global_features)

    def to_json(self) -> dict:
        return {k: list(map(list, v)) if k == "levels" else (list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, doc: dict) -> InputSpec:
        return cls(
            n_points=int(doc["n_points"]),
            levels=tuple((int(a), _scalar_or_tuple(b, float), _scalar_or_tuple(c, int))
                         for a, b, c in doc.get("levels", ())),
            point_features=tuple(doc.get("point_features", ())),
            global_features=tuple(doc.get("global_features", ())),
            scale=doc.get("scale", "metric"),
            frame=doc.get("frame", "sensor"),  # cards before 2026-11-30 were all "sensor"
            start=doc.get("start", "first"),  # cards before 2026-12-01 (late evening) were all "first"
        )


NEAR_SENSOR_M = 1.0  # no cluster of a LiDAR's own scan lies closer (the node drops returns within min_range)


def near_sensor(points: np.ndarray, offsets: np.ndarray, radius_m: float = NEAR_SENSOR_M) -> np.ndarray:
    """(K,) bool: clusters whose xy centroid lies within ``radius_m`` of the sensor. The inputs read each
    cluster's range and turn it to the side the sensor sees it from, so points must be in the sensor's
    frame; a cluster there is most likely an object-centred file (simulated HDL-32E clusters centred on
    themselves: labelled right 0.51 of the time against 0.81)."""
    counts = np.diff(offsets)
    if not len(counts):
        return np.zeros(0, bool)
    sums = np.add.reduceat(np.asarray(points[:, :2], np.float64), offsets[:-1], axis=0)
    centroid = sums / np.maximum(counts, 1)[:, None]
    return (counts > 0) & (np.hypot(centroid[:, 0], centroid[:, 1]) < radius_m)


def _scalar_or_tuple(v, kind: type):
    """A level's radius / nsample from JSON: one number, or a list of them (multi-scale)."""
    return tuple(kind(x) for x in v) if isinstance(v, list | tuple) else kind(v)


@dataclass
class ClusterInputs:
    """Arrays ready for the network (numpy, or torch tensors on the points' device); ``as_list()`` is
    the positional input order."""

    xyz: Any
    feats: Any
    globals: Any
    indices: list[Any] = field(default_factory=list)

    def as_list(self) -> list[Any]:
        return [self.xyz, self.feats, self.globals, *self.indices]


def _global_features(points: np.ndarray, offsets: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(K, G) float32 per-cluster features from the FULL clusters (not the sampled points).
    ``_global_features_reference`` is the definition; this one takes the per-point sums in one numba
    pass (same float64 sums in point order, so the same features)."""
    k = len(offsets) - 1
    if not (_cpu.HAVE_NUMBA and k and points.dtype == np.float32):
        return _global_features_reference(points, offsets, names)
    counts = np.diff(offsets)
    n = np.maximum(counts, 1)
    m = _cpu.cluster_moments_kernel(points, np.asarray(offsets, np.int64))
    out = []
    for name in names:
        if name == "extent":
            cxx, cxy, cyy = m[:, 2] / n, m[:, 3] / n, m[:, 4] / n
            tr, det = cxx + cyy, cxx * cyy - cxy**2
            disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0))
            spread = np.sqrt(np.maximum(np.c_[tr / 2 + disc, tr / 2 - disc], 0)) * 2
            # float32 max - min, each widened to float64 (as the reference's reduceat difference)
            out.append(np.c_[spread, m[:, 6] - m[:, 5]])
        elif name == "log_count":
            out.append(np.log1p(counts)[:, None] / 10)
        elif name == "range":
            out.append(np.hypot(m[:, 0], m[:, 1])[:, None] / 50)
    return (np.concatenate(out, axis=1) if out else np.zeros((k, 0))).astype(np.float32)


def _global_features_reference(points: np.ndarray, offsets: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(K, G) float32 per-cluster features from the FULL clusters (numpy only)."""
    k = len(offsets) - 1
    counts = np.diff(offsets)
    out = []
    # Sums by bincount (float64, in point order: the same numbers as np.add.at, which is ~10x
    # slower on 2-D or mixed-dtype input); min/max by reduceat over the packed, non-empty clusters.
    if k and ("extent" in names or "range" in names):
        seg = np.repeat(np.arange(k), counts)
        n = np.maximum(counts, 1)

        def sums(w: np.ndarray) -> np.ndarray:
            return np.bincount(seg, weights=w, minlength=k)

        mean_xy = np.c_[sums(points[:, 0]) / n, sums(points[:, 1]) / n]
    for name in names:
        if name == "extent":
            if not k:
                out.append(np.zeros((0, 3)))
                continue
            d = points[:, :2] - mean_xy[seg]
            cxx, cxy, cyy = sums(d[:, 0] ** 2) / n, sums(d[:, 0] * d[:, 1]) / n, sums(d[:, 1] ** 2) / n
            tr, det = cxx + cyy, cxx * cyy - cxy**2
            disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0))
            spread = np.sqrt(np.maximum(np.c_[tr / 2 + disc, tr / 2 - disc], 0)) * 2  # ~ extent of a uniform box / 1.7
            z, start = points[:, 2], offsets[:-1]
            zext = np.maximum.reduceat(z, start).astype(np.float64) - np.minimum.reduceat(z, start)
            out.append(np.c_[spread, zext])
        elif name == "log_count":
            out.append(np.log1p(counts)[:, None] / 10)
        elif name == "range":
            out.append(np.hypot(mean_xy[:, 0], mean_xy[:, 1])[:, None] / 50 if k else np.zeros((0, 1)))
    return (np.concatenate(out, axis=1) if out else np.zeros((k, 0))).astype(np.float32)


def make_inputs(points: Any, offsets: Any, spec: InputSpec, backend: str = "auto",
                host_points: np.ndarray | None = None) -> ClusterInputs:
    """Network inputs of K packed clusters. points: (P, >=3) float32 (x, y, z[, intensity]) in the
    sensor frame, numpy or a torch tensor; offsets: (K+1,) int64. Empty clusters are not allowed (the
    pipeline never makes them).

    A torch tensor keeps every step in torch on its device (with a CUDA tensor and ``backend`` "auto"
    or "cuda", the sampling ops run as CUDA kernels) and gives tensors; only the per-cluster global
    features are computed on the host, from ``host_points`` (the same points as numpy, when the
    caller has them: saves copying the frame back) or a copy of ``points``. Same numbers either way.
    """
    offsets = to_numpy(offsets, np.int64)
    k = len(offsets) - 1
    if k and np.any(np.diff(offsets) <= 0):
        raise ValueError("make_inputs: every cluster needs at least one point")
    cols = points.shape[1]
    if "intensity" in spec.point_features and cols < 4:
        raise ValueError("the 'intensity' point feature needs (P, 4) points")
    if spec.start == "far" and k:
        points, host_points = _far_point_first(points, offsets, host_points)
    if is_tensor(points):
        import torch

        batch = sample_clusters(points[:, : max(cols, 3)].to(torch.float32).contiguous(), offsets,
                                spec.n_points, backend=backend)  # (K, N, C)
        mean = batch[:, :, :2].double().mean(dim=1)  # (K, 2) float64: the centre and the bearing
        xyz = _centred_torch(batch[:, :, :3].clone(), spec.scale, mean) if k else batch[:, :, :3].clone()
        if spec.frame == "bearing" and k:
            xyz = _turned_torch(xyz, *_bearing_torch(mean))
        cat = torch.cat
    else:
        batch = sample_clusters(np.ascontiguousarray(points[:, : max(cols, 3)], dtype=np.float32), offsets,
                                spec.n_points, backend=backend)  # (K, N, C)
        mean = batch[:, :, :2].mean(axis=1, dtype=np.float64)  # (K, 2): the centre and the bearing
        xyz = _centred_numpy(batch[:, :, :3].copy(), spec.scale, mean) if k else batch[:, :, :3].copy()
        if spec.frame == "bearing" and k:
            xyz = _turned_numpy(xyz, *_bearing(mean))
        cat = np.concatenate
    feats = [batch[:, :, 3:4] if name == "intensity" else xyz[:, :, 2:3] / 2.0 for name in spec.point_features]
    feats_arr = cat(feats, 2) if feats else like(np.zeros((k, spec.n_points, 0), np.float32), points)
    host = points if not is_tensor(points) else host_points if host_points is not None else to_numpy(points, np.float32)
    glob = like(_global_features(host, offsets, spec.global_features), points)  # cheap: on the host
    levels = [SALevel(*lv) for lv in spec.levels]
    indices: list[Any] = []
    if levels and k:
        for res in sample_and_group(xyz, levels, backend=backend):
            if res is not None:
                indices.extend(res)
    elif levels:
        for lv in levels:
            if lv.npoint:
                indices += [like(np.zeros((0, lv.npoint), np.int64), points),
                            like(np.zeros((0, lv.npoint, lv.nsample), np.int64), points)]
    return ClusterInputs(xyz, feats_arr, glob, indices)


def far_point_index(points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(K,) int64 index into ``points`` (P, >=3) of every cluster's point farthest from its centroid
    (float64; of equally far points the first). Non-empty clusters only. ``_far_point_index_reference``
    is the definition; with numba one pass per cluster (the same numbers)."""
    off = np.asarray(offsets, np.int64)
    if _cpu.HAVE_NUMBA and len(off) > 1 and points.dtype == np.float32:
        return _cpu.far_point_kernel(np.ascontiguousarray(points), off)
    return _far_point_index_reference(points, off)


def _far_point_index_reference(points: np.ndarray, off: np.ndarray) -> np.ndarray:
    """:func:`far_point_index` in numpy."""
    k, counts = len(off) - 1, np.diff(off)
    seg = np.repeat(np.arange(k), counts)
    xyz = np.asarray(points[:, :3], np.float64)
    centre = np.stack([np.bincount(seg, xyz[:, j], k) for j in range(3)], 1) / counts[:, None]
    d2 = np.square(xyz - centre[seg]).sum(axis=1)
    best = np.maximum.reduceat(d2, off[:-1])
    hits = np.flatnonzero(d2 == best[seg])
    return hits[np.unique(seg[hits], return_index=True)[1]]


def _far_point_first(points: Any, offsets: np.ndarray, host_points: np.ndarray | None) -> tuple[Any, np.ndarray]:
    """``points`` with every cluster's first point and its point farthest from the centroid swapped
    (``InputSpec.start`` "far"): FPS starts there whatever order the points came in; and the same
    order of the host copy. Found on the host, so numpy and torch (any device) get the same order."""
    host = points if not is_tensor(points) else host_points if host_points is not None else to_numpy(points, np.float32)
    far, first = far_point_index(host, offsets), np.asarray(offsets[:-1], np.int64)
    order = np.arange(len(host))
    order[first], order[far] = far, first
    host = np.asarray(host)[order]
    if is_tensor(points):
        import torch

        return points[torch.as_tensor(order, device=points.device)], host
    return host, host


# The centring means (and the unit-sphere radius) are summed in float64 and rounded to float32: the
# same float32 numbers whatever the summation order, so numpy, torch CPU and CUDA give identical
# inputs (float32 sums differ in the last bits between them, and a bit can move a ball-query edge).
def _centred_numpy(xyz: np.ndarray, scale: str, mean: np.ndarray) -> np.ndarray:
    """(K, N, 3) float32 FPS samples -> xy on their mean ``mean`` (K, 2) float64, z above their lowest
    point (in place)."""
    xyz[:, :, :2] -= mean.astype(np.float32)[:, None, :]
    xyz[:, :, 2] -= xyz[:, :, 2].min(axis=1, keepdims=True)
    if scale == "unit_sphere":
        xyz -= xyz.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
        radius = np.sqrt(np.square(xyz, dtype=np.float64).sum(axis=2)).max(axis=1).astype(np.float32)
        xyz /= np.maximum(radius, np.float32(1e-6))[:, None, None]
    return xyz


def _bearing(mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) float64 xy means of the sampled clusters (the centring's) -> (K, 1) float32 cos and sin of
    each cluster's bearing from the sensor. A cluster on the sensor: bearing 0."""
    norm = np.hypot(mean[:, 0], mean[:, 1])
    ok = norm > 1e-9
    cos = np.where(ok, mean[:, 0] / np.where(ok, norm, 1.0), 1.0)
    sin = np.where(ok, mean[:, 1] / np.where(ok, norm, 1.0), 0.0)
    return cos.astype(np.float32)[:, None], sin.astype(np.float32)[:, None]


def _bearing_torch(mean: Any) -> tuple[Any, Any]:
    """``_bearing`` in torch, on the tensor's device (no copy to the host)."""
    import torch

    norm = torch.hypot(mean[:, 0], mean[:, 1])
    ok = norm > 1e-9
    safe = torch.where(ok, norm, torch.ones_like(norm))
    cos = torch.where(ok, mean[:, 0] / safe, torch.ones_like(norm))
    sin = torch.where(ok, mean[:, 1] / safe, torch.zeros_like(norm))
    return cos.float()[:, None], sin.float()[:, None]


def _turned_numpy(xyz: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """xy of (K, N, 3) turned by minus each cluster's bearing (in place): the sensor on the -x side.
    Products and sums in separate float32 steps, as ``_turned_torch``: the same bits on every device."""
    x, y = xyz[:, :, 0].copy(), xyz[:, :, 1].copy()
    xyz[:, :, 0] = x * cos + y * sin
    xyz[:, :, 1] = y * cos - x * sin
    return xyz


def _turned_torch(xyz: Any, cos: Any, sin: Any) -> Any:
    """``_turned_numpy`` in torch, on the tensor's device."""
    x, y = xyz[:, :, 0].clone(), xyz[:, :, 1].clone()
    xyz[:, :, 0] = x * cos + y * sin
    xyz[:, :, 1] = y * cos - x * sin
    return xyz


def _centred_torch(xyz: Any, scale: str, mean: Any) -> Any:
    """``_centred_numpy`` in torch, on the tensor's device."""
    xyz[:, :, :2] -= mean.float()[:, None, :]
    xyz[:, :, 2] -= xyz[:, :, 2].amin(dim=1, keepdim=True)
    if scale == "unit_sphere":
        xyz -= xyz.double().mean(dim=1, keepdim=True).float()
        radius = xyz.double().square().sum(dim=2).sqrt().amax(dim=1).float()
        xyz /= radius.clamp_min(1e-6)[:, None, None]
    return xyz
