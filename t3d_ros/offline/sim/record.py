"""Record simulated frames into an MCAP bag, as a driver and a ground-truth publisher would."""

from __future__ import annotations

import time
from pathlib import Path

from t3d_ros.io.bag import CLOUD_TOPIC, GROUND_TRUTH_TOPIC, BagWriter
from t3d_ros.offline.sim.driver import frame_to_array
from t3d_ros.offline.sim.io import objects_json
from t3d_ros.offline.sim.lidar import Frame
from t3d_ros.offline.sim.scene import Scene
from t3d_ros.offline.sim.sensors import get_sensor


class SimBagRecorder:
    """Appends frames to ``path`` (``.mcap`` added when missing): the cloud on ``/points`` in the
    sensor's organized driver layout (what ``sim_lidar_node`` publishes), and the objects as JSON
    ``{"stamp", "frame_id", "sensor", "seed", "objects": [...]}`` on ``/ground_truth`` with the same
    stamp. Frames are stamped one sensor period apart from ``start_ns`` (default: now)."""

    def __init__(self, path: str | Path, sensor: str, frame_id: str = "lidar", start_ns: int | None = None) -> None:
        path = Path(path)
        if path.suffix.lower() != ".mcap":
            path = path.with_name(path.name + ".mcap")
        self.path = path
        self.sensor = get_sensor(sensor)
        self.frame_id = frame_id
        self.start_ns = time.time_ns() if start_ns is None else int(start_ns)
        self.period_ns = round(1e9 / self.sensor.rate_hz)
        self.frames = 0
        self._writer = BagWriter(path)

    def add(self, scene: Scene, frame: Frame, seed: int) -> int:
        """Record one frame; returns its stamp in ns."""
        stamp = self.start_ns + self.frames * self.period_ns
        array, height = frame_to_array(frame, self.sensor, organized=True)
        self._writer.write_cloud(CLOUD_TOPIC, array, stamp, self.frame_id, height=height, is_dense=False)
        sec, nanosec = divmod(stamp, 1_000_000_000)
        self._writer.write_json(GROUND_TRUTH_TOPIC, {
            "stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": self.frame_id, "sensor": self.sensor.name,
            "seed": int(seed), "objects": objects_json(scene, frame)}, stamp)
        self.frames += 1
        return stamp

    def close(self) -> None:
        """Finish the file (summary and index)."""
        self._writer.close()
