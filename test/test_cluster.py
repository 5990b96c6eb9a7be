"""Clustering candidates on hand-made point sets."""

from __future__ import annotations

import numpy as np
import pytest

from t3d_ros.segment import cluster


def _box_surface(c, size, n, rng, yaw=0.0):
    """Points on the vertical faces and the top of a box standing at z = 0 (N, 3)."""
    u = rng.uniform(-0.5, 0.5, (n, 3)) * size
    face = rng.integers(0, 3, n)
    u[face == 0, 0] = np.sign(u[face == 0, 0]) * size[0] / 2
    u[face == 1, 1] = np.sign(u[face == 1, 1]) * size[1] / 2
    u[face == 2, 2] = size[2] / 2
    u[:, 2] += size[2] / 2
    cs, sn = np.cos(yaw), np.sin(yaw)
    return np.column_stack([c[0] + u[:, 0] * cs - u[:, 1] * sn, c[1] + u[:, 0] * sn + u[:, 1] * cs, u[:, 2]])


METHODS = {
    "cellgraph": cluster.cell_graph_clusters,
    "voxel": cluster.voxel_components,
    "voxel_scipy": lambda p: cluster.voxel_components(p, backend="scipy"),
    "kdtree": lambda p: cluster.euclidean_kdtree(p, 0.35),
    "kdtree_ds": lambda p: cluster.euclidean_kdtree_downsampled(p, 0.35),
}


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("gap", [0.5, 1.0])
def test_pedestrian_next_to_car_stays_separate(name, gap):
    rng = np.random.default_rng(0)
    car = _box_surface((10.0, 0.0), np.array([4.5, 1.8, 1.5]), 3000, rng)
    ped = _box_surface((10.0, 0.9 + gap + 0.25), np.array([0.5, 0.5, 1.8]), 400, rng)
    lab = METHODS[name](np.concatenate([car, ped]).astype(np.float32))
    a, b = lab[:3000], lab[3000:]
    assert len(np.unique(a)) == 1 and len(np.unique(b)) == 1
    assert a[0] != b[0]


def test_grid2d_merges_touching_objects_but_not_far_ones():
    rng = np.random.default_rng(0)
    a = _box_surface((10.0, 0.0), np.array([4.0, 1.8, 1.5]), 2000, rng)
    b = _box_surface((10.0, 1.25), np.array([0.5, 0.5, 1.8]), 300, rng)  # touching: 0.1 m from a's side
    c = _box_surface((20.0, 0.0), np.array([1, 1, 1.0]), 300, rng)  # 7.5 m away
    lab = cluster.grid2d_components(np.concatenate([a, b, c]).astype(np.float32), cell_size=0.3)
    assert len(np.unique(lab[:2300])) == 1, "the touching objects are one component"
    assert len(np.unique(lab[2300:])) == 1 and lab[2300] not in set(lab[:2300])


@pytest.mark.parametrize("name", list(METHODS))
def test_touching_objects_merge_in_every_method(name):
    # Two boxes 5 cm apart (a bin against a wall): no distance threshold separates them.
    rng = np.random.default_rng(2)
    a = _box_surface((10.0, 0.0), np.array([4.0, 0.3, 1.5]), 2000, rng)
    b = _box_surface((10.0, 0.45), np.array([0.5, 0.5, 1.2]), 300, rng)
    lab = METHODS[name](np.concatenate([a, b]).astype(np.float32))
    assert len(np.unique(lab)) == 1


def test_cellgraph_bridges_radial_ring_gaps_at_range():
    # A car at 35 m seen as 4 horizontal scan lines 0.55 m apart along the line of sight
    # (bumper, bonnet, windscreen, roof), as on KITTI frame 000002.
    rows = []
    for dx, z in [(0.0, -1.6), (0.0, -1.4), (0.6, -1.1), (1.1, -0.9)]:
        y = np.arange(-0.8, 0.8, 0.1)
        rows.append(np.column_stack([np.full_like(y, 35.0 + dx), y, np.full_like(y, z)]))
    car = np.concatenate(rows).astype(np.float32)
    assert len(np.unique(cluster.cell_graph_clusters(car))) == 1
    # The same lines turned by 90 degrees and moved to 5 m: the 0.5 m gaps are now across the
    # line of sight, where the tolerance stays tight, so they do not link.
    turned = np.column_stack([car[:, 1] + 5.0, car[:, 0] - 35.0, car[:, 2]]).astype(np.float32)
    lab = cluster.cell_graph_clusters(turned)
    assert len(np.unique(lab)) > 1


def test_cellgraph_keeps_overhanging_crown_apart_from_car():
    # A crown 0.2 m beside the car in plan view (within the tolerance) but 1.5 m above its roof.
    rng = np.random.default_rng(1)
    car = _box_surface((10.0, 0.0), np.array([4.5, 1.8, 1.5]), 2000, rng)
    crown = _box_surface((13.95, 0.0), np.array([3.0, 3.0, 1.5]), 1500, rng) + [0, 0, 3.0]
    lab = cluster.cell_graph_clusters(np.concatenate([car, crown]).astype(np.float32))
    assert lab[0] != lab[-1]


@pytest.mark.parametrize("name", list(METHODS) + ["grid2d"])
def test_empty_and_single(name):
    fn = METHODS.get(name, cluster.grid2d_components)
    assert fn(np.zeros((0, 3), np.float32)).shape == (0,)
    assert np.array_equal(fn(np.array([[1.0, 2.0, 0.0]], np.float32)), [0])


def test_pack_clusters():
    labels = np.array([0] * 5 + [1] * 2 + [2] * 12 + [3] * 5, np.int32)
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    cid, order, off, n_over = cluster.pack_labels(labels, min_points=3, max_points=10)
    assert n_over == 1
    assert np.array_equal(np.diff(off), [5, 5])
    assert np.all(cid[labels == 1] == -1) and np.all(cid[labels == 2] == -1)
    for k in range(2):
        assert np.all(cid[order[off[k] : off[k + 1]]] == k)
    cid2, _, off2, n_over2 = cluster.pack_labels(labels, 3, 10, keep_oversize=True)
    assert n_over2 == 1 and len(off2) == 4 and (cid2[labels == 2] >= 0).all()
