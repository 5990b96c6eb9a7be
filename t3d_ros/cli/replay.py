"""``python -m t3d_ros replay BAG``: publish a bag's PointCloud2 clouds over ROS 2 (``replay_node``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``replay`` options to ``parser``."""
    parser.add_argument("bag", type=Path, help="rosbag2 MCAP bag: a .mcap file or a bag folder")
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument("--rate", type=float, default=1.0, help="speed factor on the recorded timing (default 1)")
    timing.add_argument("--hz", type=float, default=0.0, help="publish clouds at this fixed rate instead [Hz]")
    parser.add_argument("--loop", action="store_true", help="start over at the end")
    parser.add_argument("--topic", action="append", help="PointCloud2 topic to publish (repeatable; default all)")
    parser.add_argument("--restamp", action="store_true", help="stamp headers with the current time (default: the "
                        "recorded stamps; a loop's later passes shifted forward so that time never goes back)")
    parser.add_argument("--no-clock", action="store_true", help="do not publish /clock (default: the stamp of every "
                        "cloud, for nodes with use_sim_time:=true)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before the first message")
    parser.add_argument("--no-ground-truth", action="store_true", help="do not publish ~/ground_truth")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="rename a topic, e.g. /points:=/lidar/points (repeatable)")


def run(args: argparse.Namespace) -> int:
    """``python -m t3d_ros replay``: the node with the options as parameters."""
    ros_args = ["replay_node"]
    if args.remap:
        ros_args += ["--ros-args", *[a for r in args.remap for a in ("-r", r)]]
    from t3d_ros.ros.replay_node import replay  # rclpy only when it runs

    return replay(ros_args, {
        "bag": str(args.bag), "rate": float(args.rate), "hz": float(args.hz), "loop": bool(args.loop),
        "topic": ",".join(args.topic or []), "restamp": bool(args.restamp), "delay": float(args.delay),
        "publish_ground_truth": not args.no_ground_truth, "clock": not args.no_clock,
    })
