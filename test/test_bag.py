"""MCAP bags: writing and reading PointCloud2 without ROS, `sim --bag`, `detect` on a bag, and `replay`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import REPO, spin_until

from t3d_ros.io.bag import (
    CLOUD_TYPE,
    GROUND_TRUTH_TOPIC,
    BagWriter,
    bag_files,
    cloud_topics,
    iter_raw,
    read_clouds,
    read_json_topic,
    topics,
)
from t3d_ros.io.cloud import KITTI, OUSTER, VELODYNE, build_cloud

STAMP = 1_700_000_000_250_000_000


def _cloud(layout, n: int, seed: int = 0, big: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cols = {"x": rng.uniform(-20, 20, n), "y": rng.uniform(-20, 20, n), "z": rng.uniform(-2, 2, n),
            "intensity": rng.uniform(0, 255, n)}
    if "ring" in layout.dtype().names:
        cols["ring"] = rng.integers(0, 16, n)
    return build_cloud(layout, cols, is_bigendian=big)


def _sim_bag(path, frames: int = 2, seed: int = 11):
    """Record ``frames`` small vlp16 frames; returns the (scene, frame) pairs and the stamps."""
    from t3d_ros.offline.sim import simulate
    from t3d_ros.offline.sim.record import SimBagRecorder

    rec = SimBagRecorder(path, "vlp16", start_ns=STAMP)
    sims, stamps = [], []
    for i in range(frames):
        scene, frame = simulate(seed + i, "vlp16")
        sims.append((scene, frame))
        stamps.append(rec.add(scene, frame, seed + i))
    rec.close()
    return sims, stamps


def test_clouds_of_any_layout_round_trip(tmp_path):
    path = tmp_path / "b.mcap"
    velo = _cloud(VELODYNE, 64, 1)
    velo["x"][5] = np.nan  # organized clouds mark no-return with NaN
    ouster, kitti_be = _cloud(OUSTER, 30, 2), _cloud(KITTI, 20, 3, big=True)
    with BagWriter(path) as w:
        w.write_cloud("/velodyne_points", velo, STAMP, "velodyne", height=4, is_dense=False)
        w.write_cloud("/os/points", ouster, STAMP + 5, "os_sensor")
        w.write_json(GROUND_TRUTH_TOPIC, {"stamp": {"sec": 1, "nanosec": 7}, "objects": []}, STAMP)
        w.write_cloud("/velodyne_points", kitti_be, STAMP + 100_000_000, "velodyne")
    assert topics(path) == {"/velodyne_points": (CLOUD_TYPE, 2), "/os/points": (CLOUD_TYPE, 1),
                            GROUND_TRUTH_TOPIC: ("std_msgs/msg/String", 1)}
    clouds = list(read_clouds(path))
    assert [(c.topic, c.index, c.stamp_ns, c.frame_id) for c in clouds] == [
        ("/velodyne_points", 0, STAMP, "velodyne"), ("/os/points", 0, STAMP + 5, "os_sensor"),
        ("/velodyne_points", 1, STAMP + 100_000_000, "velodyne")]
    assert clouds[0].view.shape == (4, 16) and clouds[0].view.dtype.itemsize == 22
    assert clouds[1].view.dtype.itemsize == 48 and clouds[2].view.dtype["x"].byteorder == ">"
    for cloud, src in zip(clouds, (velo, ouster, kitti_be), strict=True):
        ok = np.isfinite(src["x"])
        pts = cloud.points()
        assert len(pts) == ok.sum()
        np.testing.assert_array_equal(pts[:, 0], src["x"][ok].astype(np.float32))
        np.testing.assert_array_equal(pts[:, 3], src["intensity"][ok].astype(np.float32))
    assert [c.topic for c in read_clouds(path, ["/os/points"])] == ["/os/points"]
    assert read_json_topic(path) == {1_000_000_007: {"stamp": {"sec": 1, "nanosec": 7}, "objects": []}}


def test_recorded_messages_are_the_cdr_that_rclpy_reads(tmp_path):
    pytest.importorskip("rclpy")
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import PointCloud2

    path = tmp_path / "b.mcap"
    cloud = _cloud(VELODYNE, 10)
    with BagWriter(path) as w:
        w.write_cloud("/points", cloud, STAMP, "lidar", height=2)
    (_topic, kind, log_time, data), = list(iter_raw(path, ["/points"]))
    assert (kind, log_time) == (CLOUD_TYPE, STAMP)
    msg = deserialize_message(data, PointCloud2)
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (2, 5, 22, 110)
    assert [f.name for f in msg.fields] == ["x", "y", "z", "intensity", "ring", "time"]
    assert (msg.header.frame_id, msg.header.stamp.sec, msg.header.stamp.nanosec) == ("lidar", *divmod(STAMP, 10**9))
    assert bytes(msg.data) == cloud.tobytes()
    assert len(serialize_message(msg)) == len(data)  # same CDR (padding bytes may differ)


def test_bag_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such bag"):
        bag_files(tmp_path / "none.mcap")
    with pytest.raises(FileNotFoundError, match="no .mcap file"):
        bag_files(tmp_path)
    (tmp_path / "x.db3").write_bytes(b"")
    with pytest.raises(ValueError, match="ros2 bag convert"):
        bag_files(tmp_path / "x.db3")
    with BagWriter(tmp_path / "rosbag2" / "rosbag2_0.mcap") as w:  # a rosbag2 folder
        w.write_cloud("/points", _cloud(KITTI, 5), STAMP)
    assert cloud_topics(tmp_path / "rosbag2") == {"/points": 1}
    with pytest.raises(ValueError, match="its cloud topics: /points"):
        cloud_topics(tmp_path / "rosbag2", ["/lidar"])


def test_sim_bag_holds_the_frames_and_their_ground_truth(tmp_path):
    from t3d_ros.offline.sim.io import objects_json

    sims, stamps = _sim_bag(tmp_path / "sim")  # ".mcap" is added
    path = tmp_path / "sim.mcap"
    assert stamps == [STAMP, STAMP + 100_000_000]  # vlp16 spins at 10 Hz
    clouds = list(read_clouds(path))
    truth = read_json_topic(path)
    assert [c.stamp_ns for c in clouds] == stamps and sorted(truth) == stamps
    for cloud, (scene, frame) in zip(clouds, sims, strict=True):
        assert cloud.view.shape == (1800, 16)  # organized like the driver: one row per firing
        assert cloud.view.dtype.names == ("x", "y", "z", "intensity", "ring", "time")
        pts = cloud.points()
        assert len(pts) == len(frame)
        np.testing.assert_array_equal(np.sort(pts[:, 0]), np.sort(frame.xyz[:, 0]))
        doc = truth[cloud.stamp_ns]
        assert doc["sensor"] == "vlp16" and doc["frame_id"] == "lidar"
        assert doc["objects"] == json.loads(json.dumps(objects_json(scene, frame)))


def test_sim_bag_then_detect_on_the_bag(tmp_path, capsys):
    from t3d_ros.__main__ import main  # in-process: one interpreter start less per command

    bag = tmp_path / "sim.mcap"
    assert main(["sim", "--sensor", "vlp16", "--frames", "2", "--seed", "3", "--bag", str(bag)]) == 0
    assert main(["detect", str(bag), "--json", str(tmp_path / "d.json"), "--png", str(tmp_path / "png"),
                 "--model", ""]) == 0
    docs = json.loads((tmp_path / "d.json").read_text())
    assert [d["frame"] for d in docs] == [f"{bag}:/points#0", f"{bag}:/points#1"]
    for i, doc in enumerate(docs):
        assert set(doc) == {"frame", "topic", "index", "stamp", "frame_id", "detections", "timing_ms"}
        assert (doc["topic"], doc["index"], doc["frame_id"]) == ("/points", i, "lidar")
        assert doc["detections"] and all(d["label"] == "unknown" for d in doc["detections"])
    assert docs[1]["stamp"]["sec"] * 10**9 + docs[1]["stamp"]["nanosec"] - (
        docs[0]["stamp"]["sec"] * 10**9 + docs[0]["stamp"]["nanosec"]) == 100_000_000
    assert sorted(p.name for p in (tmp_path / "png").glob("*.png")) == ["sim_points_000000.png",
                                                                        "sim_points_000001.png"]
    capsys.readouterr()
    assert main(["detect", str(bag), "--topic", "/lidar", "--model", ""]) == 2
    assert "its cloud topics: /points" in capsys.readouterr().err


@pytest.mark.ros
def test_replay_node_runs_from_the_install(start_node, tmp_path):
    node = start_node("replay_node", "-p", f"bag:={tmp_path / 'missing.mcap'}")
    assert node.wait_exit(30) == 2
    assert "cannot start" in node.output() and "no such bag" in node.output()
    # a params file rcl cannot parse: one line, no traceback
    (tmp_path / "broken.yaml").write_text("replay_node: {ros__parameters: [\n")
    node = start_node("replay_node", "--params-file", str(tmp_path / "broken.yaml"))
    assert node.wait_exit(30) == 2
    assert "cannot start" in node.output() and "Traceback" not in node.output(), node.output()


@pytest.mark.ros
def test_replay_publishes_the_recorded_clouds_over_dds(tmp_path, ros_node):
    import rclpy
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import PointCloud2
    from visualization_msgs.msg import Marker, MarkerArray

    from t3d_ros.offline.sim.driver import ground_truth_detections
    from t3d_ros.ros.convert import msg_to_points
    from t3d_ros.ros.replay_node import Replayer

    sims, stamps = _sim_bag(tmp_path / "sim.mcap")
    topic = "/t3d_test/replay/points"
    clouds: dict[int, tuple] = {}
    truth: dict[int, MarkerArray] = {}
    arrivals: list[int] = []  # cloud stamps in the order they arrive
    clocks: list[int] = []
    key = lambda h: h.stamp.sec * 10**9 + h.stamp.nanosec  # noqa: E731

    def on_cloud(m) -> None:
        arrivals.append(key(m.header))
        clouds[key(m.header)] = (m.height, m.width, m.header.frame_id, len(msg_to_points(m)))

    subs = [
        ros_node.create_subscription(PointCloud2, topic, on_cloud, qos_profile_sensor_data),
        ros_node.create_subscription(Clock, "/clock", lambda m: clocks.append(m.clock.sec * 10**9 + m.clock.nanosec),
                                     10),
        ros_node.create_subscription(MarkerArray, "/replay_node/ground_truth",
                                     lambda m: truth.__setitem__(key(m.markers[0].header), m), 10),
    ]
    log = open(tmp_path / "replay.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "t3d_ros", "replay", str(tmp_path / "sim.mcap"), "--hz", "20",
                             "--loop", "--remap", f"/points:={topic}"], cwd=REPO, stdout=log,
                            stderr=subprocess.STDOUT, env=os.environ.copy(), start_new_session=True)
    try:
        # Passes after the first are shifted forward by the bag's length (2 frames + 1 period), so a
        # stamp tells its frame: (stamp - first) / period, modulo the frame count.
        period = stamps[1] - stamps[0]
        frame_of = lambda stamp: ((stamp - stamps[0]) // period) % len(stamps)  # noqa: E731
        both = lambda: sorted(set(clouds) & set(truth))  # noqa: E731
        got = spin_until(ros_node, lambda: {frame_of(t) for t in both()} == set(range(len(stamps))), 30)
        assert got, (tmp_path / "replay.log").read_text()
        for stamp in clouds:
            assert clouds[stamp] == (1800, 16, "lidar", len(sims[frame_of(stamp)][1]))  # every point
        first = next(t for t in both() if frame_of(t) == 0)
        cubes = [m for m in truth[first].markers if m.type == Marker.CUBE]
        assert len(cubes) == len(ground_truth_detections(*sims[0])) > 0  # the objects seen with >= 5 returns
        assert truth[first].markers[0].header.frame_id == "lidar"
        # The loop goes on in time: later passes are shifted forward, never back; /clock follows.
        assert spin_until(ros_node, lambda: len(arrivals) >= 3 * len(stamps) and arrivals[-1] > max(stamps), 30)
        assert all(b > a for a, b in zip(arrivals, arrivals[1:], strict=False)), arrivals
        # /clock publishes the clouds' stamps and reaches the latest one (its message may still be in
        # flight: wait). Not every stamp: /clock is matched apart from the clouds' topic and keeps the
        # last 2 messages, so under load one can be superseded by the next, which is all a clock needs.
        last = arrivals[-1]
        assert spin_until(ros_node, lambda: bool(clocks) and clocks[-1] >= last, 10), (last, clocks)
        assert len(set(clocks) & set(arrivals)) >= len(stamps), (arrivals, clocks)
        assert all(b >= a for a, b in zip(clocks, clocks[1:], strict=False))
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=15)
        log.close()
        for s in subs:
            ros_node.destroy_subscription(s)
    assert rc == 0, (tmp_path / "replay.log").read_text()

    def replayer(**params) -> Replayer:  # in ros_node's rclpy context, no process start
        return Replayer(rclpy.create_node("replay_check", parameter_overrides=[
            Parameter(k, value=v) for k, v in params.items()]))

    # Without loop the player stops by itself after the bag: 2 clouds + 2 ground-truth messages.
    player = replayer(bag=str(tmp_path / "sim.mcap"), rate=20.0)
    t = time.monotonic()
    assert player.play() == 4 and time.monotonic() - t < 5
    # A stop request (replay's SIGINT/SIGTERM handler sets it) ends a loop between messages.
    player.loop = True
    threading.Timer(0.5, player.stop.set).start()
    t = time.monotonic()
    assert player.play() > 4 and time.monotonic() - t < 2
    player.node.destroy_node()
    with pytest.raises(FileNotFoundError, match="no such bag"):
        replayer(bag=str(tmp_path / "missing.mcap"))
    with pytest.raises(ValueError, match="not a sensor_msgs/msg/PointCloud2 topic"):
        replayer(bag=str(tmp_path / "sim.mcap"), topic="/ground_truth")


def test_a_bag_cut_short_is_read_up_to_the_cut(tmp_path, caplog, capsys):
    """A recorder killed mid-write leaves no summary and a torn last chunk: the clouds before the cut
    are read, one warning says so, and `detect` writes them; a file that is no MCAP gives one line."""
    from t3d_ros.__main__ import main

    sims, _ = _sim_bag(tmp_path / "full.mcap", frames=8)
    data = (tmp_path / "full.mcap").read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with caplog.at_level("WARNING", logger="t3d_ros.io.bag"):
        clouds = list(read_clouds(cut))
    assert 1 <= len(clouds) < 8
    for cloud, (_, frame) in zip(clouds, sims, strict=False):  # the readable ones are whole and in order
        assert len(cloud.points()) == len(frame)
    assert sum("cut short" in r.getMessage() for r in caplog.records) == 1
    assert main(["detect", str(cut), "--json", str(tmp_path / "d.json"), "--model", ""]) == 0
    assert len(json.loads((tmp_path / "d.json").read_text())) == len(clouds)
    (tmp_path / "junk.mcap").write_bytes(b"not a bag at all")
    capsys.readouterr()
    assert main(["detect", str(tmp_path / "junk.mcap"), "--model", ""]) == 2
    err = capsys.readouterr().err
    assert "not an MCAP file" in err and "Traceback" not in err


def test_detect_reads_a_folder_of_frames_and_warns_on_an_empty_one(tmp_path, capsys):
    from t3d_ros.__main__ import main

    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("b.npy", "a.npy"):
        np.save(folder / name, np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32) * 5)
    (folder / "c.bin").write_bytes(b"")  # an empty frame
    assert main(["detect", str(folder), "--json", str(tmp_path / "d.json"), "--model", ""]) == 0
    docs = json.loads((tmp_path / "d.json").read_text())
    assert [d["frame"] for d in docs] == [str(folder / n) for n in ("a.npy", "b.npy", "c.bin")]
    assert f"{folder / 'c.bin'}: 0 points" in capsys.readouterr().err
