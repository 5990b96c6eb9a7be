"""All PointNet++ sampling/grouping indices of a frame, computed before the network.

Step 1 (``sample_clusters``): every cluster of the packed frame is sampled by FPS to a fixed N points,
giving the (K, N, C) batch. Step 2 (``sample_and_group``): for each set-abstraction level, the FPS
centres among the previous level's points and the ball-query neighbours of those centres. The
network then only gathers with these indices (no custom ops in the exported graph).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from t3d_ros.classify.ops import _cpu
from t3d_ros.classify.ops._common import check_count, check_xyz, is_tensor, like, radius_sq, to_numpy
from t3d_ros.classify.ops.backend import resolve_backend
from t3d_ros.classify.ops.ball_query import ball_query, ball_query_reference
from t3d_ros.classify.ops.fps import fps_packed, fps_reference

__all__ = ["SALevel", "sample_and_group", "sample_clusters"]


@dataclass(frozen=True)
class SALevel:
    """One set-abstraction level: ``npoint`` centres (0: global level), ball ``radius``, ``nsample``.

    A multi-scale level (PointNet++ MSG) gives tuples of radii and nsamples: one FPS, one ball query
    per scale, the scales' neighbour lists side by side in one (B, S, sum(nsample)) index tensor."""

    npoint: int
    radius: float | tuple[float, ...]
    nsample: int | tuple[int, ...]

    @property
    def scales(self) -> list[tuple[float, int]]:
        """``[(radius, nsample), ...]``, one entry per scale."""
        radii = tuple(self.radius) if isinstance(self.radius, tuple | list) else (self.radius,)
        counts = tuple(self.nsample) if isinstance(self.nsample, tuple | list) else (self.nsample,)
        if len(radii) != len(counts):
            raise ValueError(f"{len(radii)} radii but {len(counts)} nsamples in {self}")
        return list(zip(radii, counts, strict=True))


def _check_levels(levels: Sequence[SALevel]) -> list[SALevel]:
    levels = list(levels)
    for i, lv in enumerate(levels):
        check_count(lv.npoint, f"levels[{i}].npoint")
        if lv.npoint > 0:
            for radius, nsample in lv.scales:
                check_count(nsample, f"levels[{i}].nsample", 1)
                if not radius > 0:
                    raise ValueError(f"levels[{i}].radius must be > 0, got {radius}")
        elif any(later.npoint > 0 for later in levels[i + 1:]):
            raise ValueError("a global level (npoint == 0) must come after every sampling level")
    return levels


def _gather(pts: Any, idx: Any) -> Any:
    """pts (B, N, 3), idx (B, S) -> (B, S, 3), numpy or torch."""
    if is_tensor(pts):
        return pts.gather(1, idx[:, :, None].expand(-1, -1, pts.shape[2]))
    return np.take_along_axis(pts, idx[:, :, None], axis=1)


def _concat(parts: list[Any]) -> Any:
    if is_tensor(parts[0]):
        import torch

        return torch.cat(parts, dim=-1)
    return np.concatenate(parts, axis=-1)


def _sample_and_group_reference(xyz: np.ndarray, levels: list[SALevel]) -> list[tuple[np.ndarray, np.ndarray]]:
    nb = xyz.shape[0]
    out = []
    pts = xyz
    for lv in levels:
        fidx = np.stack([fps_reference(pts[b], lv.npoint) for b in range(nb)]).reshape(nb, lv.npoint)
        centres = np.take_along_axis(pts, fidx[:, :, None], axis=1)
        out.append((fidx, ball_query_reference(pts, centres, lv.radius, lv.nsample)))
        pts = centres
    return out


def sample_and_group(xyz: Any, levels: Sequence[SALevel], backend: str = "auto") -> list[Any]:
    """Sampling/grouping indices of every SA level for a batch xyz (B, N, 3), N >= 1.

    Level l samples ``npoint`` centres by FPS (start 0) among the previous level's centres (level 0:
    the N input points) and groups around them. Returns, per level, ``(fps_idx (B, S_l) int64,
    group_idx (B, S_l, sum of nsample_l) int64)``, both indexing the previous level's points; ``None`` for a
    global level (npoint == 0, last levels only). numpy or torch in, the same kind out.
    """
    check_xyz(tuple(xyz.shape))
    if xyz.shape[1] == 0:
        raise ValueError("sampling empty clouds (N == 0)")
    levels = _check_levels(levels)
    multi = [lv for lv in levels if lv.npoint > 0]
    # The first scale of every level in one fast call; the extra scales of multi-scale levels after it.
    sampled = [SALevel(lv.npoint, *lv.scales[0]) for lv in multi]
    backend = resolve_backend(backend, xyz)
    if backend == "cuda":
        from t3d_ros.classify.ops import cuda

        results = cuda.sample_group(xyz, [(lv.npoint, lv.nsample, radius_sq(lv.radius)) for lv in sampled])
    else:
        pts = to_numpy(xyz, np.float32)
        if backend == "cpu" and _cpu.HAVE_NUMBA:
            results = _cpu.sample_group(pts, [lv.npoint for lv in sampled], [lv.nsample for lv in sampled],
                                        [radius_sq(lv.radius) for lv in sampled])
        else:
            results = _sample_and_group_reference(pts, sampled)
        results = [(like(f, xyz), like(g, xyz)) for f, g in results]
    pts = xyz
    for i, lv in enumerate(multi):
        fidx, group = results[i]
        centres = _gather(pts, fidx)
        if len(lv.scales) > 1:
            extra = [ball_query(pts, centres, r, k, backend) for r, k in lv.scales[1:]]
            results[i] = (fidx, _concat([group, *extra]))
        pts = centres
    return results + [None] * (len(levels) - len(sampled))


def sample_clusters(points: Any, offsets: Any, n: int, backend: str = "auto") -> Any:
    """Fixed-size batch of a packed frame: points (P, C) (xyz first), offsets (K+1,) -> (K, n, C).

    Every cluster is sampled to n points by FPS (start 0; clusters with fewer than n points repeat
    their FPS order, see fps.py). numpy or torch in, the same kind out, on the same device.
    """
    n = check_count(n, "n")
    idx = fps_packed(points, offsets, n, backend)
    if is_tensor(idx):
        import torch

        start = torch.as_tensor(to_numpy(offsets, np.int64)[:-1], device=idx.device)
        return points[(idx + start[:, None]).reshape(-1)].reshape(idx.shape[0], n, points.shape[1])
    off = to_numpy(offsets, np.int64)
    return np.asarray(points)[idx + off[:-1, None]]
