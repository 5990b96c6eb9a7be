"""How right the labels are on the simulated TEST split at a card's thresholds, which were chosen on the
validation split: per road-user class the labels above threshold, how many are right (outliers labelled
a class count as wrong, as in calibration), the precision with its exact binomial 95 % interval
(Clopper-Pearson) and the recall.

    .venv/bin/python scripts/threshold_precision.py [--model models/t3d_tiny.json] [--sim-seeds 200]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import beta

from t3d_ros.classes import ROAD_USERS
from t3d_ros.classify.classifier import Classifier
from t3d_ros.offline.data import load_data
from t3d_ros.offline.train.calibrate import precision_recall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/t3d_tiny.json")
    ap.add_argument("--sim-seeds", type=int, default=200, help="as `eval` (200: 40 test scenes)")
    ap.add_argument("--cache", default="out/cache")
    args = ap.parse_args()
    clf = Classifier(args.model, device="cpu")
    cal = clf.card["calibration"]
    cs = load_data("sim", "test", args.sim_seeds, args.cache)
    labels = np.array([clf.classes.index(c) for c in cs.class_names])[cs.labels]
    labels[cs.outlier] = -1  # no class fits an outlier: a label on it is wrong, as in calibration
    table = precision_recall(clf.probabilities(cs.points, cs.offsets), labels, clf.classes,
                             cal["class_thresholds"], cs.sizes, cal.get("sparse"))
    print(f"{args.model}: {len(cs)} test clusters ({int(cs.outlier.sum())} outliers)")
    print("class       labelled  right  precision (95 %)      recall")
    for name in ROAD_USERS:
        n, right = table[name]["labelled"], table[name]["right"]
        lo = beta.ppf(0.025, right, n - right + 1) if right else 0.0
        hi = beta.ppf(0.975, right + 1, n - right) if right < n else 1.0
        print(f"{name:10s} {n:9d} {right:6d}  {right / max(n, 1):.3f} ({lo:.3f}-{hi:.3f})  "
              f"{table[name]['recall'] or 0.0:.3f}")


if __name__ == "__main__":
    main()
