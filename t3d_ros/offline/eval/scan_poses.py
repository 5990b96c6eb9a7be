"""The sensor's poses along a recording that comes without odometry, by scan matching.

The node tracks in a fixed frame when it is given the vehicle's odometry (``track/ego.py``). Recordings
without poses (the shared KITTI odometry frames, a bag without ``/odom``) can still be tracked that
way offline: each scan is registered against a local map of the scans before it with KISS-ICP
(Vizzo et al., "KISS-ICP: In Defense of Point-to-Point ICP", RA-L 2023; the ``kiss-icp`` package, MIT,
a requirement of the offline tools only), whose defaults work across sensors and scenes without
tuning. The 3D pose of each scan in the first scan's frame is returned as a planar ``Pose2D`` (x, y,
yaw), the form the tracker takes. For measurement only: the node itself takes the robot's own
odometry, which is better than any estimate from the LiDAR alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from t3d_ros.track.ego import Pose2D


def scan_poses(scans: Iterable[np.ndarray], max_range: float = 80.0, min_range: float = 2.0,
               voxel_size: float | None = 0.4) -> list[Pose2D]:
    """The pose of every scan (N_i, >=3 x, y, z in the sensor frame, metres) in the first scan's frame,
    in the plane: x, y [m] and yaw [rad]. ``max_range`` / ``min_range`` [m]: returns used; ``voxel_size``
    [m]: KISS-ICP's map voxel (None: ``max_range / 100``, its own default; 0.4 m, the default here,
    halved the step errors on short simulated sequences against 0.8 m and moves the real frames'
    poses by under 4 cm). Scans are registered in
    order, each with the constant-velocity guess from the two before (no deskewing: a scan's returns
    carry no times here)."""
    from kiss_icp.config import KISSConfig
    from kiss_icp.kiss_icp import KissICP

    config = KISSConfig()
    config.data.deskew = False
    config.data.max_range, config.data.min_range = float(max_range), float(min_range)
    config.mapping.voxel_size = float(voxel_size if voxel_size is not None else max_range / 100.0)
    odometry = KissICP(config)
    poses = []
    for scan in scans:
        xyz = np.ascontiguousarray(np.asarray(scan)[:, :3], dtype=np.float64)
        odometry.register_frame(xyz[np.isfinite(xyz).all(axis=1)], np.zeros(0))
        t = odometry.last_pose
        poses.append(Pose2D(float(t[0, 3]), float(t[1, 3]), math.atan2(t[1, 0], t[0, 0])))
    return poses
