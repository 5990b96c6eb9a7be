"""Order-independent subsamples (``segment/subsample.py``): what they keep, and that the order of the
points does not change it."""

from __future__ import annotations

import numpy as np
import pytest

from t3d_ros.segment import _fast
from t3d_ros.segment.subsample import hash_subsample, hash_subsample_reference


def _clusters(seed: int, sizes) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    off = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    xyz = (rng.normal(size=(off[-1], 3)) * 10).astype(np.float32)
    return xyz, off


def _per_cluster_permutation(off: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([a + rng.permutation(b - a) for a, b in zip(off[:-1], off[1:], strict=True)])


@pytest.mark.parametrize("fn", [hash_subsample, hash_subsample_reference])
def test_small_clusters_keep_all_points_and_big_ones_about_the_sample(fn):
    xyz, off = _clusters(0, [1, 50, 200, 201, 2000, 20000])
    idx, sub_off = fn(xyz, off, 200)
    n = np.diff(sub_off)
    assert list(n[:3]) == [1, 50, 200]
    assert all(150 <= m <= 250 for m in n[3:]), n
    cid = np.repeat(np.arange(len(n)), n)
    assert np.all((idx >= off[:-1][cid]) & (idx < off[1:][cid]))  # each index inside its own cluster
    for k in range(len(n)):
        assert len(np.unique(idx[sub_off[k]:sub_off[k + 1]])) == n[k]


@pytest.mark.parametrize("fn", [hash_subsample, hash_subsample_reference])
def test_the_same_points_in_the_same_order_whatever_order_they_came_in(fn):
    xyz, off = _clusters(1, [3, 120, 450, 3000])
    idx, sub_off = fn(xyz, off, 200)
    perm = _per_cluster_permutation(off, np.random.default_rng(2))
    idx_p, sub_off_p = fn(xyz[perm], off, 200)
    np.testing.assert_array_equal(sub_off_p, sub_off)
    np.testing.assert_array_equal(xyz[perm][idx_p], xyz[idx])


@pytest.mark.parametrize("fn", [hash_subsample, hash_subsample_reference])
def test_unselected_clusters_get_no_points(fn):
    xyz, off = _clusters(3, [30, 500, 40])
    idx, sub_off = fn(xyz, off, 200, np.array([True, False, True]))
    assert list(np.diff(sub_off)) == [30, 0, 40]
    assert fn(np.zeros((0, 3), np.float32), np.array([0]), 200)[0].shape == (0,)


@pytest.mark.skipif(not _fast.HAVE_NUMBA, reason="numba not installed: the reference runs anyway")
def test_the_kernel_gives_the_references_indices():
    rng = np.random.default_rng(4)
    for trial in range(30):
        xyz, off = _clusters(trial, rng.integers(1, 900, rng.integers(0, 25)))
        if trial % 3 == 0 and len(xyz):
            xyz[::5] = xyz[0]  # identical returns: equal hashes, ordered by position in both
        select = rng.random(len(off) - 1) < 0.7 if trial % 2 else None
        for got, want in zip(hash_subsample(xyz, off, 200, select), hash_subsample_reference(xyz, off, 200, select),
                             strict=True):
            np.testing.assert_array_equal(got, want)
