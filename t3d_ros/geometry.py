"""Oriented-box maths, the one home for it: corners, frames, point-in-box tests, bird's-eye overlap.

A box is ``[cx, cy, cz, length, width, height, yaw]`` (7 floats): the centre in metres, the size
along the box's own axes (length along the heading ``yaw``, radians about +z, 0 = +x), centred in
z. Box-frame coordinates ``(u, v)`` are along the length and across it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def box_to_world(u: np.ndarray, v: np.ndarray, center_xy: Sequence[float], yaw: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """World x, y of box-frame coordinates ``u`` (along the length) and ``v`` (across), same shapes."""
    c, s = np.cos(yaw), np.sin(yaw)
    return center_xy[0] + u * c - v * s, center_xy[1] + u * s + v * c


def world_to_box(xy: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Box-frame ``u``, ``v`` (N, K) of points ``xy`` (N, >=2) in every box of ``boxes`` (K, 7)."""
    xy = np.asarray(xy, dtype=np.float64)
    xy = xy.reshape(len(xy), xy.shape[-1] if xy.ndim > 1 else 2)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    dx = xy[:, None, 0] - boxes[None, :, 0]
    dy = xy[:, None, 1] - boxes[None, :, 1]
    c, s = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    return dx * c + dy * s, -dx * s + dy * c


def box_corners_xy(center: Sequence[float], size: Sequence[float], yaw: float) -> np.ndarray:
    """(4, 2) bird's-eye corners of an oriented box, counter-clockwise, starting front-left."""
    u = np.array([1.0, -1.0, -1.0, 1.0]) * size[0] / 2
    v = np.array([1.0, 1.0, -1.0, -1.0]) * size[1] / 2
    x, y = box_to_world(u, v, center, yaw)
    return np.column_stack([x, y])


def points_in_footprints(xy: np.ndarray, boxes: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(N, K) bool: point n lies inside the bird's-eye footprint of box k grown by ``margin`` (m)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    u, v = world_to_box(xy, boxes)
    return (np.abs(u) <= boxes[:, 3] / 2 + margin) & (np.abs(v) <= boxes[:, 4] / 2 + margin)


def points_in_boxes(xyz: np.ndarray, boxes: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(N, K) bool: point n lies inside box k. xyz (N, >=3); boxes (K, 7); ``margin`` (m) grows every
    box on all sides (labels are tight; returns are noisy)."""
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, np.shape(xyz)[-1] if np.ndim(xyz) > 1 else 3)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 7)
    dz = xyz[:, None, 2] - boxes[None, :, 2]
    return points_in_footprints(xyz, boxes, margin) & (np.abs(dz) <= boxes[:, 5] / 2 + margin)


def _clip(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: ``subject`` polygon clipped by the convex counter-clockwise ``clip``."""
    out = subject
    for i in range(len(clip)):
        if len(out) == 0:
            break
        a, b = clip[i], clip[(i + 1) % len(clip)]
        e = b - a
        side = e[0] * (out[:, 1] - a[1]) - e[1] * (out[:, 0] - a[0])  # >= 0: inside
        res = []
        for j in range(len(out)):
            p, q = out[j], out[(j + 1) % len(out)]
            sp, sq = side[j], side[(j + 1) % len(out)]
            if sp >= 0:
                res.append(p)
            if (sp >= 0) != (sq >= 0):
                res.append(p + (q - p) * (sp / (sp - sq)))
        out = np.array(res) if res else np.zeros((0, 2))
    return out


def polygon_area(poly: np.ndarray) -> float:
    """Area of a simple polygon (M, 2) (shoelace formula); 0 for fewer than 3 vertices."""
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def bev_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Bird's-eye intersection over union of two oriented boxes (7,)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    inter = polygon_area(_clip(box_corners_xy(a[:3], a[3:6], a[6]), box_corners_xy(b[:3], b[3:6], b[6])))
    union = a[3] * a[4] + b[3] * b[4] - inter
    return inter / union if union > 0 else 0.0


def yaw_error(a: float | np.ndarray, b: float | np.ndarray) -> np.ndarray:
    """Absolute yaw difference modulo pi (a box has no front), radians in [0, pi/2]."""
    d = (np.asarray(a, float) - np.asarray(b, float)) % np.pi
    return np.minimum(d, np.pi - d)


def quaternion_of(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) unit quaternion of the rotation matrix ``rotation`` (3, 3)."""
    from scipy.spatial.transform import Rotation

    return tuple(float(v) for v in Rotation.from_matrix(rotation).as_quat())


def box_rotation(yaw: float, level_to_cloud: np.ndarray | None = None) -> np.ndarray:
    """R (3, 3) of a box with heading ``yaw`` (about the level frame's z) in the cloud's frame:
    ``level_to_cloud`` @ Rz(yaw) (the transpose of ``segment.level.mount_rotation``; None: a level
    sensor, Rz(yaw) alone)."""
    c, s = math.cos(yaw), math.sin(yaw)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return rz if level_to_cloud is None else np.asarray(level_to_cloud, np.float64) @ rz
