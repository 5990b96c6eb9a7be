"""``make demo``: the simulated LiDAR and perception_node from a colcon install, over DDS.

Starts both installed executables with the shipped parameter files, listens to their topics for a
few seconds, prints one row per processed frame (detections by class, processing time, latency from
the cloud's stamp to the arrival of its detections) and writes a bird's-eye PNG of the last frame.

    . install/local_setup.sh
    python -m t3d_ros.cli.demo --install install --sensor hdl64 --seconds 10 --png out/demo_bev.png
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np


def _start(install: Path, executable: str, params: str, extra: list[str], log: Path) -> subprocess.Popen:
    exe = install / "t3d_ros" / "lib" / "t3d_ros" / executable
    cfg = install / "t3d_ros" / "share" / "t3d_ros" / "config" / params
    if not exe.is_file():
        sys.exit(f"{exe} not found: run `make build` (colcon build) first")
    cmd = [str(exe), "--ros-args", "--params-file", str(cfg), *extra]
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--install", type=Path, default=Path("install"), help="colcon install space")
    ap.add_argument("--sensor", default="hdl64", help="vlp16, hdl32, hdl64 or os1-128")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to watch after the first frame")
    ap.add_argument("--png", type=Path, default=Path("out/demo_bev.png"), help="bird's-eye PNG of the last frame")
    args = ap.parse_args(argv)
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != "LOCALHOST":
        print("note: ROS_AUTOMATIC_DISCOVERY_RANGE is not LOCALHOST; `make demo` sets it to keep DDS on this machine")

    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import String
    from visualization_msgs.msg import Marker, MarkerArray

    from t3d_ros.detection import Detection
    from t3d_ros.offline.viz import bev_png
    from t3d_ros.ros.convert import msg_to_points

    args.png.parent.mkdir(parents=True, exist_ok=True)
    logs = args.png.parent
    procs = [
        _start(args.install, "sim_lidar_node", "sim.yaml", ["-p", f"sensor:={args.sensor}"], logs / "demo_sim.log"),
        _start(args.install, "perception_node", "perception.yaml",  # tracks in the simulated ego's odometry frame
               ["-p", "publish_detections_json:=true", "-p", "odom_topic:=odom"], logs / "demo_perception.log"),
    ]
    rclpy.init()
    node = Node("t3d_demo_monitor")
    clouds: dict[int, PointCloud2] = {}
    truth: dict[int, MarkerArray] = {}
    rows: list[dict] = []
    stamp_key = lambda h: h.stamp.sec * 10**9 + h.stamp.nanosec  # noqa: E731

    def keep(store: dict, key: int, msg) -> None:
        store[key] = msg
        while len(store) > 5:
            store.pop(min(store))

    def on_detections(msg: String) -> None:
        doc = json.loads(msg.data)
        doc["stamp_ns"] = doc["stamp"]["sec"] * 10**9 + doc["stamp"]["nanosec"]
        doc["latency_ms"] = (time.time_ns() - doc["stamp_ns"]) * 1e-6
        rows.append(doc)
        counts = Counter(d["label"] for d in doc["detections"])
        t = doc["timing_ms"]
        print(f"{len(rows):5d} {doc['stamp_ns'] * 1e-9:.2f} {doc['num_points']:8d} {len(doc['detections']):6d}  "
              f"{sum(t.values()):8.1f} {doc['latency_ms']:9.1f}   "
              f"{' '.join(f'{k}:{v}' for k, v in sorted(counts.items()))}", flush=True)

    node.create_subscription(PointCloud2, "points", lambda m: keep(clouds, stamp_key(m.header), m),
                             qos_profile_sensor_data)
    node.create_subscription(MarkerArray, "/sim_lidar_node/ground_truth",
                             lambda m: keep(truth, stamp_key(m.markers[0].header), m), 10)
    node.create_subscription(String, "/perception_node/detections_json", on_detections, 10)
    print(f"starting sim_lidar_node ({args.sensor}) and perception_node; logs in {logs}/demo_*.log")
    print(f"{'frame':>5} {'stamp':>13} {'points':>8} {'objects':>6}  {'proc_ms':>8} {'latency_ms':>9}   labels")
    try:
        start = time.monotonic()
        while not rows and time.monotonic() - start < 90:  # the simulator builds its scenes first
            rclpy.spin_once(node, timeout_sec=0.1)
            if any(p.poll() is not None for p in procs):
                break
        end = time.monotonic() + args.seconds
        while rows and time.monotonic() < end and all(p.poll() is None for p in procs):
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    if not rows:
        print("no detections arrived; see the logs:", file=sys.stderr)
        for log in ("demo_sim.log", "demo_perception.log"):
            print(f"--- {log}\n{(logs / log).read_text()[-3000:]}", file=sys.stderr)
        node.destroy_node()
        rclpy.try_shutdown()
        return 1
    proc_ms = np.array([sum(r["timing_ms"].values()) for r in rows])
    lat_ms = np.array([r["latency_ms"] for r in rows])
    print(f"\n{len(rows)} frames: processing p50 {np.median(proc_ms):.1f} ms (p95 {np.percentile(proc_ms, 95):.1f}), "
          f"stamp-to-detections latency p50 {np.median(lat_ms):.1f} ms")
    for doc in reversed(rows):  # the last frame whose cloud we also received
        key = doc["stamp_ns"]
        if key in clouds:
            dets = [Detection(d["label"], d["score"], np.array(d["center"]), np.array(d["size"]), d["yaw"],
                              d["num_points"]) for d in doc["detections"]]
            gt = [("truth", np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z]),
                   np.array([m.scale.x, m.scale.y, m.scale.z]),
                   2 * float(np.arctan2(m.pose.orientation.z, m.pose.orientation.w)))
                  for m in truth.get(key, MarkerArray()).markers if m.type == Marker.CUBE]
            bev_png(args.png, msg_to_points(clouds[key]), dets, ground_truth=gt,
                    title=f"sim {args.sensor}: {len(dets)} detections (solid), ground truth dashed")
            print(f"bird's-eye view of the last frame: {args.png}")
            break
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
