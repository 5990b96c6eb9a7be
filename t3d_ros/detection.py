"""The one type that crosses the boundary between the core and its adapters (node, CLI)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Detection:
    """One labelled object.

    ``center`` is the box centre (x, y, z) in metres in the cloud's frame, ``size`` is
    (length, width, height) in metres, length along the heading ``yaw`` (radians, about +z,
    0 = +x). ``score`` is in [0, 1].
    """

    label: str
    score: float
    center: np.ndarray
    size: np.ndarray
    yaw: float
    num_points: int

    def to_json(self) -> dict:
        """The detection in the JSON contract of ``python -m t3d_ros detect``."""
        return {
            "label": self.label,
            "score": round(float(self.score), 4),
            "center": [round(float(v), 4) for v in self.center],
            "size": [round(float(v), 4) for v in self.size],
            "yaw": round(float(self.yaw), 4),
            "num_points": int(self.num_points),
        }
