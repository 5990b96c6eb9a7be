"""Objects against a wall (``segment/walls.py``): split off the wall's cluster, and nothing else is."""

from __future__ import annotations

import numpy as np
import pytest

from t3d_ros.config import pipeline_config
from t3d_ros.segment.pipeline import Pipeline, PipelineConfig
from t3d_ros.segment.walls import fit_wall_line, split_walls

GROUND_Z = -1.7


def _ground(rng, n=20000):
    return np.c_[rng.uniform(-5, 20, (n, 2)), rng.normal(GROUND_Z, 0.01, n)]


def _wall(rng, x=10.0, n=12000):
    """A wall 10 m long and 2.5 m high across the x axis at ``x`` (its face toward the sensor at x - 0)."""
    return np.c_[rng.normal(x, 0.02, n), rng.uniform(-5, 5, n), rng.uniform(GROUND_Z + 0.05, GROUND_Z + 2.5, n)]


def _box(rng, x0, x1, y0, y1, z1, n=800):
    """Returns on the faces of a box from the ground to ``z1`` (the sensor sees its front and top)."""
    front = np.c_[np.full(n // 2, x0), rng.uniform(y0, y1, n // 2), rng.uniform(GROUND_Z + 0.25, z1, n // 2)]
    top = np.c_[rng.uniform(x0, x1, n // 2), rng.uniform(y0, y1, n // 2), np.full(n // 2, z1)]
    return np.r_[front, top]


def _cloud(*parts):
    xyz = np.concatenate(parts)
    return np.c_[xyz, np.full(len(xyz), 0.5)].astype(np.float32)


def _clusters_of(seg, n_before: int, n: int) -> np.ndarray:
    """Cluster ids of the input rows n_before .. n_before + n."""
    return seg.input_cluster_id[n_before:n_before + n]


def test_a_box_against_a_wall_gets_its_own_cluster():
    rng = np.random.default_rng(0)
    ground, wall = _ground(rng), _wall(rng)
    box = _box(rng, 9.3, 9.96, -1.0, -0.3, GROUND_Z + 1.0)  # its back 2-6 cm from the wall's returns
    pts = _cloud(ground, wall, box)
    n0, nb = len(ground) + len(wall), len(box)
    merged = Pipeline(PipelineConfig(wall_split=False))(pts)
    split = Pipeline(PipelineConfig())(pts)
    assert PipelineConfig().wall_split  # on by default
    ids = _clusters_of(merged, n0, nb)
    wall_ids = _clusters_of(merged, len(ground), len(wall))
    assert np.bincount(ids[ids >= 0]).argmax() == np.bincount(wall_ids[wall_ids >= 0]).argmax()  # one cluster
    ids = _clusters_of(split, n0, nb)
    wall_ids = _clusters_of(split, len(ground), len(wall))
    box_id = np.bincount(ids[ids >= 0]).argmax()
    assert (ids == box_id).mean() > 0.9  # the box: one cluster, nearly all of it
    assert not np.isin(box_id, wall_ids)  # ... of its own
    wall_ids = wall_ids[wall_ids >= 0]  # (its lowest 0.2 m is ground)
    assert (wall_ids == np.bincount(wall_ids).argmax()).mean() > 0.99  # the wall stays whole
    assert split.num_clusters == merged.num_clusters + 1


def test_what_lies_behind_the_wall_stays_with_it():
    rng = np.random.default_rng(1)
    ground, wall = _ground(rng), _wall(rng)
    recess = _box(rng, 10.3, 10.6, 1.0, 2.0, GROUND_Z + 2.0)  # a doorway 0.3 m deep, away from the sensor
    pts = _cloud(ground, wall, recess)
    a = Pipeline(PipelineConfig(wall_split=False))(pts)
    b = Pipeline(PipelineConfig())(pts)
    assert a.num_clusters == b.num_clusters
    np.testing.assert_array_equal(a.input_cluster_id, b.input_cluster_id)


def test_a_large_cluster_that_is_no_wall_is_left_alone():
    rng = np.random.default_rng(2)
    u = rng.normal(0, 1, (6000, 3))
    u *= (rng.random(6000) ** (1 / 3) / np.linalg.norm(u, axis=1))[:, None]
    bush = u * [1.5, 1.5, 1.0] + [8.0, 2.0, GROUND_Z + 1.2]  # foliage: a volume, no plane
    labels = np.zeros(len(bush), np.int64)
    out = split_walls(bush, labels, lambda sub: np.zeros(len(sub), np.int64), min_points=1000)
    np.testing.assert_array_equal(out, labels)


def test_fit_wall_line_finds_the_plane():
    rng = np.random.default_rng(3)
    t = rng.uniform(-4, 4, 3000)
    line = np.c_[5.0 + 0.5 * t, 2.0 + t] + rng.normal(0, 0.02, (3000, 2))  # direction (0.5, 1)
    clutter = rng.uniform(-2, 10, (1000, 2))
    p0, normal, share = fit_wall_line(np.r_[line, clutter], 0.1)
    assert abs(normal @ np.array([0.5, 1.0]) / np.hypot(0.5, 1.0)) < 0.02  # perpendicular to the line
    assert abs((p0 - [5.0, 2.0]) @ normal) < 0.05  # through it
    assert 0.68 <= share <= 0.86  # the line's 3,000 of 4,000 (estimated on 400 of them)
    assert fit_wall_line(line[:2], 0.1) is None  # too few points
    assert fit_wall_line(rng.uniform(0, 0.3, (100, 2)), 0.1) is None  # no pair 1 m apart
    assert np.array_equal(fit_wall_line(line, 0.1, seed=5)[1], fit_wall_line(line, 0.1, seed=5)[1])  # deterministic


def test_labels_that_are_not_split_are_unchanged_and_new_ids_are_fresh():
    rng = np.random.default_rng(4)
    wall = _wall(rng, n=3000)
    box = _box(rng, 9.4, 9.96, 0.0, 0.6, GROUND_Z + 1.0, n=400)
    small = rng.normal([3.0, -3.0, -1.0], 0.1, (50, 3))
    xyz = np.r_[wall, box, small]
    labels = np.r_[np.zeros(len(wall) + len(box), np.int64), np.full(len(small), 1)]
    out = split_walls(xyz, labels, lambda sub: np.zeros(len(sub), np.int64), min_points=1000)
    assert (out[-len(small):] == 1).all()  # too small to be checked
    assert (out[:len(wall)] == 0).all()
    assert (out[len(wall):len(wall) + len(box)] >= 2).mean() > 0.9  # the box: an id no cluster had


def test_unclustered_points_are_no_wall():
    rng = np.random.default_rng(6)
    wall = _wall(rng, n=3000)
    box = _box(rng, 9.4, 9.96, 0.0, 0.6, GROUND_Z + 1.0, n=400)
    xyz = np.r_[wall, box]
    labels = np.r_[np.full(len(wall), -1), np.full(len(box), 3)]  # -1: left out by the clustering
    out = split_walls(xyz, labels, lambda sub: np.zeros(len(sub), np.int64), min_points=300)
    np.testing.assert_array_equal(out, labels)
    labels[:] = 0  # the same points as one cluster: the box comes off
    out = split_walls(xyz, labels, lambda sub: np.zeros(len(sub), np.int64), min_points=1000)
    assert (out[len(wall):] == 1).mean() > 0.9 and (out[:len(wall)] == 0).all()


def test_wall_parameters_are_validated_and_parsed():
    assert pipeline_config({"wall_split": "false"}).wall_split is False
    assert pipeline_config({"wall_split": True}).wall_split is True
    with pytest.raises(ValueError, match="wall_split"):
        pipeline_config({"wall_split": "maybe"})
    with pytest.raises(ValueError, match="wall_split"):
        PipelineConfig(wall_split=1).validate()
    with pytest.raises(ValueError, match="wall_tolerance"):
        PipelineConfig(wall_tolerance=0.0).validate()
    with pytest.raises(ValueError, match="wall_min_share"):
        PipelineConfig(wall_min_share=1.5).validate()
    with pytest.raises(ValueError, match="wall_split_min_points"):
        PipelineConfig(wall_split_min_points=2).validate()


def test_the_front_layer_of_a_thick_wall_is_no_object():
    """Returns spread over a 0.3 m deep wall (or hedge): no piece reaches 0.25 m in front of its plane."""
    rng = np.random.default_rng(5)
    ground = _ground(rng)
    slab = np.c_[rng.uniform(10.0, 10.3, 12000), rng.uniform(-5, 5, 12000), rng.uniform(GROUND_Z + 0.05, 0.8, 12000)]
    pts = _cloud(ground, slab)
    a = Pipeline(PipelineConfig(wall_split=False))(pts)
    b = Pipeline(PipelineConfig())(pts)
    np.testing.assert_array_equal(a.input_cluster_id, b.input_cluster_id)


def _far_car_beside_a_fence(rng):
    """KITTI-like, 35 m ahead: a hedge or fence 5 m long along the line of sight, 0.2 m beside the rear
    and the near side of a parked car (~70 and ~60 returns, as a 64-beam sensor sees them there)."""
    fence = np.c_[rng.uniform(31.5, 36.5, 70), rng.normal(-4.25, 0.03, 70), rng.uniform(GROUND_Z + 0.1, 0.2, 70)]
    rear = np.c_[rng.normal(33.0, 0.03, 40), rng.uniform(-4.05, -2.5, 40), rng.uniform(GROUND_Z + 0.25, -0.6, 40)]
    side = np.c_[rng.uniform(33.0, 35.0, 20), rng.normal(-2.45, 0.03, 20), rng.uniform(GROUND_Z + 0.3, -0.9, 20)]
    ground = np.c_[rng.uniform(28, 40, (3000, 1)), rng.uniform(-6, 0, (3000, 1)), rng.normal(GROUND_Z, 0.01, 3000)]
    return ground, fence, np.r_[rear, side]


def test_a_far_car_beside_a_fence_gets_its_own_cluster():
    rng = np.random.default_rng(7)
    ground, fence, car = _far_car_beside_a_fence(rng)
    pts = _cloud(ground, fence, car)
    n0 = len(ground) + len(fence)
    merged = Pipeline(PipelineConfig(wall_split=False))(pts)
    ids = _clusters_of(merged, n0, len(car))
    fence_ids = _clusters_of(merged, len(ground), len(fence))
    assert np.bincount(ids[ids >= 0]).argmax() == np.bincount(fence_ids[fence_ids >= 0]).argmax()  # one cluster
    assert len(fence) + len(car) < 1000  # checked since the default's minimum is below 1000
    split = Pipeline(PipelineConfig())(pts)
    ids = _clusters_of(split, n0, len(car))
    fence_ids = _clusters_of(split, len(ground), len(fence))
    car_id = np.bincount(ids[ids >= 0]).argmax()
    assert (ids == car_id).mean() > 0.9 and not np.isin(car_id, fence_ids)
    # with a wall split only for clusters of 1000 returns (the default until 2026-11-30) it stays merged
    old = Pipeline(PipelineConfig(wall_split_min_points=1000))(pts)
    np.testing.assert_array_equal(old.input_cluster_id, merged.input_cluster_id)


def test_a_rider_stays_with_the_bicycle():
    """A bicycle seen from the side is a vertical plane 1.8 m long with its rider in front of it: no wall."""
    rng = np.random.default_rng(8)
    frame = np.c_[rng.normal(10.0, 0.02, 250), rng.uniform(-0.9, 0.9, 250),
                  rng.uniform(GROUND_Z + 0.05, GROUND_Z + 1.0, 250)]
    rider = np.c_[rng.uniform(9.55, 9.8, 150), rng.uniform(-0.25, 0.25, 150),
                  rng.uniform(GROUND_Z + 0.8, GROUND_Z + 1.8, 150)]
    xyz = np.r_[frame, rider]
    labels = np.zeros(len(xyz), np.int64)
    recluster = lambda sub: np.zeros(len(sub), np.int64)  # noqa: E731
    cut = split_walls(xyz, labels, recluster, min_points=60, min_length=0.0)
    assert (cut[len(frame):] == 1).all()  # without the length rule the rider comes off
    kept = split_walls(xyz, labels, recluster, min_points=60, min_length=PipelineConfig().wall_min_length)
    np.testing.assert_array_equal(kept, labels)
    assert PipelineConfig().wall_min_length > 1.8 + 2 * 0.1  # longer than a bicycle with the tolerance


def test_wall_min_length_is_validated():
    with pytest.raises(ValueError, match="wall_min_length"):
        PipelineConfig(wall_min_length=-1.0).validate()
    assert pipeline_config({"wall_min_length": 2.5}).wall_min_length == 2.5


def _cluster_sets(seg) -> list[bytes]:
    """Every cluster of ``seg`` as its sorted points (bytes): equal lists = the same clusters."""
    off, pts = seg.cluster_offsets, np.ascontiguousarray(seg.cluster_points[:, :3])
    view = pts.view([("x", "f4"), ("y", "f4"), ("z", "f4")]).ravel()
    return sorted(np.sort(view[a:b], order=("x", "y", "z")).tobytes() for a, b in zip(off[:-1], off[1:], strict=True))


def test_the_wall_split_cuts_the_same_clusters_whatever_the_point_order():
    """Drivers order clouds differently. The wall fit scores its lines on a subsample chosen and ordered
    by a hash of each return's coordinates, and draws by the cluster's size, so the cut does not depend
    on the order (before, 5 % of the clusters of 8 real and simulated frames were cut differently under
    reversed or shuffled order)."""
    from pathlib import Path

    from t3d_ros.config import load_ros_params
    from t3d_ros.offline.sim import simulate

    _, frame = simulate(300_013, "hdl64")
    pts = np.c_[frame.xyz, frame.intensity].astype(np.float32)
    shipped = Path(__file__).resolve().parents[1] / "config" / "perception.yaml"
    pipe = Pipeline(pipeline_config(load_ros_params(shipped)))  # the shipped wall split (from 60 returns)
    base = _cluster_sets(pipe(pts))
    assert len(base) > 30
    for order in (np.arange(len(pts))[::-1], np.random.default_rng(0).permutation(len(pts))):
        assert _cluster_sets(pipe(pts[order])) == base
