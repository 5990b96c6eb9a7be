"""Real labelled KITTI data: the points inside each 3D box, or the node's clusters labelled by the boxes.

For evaluation (KITTI is CC BY-NC-SA 3.0: never part of the shipped model's training data).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from t3d_ros.classes import CLASSES
from t3d_ros.io.kitti import KITTI_TO_T3D
from t3d_ros.offline.data.clusterset import ClusterSet, intensity01


def _kitti_frames(root: Path, frames: Iterable[str | int] | None) -> list[str]:
    train = root / "training"
    if not (train / "velodyne").is_dir() or not (train / "label_2").is_dir() or not (train / "calib").is_dir():
        raise FileNotFoundError(
            f"{root}: expected training/velodyne/*.bin, training/label_2/*.txt and training/calib/*.txt"
        )
    if frames is None:
        return sorted(p.stem for p in (train / "label_2").glob("*.txt"))
    return [f"{int(f):06d}" if isinstance(f, int) or str(f).isdigit() else str(f) for f in frames]


def _kitti_class_table(classes: Mapping[str, str | None]) -> tuple[tuple[str, ...], dict[str, int]]:
    """Package classes (CLASSES order, plus any extra targets) and the KITTI type -> label id map."""
    targets = {t for t in classes.values() if t}
    names = tuple(CLASSES) + tuple(sorted(targets - set(CLASSES)))
    return names, {k: names.index(v) for k, v in classes.items() if v}



def load_kitti_objects(
    root: str | Path,
    frames: Iterable[str | int] | None = None,
    min_points: int = 10,
    classes: Mapping[str, str | None] = KITTI_TO_T3D,
    margin: float = 0.2,
    pipeline_config: Any = None,
) -> ClusterSet:
    """Points inside every labelled 3D box of ``<root>/training`` frames, one cluster per box.

    Boxes are grown by ``margin`` (m) on every side (labels are tight, returns are noisy); ground is
    removed with the node's own ground filter (``pipeline_config``, default config) and nothing below
    the labelled box bottom is kept, so the clusters stand on the ground as at run time. Types that
    ``classes`` maps to None or does not list (DontCare) are skipped, as are boxes with fewer than
    ``min_points`` points. ``meta["frame"]`` = KITTI frame number; sensor "hdl64"; purity 1.
    """
    from t3d_ros.geometry import points_in_boxes
    from t3d_ros.io.kitti import load_frame
    from t3d_ros.segment.pipeline import Pipeline

    root = Path(root)
    names, to_id = _kitti_class_table(classes)
    pipe = Pipeline(pipeline_config)
    clusters, labels, frame_ids = [], [], []
    skipped: Counter[str] = Counter()
    for fr in _kitti_frames(root, frames):
        pts, lab = load_frame(root, fr)
        if not len(lab.boxes):
            continue
        ground = pipe(pts).input_ground
        inside = points_in_boxes(pts[:, :3], lab.boxes, margin)  # (N, K)
        bottom = lab.boxes[:, 2] - lab.boxes[:, 5] / 2
        for k, name in enumerate(lab.names):
            if name not in to_id:
                skipped[f"type {name}"] += 1
                continue
            sel = inside[:, k] & ~ground & (pts[:, 2] >= bottom[k])
            if sel.sum() < min_points:
                skipped["too few points"] += 1
                continue
            clusters.append(intensity01(pts[sel]))
            labels.append(to_id[name])
            frame_ids.append(int(fr) if fr.isdigit() else len(frame_ids))
    return ClusterSet.from_list(
        clusters, labels, names, source="kitti-objects", sensor="hdl64", frame=frame_ids, purity=1.0,
        info={"source": "kitti-objects", "root": str(root), "margin": margin, "skipped": dict(skipped)},
    )


def load_kitti_frame_clusters(
    root: str | Path,
    frames: Iterable[str | int] | None = None,
    min_points: int = 10,
    min_purity: float = 0.3,
    classes: Mapping[str, str | None] = KITTI_TO_T3D,
    margin: float = 0.2,
    pipeline_config: Any = None,
) -> ClusterSet:
    """The node's clusters on real KITTI frames, each labelled by the GT box holding most of its points.

    This is what the classifier sees at run time on real data. A cluster with no point in any
    (``margin``-grown) box is unlabelled and skipped (so are clusters whose box type maps to None),
    purity = share of the cluster's points in that box; clusters below ``min_purity`` or
    ``min_points`` are dropped. The low default purity (0.3) keeps the merges the node makes on real
    data (a car merged with the hedge beside it is still scored as the car); filter on
    ``meta["purity"]`` for a cleaner set. Counts per cause are in ``info["summary"]``. KITTI boxes cover only
    the camera's field of view, so clusters behind the car are never labelled.
    """
    from t3d_ros.geometry import points_in_boxes
    from t3d_ros.io.kitti import load_frame
    from t3d_ros.segment.pipeline import Pipeline

    root = Path(root)
    names, to_id = _kitti_class_table(classes)
    pipe = Pipeline(pipeline_config)
    clusters, labels, purities, frame_ids = [], [], [], []
    totals: Counter[str] = Counter()
    for fr in _kitti_frames(root, frames):
        pts, lab = load_frame(root, fr)
        seg = pipe(pts)
        k = seg.num_clusters
        totals["clusters"] += k
        if k == 0:
            continue
        in_cl = np.flatnonzero(seg.input_cluster_id >= 0)
        if len(lab.boxes):
            inside = points_in_boxes(pts[in_cl, :3], lab.boxes, margin)  # (M, B)
            table = np.zeros((k, len(lab.boxes)), np.int64)
            np.add.at(table, seg.input_cluster_id[in_cl], inside.astype(np.int64))
        else:
            table = np.zeros((k, 1), np.int64)
        size = np.bincount(seg.input_cluster_id[in_cl], minlength=k)
        best = table.argmax(axis=1)
        hits = table[np.arange(k), best]
        for c in range(k):
            if hits[c] == 0:
                totals["unlabelled"] += 1
                continue
            name = lab.names[best[c]]
            if name not in to_id:
                totals[f"type {name}"] += 1
                continue
            purity = hits[c] / size[c]
            n = seg.cluster_offsets[c + 1] - seg.cluster_offsets[c]
            if n < min_points:
                totals["dropped_small"] += 1
                continue
            if purity < min_purity:
                totals["dropped_impure"] += 1
                continue
            clusters.append(intensity01(seg.cluster(c)))
            labels.append(to_id[name])
            purities.append(purity)
            frame_ids.append(int(fr) if fr.isdigit() else len(frame_ids))
    totals["kept"] = len(clusters)
    return ClusterSet.from_list(
        clusters, labels, names, source="kitti-clusters", sensor="hdl64", frame=frame_ids, purity=purities,
        info={"source": "kitti-clusters", "root": str(root), "margin": margin, "summary": dict(totals)},
    )


