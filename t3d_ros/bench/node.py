"""The node's per-frame path, timed as the node runs it.

``NodeHarness`` builds the real ``PerceptionNode`` in this process (its parameters, classifier and
publishers) and calls its subscription callback directly with ``PointCloud2`` messages that went
through rclpy's serialisation, as a subscription hands them over. One call is the whole callback:
decode -> pipeline -> classifier -> tracking -> markers, cluster cloud, Detection3DArray, detections
JSON -> publish (nobody subscribes, so DDS sends nothing; the conversion to the C message is still
paid: the harness makes the node build every output as if each topic had a subscriber, unless
``subscribers=False``, the node as it runs with nobody listening). The per-stage
times are the ones the node itself reports in ``~/detections_json`` (``timing_ms``), with the
classifier's share split by ``Classifier.last_timings_ms``.

DDS is kept on this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a domain of its own)
unless the caller set those variables.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from t3d_ros.bench.data import REPO

# Stage columns of the report, in pipeline order; "publish" is the callback time that no stage
# reports (detections JSON, publish calls, debug topics).
STAGES = ("decode", "crop_voxel", "ground", "cluster", "boxes", "sample_group", "network", "messages", "publish")


def _dds_on_this_machine() -> None:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 80))  # away from the tests' 1..100
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    profile = REPO / "config" / "fastdds_localhost.xml"
    if profile.is_file():
        os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))


def cloud_message(cloud: np.ndarray, height: int, frame_id: str = "lidar"):
    """A PointCloud2 of a structured driver-layout array, as a subscriber receives it (serialised
    and deserialised by rclpy, so ``data`` has the type the callback really gets)."""
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header

    from t3d_ros.ros.convert import array_to_msg

    msg = array_to_msg(cloud.reshape(-1), Header(frame_id=frame_id), height=height,
                       is_dense=not np.isnan(cloud["x"]).any())
    return deserialize_message(serialize_message(msg), PointCloud2)


class NodeHarness:
    """The perception node in this process; ``frame(msg)`` runs its callback once and returns the
    stage times (ms, ``STAGES`` plus "callback", the wall time of the whole call, and "clusters")."""

    def __init__(self, model: str | Path | None, device: str = "cpu", backend: str = "auto",
                 params: dict | None = None, subscribers: bool = True) -> None:
        """``subscribers``: build every output message as if each topic had a subscriber (the rows
        stay comparable with runs before the node skipped unsubscribed topics); False: as a node
        that nobody listens to (only the JSON that the harness reads its stage times from is built)."""
        _dds_on_this_machine()
        import rclpy
        from rclpy.parameter import Parameter

        from t3d_ros.ros.perception_node import PerceptionNode

        if not rclpy.ok():
            rclpy.init()
        values = {"model_path": str(model) if model else "", "device": device, "backend": backend,
                  "publish_detections_json": True, **(params or {})}
        self.node = PerceptionNode(parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        self.node.publish_unsubscribed = subscribers
        self.classifier = self.node.perception.classifier
        self.description = self.node.mode
        self._doc: dict = {}
        real = self.node.pub_detections_json
        harness = self

        class _Capture:  # keeps the node's detections JSON (its own stage times), then publishes it
            def get_subscription_count(self) -> int:
                return 1  # the harness itself

            def publish(self, msg) -> None:
                harness._doc = json.loads(msg.data)
                real.publish(msg)

        self.node.pub_detections_json = _Capture()

    def frame(self, msg) -> dict[str, float]:
        msg.header.stamp = self.node.get_clock().now().to_msg()  # a live frame: never judged stale
        if self.classifier is not None:
            self.classifier.last_timings_ms = {}
        self._doc = {}
        t0 = time.perf_counter()
        self.node._on_cloud(msg)
        total = (time.perf_counter() - t0) * 1e3
        if not self._doc:
            raise RuntimeError("the node published no detections for a frame (see its log above)")
        t = self._doc["timing_ms"]
        clf = self.classifier.last_timings_ms if self.classifier is not None else {}
        out = {
            "decode": t["decode"], "crop_voxel": t["crop"] + t["voxel"], "ground": t["ground"],
            "cluster": t["cluster"], "boxes": t["boxes"],
            "sample_group": clf.get("sample_group", 0.0),
            # the classifier's remainder (softmax, labels) counts as network
            "network": t["classify"] - clf.get("sample_group", 0.0),
            "messages": t["messages"],
        }
        out["publish"] = max(total - sum(out.values()), 0.0)
        out["callback"] = total
        out["clusters"] = float(len(self._doc["detections"]))
        return out

    def close(self) -> None:
        self.node.destroy_node()


def shutdown() -> None:
    """End the rclpy context that ``NodeHarness`` started."""
    import rclpy

    rclpy.try_shutdown()
