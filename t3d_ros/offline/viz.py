"""Bird's-eye-view pictures of a frame with its boxes (matplotlib, offline use only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from t3d_ros.classes import CLASS_COLORS, UNKNOWN
from t3d_ros.detection import Detection
from t3d_ros.geometry import box_corners_xy


def bev_png(
    path: str | Path,
    points: np.ndarray,
    detections: Sequence[Detection],
    title: str = "",
    extent: float = 50.0,
    ground_truth: Sequence[tuple[str, np.ndarray, np.ndarray, float]] = (),
) -> None:
    """Write a bird's-eye PNG: points (N, >=3) shaded by height, detections as coloured boxes with
    labels, optional ground-truth boxes ``(label, center, size, yaw)`` dashed; +x points up."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    ax.set_facecolor("black")
    pts = points[(np.abs(points[:, 0]) < extent) & (np.abs(points[:, 1]) < extent)]
    # Plot -y horizontally and x vertically: the view from above with the vehicle heading up.
    ax.scatter(-pts[:, 1], pts[:, 0], s=0.5, c=pts[:, 2], cmap="turbo", vmin=-2.2, vmax=1.5, linewidths=0)
    for _label, center, size, yaw in ground_truth:
        xy = box_corners_xy(center, size, yaw)
        ax.add_patch(Polygon(np.c_[-xy[:, 1], xy[:, 0]], fill=False, ec="#9a9a9a", lw=0.8, ls="--"))
    for det in detections:
        color = CLASS_COLORS.get(det.label, CLASS_COLORS[UNKNOWN])
        xy = box_corners_xy(det.center, det.size, det.yaw)
        ax.add_patch(Polygon(np.c_[-xy[:, 1], xy[:, 0]], fill=False, ec=color, lw=1.2))
        text = det.label if det.label == UNKNOWN else f"{det.label} {det.score:.2f}"
        ax.text(-det.center[1], det.center[0] + det.size[0] / 2 + 0.5, text, color=color, fontsize=6,
                ha="center", clip_on=True)  # labels of boxes beyond the view stay out of the title and margins
    ax.plot([0], [0], marker="^", color="red", ms=8)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_xlabel("-y [m]")
    ax.set_ylabel("x [m]")
    ax.set_title(title or f"{len(detections)} detections")
    save_figure(fig, path, quiet=True)


def save_figure(fig, path: str | Path, title: str | None = None, title_size: float | None = None,
                quiet: bool = False, **savefig_kw) -> None:
    """The ending every picture shares: ``title`` as the figure's suptitle (font size ``title_size``),
    a tight layout, the folder made, ``fig`` saved to ``path`` (``savefig_kw``: dpi, bbox_inches, ...)
    and closed; says where unless ``quiet``."""
    import matplotlib.pyplot as plt

    if title is not None:
        fig.suptitle(title, **({} if title_size is None else {"fontsize": title_size}))
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **savefig_kw)
    plt.close(fig)
    if not quiet:
        print(f"wrote {path}")
