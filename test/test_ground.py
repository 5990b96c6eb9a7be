"""Ground removal on synthetic terrain: flat, slope, kerb, and objects standing on them."""

from __future__ import annotations

import numpy as np
import pytest

from t3d_ros.segment import ground


def _terrain(seed: int = 0, n: int = 40000):
    """Random ground samples on a 10 degree slope (x > 10 m) with a 0.15 m kerb (y < -4 m), plus a
    car-like box (1.5 m) and a pedestrian column (1.8 m, legs from 0.05 m). Returns xyz (N, 3)
    , is_ground (N,) and the height of every point above the terrain (N,)."""
    rng = np.random.default_rng(seed)
    r = np.sqrt(rng.uniform(2.0**2, 40.0**2, n))
    a = rng.uniform(-np.pi, np.pi, n)
    x, y = r * np.cos(a), r * np.sin(a)

    def gz(x, y):
        return -1.73 + np.tan(np.radians(10)) * np.clip(x - 10.0, 0, 10) + np.where(y < -4.0, 0.15, 0.0)

    z = gz(x, y) + rng.normal(0, 0.015, n)
    objs = []
    for cx, cy, lx, ly, h, z0 in [(8.0, -5.5, 4.0, 1.8, 1.5, 0.25), (14.0, 3.0, 0.5, 0.5, 1.8, 0.05)]:
        m = 1500
        ox = cx + rng.uniform(-lx / 2, lx / 2, m)
        oy = cy + rng.uniform(-ly / 2, ly / 2, m)
        oz = gz(ox, oy) + rng.uniform(z0, h, m)
        objs.append(np.column_stack([ox, oy, oz]))
    xyz = np.concatenate([np.column_stack([x, y, z])] + objs).astype(np.float32)
    is_ground = np.r_[np.ones(n, bool), np.zeros(len(xyz) - n, bool)]
    return xyz, is_ground, xyz[:, 2] - gz(xyz[:, 0], xyz[:, 1])


def test_envelope_on_slope_and_kerb():
    xyz, gt, height = _terrain()
    pred = ground.envelope_ground(xyz)
    assert pred[gt].mean() > 0.99  # slope and kerb stay ground
    # Object points more than 0.3 m above the terrain are never ground (low objects survive).
    assert not pred[~gt & (height > 0.3)].any()


def test_grid_min_z_fails_on_slope_where_envelope_does_not():
    xyz, gt, _ = _terrain()
    env = ground.envelope_ground(xyz, cell_size=0.5)
    grid = ground.grid_min_z_ground(xyz, cell_size=1.0, height_threshold=0.15)
    slope = gt & (xyz[:, 0] > 11) & (xyz[:, 0] < 19)
    assert env[slope].mean() > grid[slope].mean()


def test_sensor_height_estimate():
    xyz, _, _ = _terrain()
    assert abs(ground.estimate_sensor_height(xyz) - 1.73) < 0.05
    assert np.isnan(ground.estimate_sensor_height(np.zeros((0, 3), np.float32)))


def test_slope_envelope_is_lipschitz_below_input():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1, (30, 30)).astype(np.float32)
    z[rng.random(z.shape) < 0.3] = np.inf
    g = ground.slope_envelope(z, cell=0.5, max_slope=0.2, radius_cells=60)
    assert np.all(g <= z)
    fin = np.isfinite(g)
    step = np.abs(np.diff(np.where(fin, g, 0), axis=0))[fin[1:] & fin[:-1]]
    assert step.max() <= 0.5 * 0.2 + 1e-5


@pytest.mark.parametrize("fn", [ground.envelope_ground, ground.grid_min_z_ground])
@pytest.mark.parametrize("n", [0, 1, 3])
def test_tiny_inputs(fn, n):
    xyz = np.tile(np.array([[5.0, 1.0, -1.7]], np.float32), (n, 1))
    assert fn(xyz).shape == (n,)


def test_patchwork_baseline_on_plane():
    pytest.importorskip("pypatchworkpp")
    xyz, gt, _ = _terrain()
    pred = ground.PatchworkGround(sensor_height=1.73)(xyz)
    assert pred.shape == gt.shape
    assert pred[gt].mean() > 0.8 and pred[~gt].mean() < 0.2


def _boxes_above(rng, ground_z, specs):
    """Packed points and offsets of boxes (cx, cy, lx, ly, lowest, top) above ``ground_z(x, y)``."""
    parts = []
    for cx, cy, lx, ly, z0, z1 in specs:
        ox = cx + rng.uniform(-lx / 2, lx / 2, 400)
        oy = cy + rng.uniform(-ly / 2, ly / 2, 400)
        oz = ground_z(ox, oy) + rng.uniform(z0, z1, 400)
        oz[0] = ground_z(ox[0], oy[0]) + z0  # the lowest return exactly at z0 above the ground below it
        parts.append(np.column_stack([ox, oy, oz]))
    offsets = np.r_[0, np.cumsum([len(p) for p in parts])]
    return np.concatenate(parts).astype(np.float32), offsets


def test_cluster_ground_gap_measures_from_the_local_ground_on_a_slope():
    # A 6 % slope: 20 m out, the ground lies 1.2 m above the ground under the sensor; a car there still
    # stands on it, and a crown 2.5 m up still floats (the nominal plane would say 1.4 and 3.7 m).
    rng = np.random.default_rng(3)

    def gz(x, y):
        return -1.73 + 0.06 * x

    gx, gy = rng.uniform(-30, 30, (2, 30_000))
    ground_xyz = np.column_stack([gx, gy, gz(gx, gy) + rng.normal(0, 0.01, gx.size)]).astype(np.float32)
    pts, off = _boxes_above(rng, gz, [(20.0, 5.0, 4.0, 1.8, 0.25, 1.6), (20.0, -8.0, 3.0, 3.0, 2.5, 4.0),
                                      (-15.0, 0.0, 0.5, 0.5, 0.1, 1.8)])
    gap = ground.cluster_ground_gap(ground_xyz, pts, off)
    assert gap.shape == (3,) and gap.dtype == np.float32
    np.testing.assert_allclose(gap, [0.25, 2.5, 0.1], atol=0.12)


def test_cluster_ground_gap_is_nan_without_ground_near_and_for_empty_input():
    rng = np.random.default_rng(4)
    gx, gy = rng.uniform(-10, 10, (2, 5000))
    ground_xyz = np.column_stack([gx, gy, np.full(gx.size, -1.7)]).astype(np.float32)
    pts, off = _boxes_above(rng, lambda x, y: -1.7 + 0 * x, [(5.0, 0.0, 1.0, 1.0, 0.3, 1.5),
                                                              (40.0, 0.0, 1.0, 1.0, 0.3, 1.5)])
    gap = ground.cluster_ground_gap(ground_xyz, pts, off)
    assert gap[0] == pytest.approx(0.3, abs=0.02) and np.isnan(gap[1])  # 29 m from the nearest ground
    assert np.isnan(ground.cluster_ground_gap(np.zeros((0, 3), np.float32), pts, off)).all()
    assert ground.cluster_ground_gap(ground_xyz, np.zeros((0, 3), np.float32), np.zeros(1, np.int64)).shape == (0,)
    # an empty cluster among others keeps its slot (NaN)
    off2 = np.r_[off[:1], off[:1], off[1:]]
    gap2 = ground.cluster_ground_gap(ground_xyz, pts, off2)
    assert np.isnan(gap2[0]) and gap2[1] == pytest.approx(gap[0])


def test_cluster_ground_gap_stays_bounded_over_a_huge_region():
    # ground returns 100 km apart: a 1 m grid would need 1e10 cells; the cells grow instead
    rng = np.random.default_rng(5)
    g = np.column_stack([rng.uniform(-10, 10, (4000, 2)), np.full(4000, -1.7)])
    far = np.array([[50_000.0, 50_000.0, -1.7], [-50_000.0, -50_000.0, -1.7]])
    ground_xyz = np.concatenate([g, far]).astype(np.float32)
    pts, off = _boxes_above(rng, lambda x, y: -1.7 + 0 * x, [(5.0, 0.0, 1.0, 1.0, 0.3, 1.5)])
    gap = ground.cluster_ground_gap(ground_xyz, pts, off)
    assert np.isfinite(gap[0]) and abs(gap[0] - 0.3) < 0.05
