"""``python -m t3d_ros sim``: write simulated LiDAR frames (KITTI .bin + ground truth) to a folder,
and/or record them with their ground truth into an MCAP bag (``--bag``)."""

from __future__ import annotations

import argparse
import time

from t3d_ros.offline.sim.io import save_frame
from t3d_ros.offline.sim.lidar import simulate
from t3d_ros.offline.sim.sensors import SENSORS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sim`` options to ``parser``."""
    parser.add_argument(
        "--sensor", default="hdl64", choices=sorted(SENSORS), help="sensor model (default hdl64)"
    )
    parser.add_argument("--frames", type=int, default=10, help="number of frames (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first frame; frame i uses seed + i")
    parser.add_argument("--density", type=float, default=1.0, help="object density scale (default 1.0)")
    parser.add_argument("--out", help="output folder for .bin + ground-truth files")
    parser.add_argument("--bag", help="record the frames into this MCAP bag (.mcap): PointCloud2 on /points in "
                        "the sensor's driver layout at its rate, ground-truth JSON on /ground_truth")


def run(args: argparse.Namespace) -> int:
    """Simulate ``args.frames`` frames into ``args.out``; returns the exit code."""
    if args.frames < 0 or args.density <= 0:
        print("sim: --frames must be >= 0 and --density > 0")
        return 2
    if not args.out and not args.bag:
        print("sim: give --out FOLDER and/or --bag FILE.mcap")
        return 2
    bag = None
    if args.bag:
        from t3d_ros.offline.sim.record import SimBagRecorder  # needs the offline mcap packages

        bag = SimBagRecorder(args.bag, args.sensor)
    t0 = time.perf_counter()
    total = 0
    try:
        for i in range(args.frames):
            seed = args.seed + i
            scene, frame = simulate(seed, args.sensor, args.density)
            if args.out:
                save_frame(args.out, f"{seed:06d}", scene, frame)
            if bag is not None:
                bag.add(scene, frame, seed)
            total += len(frame)
    finally:
        if bag is not None:
            bag.close()  # a readable bag (summary and index) even when interrupted
    dt = time.perf_counter() - t0
    where = " and ".join(str(p) for p in (args.out, bag and bag.path) if p)
    print(f"sim: wrote {args.frames} {args.sensor} frames ({total} points) to {where} in {dt:.1f} s")
    return 0
