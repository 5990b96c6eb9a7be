"""The numba segmentation kernels (``segment/_fast.py``) against their numpy references: identical
outputs on the real KITTI frames, a simulated frame and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import KITTI_ODOMETRY, KITTI_ROOT, needs_kitti

from t3d_ros.segment import _fast
from t3d_ros.segment.cluster import (
    cell_graph_clusters,
    cell_graph_clusters_of,
    cell_graph_clusters_reference,
    pack_labels,
    pack_labels_reference,
)
from t3d_ros.segment.ground import envelope_ground, envelope_ground_reference
from t3d_ros.segment.pipeline import Pipeline, PipelineConfig
from t3d_ros.segment.subsample import hash_subsample

pytestmark = pytest.mark.skipif(not _fast.HAVE_NUMBA, reason="numba not installed: the references run anyway")
FIELDS = ("points", "ground", "cluster_id", "cluster_offsets", "cluster_points", "boxes", "input_cluster_id",
          "input_ground")


def _both(pipe: Pipeline, points: np.ndarray, monkeypatch) -> tuple:
    fast = pipe(points)
    with monkeypatch.context() as m:
        m.setattr(_fast, "HAVE_NUMBA", False)
        ref = pipe(points)
    return fast, ref


def _assert_same(fast, ref) -> None:
    for name in FIELDS:
        a, b = getattr(fast, name), getattr(ref, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert fast.n_oversize == ref.n_oversize


def _frames() -> list:
    from t3d_ros.io.frames import read_points

    files = sorted((KITTI_ROOT / "velodyne").glob("*.bin")) + sorted((KITTI_ODOMETRY / "velodyne").glob("*.bin"))
    return [read_points(f) for f in files]


@needs_kitti
def test_pipeline_identical_to_the_references_on_the_real_frames(monkeypatch):
    frames = _frames()
    assert len(frames) >= 3
    pipe = Pipeline()
    for pts in frames:
        _assert_same(*_both(pipe, pts, monkeypatch))


def test_pipeline_identical_on_a_simulated_frame_and_other_settings(monkeypatch):
    from t3d_ros.offline.sim import simulate

    _, f = simulate(3, "vlp16")
    pts = np.column_stack([f.xyz, f.intensity]).astype(np.float32)
    for cfg in (PipelineConfig(), PipelineConfig(min_range=0.0, cluster_tolerance=0.4, cluster_max_tolerance=0.6),
                PipelineConfig(voxel_size=0.1), PipelineConfig(max_cluster_points=300, oversize_policy="keep"),
                PipelineConfig(x_min=-10.3, y_max=7.7, z_max=0.37, min_range=2.3),
                PipelineConfig(min_range=0.0, self_x_min=-1.2, self_x_max=3.1, self_y_min=-0.9, self_y_max=0.9)):
        _assert_same(*_both(Pipeline(cfg), pts, monkeypatch))
    # float64 input takes the numpy crop and the same kernels afterwards
    _assert_same(*_both(Pipeline(), pts.astype(np.float64), monkeypatch))


def test_crop_drops_non_finite_rows_like_the_reference(monkeypatch):
    rng = np.random.default_rng(1)
    pts = rng.uniform(-20, 20, (5000, 4)).astype(np.float32)
    pts[::7, 0] = np.nan
    pts[::11, 3] = np.inf
    pts[::13, 2] = -np.inf
    pts[5, :] = 1e38
    _assert_same(*_both(Pipeline(), pts, monkeypatch))


def test_self_box_drops_the_vehicle_footprint_at_any_height(monkeypatch):
    # A 4.3 x 1.8 m car with its sensor 1.2 m from the rear: returns on it (any height) go, the ones
    # just beside it and behind it stay; the fast crop and the numpy reference agree.
    rng = np.random.default_rng(2)
    pts = np.column_stack([rng.uniform(-4, 6, 20000), rng.uniform(-3, 3, 20000), rng.uniform(-2.5, 1.0, 20000),
                           rng.uniform(0, 1, 20000)]).astype(np.float32)
    cfg = PipelineConfig(min_range=0.0, self_x_min=-1.2, self_x_max=3.1, self_y_min=-0.9, self_y_max=0.9)
    a, b = _both(Pipeline(cfg), pts, monkeypatch)
    _assert_same(a, b)
    x, y = pts[:, 0], pts[:, 1]
    on_car = (x >= -1.2) & (x <= 3.1) & (y >= -0.9) & (y <= 0.9)
    kept = np.zeros(len(pts), bool)
    kept[a.input_cluster_id >= 0] = True
    kept[a.input_ground] = True
    assert not kept[on_car].any() and kept[~on_car].mean() > 0.5
    assert PipelineConfig().self_box is None  # off by default: min_range alone
    with pytest.raises(ValueError, match="self_y_max"):
        PipelineConfig(self_x_min=-1.0, self_x_max=3.0, self_y_min=0.9, self_y_max=-0.9).validate()


@pytest.mark.parametrize("n", [0, 1, 2, 50])
def test_small_inputs(n):
    rng = np.random.default_rng(n)
    xyz = rng.uniform(-3, 3, (n, 3)).astype(np.float32)
    np.testing.assert_array_equal(cell_graph_clusters(xyz), cell_graph_clusters_reference(xyz))
    np.testing.assert_array_equal(envelope_ground(xyz), envelope_ground_reference(xyz))
    sel = np.arange(0, n, 2)
    np.testing.assert_array_equal(cell_graph_clusters_of(xyz, sel, 0.15, 0.25, 0.015, 0.002, 0.9, 0.6, 0.02),
                                  cell_graph_clusters_reference(xyz[sel]))


def test_pack_labels_identical():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 400, 20000).astype(np.int32) ** 2 % 397
    for args in ((10, 20000, False), (1, 60, False), (1, 60, True), (100, 50, False)):
        for a, b in zip(pack_labels(labels, *args), pack_labels_reference(labels, *args), strict=True):
            np.testing.assert_array_equal(a, b)


def test_closeness_and_boxes_identical_to_the_reference():
    from t3d_ros.segment import boxes as B

    rng = np.random.default_rng(3)
    sizes = np.array([1, 2, 7, 8, 9, 17, 128, 129, 200, 257, 1000])
    pts = np.concatenate([rng.normal(size=(n, 3)) * [2.0, 0.7, 0.5] + rng.uniform(-40, 40, 3) for n in sizes])
    off = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    pts = pts.astype(np.float32)
    cid = np.repeat(np.arange(len(sizes)), sizes)
    x, y = pts[:, 0] - pts[:, 0].mean(), pts[:, 1] - pts[:, 1].mean()
    theta = np.broadcast_to(np.deg2rad(np.arange(0.0, 90.0, 6.0)), (len(sizes), 15))
    np.testing.assert_array_equal(B._closeness(x, y, theta, cid, off[:-1], 0.01),
                                  B._closeness_reference(x, y, theta, cid, off[:-1], 0.01))
    # 1000 points: the pairwise sum's halving (above 128) is exercised
    fast = B.lshape_boxes(pts, off, max_points=2000)
    orig = B._closeness
    try:
        B._closeness = B._closeness_reference
        ref = B.lshape_boxes(pts, off, max_points=2000)
    finally:
        B._closeness = orig
    np.testing.assert_array_equal(fast, ref)


def test_pairwise_sum_is_numpys():
    rng = np.random.default_rng(4)
    for n in (1, 5, 8, 9, 16, 127, 128, 129, 300, 1031):
        a = rng.normal(size=n).astype(np.float32) * 1e3
        assert _fast._segment_sum(a, 0, n) == np.add.reduceat(a, [0])[0]


def test_wall_line_fit_identical_to_the_reference(monkeypatch):
    from t3d_ros.segment.walls import fit_wall_line

    def both(xy, seed, **kw):
        fast = fit_wall_line(xy, 0.1, seed=seed, **kw)
        with monkeypatch.context() as m:
            m.setattr(_fast, "HAVE_NUMBA", False)
            ref = fit_wall_line(xy, 0.1, seed=seed, **kw)
        assert (fast is None) == (ref is None)
        for a, b in zip(fast or (), ref or (), strict=True):
            np.testing.assert_array_equal(a, b)
        return fast

    rng = np.random.default_rng(5)
    for k in range(40):  # walls with an object in front, at any bearing, of any size; float32 and float64
        n = int(rng.integers(3, 6000))
        wall = np.column_stack([rng.uniform(0, 12, n), 6 + rng.normal(0, 0.03, n)])
        box = np.column_stack([rng.uniform(4, 5, n // 10), rng.uniform(5, 5.8, n // 10)])
        a = rng.uniform(0, 2 * np.pi)
        xy = np.vstack([wall, box]) @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        xyz = np.column_stack([xy, np.zeros(len(xy))]).astype(np.float32 if k % 2 else np.float64)
        fit = both(xyz[:, :2], int(rng.integers(0, 1000)), iterations=int(rng.integers(1, 300)))
        assert fit is None or 0 <= fit[2] <= 1
    assert both(rng.normal(0, 0.05, (500, 2)), 3) is None  # no pair of points 1 m apart
    assert both(np.zeros((2, 2)), 0) is None


def test_wall_split_identical_to_the_reference(monkeypatch):
    """The one numba pass over every candidate cluster (``_fast.wall_fronts_kernel``) finds the walls
    of the cluster-by-cluster reference with the same distances to the last bit, so the same labels:
    random walls and fences with boxes in front, bicycles with riders, far cars beside hedges, with
    and without the length rule."""
    from t3d_ros.segment import walls as W

    rng = np.random.default_rng(11)
    for _ in range(30):
        parts, labels = [], []
        for c in range(int(rng.integers(1, 6))):
            n = int(rng.integers(40, 3000))
            length = rng.uniform(1.0, 12.0)
            wall = np.column_stack([rng.uniform(0, length, n), rng.normal(0, rng.uniform(0.01, 0.15), n)])
            box = np.column_stack([rng.uniform(0, 2, n // 5), rng.uniform(0.1, 1.5, n // 5)])
            xy = np.vstack([wall, box])
            a = rng.uniform(0, 2 * np.pi)
            xy = xy @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) + rng.uniform(-40, 40, 2)
            parts.append(np.column_stack([xy, rng.uniform(-1.5, 1.0, len(xy))]))
            labels.append(np.full(len(xy), c))
        xyz = np.vstack(parts).astype(np.float32)
        lab = np.concatenate(labels)
        recluster = lambda sub: (sub[:, 0] > np.median(sub[:, 0])).astype(np.int64)  # noqa: E731
        for min_length in (0.0, 3.0):
            kw = dict(min_points=60, min_length=min_length, min_piece=int(rng.integers(3, 20)))
            fast = W.split_walls(xyz, lab, recluster, **kw)
            with monkeypatch.context() as m:
                m.setattr(_fast, "HAVE_NUMBA", False)
                ref = W.split_walls(xyz, lab, recluster, **kw)
            np.testing.assert_array_equal(fast, ref)
        # the distances themselves, cluster by cluster
        _, members, offsets, _ = pack_labels(lab, 60, len(lab), keep_oversize=True)
        ids = np.flatnonzero(np.bincount(lab) >= 60)
        xy_all = xyz[members][:, :2]
        cand = np.ones(len(ids), bool)
        seeds = np.diff(offsets[:len(ids) + 1])
        sub_idx, sub_off = hash_subsample(xy_all, offsets[:len(ids) + 1], W.SAMPLE, cand)
        sub = xy_all[sub_idx].astype(np.float64)
        is_wall, dist = _fast.wall_fronts_kernel(xy_all, offsets, cand, seeds, sub, sub_off, W._DRAWS, W.ITERATIONS,
                                                 W.MIN_PAIR_DISTANCE, 0.1, 0.4, 0.0, 10)
        ref_walls = dict(W._walls_reference(xy_all, offsets, cand, seeds, 0.1, 0.4, 0.0, 10))
        assert sorted(ref_walls) == np.flatnonzero(is_wall).tolist()
        for k, d in ref_walls.items():
            np.testing.assert_array_equal(dist[offsets[k]:offsets[k + 1]], d)
    # a cluster with no two returns 1 m apart has no line (the RANSAC proposes none)
    blob = rng.uniform(0, 0.3, (100, 3)).astype(np.float32)
    none = np.zeros(100, np.int64)
    is_wall, _ = _fast.wall_fronts_kernel(blob[:, :2], np.array([0, 100]), np.ones(1, bool), np.zeros(1, np.int64),
                                          blob[:, :2].astype(np.float64), np.array([0, 100]), W._DRAWS, W.ITERATIONS,
                                          W.MIN_PAIR_DISTANCE, 0.1, 0.4, 0.0, 10)
    assert not is_wall.any()
    np.testing.assert_array_equal(W.split_walls(blob, none, lambda sub: np.zeros(len(sub), np.int64), min_points=60),
                                  none)


def test_neighbourhood_table_is_cached_and_read_only():
    a = _fast.half_neighbourhood(0.15, 0.9)
    assert _fast.half_neighbourhood(0.15, 0.9) is a
    assert not any(arr.flags.writeable for arr in a)


def test_global_features_identical_to_the_reference(monkeypatch):
    """The classifier's per-cluster features (numba moments) equal the numpy reference's, on the
    clusters the pipeline cuts from a simulated frame."""
    from t3d_ros.classify import inputs as I
    from t3d_ros.offline.sim import simulate

    _, f = simulate(5, "hdl64")
    seg = Pipeline()(np.column_stack([f.xyz, f.intensity]).astype(np.float32))
    names = ("extent", "log_count", "range")
    assert seg.num_clusters > 10
    np.testing.assert_array_equal(I._global_features(seg.cluster_points, seg.cluster_offsets, names),
                                  I._global_features_reference(seg.cluster_points, seg.cluster_offsets, names))


def test_reuse_freed_memory_switch(monkeypatch):
    import sys

    from t3d_ros.perception import reuse_freed_memory

    monkeypatch.setenv("T3D_ROS_REUSE_FREED_MEMORY", "0")
    assert reuse_freed_memory() is False
    monkeypatch.delenv("T3D_ROS_REUSE_FREED_MEMORY")
    if sys.platform.startswith("linux"):
        import platform

        assert reuse_freed_memory() is (platform.libc_ver()[0] == "glibc")


@needs_kitti
def test_detections_identical_to_the_references_on_the_real_frames(monkeypatch):
    """Whole ``Perception.process`` with the shipped model and params: the same clusters, boxes, labels,
    scores and runners-up with every fast path as with the numpy references."""
    from t3d_ros.classify import inputs as I
    from t3d_ros.perception import Perception

    perception = Perception.from_params({}, device="cpu", warn=lambda m: None)
    frames = _frames()

    def run() -> list:
        return [[(d.label, d.score, tuple(d.center), tuple(d.size), d.yaw, d.num_points, d.guess, d.hypotheses)
                 for d in perception.process(pts).detections] for pts in frames]

    fast = run()
    with monkeypatch.context() as m:
        m.setattr(_fast, "HAVE_NUMBA", False)
        m.setattr(I, "_global_features", I._global_features_reference)
        ref = run()
    assert sum(map(len, fast)) > 300
    assert fast == ref
