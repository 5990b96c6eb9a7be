"""Cloud preprocessing: drop non-finite rows, crop to a region of interest, voxel downsampling.

Every step returns the indices it kept so that the pipeline can map results back to the
input points (per-point evaluation, debug clouds).
"""

from __future__ import annotations

import numpy as np


def crop_mask(
    points: np.ndarray,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    z_range: tuple[float, float],
    min_range: float = 0.0,
    self_box: tuple[float, float, float, float] | None = None,
) -> np.ndarray:
    """Rows of ``points`` (N, C>=3) that are finite in x,y,z, inside the box, at least ``min_range``
    metres from the sensor in the xy plane and outside ``self_box`` (x_min, x_max, y_min, y_max: the
    vehicle's footprint, any height; None = off). Returns (N,) bool.
    """
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    # Comparisons with NaN are False, so non-finite rows fall out without a separate isfinite pass
    # (an Inf coordinate is outside any finite box).
    m = (x >= x_range[0]) & (x <= x_range[1])
    m &= (y >= y_range[0]) & (y <= y_range[1])
    m &= (z >= z_range[0]) & (z <= z_range[1])
    if min_range > 0.0:
        with np.errstate(over="ignore", invalid="ignore"):  # |x| ~ 1e38 overflows to inf: far, and kept out above
            m &= x * x + y * y >= min_range * min_range
    if self_box is not None:
        m &= ~((x >= self_box[0]) & (x <= self_box[1]) & (y >= self_box[2]) & (y <= self_box[3]))
    return m


def voxel_downsample(xyz: np.ndarray, voxel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """One representative point per occupied voxel of edge ``voxel_size`` metres.

    xyz: (N, 3) float. Returns ``keep`` (M,) int64, the index of the first point of every voxel
    (a real point, so every input column stays meaningful, unlike a centroid), and ``inverse``
    (N,) int64, the position in ``keep`` of each input point's voxel.
    """
    n = len(xyz)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ijk = np.floor(xyz / voxel_size).astype(np.int64)
    ijk -= ijk.min(axis=0)
    dims = ijk.max(axis=0) + 1
    key = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
    _, keep, inverse = np.unique(key, return_index=True, return_inverse=True)
    return keep.astype(np.int64), inverse.reshape(-1).astype(np.int64)
