"""Labels on real frames, model by model: what matters on a robot, next to the simulated test set.

For every model card given, and for each way the node can use it (the network's label as it is; with
the card's calibrated class thresholds; with thresholds and the box size limits; with the ground check
as well, as the shipped params run it), on the labelled KITTI frames (``--kitti``, evaluated as
``eval-kitti`` does: objects within ``--max-range`` in the camera's view) and the unlabelled odometry
frames (``--odometry``):

- road-user precision: the share of car/truck/pedestrian/cyclist labels in the camera's view that lie
  on an object of that class (the target: >= 0.8);
- labelled objects found with the right label;
- how many clusters of the odometry frames (a residential street, mostly hedges, trees and walls)
  the node calls a road user, per frame, and how many it calls ``unknown``;
- the card's simulated test accuracy and calibration error.

    python -m t3d_ros.bench.labels --models now=models/t3d_tiny.json 2026-11-23=da7d213:models/t3d_tiny.json \\
        --kitti KITTI_ROOT --odometry ODOMETRY_ROOT --out benchmarks/results/labels

Writes ``OUT.json`` and ``OUT.md``. The real frames are for evaluation only: nothing here trains or
tunes on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from t3d_ros.bench.baseline import card_at
from t3d_ros.classes import ROAD_USERS
from t3d_ros.classify.postcheck import without_ground_check

MODES = {  # what the node applies on top of the network's label
    "network label": {"class_thresholds": "", "size_check": False, "no_thresholds": True},
    "+ class thresholds": {"class_thresholds": "", "size_check": False},
    "+ size check": {"class_thresholds": "", "size_check": True, "no_ground_check": True},
    "+ ground check (shipped)": {"class_thresholds": "", "size_check": True},
}


def _perception(card: str, mode: dict):
    from t3d_ros.perception import Perception

    p = Perception.from_params({"size_check": mode["size_check"]}, model=card, device="cpu",
                               warn=lambda m: print(m, file=sys.stderr))
    if mode.get("no_thresholds"):
        p.class_thresholds, p.sparse_points = {}, 0
    if mode.get("no_ground_check"):  # the box limits alone, as shipped before 2026-11-29's night
        p.size_limits = without_ground_check(p.size_limits)
    return p


def kitti_eval(perception, root: Path, max_range: float, frames: list[str] | None = None) -> dict:
    """eval-kitti's summary of ``perception`` on the labelled ``frames`` under ``root`` (default: all)."""
    from t3d_ros.io.kitti import read_calib, read_labels, read_velodyne
    from t3d_ros.offline.eval.kitti import evaluate_frame, frame_ids, summarize, training_dir

    t = training_dir(root)
    results = []
    for fid in frames or frame_ids(root):
        calib = read_calib(t / "calib" / f"{fid}.txt")
        pts = read_velodyne(t / "velodyne" / f"{fid}.bin")
        res = perception.process(pts)
        results.append(evaluate_frame(fid, pts, read_labels(t / "label_2" / f"{fid}.txt", calib), calib,
                                      res.detections, max_range=max_range))
    return summarize(results)


def odometry_labels(perception, root: Path) -> dict:
    """Labels per frame on the unlabelled frames under ``root``: mean count per class, clusters per frame."""
    from t3d_ros.io.frames import iter_frames

    counts: Counter[str] = Counter()
    frames = clusters = 0
    for _, pts in iter_frames([root]):
        dets = perception.process(pts).detections
        counts.update(d.label for d in dets)
        frames += 1
        clusters += len(dets)
    per_frame = {k: round(v / max(frames, 1), 1) for k, v in sorted(counts.items())}
    return {"frames": frames, "clusters_per_frame": round(clusters / max(frames, 1), 1), "labels_per_frame": per_frame,
            "road_users_per_frame": round(sum(counts[c] for c in ROAD_USERS) / max(frames, 1), 1)}


def sim_metrics(card: dict) -> dict:
    data = card.get("metrics", {}).get("data", {})
    sim = data.get("sim", {})
    cal = card.get("calibration", {})
    return {"accuracy": sim.get("accuracy"), "mean_class_accuracy": sim.get("mean_class_accuracy"),
            "ece_before": cal.get("ece_before"), "ece_after": cal.get("ece_after"),
            "temperature": cal.get("temperature"), "class_thresholds": cal.get("class_thresholds"),
            "sparse": cal.get("sparse")}


def _f(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(results: dict) -> str:
    lines = ["| model | node applies | road-user labels in view, right / all (precision) | objects right / found / "
             "all | real precision car / truck / ped / cyclist | odometry: road-user labels / unknown / clusters "
             "per frame | sim acc / mean-class | ECE before / after |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for mode, m in r["modes"].items():
            a = m["kitti"]["classes"]["all"] if m.get("kitti") else None
            per = " / ".join(_f(m["kitti"]["classes"][c]["precision"]) for c in ROAD_USERS) if a else "-"
            odo = m.get("odometry", {})
            sim = r["sim"]
            lines.append(
                f"| {name} | {mode} | " + (f"{a['true']}/{a['detections']} ({_f(a['precision'])})" if a else "-")
                + " | " + (f"{a['right']} / {a['found']} / {a['objects']}" if a else "-") + f" | {per} | "
                + (f"{odo['road_users_per_frame']} / {odo['labels_per_frame'].get('unknown', 0)} / "
                   f"{odo['clusters_per_frame']}" if odo else "-")
                + f" | {_f(sim['accuracy'], 3)} / {_f(sim['mean_class_accuracy'], 3)} | {_f(sim['ece_before'], 3)} / "
                f"{_f(sim['ece_after'], 3)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", required=True, help="model cards: name=path.json, path.json or "
                    "name=COMMIT:models/t3d_tiny.json (a commit's shipped card, extracted with git archive)")
    ap.add_argument("--kitti", type=Path, help="labelled KITTI object root (training/)")
    ap.add_argument("--odometry", type=Path, help="folder of unlabelled frames")
    ap.add_argument("--max-range", type=float, default=50.0, help="evaluate labelled objects within this range [m]")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/labels"), help="writes OUT.json, OUT.md")
    args = ap.parse_args(argv)
    results = {}
    for item in args.models:
        name, card_path = card_at(item)
        path = str(card_path)
        card = json.loads(card_path.read_text())
        r = {"card": item.rpartition("=")[2], "sim": sim_metrics(card), "modes": {}}
        for mode, settings in MODES.items():
            p = _perception(path, settings)
            m = {}
            if args.kitti:
                m["kitti"] = kitti_eval(p, args.kitti, args.max_range)
            if args.odometry:
                m["odometry"] = odometry_labels(p, args.odometry)
            r["modes"][mode] = m
            print(f"{name} / {mode}: done", file=sys.stderr)
        results[name] = r
    text = markdown(results)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"max_range": args.max_range, "results": results},
                                                        indent=1, default=lambda o: o.tolist()
                                                        if isinstance(o, np.ndarray) else str(o)) + "\n")
    args.out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
