"""``python -m t3d_ros detect FILE... --json OUT [--png OUT]``: the node's pipeline on files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from t3d_ros.config import load_ros_params, pipeline_config
from t3d_ros.frames import read_points
from t3d_ros.perception import Perception


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, help="frames: KITTI .bin, .npy, .pcd or .csv")
    parser.add_argument("--json", type=Path, help="write detections here ('-' = stdout; default stdout)")
    parser.add_argument("--png", type=Path, help="bird's-eye PNG; with several frames, a folder for one PNG each")
    parser.add_argument("--params", type=Path, help="a ROS parameter file such as config/perception.yaml")
    parser.add_argument("--model", help="classifier model card; default: the params file's model_path "
                        "('' = clustering only)")
    parser.add_argument("--device", default="auto", help="classifier device: auto, cpu or cuda")


def run(args: argparse.Namespace) -> int:
    params = load_ros_params(args.params) if args.params else {}
    model = args.model if args.model is not None else params.get("model_path", "")
    classifier = None
    if model:
        from t3d_ros.classifier import Classifier

        classifier = Classifier(model, args.device, warn=lambda m: print(m, file=sys.stderr))
    perception = Perception(pipeline_config(params), classifier, float(params.get("score_threshold", 0.0)))
    results = []
    for path in args.files:
        points = read_points(path)
        res = perception.process(points)
        results.append({
            "frame": str(path),
            "detections": [d.to_json() for d in res.detections],
            "timing_ms": {k: round(v, 3) for k, v in res.timings_ms.items()},
        })
        if args.png:
            from t3d_ros.viz import bev_png

            png = args.png if len(args.files) == 1 else args.png / f"{path.stem}.png"
            bev_png(png, points, res.detections, title=f"{path.name}: {len(res.detections)} detections")
        print(f"{path}: {len(res.detections)} detections in {sum(res.timings_ms.values()):.1f} ms",
              file=sys.stderr)
    out = results[0] if len(results) == 1 else results
    text = json.dumps(out, indent=1)
    if args.json is None or str(args.json) == "-":
        print(text)
    else:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0
