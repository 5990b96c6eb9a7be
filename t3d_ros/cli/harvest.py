"""``python -m t3d_ros harvest BAG|FRAMES... --out DIR``: every cluster of your recordings as a file, plus
contact sheets to sort them by eye (see ``t3d_ros/offline/harvest.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", type=Path, nargs="+", help="frames (.bin, .pcd, .npy), folders of them, or MCAP bags")
    p.add_argument("--out", type=Path, required=True, help="folder: unsorted/*.npy, clusters.csv, sheet_*.png")
    p.add_argument("--params", type=Path, help="a ROS parameter file such as config/perception.yaml")
    p.add_argument("--model", help="classifier model card; default: the params file's model_path, else the "
                   "shipped model ('' = no labels)")
    p.add_argument("--min-points", type=int, default=10, help="leave out smaller clusters (default 10)")
    p.add_argument("--max-range", type=float, default=80.0, help="leave out clusters farther than this [m]")
    p.add_argument("--every", type=int, default=1, help="take every n-th frame (consecutive frames repeat)")
    p.add_argument("--per-sheet", type=int, default=48, help="clusters per contact sheet")
    p.add_argument("--labels", help="only clusters the node gives one of these labels, comma-separated (e.g. "
                   "car,truck,pedestrian,cyclist: check its road-user labels by eye; 'unknown' for the rest)")


def run(args: argparse.Namespace) -> int:
    from t3d_ros.classify.classifier import SHIPPED_MODEL
    from t3d_ros.config import load_ros_params
    from t3d_ros.io.frames import iter_frames
    from t3d_ros.offline.harvest import contact_sheets, harvest
    from t3d_ros.perception import Perception
    from t3d_ros.segment.level import tilt_advice

    params = load_ros_params(args.params) if args.params else {}
    labels = None
    if args.labels:
        from t3d_ros.classes import CLASSES, UNKNOWN

        labels = [w.strip() for w in args.labels.split(",") if w.strip()]
        bad = [w for w in labels if w not in (*CLASSES, UNKNOWN)]
        if bad:
            print(f"harvest: --labels {', '.join(bad)}: not a label; choose from {', '.join((*CLASSES, UNKNOWN))}",
                  file=sys.stderr)
            return 2
    model = args.model if args.model is not None else params.get("model_path") or SHIPPED_MODEL
    perception = Perception.from_params(params, model=model, device="cpu", warn=lambda m: print(m, file=sys.stderr))
    tilts: list[tuple[float, float]] = []
    clusters = harvest(iter_frames(args.inputs), perception, args.out, args.min_points, args.max_range,
                       max(args.every, 1), labels, tilts)
    c = perception.config
    if advice := tilt_advice(tilts, c.sensor_roll_deg, c.sensor_pitch_deg, f"median over {len(tilts)} frame(s)"):
        print(f"warning: {advice}; harvest again with those angles in --params", file=sys.stderr)
    sheets = contact_sheets(clusters, args.out, args.per_sheet)
    print(f"harvested {len(clusters)} clusters into {args.out / 'unsorted'}; {len(sheets)} contact sheet(s) "
          f"{args.out}/sheet_*.png. Move files into {args.out}/<class>/ folders, then: python -m t3d_ros train "
          f"--finetune models/t3d_tiny.pt --data sim,folder:{args.out}", file=sys.stderr)
    return 0
