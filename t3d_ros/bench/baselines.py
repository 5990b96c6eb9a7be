"""What our stages are compared with: a per-point PointCloud2 reader, Patchwork++ ground removal,
scikit-learn DBSCAN and KD-tree Euclidean clustering, and ``fpsample`` farthest point sampling.

The optional packages (pypatchworkpp, scikit-learn, fpsample: requirements-dev.txt) are imported
only when their baseline runs; a missing one is reported as skipped, never an error.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import numpy as np

from t3d_ros.io.cloud import DATATYPE_FORMAT, INTENSITY_NAMES, Field
from t3d_ros.offline.eval.segmentation import ObjectMatch, SegmentationQuality, evaluate
from t3d_ros.segment.pipeline import Pipeline, PipelineConfig, Segmentation
from t3d_ros.segment.preprocess import voxel_downsample

DEFAULT = PipelineConfig()
_STRUCT = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}


def read_points_per_point(data: bytes | memoryview, fields: list[Field], point_step: int, width: int,
                          height: int, row_step: int, is_bigendian: bool = False) -> np.ndarray:
    """The straightforward PointCloud2 reader: ``struct.unpack_from`` point by point (what a first
    node or an old ``read_points`` does). (N, 4) float32 x, y, z, intensity of the finite points."""
    by_name = {f.name: f for f in fields}
    inten = next((n for n in INTENSITY_NAMES if n in by_name), None)
    names = ["x", "y", "z"] + ([inten] if inten else [])
    order = ">" if is_bigendian else "<"
    unpackers = [(struct.Struct(order + _STRUCT[DATATYPE_FORMAT[by_name[n].datatype]]), by_name[n].offset)
                 for n in names]
    buf = memoryview(data)
    out = []
    for row in range(height):
        for col in range(width):
            base = row * row_step + col * point_step
            v = [s.unpack_from(buf, base + off)[0] for s, off in unpackers]
            if math.isfinite(v[0]) and math.isfinite(v[1]) and math.isfinite(v[2]):
                out.append(v if inten else v + [0.0])
    return np.array(out, dtype=np.float32).reshape(-1, 4)


class DbscanPipeline(Pipeline):
    """Pipeline with scikit-learn DBSCAN clustering (benchmark only): eps = cluster_tolerance,
    min_samples 1 (pure Euclidean linkage) on a tolerance/3 voxel downsample, as the KD-tree."""

    def _cluster(self, xyz: np.ndarray, sel: np.ndarray) -> np.ndarray:
        from sklearn.cluster import DBSCAN

        xyz = xyz[sel]
        keep, inv = voxel_downsample(xyz, self.config.cluster_tolerance / 3)
        lab = DBSCAN(eps=self.config.cluster_tolerance, min_samples=1).fit_predict(xyz[keep])
        return lab[inv].astype(np.int32)


def candidates(names: tuple[str, ...] | None = None, log: Callable[[str], None] = print,
               ) -> dict[str, tuple[str, Pipeline]]:
    """Segmentation candidates: name -> (stage it varies, pipeline). The default comes first (stage
    "default"); ``names`` limits the set (e.g. ("patchwork+cellgraph", "envelope+dbscan"))."""
    g0, c0 = DEFAULT.ground_method, DEFAULT.cluster_method
    makers: dict[str, tuple[str, Callable[[], Pipeline]]] = {f"{g0}+{c0}": ("default", Pipeline)}
    makers[f"{g0}+{c0}, no wall split"] = ("cluster", lambda: Pipeline(PipelineConfig(wall_split=False)))
    # the wall split as it was until 2026-11-30 (night): large clusters only, no length rule
    makers[f"{g0}+{c0}, walls of 1000+ returns"] = ("cluster", lambda: Pipeline(PipelineConfig(
        wall_split_min_points=1000, wall_min_length=0.0)))
    for g in ("grid", "patchwork"):
        makers[f"{g}+{c0}"] = ("ground", lambda g=g: Pipeline(PipelineConfig(ground_method=g)))
    for c in ("voxel", "kdtree", "grid2d"):
        makers[f"{g0}+{c}"] = ("cluster", lambda c=c: Pipeline(PipelineConfig(cluster_method=c)))
    makers[f"{g0}+dbscan"] = ("cluster", lambda: DbscanPipeline(
        PipelineConfig(cluster_method="kdtree", cluster_tolerance=0.4)))
    out: dict[str, tuple[str, Pipeline]] = {}
    for name, (stage, make) in makers.items():
        if names is not None and stage != "default" and name not in names:
            continue
        try:
            pipe = make()
            if isinstance(pipe, DbscanPipeline):
                import sklearn  # noqa: F401
        except ImportError as e:
            log(f"skipping {name}: {e}")
            continue
        out[name] = (stage, pipe)
    return out


def timed_segment(pipe: Pipeline, points: np.ndarray, reps: int) -> tuple[Segmentation, dict[str, float]]:
    """The first segmentation and the per-stage median ms of ``reps`` runs (plus "total")."""
    segs = [pipe(points) for _ in range(reps)]
    t = {k: float(np.median([s.timings_ms[k] for s in segs])) for k in segs[0].timings_ms}
    t["total"] = float(np.median([sum(s.timings_ms.values()) for s in segs]))
    return segs[0], t


def score_segmentation(seg: Segmentation, dataset: str, instance: np.ndarray, gt_ground: np.ndarray | None,
                       ) -> tuple[SegmentationQuality, ObjectMatch]:
    """Quality of one frame's segmentation (KITTI: objects with >= 20 points, sim: >= 10)."""
    return evaluate(seg.input_cluster_id, seg.input_ground, instance, gt_ground,
                    min_points=20 if dataset == "kitti" else 10)


def fpsample_packed(fn: Callable, pts: np.ndarray, off: np.ndarray, k: int) -> np.ndarray:
    """``fpsample`` run cluster by cluster (it takes one cloud a call), clusters smaller than k
    sampled to n points and cycled as ours are: (K, k) local indices."""
    out = np.empty((len(off) - 1, k), np.int64)
    for i in range(len(off) - 1):
        c = pts[off[i]:off[i + 1]]
        m = min(k, len(c))
        idx = np.asarray(fn(c, m), np.int64)
        out[i] = idx[np.arange(k) % m]
    return out
