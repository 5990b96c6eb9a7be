"""Objects that stand against a wall: split them off the wall's cluster.

A box, a bin, a parked bicycle or a person a few centimetres from a wall, a fence or a façade shares
bird's-eye cells with it, and no distance threshold separates them (KITTI frame 000002's Misc object:
returns 2-5 cm from the wall's). What does separate them is the wall's geometry: a wall is a vertical
plane, and the object stands *in front of* it, on the sensor's side. The same holds far away, where
a car parked beside a hedge or a fence becomes one cluster of a hundred returns with it. So, for every
cluster of ``min_points`` or more returns that spans ``min_length`` or more in the bird's-eye view:

1. find its dominant vertical plane: a line in the bird's-eye view, fitted by RANSAC to the returns'
   x, y (pairs of returns at least 1 m apart, scored on a fixed subsample, then refitted by least
   squares to its inliers);
2. if at least ``min_share`` of the cluster lies within ``tolerance`` of that plane and those returns
   run ``min_length`` or more along it, it is a wall: the returns more than ``tolerance`` in front of
   it (between the plane and the sensor) are clustered again on their own, with the pipeline's
   clustering. The length keeps objects whole whose own side is a plane shorter than a wall: a
   bicycle's frame is one, and its rider stands in front of it;
3. each piece of ``min_piece`` returns or more that reaches ``DEPTH_FACTOR`` x ``tolerance`` (0.25 m)
   or farther in front of the plane becomes a cluster of its own; everything else stays with the wall:
   shallower pieces (sills, pipes, the front layer of a thick hedge or of a wall whose returns scatter
   over its depth) and whatever lies behind the plane (window recesses, doorways, what is seen through
   a gap, the far side of a corner), so that a façade's own relief does not fall apart into false
   objects.

A convex object is never split: its other faces lie behind the plane of any face the sensor sees.
Deterministic (fixed draws) and cheap: the RANSAC scores ``SAMPLE`` returns per hypothesis, clusters
shorter than ``min_length`` are not fitted at all, and with numba every candidate is checked in one
pass (``_fast.wall_fronts_kernel``; ``_walls_reference`` is the definition it repeats bit for bit).
Tested on synthetic walls in ``test/test_walls.py``, against the reference in
``test/test_fast_segment.py`` and on KITTI's Misc object in ``test/test_kitti.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from t3d_ros.segment import _fast
from t3d_ros.segment.cluster import pack_labels
from t3d_ros.segment.subsample import hash_subsample

MIN_PAIR_DISTANCE = 1.0  # m: the two returns that propose a line lie at least this far apart
ITERATIONS = 48  # line hypotheses a cluster
SAMPLE = 400  # about this many returns they are scored on (subsample.hash_subsample)
DEPTH_FACTOR = 2.5  # a piece split off reaches at least this many tolerances in front of the wall


_DRAWS = np.random.default_rng(0).random((2, 256))  # fixed draws: deterministic, and no generator per call


def fit_wall_line(xy: np.ndarray, tolerance: float, iterations: int = ITERATIONS, sample: int = SAMPLE,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The dominant line of bird's-eye points ``xy`` (n, 2): (a point on it (2,), its unit normal (2,),
    the share of the points within ``tolerance`` of it, estimated on the ~``sample`` points it was
    fitted to: ``subsample.hash_subsample``), or None with fewer than 3 points or no pair of points
    ``MIN_PAIR_DISTANCE`` apart. The line hypotheses join pairs of those points chosen by fixed
    random draws (``seed`` picks which of them; at most 256 ``iterations``)."""
    n = len(xy)
    if n < 3:
        return None
    idx, _ = hash_subsample(xy, np.array([0, n]), sample)
    sub = np.ascontiguousarray(xy[idx, :2], np.float64)  # <= ~sample points, in the hash's order
    if _fast.HAVE_NUMBA:  # the same hypotheses and inliers in one pass, no (S, H) matrix
        inl = _fast.wall_line_kernel(sub, _DRAWS, seed, min(iterations, _DRAWS.shape[1]), MIN_PAIR_DISTANCE,
                                     float(tolerance))
        if not len(inl):
            return None
    else:
        draws = np.roll(_DRAWS, seed, axis=1)[:, :iterations]
        i, j = (draws * len(sub)).astype(np.int64)
        d = sub[j] - sub[i]
        length = np.hypot(d[:, 0], d[:, 1])
        ok = length >= MIN_PAIR_DISTANCE
        if not ok.any():
            return None
        nx, ny = -d[ok, 1] / length[ok], d[ok, 0] / length[ok]  # (H,) unit normals
        c = sub[i[ok], 0] * nx + sub[i[ok], 1] * ny  # the lines: n . p = c
        near = np.abs(sub[:, :1] * nx + sub[:, 1:] * ny - c) < tolerance  # (S, H)
        inl = near[:, int(near.sum(axis=0).argmax())]
    # least squares on the inliers: the line through their mean along their main direction (the
    # 2 x 2 scatter's major axis in closed form: a fifth of an SVD's time, and a frame fits ~30 lines)
    # Products and sums in separate numpy steps (no matmul: BLAS may fuse them), every sum down the
    # rows of a 2-D array (numpy adds those row by row), so that the numba kernel of split_walls
    # (_fast.wall_fronts_kernel) repeats them bit for bit.
    q = sub[inl]
    p0 = q.mean(axis=0)
    dx, dy = q[:, 0] - p0[0], q[:, 1] - p0[1]
    sxy, sxx, syy = np.column_stack([dx * dy, dx * dx, dy * dy]).sum(axis=0).tolist()
    theta = 0.5 * math.atan2(2 * sxy, sxx - syy)
    normal = np.array([-math.sin(theta), math.cos(theta)])
    share = float((np.abs(_signed(sub, p0, normal)) < tolerance).mean())
    return p0, normal, share


def _signed(xy: np.ndarray, p0: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """(n,) float64 (xy - p0) . normal, products and sum in separate steps."""
    return (xy[:, 0] - p0[0]) * normal[0] + (xy[:, 1] - p0[1]) * normal[1]


def _walls_reference(xy_all: np.ndarray, offsets: np.ndarray, cand: np.ndarray, seeds: np.ndarray, tolerance: float,
                     min_share: float, min_length: float, min_piece: int):
    """The definition of a wall (module docstring, steps 1-2), cluster by cluster: yields (k, dist) for
    every candidate cluster k (rows offsets[k]:offsets[k+1] of ``xy_all``) that is a wall with
    ``min_piece`` returns or more in front of it; dist (n_k,) float64: each return's signed distance
    to the plane, + on the sensor's side."""
    for k in np.flatnonzero(cand):
        xy = xy_all[offsets[k]:offsets[k + 1]]
        line = fit_wall_line(xy, tolerance, ITERATIONS, SAMPLE, seed=int(seeds[k]))
        if line is None or line[2] < min_share:
            continue
        p0, normal, _ = line
        if -(p0[0] * normal[0] + p0[1] * normal[1]) < 0:  # the normal points to the sensor's side
            normal = -normal
        dist = _signed(xy, p0, normal)
        ahead = dist >= tolerance
        if np.count_nonzero(ahead) < min_piece:
            continue  # nothing in front (a convex object's faces all lie behind each other's planes)
        if min_length > 0:
            on = ~ahead & (np.abs(dist) < tolerance)
            along = _signed(xy[on], p0, np.array([normal[1], -normal[0]]))
            if not len(along) or np.ptp(along) < min_length:
                continue
        yield k, dist


def split_walls(xyz: np.ndarray, labels: np.ndarray, recluster: Callable[[np.ndarray], np.ndarray],
                min_points: int = 1000, tolerance: float = 0.1, min_share: float = 0.4,
                min_piece: int = 10, rows: np.ndarray | None = None, min_length: float = 0.0) -> np.ndarray:
    """``labels`` (n,) of the points ``xyz`` (n, >=3, sensor frame: the sensor at the origin; with
    ``rows`` (n,), of the points ``xyz[rows]``, without copying them) with the objects in front of every
    wall split off (module docstring; a wall runs ``min_length`` [m] or more along its plane).
    ``recluster(points (m, 3))`` returns component ids of a subset (the pipeline's clustering). New
    clusters get ids above ``labels.max()``; labels that were not split are returned unchanged (a copy)."""
    labels = np.asarray(labels)
    out = labels.copy()
    if not len(labels):
        return out
    # the members of all large clusters grouped by cluster, in point order within each (as
    # np.flatnonzero(labels == c) gives them), by one counting sort instead of a pass per cluster
    top = int(labels.max())
    lab = labels if labels.min() >= 0 else np.where(labels >= 0, labels, top + 1)  # -1: an id above all others
    _, members, offsets, _ = pack_labels(lab, min_points, len(lab), keep_oversize=True)
    ids = np.flatnonzero(np.bincount(lab) >= min_points)
    ids = ids[ids <= top]  # the unclustered points (-1) are no cluster; packed last, so k still indexes offsets
    if not len(ids):
        return out
    rows_of = members if rows is None else rows[members]
    every = np.take(xyz, rows_of, axis=0)  # one gather of all their points (4x faster than xyz[rows_of])
    starts, end = offsets[:len(ids)], offsets[len(ids)]
    xy_all = every[:end, :2]
    if min_length > 0:  # the bird's-eye diagonal of every cluster, in one pass
        span = np.maximum.reduceat(xy_all, starts, axis=0) - np.minimum.reduceat(xy_all, starts, axis=0)
        cand = np.hypot(span[:, 0], span[:, 1]) >= min_length  # shorter: no wall (most clusters: no fit)
    else:
        cand = np.ones(len(ids), bool)
    seeds = np.diff(offsets[:len(ids) + 1]).astype(np.int64)  # by size, not by number: the order changes numbers
    if _fast.HAVE_NUMBA:  # every candidate's plane and checks in one pass; the same walls and distances
        sub_idx, sub_off = hash_subsample(xy_all, offsets[:len(ids) + 1], SAMPLE, cand)
        is_wall, dist_all = _fast.wall_fronts_kernel(
            xy_all, offsets, cand, seeds, np.ascontiguousarray(xy_all[sub_idx], np.float64), sub_off, _DRAWS,
            ITERATIONS, MIN_PAIR_DISTANCE,
            float(tolerance), float(min_share), float(min_length), int(min_piece))
        walls = ((k, dist_all[offsets[k]:offsets[k + 1]]) for k in np.flatnonzero(is_wall))
    else:
        walls = _walls_reference(xy_all, offsets, cand, seeds, tolerance, min_share, min_length, min_piece)
    next_id = top + 1
    for k, dist in walls:
        idx = members[offsets[k]:offsets[k + 1]]
        pts = every[offsets[k]:offsets[k + 1]]
        ahead = dist >= tolerance
        front = idx[ahead]
        pieces = np.asarray(recluster(np.ascontiguousarray(pts[ahead, :3])))
        sizes = np.bincount(pieces)
        depth = np.zeros(len(sizes))
        np.maximum.at(depth, pieces, dist[ahead])  # how far each piece reaches in front of the wall
        keep = (sizes >= min_piece)[pieces] & (depth >= DEPTH_FACTOR * tolerance)[pieces]
        if not keep.any():
            continue
        out[front[keep]] = next_id + pieces[keep]
        next_id += len(sizes)
    return out
