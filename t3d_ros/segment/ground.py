"""Ground removal on a bird's-eye-view grid.

Three methods, all returning an (N,) bool ground mask for (N, 3) xyz points in the sensor frame
(z up, sensor at the origin):

- ``grid_min_z_ground``: a point is ground when it lies less than ``height_threshold`` above the
  lowest return of its 3x3 cell neighbourhood. Fast and simple, but it cannot tell a slope from
  an object and it eats the underside of wide objects whose ground is occluded.
- ``envelope_ground`` (default): the ground height of every cell is the highest surface whose
  slope never exceeds ``max_slope_deg`` and that stays under the lowest return of every cell (a
  slope-limited lower envelope, computed by min-plus propagation on the grid). It is the grid
  analogue of Autoware's scan_ground_filter local-slope test: a wall or the side of a car rises
  faster than ``max_slope_deg`` and so it is cut off the ground surface, while slopes and kerbs
  lower than ``height_threshold`` stay ground. Seeds whose lowest return sits above the cone
  of ``global_slope_deg`` from the estimated ground under the sensor are ignored (car roofs,
  canopies with occluded ground beneath).
- ``patchwork_ground``: Patchwork++ (``pypatchworkpp``, optional dependency), the reference.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from t3d_ros.segment import _fast


def _cell_index(xyz: np.ndarray, cell: float) -> tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """Flat BEV cell index (N,) int64 of each point, the grid shape, and the grid origin (2,)."""
    x, y = xyz[:, 0], xyz[:, 1]
    origin = np.array([x.min(), y.min()], np.float64)
    # float32 column arithmetic: 5x cheaper than broadcasting a float64 origin over a strided view.
    inv = np.float32(1.0 / cell)
    i = ((x - np.float32(origin[0])) * inv).astype(np.int32)
    j = ((y - np.float32(origin[1])) * inv).astype(np.int32)
    shape = (int(i.max()) + 1, int(j.max()) + 1)
    return i.astype(np.int64) * shape[1] + j, shape, origin


def _cell_min_z(flat: np.ndarray, z: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Lowest z of each cell (shape) float32, +inf where a cell is empty."""
    zmin = np.full(shape[0] * shape[1], np.inf, np.float32)
    np.minimum.at(zmin, flat, z.astype(np.float32, copy=False))
    return zmin.reshape(shape)


def grid_min_z_ground(xyz: np.ndarray, cell_size: float = 0.5, height_threshold: float = 0.2) -> np.ndarray:
    """Ground mask (N,) bool: z within ``height_threshold`` (m) of the lowest z of the 3x3 block of
    ``cell_size`` (m) cells around the point's cell."""
    if len(xyz) == 0:
        return np.zeros(0, bool)
    flat, shape, _ = _cell_index(xyz, cell_size)
    zmin = _cell_min_z(flat, xyz[:, 2], shape)
    # The neighbourhood minimum lets a cell covered by an object borrow the ground seen next to it.
    local = ndimage.minimum_filter(zmin, size=3, mode="constant", cval=np.inf).reshape(-1)
    return xyz[:, 2] <= local[flat] + height_threshold


def estimate_sensor_height(xyz: np.ndarray, r_min: float = 3.0, r_max: float = 20.0) -> float:
    """Height (m) of the sensor above the ground, from the returns within ``r_min``..``r_max`` m.

    NaN when there are too few returns there. See ``_height_from_grid``.
    """
    if len(xyz) == 0:
        return float("nan")
    flat, shape, origin = _cell_index(xyz, 1.0)
    return _height_from_grid(_cell_min_z(flat, xyz[:, 2], shape), origin, 1.0, r_min, r_max)


def _cell_ranges(shape: tuple[int, int], origin: np.ndarray, cell: float) -> np.ndarray:
    """Range (m) of every cell centre from the sensor, (H, W)."""
    cx = origin[0] + (np.arange(shape[0]) + 0.5) * cell
    cy = origin[1] + (np.arange(shape[1]) + 0.5) * cell
    return np.sqrt(cx[:, None] ** 2 + cy[None, :] ** 2)


def _height_from_grid(zmin: np.ndarray, origin: np.ndarray, cell: float, r_min: float, r_max: float) -> float:
    # The lowest returns of the cells near the sensor are mostly ground. The 30th percentile
    # rather than the median: cells covered by objects only ever push the lowest return up.
    r = _cell_ranges(zmin.shape, origin, cell)
    z = zmin[(r >= r_min) & (r <= r_max) & np.isfinite(zmin)]
    if len(z) < 20:
        return float("nan")
    return float(-np.percentile(z, 30))


def slope_envelope(zmin: np.ndarray, cell: float, max_slope: float, radius_cells: int) -> np.ndarray:
    """Largest surface with slope <= ``max_slope`` (rise over run) lying below ``zmin`` (H, W).

    Min-plus propagation with the 8-neighbour chamfer metric, ``radius_cells`` sweeps of a 3x3
    structuring element: each sweep lets a low cell pull its neighbours down by one more cell.
    Cells farther than ``radius_cells`` from any finite cell stay +inf.
    """
    d = cell * max_slope
    dd = d * math.sqrt(2.0)
    h, w = zmin.shape
    g = np.full((h + 2, w + 2), np.inf, np.float32)  # +inf border: no ground outside the grid
    g[1:-1, 1:-1] = zmin
    c = g[1:-1, 1:-1]
    # Jacobi sweeps over shifted views; cheaper than ndimage.grey_erosion with a non-flat element.
    for _ in range(radius_cells):
        up = np.minimum(g[:-2, 1:-1], g[2:, 1:-1])
        side = np.minimum(g[1:-1, :-2], g[1:-1, 2:])
        diag = np.minimum(np.minimum(g[:-2, :-2], g[:-2, 2:]), np.minimum(g[2:, :-2], g[2:, 2:]))
        new = np.minimum(np.minimum(up, side) + d, diag + dd)
        np.minimum(c, new, out=c)
    return g[1:-1, 1:-1]


def envelope_ground(
    xyz: np.ndarray,
    cell_size: float = 0.5,
    height_threshold: float = 0.2,
    max_slope_deg: float = 13.0,
    global_slope_deg: float = 10.0,
    sensor_height: float | None = None,
    radius: float = 4.0,
) -> np.ndarray:
    """Ground mask (N,) bool from the slope-limited lower envelope of the per-cell lowest returns.

    xyz: (N, 3) sensor frame. ``cell_size`` (m) grid; ``height_threshold`` (m) above the envelope
    is still ground; ``max_slope_deg`` the steepest ground between neighbouring cells;
    ``global_slope_deg`` bounds how far a seed cell may sit above or below the plane through the
    ground under the sensor (z = -sensor_height) at its range; ``sensor_height`` (m), None to
    estimate it from the cloud; ``radius`` (m) how far a cell's ground may be borrowed from
    its neighbours (the half-width of the widest object whose underside is hidden).
    """
    return _envelope_ground(xyz, cell_size, height_threshold, max_slope_deg, global_slope_deg, sensor_height, radius,
                            fast=True)


def envelope_ground_reference(
    xyz: np.ndarray,
    cell_size: float = 0.5,
    height_threshold: float = 0.2,
    max_slope_deg: float = 13.0,
    global_slope_deg: float = 10.0,
    sensor_height: float | None = None,
    radius: float = 4.0,
) -> np.ndarray:
    """``envelope_ground`` in numpy only (the definition the numba path is tested against)."""
    return _envelope_ground(xyz, cell_size, height_threshold, max_slope_deg, global_slope_deg, sensor_height, radius,
                            fast=False)


def _envelope_ground(xyz: np.ndarray, cell_size: float, height_threshold: float, max_slope_deg: float,
                     global_slope_deg: float, sensor_height: float | None, radius: float, fast: bool) -> np.ndarray:
    n = len(xyz)
    if n == 0:
        return np.zeros(0, bool)
    # numba for the per-point passes and the sweeps (same float32 arithmetic); numpy for the rest.
    fast = fast and _fast.HAVE_NUMBA and xyz.dtype == np.float32
    if fast:
        flat, h, w, ox, oy, zflat = _fast.cell_min_z_kernel(xyz, float(cell_size))
        shape, origin, zmin = (int(h), int(w)), np.array([ox, oy], np.float64), zflat.reshape(h, w)
    else:
        flat, shape, origin = _cell_index(xyz, cell_size)
        zmin = _cell_min_z(flat, xyz[:, 2], shape)
    r = _cell_ranges(shape, origin, cell_size)
    if sensor_height is None:
        sensor_height = _height_from_grid(zmin, origin, cell_size, 3.0, 20.0)
    if math.isfinite(sensor_height):
        # Seed gate: ignore cells whose lowest return cannot be ground given the global slope.
        bound = r * math.tan(math.radians(global_slope_deg)) + 0.3  # 0.3 m for sensor pitch/roll
        zmin = np.where(np.abs(zmin + sensor_height) > bound, np.inf, zmin)
    radius_cells = max(1, int(round(radius / cell_size)))
    max_slope = math.tan(math.radians(max_slope_deg))
    if fast:
        d = cell_size * max_slope  # as slope_envelope: Python floats, added to float32 cells as float32
        g = _fast.slope_envelope_kernel(np.ascontiguousarray(zmin, np.float32), np.float32(d),
                                        np.float32(d * math.sqrt(2.0)), radius_cells)
        return _fast.below_kernel(xyz[:, 2], g.reshape(-1), flat, np.float32(height_threshold))
    g = slope_envelope(zmin, cell_size, max_slope, radius_cells).reshape(-1)
    return xyz[:, 2] <= g[flat] + height_threshold


def patchwork_available() -> bool:
    """Whether the optional ``pypatchworkpp`` module can be imported."""
    try:
        import pypatchworkpp  # noqa: F401
    except ImportError:
        return False
    return True


class PatchworkGround:
    """Patchwork++ ground segmentation (optional ``pypatchworkpp``), constructed once per config.

    ``sensor_height`` (m) above the ground; ``max_range`` (m) beyond which Patchwork++ sees no
    points (those are returned as non-ground, as Patchwork++ itself leaves them out of both sets).
    """

    def __init__(self, sensor_height: float = 1.73, max_range: float = 80.0, min_range: float = 1.0) -> None:
        import pypatchworkpp

        params = pypatchworkpp.Parameters()
        params.verbose = False
        params.sensor_height = float(sensor_height)
        params.max_range = float(max_range)
        params.min_range = float(min_range)
        self._pp = pypatchworkpp.patchworkpp(params)

    def __call__(self, xyz: np.ndarray, intensity: np.ndarray | None = None) -> np.ndarray:
        """Ground mask (N,) bool for xyz (N, 3)."""
        mask = np.zeros(len(xyz), bool)
        if len(xyz) < 10:  # Patchwork++ needs enough points per zone; tiny clouds have no ground
            return mask
        inten = np.zeros(len(xyz), np.float32) if intensity is None else intensity
        cloud = np.ascontiguousarray(np.column_stack([xyz[:, :3], inten]), dtype=np.float32)
        self._pp.estimateGround(cloud)
        idx = np.asarray(self._pp.getGroundIndices()).reshape(-1)
        mask[idx] = True
        return mask


_MAX_GAP_CELLS = 4_000_000  # cluster_ground_gap's grid: 2 km x 2 km at 1 m


def cluster_ground_gap(ground_xyz: np.ndarray, cluster_xyz: np.ndarray, offsets: np.ndarray, cell: float = 1.0,
                       reach: float = 1.5, far_reach: float = 4.0) -> np.ndarray:
    """(K,) float32 height (m) of each cluster's lowest return above the ground around it; NaN for an
    empty cluster and where no ground return lies within ``far_reach`` of its footprint.

    ground_xyz: (G, >=3) the ground returns; cluster_xyz: (P, >=3) packed cluster points, cluster k is
    ``cluster_xyz[offsets[k]:offsets[k+1]]``. The ground height is the mean, over the ``cell`` (m)
    bird's-eye cells with ground within ``reach`` (m) of the cluster's bounding rectangle (``far_reach``
    when none is), of their mean ground z. Local rather than the nominal ground plane: a street that
    slopes 5 % lifts a car 20 m away by 1 m. Vectorised with summed-area tables (~0.5 ms a frame).
    """
    offsets = np.asarray(offsets, np.int64)
    k = max(len(offsets) - 1, 0)
    out = np.full(k, np.nan, np.float32)
    counts = np.diff(offsets)
    full = np.flatnonzero(counts > 0)
    if not len(full) or not len(ground_xyz):
        return out
    gx, gy = ground_xyz[:, 0], ground_xyz[:, 1]
    x0, y0 = float(gx.min()), float(gy.min())
    # A huge region of interest (kdtree clustering with Patchwork++ has no grid of its own to bound it)
    # gets coarser cells rather than a grid that cannot be allocated.
    cell = max(cell, math.sqrt((float(gx.max()) - x0 + cell) * (float(gy.max()) - y0 + cell) / _MAX_GAP_CELLS))
    i = ((gx - x0) * (1.0 / cell)).astype(np.int64)
    j = ((gy - y0) * (1.0 / cell)).astype(np.int64)
    h, w = int(i.max()) + 1, int(j.max()) + 1
    flat = i * w + j
    n = np.bincount(flat, minlength=h * w)
    zsum = np.bincount(flat, weights=ground_xyz[:, 2].astype(np.float64), minlength=h * w)
    has = n > 0
    cell_z = np.zeros(h * w)
    cell_z[has] = zsum[has] / n[has]
    # Summed-area tables of the cells with ground and of their heights, one zero row/column in front.
    sat_n = np.zeros((h + 1, w + 1))
    sat_z = np.zeros((h + 1, w + 1))
    sat_n[1:, 1:] = has.reshape(h, w).cumsum(0).cumsum(1)
    sat_z[1:, 1:] = cell_z.reshape(h, w).cumsum(0).cumsum(1)
    starts = offsets[:-1][full]
    lo = np.minimum.reduceat(cluster_xyz[:, :3], starts, axis=0).astype(np.float64)
    hi = np.maximum.reduceat(cluster_xyz[:, :2], starts, axis=0).astype(np.float64)
    ground_z = np.full(len(full), np.nan)
    for r in (far_reach, reach):  # the near window wins where it has ground
        i0 = np.clip(np.floor((lo[:, 0] - r - x0) / cell), 0, h).astype(np.int64)
        i1 = np.clip(np.floor((hi[:, 0] + r - x0) / cell) + 1, 0, h).astype(np.int64)
        j0 = np.clip(np.floor((lo[:, 1] - r - y0) / cell), 0, w).astype(np.int64)
        j1 = np.clip(np.floor((hi[:, 1] + r - y0) / cell) + 1, 0, w).astype(np.int64)
        cnt = sat_n[i1, j1] - sat_n[i0, j1] - sat_n[i1, j0] + sat_n[i0, j0]
        tot = sat_z[i1, j1] - sat_z[i0, j1] - sat_z[i1, j0] + sat_z[i0, j0]
        ok = cnt > 0.5
        ground_z[ok] = tot[ok] / cnt[ok]
    out[full] = lo[:, 2] - ground_z
    return out
