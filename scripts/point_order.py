"""How much a model's labels depend on the order of the points within each cluster.

    .venv/bin/python scripts/point_order.py --models before=CARD now=models/t3d_tiny.json \
        --frames ../shared/data/kitti/training/velodyne ../shared/data/kitti_odometry/velodyne

Drivers order a cloud's points differently (Velodyne ring by ring or column by column, Ouster by
column, KITTI's files ring by ring from the top, the simulator column by column), and a cluster's
points come in the cloud's order. Each real frame is segmented as the node does
(``config/perception.yaml``), and every cluster of >= 10 returns is classified three times: in the
cloud's order, reversed, and shuffled (seed 0). Printed per model: the share of clusters whose
network label (argmax) changes, and the mean change of the top class's probability; and the share of
the clusters' boxes (the node's box fit) that turn by more than 5 degrees or change a side by more than
0.3 m. Measurement only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from t3d_ros.cli.detect import build_perception
from t3d_ros.io.kitti import read_velodyne
from t3d_ros.segment.boxes import fit_boxes


def _reordered(points: np.ndarray, offsets: np.ndarray, how: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    parts = [points[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    if how == "reversed":
        parts = [p[::-1] for p in parts]
    else:
        parts = [p[rng.permutation(len(p))] for p in parts]
    return np.ascontiguousarray(np.concatenate(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, help="NAME=CARD")
    ap.add_argument("--frames", nargs="+", type=Path, required=True, help="folders of KITTI .bin scans")
    ap.add_argument("--params", type=Path, default=Path("config/perception.yaml"))
    args = ap.parse_args()
    files = sorted(f for d in args.frames for f in d.glob("*.bin"))
    for spec in args.models:
        name, card = spec.split("=", 1)
        per = build_perception(args.params, card, "cpu")
        clf = per.classifier
        changed = {"reversed": 0, "shuffled": 0}
        moved = {"reversed": [], "shuffled": []}
        turned = {"reversed": 0, "shuffled": 0}
        resized = {"reversed": 0, "shuffled": 0}
        total = 0
        for f in files:
            seg = per.pipeline(read_velodyne(f))
            off = np.asarray(seg.cluster_offsets, np.int64)
            keep = np.flatnonzero(np.diff(off) >= 10)
            if not len(keep):
                continue
            parts = [seg.cluster_points[off[i]:off[i + 1]] for i in keep]
            offsets = np.r_[0, np.cumsum([len(p) for p in parts])]
            points = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
            base = clf.probabilities(points, offsets)
            top = base.argmax(axis=1)
            box = fit_boxes(points, offsets, per.pipeline.config.box_method)
            total += len(keep)
            for how in changed:
                reordered = _reordered(points, offsets, how)
                other = clf.probabilities(reordered, offsets)
                changed[how] += int((other.argmax(axis=1) != top).sum())
                moved[how].extend(np.abs(other[np.arange(len(top)), top] - base[np.arange(len(top)), top]).tolist())
                other_box = fit_boxes(reordered, offsets, per.pipeline.config.box_method)
                dyaw = np.abs((other_box[:, 6] - box[:, 6] + np.pi / 2) % np.pi - np.pi / 2)  # boxes have no front
                turned[how] += int((dyaw > np.radians(5)).sum())
                resized[how] += int((np.abs(other_box[:, 3:5] - box[:, 3:5]).max(axis=1) > 0.3).sum())
        share = {how: changed[how] / max(total, 1) for how in changed}
        print(f"{name}: {total} clusters in {len(files)} frames; label changes reversed {share['reversed']:.3f}, "
              f"shuffled {share['shuffled']:.3f}; mean |change| of the top class's probability reversed "
              f"{np.mean(moved['reversed']):.3f}, shuffled {np.mean(moved['shuffled']):.3f}; boxes turned > 5 deg "
              f"reversed {turned['reversed'] / max(total, 1):.3f}, shuffled {turned['shuffled'] / max(total, 1):.3f}; "
              f"a side changed > 0.3 m reversed {resized['reversed'] / max(total, 1):.3f}, "
              f"shuffled {resized['shuffled'] / max(total, 1):.3f}")


if __name__ == "__main__":
    main()
