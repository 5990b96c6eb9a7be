"""Ball query: for every centre, the first ``nsample`` point indices (in index order) inside the ball.

Semantics shared bit for bit by every backend: a point j is inside when its squared distance
``dx*dx + dy*dy + dz*dz`` (float32, no FMA) is strictly less than ``float32(r) * float32(r)``; short
lists are padded with their first hit; a centre with no hit (impossible when the centres are points
of the cloud) gets the index of its nearest point (lowest index on ties) in every slot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from t3d_ros.classify.ops import _cpu
from t3d_ros.classify.ops._common import check_count, check_xyz, like, radius_sq, to_numpy
from t3d_ros.classify.ops.backend import resolve_backend

__all__ = ["ball_query", "ball_query_reference"]


def ball_query_reference(xyz: np.ndarray, centres: np.ndarray, radius: float, nsample: int) -> np.ndarray:
    """Plain ball query: xyz (B, N, 3), centres (B, S, 3) -> (B, S, nsample) int64 indices into xyz."""
    xyz = to_numpy(xyz, np.float32)
    centres = to_numpy(centres, np.float32)
    nsample = check_count(nsample, "nsample", 1)
    r2 = radius_sq(radius)
    nb, ns = centres.shape[:2]
    out = np.empty((nb, ns, nsample), np.int64)
    for b in range(nb):
        for s in range(ns):
            diff = xyz[b] - centres[b, s]
            d = diff[:, 0] * diff[:, 0] + diff[:, 1] * diff[:, 1] + diff[:, 2] * diff[:, 2]
            hits = np.flatnonzero(d < r2)[:nsample]
            if hits.size == 0:
                out[b, s] = np.argmin(d)  # argmin: first (lowest) index on ties
            else:
                out[b, s] = hits[0]
                out[b, s, :hits.size] = hits
    return out


def ball_query(xyz: Any, centres: Any, radius: float, nsample: int, backend: str = "auto") -> Any:
    """Ball query of a batch: xyz (B, N, 3) with N >= 1, centres (B, S, 3) -> (B, S, nsample) int64.

    numpy or torch in, the same kind out. backend: "auto" | "reference" | "cpu" | "cuda".
    """
    check_xyz(tuple(xyz.shape))
    check_xyz(tuple(centres.shape), "centres")
    if xyz.shape[0] != centres.shape[0]:
        raise ValueError(f"batch sizes differ: xyz {tuple(xyz.shape)}, centres {tuple(centres.shape)}")
    if xyz.shape[1] == 0:
        raise ValueError("ball query in empty clouds (N == 0)")
    nsample = check_count(nsample, "nsample", 1)
    backend = resolve_backend(backend, xyz)
    if backend == "cuda":
        from t3d_ros.classify.ops import cuda

        return cuda.ball_query(xyz, centres, radius, nsample)
    if backend == "cpu" and _cpu.HAVE_NUMBA:
        out = _cpu.ball_query(to_numpy(xyz, np.float32), to_numpy(centres, np.float32), radius_sq(radius), nsample)
    else:
        out = ball_query_reference(xyz, centres, radius, nsample)
    return like(out, xyz)
