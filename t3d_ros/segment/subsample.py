"""Order-independent subsamples of packed clusters.

A driver decides the order of a cloud's points (ring by ring, column by column, from the top or the
left), and a cluster's points come in that order. Fits that look at a subsample ("every n-th point")
or draw points by index would give a different answer for the same cluster from another driver. The
subsample here is chosen and ordered by a hash of each return's float32 x, y bits instead: it depends
on the points, not on their order.
"""

from __future__ import annotations

import numpy as np

from t3d_ros.segment import _fast


def coord_hash(xy: np.ndarray) -> np.ndarray:
    """(n,) uint64 in [0, 2^32): a hash of each point's float32 x and y bits (xy: (n, >=2))."""
    bits = np.ascontiguousarray(xy[:, :2], dtype=np.float32).view(np.uint32).astype(np.uint64)
    h = bits[:, 0] * np.uint64(0x9E3779B97F4A7C15) ^ bits[:, 1] * np.uint64(0xC2B2AE3D27D4EB4F)  # wraps mod 2^64
    return (h ^ (h >> np.uint64(29))) >> np.uint64(32)


def hash_subsample(xy: np.ndarray, offsets: np.ndarray, sample: int, select: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hash_subsample_reference` (the definition), by a numba kernel when numba is there."""
    offsets = np.asarray(offsets, np.int64)
    if not _fast.HAVE_NUMBA:
        return hash_subsample_reference(xy, offsets, sample, select)
    k = len(offsets) - 1
    sel = np.ones(k, bool) if select is None else np.asarray(select, bool)
    bits = np.ascontiguousarray(xy[:offsets[-1]], dtype=np.float32).view(np.uint32)  # no copy of float32 rows
    return _fast.hash_subsample_kernel(bits, offsets, int(sample), sel)


def hash_subsample_reference(xy: np.ndarray, offsets: np.ndarray, sample: int, select: np.ndarray | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """About ``sample`` returns of every selected cluster, in an order of their own.

    xy: (S, >=2) packed points, cluster k in rows offsets[k]:offsets[k+1] (offsets (K+1,));
    select: (K,) bool, the clusters to sample (default all; the others get no returns).
    Returns indices (T,) into ``xy`` and their offsets (K+1,): all of a cluster's returns up to
    ``sample``, else those whose :func:`coord_hash` falls under sample / n of its range; each cluster's
    returns ordered by that hash (equal hashes: by position, which only identical points share).
    """
    offsets = np.asarray(offsets, np.int64)
    n = np.diff(offsets)
    k = len(n)
    cid = np.repeat(np.arange(k), n)
    rows = np.arange(offsets[-1]) if select is None else np.flatnonzero(np.asarray(select, bool)[cid])
    c = cid[rows]
    h = coord_hash(xy[rows])
    limit = np.where(n > sample, (np.int64(sample) << 32) // np.maximum(n, 1), np.int64(1) << 32).astype(np.uint64)
    keep = h < limit[c]
    rows, c, h = rows[keep], c[keep], h[keep]
    order = np.argsort((c.astype(np.uint64) << np.uint64(32)) | h, kind="stable")
    sub_off = np.zeros(k + 1, np.int64)
    np.cumsum(np.bincount(c, minlength=k), out=sub_off[1:])
    return rows[order], sub_off
