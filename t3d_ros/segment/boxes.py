"""Oriented bounding boxes for packed clusters.

All functions take the packed cluster points ``xyz`` (S, >=3) and ``offsets`` (K+1,) (cluster k is
``xyz[offsets[k]:offsets[k+1]]``, every cluster non-empty) and return (K, 7) float32 boxes
[cx, cy, cz, length, width, height, yaw]: length >= width, yaw of the length axis in [-pi/2, pi/2)
(a box has no front, so yaw is defined modulo pi), z from the cluster's min/max. Every box
contains all the points of its cluster.

- ``lshape_boxes`` (default): search-based L-shape fitting with the closeness criterion (Zhang et
  al., "Efficient L-Shape Fitting for Vehicle Detection Using Laser Scanners", IV 2017), coarse to
  fine, vectorised over all clusters at once.
- ``min_area_boxes``: minimum-area rectangle (convex hull + rotating calipers), one hull per cluster.
- ``aabb_boxes``: axis-aligned boxes (yaw 0), the baseline.
"""

from __future__ import annotations

import math

import numpy as np

from t3d_ros.segment import _fast
from t3d_ros.segment.subsample import hash_subsample


def _cluster_ids(offsets: np.ndarray) -> np.ndarray:
    """Cluster index (S,) int64 of every packed point."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def _finish(
    xyz: np.ndarray, offsets: np.ndarray, yaw: np.ndarray, cid: np.ndarray | None = None
) -> np.ndarray:
    """Boxes (K, 7) enclosing every point, with the length axis along ``yaw`` (K,) or across it."""
    k = len(offsets) - 1
    if k == 0:
        return np.zeros((0, 7), np.float32)
    if cid is None:
        cid = _cluster_ids(offsets)
    start = offsets[:-1]
    x = xyz[:, 0].astype(np.float64)
    y = xyz[:, 1].astype(np.float64)
    c, s = np.cos(yaw), np.sin(yaw)
    u = x * c[cid] + y * s[cid]
    v = -x * s[cid] + y * c[cid]
    umin, umax = np.minimum.reduceat(u, start), np.maximum.reduceat(u, start)
    vmin, vmax = np.minimum.reduceat(v, start), np.maximum.reduceat(v, start)
    zmin = np.minimum.reduceat(xyz[:, 2], start).astype(np.float64)
    zmax = np.maximum.reduceat(xyz[:, 2], start).astype(np.float64)
    uc, vc = (umin + umax) / 2, (vmin + vmax) / 2
    lu, lv = umax - umin, vmax - vmin
    cx, cy = uc * c - vc * s, uc * s + vc * c
    # Length is the longer side: swap and turn by 90 degrees where v is longer.
    swap = lv > lu
    length = np.where(swap, lv, lu)
    width = np.where(swap, lu, lv)
    yaw = np.where(swap, yaw + np.pi / 2, yaw)
    yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2
    out = np.column_stack([cx, cy, (zmin + zmax) / 2, length, width, zmax - zmin, yaw])
    return out.astype(np.float32)


def aabb_boxes(xyz: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes (K, 7) float32 (yaw 0 or -pi/2 when y is the longer side)."""
    return _finish(xyz, offsets, np.zeros(len(offsets) - 1))


def _closeness(
    x: np.ndarray, y: np.ndarray, theta: np.ndarray, cid: np.ndarray, start: np.ndarray, d0: float
) -> np.ndarray:
    """``_closeness_reference`` (the definition) cluster by cluster in numba: the same float32
    operations and numpy's summation order, without the (angles x points) temporaries."""
    if not _fast.HAVE_NUMBA:
        return _closeness_reference(x, y, theta, cid, start, d0)
    th = np.ascontiguousarray(theta.T, dtype=np.float32)
    length = np.diff(np.append(start, len(x)))
    return _fast.closeness_kernel(np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32),
                                  np.cos(th), np.sin(th), start.astype(np.int64), length.astype(np.int64),
                                  np.float32(d0))


def _closeness_reference(
    x: np.ndarray, y: np.ndarray, theta: np.ndarray, cid: np.ndarray, start: np.ndarray, d0: float
) -> np.ndarray:
    """Zhang et al.'s closeness score (K, A) of candidate angles ``theta`` (K, A) per cluster.

    x, y: (T,) points, centred per cluster; cid: (T,) their cluster; start: (K,) first points.
    Works in (A, T) layout so that every reduction runs over contiguous rows.
    """
    # C-contiguous (A, K) first: gathering from a transposed view would give strided (A, T) arrays.
    th = np.ascontiguousarray(theta.T, dtype=np.float32)
    # np.take, not [:, cid]: fancy indexing on axis 1 returns an F-ordered array (3x slower below).
    c = np.take(np.cos(th), cid, axis=1)  # (A, T)
    s = np.take(np.sin(th), cid, axis=1)
    d = None
    for p in (x * c + y * s, y * c - x * s):
        to_min = p - np.take(np.minimum.reduceat(p, start, axis=1), cid, axis=1)
        to_max = np.take(np.maximum.reduceat(p, start, axis=1), cid, axis=1) - p
        # The paper picks, per axis, the edge the points are closer to as a whole (L2 norm).
        near_max = np.add.reduceat(to_max * to_max - to_min * to_min, start, axis=1) < 0
        di = np.where(np.take(near_max, cid, axis=1), to_max, to_min)
        d = di if d is None else np.minimum(d, di)
    np.maximum(d, d0, out=d)
    return np.add.reduceat(1.0 / d, start, axis=1).T


def lshape_boxes(
    xyz: np.ndarray,
    offsets: np.ndarray,
    coarse_step_deg: float = 6.0,
    fine_step_deg: float = 1.0,
    max_points: int = 200,
    d0: float = 0.01,
) -> np.ndarray:
    """L-shape fitting (closeness criterion) for all clusters at once: boxes (K, 7) float32.

    The angle search covers [0, 90) degrees at ``coarse_step_deg``, then +-``coarse_step_deg``
    around the best at ``fine_step_deg``. The score uses about ``max_points`` points per cluster (the
    criterion saturates long before that), chosen and ordered by a hash of their coordinates
    (``subsample.hash_subsample``), so that the box does not depend on the order of the points; the
    final extents use all points so that the box contains every one. ``d0`` (m) caps the reward of points on an edge.
    """
    k = len(offsets) - 1
    if k == 0:
        return np.zeros((0, 7), np.float32)
    idx, sub_off = hash_subsample(xyz, offsets, max_points)
    cid = _cluster_ids(sub_off)
    start = sub_off[:-1]
    x = xyz[idx, 0].astype(np.float32)
    y = xyz[idx, 1].astype(np.float32)
    # Centre each cluster: far clusters would otherwise lose precision in the projections.
    mx = (np.add.reduceat(x, start) / np.diff(sub_off)).astype(np.float32)
    my = (np.add.reduceat(y, start) / np.diff(sub_off)).astype(np.float32)
    x, y = x - mx[cid], y - my[cid]
    coarse = np.deg2rad(np.arange(0.0, 90.0, coarse_step_deg))
    score = _closeness(x, y, np.broadcast_to(coarse, (k, len(coarse))), cid, start, d0)
    best = coarse[np.argmax(score, axis=1)]
    fine = np.deg2rad(np.arange(-coarse_step_deg, coarse_step_deg + 1e-9, fine_step_deg))
    cand = best[:, None] + fine[None, :]  # (K, F)
    score = _closeness(x, y, cand, cid, start, d0)
    yaw = cand[np.arange(k), np.argmax(score, axis=1)]
    return _finish(xyz, offsets, yaw)


def min_area_boxes(xyz: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Minimum-area enclosing rectangles (K, 7) float32: the best hull edge direction (rotating
    calipers: the optimal rectangle has a side on a hull edge). Degenerate clusters (fewer than 3
    points or collinear) fall back to their principal direction."""
    from scipy.spatial import ConvexHull, QhullError

    k = len(offsets) - 1
    yaw = np.zeros(k)
    for i in range(k):
        p = xyz[offsets[i] : offsets[i + 1], :2].astype(np.float64)
        p = p - p.mean(axis=0)
        try:
            hull = p[ConvexHull(p).vertices]
        except (QhullError, ValueError):
            if len(p) >= 2:
                w, vec = np.linalg.eigh(p.T @ p)
                yaw[i] = math.atan2(vec[1, 1], vec[0, 1])
            continue
        e = np.roll(hull, -1, axis=0) - hull
        ang = np.arctan2(e[:, 1], e[:, 0])
        c, s = np.cos(ang), np.sin(ang)
        u = hull[:, 0, None] * c + hull[:, 1, None] * s  # (H, E)
        v = -hull[:, 0, None] * s + hull[:, 1, None] * c
        area = (u.max(0) - u.min(0)) * (v.max(0) - v.min(0))
        yaw[i] = ang[np.argmin(area)]
    return _finish(xyz, offsets, yaw)


BOX_METHODS = {"lshape": lshape_boxes, "minarea": min_area_boxes, "aabb": aabb_boxes}


def fit_boxes(xyz: np.ndarray, offsets: np.ndarray, method: str = "lshape") -> np.ndarray:
    """Boxes (K, 7) float32 of packed clusters by ``method`` in ``BOX_METHODS``."""
    try:
        fn = BOX_METHODS[method]
    except KeyError:
        raise ValueError(f"unknown box method {method!r}; choose one of {sorted(BOX_METHODS)}") from None
    return fn(xyz, offsets)
