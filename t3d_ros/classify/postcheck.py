"""Checks after the network: a label whose box cannot hold an object of that class becomes ``unknown``.

A cluster is a partial view, so its box is usually *smaller* than the object (one side of a car, the
top of a pedestrian behind a parked car): the limits are what no object of the class exceeds, plus
the few minimum heights that a real road user always shows to a LiDAR that sees it at all. A
pedestrian 6 m long, a car 0.3 m tall or a truck lower than a hedge cannot be one: such clusters are
walls, hedges, kerbs or merges, and the label is lowered to ``unknown`` (never dropped: the cluster
is still published, with the network's score and the reason in ``Perception``'s result).

Limits are in metres on the fitted box (length >= width, height = z extent of the returns above the
ground filter). Road users also stand on the ground: a ``car`` whose lowest return lies 2 m above
the ground around it is a tree crown, a sign or a wall top (``max_ground_gap``, measured against the
*local* ground, ``segment/ground.py: cluster_ground_gap``, because streets slope). Those limits come
from simulation, not from body sizes: occlusion hides the lower part of road users behind parked
cars, so each is the 99.5th percentile of the class's own clusters over simulated validation frames
of every sensor and mounting height, rounded up to 0.1 m (``python -m t3d_ros.bench.ground_gap``,
benchmarks/results/ground_gap.md). Switch both checks off with the node parameter ``size_check: false``.

``label_thresholds`` gives the other check, the score each label must reach: its class's calibrated
threshold, a stricter one for clusters of few returns (see ``offline/train/calibrate.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class SizeLimits:
    """What a cluster of one class may measure: ``max_length``, ``max_width``, ``max_height`` and
    ``min_height`` (m; ``inf`` / 0 = no limit); ``max_ground_gap``: how high (m) its lowest return
    may lie above the local ground, and ``max_top``: its highest return."""

    max_length: float = float("inf")
    max_width: float = float("inf")
    max_height: float = float("inf")
    min_height: float = 0.0
    max_ground_gap: float = float("inf")
    max_top: float = float("inf")


# Box limits: from vehicle and body dimensions with a margin for noisy boxes, never from data the model is
# judged on. Vans count as cars (KITTI's Van, a Sprinter: up to ~7 m long, 2.8 m high).
# max_ground_gap: benchmarks/results/ground_gap.md (800 simulated validation frames of the current simulator,
# 2026-11-30).
SIZE_LIMITS: dict[str, SizeLimits] = {
    "car": SizeLimits(max_length=7.0, max_width=3.0, max_height=3.0, min_height=0.5, max_ground_gap=1.7),
    "truck": SizeLimits(max_length=20.0, max_width=3.6, max_height=4.8, min_height=1.8, max_ground_gap=3.2),
    # max_top: the tallest people stand ~2.1 m, a rider's head on a bicycle as high; 0.2 m for the ground
    # estimate (max_height, 2.4 m, is measured from the lowest return, which may lie well above the ground).
    "pedestrian": SizeLimits(max_length=1.5, max_width=1.3, max_height=2.4, min_height=0.6, max_ground_gap=1.2,
                             max_top=2.3),
    "cyclist": SizeLimits(max_length=2.6, max_width=1.4, max_height=2.4, min_height=0.7, max_ground_gap=1.0,
                          max_top=2.3),
    "pole": SizeLimits(max_length=4.0, max_width=1.5),  # lamp arms reach out; trunks are thin
    "misc": SizeLimits(max_length=3.5, max_width=2.5, max_height=2.5),  # bins, cones, benches, cabinets
}


def without_ground_check(limits: Mapping[str, SizeLimits]) -> dict[str, SizeLimits]:
    """``limits`` with the ground check off (no ``max_ground_gap``, no ``max_top``): the box limits alone."""
    return {k: replace(v, max_ground_gap=float("inf"), max_top=float("inf")) for k, v in limits.items()}


def label_thresholds(labels: Sequence[str], counts: Sequence[int] | np.ndarray | None, thresholds: Mapping[str, float],
                     sparse_points: int = 0, sparse_thresholds: Mapping[str, float] | None = None) -> np.ndarray:
    """(K,) the score each cluster's label must reach: its class's threshold, or, for a cluster of fewer
    than ``sparse_points`` returns (``counts``; unused when ``sparse_points`` is 0), its class's sparse
    threshold; 0 for a class not named.
    The rule the node applies and calibration judges by (``offline/train/calibrate.py``: why two bands)."""
    dense = np.array([thresholds.get(lab, 0.0) for lab in labels], dtype=np.float64)
    if sparse_points <= 0 or not len(dense):
        return dense
    sparse = np.array([(sparse_thresholds or {}).get(lab, 0.0) for lab in labels], dtype=np.float64)
    return np.where(np.asarray(counts) < sparse_points, sparse, dense)


def implausible_reason(label: str, size: Sequence[float], limits: dict[str, SizeLimits] = SIZE_LIMITS,
                       ground_gap: float = float("nan")) -> str:
    """Why a box of ``size`` (length, width, height) whose lowest return lies ``ground_gap`` (m; NaN:
    no ground seen near it, not checked) above the local ground cannot be a ``label`` ('' when it can)."""
    lim = limits.get(label)
    if lim is None:
        return ""
    length, width, height = (float(v) for v in size[:3])
    if length > lim.max_length:
        return f"{length:.1f} m long (a {label} is at most {lim.max_length:g} m)"
    if width > lim.max_width:
        return f"{width:.1f} m wide (a {label} is at most {lim.max_width:g} m)"
    if height > lim.max_height:
        return f"{height:.1f} m high (a {label} is at most {lim.max_height:g} m)"
    if height < lim.min_height:
        return f"{height:.2f} m high (a {label} shows at least {lim.min_height:g} m)"
    if ground_gap > lim.max_ground_gap:
        return f"lowest return {ground_gap:.1f} m above the ground (a {label}: at most {lim.max_ground_gap:g} m)"
    if ground_gap + height > lim.max_top:
        return f"top {ground_gap + height:.1f} m above the ground (a {label} reaches at most {lim.max_top:g} m)"
    return ""


def size_check(labels: Sequence[str], sizes: np.ndarray, limits: dict[str, SizeLimits] = SIZE_LIMITS,
               ground_gaps: np.ndarray | None = None) -> list[str]:
    """Per cluster the reason its label is implausible ('' = plausible). sizes: (K, >=3) l, w, h;
    ground_gaps: (K,) lowest return above the local ground (m, NaN unknown), None: not checked."""
    if not len(labels):
        return []
    sizes = np.asarray(sizes, dtype=np.float64).reshape(len(labels), -1)
    gaps = np.full(len(labels), np.nan) if ground_gaps is None else np.asarray(ground_gaps, np.float64)
    return [implausible_reason(lab, s, limits, float(g)) for lab, s, g in zip(labels, sizes, gaps, strict=True)]
