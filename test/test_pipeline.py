"""End-to-end tests of t3d_ros.segment.pipeline on synthetic scans, and on the simulator when present."""

from __future__ import annotations

import numpy as np
import pytest

from t3d_ros.offline.eval.segmentation import evaluate
from t3d_ros.segment.pipeline import Pipeline, PipelineConfig, segment

SENSOR_HEIGHT = 1.73


def _ground_z(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Test terrain: flat, a 10 degree ramp from x = 12 to 20 m then a plateau, and a 0.15 m kerb
    (pavement) for y < -5 m."""
    z = -SENSOR_HEIGHT + np.tan(np.radians(10.0)) * np.clip(x - 12.0, 0.0, 8.0)
    return z + np.where(y < -5.0, 0.15, 0.0)


def scan_scene(boxes: list[tuple], rings: int = 64, az_step_deg: float = 0.18, seed: int = 0):
    """A 64-beam-like scan of the test terrain and oriented boxes (cx, cy, length, width, height,
    yaw; standing on the terrain). Returns xyz (N, 3) float32 and instance (N,) int32 (0 ground,
    k+1 box k). Rays hit the nearest of the ground and the boxes (so boxes occlude)."""
    rng = np.random.default_rng(seed)
    upper, lower = np.linspace(2.0, -8.33, rings // 2), np.linspace(-8.83, -24.8, rings // 2)
    el = np.radians(np.concatenate([upper, lower]))
    az = np.radians(np.arange(-180.0, 180.0, az_step_deg))
    el, az = np.meshgrid(el, az, indexing="ij")
    d = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1).reshape(-1, 3)
    t = np.full(len(d), np.inf)
    # Ground: intersect the flat plane, then put the point on the terrain (small approximation).
    down = d[:, 2] < -1e-3
    t[down] = -SENSOR_HEIGHT / d[down, 2]
    inst = np.zeros(len(d), np.int32)
    for k, (cx, cy, length, width, height, yaw) in enumerate(boxes):
        base = float(_ground_z(np.array([cx]), np.array([cy]))[0])
        c, s = np.cos(yaw), np.sin(yaw)
        o = np.array([-cx * c - cy * s, cx * s - cy * c, -base])  # origin in the box frame
        db = np.column_stack([d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c, d[:, 2]])
        lo, hi = np.array([-length / 2, -width / 2, 0.0]), np.array([length / 2, width / 2, height])
        with np.errstate(divide="ignore", invalid="ignore"):
            t1, t2 = (lo - o) / db, (hi - o) / db
        tn = np.nanmax(np.minimum(t1, t2), axis=1)
        tf = np.nanmin(np.maximum(t1, t2), axis=1)
        hit = (tn <= tf) & (tn > 0) & (tn < t)
        t[hit] = tn[hit]
        inst[hit] = k + 1
    ok = np.isfinite(t) & (t < 59)  # inside the default crop, so every point is evaluated
    t = t[ok] + rng.normal(0, 0.01, ok.sum())
    p = d[ok] * t[:, None]
    inst = inst[ok]
    g = inst == 0
    p[g, 2] = _ground_z(p[g, 0], p[g, 1]) + rng.normal(0, 0.01, g.sum())
    return p.astype(np.float32), inst


# Car, a pedestrian 0.7 m beside it, a kerb-side car, a car on the ramp at 30 m, a car at 40 m.
SCENE = [
    (10.0, 4.0, 4.5, 1.8, 1.5, 0.0),
    (10.0, 6.0 + 0.7 - 0.9 + 0.25, 0.5, 0.5, 1.75, 0.0),
    (6.0, -4.0, 4.2, 1.8, 1.45, 0.1),
    (30.0, 2.0, 4.5, 1.8, 1.5, 0.3),
    (-40.0, -10.0, 4.5, 1.9, 1.6, 1.0),
]


@pytest.fixture(scope="module")
def scene():
    return scan_scene(SCENE)


def _check_shapes(seg, n_in: int, c: int) -> None:
    m, k = len(seg.points), seg.num_clusters
    assert seg.points.shape == (m, c) and seg.points.dtype == np.float32
    assert seg.ground.shape == (m,) and seg.ground.dtype == bool
    assert seg.cluster_id.shape == (m,) and seg.cluster_id.dtype == np.int32
    assert seg.cluster_offsets.shape == (k + 1,) and seg.cluster_offsets[0] == 0
    assert seg.cluster_points.shape == (seg.cluster_offsets[-1], c)
    assert seg.boxes.shape == (k, 7) and seg.boxes.dtype == np.float32
    assert seg.input_cluster_id.shape == (n_in,) and seg.input_ground.shape == (n_in,)
    assert set(seg.timings_ms) == {"crop", "voxel", "ground", "cluster", "boxes"}
    # Packed points and per-point ids agree.
    sizes = np.bincount(seg.cluster_id[seg.cluster_id >= 0], minlength=k)
    assert np.array_equal(sizes, np.diff(seg.cluster_offsets))
    assert not np.any(seg.ground & (seg.cluster_id >= 0))


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_single_point(n):
    pts = np.array([[5.0, 0.0, -1.0, 10.0]] * n, np.float32).reshape(n, 4)
    seg = segment(pts, PipelineConfig())
    _check_shapes(seg, n, 4)
    assert seg.num_clusters == 0
    assert len(seg.points) == n


def test_bad_shape_raises():
    with pytest.raises(ValueError, match="shape"):
        segment(np.zeros((5, 2), np.float32), PipelineConfig())


def test_nan_rows_are_dropped(scene):
    xyz, _ = scene
    pts = np.column_stack([xyz, np.ones(len(xyz), np.float32)])
    bad = pts.copy()
    rows = np.arange(0, len(pts), 7)
    bad[rows[::2], 0] = np.nan
    bad[rows[1::2], 3] = np.inf
    seg = segment(bad, PipelineConfig())
    _check_shapes(seg, len(bad), 4)
    assert np.all(seg.input_cluster_id[rows] == -1) and not seg.input_ground[rows].any()
    assert np.isfinite(seg.points).all()
    ref = segment(np.delete(pts, rows, axis=0), PipelineConfig())
    assert seg.num_clusters == ref.num_clusters
    assert np.array_equal(seg.ground, ref.ground)


def test_all_ground_gives_no_cluster():
    xyz, inst = scan_scene([])
    assert (inst == 0).all()
    seg = segment(xyz, PipelineConfig())
    # The ramp and the kerb must stay ground: no ground-ring clusters.
    assert seg.ground.mean() > 0.99, seg.ground.mean()
    assert seg.num_clusters == 0


@pytest.mark.parametrize("method", ["envelope", "patchwork"])
def test_synthetic_scene_segmented(scene, method):
    if method == "patchwork":
        pytest.importorskip("pypatchworkpp")
    xyz, inst = scene
    seg = Pipeline(PipelineConfig(ground_method=method))(xyz)
    _check_shapes(seg, len(xyz), 3)
    q, match = evaluate(seg.input_cluster_id, seg.input_ground, inst, inst == 0)
    assert q.n_objects == len(SCENE)
    assert q.ground_precision > 0.97 and q.ground_recall > 0.97
    assert match.own.all(), f"objects not in their own cluster: {match.instance[~match.own]}"
    assert q.over_seg_rate == 0 and q.under_seg_rate == 0
    if method == "envelope":
        # Nothing but the objects is clustered (no kerb or ramp remnants) with this default.
        assert seg.num_clusters == len(SCENE)
        # Low parts survive: the pedestrian keeps its legs above the height threshold.
        ped = (inst == 2) & (xyz[:, 2] > _ground_z(xyz[:, 0], xyz[:, 1]) + 0.3)
        assert (seg.input_cluster_id[ped] >= 0).mean() > 0.98


def test_voxel_downsampling_maps_back(scene):
    xyz, inst = scene
    seg = segment(xyz, PipelineConfig(voxel_size=0.1))
    _check_shapes(seg, len(xyz), 3)
    assert len(seg.points) < 0.9 * len(xyz)
    q, match = evaluate(seg.input_cluster_id, seg.input_ground, inst, inst == 0)
    assert match.own.all() and q.ground_recall > 0.97


def test_oversize_clusters_are_reported(scene):
    xyz, _ = scene
    seg = segment(xyz, PipelineConfig(max_cluster_points=200))
    assert seg.n_oversize >= 1
    assert np.diff(seg.cluster_offsets).max(initial=0) <= 200
    kept = segment(xyz, PipelineConfig(max_cluster_points=200, oversize_policy="keep"))
    assert kept.num_clusters == seg.num_clusters + seg.n_oversize


@pytest.mark.parametrize(
    "field,value",
    [("x_max", -100.0), ("voxel_size", -1.0), ("ground_method", "magic"), ("cluster_method", "x"),
     ("min_cluster_points", 0), ("max_cluster_points", 5), ("ground_height_threshold", float("nan"))],
)
def test_validate_names_the_field(field, value):
    cfg = PipelineConfig(**{field: value})
    with pytest.raises(ValueError, match=field):
        cfg.validate()


@pytest.mark.parametrize("sensor", ["hdl64", "vlp16"])
def test_against_simulator(sensor):
    from t3d_ros.classes import CLASSES
    from t3d_ros.offline.eval.segmentation import pool
    from t3d_ros.offline.sim import simulate  # part of the package: an import error fails here

    stuff = [CLASSES.index(c) for c in ("vegetation", "structure")]  # background, as in the benchmark
    pipe = Pipeline(PipelineConfig())
    qs = []
    for seed in (1, 2):
        _, frame = simulate(seed, sensor)
        seg = pipe(np.column_stack([frame.xyz, frame.intensity]))
        inst = np.where(np.isin(frame.label, stuff), 0, frame.instance)
        q, _ = evaluate(seg.input_cluster_id, seg.input_ground, inst, frame.label == -1)
        qs.append(q)
    q = pool(qs)
    # Limits: what the default measurably meets (benchmarks/results/segmentation.md), with margin.
    lim = SIM_LIMITS[sensor]
    assert q.ground_precision > lim["ground_precision"] and q.ground_recall > lim["ground_recall"], q
    assert q.over_seg_rate < lim["over_seg"] and q.under_seg_rate < lim["under_seg"], q
    assert q.own_cluster_rate > lim["own_cluster"], q


SIM_LIMITS = {
    "hdl64": {"ground_precision": 0.94, "ground_recall": 0.98, "over_seg": 0.1, "under_seg": 0.06,
              "own_cluster": 0.8},
    # vlp16: 0.85 on these scenes since the simulator grew kerbs, gardens and low shrubs (issue 10);
    # its 16 sparse rings see their lowest returns as ground
    "vlp16": {"ground_precision": 0.83, "ground_recall": 0.98, "over_seg": 0.2, "under_seg": 0.08,
              "own_cluster": 0.6},
}


def test_warmup_prepares_the_wall_split_kernel():
    """The wall split's numba kernel is compiled (or loaded from the cache) by ``warmup``, not by the
    first frame with a wall in it (a fresh process, so that no other test compiled it first)."""
    import subprocess
    import sys

    from t3d_ros.segment import _fast

    if not _fast.HAVE_NUMBA:
        pytest.skip("numba not installed")
    code = ("from t3d_ros.segment.pipeline import Pipeline; from t3d_ros.segment import _fast; "
            "Pipeline().warmup(); print(len(_fast.wall_fronts_kernel.signatures))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert int(out.stdout.split()[-1]) >= 1
