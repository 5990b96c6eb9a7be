"""A tilted sensor: from its frame to a level one and back.

A LiDAR mounted with a pitch or a roll (a robot's sensor looking down at the ground ahead, a sensor on
a sloped roof) sees flat ground as a slope that the ground removal must not take for an obstacle: at
10 degrees of pitch the shipped envelope ground lost 18 % of the ground returns of simulated HDL-64E
frames, at 15 degrees 62 % (docs/segmentation.md, "A tilted sensor"). With the mounting angles given,
the pipeline turns every cloud into the *level frame* first (the sensor frame turned so that z is
up; the same origin and heading) and segments and classifies there.

Angles follow ROS (REP-103, a URDF joint's ``rpy`` with yaw 0): ``roll`` about x, then ``pitch``
about y, in degrees; a positive pitch looks down, a positive roll lowers the right side.
"""

from __future__ import annotations

import numpy as np


def mount_rotation(roll_deg: float, pitch_deg: float) -> np.ndarray | None:
    """R (3, 3) float64 with p_level = R @ p_sensor for a sensor mounted with ``roll_deg`` and
    ``pitch_deg`` (a URDF joint's rpy with yaw 0: Ry(pitch) @ Rx(roll)). None when both are 0."""
    if roll_deg == 0.0 and pitch_deg == 0.0:
        return None
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("xyz", [roll_deg, pitch_deg, 0.0], degrees=True).as_matrix()


def turn_points(points: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """A float32 copy of ``points`` (N, C>=3) with x, y, z turned by ``rotation`` (3, 3): p -> R @ p.
    The other columns (intensity, ...) are copied as they are. ``rotation.T`` turns back."""
    out = np.array(points, dtype=np.float32, copy=True)
    r = np.asarray(rotation, np.float32)
    x, y, z = out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy()
    for i in range(3):  # column by column in float32: 0.5 ms for 125k points, a (N, 3) matmul 1.7-3 ms
        out[:, i] = r[i, 0] * x + r[i, 1] * y + r[i, 2] * z
    return out
