"""Read KITTI object-benchmark frames (velodyne scans, calibration, 3D labels) in the LiDAR frame.

For development and tests only: KITTI is CC BY-NC-SA 3.0 and never ships with the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Classes with a 3D box; DontCare rows carry no box.
OBJECT_TYPES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc")

# KITTI object types -> the package's classes (None: no class), the one map for training data and
# evaluation. KITTI's vans (people carriers, minibuses, delivery vans, ~5 m long, 1.9-2.2 m high) are
# what a robot must treat as cars (and what most datasets merge with cars); trucks and trams are the
# large vehicles.
KITTI_TO_T3D: dict[str, str | None] = {
    "Car": "car",
    "Van": "car",
    "Truck": "truck",
    "Tram": "truck",
    "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian",
    "Cyclist": "cyclist",
    "Misc": "misc",
    "DontCare": None,
}


def read_velodyne(path: str | Path) -> np.ndarray:
    """(N, 4) float32 x, y, z, reflectance of a KITTI ``.bin`` scan."""
    return np.fromfile(path, dtype=np.float32).reshape(-1, 4)


def kitti_rings(xyz: np.ndarray, min_gap: int = 200) -> np.ndarray:
    """(N,) int32 laser ring of every return of a KITTI HDL-64E scan (N, >=3), 0 = the top laser.

    KITTI's ``.bin`` files carry no ring number, but store a scan ring by ring from the top, each ring
    once around in azimuth from where the scan starts: the azimuth wraps from +180 to -180 degrees once
    inside every ring (behind the car) and the next ring begins where the last one ended. So a return's
    ring is the number of wraps before it, less one where its azimuth lies short of the scan's start.
    Returns out of azimuth order are no wrap: a wrap is a step back of more than 300 degrees at least
    ``min_gap`` returns after the last one (returns jittering across +-180 would count twice)."""
    if len(xyz) == 0:
        return np.zeros(0, np.int32)
    az = np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0]))
    kept: list[int] = []
    for i in np.flatnonzero(np.diff(az) < -300.0) + 1:
        if not kept or i - kept[-1] >= min_gap:
            kept.append(int(i))
    wraps = np.zeros(len(az), np.int32)
    wraps[kept] = 1
    start = float(az[0]) - 0.1  # where the scan starts, less about half an HDL-64E column
    return np.maximum(np.cumsum(wraps) - (az < start), 0).astype(np.int32)


def every_ring_mask(points: np.ndarray, every: int, rings: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: the returns of every ``every``-th laser of a KITTI HDL-64E scan, counted from the top
    (:func:`kitti_rings`; ``rings``: those already found for ``points``)."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    if every == 1:
        return np.ones(len(points), bool)
    return (kitti_rings(points) if rings is None else np.asarray(rings)) % every == 0


def thin_rings(points: np.ndarray, every: int) -> np.ndarray:
    """The returns of every ``every``-th laser of a KITTI HDL-64E scan (:func:`every_ring_mask`): 2 gives a
    32-beam scan with 0.7-1.0 degrees between rings, 4 a 16-beam one with 1.3-2.0 (an HDL-32E: 1.33) over
    the same field of view. A sparser sensor's view of real streets, for evaluation."""
    return points if every == 1 else points[every_ring_mask(points, every)]


def read_calib(path: str | Path) -> dict[str, np.ndarray]:
    """Calibration matrices of a KITTI ``calib/*.txt``: every key as a float64 array, with
    ``R0_rect`` reshaped to (3, 3) and ``Tr_velo_to_cam`` / ``Tr_imu_to_velo`` to (3, 4),
    projection matrices ``P0..P3`` to (3, 4)."""
    calib: dict[str, np.ndarray] = {}
    for line in Path(path).read_text().splitlines():
        if ":" not in line:
            continue
        key, values = line.split(":", 1)
        arr = np.array([float(v) for v in values.split()], dtype=np.float64)
        if arr.size == 9:
            arr = arr.reshape(3, 3)
        elif arr.size == 12:
            arr = arr.reshape(3, 4)
        calib[key.strip()] = arr
    return calib


def cam_to_velo_matrix(calib: dict[str, np.ndarray]) -> np.ndarray:
    """(4, 4) transform from the rectified camera frame to the LiDAR frame:
    inverse of R0_rect @ Tr_velo_to_cam (both as homogeneous 4x4)."""
    r0 = np.eye(4)
    r0[:3, :3] = calib["R0_rect"]
    tr = np.eye(4)
    tr[:3, :4] = calib["Tr_velo_to_cam"]
    return np.linalg.inv(r0 @ tr)


@dataclass
class KittiLabels:
    """3D labels of one frame in the LiDAR frame.

    boxes: (K, 7) float64 [cx, cy, cz, length, width, height, yaw], centre at half height,
    yaw about +z from +x. names: (K,) object types. truncation: (K,) float in [0, 1].
    occlusion: (K,) int (0 visible .. 3 unknown).
    """

    boxes: np.ndarray
    names: np.ndarray
    truncation: np.ndarray
    occlusion: np.ndarray


def read_labels(path: str | Path, calib: dict[str, np.ndarray], keep_dontcare: bool = False) -> KittiLabels:
    """Boxes of a KITTI ``label_2/*.txt`` converted to the LiDAR frame (DESIGN §4): the camera
    frame centre is (x, y - h/2, z) (labels give the bottom centre, y points down) and the
    LiDAR yaw is -ry - pi/2."""
    rows = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    if not keep_dontcare:
        rows = [r for r in rows if r[0] != "DontCare"]
    if not rows:
        return KittiLabels(np.zeros((0, 7)), np.zeros(0, dtype=object), np.zeros(0), np.zeros(0, int))
    names = np.array([r[0] for r in rows], dtype=object)
    vals = np.array([[float(v) for v in r[1:15]] for r in rows], dtype=np.float64)
    trunc, occ = vals[:, 0], vals[:, 1].astype(int)
    h, w, length = vals[:, 7], vals[:, 8], vals[:, 9]
    cam = np.column_stack([vals[:, 10], vals[:, 11] - h / 2, vals[:, 12], np.ones(len(rows))])
    centre = (cam_to_velo_matrix(calib) @ cam.T).T[:, :3]
    yaw = -vals[:, 13] - np.pi / 2
    yaw = (yaw + np.pi) % (2 * np.pi) - np.pi
    boxes = np.column_stack([centre, length, w, h, yaw])
    return KittiLabels(boxes, names, trunc, occ)


def load_frame(root: str | Path, frame: str) -> tuple[np.ndarray, KittiLabels]:
    """Points (N, 4) and labels (LiDAR frame) of ``training/*/<frame>.*`` under ``root``."""
    root = Path(root) / "training"
    calib = read_calib(root / "calib" / f"{frame}.txt")
    labels = read_labels(root / "label_2" / f"{frame}.txt", calib)
    return read_velodyne(root / "velodyne" / f"{frame}.bin"), labels
