"""The one type that crosses the boundary between the core and its adapters (node, CLI)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np


@dataclass
class Detection:
    """One labelled object.

    ``center`` is the box centre (x, y, z) in metres in the cloud's frame, ``size`` is
    (length, width, height) in metres, length along the heading ``yaw`` (radians, about +z,
    0 = +x). ``score`` is in [0, 1]: the classifier's (calibrated) probability of its best class.
    When the label was lowered to ``unknown`` (score below the class threshold, implausible size),
    ``guess`` is the network's class and ``unknown_reason`` says why. ``hypotheses`` holds the
    network's best classes with their calibrated probabilities, best first (empty without a model).
    With tracking, a detection of a confirmed track carries its ``track_id`` and ``velocity``, and
    its ``label`` / ``score`` are the track's (voted over its frames; ``frame_label`` keeps this
    frame's label when the two differ). ``clearance`` is how high (m) the object's lowest return lies
    above the ground around it (NaN where no ground return was seen near it): a robot may pass under a
    branch with a clearance of 2.5 m, and a road user stands on the ground (the ground check).

    A tilted sensor (``sensor_roll_deg`` / ``sensor_pitch_deg``) is handled in its level frame;
    :func:`to_cloud_frame` turns the detections back: ``center`` in the cloud's frame, ``orientation``
    the box's (x, y, z, w) quaternion there, while ``yaw`` and ``velocity`` stay in the level frame (a
    heading and a speed over the ground). ``orientation`` None: the box turns by ``yaw`` about the
    cloud's z.
    """

    label: str
    score: float
    center: np.ndarray
    size: np.ndarray
    yaw: float
    num_points: int
    guess: str = ""
    unknown_reason: str = ""
    hypotheses: tuple[tuple[str, float], ...] = ()
    track_id: int = 0  # > 0: the confirmed track this detection continues (0: untracked or tentative)
    # (2,) m/s in the cloud frame's axes (a tilted sensor: level), from the track: over the ground with
    # odometry (odom_topic), else relative to the sensor
    velocity: np.ndarray | None = None
    frame_label: str = ""  # set when the track's label (from its history) differs from this frame's
    clearance: float = float("nan")  # m, lowest return above the local ground; NaN: no ground seen near it
    orientation: tuple[float, float, float, float] | None = None  # (x, y, z, w) in the cloud's frame; None: yaw

    def quaternion(self) -> tuple[float, float, float, float]:
        """(x, y, z, w) of the box in the cloud's frame: ``orientation``, else the turn by ``yaw`` about z."""
        if self.orientation is not None:
            return self.orientation
        return 0.0, 0.0, math.sin(self.yaw / 2), math.cos(self.yaw / 2)

    def to_json(self) -> dict:
        """The detection in the JSON contract of ``python -m t3d_ros detect``."""
        doc = {
            "label": self.label,
            "score": round(float(self.score), 4),
            "center": [round(float(v), 4) for v in self.center],
            "size": [round(float(v), 4) for v in self.size],
            "yaw": round(float(self.yaw), 4),
            "num_points": int(self.num_points),
        }
        if np.isfinite(self.clearance):
            doc["clearance"] = round(float(self.clearance), 3)
        if self.unknown_reason:
            doc["guess"], doc["unknown_reason"] = self.guess, self.unknown_reason
        if self.track_id:
            doc["track_id"] = int(self.track_id)
            doc["velocity"] = [round(float(v), 3) for v in self.velocity] if self.velocity is not None else None
        if self.frame_label:
            doc["frame_label"] = self.frame_label
        if self.orientation is not None:
            doc["orientation"] = [round(float(v), 6) for v in self.orientation]
        return doc


def to_cloud_frame(detections: Sequence[Detection], level_to_cloud: np.ndarray | None) -> list[Detection]:
    """``detections`` found in the level frame of a tilted sensor, in the cloud's frame: each centre
    turned by ``level_to_cloud`` (3, 3; the mount rotation's transpose) and its box's orientation set.
    None (a level sensor): the detections as they are."""
    if level_to_cloud is None:
        return list(detections)
    from t3d_ros.geometry import box_rotation, quaternion_of

    m = np.asarray(level_to_cloud, np.float64)
    return [replace(d, center=m @ np.asarray(d.center, np.float64),
                    orientation=quaternion_of(box_rotation(float(d.yaw), m))) for d in detections]
