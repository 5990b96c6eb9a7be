"""A simulated frame as a real LiDAR driver lays it out, and its visible ground-truth objects.

Shared by ``sim_lidar_node`` (publishes it over DDS) and ``sim --bag`` (records it into an MCAP bag),
so both carry byte-identical clouds. Imports no ROS module.
"""

from __future__ import annotations

import numpy as np

from t3d_ros.detection import Detection
from t3d_ros.io.cloud import LAYOUTS, build_cloud
from t3d_ros.offline.sim.lidar import Frame
from t3d_ros.offline.sim.scene import Scene
from t3d_ros.offline.sim.sensors import SensorModel


def frame_to_array(frame: Frame, sensor: SensorModel, organized: bool) -> tuple[np.ndarray, int]:
    """(structured array in the sensor's driver layout, height) of one simulated frame.

    Organized: every beam of every column has a slot, NaN x/y/z where there was no return.
    """
    layout = LAYOUTS[sensor.layout]
    cols = {"x": frame.xyz[:, 0], "y": frame.xyz[:, 1], "z": frame.xyz[:, 2], "intensity": frame.intensity,
            "ring": frame.ring}
    if sensor.layout == "ouster":
        cols.update(t=(frame.time * 1e9).astype(np.uint32), reflectivity=frame.intensity.astype(np.uint16),
                    range=(frame.range * 1000).astype(np.uint32))
    else:
        cols["time"] = frame.time
    points = build_cloud(layout, cols)
    if not organized:
        return points, 1
    rings, columns = len(sensor.vertical_angles_deg), sensor.columns
    grid = np.zeros(rings * columns, dtype=points.dtype)
    for c in "xyz":
        grid[c] = np.nan
    if sensor.layout == "ouster":  # rows are beams (top beam first), columns azimuth
        slot = (rings - 1 - frame.ring.astype(np.int64)) * columns + frame.column
        height = rings
    else:  # velodyne_pointcloud organized: width = lasers, one row per firing
        slot = frame.column.astype(np.int64) * rings + frame.ring
        height = columns
    grid[slot] = points
    return grid, height


def ground_truth_detections(scene: Scene, frame: Frame, min_points: int = 5) -> list[Detection]:
    """The scene's objects that the frame saw with at least ``min_points`` returns."""
    counts = np.bincount(frame.instance, minlength=max((o.instance_id for o in scene.objects), default=0) + 1)
    return [
        Detection(o.label, 1.0, np.asarray(o.center), np.asarray(o.size), float(o.yaw), int(counts[o.instance_id]))
        for o in scene.objects
        if counts[o.instance_id] >= min_points
    ]
