"""Harvest the clusters of your own recordings so that a person can label them in minutes.

``harvest(frames, perception, out)`` runs the node's segmentation and classifier on every frame and
writes every cluster it keeps as ``out/unsorted/<frame>_<k>.npy`` ((n, 4) float32 x, y, z, intensity
in the sensor frame, as the node sees it), one row per cluster in ``out/clusters.csv`` (file, frame,
points, range, box size, the model's label, guess and score, and why a label is ``unknown``) and contact sheets
``out/sheet_<i>.png``: a grid of clusters, each seen from above and from the side, with its file
number, the model's label and score. Sort the files into ``out/<class>/`` folders (``out/ignore/`` or
leaving them in ``unsorted/`` keeps them out), then fine-tune: ``train --finetune models/t3d_tiny.pt
--data sim,folder:out``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from t3d_ros.classes import CLASS_COLORS, UNKNOWN
from t3d_ros.perception import Perception
from t3d_ros.segment.level import ground_tilt

UNSORTED = "unsorted"  # harvested, not labelled yet; load_folder leaves it (and "ignore") out


@dataclass
class Harvested:
    """One harvested cluster: its file, frame, points and what the model said about it."""

    file: Path
    frame: str
    points: np.ndarray
    label: str
    guess: str
    score: float
    size: np.ndarray
    range_m: float
    reason: str = ""  # why the label is unknown (score below its threshold, a size or ground check)


def harvest(frames: Iterable[tuple[str, np.ndarray]], perception: Perception, out: str | Path,
            min_points: int = 10, max_range: float = 80.0, every: int = 1,
            labels: Iterable[str] | None = None, tilts: list[tuple[float, float]] | None = None) -> list[Harvested]:
    """Write the clusters of ``frames`` ((name, points (N, >=3)) pairs; every ``every``-th frame) with
    at least ``min_points`` returns within ``max_range`` m (and, with ``labels``, only those the node
    labels so: e.g. the road users, to check them by eye); returns them in the order written. ``tilts``,
    when given, gets the lean of the ground around the sensor in every frame (``level.ground_tilt``):
    clusters of a tilted sensor not told its angles lean too."""
    wanted = set(labels) if labels is not None else None
    out = Path(out)
    (out / UNSORTED).mkdir(parents=True, exist_ok=True)
    done: list[Harvested] = []
    for i, (name, points) in enumerate(frames):
        if i % every:
            continue
        res = perception.process(points)
        seg = res.segmentation
        if tilts is not None and (tilt := ground_tilt(seg.points, seg.ground)) is not None:
            tilts.append(tilt)
        for k, det in enumerate(res.detections):
            pts = np.zeros((det.num_points, 4), np.float32)
            cl = seg.cluster(k)
            pts[:, : min(4, cl.shape[1])] = cl[:, :4]
            rng = float(np.hypot(*det.center[:2]))
            if det.num_points < min_points or rng > max_range or (wanted is not None and det.label not in wanted):
                continue
            path = out / UNSORTED / f"{_safe(name)}_{k:04d}.npy"
            np.save(path, pts)
            done.append(Harvested(path, name, pts, det.label, det.guess or det.label, det.score,
                                  np.asarray(det.size), rng, det.unknown_reason))
    with open(out / "clusters.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "frame", "points", "range_m", "length_m", "width_m", "height_m", "label", "guess",
                    "score", "why_unknown"])
        for h in done:
            w.writerow([h.file.relative_to(out).as_posix(), h.frame, len(h.points), f"{h.range_m:.1f}",
                        *(f"{v:.2f}" for v in h.size), h.label, h.guess, f"{h.score:.3f}", h.reason])
    return done


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def contact_sheets(clusters: list[Harvested], out: str | Path, per_sheet: int = 48, cols: int = 8,
                   labels: bool = True, title: str = "") -> list[Path]:
    """PNG grids of ``clusters`` (``per_sheet`` a page): each cell shows the cluster from above (x-y,
    centred) and from the side (along its principal direction, height above its lowest return), with
    the file number, the model's label or guess and score (``labels``), points and range. ``title``
    replaces the page title that says so. Returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if clusters:
        out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s, start in enumerate(range(0, len(clusters), per_sheet)):
        page = clusters[start:start + per_sheet]
        rows = int(np.ceil(len(page) / cols))
        fig, axs = plt.subplots(rows * 2, cols, figsize=(2.1 * cols, 3.6 * rows), dpi=80,
                                gridspec_kw={"height_ratios": [1.0, 0.7] * rows}, squeeze=False)
        for ax in axs.ravel():
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_facecolor("#111111")
        for j, h in enumerate(page):
            r, c = 2 * (j // cols), j % cols
            xyz = h.points[:, :3].astype(np.float64)
            xy = xyz[:, :2] - xyz[:, :2].mean(axis=0)
            # side view along the principal axis of the footprint: the profile a person recognises
            w, vec = np.linalg.eigh(xy.T @ xy + 1e-9 * np.eye(2))
            along = xy @ vec[:, 1]
            z = xyz[:, 2] - xyz[:, 2].min()
            color = CLASS_COLORS.get(h.label if h.label != UNKNOWN else h.guess, CLASS_COLORS[UNKNOWN])
            half = max(np.abs(xy).max(), 0.5) * 1.1
            top, side = axs[r, c], axs[r + 1, c]
            top.scatter(xy[:, 0], xy[:, 1], s=4, c=[color], linewidths=0)
            top.set_xlim(-half, half)
            top.set_ylim(-half, half)
            top.set_aspect("equal")
            side.scatter(along, z, s=4, c=[color], linewidths=0)
            side.set_xlim(-half, half)
            side.set_ylim(-0.1, max(z.max(), 0.5) * 1.1)
            text = (h.label if h.label != UNKNOWN else f"? {h.guess}") + f" {h.score:.2f}" if labels else ""
            top.set_title(f"#{start + j} {text}\n{len(h.points)} pts, {h.range_m:.0f} m, "
                          f"{h.size[0]:.1f}x{h.size[1]:.1f}x{h.size[2]:.1f}", fontsize=7, color="black")
        what, files = ("label (? = unknown, the model's guess) score; ", " (files in clusters.csv)") if labels \
            else ("", "")
        fig.suptitle(title or f"clusters {start}..{start + len(page) - 1}: {what}top: from above, bottom: from the "
                     f"side; box length x width x height in m{files}", fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 0.97))
        path = out / f"sheet_{s:03d}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
