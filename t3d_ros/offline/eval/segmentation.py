"""Segmentation quality against per-point ground truth.

Conventions (what counts where):
- Ground truth: ``gt_instance`` (N,) int, object id >= 1, 0 for ground / unlabelled background;
  ``gt_ground`` (N,) bool.
- A GT object is *evaluated* when it has at least ``min_points`` points.
- Points of an object that the pipeline calls ground, or leaves out of every kept cluster
  (noise, too small, oversize, outside the crop), are *lost*. Lost points do not count against
  over-segmentation (they are reported as ``lost_fraction`` and in ground precision); an object
  whose points are all lost is *missed* and counts as neither over-segmented nor in its own
  cluster.
- Over-segmentation: the majority cluster holds < ``over_fraction`` (0.8) of the object's
  clustered points.
- Under-segmentation (per cluster holding points of evaluated objects): a second object holds
  >= ``under_fraction`` (0.2) of the cluster's object points, or >= ``under_points`` (10) points.
  Background points in a cluster (GT instance 0) are ignored here.
- Own cluster: the object's majority cluster is not the majority cluster of any other evaluated
  object and the object is not missed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class SegmentationQuality:
    """Aggregate scores of one or more frames (rates in [0, 1], NaN when undefined)."""

    ground_precision: float
    ground_recall: float
    n_objects: int
    over_seg_rate: float
    under_seg_rate: float
    own_cluster_rate: float
    missed_rate: float
    lost_fraction: float  # object points lost to ground / noise, pooled over objects
    n_clusters: int

    def as_dict(self) -> dict:
        """JSON-friendly dict."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class ObjectMatch:
    """Per evaluated GT object: ``instance`` id, point count, clustered count, majority cluster
    (-1 when missed), its share of the clustered points, and whether the cluster is its own."""

    instance: np.ndarray
    n_points: np.ndarray
    n_clustered: np.ndarray
    majority: np.ndarray
    majority_share: np.ndarray
    own: np.ndarray


def match_objects(
    cluster_id: np.ndarray, gt_instance: np.ndarray, min_points: int = 10
) -> tuple[ObjectMatch, np.ndarray]:
    """Majority cluster of every GT object with >= ``min_points`` points.

    cluster_id, gt_instance: (N,). Returns the per-object ``ObjectMatch`` and a (K_clusters,
    n_objects) contingency table of clustered points.
    """
    cluster_id = np.asarray(cluster_id)
    gt_instance = np.asarray(gt_instance)
    inst, inv, counts = np.unique(gt_instance, return_inverse=True, return_counts=True)
    ok = (inst > 0) & (counts >= min_points)
    objects = inst[ok]
    col = np.full(len(inst), -1)
    col[ok] = np.arange(ok.sum())
    obj_col = col[inv.reshape(-1)]
    k = int(cluster_id.max()) + 1 if len(cluster_id) else 0
    sel = (obj_col >= 0) & (cluster_id >= 0)
    table = np.zeros((k, len(objects)), np.int64)
    np.add.at(table, (cluster_id[sel], obj_col[sel]), 1)
    n_clustered = table.sum(axis=0)
    if k:
        majority = np.where(n_clustered > 0, table.argmax(axis=0), -1)
        share = table.max(axis=0) / np.maximum(n_clustered, 1)
    else:
        majority = np.full(len(objects), -1)
        share = np.zeros(len(objects))
    maj_count = np.bincount(majority[majority >= 0], minlength=max(k, 1))
    own = (majority >= 0) & (maj_count[np.maximum(majority, 0)] == 1)
    match = ObjectMatch(objects, counts[ok], n_clustered, majority, share, own)
    return match, table


def evaluate(
    cluster_id: np.ndarray,
    ground_pred: np.ndarray,
    gt_instance: np.ndarray,
    gt_ground: np.ndarray | None,
    min_points: int = 10,
    over_fraction: float = 0.8,
    under_fraction: float = 0.2,
    under_points: int = 10,
) -> tuple[SegmentationQuality, ObjectMatch]:
    """Scores of one frame. cluster_id (N,) int (-1 none); ground_pred (N,) bool; gt_instance (N,)
    int; gt_ground (N,) bool or None (ground precision/recall are then NaN). See module doc."""
    match, table = match_objects(cluster_id, gt_instance, min_points)
    if gt_ground is not None and len(gt_ground):
        tp = np.count_nonzero(ground_pred & gt_ground)
        prec = tp / max(np.count_nonzero(ground_pred), 1)
        rec = tp / max(np.count_nonzero(gt_ground), 1)
    else:
        prec = rec = float("nan")
    n = len(match.instance)
    lost = float(1 - match.n_clustered.sum() / max(match.n_points.sum(), 1)) if n else float("nan")
    missed = match.majority < 0
    over = ~missed & (match.majority_share < over_fraction)
    # Under-segmentation over clusters with points of evaluated objects.
    tot = table.sum(axis=1)
    has = tot > 0
    srt = np.sort(table[has], axis=1)
    second = srt[:, -2] if srt.shape[1] >= 2 else np.zeros(len(srt), np.int64)
    under = (second >= under_fraction * tot[has]) | (second >= under_points)
    q = SegmentationQuality(
        ground_precision=float(prec),
        ground_recall=float(rec),
        n_objects=n,
        over_seg_rate=float(over.sum() / n) if n else float("nan"),
        under_seg_rate=float(under.mean()) if len(under) else float("nan"),
        own_cluster_rate=float(match.own.mean()) if n else float("nan"),
        missed_rate=float(missed.mean()) if n else float("nan"),
        lost_fraction=lost,
        n_clusters=int(len(np.unique(cluster_id[cluster_id >= 0]))),
    )
    return q, match


def pool(qualities: list[SegmentationQuality]) -> SegmentationQuality:
    """Object-weighted mean over frames (ground precision/recall: plain mean over frames)."""
    n = np.array([q.n_objects for q in qualities], float)
    w = n / n.sum() if n.sum() else np.full(len(n), 1 / max(len(n), 1))

    def wmean(name: str) -> float:
        v = np.array([getattr(q, name) for q in qualities], float)
        ok = np.isfinite(v) & (w > 0)
        return float((v[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else float("nan")

    def mean(name: str) -> float:
        v = np.array([getattr(q, name) for q in qualities], float)
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    return SegmentationQuality(
        ground_precision=mean("ground_precision"),
        ground_recall=mean("ground_recall"),
        n_objects=int(n.sum()),
        over_seg_rate=wmean("over_seg_rate"),
        under_seg_rate=mean("under_seg_rate"),
        own_cluster_rate=wmean("own_cluster_rate"),
        missed_rate=wmean("missed_rate"),
        lost_fraction=wmean("lost_fraction"),
        n_clusters=int(sum(q.n_clusters for q in qualities)),
    )
