"""The sensor's own motion (ego motion) in the plane, from a vehicle's odometry.

A tracker that works in the sensor's frame sees every parked car move at minus the vehicle's
velocity, and in a turn sweep around the sensor at the turn rate times its range (0.5 rad/s at 20 m:
10 m/s sideways), which a constant-velocity model follows badly. Given the sensor's pose in a fixed
frame (``odom``) at each cloud's stamp, the tracker works in that fixed frame instead: standing
objects stand still, and the velocities are over the ground.

- ``Pose2D``: a pose in the plane, (x [m], y [m], yaw [rad]), with ``apply`` (points of its frame into
  the parent frame) and ``compose``.
- ``yaw_of_quaternion``: the yaw of a ROS orientation (x, y, z, w).
- ``OdometryBuffer``: the last few seconds of odometry poses (``nav_msgs/Odometry``: the pose of
  ``child_frame_id``, normally ``base_link``, in ``header.frame_id``, normally ``odom``); ``pose_at``
  interpolates them at a cloud's stamp, or extrapolates from the last two a short time beyond them
  (odometry that runs a little behind the sensor).

The sensor's place on the vehicle (``Pose2D`` of the sensor in the odometry's child frame) is composed
after the vehicle's pose: a sensor 1 m ahead of the rear axle moves sideways when the vehicle turns.
Planar: roll, pitch and height of the odometry are not used (the node levels each cloud with its
mounting angles; slopes change the ground height, not the tracks). Imports no ROS module.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass

import numpy as np


def wrap_angle(a: float) -> float:
    """Angle [rad] in [-pi, pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


@dataclass(frozen=True)
class Pose2D:
    """A frame's pose in its parent frame: origin (x, y) [m] and heading yaw [rad] about +z."""

    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0

    def apply(self, xy: np.ndarray) -> np.ndarray:
        """Points ``xy`` (N, 2) [m] of this frame in the parent frame (N, 2)."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return np.column_stack([self.x + c * xy[:, 0] - s * xy[:, 1], self.y + s * xy[:, 0] + c * xy[:, 1]])

    def rotate(self, v: np.ndarray) -> np.ndarray:
        """Vectors ``v`` (N, 2) (velocities) of this frame in the parent frame's axes (N, 2)."""
        return Pose2D(0.0, 0.0, self.yaw).apply(v)

    def inverse(self) -> Pose2D:
        """The parent frame's pose in this frame."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return Pose2D(-c * self.x - s * self.y, s * self.x - c * self.y, wrap_angle(-self.yaw))

    def compose(self, child: Pose2D) -> Pose2D:
        """The pose in this pose's parent frame of ``child`` (a pose given in this frame)."""
        (x, y), = self.apply(np.array([[child.x, child.y]]))
        return Pose2D(float(x), float(y), wrap_angle(self.yaw + child.yaw))


def yaw_of_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Heading [rad] of an orientation quaternion (ROS order x, y, z, w; need not be normalised): the
    angle of its x axis projected on the ground plane (also right for a vehicle on a slope).
    ``ValueError`` for one that is no rotation (all zero, as an unset ``geometry_msgs/Quaternion`` of
    some drivers is, or not finite)."""
    norm2 = x * x + y * y + z * z + w * w
    if not (math.isfinite(norm2) and norm2 > 1e-12):
        raise ValueError(f"orientation ({x}, {y}, {z}, {w}) is not a rotation")
    return math.atan2(2.0 * (w * z + x * y), w * w + x * x - y * y - z * z)  # both scale with |q|^2


class OdometryBuffer:
    """Odometry poses of the last ``keep_s`` seconds, in stamp order, looked up by time."""

    def __init__(self, keep_s: float = 5.0) -> None:
        if not keep_s > 0:
            raise ValueError(f"keep_s={keep_s!r}: must be > 0 s")
        self.keep_s = float(keep_s)
        self._stamps: deque[float] = deque()
        self._poses: deque[Pose2D] = deque()

    def __len__(self) -> int:
        return len(self._stamps)

    @property
    def latest_stamp(self) -> float | None:
        """Stamp [s] of the newest pose, or None when empty."""
        return self._stamps[-1] if self._stamps else None

    def clear(self) -> None:
        self._stamps.clear()
        self._poses.clear()

    def add(self, stamp_s: float, pose: Pose2D) -> None:
        """Add a pose stamped ``stamp_s``. A stamp older than the newest (time went back: a bag looping)
        clears the buffer first; one equal to it replaces it."""
        if not (math.isfinite(stamp_s) and math.isfinite(pose.x) and math.isfinite(pose.y)
                and math.isfinite(pose.yaw)):
            raise ValueError(f"odometry at {stamp_s!r}: {pose} is not finite")
        if self._stamps and stamp_s < self._stamps[-1]:
            self.clear()
        if self._stamps and stamp_s == self._stamps[-1]:
            self._poses[-1] = pose
            return
        self._stamps.append(float(stamp_s))
        self._poses.append(pose)
        while self._stamps[-1] - self._stamps[0] > self.keep_s:
            self._stamps.popleft()
            self._poses.popleft()

    def pose_at(self, stamp_s: float, max_gap_s: float = 0.2) -> Pose2D | None:
        """The pose at ``stamp_s``: interpolated between the poses around it (linear in x, y; along the
        shorter arc in yaw) when they are at most ``max_gap_s`` apart, extrapolated at constant velocity
        from the last two poses up to ``max_gap_s`` beyond the newest; None when the buffer cannot say
        (empty, the stamp older than its oldest pose or too far beyond its newest, or a gap)."""
        stamps = self._stamps
        if not stamps:
            return None
        i = bisect_left(stamps, stamp_s)
        if i < len(stamps) and stamps[i] == stamp_s:
            return self._poses[i]
        if i == 0:
            return None
        if i == len(stamps):  # newer than the newest pose
            if stamp_s - stamps[-1] > max_gap_s:
                return None
            if len(stamps) == 1:
                return self._poses[-1]
            i -= 1  # extrapolate along the last two
        t0, t1 = stamps[i - 1], stamps[i]
        if t1 - t0 > max_gap_s:
            return None
        a, b = self._poses[i - 1], self._poses[i]
        f = (stamp_s - t0) / (t1 - t0)
        return Pose2D(a.x + f * (b.x - a.x), a.y + f * (b.y - a.y), wrap_angle(a.yaw + f * wrap_angle(b.yaw - a.yaw)))
