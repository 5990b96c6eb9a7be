"""The installed nodes as their own processes, fed and read over real DDS."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from conftest import spin_until

from t3d_ros.classes import CLASSES, UNKNOWN
from t3d_ros.cloud import KITTI, VELODYNE, build_cloud

pytestmark = pytest.mark.ros

TOPIC = "/t3d_test/points"


def _sim_msg(seed: int, sensor: str = "hdl64", organized: bool = True):
    from std_msgs.msg import Header

    from t3d_ros.ros.convert import array_to_msg
    from t3d_ros.ros.sim_lidar_node import frame_to_array
    from t3d_ros.sim import SENSORS, simulate

    scene, frame = simulate(seed, sensor)
    arr, height = frame_to_array(frame, SENSORS[sensor], organized)
    return scene, frame, array_to_msg(arr, Header(frame_id="velodyne"), height=height, is_dense=not organized)


class Outputs:
    """Collects the perception node's outputs keyed by input stamp."""

    def __init__(self, ros_node) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from std_msgs.msg import String
        from visualization_msgs.msg import MarkerArray

        self.markers: dict[int, object] = {}
        self.detections: dict[int, dict] = {}
        self.diagnostics: list = []
        key = lambda h: h.stamp.sec * 10**9 + h.stamp.nanosec  # noqa: E731
        self.subs = [
            ros_node.create_subscription(MarkerArray, "/perception_node/markers",
                                         lambda m: self.markers.__setitem__(key(m.markers[0].header), m), 10),
            ros_node.create_subscription(String, "/perception_node/detections", self._on_det, 10),
            ros_node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10),
        ]
        self.node = ros_node

    def _on_det(self, msg) -> None:
        doc = json.loads(msg.data)
        self.detections[doc["stamp"]["sec"] * 10**9 + doc["stamp"]["nanosec"]] = doc

    def close(self) -> None:
        for s in self.subs:
            self.node.destroy_subscription(s)


@pytest.fixture
def perception(start_node, ros_node):
    """perception_node from the install with the shipped params, listening on TOPIC."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import PointCloud2

    node = start_node("perception_node", "-p", f"cloud_topic:={TOPIC}", params="perception.yaml")
    pub = ros_node.create_publisher(PointCloud2, TOPIC, QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    out = Outputs(ros_node)
    assert spin_until(ros_node, lambda: pub.get_subscription_count() > 0, 30), node.output()
    yield node, pub, out
    out.close()
    ros_node.destroy_publisher(pub)


def _send(ros_node, pub, msg, out, stamp_ns: int, timeout: float = 20.0):
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    end = time.monotonic() + timeout
    while time.monotonic() < end:  # the first messages may race discovery: resend until answered
        pub.publish(msg)
        if spin_until(ros_node, lambda: stamp_ns in out.markers and stamp_ns in out.detections, 2.0):
            return out.markers[stamp_ns], out.detections[stamp_ns]
    return None, None


def _matches(objects, frame, boxes: np.ndarray, max_range: float = 40.0, min_points: int = 30):
    """Per ground-truth object (>= min_points returns, within max_range): (its class, the index of a
    box whose centre lies inside its footprint grown by 0.5 m, or -1)."""
    counts = np.bincount(frame.instance, minlength=max(o.instance_id for o in objects) + 1)
    out = []
    for o in objects:
        if counts[o.instance_id] < min_points or np.hypot(*o.center[:2]) > max_range:
            continue
        c, s = np.cos(o.yaw), np.sin(o.yaw)
        d = boxes[:, :2] - o.center[:2]
        local = np.c_[d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c]
        inside = (np.abs(local[:, 0]) <= o.size[0] / 2 + 0.5) & (np.abs(local[:, 1]) <= o.size[1] / 2 + 0.5)
        out.append((o.label, int(np.flatnonzero(inside)[0]) if inside.any() else -1))
    return out


def test_node_detects_simulated_objects(perception, ros_node):
    from visualization_msgs.msg import Marker

    node, pub, out = perception
    correct = total = 0
    for i, seed in enumerate((300_011, 300_012)):  # scenes the shipped model never saw
        scene, frame, msg = _sim_msg(seed)
        stamp = 1_700_000_000_000_000_000 + i * 100_000_000
        markers, det = _send(ros_node, pub, msg, out, stamp)
        assert markers is not None, node.output()
        first = markers.markers[0]
        assert first.action == Marker.DELETEALL
        assert all(m.header.frame_id == "velodyne" for m in markers.markers)
        cubes = [m for m in markers.markers if m.type == Marker.CUBE]
        texts = [m for m in markers.markers if m.type == Marker.TEXT_VIEW_FACING]
        assert len(cubes) == len(texts) == len(det["detections"]) > 10
        labels = [d["label"] for d in det["detections"]]
        assert set(labels) <= set(CLASSES) | {UNKNOWN}
        assert [t.text.split()[0] for t in texts] == labels
        boxes = np.array([[m.pose.position.x, m.pose.position.y] for m in cubes])
        matches = _matches(scene.objects, frame, boxes)
        found = [(truth, labels[i]) for truth, i in matches if i >= 0]
        assert len(matches) > 10 and len(found) >= 0.85 * len(matches), f"{len(found)}/{len(matches)} objects found"
        if not all(label == UNKNOWN for label in labels):  # a classifier is configured (the shipped model)
            correct += sum(t == p for t, p in found)
            total += len(found)
        assert det["num_points"] == len(frame.xyz)
        assert {"decode", "ground", "cluster"} <= set(det["timing_ms"])
    assert total == 0 or correct >= 0.6 * total, f"shipped model labels {correct}/{total} objects correctly"


def _bad(kind: str):
    from sensor_msgs.msg import PointCloud2, PointField

    pts = np.random.default_rng(0).uniform(-20, 20, (500, 3)).astype(np.float32)
    arr = build_cloud(VELODYNE, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2]})
    msg = PointCloud2(height=1, width=500, point_step=22, row_step=22 * 500, is_dense=True)
    msg.header.frame_id = "velodyne"
    msg.fields = [PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=1) for f in VELODYNE.fields]
    data = arr.tobytes()
    if kind == "truncated":
        data = data[:-100]
    elif kind == "no_xyz":
        msg.fields = [f for f in msg.fields if f.name != "z"]
    elif kind == "point_step":
        msg.point_step, msg.row_step = 16, 16 * 500
        data = data[: 16 * 500]
    elif kind == "datatype":
        for f in msg.fields:
            f.datatype = 42 if f.name in "xyz" else f.datatype
    msg.data = data
    return msg


def test_bad_messages_are_logged_once_and_survived(perception, ros_node):
    node, pub, out = perception
    _, _, good = _sim_msg(3, "vlp16")
    markers, _ = _send(ros_node, pub, good, out, 1_000_000_000)
    assert markers is not None, node.output()
    kinds = ["truncated", "no_xyz", "point_step", "datatype"]
    for _ in range(3):
        for k in kinds:
            pub.publish(_bad(k))
            spin_until(ros_node, lambda: False, 0.05)
    markers, _ = _send(ros_node, pub, good, out, 2_000_000_000)
    assert markers is not None, "node stopped answering after bad messages:\n" + node.output()
    log = node.output()
    assert "Traceback" not in log
    assert log.count("data is truncated") == 1, log  # rate-limited: once per cause
    assert "no z field" in log and "point_step" in log
    assert spin_until(ros_node, lambda: any(
        any(kv.key == "rejected.data_size" and int(kv.value) >= 3 for kv in d.status[0].values)
        for d in out.diagnostics), 5.0), "rejections not counted in /diagnostics"


def test_empty_cloud_clears_markers(perception, ros_node):
    from sensor_msgs.msg import PointCloud2, PointField
    from visualization_msgs.msg import Marker

    node, pub, out = perception
    msg = PointCloud2(height=1, width=0, point_step=16, row_step=0, is_dense=True)
    msg.header.frame_id = "velodyne"
    msg.fields = [PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=1) for f in KITTI.fields]
    markers, det = _send(ros_node, pub, msg, out, 3_000_000_000)
    assert markers is not None, node.output()
    assert [m.action for m in markers.markers] == [Marker.DELETEALL]
    assert det["detections"] == []


def test_best_effort_and_reliable_publishers_are_both_received(perception, ros_node):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import PointCloud2

    node, reliable, out = perception
    best = ros_node.create_publisher(PointCloud2, TOPIC, QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    _, _, msg = _sim_msg(5, "vlp16", organized=False)
    try:
        assert _send(ros_node, reliable, msg, out, 4_000_000_000)[0] is not None, node.output()
        assert _send(ros_node, best, msg, out, 5_000_000_000)[0] is not None, node.output()
    finally:
        ros_node.destroy_publisher(best)


def test_invalid_parameter_update_is_rejected(perception, ros_node):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    node, _, _ = perception
    client = ros_node.create_client(SetParameters, "/perception_node/set_parameters")
    assert client.wait_for_service(timeout_sec=20), node.output()

    def set_param(name: str, value: float):
        req = SetParameters.Request(parameters=[Parameter(
            name=name, value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value))])
        fut = client.call_async(req)
        assert spin_until(ros_node, fut.done, 10)
        return fut.result().results[0]

    bad = set_param("cluster_tolerance", -1.0)
    assert not bad.successful and "cluster_tolerance" in bad.reason
    good = set_param("cluster_tolerance", 0.6)
    assert good.successful, good.reason
    ros_node.destroy_client(client)


@pytest.mark.parametrize("override, message", [
    ("device:=tpu", "device"),
    ("cluster_tolerance:=-2.0", "cluster_tolerance"),
    ("model_path:=/nonexistent/model.onnx", "model_path"),
])
def test_bad_configuration_fails_at_start_with_a_clear_error(start_node, override, message):
    node = start_node("perception_node", "-p", override, params="perception.yaml")
    assert node.wait_exit(timeout=30) == 2
    log = node.output()
    assert "cannot start" in log and message in log and "Traceback" not in log, log


def test_corrupt_model_fails_at_start_and_cuda_falls_back_to_cpu(start_node, ros_node, tmp_path):
    from t3d_ros.classifier import resolve_model_path

    shipped = resolve_model_path()
    if not shipped.is_file():
        pytest.skip("no shipped model")
    bad = tmp_path / "bad.json"
    bad.write_text(shipped.read_text())
    (tmp_path / "t3d_tiny.onnx").write_bytes(b"not an onnx file")
    card = json.loads(shipped.read_text())
    card["files"]["onnx"] = "t3d_tiny.onnx"
    bad.write_text(json.dumps(card))
    node = start_node("perception_node", "-p", f"model_path:={bad}", "-p", "backend:=onnxruntime",
                      params="perception.yaml")
    assert node.wait_exit(timeout=60) == 2
    log = node.output()
    assert "cannot load ONNX model" in log and "Traceback" not in log, log
    node = start_node("perception_node", "-p", "device:=cuda", "-p", f"cloud_topic:={TOPIC}x", params="perception.yaml")
    assert spin_until(ros_node, lambda: "listening on" in node.output(), 60), node.output()
    log = node.output()
    assert log.count("no usable GPU") + log.count("sees no GPU") == 1, log
    assert node.proc.poll() is None


def test_sim_lidar_to_perception_chain(start_node, ros_node):
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import String
    from visualization_msgs.msg import MarkerArray

    from t3d_ros.ros.convert import msg_view

    sim = start_node("sim_lidar_node", "-p", "sensor:=os1-128", "-p", "pool_size:=2", "-p", "topic:=/chain/points",
                     params="sim.yaml")
    per = start_node("perception_node", "-p", "cloud_topic:=/chain/points", params="perception.yaml")
    clouds, dets, truth = [], [], []
    from rclpy.qos import qos_profile_sensor_data

    subs = [ros_node.create_subscription(PointCloud2, "/chain/points", clouds.append, qos_profile_sensor_data),
            ros_node.create_subscription(String, "/perception_node/detections", dets.append, 10),
            ros_node.create_subscription(MarkerArray, "/sim_lidar_node/ground_truth", truth.append, 10)]
    try:
        ok = spin_until(ros_node, lambda: len(dets) >= 3 and clouds and truth, 60)
        assert ok, f"sim:\n{sim.output()}\nperception:\n{per.output()}"
        cloud = clouds[-1]
        assert cloud.height == 128 and cloud.point_step == 48  # organized, Ouster layout
        view = msg_view(cloud)
        assert np.isnan(view["x"]).any() and np.isfinite(view["x"]).sum() > 50_000
        doc = json.loads(dets[-1].data)
        n_truth = sum(1 for m in truth[-1].markers if m.type == m.CUBE)
        assert len(doc["detections"]) >= 0.5 * n_truth > 5
    finally:
        for s in subs:
            ros_node.destroy_subscription(s)
