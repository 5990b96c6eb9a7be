"""docs/segmentation_wall_split.png: KITTI frame 000002 around its Misc object, the clusters seen from
above without and with the wall split (segment/walls.py). Needs the shared KITTI frames:

    .venv/bin/python scripts/wall_split_picture.py ../shared/data/kitti docs/segmentation_wall_split.png
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from t3d_ros.io.kitti import load_frame
from t3d_ros.offline.viz import save_figure
from t3d_ros.segment.pipeline import Pipeline, PipelineConfig


def main(root: str, out: str) -> None:
    pts, labels = load_frame(root, "000002")
    misc = labels.boxes[list(labels.names).index("Misc")]
    cx, cy = float(misc[0]), float(misc[1])
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharex=True, sharey=True)
    for ax, split in zip(axes, (False, True), strict=True):
        seg = Pipeline(PipelineConfig(wall_split=split, oversize_policy="keep"))(pts.astype(np.float32))
        near = (np.abs(pts[:, 0] - cx) < 6) & (np.abs(pts[:, 1] - cy) < 6)
        cid = seg.input_cluster_id[near]
        xy = pts[near, :2]
        ax.scatter(xy[cid < 0, 1], xy[cid < 0, 0], s=0.3, c="0.85")
        ids = np.unique(cid[cid >= 0])
        colors = plt.get_cmap("tab20")(np.arange(len(ids)) % 20)
        for k, c in zip(ids, colors, strict=True):
            m = cid == k
            ax.scatter(xy[m, 1], xy[m, 0], s=0.6, color=c)
        ax.set_title(f"wall_split: {str(split).lower()} ({len(ids)} clusters here)")
        ax.set_xlabel("y [m] (left)")
        ax.invert_xaxis()
        ax.set_aspect("equal")
    axes[0].set_ylabel("x [m] (ahead)")
    save_figure(fig, out, "KITTI 000002: the Misc object against a wall, seen from above; one colour per cluster, "
                "grey: ground", dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
