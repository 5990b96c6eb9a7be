"""The one type that crosses the boundary between the core and its adapters (node, CLI)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Detection:
    """One labelled object.

    ``center`` is the box centre (x, y, z) in metres in the cloud's frame, ``size`` is
    (length, width, height) in metres, length along the heading ``yaw`` (radians, about +z,
    0 = +x). ``score`` is in [0, 1]: the classifier's (calibrated) probability of its best class.
    When the label was lowered to ``unknown`` (score below the class threshold, implausible size),
    ``guess`` is the network's class and ``unknown_reason`` says why.
    """

    label: str
    score: float
    center: np.ndarray
    size: np.ndarray
    yaw: float
    num_points: int
    guess: str = ""
    unknown_reason: str = ""

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
        if self.unknown_reason:
            doc["guess"], doc["unknown_reason"] = self.guess, self.unknown_reason
        return doc
