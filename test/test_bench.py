"""The benchmark's own pieces: the per-point decode baseline and the synthetic frames of the cost curves."""

from __future__ import annotations

import numpy as np
import pytest

from t3d_ros.bench.baselines import read_points_per_point
from t3d_ros.bench.data import resampled, street_with_objects
from t3d_ros.io.cloud import LAYOUTS, build_cloud, cloud_view, points_from_view
from t3d_ros.segment.pipeline import Pipeline


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("big_endian", [False, True])
def test_per_point_reader_matches_the_decoder(layout, big_endian):
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(60, 3)).astype(np.float32) * 10
    xyz[::7, 1] = np.nan  # no-return slots are dropped by both
    lay = LAYOUTS[layout]
    arr = build_cloud(lay, {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "intensity": rng.random(60) * 100},
                      big_endian)
    data = arr.tobytes()
    want = points_from_view(cloud_view(data, lay.fields, lay.point_step, 12, 5, 12 * lay.point_step, big_endian))
    got = read_points_per_point(data, list(lay.fields), lay.point_step, 12, 5, 12 * lay.point_step, big_endian)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("k", [10, 60])
def test_street_with_k_objects_gives_k_clusters_in_a_fixed_number_of_points(k):
    pts = street_with_objects(k, total=60_000)
    assert pts.shape == (60_000, 4) and pts.dtype == np.float32
    assert Pipeline()(pts).num_clusters == k


def test_resampled_thins_and_densifies():
    pts = np.random.default_rng(1).normal(size=(1000, 4)).astype(np.float32)
    assert resampled(pts, 300).shape == (300, 4)
    dense = resampled(pts, 2500)
    assert dense.shape == (2500, 4) and np.array_equal(dense[:1000], pts)
