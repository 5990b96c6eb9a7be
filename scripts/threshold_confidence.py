"""Does the threshold rule need a confidence margin? Fit the calibration on one half of the simulated
validation scenes (even or odd seeds) and judge its labels on the other half, both ways, for several
``confidence`` levels of ``calibrate`` (0: the measured precision must reach the target; c: its exact
lower bound at confidence c). Prints per class the held-out precision and recall, summed over both ways.

    .venv/bin/python scripts/threshold_confidence.py [--model models/t3d_tiny.json] [--sim-seeds 1000]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from t3d_ros.offline.data import load_data, with_classes
from t3d_ros.offline.train.calibrate import bundle_logits, calibrate, precision_recall, softmax


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/t3d_tiny.json")
    ap.add_argument("--sim-seeds", type=int, default=1000, help="as `calibrate` (1000: 100 validation scenes)")
    ap.add_argument("--cache", default="out/cache")
    ap.add_argument("--confidence", type=float, nargs="+", default=[0.0, 0.5, 0.75, 0.9, 0.95])
    args = ap.parse_args()
    card = json.loads(open(args.model).read())
    classes, rule = card["classes"], card["calibration"]  # refitted by the card's own rule, C aside
    cs = with_classes(load_data("sim", "val", args.sim_seeds, args.cache), classes, "sim (val)")
    labels, counts = np.where(cs.outlier, -1, cs.labels), np.diff(cs.offsets)
    logits = bundle_logits(args.model, cs.points, cs.offsets)
    halves = [cs.meta["frame"] % 2 == 0, cs.meta["frame"] % 2 == 1]
    print(f"{args.model}: {len(cs)} validation clusters, halves of {halves[0].sum()} and {halves[1].sum()}")
    for conf in args.confidence:
        given, right = dict.fromkeys(classes, 0), dict.fromkeys(classes, 0)
        for fit, judge in (halves, halves[::-1]):
            cal = calibrate(logits[fit], labels[fit], classes, rule["target_precision"], rule["min_support"],
                            counts[fit], rule["sparse"]["below_points"], rule["marginal_precision"],
                            rule.get("road_user_precision"), conf)
            table = precision_recall(softmax(logits[judge], cal["temperature"]), labels[judge], classes,
                                     cal["class_thresholds"], counts[judge], cal.get("sparse"))
            for c in classes:
                given[c] += table[c]["labelled"]
                right[c] += table[c]["right"]
        cells = [f"{c} {right[c] / max(given[c], 1):.3f} / {right[c] / max((labels == i).sum(), 1):.3f}"
                 for i, c in enumerate(classes)]
        print(f"confidence {conf:.2f}: precision / recall " + ", ".join(cells))


if __name__ == "__main__":
    main()
