"""Property-based tests (hypothesis) of the core's public functions: PointCloud2 decoding and the pipeline.

What is claimed, for any input:
- ``cloud_view`` + ``points_from_view`` either decode a buffer or raise ``CloudError`` (with a cause
  and a message), never another exception; a valid layout (any field order, padding, byte order,
  organized, padded rows) decodes to exactly the finite points that were written.
- ``Pipeline`` / ``Perception.process`` never raise on a (N, C>=3) float array, whatever it holds
  (NaN, Inf, 1e6 m, duplicates, one point, no point), and their output is consistent: shapes and
  offsets agree, every box contains the points of its cluster, ground points are in no cluster,
  cluster sizes respect min/max_cluster_points and ``oversize_policy``, labels come from the class
  list, and a detection's ``num_points`` is its cluster's size.
- An invalid ``PipelineConfig`` raises ``ValueError`` naming the field, never anything else.

``max_examples`` stays modest and ``deadline`` is off so that the file runs in well under a minute
on a busy 2-core machine; the 2 M-point frame is one example, not repeated.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from t3d_ros.classes import CLASSES, UNKNOWN
from t3d_ros.config import pipeline_config
from t3d_ros.io.cloud import DATATYPE_FORMAT, MAX_POINTS, CloudError, Field, cloud_view, points_from_view
from t3d_ros.perception import Perception
from t3d_ros.segment.config import CLUSTER_METHODS, OVERSIZE_POLICIES, ROI_LIMIT
from t3d_ros.segment.pipeline import Pipeline, PipelineConfig, Segmentation, segment

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)
PIPE_SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


# --- PointCloud2 decoding ----------------------------------------------------------------------------

@st.composite
def valid_clouds(draw):
    """(data, fields, point_step, width, height, row_step, big, expected (N, 4) float32)."""
    coord_fmt = draw(st.sampled_from(["f4", "f4", "f8", "i2", "i4", "u2"]))  # drivers: float32, rarely others
    extras = draw(st.lists(st.sampled_from(list(DATATYPE_FORMAT)), max_size=4))
    inten_name = draw(st.sampled_from([None, "intensity", "reflectivity", "i"]))
    specs = [(c, coord_fmt) for c in "xyz"] + [(f"extra{i}", DATATYPE_FORMAT[t]) for i, t in enumerate(extras)]
    if inten_name:
        specs.append((inten_name, draw(st.sampled_from(["f4", "u1", "u2", "f8"]))))
    order = draw(st.permutations(range(len(specs))))
    offset, fields = 0, []
    for k in order:
        name, fmt = specs[k]
        offset += draw(st.integers(0, 3))  # padding, unaligned fields
        fields.append(Field(name, offset, next(t for t, f in DATATYPE_FORMAT.items() if f == fmt)))
        offset += np.dtype(fmt).itemsize
    point_step = offset + draw(st.integers(0, 16))
    big = draw(st.booleans())
    height = draw(st.integers(0, 6))
    width = draw(st.integers(0, 40))
    row_step = width * point_step + draw(st.integers(0, 8))
    n = width * height
    bo = ">" if big else "<"
    dtype = np.dtype({"names": [f.name for f in fields],
                      "formats": [bo + DATATYPE_FORMAT[f.datatype] for f in fields],
                      "offsets": [f.offset for f in fields], "itemsize": point_step})
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arr = np.zeros(n, dtype)
    for name, fmt in specs:
        kind = np.dtype(fmt)
        if kind.kind == "f":
            vals = rng.uniform(-100, 100, n)
        else:
            info = np.iinfo(kind)
            vals = rng.integers(max(info.min, -1000), min(info.max, 1000), n, endpoint=True)
        arr[name] = vals
    if coord_fmt[0] == "f" and n:  # no-return markers of organized clouds, and garbage
        bad = rng.random(n) < draw(st.sampled_from([0.0, 0.1, 1.0]))
        arr["x"][bad] = rng.choice([np.nan, np.inf, -np.inf], int(bad.sum()))
    rows = arr.reshape(height, width).tobytes() if n else b""
    pad = row_step - width * point_step
    data = b"".join(rows[r * width * point_step:(r + 1) * width * point_step] + b"\xab" * pad
                    for r in range(height))
    xyz = np.column_stack([arr[c].astype(np.float32) for c in "xyz"]) if n else np.zeros((0, 3), np.float32)
    inten = arr[inten_name].astype(np.float32) if inten_name and n else np.zeros(n, np.float32)
    expected = np.column_stack([xyz, inten]).astype(np.float32)
    expected = expected[np.isfinite(expected[:, :3]).all(axis=1)]
    return data, fields, point_step, width, height, row_step, big, expected


@SETTINGS
@given(valid_clouds())
def test_valid_layouts_decode_exactly(cloud):
    data, fields, point_step, width, height, row_step, big, expected = cloud
    view = cloud_view(data, fields, point_step, width, height, row_step, big)
    assert view.shape == (height, width)
    out = points_from_view(view)
    assert out.dtype == np.float32 and out.flags.c_contiguous and out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)
    assert np.isfinite(out[:, :3]).all()


U32 = st.integers(0, 2**32 - 1)  # PointCloud2 sizes are uint32
SMALL = st.integers(-4, 64)


@st.composite
def random_fields(draw):
    names = st.sampled_from(["x", "y", "z", "intensity", "i", "ring", "", "x ", "rgb"])
    return [Field(draw(names), draw(st.one_of(SMALL, U32)), draw(st.integers(-1, 12)),
                  draw(st.one_of(st.integers(-2, 4), st.integers(0, 2**31))))
            for _ in range(draw(st.integers(0, 6)))]


@SETTINGS
@given(fields=random_fields(), point_step=st.one_of(SMALL, U32), width=st.one_of(SMALL, U32),
       height=st.one_of(st.integers(0, 4), U32), row_step=st.one_of(st.integers(-4, 512), U32),
       big=st.booleans(), data=st.binary(max_size=512))
def test_random_headers_and_bytes_decode_or_raise_cloud_error(fields, point_step, width, height, row_step, big, data):
    try:
        out = points_from_view(cloud_view(data, fields, point_step, width, height, row_step, big))
    except CloudError as e:
        assert e.cause and len(str(e)) > 20
        return
    assert out.ndim == 2 and out.shape[1] == 4 and out.dtype == np.float32
    assert len(out) <= min(width * height, MAX_POINTS)
    assert np.isfinite(out[:, :3]).all()


@SETTINGS
@given(good=valid_clouds(), cut=st.integers(1, 64), what=st.sampled_from(["short", "long", "step", "row"]))
def test_corrupted_valid_cloud_is_rejected_with_a_cause(good, cut, what):
    data, fields, point_step, width, height, row_step, big, _ = good
    assume(width * height > 0)
    if what == "short":
        data = data[:-cut]
    elif what == "long":
        data = data + bytes(cut)
    elif what == "step":  # a point_step that cuts the last field
        point_step = max(f.offset + np.dtype(DATATYPE_FORMAT[f.datatype]).itemsize for f in fields) - 1
    else:
        row_step = width * point_step - 1
    with pytest.raises(CloudError) as err:
        points_from_view(cloud_view(data, fields, point_step, width, height, row_step, big))
    assert err.value.cause in {"data_size", "point_step", "row_step"}


@pytest.mark.parametrize("datatype", [0, 9, 42, -1])
def test_unknown_xyz_datatype_has_its_own_cause(datatype):
    fields = [Field("x", 0, 7), Field("y", 4, datatype), Field("z", 8, 7)]
    with pytest.raises(CloudError, match=r"'y' has datatype") as err:
        cloud_view(bytes(12), fields, 12, 1, 1, 12)
    assert err.value.cause == "datatype"


# --- the pipeline ------------------------------------------------------------------------------------

@st.composite
def clouds(draw, max_points: int = 3000):
    """(N, C) float arrays that mix ground, blobs, uniform clutter, NaN/Inf, far and duplicate points."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ncol = draw(st.sampled_from([3, 4, 5]))
    parts = []
    if draw(st.booleans()):  # ground plane around a sensor at 1.7 m
        n = draw(st.integers(0, max_points // 2))
        g = rng.uniform(-40, 40, (n, 2))
        parts.append(np.c_[g, -1.7 + rng.normal(0, 0.02, n)])
    for _ in range(draw(st.integers(0, 4))):  # objects
        n = draw(st.integers(1, max_points // 4))
        centre = rng.uniform([-50, -50, -1.5], [50, 50, 1.0])
        parts.append(centre + rng.normal(0, draw(st.sampled_from([0.01, 0.3, 1.5])), (n, 3)))
    if draw(st.booleans()):  # clutter anywhere, some outside the crop
        n = draw(st.integers(0, max_points // 4))
        parts.append(rng.uniform(-80, 80, (n, 3)))
    if draw(st.booleans()):  # one point repeated: zero-extent cluster
        parts.append(np.repeat(rng.uniform(-20, 20, (1, 3)), draw(st.integers(1, 50)), axis=0))
    xyz = np.concatenate(parts) if parts else np.zeros((0, 3))
    n = len(xyz)
    pts = np.c_[xyz, rng.uniform(0, 255, (n, ncol - 3))]
    if n and draw(st.booleans()):  # non-finite and absurd values anywhere, also in intensity
        bad = rng.random(pts.shape) < draw(st.sampled_from([0.01, 0.2]))
        pts[bad] = rng.choice([np.nan, np.inf, -np.inf, 1e6, -1e6, 3.4e38], int(bad.sum()))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return pts.astype(dtype)


@st.composite
def configs(draw):
    """Valid configs across methods, size limits and policies (Patchwork++ left out: optional)."""
    lo = draw(st.integers(1, 30))
    return PipelineConfig(
        ground_method=draw(st.sampled_from(["envelope", "grid", "none"])),
        cluster_method=draw(st.sampled_from(CLUSTER_METHODS)),
        box_method=draw(st.sampled_from(["lshape", "minarea", "aabb"])),
        voxel_size=draw(st.sampled_from([0.0, 0.0, 0.1, 0.5])),
        min_cluster_points=lo,
        max_cluster_points=lo + draw(st.integers(0, 500)),
        oversize_policy=draw(st.sampled_from(OVERSIZE_POLICIES)),
        ground_sensor_height=draw(st.sampled_from([0.0, 1.7])),
    )


@st.composite
def any_valid_config(draw):
    """Any accepted config: every number drawn over a wide range, rejected ones discarded."""
    kw = {}
    for f in dataclasses.fields(PipelineConfig):
        d = f.default
        if f.name == "ground_method":
            kw[f.name] = draw(st.sampled_from(["envelope", "grid", "none"]))
        elif f.name == "cluster_method":
            kw[f.name] = draw(st.sampled_from(CLUSTER_METHODS))
        elif f.name == "oversize_policy":
            kw[f.name] = draw(st.sampled_from(OVERSIZE_POLICIES))
        elif f.name == "box_method":
            kw[f.name] = draw(st.sampled_from(["lshape", "minarea", "aabb"]))
        elif isinstance(d, int):
            kw[f.name] = draw(st.one_of(st.just(d), st.integers(1, 100)))
        elif isinstance(d, float):
            kw[f.name] = draw(st.one_of(st.just(d), st.floats(-100, 100), st.floats(0, 2)))
    config = PipelineConfig(**kw)
    try:
        config.validate()
    except ValueError:
        assume(False)
    return config


def box_contains(box: np.ndarray, pts: np.ndarray, tol: float) -> np.ndarray:
    """(n,) bool: points (n, >=3) inside the oriented box [cx, cy, cz, l, w, h, yaw] grown by tol."""
    cx, cy, cz, length, width, height, yaw = box.astype(np.float64)
    d = pts[:, :3].astype(np.float64) - [cx, cy, cz]
    c, s = math.cos(yaw), math.sin(yaw)
    u, v = d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c
    return (np.abs(u) <= length / 2 + tol) & (np.abs(v) <= width / 2 + tol) & (np.abs(d[:, 2]) <= height / 2 + tol)


def check_segmentation(seg: Segmentation, points: np.ndarray, config: PipelineConfig) -> None:
    """Every invariant a consumer of ``Segmentation`` relies on."""
    n_in, ncol = points.shape
    m, k = len(seg.points), seg.num_clusters
    assert seg.points.shape == (m, ncol) and seg.points.dtype == np.float32
    assert np.isfinite(seg.points).all(), "non-finite rows must be dropped"
    c = config
    if m:  # everything kept lies in the crop box
        x, y, z = seg.points[:, 0], seg.points[:, 1], seg.points[:, 2]
        assert (x >= c.x_min).all() and (x <= c.x_max).all() and (y >= c.y_min).all() and (y <= c.y_max).all()
        assert (z >= c.z_min).all() and (z <= c.z_max).all()
    assert seg.ground.shape == (m,) and seg.ground.dtype == bool
    assert seg.cluster_id.shape == (m,) and seg.cluster_id.dtype == np.int32
    assert not (seg.ground & (seg.cluster_id >= 0)).any(), "a ground point is in a cluster"
    off = seg.cluster_offsets
    assert off.shape == (k + 1,) and off[0] == 0 and (np.diff(off) > 0).all()
    assert seg.cluster_points.shape == (off[-1], ncol)
    assert seg.boxes.shape == (k, 7) and seg.boxes.dtype == np.float32 and np.isfinite(seg.boxes).all()
    assert seg.n_oversize >= 0
    sizes = np.diff(off)
    assert (sizes >= c.min_cluster_points).all()
    if c.oversize_policy == "report":
        assert (sizes <= c.max_cluster_points).all()
        # Oversize clusters are left out but counted: their points are non-ground and in no cluster.
        free = int((~seg.ground & (seg.cluster_id < 0)).sum())
        assert free >= seg.n_oversize * (c.max_cluster_points + 1)
    else:
        assert int((sizes > c.max_cluster_points).sum()) == seg.n_oversize
    assert np.array_equal(np.bincount(seg.cluster_id[seg.cluster_id >= 0], minlength=k), sizes)
    b = seg.boxes
    assert (b[:, 3:6] >= 0).all() and (b[:, 3] >= b[:, 4]).all()
    assert ((b[:, 6] >= -math.pi / 2 - 1e-6) & (b[:, 6] <= math.pi / 2 + 1e-6)).all()
    for i in range(k):
        pts = seg.cluster(i)
        ref = seg.points[seg.cluster_id == i]
        np.testing.assert_array_equal(np.sort(pts, axis=0), np.sort(ref, axis=0))
        scale = float(np.abs(pts[:, :3]).max()) if len(pts) else 0.0
        inside = box_contains(b[i], pts, tol=1e-3 + 1e-6 * scale)
        assert inside.all(), f"box {i} {b[i]} misses {int((~inside).sum())} of its {len(pts)} points"
    assert seg.input_cluster_id.shape == (n_in,) and seg.input_ground.shape == (n_in,)
    finite = np.isfinite(points).all(axis=1)
    assert (seg.input_cluster_id[~finite] == -1).all() and not seg.input_ground[~finite].any()
    if config.voxel_size == 0:  # without voxels input rows map one to one
        assert int((seg.input_cluster_id >= 0).sum()) == int(off[-1])
        assert int(seg.input_ground.sum()) == int(seg.ground.sum())
    assert set(seg.timings_ms) >= {"crop", "voxel", "ground", "cluster", "boxes"}


@PIPE_SETTINGS
@given(points=clouds(), config=configs())
def test_pipeline_output_is_consistent_for_any_cloud(points, config):
    seg = Pipeline(config)(points)
    check_segmentation(seg, points, config)


@PIPE_SETTINGS
@given(points=clouds(), config=any_valid_config())
def test_pipeline_runs_with_any_valid_config(points, config):
    check_segmentation(Pipeline(config)(points), points, config)


class RandomClassifier:
    """A stand-in network: a class from CLASSES and a score in [0, 1] per cluster."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, points: np.ndarray, offsets: np.ndarray) -> tuple[list[str], np.ndarray]:
        k = len(offsets) - 1
        assert points.shape[0] == offsets[-1] and (np.diff(offsets) > 0).all()
        return list(self.rng.choice(CLASSES, k)), self.rng.random(k).astype(np.float32)


@PIPE_SETTINGS
@given(points=clouds(1500), threshold=st.sampled_from([0.0, 0.5, 1.0]), seed=st.integers(0, 100),
       classify=st.booleans())
def test_perception_labels_come_from_the_class_list(points, threshold, seed, classify):
    perception = Perception(PipelineConfig(), RandomClassifier(seed) if classify else None, threshold)
    res = perception.process(points)
    seg = res.segmentation
    check_segmentation(seg, points, perception.config)
    assert len(res.detections) == seg.num_clusters
    for i, d in enumerate(res.detections):
        assert d.label in CLASSES or d.label == UNKNOWN
        assert 0.0 <= d.score <= 1.0
        if d.label != UNKNOWN:
            assert d.score >= threshold
        assert d.num_points == len(seg.cluster(i))
        assert np.isfinite(d.center).all() and np.isfinite(d.size).all() and math.isfinite(d.yaw)
        d.to_json()
    if not classify:
        assert all(d.label == UNKNOWN and d.score == 1.0 for d in res.detections)
    assert "classify" in res.timings_ms


# --- the cases the issue names, one by one -----------------------------------------------------------

def _flat_ground(n: int, seed: int = 0, extent: float = 40.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = rng.uniform(-extent, extent, (n, 2))
    return np.c_[g, -1.7 + rng.normal(0, 0.02, n), rng.uniform(0, 255, n)].astype(np.float32)


@pytest.mark.parametrize("cluster_method", CLUSTER_METHODS)
def test_named_cases(cluster_method):
    config = PipelineConfig(cluster_method=cluster_method)
    pipe = Pipeline(config)
    cases = {
        "empty": np.zeros((0, 4), np.float32),
        "one point": np.array([[5, 0, -1, 3]], np.float32),
        "all NaN": np.full((100, 4), np.nan, np.float32),
        "all Inf": np.full((100, 4), np.inf, np.float32),
        "1e6 m": np.c_[np.full((100, 3), 1e6), np.ones(100)].astype(np.float32),
        "all ground": _flat_ground(20_000),
    }
    for name, pts in cases.items():
        seg = pipe(pts)
        check_segmentation(seg, pts, config)
        assert seg.num_clusters == 0, name


def test_one_huge_cluster_is_reported_or_kept():
    rng = np.random.default_rng(1)
    blob = np.c_[rng.uniform([8, -3, -1.6], [14, 3, 1.0], (30_000, 3)), np.ones(30_000)].astype(np.float32)
    pts = np.concatenate([_flat_ground(20_000), blob])
    report = PipelineConfig(max_cluster_points=20_000)
    seg = segment(pts, report)
    check_segmentation(seg, pts, report)
    assert seg.n_oversize == 1 and seg.num_clusters == 0  # counted, left out (the node reports it)
    keep = dataclasses.replace(report, oversize_policy="keep")
    seg = segment(pts, keep)
    check_segmentation(seg, pts, keep)
    assert seg.n_oversize == 1 and seg.num_clusters == 1 and len(seg.cluster(0)) > 20_000


def test_far_coordinates_with_the_widest_roi():
    """Points at the ROI limit and at 1e6 m: the grids stay bounded (no huge allocation)."""
    lim = ROI_LIMIT
    config = PipelineConfig(x_min=-lim, x_max=lim, y_min=-lim, y_max=lim, z_min=-5.0, z_max=5.0,
                            cluster_cell_size=1.0, cluster_max_tolerance=0.9, min_cluster_points=1,
                            ground_cell_size=1.0)
    corners = np.array([[lim, lim, 0], [-lim, -lim, 0], [lim, -lim, 5], [1e6, 1e6, 1e6], [-1e6, 0, 0]])
    pts = np.c_[corners, np.zeros(len(corners))].astype(np.float32)
    for ground in ("envelope", "grid", "none"):
        for method in CLUSTER_METHODS:
            cfg = dataclasses.replace(config, cluster_method=method, ground_method=ground)
            seg = segment(pts, cfg)
            check_segmentation(seg, pts, cfg)
            if ground == "none":
                assert seg.num_clusters == 3  # the three corners inside the ROI, each alone


@pytest.mark.parametrize("change, field", [
    ({"x_max": 1e6}, "x_max"),
    ({"z_min": -5000.0}, "z_min"),
    ({"x_min": -1000.0, "x_max": 1000.0, "y_min": -1000.0, "y_max": 1000.0}, "cluster_cell_size"),
    ({"cluster_cell_size": 0.02, "cluster_tolerance": 0.1, "cluster_max_tolerance": 0.2}, "cluster_cell_size"),
    ({"cluster_method": "voxel", "z_min": -100.0, "z_max": 100.0}, "cluster_cell_size"),
])
def test_configs_whose_grids_would_not_fit_are_rejected(change, field):
    with pytest.raises(ValueError, match=field):
        PipelineConfig(**change).validate()


@SETTINGS
@given(name=st.sampled_from([f.name for f in dataclasses.fields(PipelineConfig)]),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                       st.text(max_size=12), st.booleans(), st.none()))
def test_any_config_value_is_accepted_or_rejected_with_its_name(name, value):
    config = dataclasses.replace(PipelineConfig(), **{name: value})
    try:
        config.validate()
    except ValueError as e:
        assert str(e).split("=")[0] in {f.name for f in dataclasses.fields(PipelineConfig)}
        return
    Pipeline(config)(np.zeros((0, 4), np.float32))  # an accepted config runs


@SETTINGS
@given(name=st.sampled_from([f.name for f in dataclasses.fields(PipelineConfig)]),
       value=st.one_of(st.floats(), st.integers(-10**30, 10**30), st.text(max_size=8), st.booleans(), st.none(),
                       st.lists(st.integers(), max_size=2)))
def test_params_file_values_are_converted_or_rejected_with_their_name(name, value):
    """``pipeline_config`` (the node's and ``detect --params``' path) never raises anything but ValueError."""
    try:
        config = pipeline_config({name: value})
    except ValueError as e:
        assert name in str(e) and str(e).split("=")[0] in {f.name for f in dataclasses.fields(PipelineConfig)}, e
        return
    assert isinstance(getattr(config, name), type(getattr(PipelineConfig(), name)))


def test_two_million_points():
    """One 2 M-point frame (a dense 128-beam sensor is ~260k): bounded time, consistent output."""
    import time

    rng = np.random.default_rng(7)
    ground = _flat_ground(1_600_000, seed=7, extent=55)
    # 20 objects of 15k points on a 10 x 10 m grid (well apart), and a 100k-point wall above the limit.
    centres = np.array([[x, y, -0.5] for x in (-40, -20, 10, 30) for y in (-40, -20, 0, 20, 40)], float)
    blobs = [c + rng.uniform([-1, -1, -1], [1, 1, 1], (15_000, 3)) for c in centres]
    wall = rng.uniform([45, -30, -1.6], [45.3, 30, 1.0], (100_000, 3))
    objects = np.c_[np.concatenate([*blobs, wall]), np.ones(400_000)].astype(np.float32)
    pts = np.concatenate([ground, objects])
    config = PipelineConfig()
    t0 = time.perf_counter()
    seg = segment(pts, config)
    elapsed = time.perf_counter() - t0
    check_segmentation(seg, pts, config)
    assert seg.num_clusters == 20 and seg.n_oversize == 1, (seg.num_clusters, seg.n_oversize)
    assert elapsed < 30, f"{elapsed:.1f} s for 2 M points"
