"""Farthest point sampling (FPS): a plain reference, a numba CPU kernel and a CUDA kernel.

Semantics shared bit for bit by every backend:

- the first index is ``start`` (0 for the packed/batched calls);
- each step picks, among the points not chosen yet, the one with the largest min-distance to the
  chosen set; distances are squared Euclidean in float32, ``dx*dx + dy*dy + dz*dz`` in that order
  (no FMA); ties go to the lowest index. Points at the origin and duplicates are ordinary points;
- for ``k > n`` the chosen sequence is cycled once all n points are chosen: ``idx[i] = idx[i % n]``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from t3d_ros.classify.ops import _cpu
from t3d_ros.classify.ops._common import check_count, check_offsets, check_xyz, is_tensor, like, to_numpy
from t3d_ros.classify.ops.backend import resolve_backend

__all__ = ["fps_reference", "fps_packed", "fps_batch"]


def fps_reference(xyz: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """Plain FPS of one cloud: xyz (n, 3) -> (k,) int64 indices into xyz (see the module docstring)."""
    xyz = to_numpy(xyz, np.float32)
    check_xyz(xyz.shape, batched=False)
    n = xyz.shape[0]
    if n == 0:
        raise ValueError("FPS of an empty cloud")
    k = check_count(k, "k")
    if not 0 <= start < n:
        raise ValueError(f"start must be in [0, {n}), got {start}")
    out = np.empty(k, np.int64)
    if k == 0:
        return out
    mind = np.full(n, np.inf, np.float32)
    chosen = np.zeros(n, bool)
    c = start
    out[0] = c
    for s in range(1, min(k, n)):
        chosen[c] = True
        diff = xyz - xyz[c]
        d = diff[:, 0] * diff[:, 0] + diff[:, 1] * diff[:, 1] + diff[:, 2] * diff[:, 2]
        mind = np.minimum(mind, d)
        c = int(np.argmax(np.where(chosen, np.float32(-1.0), mind)))  # argmax: first (lowest) index on ties
        out[s] = c
    for s in range(n, k):
        out[s] = out[s % n]
    return out


_warned_no_numba = False


def _cpu_available() -> bool:
    global _warned_no_numba
    if not _cpu.HAVE_NUMBA and not _warned_no_numba:
        warnings.warn("numba is not installed: the 'cpu' sampling backend runs the (slow) reference code",
                      RuntimeWarning, stacklevel=3)
        _warned_no_numba = True
    return _cpu.HAVE_NUMBA


def fps_packed(points: Any, offsets: Any, k: int, backend: str = "auto") -> Any:
    """FPS of every cluster of a packed frame in one call.

    points: (P, 3+) float32 (numpy or torch; columns after xyz are ignored); offsets: (K+1,) int64,
    cluster i is ``points[offsets[i]:offsets[i+1]]`` (every cluster non-empty). Returns (K, k) int64
    local indices (0..n_i-1 within each cluster, start 0), the same kind of array as ``points``.
    backend: "auto" | "reference" | "cpu" | "cuda" (CUDA tensors in and out).
    """
    k = check_count(k, "k")
    backend = resolve_backend(backend, points)
    if len(points.shape) != 2 or points.shape[1] < 3:
        raise ValueError(f"points must have shape (P, 3+), got {tuple(points.shape)}")
    off = check_offsets(to_numpy(offsets, np.int64), points.shape[0])
    if backend == "cuda":
        from t3d_ros.classify.ops import cuda

        return cuda.fps_packed(points[:, :3], off, k)
    xyz = to_numpy(points[:, :3], np.float32)
    if backend == "cpu" and _cpu_available():
        out = _cpu.fps_packed(xyz, off, k)
    else:
        out = np.empty((off.shape[0] - 1, k), np.int64)
        for i in range(off.shape[0] - 1):
            out[i] = fps_reference(xyz[off[i]:off[i + 1]], k)
    return like(out, points)


def fps_batch(xyz: Any, k: int, backend: str = "auto") -> Any:
    """FPS of every cloud of a fixed-size batch: xyz (B, N, 3), N >= 1 -> (B, k) int64 (start 0)."""
    k = check_count(k, "k")
    check_xyz(tuple(xyz.shape))
    nb, n = xyz.shape[:2]
    if n == 0:
        raise ValueError("FPS of empty clouds (N == 0)")
    backend = resolve_backend(backend, xyz)
    if backend == "cuda":
        from t3d_ros.classify.ops import cuda

        return cuda.fps_batch(xyz, k)
    offsets = np.arange(nb + 1, dtype=np.int64) * n
    if is_tensor(xyz):
        return like(fps_packed(to_numpy(xyz, np.float32).reshape(nb * n, 3), offsets, k, backend), xyz)
    return fps_packed(np.asarray(xyz).reshape(nb * n, 3), offsets, k, backend)
