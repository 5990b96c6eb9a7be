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

import math
from collections.abc import Sequence

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


SAMPLE = 4000  # ground returns ground_tilt fits its plane to (every n-th)
TILT_WARN_DEG = 3.0  # a median lean of the ground this large is worth a line (streets slope 1-2 degrees)


def ground_tilt(xyz: np.ndarray, ground: np.ndarray, min_range: float = 3.0, max_range: float = 25.0,
                tolerance: float = 0.15, min_returns: int = 200) -> tuple[float, float] | None:
    """(roll_deg, pitch_deg) of the ground around the sensor: the mounting angles that would make it
    level, from a plane z = a x + b y + c fitted to the ground returns ``xyz[ground]`` (N, 3) between
    ``min_range`` and ``max_range`` m (least squares, then again on the returns within ``tolerance`` m
    of the first plane). About 0 for a level sensor on level ground; a street's own slope shows as well,
    so a caller looks at many frames before it believes a mounting error. None with fewer than
    ``min_returns`` ground returns there. Fitted to about ``SAMPLE`` of the ground returns (every n-th).

    The plane of the ground seen by a sensor with angles (roll r, pitch p) is
    z = (sin p x - cos p sin r y - h) / (cos p cos r): a = tan p / cos r, b = -tan r."""
    rows = np.flatnonzero(ground)
    rows = rows[:: max(1, len(rows) // SAMPLE)]  # a few thousand returns fix three numbers
    pts = xyz[rows, :3].astype(np.float64)
    r2 = pts[:, 0] ** 2 + pts[:, 1] ** 2
    pts = pts[(r2 >= min_range * min_range) & (r2 <= max_range * max_range)]
    if len(pts) < min_returns:
        return None
    a = np.c_[pts[:, :2], np.ones(len(pts))]
    z = pts[:, 2]
    coef = np.linalg.lstsq(a, z, rcond=None)[0]
    near = np.abs(a @ coef - z) <= tolerance
    if near.sum() >= min_returns:
        coef = np.linalg.lstsq(a[near], z[near], rcond=None)[0]
    roll = -math.atan(coef[1])
    pitch = math.atan(coef[0] * math.cos(roll))
    return math.degrees(roll), math.degrees(pitch)


def suggested_angles(roll_deg: float, pitch_deg: float, tilt: tuple[float, float]) -> tuple[float, float]:
    """The mounting angles (roll, pitch) in degrees that level the ground whose remaining ``tilt`` (roll,
    pitch) :func:`ground_tilt` measured with ``roll_deg`` / ``pitch_deg`` set: the two turns composed
    (their yaw, a fraction of a degree for small angles, dropped)."""
    from scipy.spatial.transform import Rotation

    now = mount_rotation(roll_deg, pitch_deg)
    rest = mount_rotation(*tilt)
    total = (np.eye(3) if rest is None else rest) @ (np.eye(3) if now is None else now)
    roll, pitch, _ = Rotation.from_matrix(total).as_euler("xyz", degrees=True)
    return float(roll), float(pitch)


def tilt_advice(tilts: Sequence[tuple[float, float]], roll_deg: float, pitch_deg: float, over: str,
                warn_deg: float = TILT_WARN_DEG) -> str:
    """One line on a sensor that seems to be mounted tilted ('' when it does not): the median (roll,
    pitch) of the :func:`ground_tilt` measurements ``tilts`` leans ``warn_deg`` or more; it names the
    angles to set (:func:`suggested_angles`, with ``roll_deg`` / ``pitch_deg`` those set now). ``over``
    says what the median was taken over ("the last 20 measurements")."""
    if not len(tilts):
        return ""
    roll, pitch = (float(v) for v in np.median(np.asarray(tilts, np.float64), axis=0))
    if max(abs(roll), abs(pitch)) < warn_deg:
        return ""
    new_roll, new_pitch = suggested_angles(roll_deg, pitch_deg, (roll, pitch))
    return (f"the ground around the sensor leans by roll {roll:+.1f}, pitch {pitch:+.1f} degrees ({over}): if the "
            f"sensor is mounted tilted, set sensor_roll_deg: {new_roll:.1f} and sensor_pitch_deg: {new_pitch:.1f} "
            f"(now {roll_deg:g}, {pitch_deg:g}); on a sloping street this is the slope, and it passes")
