"""``PipelineConfig``: every parameter of the segmentation pipeline, with its description, unit and
valid range. The node declares one ROS parameter per field; ``detect --params`` reads the same YAML."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field, fields

import numpy as np

from t3d_ros.segment.boxes import BOX_METHODS
from t3d_ros.segment.level import mount_rotation

GROUND_METHODS = ("envelope", "grid", "patchwork", "none")
CLUSTER_METHODS = ("cellgraph", "voxel", "kdtree", "grid2d")
OVERSIZE_POLICIES = ("report", "keep")
# The ground and clustering grids are dense over the extent of the cropped points, so the ROI and the
# cell sizes bound their memory: no ROI bound beyond ROI_LIMIT (m; farther than any LiDAR sees) and at
# most MAX_GRID_CELLS cells per bird's-eye grid (~0.4 GB of working arrays in the cell-graph clustering),
# MAX_VOXEL_CELLS per 3D voxel grid (one byte a cell, plus the labels).
ROI_LIMIT = 1000.0
MAX_GRID_CELLS = 10_000_000
MAX_VOXEL_CELLS = 50_000_000


def _p(default, description: str, unit: str = ""):
    """A config field whose description and unit become the node's parameter descriptor."""
    return field(default=default, metadata={"description": description, "unit": unit})


@dataclass
class PipelineConfig:
    """Parameters of ``segment``. Lengths in metres, angles in degrees, sensor frame (z up); with the
    mounting angles set, the level frame (``segment/level.py``) for everything after them."""

    # How the sensor is mounted: the cloud is turned level first (segment/level.py).
    sensor_roll_deg: float = _p(0.0, "Sensor mounting roll (about x; positive lowers the right side): clouds are "
                                "turned level first, boxes published back in the cloud's frame", "deg")
    sensor_pitch_deg: float = _p(0.0, "Sensor mounting pitch (about y; positive looks down), as a URDF joint's rpy "
                                 "relative to a level base", "deg")

    # Region of interest in the sensor frame (the level frame when the mounting angles are set).
    x_min: float = _p(-60.0, "ROI lower x bound", "m")
    x_max: float = _p(60.0, "ROI upper x bound", "m")
    y_min: float = _p(-60.0, "ROI lower y bound", "m")
    y_max: float = _p(60.0, "ROI upper y bound", "m")
    z_min: float = _p(-3.0, "ROI lower z bound, relative to the sensor", "m")
    z_max: float = _p(3.0, "ROI upper z bound, relative to the sensor", "m")
    min_range: float = _p(1.5, "Drop returns closer than this in the xy plane (the vehicle itself)", "m")
    # The vehicle's own footprint (a box in the sensor frame, any height): returns from the body, the
    # roof rack or a trailer hitch. Off while self_x_max <= self_x_min (the default): min_range alone.
    self_x_min: float = _p(0.0, "Vehicle footprint to drop, rear bound (sensor frame); off if self_x_max <= self_x_min",
                           "m")
    self_x_max: float = _p(0.0, "Vehicle footprint to drop, front bound; e.g. -1.0 / 3.0 for a sensor 1 m from the "
                           "rear of a 4 m car", "m")
    self_y_min: float = _p(0.0, "Vehicle footprint to drop, right bound", "m")
    self_y_max: float = _p(0.0, "Vehicle footprint to drop, left bound", "m")
    voxel_size: float = _p(0.0, "Voxel downsampling edge, one real point kept per voxel; 0 = off", "m")

    # Ground removal. "envelope": slope-limited lower envelope of the per-cell lowest returns
    # (default; see ground.py); "grid": 3x3-cell min z; "patchwork": Patchwork++ (needs
    # pypatchworkpp); "none": keep every point.
    ground_method: str = _p("envelope", "Ground removal: envelope, grid, patchwork or none")
    ground_cell_size: float = _p(0.5, "Bird's-eye cell of the ground grid", "m")
    ground_height_threshold: float = _p(0.2, "Height above the estimated ground still counted as ground", "m")
    ground_max_slope_deg: float = _p(13.0, "Steepest ground between neighbouring cells (local slope)", "deg")
    ground_global_slope_deg: float = _p(10.0, "Seed cells lie within this slope of the sensor's ground", "deg")
    ground_sensor_height: float = _p(0.0, "Sensor height above the ground; 0 = estimate every frame", "m")
    ground_radius: float = _p(4.0, "How far a cell may borrow its ground from neighbours", "m")

    # Clustering. "cellgraph": BEV cells linked within a range-adaptive tolerance and z gap
    # (default; see cluster.py); "voxel": 26-connected 3D voxels; "kdtree": Euclidean on points
    # (slow); "grid2d": 8-connected BEV cells (fast, merges touching objects).
    cluster_method: str = _p("cellgraph", "Clustering: cellgraph, voxel, kdtree or grid2d")
    cluster_cell_size: float = _p(0.15, "Bird's-eye cell (cellgraph, grid2d) or voxel edge (voxel)", "m")
    cluster_tolerance: float = _p(0.25, "Link distance (cellgraph: across the line of sight)", "m")
    cluster_radial_tolerance_per_m: float = _p(
        0.015, "cellgraph: tolerance added along the line of sight per metre of range", "m/m")
    cluster_tangential_tolerance_per_m: float = _p(
        0.002, "cellgraph: tolerance added across the line of sight per metre of range", "m/m")
    cluster_max_tolerance: float = _p(0.9, "Cap of the range-adaptive tolerance", "m")
    cluster_z_gap: float = _p(0.6, "Largest vertical gap between linked cells near the sensor", "m")
    cluster_z_gap_per_m: float = _p(0.02, "Added to the z gap per metre of range (ring spacing grows)", "m/m")
    cluster_z_scale: float = _p(0.5, "kdtree only: z is multiplied by this before the distance test")
    min_cluster_points: int = _p(10, "Smaller clusters are noise", "points")
    max_cluster_points: int = _p(20000, "Larger clusters are handled by oversize_policy", "points")
    # Clusters above max_cluster_points (walls, hedges): "report" leaves them out of the packed
    # clusters (cluster_id -1) and counts them in Segmentation.n_oversize; "keep" keeps them.
    oversize_policy: str = _p("report", "Clusters above max_cluster_points: report (count, leave out) or keep")

    # Objects against walls (walls.py): in every cluster of wall_split_min_points or more returns whose
    # dominant vertical plane holds wall_min_share of them over wall_min_length or more, the returns in
    # front of the plane are clustered again, so that a box or a person against a wall, or a car
    # parked beside a hedge, gets a cluster of its own.
    wall_split: bool = _p(True, "Split objects standing in front of a wall off the wall's cluster")
    wall_split_min_points: int = _p(60, "Clusters with at least this many returns are checked for a wall",
                                    "points")
    wall_tolerance: float = _p(0.1, "Returns within this distance of a wall's plane belong to the wall", "m")
    wall_min_share: float = _p(0.4, "A cluster is a wall when this share of its returns lies on its plane")
    wall_min_length: float = _p(3.0, "A wall's plane runs at least this far along its cluster (longer than a "
                                "bicycle, whose frame is a plane with its rider in front)", "m")

    box_method: str = _p("lshape", "Oriented boxes: lshape (closeness criterion), minarea or aabb")

    @property
    def level_rotation(self) -> np.ndarray | None:
        """R (3, 3) turning sensor-frame points level (p_level = R @ p), or None when mounted level."""
        return mount_rotation(self.sensor_roll_deg, self.sensor_pitch_deg)

    @property
    def self_box(self) -> tuple[float, float, float, float] | None:
        """(x_min, x_max, y_min, y_max) of the vehicle footprint whose returns are dropped, or None (off)."""
        if self.self_x_max <= self.self_x_min:
            return None
        return (self.self_x_min, self.self_x_max, self.self_y_min, self.self_y_max)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, its value and the allowed range."""
        for f in fields(self):
            v, default = getattr(self, f.name), f.default
            if isinstance(default, float) and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
                raise ValueError(f"{f.name}={v!r}: must be a number")
            if isinstance(default, bool) and not isinstance(v, bool):
                raise ValueError(f"{f.name}={v!r}: must be true or false")
            if (isinstance(default, int) and not isinstance(default, bool)
                    and (isinstance(v, bool) or not isinstance(v, numbers.Integral))):
                raise ValueError(f"{f.name}={v!r}: must be an integer")
            if isinstance(default, str) and not isinstance(v, str):
                raise ValueError(f"{f.name}={v!r}: must be a string")
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{f.name}={v!r}: must be a finite number")

        def check(name: str, ok: bool, allowed: str) -> None:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r}: must be {allowed}")

        for name in ("sensor_roll_deg", "sensor_pitch_deg"):
            check(name, abs(getattr(self, name)) <= 180.0, "in [-180, 180] degrees")
        check("x_max", self.x_max > self.x_min, f"> x_min ({self.x_min})")
        check("y_max", self.y_max > self.y_min, f"> y_min ({self.y_min})")
        check("z_max", self.z_max > self.z_min, f"> z_min ({self.z_min})")
        for name in ("x_min", "x_max", "y_min", "y_max", "z_min", "z_max"):
            check(name, abs(getattr(self, name)) <= ROI_LIMIT, f"in [-{ROI_LIMIT:g}, {ROI_LIMIT:g}] m")
        check("min_range", self.min_range >= 0, ">= 0")
        if self.self_box is not None:
            check("self_y_max", self.self_y_max > self.self_y_min, f"> self_y_min ({self.self_y_min}) when the "
                  "footprint is on (self_x_max > self_x_min)")
        for name in ("self_x_min", "self_x_max", "self_y_min", "self_y_max"):
            check(name, abs(getattr(self, name)) <= 50.0, "in [-50, 50] m")
        check("voxel_size", self.voxel_size == 0 or 0.01 <= self.voxel_size <= 5.0,
              "0 (off) or in [0.01, 5] m")
        check("ground_method", self.ground_method in GROUND_METHODS, f"one of {GROUND_METHODS}")
        check("ground_cell_size", 0.05 <= self.ground_cell_size <= 10.0, "in [0.05, 10] m")
        check("ground_height_threshold", 0 < self.ground_height_threshold <= 2.0, "in (0, 2] m")
        check("ground_max_slope_deg", 0 <= self.ground_max_slope_deg < 60, "in [0, 60) degrees")
        check("ground_global_slope_deg", 0 <= self.ground_global_slope_deg < 60, "in [0, 60) degrees")
        check("ground_sensor_height", 0 <= self.ground_sensor_height <= 20, "in [0, 20] m (0: estimate)")
        check("ground_radius", 0 < self.ground_radius <= 50, "in (0, 50] m")
        check("cluster_method", self.cluster_method in CLUSTER_METHODS, f"one of {CLUSTER_METHODS}")
        check("cluster_cell_size", 0.02 <= self.cluster_cell_size <= 2.0, "in [0.02, 2] m")
        check("cluster_tolerance", 0 < self.cluster_tolerance <= 5.0, "in (0, 5] m")
        check("cluster_radial_tolerance_per_m", 0 <= self.cluster_radial_tolerance_per_m <= 0.1,
              "in [0, 0.1] m/m")
        check("cluster_tangential_tolerance_per_m", 0 <= self.cluster_tangential_tolerance_per_m <= 0.1,
              "in [0, 0.1] m/m")
        check("cluster_max_tolerance", self.cluster_max_tolerance >= self.cluster_tolerance,
              f">= cluster_tolerance ({self.cluster_tolerance})")
        check("cluster_max_tolerance", self.cluster_max_tolerance <= 10 * self.cluster_cell_size + 1e-9,
              f"<= 10 * cluster_cell_size ({10 * self.cluster_cell_size:g} m)")
        check("cluster_z_gap", 0 <= self.cluster_z_gap <= 10, "in [0, 10] m")
        check("cluster_z_gap_per_m", 0 <= self.cluster_z_gap_per_m <= 1, "in [0, 1] m/m")
        check("cluster_z_scale", 0 < self.cluster_z_scale <= 1, "in (0, 1]")
        check("min_cluster_points", isinstance(self.min_cluster_points, int) and self.min_cluster_points >= 1,
              "an integer >= 1")
        check("max_cluster_points", isinstance(self.max_cluster_points, int)
              and self.max_cluster_points >= self.min_cluster_points,
              f"an integer >= min_cluster_points ({self.min_cluster_points})")
        check("oversize_policy", self.oversize_policy in OVERSIZE_POLICIES, f"one of {OVERSIZE_POLICIES}")
        check("wall_split_min_points", isinstance(self.wall_split_min_points, int)
              and self.wall_split_min_points >= 3, "an integer >= 3")
        check("wall_tolerance", 0.01 <= self.wall_tolerance <= 1.0, "in [0.01, 1] m")
        check("wall_min_share", 0 < self.wall_min_share <= 1, "in (0, 1]")
        check("wall_min_length", 0 <= self.wall_min_length <= 100, "in [0, 100] m")
        check("box_method", self.box_method in BOX_METHODS, f"one of {tuple(BOX_METHODS)}")
        self._check_grid_sizes()

    def _check_grid_sizes(self) -> None:
        """The dense grids over the ROI stay within MAX_GRID_CELLS (their memory is bounded)."""
        dx, dy, dz = self.x_max - self.x_min, self.y_max - self.y_min, self.z_max - self.z_min
        cell = self.cluster_cell_size
        grids = []  # (field, cells, budget)
        if self.cluster_method in ("cellgraph", "grid2d"):
            grids.append(("cluster_cell_size", (dx / cell + 1) * (dy / cell + 1), MAX_GRID_CELLS))
        elif self.cluster_method == "voxel":  # 3D grid, z cells of twice the edge
            grids.append(("cluster_cell_size", (dx / cell + 1) * (dy / cell + 1) * (dz / (2 * cell) + 1),
                          MAX_VOXEL_CELLS))
        if self.ground_method in ("envelope", "grid"):
            g = self.ground_cell_size
            grids.append(("ground_cell_size", (dx / g + 1) * (dy / g + 1), MAX_GRID_CELLS))
        for name, cells, budget in grids:
            if cells > budget:
                raise ValueError(
                    f"{name}={getattr(self, name)!r}: the ROI ({dx:g} x {dy:g} x {dz:g} m) would need "
                    f"{cells / 1e6:.0f} M grid cells, at most {budget / 1e6:.0f} M: "
                    "use larger cells or a smaller ROI")
