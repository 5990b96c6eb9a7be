"""perception_node: PointCloud2 in, labelled boxes out. Wiring only; the work is in ``t3d_ros.perception``.

Subscribes ``cloud_topic`` (sensor-data QoS: best effort, keep last 1, so reliable and best-effort
publishers are both received and a slow frame never builds a queue) and, with ``odom_topic`` set,
``nav_msgs/Odometry`` (best effort, keep last 50): the tracker then works in the odometry's fixed frame
(``t3d_ros.track.ego``). Publishes, stamped with the input header:
  ~/markers     visualization_msgs/MarkerArray  DELETEALL + oriented CUBE and TEXT per object (+ velocity ARROW)
  ~/clusters    sensor_msgs/PointCloud2         cluster points with instance and class_id fields
  ~/detections  vision_msgs/Detection3DArray     boxes, class + score (and runners-up), track id
  ~/detections_json  std_msgs/String            JSON, the contract of ``python -m t3d_ros detect`` (off by default)
  ~/debug/processing_time_ms, ~/debug/pipeline_latency_ms  std_msgs/Float64
  /diagnostics  diagnostic_msgs/DiagnosticArray health, latency, rejected-message counts
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
import traceback
from collections import Counter, deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Float64, String
from visualization_msgs.msg import MarkerArray

from t3d_ros.classes import CLASSES, UNKNOWN_ID
from t3d_ros.config import NODE_PARAMS, TRACK_PARAMS, pipeline_config, tracker_config, unknown_params
from t3d_ros.detection import to_cloud_frame
from t3d_ros.io import _decode
from t3d_ros.io.cloud import CloudError, points_from_view
from t3d_ros.io.stamps import SkippedFrames
from t3d_ros.perception import Perception, parse_class_thresholds, reuse_freed_memory, with_tracks
from t3d_ros.ros.convert import (
    array_to_msg,
    clusters_to_array,
    detections_to_detection3d_array,
    detections_to_markers,
    msg_view,
)
from t3d_ros.ros.spin import declare, interrupted, run_node
from t3d_ros.segment.level import ground_tilt, tilt_advice, turn_points
from t3d_ros.segment.pipeline import PipelineConfig
from t3d_ros.track import OdometryBuffer, Pose2D, Tracker, yaw_of_quaternion

LOG_INTERVAL_S = 10.0  # at most one log line per fault cause in this period
# /diagnostics goes WARN when more than LOST_SHARE_WARN of the sensor's frames were skipped (never
# reached the callback) or dropped as stale over the last LOST_WINDOW_S seconds.
LOST_SHARE_WARN = 0.10
LOST_WINDOW_S = 10.0
# Stamps further than this from the node's clock (a bag replayed without use_sim_time, a sensor
# clock that is not synchronised) cannot be judged by age: max_frame_age is not applied to them.
CLOCK_MISMATCH_S = 60.0
# A tilted sensor that was not told its angles: the ground around it is measured every TILT_EVERY-th
# frame (segment/level.py ground_tilt, 0.3 ms), and when the median of the last TILT_WINDOW
# measurements leans level.TILT_WARN_DEG or more, a log line gives the angles to set (level.tilt_advice).
TILT_EVERY = 5
TILT_WINDOW = 20
# Clouds without an odometry pose in the first ODOM_GRACE_S after the first cloud (odometry and clouds
# starting together, the first slow callback) are published untracked and counted, but not logged
# nor turned into a WARN: what is late after that is.
ODOM_GRACE_S = 2.0
# Scene resets of the tracker (another scene: track_reset_share) between two /diagnostics reports that make
# the status WARN.
SCENE_RESETS_WARN = 2


def _descriptor(name: str, description: str, read_only: bool, value_range, value) -> ParameterDescriptor:
    d = ParameterDescriptor(name=name, description=description, read_only=read_only)
    if value_range is not None and isinstance(value, float):
        d.floating_point_range = [FloatingPointRange(from_value=float(value_range[0]), to_value=float(value_range[1]))]
    elif value_range is not None and isinstance(value, int) and not isinstance(value, bool):
        d.integer_range = [IntegerRange(from_value=int(value_range[0]), to_value=int(value_range[1]), step=1)]
    return d


class PerceptionNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("perception_node", **kwargs)
        self._declare_parameters()

        p = self._params()
        t0 = time.perf_counter()
        reuse_freed_memory()  # the node owns its process: keep per-frame buffers in the heap
        self.perception = Perception.from_params(p, warn=self.get_logger().warning)
        _decode.warmup()  # the cloud decoder's kernel, before the first cloud (Perception warmed its own)
        # decoded points are written into this buffer, kept between clouds (sized to the clouds that
        # come): one pass and no fresh 2 MB array per scan; the points live only within a callback
        self._points_buffer = np.empty((0, 4), np.float32)
        self.mode = self.perception.mode
        clf = self.perception.classifier
        if clf is not None:
            self.get_logger().info(
                f"loaded {clf.card['path']}: {len(clf.classes)} classes, {clf.description}, "
                f"{clf.spec.n_points} points per cluster, ready in {(time.perf_counter() - t0):.1f} s")
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.odometry: OdometryBuffer | None = None
        self.frames_without_odometry = 0
        self.odometry_rejected = 0  # odometry messages whose pose is not finite or not a rotation
        self._odometry_reported = 0
        self._first_cloud_time: float | None = None  # monotonic [s]
        if p["odom_topic"]:  # before the clouds: the executor then takes waiting odometry before a cloud
            self._subscribe_odometry(p)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.sub = self.create_subscription(PointCloud2, p["cloud_topic"], self._on_cloud, qos)
        self.pub_markers = self.create_publisher(MarkerArray, "~/markers", 5)
        self.pub_clusters = self.create_publisher(PointCloud2, "~/clusters", 5)
        self.pub_detections = None
        try:
            from vision_msgs.msg import Detection3DArray

            self.pub_detections = self.create_publisher(Detection3DArray, "~/detections", 5)
        except ImportError:  # a robot gets it from its distribution; say how, and keep running
            self.get_logger().warning(
                "vision_msgs is not installed: ~/detections (vision_msgs/Detection3DArray) is off. Install "
                "ros-<distro>-vision-msgs (rosdep install --from-paths src), or set publish_detections_json:=true "
                "for the same detections as JSON on ~/detections_json")
        self.pub_detections_json = self.create_publisher(String, "~/detections_json", 5)
        # Output messages are built only for topics that someone subscribes to (rviz, a recorder, a
        # planner): markers, the cluster cloud and Detection3DArray cost a few ms a frame that nobody
        # reads otherwise. The benchmark harness sets this to build them all (t3d_ros/bench/node.py).
        self.publish_unsubscribed = False
        tracker_cfg = tracker_config(p)
        self.tracker = Tracker(tracker_cfg) if tracker_cfg is not None else None
        self.pub_processing = self.create_publisher(Float64, "~/debug/processing_time_ms", 5)
        self.pub_latency = self.create_publisher(Float64, "~/debug/pipeline_latency_ms", 5)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", 5)
        self.create_timer(p["diagnostics_period"], self._publish_diagnostics)

        self.frames = 0
        self.frames_stale = 0  # clouds dropped by max_frame_age
        self._stale_reported = 0
        self._resets_reported: tuple[Tracker | None, int] = (self.tracker, 0)  # the tracker's scene resets reported
        self._clock_mismatch = 0
        self.rejected: Counter[str] = Counter()
        self.errors = 0
        self._last_log: dict[str, float] = {}
        self._latencies: deque[float] = deque(maxlen=200)
        self._last_frame_id = ""
        self._last_clusters = 0
        # Robustness accounting (issue 5): clusters above max_cluster_points that oversize_policy=report
        # left out, and frames the sensor sent that never reached this callback (estimated from gaps
        # between input stamps: a gap of n sensor periods means n - 1 frames were not seen).
        self.oversize_total = 0
        self._last_oversize = 0
        self.frames_skipped = 0
        self._skipped = SkippedFrames()
        self._window: deque[tuple[float, int, int]] = deque()  # (time, frames processed, frames lost)
        self._tilts: deque[tuple[float, float]] = deque(maxlen=TILT_WINDOW)  # ground (roll, pitch), degrees
        self._leaning = 0  # measurements after which the window's median leaned TILT_WARN_DEG or more
        self.get_logger().info(
            f"listening on '{self.sub.topic_name}' (best effort); {self.mode}, "
            f"ground={self.perception.config.ground_method}, cluster={self.perception.config.cluster_method}"
        )

    def _subscribe_odometry(self, p: dict) -> None:
        """Ego motion from the vehicle's odometry (``odom_topic``): poses buffered by stamp; the sensor's
        place on the vehicle from ``sensor_x``, ``sensor_y``, ``sensor_yaw_deg``."""
        try:
            from nav_msgs.msg import Odometry
        except ImportError:
            raise RuntimeError(f"odom_topic={p['odom_topic']!r} needs nav_msgs: install ros-<distro>-nav-msgs "
                               "(rosdep install --from-paths src), or set odom_topic:='' to track in the "
                               "cloud's frame") from None
        self.odometry = OdometryBuffer()
        self.sensor_on_base = Pose2D(p["sensor_x"], p["sensor_y"], math.radians(p["sensor_yaw_deg"]))
        self._odom_frames = ("", "")  # (frame_id, child_frame_id) of the last odometry message
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.sub_odom = self.create_subscription(Odometry, p["odom_topic"], self._on_odometry, qos)

    def _on_odometry(self, msg) -> None:
        o = msg.pose.pose.orientation
        stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        try:
            yaw = yaw_of_quaternion(o.x, o.y, o.z, o.w)
            self.odometry.add(stamp_s, Pose2D(msg.pose.pose.position.x, msg.pose.pose.position.y, yaw))
        except ValueError as e:
            self.odometry_rejected += 1
            self._log_limited("odometry_invalid", f"ignored an odometry message on '{self.sub_odom.topic_name}': "
                              f"{e}", count=self.odometry_rejected)
            return
        frames = (msg.header.frame_id, msg.child_frame_id)
        if frames != self._odom_frames:
            self._odom_frames = frames
            self.get_logger().info(f"ego motion from '{self.sub_odom.topic_name}' ({frames[0] or '?'} -> "
                                   f"{frames[1] or '?'}): tracks live in '{frames[0] or '?'}', velocities over ground")

    def _ego_pose(self, stamp_s: float) -> Pose2D | None:
        """The sensor's pose in the odometry's frame at ``stamp_s``, or None (counted; logged after the
        first ODOM_GRACE_S) when the odometry cannot say."""
        buf = self.odometry
        base = buf.pose_at(stamp_s, self.get_parameter("odom_max_gap").value)
        if self._first_cloud_time is None:
            self._first_cloud_time = time.monotonic()
        if base is not None:
            return base.compose(self.sensor_on_base)
        self.frames_without_odometry += 1
        if time.monotonic() - self._first_cloud_time < ODOM_GRACE_S:  # starting up: not a fault yet
            self._odometry_reported += 1
            return None
        newest = buf.latest_stamp
        where = ("no odometry received yet" if newest is None
                 else f"the newest of {len(buf)} odometry poses is {stamp_s - newest:+.3f} s from it")
        self._log_limited("no_odometry", f"no pose on '{self.sub_odom.topic_name}' at the cloud's stamp ({where}): "
                          "the frame is published untracked. Check that the odometry runs, that its stamps "
                          "share the clouds' clock (use_sim_time with bags), or raise odom_max_gap",
                          count=self.frames_without_odometry)
        return None

    def _declare_parameters(self) -> None:
        """One ROS parameter per node setting and per PipelineConfig field. An integer given for a
        double parameter (``cluster_tolerance: 1``) is taken as that double, as the CLI does; names
        given in the params file or with ``-p`` that no parameter has are named in a warning (rclpy
        would ignore them silently)."""
        specs = [(name, default, desc, read_only, rng) for name, default, desc, read_only, rng in NODE_PARAMS]
        for f in dataclasses.fields(PipelineConfig):
            meta = f.metadata
            desc = meta.get("description", f.name) + (f" [{meta['unit']}]" if meta.get("unit") else "")
            specs.append((f.name, f.default, desc, False, meta.get("range")))
        for name, default, desc, read_only, rng in specs:
            declare(self, name, default, _descriptor(name, desc, read_only, rng, default))
        # what --params-file and -p gave this node (rclpy's own dict)
        unknown = unknown_params(n for n in self._parameter_overrides if not self.has_parameter(n))
        if unknown:
            self.get_logger().warning(f"unknown parameter(s) in the params file or -p, ignored: {', '.join(unknown)}; "
                                      "the node runs with their defaults")

    def _params(self) -> dict:
        return {name: value.value for name, value in self.get_parameters_by_prefix("").items()}

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in params}
        try:
            config = pipeline_config(changes, self.perception.config)
        except (ValueError, TypeError) as e:
            return SetParametersResult(successful=False, reason=str(e))
        tracker = self.tracker
        if any(name in changes for name in TRACK_PARAMS):  # a new tracker (its tracks start over)
            try:
                cfg = tracker_config({**self._params(), **changes})
            except (ValueError, TypeError) as e:
                return SetParametersResult(successful=False, reason=str(e))
            tracker = Tracker(cfg) if cfg is not None else None
        thresholds = None
        if "class_thresholds" in changes and self.perception.classifier is not None:
            thresholds = str(changes["class_thresholds"])
            try:
                parse_class_thresholds(thresholds, self.perception.classifier.classes)  # reject before changing
            except ValueError as e:
                return SetParametersResult(successful=False, reason=str(e))
        self.perception.config = config
        self.tracker = tracker
        if "score_threshold" in changes:
            self.perception.score_threshold = float(changes["score_threshold"])
        if thresholds is not None:
            self.perception.set_thresholds(thresholds)
        if "size_check" in changes:
            self.perception.check_sizes = bool(changes["size_check"])
        if "sensor_roll_deg" in changes or "sensor_pitch_deg" in changes:
            self._tilts.clear()  # measured with the old angles: the lean starts over
        return SetParametersResult(successful=True)

    def _log_limited(self, cause: str, message: str, error: bool = False, count: int | None = None) -> None:
        now = time.monotonic()
        if now - self._last_log.get(cause, -1e9) < LOG_INTERVAL_S:
            return
        self._last_log[cause] = now
        if count is None:
            count = self.rejected[cause] if cause in self.rejected else self.errors
        text = f"{message} (seen {count} time(s); next report of this cause in >= {LOG_INTERVAL_S:.0f} s)"
        (self.get_logger().error if error else self.get_logger().warning)(text)

    def _report_oversize(self, n_oversize: int) -> None:
        """Clusters above max_cluster_points are never dropped silently: counted and logged."""
        self._last_oversize = n_oversize
        if n_oversize == 0 or self.perception.config.oversize_policy != "report":
            return
        self.oversize_total += n_oversize
        c = self.perception.config
        self._log_limited("oversize", f"{n_oversize} cluster(s) above max_cluster_points={c.max_cluster_points} "
                          "left out of this frame (oversize_policy=report; walls, hedges, or a merge): raise "
                          "max_cluster_points or set oversize_policy=keep to publish them",
                          count=self.oversize_total)

    def _on_cloud(self, msg: PointCloud2) -> None:
        t0 = time.perf_counter()
        self._last_frame_id = msg.header.frame_id
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.frames_skipped += self._skipped.update(stamp_ns)
        if self._is_stale(stamp_ns):
            return
        try:
            view = msg_view(msg)  # checks the header against the buffer before anything is allocated
            held = self._points_buffer.shape[0]
            if held < view.size or held > 4 * view.size + 1_000_000:  # grow; give back what one huge cloud took
                self._points_buffer = np.empty((view.size, 4), np.float32)
            points = points_from_view(view, out=self._points_buffer)
        except CloudError as e:
            self.rejected[e.cause] += 1
            self._log_limited(e.cause, f"dropped PointCloud2 from '{self.sub.topic_name}': {e}")
            return
        decode_ms = (time.perf_counter() - t0) * 1e3
        try:
            res = self.perception.process(points)
        except Exception as e:  # never let one frame kill the node; report it with its traceback
            if interrupted(e):  # Ctrl-C landed inside a kernel: the shutdown, not a fault of this frame
                raise KeyboardInterrupt from None
            self.errors += 1
            self._log_limited(f"internal:{type(e).__name__}",
                              f"processing failed on a {len(points)}-point cloud: {e}\n{traceback.format_exc()}",
                              error=True)
            return
        header = msg.header
        detections = res.detections
        t_track = time.perf_counter()
        if self.tracker is not None:
            stamp_s = (stamp_ns or self.get_clock().now().nanoseconds) * 1e-9
            ego = None if self.odometry is None else self._ego_pose(stamp_s)
            if self.odometry is None or ego is not None:  # without a pose: untracked, the tracks coast
                detections = with_tracks(detections, self.tracker.update(detections, stamp_s, ego))
        level = self.perception.config.level_rotation
        to_cloud = None if level is None else level.T  # a tilted sensor: found (and tracked) level,
        if to_cloud is not None:  # published in the cloud's frame
            detections = to_cloud_frame(detections, to_cloud)
        t1 = time.perf_counter()
        self._report_oversize(res.segmentation.n_oversize)
        if self.frames % TILT_EVERY == 0:
            self._check_tilt(res.segmentation)
        p = self._params()
        if p["publish_markers"] and self._wanted(self.pub_markers):
            self.pub_markers.publish(detections_to_markers(  # arrows only for velocities over the ground
                detections, header, p["marker_lifetime"], velocity_arrows=self.odometry is not None,
                level_to_cloud=to_cloud))
        if p["publish_clusters"] and self._wanted(self.pub_clusters):
            ids = np.array([CLASSES.index(d.label) if d.label in CLASSES else UNKNOWN_ID for d in detections])
            cluster_points = res.segmentation.cluster_points
            if to_cloud is not None:
                cluster_points = turn_points(cluster_points, to_cloud)
            arr = clusters_to_array(cluster_points, res.segmentation.cluster_offsets, ids)
            self.pub_clusters.publish(array_to_msg(arr, header))
        if p["publish_detections"] and self.pub_detections is not None and self._wanted(self.pub_detections):
            self.pub_detections.publish(detections_to_detection3d_array(detections, header))
        timings = {"decode": decode_ms, **res.timings_ms, "track": (t1 - t_track) * 1e3,
                   "messages": (time.perf_counter() - t1) * 1e3}
        if p["publish_detections_json"] and self._wanted(self.pub_detections_json):
            doc = {
                "frame": header.frame_id,
                "stamp": {"sec": header.stamp.sec, "nanosec": header.stamp.nanosec},
                "num_points": int(len(points)),
                "detections": [d.to_json() for d in detections],
                "timing_ms": {k: round(v, 3) for k, v in timings.items()},
            }
            self.pub_detections_json.publish(String(data=json.dumps(doc)))
        total_ms = (time.perf_counter() - t0) * 1e3
        self.pub_processing.publish(Float64(data=total_ms))
        if stamp_ns > 0:
            self.pub_latency.publish(Float64(data=(self.get_clock().now().nanoseconds - stamp_ns) * 1e-6))
        self._latencies.append(total_ms)
        self._last_clusters = len(detections)
        self.frames += 1

    def _ground_tilt(self) -> tuple[float, float] | None:
        """Median (roll, pitch) in degrees of the ground's lean over the last TILT_WINDOW measurements."""
        if len(self._tilts) < TILT_WINDOW:
            return None
        roll, pitch = np.median(np.array(self._tilts), axis=0)
        return float(roll), float(pitch)

    def _check_tilt(self, seg) -> None:
        """Measure the ground's lean around the sensor; when its median over the window leans
        level.TILT_WARN_DEG or more, say which mounting angles would level it (a street's slope also
        leans: the line says so)."""
        tilt = ground_tilt(seg.points, seg.ground)
        if tilt is None:
            return
        self._tilts.append(tilt)
        if len(self._tilts) < TILT_WINDOW:
            return
        c = self.perception.config
        advice = tilt_advice(self._tilts, c.sensor_roll_deg, c.sensor_pitch_deg,
                             f"median of the last {TILT_WINDOW} measurements, one every {TILT_EVERY} frames")
        if advice:
            self._leaning += 1
            self._log_limited("tilt", advice, count=self._leaning)

    def _wanted(self, publisher) -> bool:
        """Whether to build this output's message: someone subscribes (or the harness wants all)."""
        return self.publish_unsubscribed or publisher.get_subscription_count() > 0

    def _is_stale(self, stamp_ns: int) -> bool:
        """True (counted, logged) for a cloud older than max_frame_age: the keep-last-1 queue bounds
        the backlog to one cloud, but that cloud may have waited a whole slow callback already."""
        max_age = self.get_parameter("max_frame_age").value
        if max_age <= 0 or stamp_ns <= 0:
            return False
        age = (self.get_clock().now().nanoseconds - stamp_ns) * 1e-9
        if abs(age) > CLOCK_MISMATCH_S:
            self._clock_mismatch += 1
            self._log_limited("clock_mismatch", f"cloud stamp is {age:.1f} s from this node's clock: max_frame_age "
                              "not applied (use_sim_time for bags, or synchronise the sensor clock)",
                              count=self._clock_mismatch)
            return False
        if age <= max_age:
            return False
        self.frames_stale += 1
        self._log_limited("stale", f"dropped a cloud {age * 1e3:.0f} ms old (max_frame_age {max_age:g} s): "
                          "processing is slower than the sensor", count=self.frames_stale)
        return True

    def _lost_frames_text(self) -> str:
        """Why WARN, when more than LOST_SHARE_WARN of the sensor's frames of the last LOST_WINDOW_S
        were skipped or stale; else ''."""
        now = time.monotonic()
        self._window.append((now, self.frames, self.frames_skipped + self.frames_stale))
        while now - self._window[0][0] > LOST_WINDOW_S:
            self._window.popleft()
        _, done0, lost0 = self._window[0]
        done, lost = self.frames - done0, self.frames_skipped + self.frames_stale - lost0
        if lost == 0 or lost <= LOST_SHARE_WARN * (done + lost):
            return ""
        return (f"{lost} of {done + lost} frames ({100 * lost / (done + lost):.0f}%) skipped or stale in the last "
                f"{LOST_WINDOW_S:.0f} s: processing is slower than the sensor (lower the rate, crop or "
                "downsample: voxel_size)")

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(name="t3d_ros: perception", hardware_id=self._last_frame_id or "none")
        lat = np.array(self._latencies) if self._latencies else np.zeros(1)
        values = {
            "frames_processed": self.frames,
            "frames_stale_dropped": self.frames_stale,
            "frames_rejected": sum(self.rejected.values()),
            "processing_errors": self.errors,
            "processing_ms_p50": f"{np.percentile(lat, 50):.2f}",
            "processing_ms_p95": f"{np.percentile(lat, 95):.2f}",
            "clusters_last_frame": self._last_clusters,
            "oversize_clusters_last_frame": self._last_oversize,
            "oversize_clusters_left_out": self.oversize_total,
            "frames_skipped_estimate": self.frames_skipped,
            "ground_tilt_roll_deg": "n/a" if (tilt := self._ground_tilt()) is None else f"{tilt[0]:.1f}",
            "ground_tilt_pitch_deg": "n/a" if tilt is None else f"{tilt[1]:.1f}",
            "tracking_frame": ("off" if self.tracker is None else "cloud" if self.odometry is None
                               else self._odom_frames[0] or "odometry"),
            "frames_without_odometry": self.frames_without_odometry,
            "track_scene_resets": 0 if self.tracker is None else self.tracker.scene_resets,
            "odometry_rejected": self.odometry_rejected,
            "mode": self.mode,
        }
        values.update({f"rejected.{cause}": n for cause, n in sorted(self.rejected.items())})
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        if self.errors:
            status.level, status.message = DiagnosticStatus.ERROR, f"{self.errors} frame(s) failed in processing"
        elif self.rejected:
            status.level, status.message = DiagnosticStatus.WARN, "malformed clouds rejected: " + ", ".join(
                f"{c} x{n}" for c, n in sorted(self.rejected.items()))
        elif self.frames == 0:
            status.level, status.message = DiagnosticStatus.WARN, f"no cloud received on '{self.sub.topic_name}'"
        else:
            status.level, status.message = DiagnosticStatus.OK, "ok"
        if self.oversize_total:  # reported, never silent (issue 5)
            status.message += f"; {self.oversize_total} cluster(s) above max_cluster_points left out"
        warnings = [self._lost_frames_text()]
        new_blind, self._odometry_reported = (self.frames_without_odometry - self._odometry_reported,
                                              self.frames_without_odometry)
        if new_blind:  # WARN while it happens: odometry late, stopped or on another clock
            warnings.append(f"{new_blind} frame(s) without odometry since the last report: published untracked")
        new_stale, self._stale_reported = self.frames_stale - self._stale_reported, self.frames_stale
        resets = 0 if self.tracker is None else self.tracker.scene_resets  # a new tracker counts from 0
        last_tracker, last_resets = self._resets_reported
        new_resets = resets - (last_resets if last_tracker is self.tracker else 0)
        self._resets_reported = (self.tracker, resets)
        if new_resets >= SCENE_RESETS_WARN:  # one is a bag that jumps; more is no sequence at all
            warnings.append(f"the tracks started over {new_resets} times since the last report: consecutive "
                            "clouds do not continue each other (several sensors on one topic? unrelated frames: "
                            "tracking: false)")
        if new_stale:  # WARN only while it happens: a stale frame now and then is not a lasting fault
            warnings.append(f"{new_stale} stale cloud(s) dropped since the last report (older than max_frame_age)")
        for text in filter(None, warnings):  # the first makes an OK status WARN; all are named
            if status.level == DiagnosticStatus.OK:
                status.level, status.message = DiagnosticStatus.WARN, text
            else:
                status.message += f"; {text}"
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_diag.publish(msg)


def main(args: list[str] | None = None) -> int:
    return run_node(PerceptionNode, "perception_node", args)


if __name__ == "__main__":
    sys.exit(main())
