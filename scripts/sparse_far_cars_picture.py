"""The far road-user labels on the odometry street seen by 32 lasers, against the full 64-laser scan.

    python scripts/sparse_far_cars_picture.py ../shared/data/kitti_odometry --out docs/sparse_far_cars.png

Every road-user label farther than 15 m that the node (shipped model and params) gives on the six
odometry frames with one laser in two kept (``io.kitti.thin_rings``): its cluster in red, the returns of
the full scan within 4 m of it in grey; from above (x ahead, y left) and from the side (along the
line of sight). What the sparse view labels, seen with every laser.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from t3d_ros.classes import ROAD_USERS  # noqa: E402
from t3d_ros.cli.detect import build_perception  # noqa: E402
from t3d_ros.io.frames import frame_files  # noqa: E402
from t3d_ros.io.kitti import read_velodyne, thin_rings  # noqa: E402
from t3d_ros.offline.viz import save_figure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="the odometry frames (a folder of KITTI .bin scans)")
    ap.add_argument("--out", type=Path, default=Path("docs/sparse_far_cars.png"))
    ap.add_argument("--every", type=int, default=2, help="keep one laser in this many")
    ap.add_argument("--min-range", type=float, default=15.0, help="labels nearer than this are left out [m]")
    args = ap.parse_args()
    perception = build_perception(Path("config/perception.yaml"), "models/t3d_tiny.json", "cpu")
    cases = []
    for path in frame_files(args.root):
        full = read_velodyne(path)
        res = perception.process(thin_rings(full, args.every))
        for k, d in enumerate(res.detections):
            if d.label in ROAD_USERS and np.hypot(*d.center[:2]) > args.min_range:
                cases.append((path.stem, d, res.segmentation.cluster(k), full))
    fig, axes = plt.subplots(2, max(len(cases), 1), figsize=(3.0 * max(len(cases), 1), 6.0), squeeze=False)
    for j, (stem, d, pts, full) in enumerate(cases):
        c = np.asarray(d.center[:2], np.float64)
        near = full[np.hypot(full[:, 0] - c[0], full[:, 1] - c[1]) < 4.0]
        across = np.array([c[1], -c[0]]) / np.linalg.norm(c)  # horizontal, across the line of sight
        for ax, proj in ((axes[0, j], lambda p: (-p[:, 1], p[:, 0])),
                         (axes[1, j], lambda p, c=c, a=across: ((p[:, :2] - c) @ a, p[:, 2]))):
            ax.scatter(*proj(near), s=1, c="0.6")
            ax.scatter(*proj(pts), s=3, c="tab:red")
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
        axes[0, j].set_title(f"{stem}: {d.label} {d.score:.2f}\n{d.num_points} returns, "
                             f"{np.hypot(*c):.0f} m, {d.size[0]:.1f} x {d.size[1]:.1f} x {d.size[2]:.1f} m", fontsize=7)
        axes[1, j].set_xlabel("across the line of sight [m]", fontsize=6)
    axes[0, 0].set_ylabel("from above: x [m] (y left)", fontsize=7)
    axes[1, 0].set_ylabel("from the side: z [m]", fontsize=7)
    save_figure(fig, args.out, f"Road-user labels beyond {args.min_range:g} m on the odometry street seen by one "
                f"laser in {args.every} (red: the cluster), and every laser's returns within 4 m (grey)", 9, dpi=80)


if __name__ == "__main__":
    main()
