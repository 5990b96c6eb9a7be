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


def test_object_outcomes_follow_the_cluster_holding_most_of_an_object():
    """bench.sensors' object count: the cluster holding most of a road user's returns decides; objects
    too far, too small or of other classes are not counted."""
    from t3d_ros.bench.sensors import object_outcomes
    from t3d_ros.classes import CLASSES, GROUND_ID

    car, ped, cyc, veg = (CLASSES.index(c) for c in ("car", "pedestrian", "cyclist", "vegetation"))
    parts = [  # (instance, class, returns, x, cluster ids)
        (1, car, 20, 10.0, [0] * 20),  # in cluster 0, labelled car: right
        (2, ped, 15, 12.0, [-1] * 15),  # in no cluster: lost
        (3, cyc, 12, 20.0, [2] * 4 + [1] * 8),  # mostly in cluster 1 (vegetation), not 2 (cyclist): other
        (4, car, 30, 60.0, [3] * 30),  # beyond max_range: not counted
        (5, ped, 5, 8.0, [4] * 5),  # under 10 returns: not counted
        (6, veg, 40, 9.0, [5] * 40),  # not a road user
        (7, ped, 11, 15.0, [-1] * 3 + [4] * 8),  # cluster 4: unknown
        (8, cyc, 10, 30.0, [6] * 10),  # cluster 6: pedestrian, another road user: wrong
    ]
    instance = np.concatenate([np.full(n, i) for i, _, n, _, _ in parts] + [np.full(50, -1)])
    truth = np.concatenate([np.full(n, c) for _, c, n, _, _ in parts] + [np.full(50, GROUND_ID)])
    cid = np.concatenate([np.asarray(c) for *_, c in parts] + [np.full(50, -1)])
    xyz = np.zeros((len(instance), 3))
    xyz[:, 0] = np.concatenate([np.full(n, x) for _, _, n, x, _ in parts] + [np.full(50, 5.0)])
    labels = ["car", "vegetation", "cyclist", "car", "unknown", "vegetation", "pedestrian"]
    got = object_outcomes(instance, truth, cid, labels, xyz, max_range=50.0)
    assert got == [("car", "right"), ("pedestrian", "lost"), ("cyclist", "other"), ("pedestrian", "unknown"),
                   ("cyclist", "wrong")]


def test_sensors_bench_scores_the_shipped_model_on_an_unseen_sensor(tmp_path):
    """bench.sensors end to end on one scene, a trained-on and an unseen sensor: the shipped model labels
    most simulated clusters right on both (a broken scan, segmentation or model would not)."""
    import json

    from t3d_ros.bench import sensors

    assert sensors.main(["--seeds", "1", "--sensors", "hdl64", "os1-32", "--out", str(tmp_path / "s")]) == 0
    res = json.loads((tmp_path / "s.json").read_text())
    by = {r["sensor"]: r for r in res["sensors"]}
    assert by["hdl64"]["trained_on"] and not by["os1-32"]["trained_on"]
    assert by["os1-32"]["beams"] == 32 and by["os1-32"]["mount_height_m"] == 0.6
    for r in by.values():
        assert r["clusters_per_frame"] > 10 and r["network_accuracy"] > 0.6
        assert sum(sum(o.values()) for o in r["objects"].values()) > 0
    assert "| os1-32 | **no** |" in (tmp_path / "s.md").read_text()
