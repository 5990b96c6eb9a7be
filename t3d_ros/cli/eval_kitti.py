"""``python -m t3d_ros eval-kitti ROOT``: the node's detections against KITTI ``label_2`` boxes (rules:
``t3d_ros/offline/eval/kitti.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from t3d_ros.classes import ROAD_USERS
from t3d_ros.io.kitti import read_calib, read_labels, read_velodyne, thin_rings
from t3d_ros.offline.eval.kitti import eval_png, evaluate_frame, format_table, frame_ids, summarize, training_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``eval-kitti`` options to ``parser``."""
    parser.add_argument("root", type=Path, help="KITTI object root (holding training/) or its training/ folder")
    parser.add_argument("--frames", nargs="+", help="frame ids such as 000000 (default: every labelled frame)")
    parser.add_argument("--max-range", type=float, default=50.0, help="evaluate objects within this xy range [m] "
                        "(default 50)")
    parser.add_argument("--min-points", type=int, default=10, help="evaluate objects with at least this many "
                        "returns inside their box (default 10)")
    parser.add_argument("--margin", type=float, default=0.5, help="a detection centre may lie this far outside "
                        "the labelled footprint [m] (default 0.5)")
    parser.add_argument("--image-width", type=int, default=1242, help="camera image width [px] (default 1242)")
    parser.add_argument("--json", type=Path, help="write per-frame matches and the summary here ('-' = stdout)")
    parser.add_argument("--png", type=Path, help="folder for one bird's-eye PNG per frame (<frame>_eval.png)")
    parser.add_argument("--params", type=Path, help="a ROS parameter file such as config/perception.yaml")
    parser.add_argument("--model", help="classifier model card; default: the params file's model_path, else the "
                        "shipped model ('' = clustering only)")
    parser.add_argument("--device", default="auto", help="classifier device: auto, cpu or cuda")
    parser.add_argument("--every-ring", type=int, default=1, metavar="N",
                        help="keep the returns of every N-th of the 64 lasers: 2 is a 32-beam view of the same "
                             "streets, 4 a 16-beam one (a sparser sensor; objects keep --min-points of what is left)")


def run(args: argparse.Namespace) -> int:
    """Detect and evaluate every chosen frame; prints the table; the exit code."""
    from t3d_ros.cli.detect import build_perception

    t = training_dir(args.root)
    ids = args.frames or frame_ids(args.root)
    if not ids:
        raise FileNotFoundError(f"{args.root}: no frame with velodyne/, label_2/ and calib/ files")
    perception = build_perception(args.params, args.model, args.device)
    frames = []
    for fid in ids:
        calib = read_calib(t / "calib" / f"{fid}.txt")
        labels = read_labels(t / "label_2" / f"{fid}.txt", calib)
        points = thin_rings(read_velodyne(t / "velodyne" / f"{fid}.bin"), args.every_ring)
        res = perception.process(points)
        fe = evaluate_frame(fid, points, labels, calib, res.detections, args.max_range, args.min_points,
                            args.margin, args.image_width)
        frames.append(fe)
        if args.png:
            eval_png(args.png / f"{fid}_eval.png", points, fe, calib, args.max_range, args.image_width)
        n_eval = sum(1 for s in fe.gt_status if not s)
        found = sum(1 for k, s in enumerate(fe.gt_status) if not s and fe.gt_match[k] >= 0)
        print(f"{fid}: {found}/{n_eval} objects found, {int(fe.det_scope.sum())} detections in view",
              file=sys.stderr)
    summary = summarize(frames)
    scope = (f"objects within {args.max_range:g} m in the camera's view with >= {args.min_points} returns, "
             f"{len(frames)} frame(s)" + (f", one laser in {args.every_ring}" if args.every_ring > 1 else ""))
    sim = sim_metrics(perception)
    print(f"eval-kitti: {scope}\n{headline(summary, sim)}\n{format_table(summary)}")
    if args.json:
        doc = {"settings": {"max_range": args.max_range, "min_points": args.min_points, "margin": args.margin,
                            "image_width": args.image_width, "every_ring": args.every_ring},
               "model": (str(perception.classifier.card["path"]) if perception.classifier is not None else None),
               "frames": [fe.to_json() for fe in frames], **summary, "sim_test": sim}
        text = json.dumps(doc, indent=1)
        if str(args.json) == "-":
            print(text)
        else:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(text + "\n")
    return 0


def sim_metrics(perception) -> dict:
    """Per class, from the model's card ({} without a classifier or without its test evaluation):
    ``precision``, ``recall`` of the network's label (argmax) on the simulated test set (the confusion
    matrix of its metrics), and ``labelled_precision``, ``labelled_recall`` of the labels the node gives
    (above the card's thresholds) on the simulated calibration split (its calibration report), which is
    what the real columns measure."""
    clf = perception.classifier
    return card_sim_metrics(clf.card, clf.classes) if clf is not None else {}


def card_sim_metrics(card: dict, classes: list[str]) -> dict:
    """``sim_metrics`` of a model card."""
    data = card.get("metrics", {}).get("data", {})
    doc = data.get("sim") or next(iter(data.values()), None)
    if not doc or "confusion" not in doc:
        return {}
    import numpy as np

    conf = np.asarray(doc["confusion"], float)
    classes = card.get("metrics", {}).get("classes", classes)
    labelled = card.get("calibration", {}).get("precision_recall", {})
    out = {}
    for i, name in enumerate(classes):
        col, row = conf[:, i].sum(), conf[i].sum()
        out[name] = {"precision": round(conf[i, i] / col, 4) if col else None,
                     "recall": round(conf[i, i] / row, 4) if row else None, "clusters": int(row),
                     "labelled_precision": labelled.get(name, {}).get("precision"),
                     "labelled_recall": labelled.get(name, {}).get("recall")}
    return out


def headline(summary: dict, sim: dict) -> str:
    """The numbers that matter on real data, first: how many road-user labels in view lie on an object of
    that class, and how many labelled objects got the right label; then real against simulated per class."""
    a = summary["classes"]["all"]
    prec = "-" if a["precision"] is None else f"{a['precision']:.2f}"
    lines = [f"road-user labels in view on an object of that class: {a['true']}/{a['detections']} (precision {prec}); "
             f"labelled objects with the right label: {a['right']}/{a['objects']}, found with any label: "
             f"{a['found']}/{a['objects']}"]
    if sim:
        lines.append("real: labels as the node gives them (thresholds, checks); sim labelled: above the card's "
                     "thresholds, on the simulated calibration split; sim network: the argmax on the simulated "
                     "test set")
        lines.append(f"{'class':<11} {'real precision':>14} {'real recall':>11}   {'sim labelled P / R':>18}   "
                     f"{'sim network P / R':>17}")

        def f(v):
            return "-" if v is None else f"{v:.2f}"
        for cls in ROAD_USERS:
            r, s = summary["classes"].get(cls, {}), sim.get(cls, {})
            lines.append(f"{cls:<11} {f(r.get('precision')):>14} {f(r.get('recall')):>11}   "
                         f"{f(s.get('labelled_precision')) + ' / ' + f(s.get('labelled_recall')):>18}   "
                         f"{f(s.get('precision')) + ' / ' + f(s.get('recall')):>17}")
    return "\n".join(lines)
