"""replay_node: publish a bag's PointCloud2 clouds over ROS 2 (also ``python -m t3d_ros replay BAG``).

For machines where ``ros2 bag`` is not installed (the PyPI rclpy wheels, CI): reads a rosbag2 MCAP
bag with ``t3d_ros.io.bag`` and publishes every PointCloud2 topic (or the chosen ones) under its
recorded name, at the recorded timing scaled by ``rate``, or at a fixed ``hz``, once or in a loop.
Clouds are published as the CDR bytes stored in the bag, so no cloud is decoded or copied on the
way (``restamp`` decodes to set the stamp). A bag written by ``sim --bag`` also carries the ground
truth, which goes out on ``~/ground_truth`` as a MarkerArray, like ``sim_lidar_node``'s.

Time: every cloud also sets ``/clock`` (on by default), so that a perception node started with
``use_sim_time:=true`` measures latency and ages against the bag's time. Stamps never go backwards:
a loop's later passes are shifted forward by the length of the bag (or, with ``restamp``, every
cloud gets the current time).

Publishers are reliable (keep last 2), as ``ros2 bag play``'s: every subscriber matches one, the
perception node's best-effort subscription included. rclpy is imported only when the player runs,
so ``python -m t3d_ros`` works without ROS for the other commands.

    ros2 run t3d_ros replay_node --ros-args -p bag:=out/sim.mcap -p loop:=true -r /points:=/lidar/points
    python -m t3d_ros replay out/sim.mcap --hz 5 --loop --remap /points:=/lidar/points
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from t3d_ros.detection import Detection
from t3d_ros.io.bag import CLOUD_TYPE, GROUND_TRUTH_TOPIC, STRING_TYPE, cloud_topics, iter_raw, topics

if TYPE_CHECKING:
    from rclpy.node import Node

# (name, default, description) of the node's parameters, all read-only.
PARAMS: tuple[tuple[str, object, str], ...] = (
    ("bag", "", "rosbag2 MCAP bag to publish: a .mcap file or a bag folder (required)."),
    ("rate", 1.0, "Speed factor on the recorded timing (2.0 = twice as fast)."),
    ("hz", 0.0, "Publish clouds at this fixed rate [Hz] instead of the recorded timing; 0 = recorded."),
    ("loop", False, "Start over at the end of the bag."),
    ("topic", "", "PointCloud2 topics to publish, comma-separated; empty = every PointCloud2 topic."),
    ("restamp", False, "Stamp the headers with the current time instead of the recorded stamps. Without it, a "
     "loop's later passes are shifted forward by the bag's length, so that stamps never go back."),
    ("clock", True, "Publish /clock (rosgraph_msgs/Clock) with the stamp of every cloud, so that nodes run with "
     "use_sim_time:=true see the bag's time."),
    ("delay", 0.0, "Seconds to wait before the first message, so that subscribers can connect."),
    ("publish_ground_truth", True, "Publish the bag's /ground_truth (sim --bag) on ~/ground_truth as a MarkerArray."),
)


class Replayer:
    """Publishes a bag through ``node`` (whose parameters it declares and reads); ``play()`` runs."""

    def __init__(self, node: Node, stop: threading.Event | None = None) -> None:
        from rcl_interfaces.msg import ParameterDescriptor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import PointCloud2
        from visualization_msgs.msg import MarkerArray

        self.node = node
        self.stop = stop or threading.Event()  # set (by replay's SIGINT/SIGTERM handler) to stop playing
        p = {name: node.declare_parameter(name, default, ParameterDescriptor(description=desc, read_only=True)).value
             for name, default, desc in PARAMS}
        if not p["bag"]:
            raise ValueError("parameter bag is empty: give the .mcap file or bag folder to publish")
        if p["rate"] <= 0 or p["hz"] < 0 or p["delay"] < 0:
            raise ValueError(f"rate={p['rate']} must be > 0, hz={p['hz']} and delay={p['delay']} >= 0")
        self.bag = Path(p["bag"])
        self.rate, self.hz, self.loop = float(p["rate"]), float(p["hz"]), bool(p["loop"])
        self.restamp, self.delay = bool(p["restamp"]), float(p["delay"])
        wanted = [t.strip() for t in str(p["topic"]).split(",") if t.strip()]
        self.clouds = cloud_topics(self.bag, wanted)  # checks the bag and the topics up front
        has_truth = topics(self.bag).get(GROUND_TRUTH_TOPIC, ("", 0))[0] == STRING_TYPE
        self.truth = bool(p["publish_ground_truth"]) and has_truth
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=2, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = {t: node.create_publisher(PointCloud2, t, qos) for t in self.clouds}
        self.pub_truth = node.create_publisher(MarkerArray, "~/ground_truth", 2) if self.truth else None
        self.pub_clock = None
        if p["clock"]:
            from rosgraph_msgs.msg import Clock

            self.pub_clock = node.create_publisher(Clock, "/clock", qos)
            self._Clock = Clock
        self.shift_ns = 0  # added to the recorded stamps in a loop's later passes
        self._first_ns = self._prev_ns = None  # recorded stamps: the bag's first cloud, the latest one
        self._period_ns = 0  # the latest positive gap between recorded cloud stamps
        self._PointCloud2 = PointCloud2
        self._stamps: dict[int, object] = {}  # recorded stamp -> the stamp it went out with (restamp)
        timing = f"{self.hz:g} Hz" if self.hz else f"the recorded timing x {self.rate:g}"
        node.get_logger().info(
            f"{self.bag}: {sum(self.clouds.values())} clouds on {', '.join(self.clouds)}"
            f"{' + ground truth' if self.truth else ''}, at {timing}{', looping' if self.loop else ''}")

    def running(self) -> bool:
        """False once asked to stop or once the context is shut down."""
        return not self.stop.is_set() and self.node.context.ok()

    def _wait_until(self, due: float) -> bool:
        """Serve the node (parameter services) until the monotonic time ``due``; False on shutdown."""
        import rclpy

        while self.running():
            left = due - time.monotonic()
            if left <= 0:
                return True
            rclpy.spin_once(self.node, timeout_sec=min(left, 0.1))
        return False

    def _publish(self, topic: str, kind: str, data: bytes) -> None:
        from rclpy.serialization import deserialize_message

        if kind == CLOUD_TYPE:
            if not self.restamp and not self.shift_ns and self.pub_clock is None:
                self.pubs[topic].publish(bytes(data))  # the recorded CDR as it is
                return
            msg = deserialize_message(bytes(data), self._PointCloud2)
            key = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            self._note_recorded(key)
            if self.restamp:
                msg.header.stamp = self.node.get_clock().now().to_msg()
            elif self.shift_ns:
                msg.header.stamp = _stamp_msg(key + self.shift_ns)
            self._stamps = {key: msg.header.stamp}  # the ground truth that follows takes this stamp
            if self.pub_clock is not None:  # first the time, then the cloud of that time
                self.pub_clock.publish(self._Clock(clock=msg.header.stamp))
            self.pubs[topic].publish(msg)
            return
        from std_msgs.msg import Header, String

        from t3d_ros.ros.convert import detections_to_markers

        doc = json.loads(deserialize_message(bytes(data), String).data)
        header = Header(frame_id=doc.get("frame_id", ""))
        stamp = doc.get("stamp", {"sec": 0, "nanosec": 0})
        header.stamp.sec, header.stamp.nanosec = int(stamp["sec"]), int(stamp["nanosec"])
        if self.restamp or self.shift_ns:
            header.stamp = self._stamps.get(stamp["sec"] * 1_000_000_000 + stamp["nanosec"], header.stamp)
        self.pub_truth.publish(detections_to_markers(truth_detections(doc), header, 0.0, ns="ground_truth"))

    def _note_recorded(self, stamp_ns: int) -> None:
        if self._first_ns is None:
            self._first_ns = stamp_ns
        if self._prev_ns is not None and stamp_ns > self._prev_ns:
            self._period_ns = stamp_ns - self._prev_ns
        self._prev_ns = stamp_ns

    def _shift_next_pass(self) -> None:
        """The next pass of a loop continues the time: its stamps are the recorded ones plus the
        bag's length (first to last cloud, plus one sensor period) times the passes done."""
        if self.restamp or self._first_ns is None:
            return
        self.shift_ns += self._prev_ns - self._first_ns + (self._period_ns or 100_000_000)

    def play_once(self, first: bool) -> int:
        """One pass over the bag; the number of messages published."""
        names = list(self.clouds) + ([GROUND_TRUTH_TOPIC] if self.truth else [])
        start = time.monotonic() + (self.delay if first else 0.0)
        t0, offset, n_clouds, n = None, 0.0, 0, 0
        for topic, kind, log_time, data in iter_raw(self.bag, names):
            t0 = log_time if t0 is None else t0
            if kind == CLOUD_TYPE:
                offset = n_clouds / self.hz if self.hz else (log_time - t0) / 1e9 / self.rate
                n_clouds += 1
            elif not self.hz:
                offset = (log_time - t0) / 1e9 / self.rate
            if not self._wait_until(start + offset):
                break
            self._publish(topic, kind, data)
            n += 1
        if self.hz and n_clouds:  # keep the rate across the loop's seam
            self._wait_until(start + n_clouds / self.hz)
        return n

    def play(self) -> int:
        """Publish the bag (again and again with ``loop``) until done or shut down; messages published."""
        t = time.monotonic()
        total, first = 0, True
        while self.running():
            n = self.play_once(first)
            total, first = total + n, False
            if not self.loop or n == 0:
                break
            self._shift_next_pass()
        self.node.get_logger().info(f"published {total} messages in {time.monotonic() - t:.1f} s")
        return total


def _stamp_msg(ns: int):
    from builtin_interfaces.msg import Time

    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def truth_detections(doc: dict) -> list[Detection]:
    """The Detections of a ``/ground_truth`` document's objects seen with >= 5 returns."""
    return [Detection(o["label"], 1.0, np.asarray(o["center"]), np.asarray(o["size"]), float(o["yaw"]),
                      int(o.get("num_points", 0)))
            for o in doc.get("objects", []) if o.get("num_points", 5) >= 5]


def replay(ros_args: list[str] | None = None, overrides: dict | None = None) -> int:
    """Start rclpy, run ``replay_node`` until the bag is done or SIGINT/SIGTERM; exit code (2: cannot
    start).

    The player handles the signals itself: rclpy's handler would raise KeyboardInterrupt wherever the
    player happens to be, and inside rclpy's C code (deserialize_message) that came out as a TypeError.
    Here a signal only sets a flag, which the player checks between messages and every 0.1 s."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    from t3d_ros.ros.spin import init_rclpy

    if not init_rclpy("replay_node", ros_args, signal_handler_options=SignalHandlerOptions.NO):
        return 2
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    node = rclpy.create_node("replay_node", parameter_overrides=[
        Parameter(k, value=v) for k, v in (overrides or {}).items()])
    try:
        try:
            player = Replayer(node, stop)
        except Exception as e:  # bad bag or parameter (also a parameter of the wrong type): one clear line
            node.get_logger().fatal(f"cannot start: {type(e).__name__}: {e}")
            return 2
        player.play()
    except ExternalShutdownException:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(args: list[str] | None = None) -> int:
    """The ``replay_node`` executable: parameters from ``--ros-args``."""
    return replay(sys.argv if args is None else args)
