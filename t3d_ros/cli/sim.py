"""``python -m t3d_ros sim``: write simulated LiDAR frames (KITTI .bin + ground truth) to a folder,
and/or record them with their ground truth into an MCAP bag (``--bag``). ``--sequence N``: N frames of
one scene in which traffic and people move and the sensor drives on (10 Hz), each frame in its own
sensor frame, with ``<stem>.tracks.json`` beside each frame (track ids = instance ids, velocities)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from t3d_ros.offline.sim.io import save_frame
from t3d_ros.offline.sim.lidar import simulate
from t3d_ros.offline.sim.sensors import SENSORS, get_sensor

if TYPE_CHECKING:
    from t3d_ros.offline.sim.record import SimBagRecorder


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
    parser.add_argument("--sequence", type=int, metavar="N", help="N frames of ONE scene with moving objects and a "
                        "moving sensor, at the sensor's rate (10 Hz), instead of --frames independent scenes; "
                        "--out also gets <stem>.tracks.json per frame (track ids, velocities)")
    parser.add_argument("--ego-speed", type=float, help="with --sequence: the sensor's speed along +x in m/s "
                        "(default: drawn 0-10 m/s from the seed)")
    parser.add_argument("--follow-road", action="store_true", help="with --sequence: drive along the ego's lane, "
                        "turning with the road (the ground truth's ego gets its heading), instead of along +x")


def run(args: argparse.Namespace) -> int:
    """Simulate ``args.frames`` frames into ``args.out``; returns the exit code."""
    if args.frames < 0 or args.density <= 0:
        print("sim: --frames must be >= 0 and --density > 0")
        return 2
    sequence, ego_speed = getattr(args, "sequence", None), getattr(args, "ego_speed", None)
    if (sequence is not None and sequence < 0) or (ego_speed is not None and ego_speed < 0):
        print("sim: --sequence and --ego-speed must be >= 0")
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
        if sequence is not None:
            total = _run_sequence(args, sequence, ego_speed, bag)
        else:
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
    n = args.frames if sequence is None else sequence
    what = "frames" if sequence is None else f"frames of one moving scene (seed {args.seed})"
    print(f"sim: wrote {n} {args.sensor} {what} ({total} points) to {where} in {dt:.1f} s")
    return 0


def _run_sequence(args: argparse.Namespace, frames: int, ego_speed: float | None,
                  bag: SimBagRecorder | None) -> int:
    """Write the ``frames`` frames of the sequence of ``args.seed``: ``<seed>_<index>`` stems in ``args.out``
    (the files ``save_frame`` writes plus ``.tracks.json``), and into ``bag``; returns the number of points."""
    from t3d_ros.offline.sim.sequence import iter_sequence

    sensor = get_sensor(args.sensor)
    total = 0
    for sf in iter_sequence(args.seed, sensor, frames, 1.0 / sensor.rate_hz, ego_speed, args.density,
                            getattr(args, "follow_road", False)):
        stem = f"{args.seed:06d}_{sf.index:04d}"
        if args.out:
            save_frame(args.out, stem, sf.scene, sf.frame)
            doc = {"sensor": sensor.name, "seed": int(args.seed), "frame": stem, **sf.ground_truth_json()}
            (Path(args.out) / f"{stem}.tracks.json").write_text(json.dumps(doc, indent=1))
        if bag is not None:
            bag.add(sf.scene, sf.frame, args.seed)
        total += len(sf.frame)
    return total
