"""The installed nodes as their own processes, fed and read over real DDS."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import time

import numpy as np
import pytest
from conftest import REPO, spin_until

from t3d_ros.classes import CLASSES, ROAD_USERS, UNKNOWN
from t3d_ros.config import load_ros_params
from t3d_ros.io.cloud import KITTI, VELODYNE, build_cloud

pytestmark = pytest.mark.ros

TOPIC = "/t3d_test/points"


def _sim_msg(seed: int, sensor: str = "hdl64", organized: bool = True):
    from std_msgs.msg import Header

    from t3d_ros.offline.sim import SENSORS, simulate
    from t3d_ros.ros.convert import array_to_msg
    from t3d_ros.ros.sim_lidar_node import frame_to_array

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
            ros_node.create_subscription(String, "/perception_node/detections_json", self._on_det, 10),
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
    """perception_node from the install with the shipped params, listening on TOPIC, with the JSON
    detections on and tracking off: these tests judge every frame on its own (tracking is tested
    with the shipped params in test_typed_detections_carry_stable_track_ids)."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import PointCloud2

    node = start_node("perception_node", "-p", f"cloud_topic:={TOPIC}", "-p", "publish_detections_json:=true",
                      "-p", "tracking:=false", params="perception.yaml")
    pub = ros_node.create_publisher(PointCloud2, TOPIC, QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    out = Outputs(ros_node)
    try:  # the subscriptions go even when the node never comes up (else the next test sees them)
        # 60 s: a node's start (imports, numba cache, ONNX Runtime) on a 2-core machine under load
        assert spin_until(ros_node, lambda: pub.get_subscription_count() > 0, 60), node.output()
        yield node, pub, out
    finally:
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
    correct = named = total = 0
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
        correct += sum(t == p for t, p in found)
        named += sum(p != UNKNOWN for _, p in found)
        total += len(found)
        assert det["num_points"] == len(frame.xyz)
        assert {"decode", "ground", "cluster", "classify"} <= set(det["timing_ms"])
    # The shipped params load the shipped model, and it labels (most of) the objects right.
    assert "loaded " in node.output() and "t3d_tiny.json" in node.output(), node.output()
    # `unknown` (a score below its class threshold, an implausible size) is an honest abstention, not a
    # wrong label: most objects get a class, and the classes given are mostly right.
    assert total >= 20 and named >= 0.5 * total, f"shipped model names {named}/{total} objects (the rest unknown)"
    assert correct >= 0.8 * named, f"shipped model labels {correct} of the {named} objects it names correctly"


def test_node_on_sensors_it_was_never_trained_on(perception, ros_node):
    """Clouds of two simulated LiDARs outside the training set, as their drivers publish them over DDS
    (an OS1-32 on a small robot, organized in the Ouster layout; a VLP-32C, unorganized): the node
    finds most objects and the labels it gives are mostly right (bench/sensors.py measures this over
    100 scenes)."""
    node, pub, out = perception
    named = []
    for i, (sensor, organized) in enumerate((("os1-32", True), ("vlp32c", False), ("os1-32", True),
                                             ("vlp32c", False))):
        scene, frame, msg = _sim_msg(300_015 + i, sensor, organized)
        markers, det = _send(ros_node, pub, msg, out, 1_700_000_100_000_000_000 + i * 100_000_000)
        assert markers is not None, node.output()
        labels = [d["label"] for d in det["detections"]]
        boxes = np.array([d["center"][:2] for d in det["detections"]]).reshape(-1, 2)
        matches = _matches(scene.objects, frame, boxes)
        found = [(truth, labels[j]) for truth, j in matches if j >= 0]
        assert len(matches) >= 5 and len(found) >= 0.8 * len(matches), (sensor, len(found), len(matches))
        named += [(t, p) for t, p in found if p != UNKNOWN]
    # the bench's network accuracy on these two sensors is 0.79-0.85 over 100 scenes
    assert len(named) >= 15 and sum(t == p for t, p in named) >= 0.7 * len(named), named


def test_labels_do_not_depend_on_the_order_of_the_points(perception, ros_node):
    """The same simulated frame in the simulator's order and in reverse (drivers order clouds
    differently): every cluster found in both with the same returns gets the same label and score
    (the shipped card samples from each cluster's farthest point, docs/classifier.md)."""
    from std_msgs.msg import Header

    from t3d_ros.offline.sim import SENSORS, simulate
    from t3d_ros.ros.convert import array_to_msg
    from t3d_ros.ros.sim_lidar_node import frame_to_array

    node, pub, out = perception
    _, frame = simulate(300_013, "hdl64")
    arr, _ = frame_to_array(frame, SENSORS["hdl64"], False)
    dets = []
    for i, rows in enumerate((arr, arr[::-1].copy())):
        msg = array_to_msg(rows, Header(frame_id="velodyne"), is_dense=True)
        _, det = _send(ros_node, pub, msg, out, 1_700_000_050_000_000_000 + i * 100_000_000)
        assert det is not None, node.output()
        dets.append({(round(d["center"][0], 2), round(d["center"][1], 2), d["num_points"]): (d["label"], d["score"])
                     for d in det["detections"]})
    same = set(dets[0]) & set(dets[1])
    assert len(same) >= 0.8 * len(dets[0]) > 10, (len(same), len(dets[0]))
    assert all(dets[0][key] == dets[1][key] for key in same), [(k, dets[0][k], dets[1][k]) for k in same
                                                              if dets[0][k] != dets[1][k]]


def _tilted_frame(roll: float, pitch: float):
    """Simulated HDL-64E frame 300011 as a sensor mounted with (roll, pitch) reports it: (the level
    structured array, the tilted one, the mount rotation)."""
    from t3d_ros.offline.sim import SENSORS, simulate
    from t3d_ros.ros.sim_lidar_node import frame_to_array
    from t3d_ros.segment.level import mount_rotation, turn_points

    r = mount_rotation(roll, pitch)
    _, frame = simulate(300_011, "hdl64")
    arr, _ = frame_to_array(frame, SENSORS["hdl64"], False)
    tilted = arr.copy()
    xyz = turn_points(np.c_[arr["x"], arr["y"], arr["z"]], r.T)  # what the tilted sensor reports
    tilted["x"], tilted["y"], tilted["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    return arr, tilted, r


def _tilt_node(start_node, ros_node, *extra: str):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import PointCloud2

    node = start_node("perception_node", "-p", f"cloud_topic:={TOPIC}", "-p", "publish_detections_json:=true",
                      "-p", "tracking:=false", *extra, params="perception.yaml")
    pub = ros_node.create_publisher(PointCloud2, TOPIC, QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    return node, pub, Outputs(ros_node)


def test_a_tilted_sensor_gets_the_level_sensors_boxes_in_its_own_frame(start_node, ros_node):
    """A sensor mounted 10 degrees down and rolled by -4 (sensor_pitch_deg / sensor_roll_deg): the node
    turns each cloud level, finds what the level sensor finds (the same labels and boxes as the in-process
    pipeline on the level frame), and publishes the boxes in the cloud's frame with their full orientation."""
    from scipy.spatial import cKDTree
    from scipy.spatial.transform import Rotation
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header

    from t3d_ros.perception import Perception
    from t3d_ros.ros.convert import array_to_msg, msg_view

    roll, pitch = -4.0, 10.0
    arr, tilted, r = _tilted_frame(roll, pitch)
    node, pub, out = _tilt_node(start_node, ros_node, "-p", f"sensor_roll_deg:={roll}", "-p",
                                f"sensor_pitch_deg:={pitch}")
    clusters = []
    sub = ros_node.create_subscription(PointCloud2, "/perception_node/clusters", clusters.append, 10)
    try:
        assert spin_until(ros_node, lambda: pub.get_subscription_count() > 0, 60), node.output()
        _, det = _send(ros_node, pub, array_to_msg(tilted, Header(frame_id="velodyne"), is_dense=True), out,
                       1_700_000_060_000_000_000)
        assert det is not None, node.output()
        assert spin_until(ros_node, lambda: clusters, 10), node.output()
    finally:
        out.close()
        ros_node.destroy_subscription(sub)
        ros_node.destroy_publisher(pub)
    # ~/clusters carries the returns as the tilted sensor gave them, not the level ones
    view = msg_view(clusters[-1])
    published = np.c_[view["x"].ravel(), view["y"].ravel(), view["z"].ravel()]
    assert len(published) > 1000
    gap, _ = cKDTree(np.c_[tilted["x"], tilted["y"], tilted["z"]]).query(published)
    assert gap.max() < 1e-4, gap.max()
    level = Perception.from_params(load_ros_params(REPO / "config" / "perception.yaml")).process(
        np.c_[arr["x"], arr["y"], arr["z"], arr["intensity"]].astype(np.float32))
    want = {(tuple(np.round(d.center, 1)), d.label) for d in level.detections}
    got = {}
    for d in det["detections"]:
        centre = r @ np.array(d["center"])  # back to the level frame
        got[(tuple(np.round(centre, 1)), d["label"])] = d
        box = Rotation.from_quat(d["orientation"]).as_matrix()  # the box's axes in the cloud's frame
        level_box = r @ box  # level: a turn about z by the detection's yaw
        assert level_box[2, 2] == pytest.approx(1.0, abs=1e-6)
        assert np.arctan2(level_box[1, 0], level_box[0, 0]) == pytest.approx(d["yaw"], abs=1e-4)
    assert len(want) > 10 and len(set(got) & want) >= 0.95 * len(want), (len(set(got) & want), len(want))


def test_a_tilted_sensor_not_told_its_angles_is_named_in_a_log_line(start_node, ros_node):
    """The same tilted sensor with the shipped (level) params: after TILT_WINDOW x TILT_EVERY frames the
    node names the mounting angles that would level the ground (the simulated street leans about 1
    degree of its own) in one log line, and /diagnostics carries the lean."""
    from std_msgs.msg import Header

    from t3d_ros.ros.convert import array_to_msg
    from t3d_ros.ros.perception_node import TILT_EVERY, TILT_WINDOW

    _, tilted, _ = _tilted_frame(-4.0, 10.0)
    msg = array_to_msg(tilted, Header(frame_id="velodyne"), is_dense=True)
    node, pub, out = _tilt_node(start_node, ros_node)
    try:
        assert spin_until(ros_node, lambda: pub.get_subscription_count() > 0, 60), node.output()
        for i in range(TILT_WINDOW * TILT_EVERY + 1):
            _, det = _send(ros_node, pub, msg, out, 1_700_000_070_000_000_000 + i * 100_000_000)
            assert det is not None, node.output()
        assert _wait_for_log(node, "set sensor_roll_deg: ", 10.0), node.output()
        line = next(ln for ln in node.output().splitlines() if "set sensor_roll_deg: " in ln)
        found = re.search(r"sensor_roll_deg: (\S+) and sensor_pitch_deg: (\S+) ", line)
        roll, pitch = float(found.group(1)), float(found.group(2))
        assert abs(roll + 4.0) < 2.5 and abs(pitch - 10.0) < 2.5, line
        values = _wait_diag(ros_node, out, lambda v: v.get("ground_tilt_pitch_deg", "n/a") != "n/a")
        assert abs(float(values["ground_tilt_pitch_deg"]) - 10.0) < 2.5, values
        # the angles it names, set at run time: the boxes come with their orientation from the next frame on
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        client = ros_node.create_client(SetParameters, "/perception_node/set_parameters")
        assert client.wait_for_service(timeout_sec=20), node.output()
        fut = client.call_async(SetParameters.Request(parameters=[
            Parameter(name=n, value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=v))
            for n, v in (("sensor_roll_deg", roll), ("sensor_pitch_deg", pitch))]))
        assert spin_until(ros_node, fut.done, 10) and all(r.successful for r in fut.result().results)
        _, det = _send(ros_node, pub, msg, out, 1_700_000_090_000_000_000)
        assert det is not None and det["detections"] and all("orientation" in d for d in det["detections"])
    finally:
        out.close()
        ros_node.destroy_publisher(pub)


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


def test_class_thresholds_and_size_check_change_at_run_time(perception, ros_node):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    node, pub, out = perception
    client = ros_node.create_client(SetParameters, "/perception_node/set_parameters")
    assert client.wait_for_service(timeout_sec=20), node.output()

    def set_params(**values):
        params = []
        for name, v in values.items():
            if isinstance(v, bool):
                pv = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=v)
            else:
                pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=v)
            params.append(Parameter(name=name, value=pv))
        fut = client.call_async(SetParameters.Request(parameters=params))
        assert spin_until(ros_node, fut.done, 10)
        return fut.result().results

    _, _, msg = _sim_msg(300_021)
    try:
        # a class the model does not have, a score outside [0, 1]: refused with the entry named
        for text, entry in (("car:0.8,bus:0.5", "'bus:0.5'"), ("car:1.5", "'car:1.5'")):
            (bad,) = set_params(class_thresholds=text)
            assert not bad.successful and "class_thresholds" in bad.reason and entry in bad.reason, bad.reason

        # every class at 1.0: every label the network is not certain of becomes unknown, with its guess
        (ok,) = set_params(class_thresholds=",".join(f"{c}:1.0" for c in CLASSES))
        assert ok.successful, ok.reason
        markers, det = _send(ros_node, pub, msg, out, 9_000_000_000)
        assert markers is not None, node.output()
        dets = det["detections"]
        assert len(dets) > 10
        lowered = [d for d in dets if d["label"] == UNKNOWN]
        assert len(lowered) >= 0.8 * len(dets), [d["label"] for d in dets]
        assert all(d["label"] == UNKNOWN or d["score"] == 1.0 for d in dets)
        assert all(d["guess"] in CLASSES and d["unknown_reason"] for d in lowered)
        assert any(re.fullmatch(r"score 0\.\d\d\d below the \w+ threshold 1\.00", d["unknown_reason"]) for d in lowered)
        # the texts in rviz say unknown too
        texts = [m.text.split()[0] for m in markers.markers if m.type == m.TEXT_VIEW_FACING]
        assert texts == [d["label"] for d in dets]

        # no class threshold (0 is none) and no size check: every label is the network's
        thresholds, sizes = set_params(class_thresholds="car:0", size_check=False)
        assert thresholds.successful and sizes.successful, (thresholds.reason, sizes.reason)
        markers, det = _send(ros_node, pub, msg, out, 9_100_000_000)
        assert markers is not None, node.output()
        assert len(det["detections"]) == len(dets)
        assert all(d["label"] in CLASSES and "unknown_reason" not in d for d in det["detections"]), det
        assert [d["label"] for d in det["detections"]] == [d.get("guess", d["label"]) for d in dets]

        # the size check back on: whatever it lowers, it says a size, never a score
        (ok,) = set_params(size_check=True)
        assert ok.successful, ok.reason
        markers, det = _send(ros_node, pub, msg, out, 9_200_000_000)
        assert markers is not None, node.output()
        size_lowered = [d for d in det["detections"] if d["label"] == UNKNOWN]
        assert size_lowered, "this frame has boxes that fail the size check (a 0.4 m high car, an 8 m long one)"
        for d in size_lowered:
            assert re.search(r"m (long|wide|high)", d["unknown_reason"]) and "score" not in d["unknown_reason"], d
        assert "Traceback" not in node.output()
    finally:
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


def test_corrupt_model_fails_at_start(start_node, tmp_path):
    from t3d_ros.classify.classifier import resolve_model_path

    shipped = resolve_model_path()
    assert shipped.is_file(), f"the shipped model card {shipped} is missing"
    bad = tmp_path / "bad.json"
    (tmp_path / "t3d_tiny.onnx").write_bytes(b"not an onnx file")
    card = json.loads(shipped.read_text())
    card["files"]["onnx"] = "t3d_tiny.onnx"
    bad.write_text(json.dumps(card))
    node = start_node("perception_node", "-p", f"model_path:={bad}", "-p", "backend:=onnxruntime",
                      params="perception.yaml")
    assert node.wait_exit(timeout=60) == 2
    log = node.output()
    assert "cannot load ONNX model" in log and "Traceback" not in log, log


def test_sim_lidar_to_perception_chain(start_node, ros_node):
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import String
    from visualization_msgs.msg import MarkerArray

    from t3d_ros.ros.convert import msg_view

    sim = start_node("sim_lidar_node", "-p", "sensor:=os1-128", "-p", "pool_size:=2", "-p", "topic:=/chain/points",
                     params="sim.yaml")
    per = start_node("perception_node", "-p", "cloud_topic:=/chain/points", "-p", "publish_detections_json:=true",
                     params="perception.yaml")
    clouds, dets, truth = [], [], []
    from rclpy.qos import qos_profile_sensor_data

    subs = [ros_node.create_subscription(PointCloud2, "/chain/points", clouds.append, qos_profile_sensor_data),
            ros_node.create_subscription(String, "/perception_node/detections_json", dets.append, 10),
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


def test_a_tilted_simulated_sensor_into_the_node_told_its_angles(start_node, ros_node):
    """sim_lidar_node publishing as a sensor mounted with pitch 10 and roll -4 (mount_*_deg), perception_node
    told the same angles (sensor_*_deg): the ground truth and the detections are both tilted boxes in the
    cloud's frame, and most true road users within 30 m have a detection near their centre."""
    from std_msgs.msg import String
    from visualization_msgs.msg import MarkerArray

    tilt = ("-p", "mount_roll_deg:=-4.0", "-p", "mount_pitch_deg:=10")  # an integer for a double: taken
    sim = start_node("sim_lidar_node", "-p", "pool_size:=2", "-p", "topic:=/tilt/points", *tilt, params="sim.yaml")
    per = start_node("perception_node", "-p", "cloud_topic:=/tilt/points", "-p", "publish_detections_json:=true",
                     "-p", "sensor_roll_deg:=-4.0", "-p", "sensor_pitch_deg:=10.0", params="perception.yaml")
    dets, truth = [], []
    subs = [ros_node.create_subscription(String, "/perception_node/detections_json", dets.append, 10),
            ros_node.create_subscription(MarkerArray, "/sim_lidar_node/ground_truth", truth.append, 10)]
    try:
        stamp = lambda h: (h.stamp.sec, h.stamp.nanosec)  # noqa: E731
        ok = spin_until(ros_node, lambda: len(dets) >= 3 and {(json.loads(d.data)["stamp"]["sec"],
                                                                json.loads(d.data)["stamp"]["nanosec"]) for d in dets}
                        & {stamp(t.markers[0].header) for t in truth}, 60)
        assert ok, f"sim:\n{sim.output()}\nperception:\n{per.output()}"
        assert "mounted with roll -4 and pitch 10 degrees" in sim.output()
        doc = next(json.loads(d.data) for d in reversed(dets)
                   if any(stamp(t.markers[0].header) == (json.loads(d.data)["stamp"]["sec"],
                                                         json.loads(d.data)["stamp"]["nanosec"]) for t in truth))
        same = next(t for t in truth if stamp(t.markers[0].header) == (doc["stamp"]["sec"], doc["stamp"]["nanosec"]))
        label = {m.id - 1: m.text.split()[0] for m in same.markers if m.type == m.TEXT_VIEW_FACING}
        cubes = [m for m in same.markers if m.type == m.CUBE and label.get(m.id) in ("car", "pedestrian", "cyclist")]
        assert cubes and all(abs(m.pose.orientation.x) + abs(m.pose.orientation.y) > 0.01 for m in cubes)
        centres = np.array([d["center"] for d in doc["detections"]])
        assert len(centres) > 10 and all(len(d["orientation"]) == 4 for d in doc["detections"])
        near = [np.min(np.linalg.norm(centres - [m.pose.position.x, m.pose.position.y, m.pose.position.z], axis=1))
                for m in cubes if np.hypot(m.pose.position.x, m.pose.position.y) < 30]
        # (a true box of >= 5 returns may be mostly hidden, its visible part's centre well off its own)
        assert len(near) > 5 and np.mean(np.array(near) < 1.5) >= 0.6, near
    finally:
        for s in subs:
            ros_node.destroy_subscription(s)


# --- robustness (issue 5): what the node does with each kind of bad input or configuration ---------------

def _kitti_msg(points: np.ndarray):
    """A dense KITTI-layout PointCloud2 of (N, 4) float32 x, y, z, intensity."""
    from std_msgs.msg import Header

    from t3d_ros.ros.convert import array_to_msg

    arr = build_cloud(KITTI, {"x": points[:, 0], "y": points[:, 1], "z": points[:, 2], "intensity": points[:, 3]})
    return array_to_msg(arr, Header(frame_id="velodyne"))


def _ground(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-30, 30, (n, 2))
    xy = xy[np.hypot(xy[:, 0], xy[:, 1]) > 3]
    return np.c_[xy, -1.7 + rng.normal(0, 0.02, len(xy)), rng.uniform(0, 100, len(xy))].astype(np.float32)


def _diag_values(out) -> tuple[object, dict[str, str]]:
    """The latest /diagnostics status of the perception node and its key/values."""
    status = out.diagnostics[-1].status[0]
    return status, {kv.key: kv.value for kv in status.values}


def _wait_diag(ros_node, out, ok, timeout: float = 8.0) -> dict[str, str]:
    out.diagnostics.clear()
    spin_until(ros_node, lambda: bool(out.diagnostics) and ok(_diag_values(out)[1]), timeout)
    assert out.diagnostics, "no /diagnostics message"
    return _diag_values(out)[1]


def test_all_ground_cloud_clears_the_previous_boxes(perception, ros_node):
    from visualization_msgs.msg import Marker

    node, pub, out = perception
    _, _, busy = _sim_msg(7, "vlp16", organized=False)
    markers, _ = _send(ros_node, pub, busy, out, 6_000_000_000)
    assert markers is not None and len(markers.markers) > 1, node.output()
    markers, det = _send(ros_node, pub, _kitti_msg(_ground(30_000)), out, 6_100_000_000)
    assert markers is not None, node.output()
    assert [m.action for m in markers.markers] == [Marker.DELETEALL]  # no stale box stays in rviz
    assert det["detections"] == [] and det["num_points"] > 25_000


def test_each_malformed_cause_is_logged_once_and_counted_in_diagnostics(perception, ros_node):
    from diagnostic_msgs.msg import DiagnosticStatus

    node, pub, out = perception
    _, _, good = _sim_msg(3, "vlp16")
    assert _send(ros_node, pub, good, out, 7_000_000_000)[0] is not None, node.output()
    causes = {"truncated": "data_size", "no_xyz": "missing_xyz", "point_step": "point_step", "datatype": "datatype"}
    for _ in range(4):
        for kind in causes:
            pub.publish(_bad(kind))
            spin_until(ros_node, lambda: False, 0.05)
    # The node goes on with the next valid cloud.
    assert _send(ros_node, pub, good, out, 7_100_000_000)[0] is not None, node.output()
    _wait_diag(ros_node, out, lambda v: all(f"rejected.{c}" in v for c in causes.values()))
    status, values = _diag_values(out)
    for cause in causes.values():
        assert int(values.get(f"rejected.{cause}", 0)) >= 1, values
    assert int(values["frames_rejected"]) == sum(int(values[f"rejected.{c}"]) for c in causes.values())
    assert int(values["frames_processed"]) >= 2 and values["processing_errors"] == "0"
    assert status.level == DiagnosticStatus.WARN and "malformed clouds rejected" in status.message
    log = node.output()
    assert "Traceback" not in log
    for text in ("data is truncated", "no z field", "runs past point_step", "has datatype 42"):
        assert log.count(text) == 1, f"{text!r} logged {log.count(text)} times:\n{log}"


def test_oversize_cluster_is_reported_not_silently_dropped(perception, ros_node):
    from diagnostic_msgs.msg import DiagnosticStatus

    node, pub, out = perception
    rng = np.random.default_rng(3)
    wall = np.c_[rng.uniform([12, -8, -1.7], [12.3, 8, 1.0], (30_000, 3)), np.ones(30_000)]  # > 20000 points
    car = np.c_[rng.uniform([6, 3, -1.7], [10, 4.8, -0.3], (800, 3)), np.ones(800)]
    pts = np.concatenate([_ground(20_000), wall, car]).astype(np.float32)
    markers, det = _send(ros_node, pub, _kitti_msg(pts), out, 8_000_000_000)
    assert markers is not None, node.output()
    assert len(det["detections"]) == 1 and det["detections"][0]["num_points"] >= 700  # the car; the wall left out
    _wait_diag(ros_node, out, lambda v: int(v.get("oversize_clusters_left_out", 0)) >= 1)
    status, values = _diag_values(out)
    assert values["oversize_clusters_last_frame"] == "1" and int(values["oversize_clusters_left_out"]) >= 1, values
    assert status.level == DiagnosticStatus.OK and "above max_cluster_points left out" in status.message
    assert spin_until(ros_node, lambda: "above max_cluster_points=20000 left out" in node.output(), 5), node.output()


@pytest.fixture(scope="module")
def random_bundle(tmp_path_factory):
    """A model bundle (card, ONNX, weights) of an untrained tiny network over CLASSES, 64 points a cluster."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from t3d_ros.classify.inputs import InputSpec
    from t3d_ros.classify.models import build_model
    from t3d_ros.offline.train.bundle import export_bundle

    torch.manual_seed(0)
    base = InputSpec(n_points=64)
    model = build_model("tiny", len(CLASSES), base.in_feats, base.global_feats)
    spec = InputSpec(64, tuple(tuple(lv) for lv in model.levels), (), base.global_features)
    out = tmp_path_factory.mktemp("bundle")
    torch.save({"model": "tiny", "model_config": {}, "classes": list(CLASSES), "input": spec.to_json(),
                "state_dict": model.state_dict()}, out / "ckpt.pt")
    return export_bundle(out / "ckpt.pt", out, "t3d_random")


def _mismatched_card(card_path, tmp_path, what: str):
    card = json.loads(card_path.read_text())
    if what == "classes":
        card["classes"] = card["classes"][:-1]
    else:
        card["input"]["n_points"] = 128
    for key in ("onnx", "weights"):  # the network files stay where they are
        card["files"][key] = str(card_path.parent / card["files"][key])
    path = tmp_path / f"mismatch_{what}.json"
    path.write_text(json.dumps(card))
    return path


@pytest.mark.parametrize("what, message", [
    ("classes", f"network has {len(CLASSES)} outputs, card lists {len(CLASSES) - 1} classes"),
    ("n_points", "network takes 64 points per cluster, card says 128"),
])
def test_model_that_disagrees_with_its_card_fails_at_start(random_bundle, start_node, tmp_path, what, message):
    from t3d_ros.classify.classifier import Classifier, ModelError

    bad = _mismatched_card(random_bundle, tmp_path, what)
    with pytest.raises(ModelError, match=message):
        Classifier(bad, device="cpu", backend="onnxruntime")
    node = start_node("perception_node", "-p", f"model_path:={bad}", "-p", "backend:=onnxruntime",
                      params="perception.yaml")
    assert node.wait_exit(timeout=90) == 2
    log = node.output()
    assert "cannot start" in log and message in log and "Traceback" not in log, log


def test_cuda_without_a_gpu_falls_back_to_cpu_with_one_warning(random_bundle, start_node, ros_node):
    from t3d_ros.classify.classifier import _cuda_usable

    if _cuda_usable():
        pytest.skip("a GPU is usable here")
    node = start_node("perception_node", "-p", f"model_path:={random_bundle}", "-p", "device:=cuda",
                      "-p", f"cloud_topic:={TOPIC}x", params="perception.yaml")
    assert spin_until(ros_node, lambda: "listening on" in node.output() or node.proc.poll() is not None, 120), \
        node.output()
    log = node.output()
    assert node.proc.poll() is None, log
    assert log.count("no usable GPU") + log.count("sees no GPU") == 1 and "CPUExecutionProvider" in log, log


@pytest.mark.parametrize("name, value", [("cluster_tolerance", '"abc"'), ("x_max", "5000.0")])
def test_wrong_type_or_out_of_range_value_in_the_params_file_fails_at_start(start_node, tmp_path, name, value):
    text = (REPO / "config" / "perception.yaml").read_text()
    text, n = re.subn(rf"^(\s*{name}:)\s*\S+", rf"\g<1> {value}", text, flags=re.M)
    assert n == 1
    (tmp_path / "params.yaml").write_text(text)
    node = start_node("perception_node", params=str(tmp_path / "params.yaml"))
    assert node.wait_exit(timeout=30) == 2
    log = node.output()
    assert "cannot start" in log and name in log and "Traceback" not in log, log


def test_stale_clouds_are_dropped_and_counted(perception, ros_node):
    """A cloud older than max_frame_age (0.5 s in the shipped params) is dropped and counted; a fresh
    one right after it is processed."""
    node, pub, out = perception
    _, _, msg = _sim_msg(5, "vlp16", organized=False)
    stale = ros_node.get_clock().now().nanoseconds - 2_000_000_000
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stale, 10**9)
    for _ in range(3):
        pub.publish(msg)
        spin_until(ros_node, lambda: False, 0.3)

    def stale_counted() -> bool:
        return any(kv.key == "frames_stale_dropped" and int(kv.value) >= 1
                   for d in out.diagnostics for kv in d.status[0].values)

    assert spin_until(ros_node, stale_counted, 10.0), node.output()
    assert stale not in out.detections and "max_frame_age" in node.output()
    for _ in range(10):  # a fresh stamp on every try, so that a retry is never stale itself
        fresh = ros_node.get_clock().now().nanoseconds
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(fresh, 10**9)
        pub.publish(msg)
        if spin_until(ros_node, lambda fresh=fresh: fresh in out.detections, 2.0):
            break
    assert fresh in out.detections, node.output()


def _wait_for_log(node, text: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and node.proc.poll() is None:
        if text in node.output():
            return True
        time.sleep(0.2)
    return text in node.output()


def test_misspelled_parameter_is_named_and_integers_are_taken_for_doubles(start_node, ros_node, tmp_path):
    text = (REPO / "config" / "perception.yaml").read_text()
    text, n = re.subn(r"^(\s*)cluster_tolerance:", r"\g<1>cluster_tolerence:", text, flags=re.M)
    text, m = re.subn(r"^(\s*max_frame_age:)\s*\S+", r"\g<1> 1", text, flags=re.M)  # an int for a double
    assert n == m == 1
    (tmp_path / "params.yaml").write_text(text)
    node = start_node("perception_node", params=str(tmp_path / "params.yaml"))
    assert _wait_for_log(node, "listening on", 60), node.output()
    log = node.output()
    assert "unknown parameter(s)" in log and "cluster_tolerence (did you mean cluster_tolerance?)" in log, log
    assert node.proc.poll() is None and "cannot start" not in log, log


def test_broken_params_file_fails_at_start_with_one_line(start_node, tmp_path):
    (tmp_path / "params.yaml").write_text("/**:\n  ros__parameters:\n    cluster_tolerance: [0.5,\n")
    node = start_node("perception_node", params=str(tmp_path / "params.yaml"))
    assert node.wait_exit(timeout=30) == 2
    log = node.output()
    assert "cannot start" in log and "params.yaml" in log and "Traceback" not in log, log


def test_a_signal_wrapped_by_compiled_code_is_still_a_shutdown():
    """Ctrl-C inside a numba kernel reaches the callback as a SystemError caused by the KeyboardInterrupt
    (seen in CI): the node treats it as the shutdown, not as a fault of the frame to log with a traceback."""
    from t3d_ros.ros.spin import interrupted

    def wrapped() -> SystemError:
        try:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as e:
                raise SystemError("<function _numba_unpickle> returned a result with an exception set") from e
        except SystemError as e:
            try:
                raise SystemError("CPUDispatcher(<function pack_kernel_outputs>) ...") from e
            except SystemError as outer:
                return outer

    assert interrupted(wrapped())
    assert interrupted(KeyboardInterrupt())
    try:
        raise ValueError("a bad frame")
    except ValueError as e:
        assert not interrupted(e)
    loop = RuntimeError("loop")
    loop.__context__ = RuntimeError("back")
    loop.__context__.__context__ = loop  # a cycle ends the walk
    assert not interrupted(loop)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_clouds_arrive_exits_cleanly(perception, ros_node, sig):
    """Ctrl-C (or a supervisor's SIGTERM) while clouds keep arriving: exit 0, no traceback, even when
    the signal lands in the middle of a callback that is about to publish."""
    node, pub, out = perception
    _, _, msg = _sim_msg(2, "hdl64")
    assert _send(ros_node, pub, msg, out, ros_node.get_clock().now().nanoseconds)[0] is not None, node.output()
    for i in range(40):  # keep the node busy; the signal comes at a random point of a frame
        msg.header.stamp = ros_node.get_clock().now().to_msg()
        pub.publish(msg)
        spin_until(ros_node, lambda: False, 0.03)
        if i == 20:
            os.killpg(node.proc.pid, sig)
    assert node.wait_exit(timeout=20) == 0, node.output()
    log = node.output()
    assert "Traceback" not in log and "RCLError" not in log, log


def test_diagnostics_warn_when_frames_are_lost(perception, ros_node):
    """A 10 Hz sensor whose every second and third frame never arrives: /diagnostics goes WARN and says
    so; while every frame arrives it does not."""
    node, pub, out = perception
    _, _, msg = _sim_msg(4, "vlp16", organized=False)
    t0 = ros_node.get_clock().now().nanoseconds + 5 * 10**9  # ahead of the clock: never stale
    lost_text = "skipped or stale"

    def statuses():
        return [d.status[0] for d in out.diagnostics]

    for i in range(12):  # every frame: the node learns the period
        assert _send(ros_node, pub, msg, out, t0 + i * 10**8)[0] is not None, node.output()
    seen = len(out.diagnostics)
    assert spin_until(ros_node, lambda: len(out.diagnostics) > seen, 5.0)
    assert not any(lost_text in s.message for s in statuses()), [s.message for s in statuses()]
    for i in range(12, 60, 3):  # then only every third frame
        assert _send(ros_node, pub, msg, out, t0 + i * 10**8)[0] is not None, node.output()
    assert spin_until(ros_node, lambda: any(lost_text in s.message and s.level == b"\x01" for s in statuses()),
                      5.0), [s.message for s in statuses()]


def test_diagnostics_warn_when_clouds_do_not_continue_each_other(start_node, ros_node):
    """Tracking on (the shipped params): three unrelated scenes in turn on one topic (several sensors on one
    topic, a bag that jumps) make the tracker start over again and again; /diagnostics counts it and goes
    WARN. One scene repeated does not."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import PointCloud2

    node = start_node("perception_node", "-p", f"cloud_topic:={TOPIC}", "-p", "publish_detections_json:=true",
                      params="perception.yaml")
    pub = ros_node.create_publisher(PointCloud2, TOPIC, QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    out = Outputs(ros_node)
    text = "tracks started over"

    def statuses():
        return [d.status[0] for d in out.diagnostics]

    try:
        assert spin_until(ros_node, lambda: pub.get_subscription_count() > 0, 60), node.output()
        msgs = [_sim_msg(seed, "vlp16", organized=False)[2] for seed in (4, 7, 11)]
        t0 = ros_node.get_clock().now().nanoseconds + 5 * 10**9  # ahead of the clock: never stale
        for i in range(12):
            assert _send(ros_node, pub, msgs[0], out, t0 + i * 10**8)[0] is not None, node.output()
        seen = len(out.diagnostics)
        assert spin_until(ros_node, lambda: len(out.diagnostics) > seen, 5.0)
        values = _diag_values(out)[1]
        assert values["track_scene_resets"] == "0" and values["tracking_frame"] == "cloud", values
        assert not any(text in st.message for st in statuses()), [st.message for st in statuses()]
        for i in range(12, 42):
            assert _send(ros_node, pub, msgs[i % 3], out, t0 + i * 10**8)[0] is not None, node.output()
        assert spin_until(ros_node, lambda: any(text in st.message and st.level == b"\x01" for st in statuses()),
                          5.0), [(st.message, _diag_values(out)[1]["track_scene_resets"]) for st in statuses()]
        assert int(_diag_values(out)[1]["track_scene_resets"]) >= 5
    finally:
        out.close()
        ros_node.destroy_publisher(pub)


def test_use_sim_time_with_the_replayed_clock(start_node, ros_node, tmp_path):
    """A bag replayed with /clock into a node on use_sim_time: latency is measured in the bag's time
    (milliseconds, not the 1e12 ms between 2023 and now), and /diagnostics still comes (its timer runs
    on the replayed clock), with frames processed and none stale."""
    import subprocess
    import sys

    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64

    bag = tmp_path / "sim.mcap"
    proc = subprocess.run([sys.executable, "-m", "t3d_ros", "sim", "--sensor", "vlp16", "--frames", "3", "--seed", "2",
                           "--bag", str(bag), "--out", str(tmp_path / "frames")], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    node = start_node("perception_node", "-p", f"cloud_topic:={TOPIC}", "-p", "use_sim_time:=true",
                      params="perception.yaml")
    latencies: list[float] = []
    diagnostics: list = []
    subs = [ros_node.create_subscription(Float64, "/perception_node/debug/pipeline_latency_ms",
                                         lambda m: latencies.append(m.data), 10),
            ros_node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)]
    log = open(tmp_path / "replay.log", "w")
    player = subprocess.Popen([sys.executable, "-m", "t3d_ros", "replay", str(bag), "--hz", "10", "--loop",
                               "--remap", f"/points:={TOPIC}"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        def values() -> dict:
            return {kv.key: kv.value for kv in diagnostics[-1].status[0].values} if diagnostics else {}

        ok = spin_until(ros_node, lambda: len(latencies) >= 10 and int(values().get("frames_processed", 0)) >= 5,
                        60)
        assert ok, (latencies, values(), node.output(), (tmp_path / "replay.log").read_text())
        assert all(abs(ms) < 5000.0 for ms in latencies), latencies  # /clock and the cloud race by a frame
        assert values()["frames_stale_dropped"] == "0" and "clock" not in diagnostics[-1].status[0].message
        assert "clock_mismatch" not in node.output() and "from this node's clock" not in node.output()
    finally:
        os.killpg(player.pid, signal.SIGINT)
        player.wait(timeout=15)
        log.close()
        for s in subs:
            ros_node.destroy_subscription(s)


def test_typed_detections_carry_stable_track_ids(start_node, ros_node):
    """With the shipped params (tracking on): ~/detections is a vision_msgs/Detection3DArray stamped
    with the input header, one Detection3D per object with its oriented box, the class and score
    first in results (runners-up after), and the track id, which stays the same while the scene
    does; markers carry the id in their text."""
    from conftest import IN_CI
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import PointCloud2
    from visualization_msgs.msg import Marker, MarkerArray

    try:
        from vision_msgs.msg import Detection3DArray
    except ImportError:
        if IN_CI:
            pytest.fail("vision_msgs is not importable: `make setup` builds it (scripts/build_vision_msgs.sh)")
        pytest.skip("vision_msgs not built here (make setup builds it)")
    node = start_node("perception_node", "-p", f"cloud_topic:={TOPIC}", params="perception.yaml")
    pub = ros_node.create_publisher(PointCloud2, TOPIC, QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    arrays: dict[int, object] = {}
    markers: dict[int, object] = {}
    key = lambda h: h.stamp.sec * 10**9 + h.stamp.nanosec  # noqa: E731
    subs = [ros_node.create_subscription(Detection3DArray, "/perception_node/detections",
                                         lambda m: arrays.__setitem__(key(m.header), m), 10),
            ros_node.create_subscription(MarkerArray, "/perception_node/markers",
                                         lambda m: markers.__setitem__(key(m.markers[0].header), m), 10)]
    try:
        assert spin_until(ros_node, lambda: pub.get_subscription_count() > 0, 30), node.output()
        _, _, msg = _sim_msg(7, "hdl64")
        stamps = [1_700_000_100_000_000_000 + i * 100_000_000 for i in range(6)]
        for stamp in stamps:  # the same scene six times, 10 Hz
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
            for _ in range(10):
                pub.publish(msg)
                if spin_until(ros_node, lambda s=stamp: s in arrays and s in markers, 2.0):
                    break
            assert stamp in arrays, node.output()
        first, last = arrays[stamps[0]], arrays[stamps[-1]]
        assert first.header.frame_id == "velodyne" and len(first.detections) > 10
        assert all(d.id == "" for d in first.detections)  # tentative: one detection is no track yet
        ids = [[d.id for d in arrays[s].detections] for s in stamps[2:]]
        assert sum(i != "" for i in ids[-1]) >= 0.8 * len(ids[-1]), ids[-1]
        assert all(i == ids[-1] for i in ids), "track ids changed while the scene stood still"
        assert len(set(ids[-1]) - {""}) == sum(i != "" for i in ids[-1])  # one id per object
        for d in last.detections:
            q = d.bbox.center.orientation
            assert abs(q.x) < 1e-9 and abs(q.y) < 1e-9 and abs(q.z**2 + q.w**2 - 1) < 1e-6  # a yaw about +z
            assert min(d.bbox.size.x, d.bbox.size.y, d.bbox.size.z) > 0
            hyps = [(r.hypothesis.class_id, r.hypothesis.score) for r in d.results]
            assert hyps and hyps[0][0] in set(CLASSES) | {UNKNOWN} and all(0 <= s <= 1 for _, s in hyps)
            assert len({c for c, _ in hyps}) == len(hyps)  # runners-up after the label, no class twice
        assert sum(len(d.results) > 1 for d in last.detections) >= 0.5 * len(last.detections)
        texts = [m.text for m in markers[stamps[-1]].markers if m.type == Marker.TEXT_VIEW_FACING]
        assert sum("#" in t for t in texts) == sum(i != "" for i in ids[-1])
    finally:
        for s in subs:
            ros_node.destroy_subscription(s)
        ros_node.destroy_publisher(pub)


def test_sim_sequence_into_the_node_gives_tracks_that_last(start_node, ros_node):
    """sim_lidar_node publishing one moving scene (sequence:=true) into perception_node with the shipped
    params, the simulator's odometry into the node's odom_topic: the simulator's ground truth carries
    track ids, the node's typed detections keep their track ids over consecutive frames, and it tracks
    in the odometry's frame. The simulated sensor drives along its lane of a curved road at a heading
    of its own (seed 6: -16 degrees, radius 96 m; ``follow_road`` of sim.yaml), and its odometry says so."""
    from conftest import IN_CI
    from diagnostic_msgs.msg import DiagnosticArray
    from nav_msgs.msg import Odometry
    from visualization_msgs.msg import MarkerArray

    from t3d_ros.offline.sim.scene import generate_scene
    from t3d_ros.track.ego import yaw_of_quaternion

    try:
        from vision_msgs.msg import Detection3DArray
    except ImportError:
        if IN_CI:
            pytest.fail("vision_msgs is not importable: `make setup` builds it (scripts/build_vision_msgs.sh)")
        pytest.skip("vision_msgs not built here (make setup builds it)")
    sim = start_node("sim_lidar_node", "-p", "sensor:=vlp16", "-p", "sequence:=true", "-p", "pool_size:=60",
                     "-p", "seed:=6", "-p", "topic:=/seq/points", "-p", "odom_topic:=/seq/odom", params="sim.yaml")
    per = start_node("perception_node", "-p", "cloud_topic:=/seq/points", "-p", "odom_topic:=/seq/odom",
                     params="perception.yaml")
    arrays, truth, diagnostics, odometry = [], [], [], []
    subs = [ros_node.create_subscription(Detection3DArray, "/perception_node/detections", arrays.append, 50),
            ros_node.create_subscription(Odometry, "/seq/odom", odometry.append, 50),
            ros_node.create_subscription(MarkerArray, "/sim_lidar_node/ground_truth", truth.append, 10),
            ros_node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)]
    try:
        ok = spin_until(ros_node, lambda: len(arrays) >= 15 and truth, 90)
        assert ok, f"sim:\n{sim.output()}\nperception:\n{per.output()}"
        assert any("#" in m.text for m in truth[-1].markers if m.type == m.TEXT_VIEW_FACING)
        ids = [{d.id for d in a.detections} - {""} for a in arrays[-10:]]
        lasting = set.intersection(*ids)
        assert len(lasting) >= 5, f"ids over 10 frames: {ids}"  # the same objects keep their ids
        diagnostics.clear()
        assert spin_until(ros_node, lambda: diagnostics, 5)
        values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
        assert values["tracking_frame"] == "odom", values
        # discovery may bring a few clouds before the odometry; then every frame has its pose
        assert int(values["frames_processed"]) - int(values["frames_without_odometry"]) >= 10, values
        # the odometry: along the lane, heading with the road
        road = generate_scene(6).ground.road
        _, d0 = road.to_road(0.0, 0.0)
        assert len(odometry) >= 10
        for o in odometry:
            p, q = o.pose.pose.position, o.pose.pose.orientation
            s_, d = road.to_road(p.x, p.y)
            assert abs(d - d0) < 0.05, (p, d, d0)
            assert abs(math.remainder(yaw_of_quaternion(q.x, q.y, q.z, q.w) - road.world(s_, d)[2], 2 * math.pi)) < 1e-3
        yaws = [yaw_of_quaternion(o.pose.pose.orientation.x, o.pose.pose.orientation.y, o.pose.pose.orientation.z,
                                  o.pose.pose.orientation.w) for o in odometry]
        assert max(yaws) - min(yaws) > math.radians(0.5), yaws  # 6.3 m/s on a 96 m radius: 3.8 deg/s
    finally:
        for s in subs:
            ros_node.destroy_subscription(s)


def _turning_sequence(frames: int, omega: float):
    """A simulated moving scene (HDL-32E, ego 5 m/s along +x) as a vehicle that also turns at ``omega``
    rad/s sees it: per frame (stamp offset [s], the sensor's pose (x, y, yaw) in the world, the turned
    cloud as a structured array, the standing road users' centres (M, 2) in the turned frame). A 360
    degree scan from the same place with another heading is the same returns turned about z."""
    from t3d_ros.offline.sim import SENSORS
    from t3d_ros.offline.sim.sequence import iter_sequence
    from t3d_ros.ros.sim_lidar_node import frame_to_array
    from t3d_ros.track import Pose2D

    out = []
    for sf in iter_sequence(12, "hdl32", frames=frames, ego_speed=5.0):
        pose = Pose2D(float(sf.ego_position[0]), float(sf.ego_position[1]), omega * sf.stamp_s)
        arr, _ = frame_to_array(sf.frame, SENSORS["hdl32"], False)
        turn = Pose2D(0.0, 0.0, -pose.yaw)  # sensor axes parallel to the world's -> the turned sensor's
        xy = turn.apply(np.c_[arr["x"], arr["y"]])
        arr["x"], arr["y"] = xy[:, 0], xy[:, 1]
        standing = [o.center[:2] for o in sf.objects if not o.moving and o.num_points >= 40
                    and o.label in ("car", "truck") and np.hypot(*o.center[:2]) < 30]
        out.append((sf.stamp_s, pose, arr, turn.apply(np.array(standing).reshape(-1, 2))))
    return out


def test_odometry_puts_the_tracks_in_the_fixed_frame(start_node, ros_node):
    """perception_node with odom_topic: clouds of a vehicle driving 5 m/s and turning 0.5 rad/s, its
    nav_msgs/Odometry (base_link 0.8 m behind the sensor: sensor_x) at other stamps than the clouds'.
    The node's tracks are the library's tracker given the sensor's poses (``test_ego.py`` checks that
    those stand still), not the tracks in the sensor's frame; a cloud before any odometry is published
    untracked, with one log line once the node's first 2 s are over; /diagnostics names the tracking
    frame."""
    from nav_msgs.msg import Odometry
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Header

    from t3d_ros.config import tracker_config
    from t3d_ros.perception import Perception, with_tracks
    from t3d_ros.ros.convert import array_to_msg
    from t3d_ros.track import Pose2D, Tracker

    speed, omega = 5.0, 0.5
    seq = _turning_sequence(8, omega)
    node = start_node("perception_node", "-p", f"cloud_topic:={TOPIC}", "-p", "publish_detections_json:=true",
                      "-p", "odom_topic:=/t3d_test/odom", "-p", "sensor_x:=0.8", params="perception.yaml")
    pub = ros_node.create_publisher(PointCloud2, TOPIC, QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    odom = ros_node.create_publisher(Odometry, "/t3d_test/odom",
                                     QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    out = Outputs(ros_node)
    t0 = 1_700_000_300_000_000_000

    def send_odometry(stamp_s: float) -> None:
        sensor = Pose2D(speed * stamp_s, 0.0, omega * stamp_s)
        base = sensor.compose(Pose2D(-0.8, 0.0, 0.0))
        m = Odometry(child_frame_id="base_link")
        m.header.frame_id = "odom"
        m.header.stamp.sec, m.header.stamp.nanosec = divmod(t0 + round(stamp_s * 1e9), 10**9)
        m.pose.pose.position.x, m.pose.pose.position.y = base.x, base.y
        m.pose.pose.orientation.z, m.pose.pose.orientation.w = np.sin(base.yaw / 2), np.cos(base.yaw / 2)
        odom.publish(m)

    try:
        assert spin_until(ros_node, lambda: pub.get_subscription_count() > 0
                          and odom.get_subscription_count() > 0, 60), node.output()
        cloud = array_to_msg(seq[0][2], Header(frame_id="velodyne"), is_dense=True)
        _, first = _send(ros_node, pub, cloud, out, t0 - 3 * 10**9)
        assert first is not None and not any(d.get("track_id") for d in first["detections"]), node.output()
        assert "no pose" not in node.output()  # the first ODOM_GRACE_S: odometry may still be starting
        time.sleep(2.0)
        _, late = _send(ros_node, pub, cloud, out, t0 - 2 * 10**9)
        assert late is not None and not any(d.get("track_id") for d in late["detections"]), node.output()
        assert spin_until(ros_node, lambda: "no odometry received yet" in node.output(), 5), node.output()
        broken = Odometry()
        broken.header.stamp.sec = t0 // 10**9 - 5
        broken.pose.pose.orientation.w = 0.0  # all zero: no rotation
        odom.publish(broken)
        for stamp_s, *_ in seq:  # the drive's odometry first, 0.03 s before and 0.04 s after each cloud
            send_odometry(stamp_s - 0.03)
            send_odometry(stamp_s + 0.04)
        spin_until(ros_node, lambda: False, 1.0)
        docs, arrows = [], []
        for stamp_s, _, arr, _ in seq:
            markers, doc = _send(ros_node, pub, array_to_msg(arr, Header(frame_id="velodyne"), is_dense=True), out,
                                 t0 + round(stamp_s * 1e9))
            assert doc is not None, node.output()
            docs.append(doc)
            arrows.append(sum(m.type == m.ARROW and m.action == m.ADD for m in markers.markers))
        values = _wait_diag(ros_node, out, lambda v: v.get("tracking_frame") == "odom")
        assert values["tracking_frame"] == "odom" and values["frames_without_odometry"] == "2", values
        assert values["odometry_rejected"] == "1" and "is not a rotation" in node.output(), values
    finally:
        out.close()
        ros_node.destroy_publisher(pub)
        ros_node.destroy_publisher(odom)
    params = load_ros_params(REPO / "config" / "perception.yaml")
    perception = Perception.from_params(params)
    fixed, moving = Tracker(tracker_config(params)), Tracker(tracker_config(params))
    same = differ = compared = 0
    for doc, (stamp_s, pose, arr, _) in zip(docs, seq, strict=True):
        dets = perception.process(np.c_[arr["x"], arr["y"], arr["z"], arr["intensity"]].astype(np.float32)).detections
        want = with_tracks(dets, fixed.update(dets, stamp_s, ego=pose))
        naive = with_tracks(dets, moving.update(dets, stamp_s))
        got = {tuple(np.round(d["center"][:2], 2)): d for d in doc["detections"]}
        for w, n in zip(want, naive, strict=True):
            g = got.get(tuple(np.round(w.center[:2], 2)))
            if g is None or not w.track_id or not g.get("velocity") or n.velocity is None:
                continue
            compared += 1
            same += np.hypot(*(np.array(g["velocity"]) - w.velocity)) < 0.05
            differ += np.hypot(*(np.array(g["velocity"]) - n.velocity)) > 0.5
    assert compared >= 50, compared
    assert same >= 0.9 * compared, (same, compared)  # the node tracks as the library does with the poses
    assert differ >= 0.8 * compared, (differ, compared)  # ... and not as in the sensor's frame
    # velocity arrows (over the ground) for the road-user tracks that move 0.5 m/s or more
    moving = [sum(bool(d.get("velocity")) and np.hypot(*d["velocity"]) >= 0.5 and d["label"] in ROAD_USERS
                  for d in doc["detections"]) for doc in docs]
    assert arrows == moving and sum(arrows) > 0, (arrows, moving)


def test_velocity_arrows_point_where_a_moving_track_goes_in_one_second():
    from std_msgs.msg import Header

    from t3d_ros.detection import Detection
    from t3d_ros.ros.convert import detections_to_markers
    from t3d_ros.segment.level import mount_rotation

    box = dict(center=np.array([5.0, 1.0, -1.0]), size=np.array([4.0, 1.8, 1.5]), yaw=0.3, num_points=900)
    dets = [Detection("car", 0.9, track_id=3, velocity=np.array([2.0, -1.0]), **box),
            Detection("car", 0.9, track_id=4, velocity=np.array([0.3, 0.2]), **box),  # standing: jitter
            Detection("vegetation", 0.9, track_id=5, velocity=np.array([2.0, 0.0]), **box),  # cannot move
            Detection("unknown", 0.5, track_id=6, velocity=np.array([2.0, 0.0]), **box),  # may not
            Detection("car", 0.9, **box)]  # untracked
    plain = detections_to_markers(dets, Header(frame_id="velodyne"))
    # velocities relative to the sensor (no odometry): no arrows
    assert not any(m.type == m.ARROW and m.action == m.ADD for m in plain.markers)
    msg = detections_to_markers(dets, Header(frame_id="velodyne"), velocity_arrows=True)
    arrows = [m for m in msg.markers if m.type == m.ARROW and m.action == m.ADD]  # DELETEALL's type is 0 too
    assert len(arrows) == 1 and arrows[0].id == 2 * len(dets)  # after the boxes and texts
    (a, b) = [np.array([p.x, p.y, p.z]) for p in arrows[0].points]
    np.testing.assert_allclose(b - a, [2.0, -1.0, 0.0])
    np.testing.assert_allclose(a, dets[0].center)
    level_to_cloud = mount_rotation(0.0, 10.0).T  # a sensor pitched down: the arrow turns with the cloud
    msg = detections_to_markers(dets, Header(frame_id="velodyne"), velocity_arrows=True,
                                level_to_cloud=level_to_cloud)
    arrow = next(m for m in msg.markers if m.id == 2 * len(dets))
    (a, b) = [np.array([p.x, p.y, p.z]) for p in arrow.points]
    np.testing.assert_allclose(b - a, level_to_cloud @ [2.0, -1.0, 0.0], atol=1e-12)


def test_marker_text_names_the_label_track_and_the_guess_of_an_unknown():
    """The TEXT markers: "car #12 0.87"; an unknown one names the network's guess its score is for."""
    from std_msgs.msg import Header

    from t3d_ros.detection import Detection
    from t3d_ros.ros.convert import detections_to_markers

    dets = [Detection("car", 0.87, np.array([5.0, 1.0, -1.0]), np.array([4.0, 1.8, 1.5]), 0.3, 900,
                      track_id=12),
            Detection("unknown", 0.62, np.array([9.0, 2.0, -1.0]), np.array([2.0, 0.5, 1.0]), 0.0, 60, guess="car",
                      unknown_reason="score 0.620 below the car threshold 0.75"),
            Detection("unknown", 0.30, np.array([9.0, 2.0, -1.0]), np.array([2.0, 0.5, 1.0]), 0.0, 12)]
    msg = detections_to_markers(dets, Header(frame_id="velodyne"))
    texts = [m.text for m in msg.markers if m.type == m.TEXT_VIEW_FACING]
    assert texts == ["car #12 0.87", "unknown car? 0.62", "unknown 0.30"]
    assert msg.markers[0].action == msg.markers[0].DELETEALL
