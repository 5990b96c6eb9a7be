"""Simulated frames on disk.

``<stem>.bin``: KITTI layout, float32 (x, y, z, reflectance) with reflectance = intensity / 255, so any
KITTI reader loads it. ``<stem>.gt.npz``: per-point ground truth (label, instance, ring, column, time,
intensity) in the order of the ``.bin`` points, plus the sensor name. ``<stem>.objects.json``: the
objects' boxes with their number of returns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from t3d_ros.offline.sim.lidar import Frame
from t3d_ros.offline.sim.scene import Scene
from t3d_ros.offline.sim.sensors import get_sensor


def save_frame(out_dir: str | Path, stem: str, scene: Scene, frame: Frame) -> list[Path]:
    """Write ``<stem>.bin``, ``<stem>.gt.npz`` and ``<stem>.objects.json`` into ``out_dir``; the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n = len(frame)
    pts = np.empty((n, 4), dtype=np.float32)
    pts[:, :3] = frame.xyz
    pts[:, 3] = frame.intensity / 255.0
    paths = [out / f"{stem}.bin", out / f"{stem}.gt.npz", out / f"{stem}.objects.json"]
    pts.tofile(paths[0])
    np.savez_compressed(
        paths[1],
        label=frame.label,
        instance=frame.instance,
        ring=frame.ring,
        column=frame.column,
        time=frame.time,
        intensity=frame.intensity,
        sensor=np.array(frame.sensor.name),
    )
    paths[2].write_text(json.dumps(objects_json(scene, frame), indent=1))
    return paths


def objects_json(scene: Scene, frame: Frame) -> list[dict]:
    """The scene's objects as JSON-ready dicts (instance_id, label, center, size, yaw, num_points =
    the frame's returns from the object); also the ``objects`` of ``sim --bag``'s ``/ground_truth``."""
    counts = np.bincount(frame.instance, minlength=max((o.instance_id for o in scene.objects), default=0) + 1)
    return [
        {
            "instance_id": int(o.instance_id),
            "label": o.label,
            "center": [float(v) for v in o.center],
            "size": [float(v) for v in o.size],
            "yaw": float(o.yaw),
            "num_points": int(counts[o.instance_id]),
        }
        for o in scene.objects
    ]


def load_frame(directory: str | Path, stem: str) -> tuple[Frame, list[dict]]:
    """Read what :func:`save_frame` wrote: the frame and the list of object dicts (instance_id, label,
    center, size, yaw, num_points)."""
    d = Path(directory)
    pts = np.fromfile(d / f"{stem}.bin", dtype=np.float32).reshape(-1, 4)
    with np.load(d / f"{stem}.gt.npz") as gt:
        arrays = {k: gt[k] for k in gt.files}
    sensor = get_sensor(str(arrays.pop("sensor")))
    xyz = np.ascontiguousarray(pts[:, :3])
    frame = Frame(
        xyz=xyz,
        intensity=arrays["intensity"].astype(np.float32),
        ring=arrays["ring"],
        column=arrays["column"],
        time=arrays["time"],
        range=np.linalg.norm(xyz, axis=1).astype(np.float32),
        label=arrays["label"],
        instance=arrays["instance"],
        sensor=sensor,
    )
    objects = json.loads((d / f"{stem}.objects.json").read_text())
    return frame, objects
