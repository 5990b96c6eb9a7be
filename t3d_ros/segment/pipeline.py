"""The segmentation pipeline: crop -> voxel -> ground removal -> clustering -> oriented boxes.

Pure numpy/scipy; no ROS. ``segment(points, config)`` is the one entry point; ``Pipeline`` keeps
the validated config (``PipelineConfig``, ``config.py``) and the state that is worth building once
(the Patchwork++ object).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from t3d_ros.segment import _fast
from t3d_ros.segment import boxes as _boxes
from t3d_ros.segment import cluster as _cluster
from t3d_ros.segment import ground as _ground
from t3d_ros.segment import walls as _walls
from t3d_ros.segment.config import PipelineConfig
from t3d_ros.segment.level import turn_points
from t3d_ros.segment.preprocess import crop_mask, voxel_downsample

__all__ = ["Pipeline", "PipelineConfig", "Segmentation", "segment"]

@dataclass
class Segmentation:
    """Result of ``segment``. M: points after crop/voxel; K: kept clusters; C: input columns. Points
    and boxes are in the level frame when the config has mounting angles (``segment/level.py``), else
    in the sensor frame."""

    points: np.ndarray  # (M, C) float32, the cloud that was segmented
    ground: np.ndarray  # (M,) bool
    cluster_id: np.ndarray  # (M,) int32, -1 for ground / noise / rejected (too small, oversize)
    cluster_offsets: np.ndarray  # (K+1,) int64; cluster k is cluster_points[off[k]:off[k+1]]
    cluster_points: np.ndarray  # (sum, C) float32, packed points of the kept clusters
    boxes: np.ndarray  # (K, 7) float32 [cx, cy, cz, length, width, height, yaw]
    input_cluster_id: np.ndarray  # (N_input,) int32 cluster of every input point, -1 none
    input_ground: np.ndarray  # (N_input,) bool
    timings_ms: dict[str, float] = field(default_factory=dict)  # crop, voxel, ground, cluster, boxes
    n_oversize: int = 0  # clusters above max_cluster_points (left out unless oversize_policy="keep")

    @property
    def num_clusters(self) -> int:
        """K, the number of kept clusters."""
        return len(self.cluster_offsets) - 1

    def cluster(self, k: int) -> np.ndarray:
        """Points (n_k, C) of cluster ``k``."""
        return self.cluster_points[self.cluster_offsets[k] : self.cluster_offsets[k + 1]]


class Pipeline:
    """A validated config plus per-config state; ``pipeline(points)`` segments one cloud."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config if config is not None else PipelineConfig()
        self.config.validate()
        self._patchwork = None
        if self.config.ground_method == "patchwork":
            c = self.config
            reach = math.hypot(max(abs(c.x_min), abs(c.x_max)), max(abs(c.y_min), abs(c.y_max)))
            self._patchwork = _ground.PatchworkGround(
                sensor_height=c.ground_sensor_height or 1.73, max_range=reach, min_range=c.min_range
            )

    def warmup(self) -> float:
        """One synthetic frame (a ground plane and three boxes) through the pipeline, so that the numba
        kernels are compiled (or loaded from numba's cache) before the first real frame, not during
        it (a node's first answer would otherwise take seconds). Returns its ms."""
        rng = np.random.default_rng(0)
        ground = np.c_[rng.uniform(-20, 20, (4000, 2)), rng.normal(-1.7, 0.02, 4000)]
        boxes = [np.c_[rng.uniform(-1, 1, (300, 2)) + c, rng.uniform(-1.5, 0.0, 300)]
                 for c in ((5.0, 5.0), (-8.0, 3.0), (10.0, -6.0))]
        # a wall big enough for the wall split, with a box against it (its kernels compile too)
        n_wall = min(self.config.wall_split_min_points + 500, 20000)
        wall = np.c_[np.full(n_wall, 15.0) + rng.normal(0, 0.02, n_wall), rng.uniform(-6, 6, n_wall),
                     rng.uniform(-1.5, 1.0, n_wall)]
        box = rng.uniform((14.0, -0.4, -1.5), (14.8, 0.4, -0.5), (200, 3))
        xyz = np.concatenate([ground, *boxes, wall, box])
        pts = np.c_[xyz, rng.uniform(0, 1, len(xyz))].astype(np.float32)
        t0 = time.perf_counter()
        self(pts)
        return (time.perf_counter() - t0) * 1e3

    def _ground(self, xyz: np.ndarray, pts: np.ndarray) -> np.ndarray:
        c = self.config
        if c.ground_method == "envelope":
            return _ground.envelope_ground(
                xyz, c.ground_cell_size, c.ground_height_threshold, c.ground_max_slope_deg,
                c.ground_global_slope_deg, c.ground_sensor_height or None, c.ground_radius,
            )
        if c.ground_method == "grid":
            return _ground.grid_min_z_ground(xyz, c.ground_cell_size, c.ground_height_threshold)
        if c.ground_method == "patchwork":
            return self._patchwork(xyz, pts[:, 3] if pts.shape[1] > 3 else None)
        return np.zeros(len(xyz), bool)

    def _cluster(self, xyz: np.ndarray, sel: np.ndarray) -> np.ndarray:
        """Component ids of the points ``xyz[sel]``."""
        c = self.config
        if c.cluster_method == "cellgraph":
            return _cluster.cell_graph_clusters_of(
                xyz, sel, c.cluster_cell_size, c.cluster_tolerance, c.cluster_radial_tolerance_per_m,
                c.cluster_tangential_tolerance_per_m,
                c.cluster_max_tolerance, c.cluster_z_gap, c.cluster_z_gap_per_m,
            )
        xyz = xyz[sel]
        if c.cluster_method == "voxel":
            return _cluster.voxel_components(xyz, c.cluster_cell_size, 2 * c.cluster_cell_size)
        if c.cluster_method == "kdtree":
            return _cluster.euclidean_kdtree_downsampled(xyz, c.cluster_tolerance, c.cluster_z_scale)
        return _cluster.grid2d_components(xyz, c.cluster_cell_size)

    def __call__(self, points: np.ndarray) -> Segmentation:
        """Segment ``points`` (N, C>=3) float x, y, z[, intensity, ...]; see ``segment``."""
        c = self.config
        points = np.asarray(points)
        if points.ndim != 2 or points.shape[1] < 3:
            raise ValueError(f"points must have shape (N, C>=3), got {points.shape}")
        n_in, ncol = points.shape
        t = {}
        t0 = time.perf_counter()
        level = c.level_rotation
        if level is not None:  # a tilted sensor: everything below works in the level frame
            points = turn_points(points, level)
        xyz = None
        if _fast.HAVE_NUMBA and points.dtype == np.float32:
            # One pass: the test, the kept rows and their xyz (the numpy path below makes 3 copies).
            f32 = np.float32
            sb = c.self_box or (0.0, 0.0, 0.0, 0.0)
            keep, pts, xyz = _fast.crop_kernel(
                points, f32(c.x_min), f32(c.x_max), f32(c.y_min), f32(c.y_max), f32(c.z_min), f32(c.z_max),
                f32(c.min_range * c.min_range) if c.min_range > 0.0 else f32(0.0), *(f32(v) for v in sb))
        else:
            keep = np.flatnonzero(crop_mask(points, (c.x_min, c.x_max), (c.y_min, c.y_max), (c.z_min, c.z_max),
                                            c.min_range, c.self_box))
            pts = points[keep].astype(np.float32, copy=False)
            if not np.all(np.isfinite(pts[:, 3:])):  # NaN in an extra column: drop the row as well
                ok = np.isfinite(pts[:, 3:]).all(axis=1)
                keep, pts = keep[ok], pts[ok]
        t1 = time.perf_counter()
        t["crop"] = (t1 - t0) * 1e3
        to_seg = None  # position in the segmented cloud of every kept input point (voxel on)
        if c.voxel_size > 0 and len(pts):
            rep, to_seg = voxel_downsample(pts[:, :3], c.voxel_size)
            pts = pts[rep]
            xyz = None
        t2 = time.perf_counter()
        t["voxel"] = (t2 - t1) * 1e3
        m = len(pts)
        if xyz is None:  # separate contiguous columns: every stage indexes x, y, z many times
            xyz = np.ascontiguousarray(pts[:, :3])
        ground = self._ground(xyz, pts) if m else np.zeros(0, bool)
        t3 = time.perf_counter()
        t["ground"] = (t3 - t2) * 1e3
        ng = np.flatnonzero(~ground)
        labels = self._cluster(xyz, ng) if len(ng) else np.zeros(0, np.int32)
        if c.wall_split and len(ng):
            labels = _walls.split_walls(
                xyz, labels, lambda sub: self._cluster(sub, np.arange(len(sub))), c.wall_split_min_points,
                c.wall_tolerance, c.wall_min_share, c.min_cluster_points, rows=ng, min_length=c.wall_min_length)
        cid_ng, order, offsets, n_over = _cluster.pack_labels(
            labels, c.min_cluster_points, c.max_cluster_points, c.oversize_policy == "keep"
        )
        if _fast.HAVE_NUMBA and to_seg is None and pts.dtype == np.float32 and len(ng):
            cluster_id, cluster_points, packed_xyz, input_cluster_id, input_ground = _fast.pack_kernel_outputs(
                pts, xyz, ground, ng, cid_ng, order, keep, n_in)
        else:
            cluster_id = np.full(m, -1, np.int32)
            cluster_id[ng] = cid_ng
            packed = ng[order]
            cluster_points = pts[packed]
            packed_xyz = xyz[packed]
            input_cluster_id = np.full(n_in, -1, np.int32)
            input_ground = np.zeros(n_in, bool)
            input_cluster_id[keep] = cluster_id if to_seg is None else cluster_id[to_seg]
            input_ground[keep] = ground if to_seg is None else ground[to_seg]
        t4 = time.perf_counter()
        t["cluster"] = (t4 - t3) * 1e3
        bxs = _boxes.fit_boxes(packed_xyz, offsets, c.box_method)
        t["boxes"] = (time.perf_counter() - t4) * 1e3
        return Segmentation(
            points=pts.reshape(m, ncol), ground=ground, cluster_id=cluster_id, cluster_offsets=offsets,
            cluster_points=cluster_points.reshape(-1, ncol), boxes=bxs, input_cluster_id=input_cluster_id,
            input_ground=input_ground, timings_ms=t, n_oversize=n_over,
        )


def segment(points: np.ndarray, config: PipelineConfig | None = None) -> Segmentation:
    """Segment one cloud.

    points: (N, C>=3) float x, y, z[, intensity, ...] in the sensor frame; rows with a NaN/Inf
    are dropped. Handles N=0, a single point and all-ground clouds (zero clusters). For many
    frames build a ``Pipeline`` once instead (validation and Patchwork++ set-up happen once).
    """
    return Pipeline(config)(points)
