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


def test_ground_gap_limits_come_from_the_simulated_clusters(tmp_path):
    """bench.ground_gap end to end on one small frame: gaps per true class, a limit per road user that
    lets at most 0.5 % of its clusters through, written as JSON and Markdown."""
    import json

    from t3d_ros.bench import ground_gap

    assert ground_gap.main(["--seeds", "1", "--sensors", "hdl64", "--model", "", "--out", str(tmp_path / "gg"),
                            "--png", str(tmp_path / "gg.png")]) == 0
    assert (tmp_path / "gg.png").stat().st_size > 10_000
    res = json.loads((tmp_path / "gg.json").read_text())
    assert res["frames"] == 1 and "effect" not in res  # no model: gaps only
    assert res["gaps"]["car"]["clusters"] > 0
    for name, e in res["gaps"].items():
        assert e["p50"] <= e["p90"] <= e["p99"] <= e["max"]
        assert ("limit" in e) == (name in ground_gap.ROAD_USERS)
    # the rule: the 99.5th percentile rounded up to 0.1 m
    rows = [{"truth": 0, "purity": 1.0, "n": 50, "gap": g, "size": [4, 2, 1.5], "label": "car"}
            for g in np.linspace(0.0, 1.99, 200)]
    assert ground_gap.derive_limits(rows)["car"]["limit"] == 2.0
    assert ground_gap.effect(rows, {"car": 1.0})["car"] == {"right": 200, "right_lowered": 99, "wrong": 0,
                                                            "wrong_lowered": 0}
    assert "| car |" in (tmp_path / "gg.md").read_text()
