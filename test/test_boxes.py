"""Oriented boxes: containment and yaw recovery on synthetic rectangles."""

from __future__ import annotations

import numpy as np
import pytest

from t3d_ros.geometry import bev_iou, points_in_boxes, yaw_error
from t3d_ros.segment import boxes


def _rectangles(seed=0, k=40, l_shape=True):
    """Points on two (L-shape) or four sides of random rectangles; returns xyz, offsets, yaw, l, w."""
    rng = np.random.default_rng(seed)
    pts, off, gt = [], [0], []
    for _ in range(k):
        length, width = rng.uniform(3.5, 5.0), rng.uniform(1.5, 2.0)
        yaw = rng.uniform(-np.pi / 2, np.pi / 2)
        n = int(rng.integers(20, 800))
        t = rng.uniform(0, 1, n)
        side = rng.integers(0, 2 if l_shape else 4, n)
        # sides 0..3: -v edge, -u edge, +v edge, +u edge
        along_u, along_v = (t - 0.5) * length, (t - 0.5) * width
        u = np.choose(side, [along_u, np.full(n, -length / 2), along_u, np.full(n, length / 2)])
        v = np.choose(side, [np.full(n, -width / 2), along_v, np.full(n, width / 2), along_v])
        u, v = u + rng.normal(0, 0.02, n), v + rng.normal(0, 0.02, n)
        c = rng.uniform(-40, 40, 2)
        x = c[0] + u * np.cos(yaw) - v * np.sin(yaw)
        y = c[1] + u * np.sin(yaw) + v * np.cos(yaw)
        pts.append(np.column_stack([x, y, rng.uniform(-1.6, 0.0, n)]))
        off.append(off[-1] + n)
        gt.append((yaw, length, width))
    return np.concatenate(pts).astype(np.float32), np.array(off), np.array(gt)


@pytest.mark.parametrize("method", list(boxes.BOX_METHODS))
def test_boxes_contain_their_points(method):
    xyz, off, _ = _rectangles()
    bx = boxes.fit_boxes(xyz, off, method)
    assert bx.shape == (len(off) - 1, 7) and bx.dtype == np.float32
    assert np.all(bx[:, 3] >= bx[:, 4]) and np.all(np.abs(bx[:, 6]) <= np.pi / 2 + 1e-6)
    inside = points_in_boxes(xyz, bx, margin=1e-3)
    for k in range(len(bx)):
        assert inside[off[k] : off[k + 1], k].all()


def test_lshape_recovers_yaw_of_l_shapes():
    xyz, off, gt = _rectangles(l_shape=True)
    bx = boxes.lshape_boxes(xyz, off)
    err = np.degrees(yaw_error(bx[:, 6], gt[:, 0]))
    assert np.median(err) < 1.0 and err.max() < 4.0


def test_min_area_recovers_yaw_of_full_rectangles():
    xyz, off, gt = _rectangles(l_shape=False, seed=1)
    bx = boxes.min_area_boxes(xyz, off)
    err = np.degrees(yaw_error(bx[:, 6], gt[:, 0]))
    assert np.median(err) < 1.0
    full = np.column_stack([bx[:, :3], gt[:, 1], gt[:, 2], bx[:, 5], gt[:, 0]])
    assert np.median([bev_iou(a, b) for a, b in zip(bx, full, strict=True)]) > 0.9


def test_degenerate_clusters():
    xyz = np.array([[1, 1, 0], [2, 2, 0], [3, 3, 1], [5, 5, 0], [5, 5, 0]], np.float32)
    off = np.array([0, 1, 3, 5])  # one point, two points, two identical points
    for m in boxes.BOX_METHODS:
        bx = boxes.fit_boxes(xyz, off, m)
        assert np.isfinite(bx).all() and bx.shape == (3, 7)
        assert np.allclose(bx[0, :3], [1, 1, 0]) and np.allclose(bx[0, 3:6], 0)
        if m != "aabb":  # the diagonal pair: length along the diagonal
            assert abs(bx[1, 3] - np.sqrt(2)) < 0.05, m
    assert boxes.fit_boxes(np.zeros((0, 3), np.float32), np.array([0])).shape == (0, 7)


def test_unknown_method():
    with pytest.raises(ValueError, match="box method"):
        boxes.fit_boxes(np.zeros((1, 3), np.float32), np.array([0, 1]), "magic")


def test_bev_iou_and_yaw_error():
    a = np.array([0, 0, 0, 4, 2, 1, 0.0])
    assert bev_iou(a, a) == pytest.approx(1.0)
    b = a.copy()
    b[0] = 2.0
    assert bev_iou(a, b) == pytest.approx(4 / 12)
    c = a.copy()
    c[6] = np.pi / 2
    assert bev_iou(a, c) == pytest.approx(4 / 12)
    assert yaw_error(0.1, np.pi + 0.1) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", list(boxes.BOX_METHODS))
def test_boxes_do_not_depend_on_the_order_of_the_points(method):
    """Drivers order a cluster's points differently. The L-shape search scores its angles on a subsample
    chosen by a hash of the coordinates, not every n-th point: before, 9 % of the real clusters of the 9
    KITTI frames turned by more than 5 degrees when their points were shuffled."""
    xyz, off, _ = _rectangles(seed=2)
    assert np.diff(off).max() > 400  # the search subsamples these
    base = boxes.fit_boxes(xyz, off, method)
    rng = np.random.default_rng(0)
    for perm in (np.concatenate([np.arange(a, b)[::-1] for a, b in zip(off[:-1], off[1:], strict=True)]),
                 np.concatenate([a + rng.permutation(b - a) for a, b in zip(off[:-1], off[1:], strict=True)])):
        got = boxes.fit_boxes(xyz[perm], off, method)
        np.testing.assert_allclose(got, base, atol=1e-5, rtol=0)
