"""Which simulated clusters does the network think your real clusters are like?

Takes a ``harvest`` folder (its ``clusters.csv`` and cluster files), embeds every cluster the model
labelled (``--labels``; by default the road users) beyond ``--min-range`` with the network's last
hidden layer (``offline/eval/neighbours.py``), and finds its ``--k`` nearest clusters among the
simulated validation clusters (``--sim-seeds`` as in ``train``). Writes a contact sheet, one row per
real cluster: the real cluster (its label and score), then its ``--show`` nearest simulated clusters
(their true class and cosine similarity); prints the classes and sensors of the neighbours.

    .venv/bin/python -m t3d_ros harvest ../shared/data/kitti_odometry --out out/harvest_ru \\
        --params config/perception.yaml --labels car,truck,pedestrian,cyclist
    .venv/bin/python scripts/real_neighbours.py out/harvest_ru --min-range 18 --out docs/real_neighbours.png

``--census car`` on a harvest of every cluster instead counts, by range, how many real clusters the network
places among simulated cars, next to the same count for simulated clusters (docs/realism.md).

The real clusters are only looked at: nothing here trains or tunes anything the node uses.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from t3d_ros.classes import ROAD_USERS
from t3d_ros.classify.classifier import load_card
from t3d_ros.offline.data import ClusterSet, load_data, with_classes
from t3d_ros.offline.eval.neighbours import embed, nearest
from t3d_ros.offline.harvest import Harvested, contact_sheets
from t3d_ros.segment.boxes import fit_boxes
from t3d_ros.segment.pipeline import PipelineConfig


def _size(points: np.ndarray) -> np.ndarray:
    """Length, width and height (m) of one cluster's box, fitted as the node fits it."""
    xyz = np.ascontiguousarray(points[:, :3], np.float32)
    return fit_boxes(xyz, np.array([0, len(xyz)]), PipelineConfig().box_method)[0, 3:6]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("harvest", type=Path, help="a harvest folder (clusters.csv and the cluster files)")
    p.add_argument("--model", default="models/t3d_tiny.json")
    p.add_argument("--labels", default=",".join(ROAD_USERS), help="the labels (or guesses) to look at")
    p.add_argument("--min-range", type=float, default=0.0, help="only clusters at least this far, m")
    p.add_argument("--sim-seeds", type=int, default=400, help="as in train: the validation split's scenes")
    p.add_argument("--cache", default="out/cache")
    p.add_argument("--k", type=int, default=10, help="neighbours counted per real cluster")
    p.add_argument("--show", type=int, default=3, help="neighbours drawn per real cluster")
    p.add_argument("--rows", type=int, default=8, help="real clusters drawn (the farthest first)")
    p.add_argument("--out", type=Path, default=Path("out/real_neighbours.png"))
    p.add_argument("--census", metavar="CLASS", default="",
                   help="instead: by range, how many of ALL the harvested clusters are CLASS-like (at least half of "
                        "their --k nearest simulated clusters are CLASS), against the simulated clusters of "
                        "--census-sensor (each against the others)")
    p.add_argument("--census-sensor", default="hdl64", help="the simulated sensor of the census")
    args = p.parse_args(argv)

    wanted = {w.strip() for w in args.labels.split(",") if w.strip()}
    with open(args.harvest / "clusters.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if args.census
                or (r["label"] in wanted or r["guess"] in wanted) and float(r["range_m"]) >= args.min_range]
    if not rows:
        print(f"no harvested cluster labelled {', '.join(sorted(wanted))} at >= {args.min_range} m", file=sys.stderr)
        return 1
    rows.sort(key=lambda r: -float(r["range_m"]))
    real = [np.load(args.harvest / r["file"]).astype(np.float32) for r in rows]
    classes = load_card(args.model)["classes"]
    if args.census and args.census not in classes:
        print(f"--census {args.census}: not one of the model's classes ({', '.join(classes)})", file=sys.stderr)
        return 2
    sim = with_classes(load_data("sim", "val", args.sim_seeds, args.cache, workers=1), classes, "validation data")
    sim = sim.subset(np.flatnonzero(~sim.outlier))
    e_sim, _ = embed(args.model, sim)
    e_real, _ = embed(args.model, ClusterSet.from_list(real, np.zeros(len(real)), classes, source="harvest",
                                                       sensor="", frame=0))
    if args.census:
        census(args, rows, e_real, sim, e_sim, classes)
        return 0
    idx, cos = nearest(e_real, e_sim, args.k)

    sensors = np.asarray(sim.meta["sensor"])
    same, by_sensor, cells = 0, Counter(), []
    for i, r in enumerate(rows):
        label = r["guess"] if r["label"] == "unknown" else r["label"]
        names = [classes[sim.labels[j]] for j in idx[i]]
        same += sum(n == label for n in names)
        by_sensor.update(str(sensors[j]) for j in idx[i])
        print(f"{r['file']}: {label} {float(r['score']):.2f}, {r['points']} returns at {r['range_m']} m -> "
              f"{dict(Counter(names))}, median cosine {np.median(cos[i]):.2f}")
        if i < args.rows:
            size = np.array([float(r[k]) for k in ("length_m", "width_m", "height_m")])  # the node's box
            cells.append(Harvested(Path(r["file"]), r["frame"], real[i], r["label"], r["guess"], float(r["score"]),
                                   size, float(r["range_m"])))
            for j, c in zip(idx[i, :args.show], cos[i, :args.show], strict=True):
                pts = sim.cluster(j)
                name = classes[sim.labels[j]]
                cells.append(Harvested(Path(f"sim-{sensors[j]}"), "", pts, name, name, float(c), _size(pts),
                                       float(sim.ranges[j])))
    n = len(rows) * idx.shape[1]
    print(f"{len(rows)} real clusters: {same / n:.0%} of their {args.k} nearest simulated clusters have the class of "
          f"their label; neighbours by sensor {dict(by_sensor)}")
    with tempfile.TemporaryDirectory() as tmp:
        cols = 1 + args.show
        sheets = contact_sheets(cells, tmp, per_sheet=len(cells), cols=cols,
                                title=f"each row: a real cluster (label, score), then its {args.show} nearest\n"
                                      f"simulated clusters in {Path(args.model).stem}'s embedding (true class, "
                                      f"cosine)")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sheets[0], args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


RANGES = ((5.0, 20.0), (20.0, 45.0))  # m


def census(args: argparse.Namespace, rows: list[dict], e_real: np.ndarray, sim, e_sim: np.ndarray,
           classes: list[str]) -> None:
    """Print, by range, the real clusters a frame and how many are ``args.census``-like, next to the
    simulated clusters of ``args.census_sensor``: those of the class (how many a frame, the share that is
    like it) and of every other class (the share that is like it: the error rate a base rate multiplies)."""
    target = classes.index(args.census)
    idx, _ = nearest(e_real, e_sim, args.k)
    like_real = (sim.labels[idx] == target).mean(axis=1) >= 0.5
    r_real = np.array([float(r["range_m"]) for r in rows])
    n_real = len({r["frame"] for r in rows})
    mine = np.flatnonzero(np.asarray(sim.meta["sensor"]) == args.census_sensor)
    idx_s, _ = nearest(e_sim[mine], e_sim, args.k + 1)
    own = idx_s[:, :1] == mine[:, None]  # each simulated cluster is its own nearest: leave it out
    nb = np.where(own, idx_s[:, 1:], idx_s[:, :-1])
    like_sim = (sim.labels[nb] == target).mean(axis=1) >= 0.5
    r_sim, lab_sim = sim.ranges[mine], sim.labels[mine]
    n_sim = len(np.unique(np.asarray(sim.meta["frame"])[mine]))
    others = [c for c in range(len(classes)) if c != target and (lab_sim == c).any()]
    print(f"{args.census}-like: at least half of the {args.k} nearest simulated clusters are {args.census}; "
          f"{n_real} real frames, {n_sim} simulated {args.census_sensor} frames")
    print(f"| range | real clusters a frame | {args.census}-like a frame (share) | simulated {args.census} a frame "
          f"({args.census}-like share) | " + " | ".join(f"simulated {classes[c]}: {args.census}-like" for c in others)
          + " |")
    print("|---" * (4 + len(others)) + "|")
    for lo, hi in RANGES:
        rr, rs = (r_real >= lo) & (r_real < hi), (r_sim >= lo) & (r_sim < hi)
        t = rs & (lab_sim == target)
        cells = [f"{like_sim[rs & (lab_sim == c)].mean():.1%}" if (rs & (lab_sim == c)).any() else "-" for c in others]
        print(f"| {lo:g}-{hi:g} m | {rr.sum() / n_real:.1f} | {like_real[rr].sum() / n_real:.1f} "
              f"({like_real[rr].mean() if rr.any() else 0:.1%}) | {t.sum() / n_sim:.1f} "
              f"({like_sim[t].mean() if t.any() else 0:.1%}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
