"""The picture of ``train --far`` (``offline/train/augment.push_away``): near simulated road users
moved to 30 m, beside simulated ones seen at 25-35 m by the same sensor.

    .venv/bin/python scripts/push_away_picture.py --out docs/push_away.png

Each cluster is drawn as the sensor sees it: across the line of sight (m) against height (m), so scan
rows are horizontal lines. Simulated clusters only (the training cache, ``--sim-seeds``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from t3d_ros.offline.data import load_data  # noqa: E402
from t3d_ros.offline.train.augment import push_away, resolution_deg  # noqa: E402
from t3d_ros.offline.viz import save_figure  # noqa: E402


def _view(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Across the line of sight through the cluster's centre (m), and z (m)."""
    c = points[:, :2].mean(axis=0)
    n = np.array([-c[1], c[0]]) / max(float(np.hypot(*c)), 1e-6)
    return points[:, :2] @ n, points[:, 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/push_away.png"))
    ap.add_argument("--sim-seeds", type=int, default=400)
    ap.add_argument("--sensor", default="hdl64")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    train = load_data("sim", "train", sim_seeds=args.sim_seeds)
    rng = np.random.default_rng(args.seed)
    ranges, sensors = train.ranges, np.asarray(train.meta["sensor"]).astype(str)
    classes = ("car", "pedestrian", "cyclist")
    fig, axes = plt.subplots(len(classes), 3, figsize=(11, 3.0 * len(classes)))
    for row, name in enumerate(classes):
        mine = (train.labels == train.class_names.index(name)) & (sensors == args.sensor) & ~train.outlier
        near = rng.choice(np.flatnonzero(mine & (ranges > 8) & (ranges < 12) & (train.sizes >= 100)))
        far = rng.choice(np.flatnonzero(mine & (ranges > 27) & (ranges < 33) & (train.sizes >= 20)))
        pts = train.cluster(near)
        c = pts[:, :3].mean(axis=0)
        r = float(np.hypot(c[0], c[1]))
        res = resolution_deg(args.sensor, math.degrees(math.atan2(c[2], r)))
        pushed = push_away(pts, 30.0 / r, rng, *res, min_points=1)
        for col, (title, cl) in enumerate(((f"simulated at {r:.0f} m", pts),
                                           (f"moved to 30 m (push_away x{30.0 / r:.1f})", pushed),
                                           (f"simulated at {ranges[far]:.0f} m", train.cluster(far)))):
            u, z = _view(cl)
            ax = axes[row, col]
            ax.scatter(u - u.mean(), z, s=4 if len(cl) < 300 else 1, c="k")
            ax.set_title(f"{name}: {title}, {len(cl)} returns", fontsize=9)
            ax.set_aspect("equal")
            ax.set_xlabel("across the line of sight [m]", fontsize=8)
            ax.set_ylabel("z [m]", fontsize=8)
            ax.tick_params(labelsize=7)
    save_figure(fig, args.out, f"train --far: near {args.sensor} road users moved to 30 m, thinned to the beams "
                "that still reach them, beside ones simulated there", 10, dpi=110)


if __name__ == "__main__":
    main()
