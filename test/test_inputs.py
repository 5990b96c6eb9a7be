"""Cluster -> network inputs (the representation shared by training and the node)."""

import numpy as np
import pytest

from t3d_ros.classify.inputs import InputSpec, make_inputs


def _box(rng, n, size, centre):
    return np.c_[rng.uniform(-0.5, 0.5, (n, 3)) * size + centre, rng.uniform(0, 1, n)].astype(np.float32)


def test_metric_inputs_keep_size_and_are_centred():
    rng = np.random.default_rng(0)
    car = _box(rng, 500, [4.5, 1.8, 1.5], [20, 5, -1])
    cone = _box(rng, 30, [0.3, 0.3, 0.7], [8, -3, -1.4])
    pts = np.concatenate([car, cone])
    spec = InputSpec(64, ((16, 0.4, 8), (4, 0.8, 8)), ("intensity", "height"))
    inp = make_inputs(pts, np.array([0, 500, 530]), spec, backend="cpu")
    assert inp.xyz.shape == (2, 64, 3) and inp.feats.shape == (2, 64, 2) and inp.globals.shape == (2, 5)
    np.testing.assert_allclose(inp.xyz[:, :, :2].mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(inp.xyz[:, :, 2].min(1), 0, atol=1e-6)
    assert np.ptp(inp.xyz[0, :, 0]) > 3.5 and np.ptp(inp.xyz[1, :, 0]) < 0.4  # metres, not rescaled
    ext = inp.globals[:, :3]
    assert ext[0, 0] > ext[0, 1] > ext[1, 0] and abs(ext[0, 2] - 1.5) < 0.1  # principal spreads, z extent
    np.testing.assert_allclose(inp.globals[:, 3], np.log1p([500, 30]) / 10, rtol=1e-6)
    np.testing.assert_allclose(inp.globals[:, 4], np.hypot([20, 8], [5, -3]) / 50, rtol=0.02)
    assert [a.shape for a in inp.indices] == [(2, 16), (2, 16, 8), (2, 4), (2, 4, 8)]
    # the extent feature does not change when the cluster turns about the vertical
    c, s = np.cos(0.7), np.sin(0.7)
    rot = car.copy()
    rot[:, :2] = car[:, :2] @ np.array([[c, -s], [s, c]]).T
    again = make_inputs(rot, np.array([0, 500]), spec, backend="cpu")
    np.testing.assert_allclose(again.globals[0, :3], ext[0], rtol=1e-4)


def test_unit_sphere_scale_loses_size():
    rng = np.random.default_rng(1)
    big, small = _box(rng, 200, [4, 4, 4], [10, 0, 0]), _box(rng, 200, [0.4, 0.4, 0.4], [10, 0, 0])
    spec = InputSpec(32, (), (), (), scale="unit_sphere")
    inp = make_inputs(np.concatenate([big, small]), np.array([0, 200, 400]), spec, backend="cpu")
    radii = np.linalg.norm(inp.xyz, axis=2).max(axis=1)
    np.testing.assert_allclose(radii, 1.0, rtol=1e-5)


def test_bearing_frame_is_the_same_for_every_bearing():
    """frame="bearing": a cluster turned about the sensor gives the same inputs, the sensor on the -x
    side; "sensor" keeps the bearing (the network would have to learn every one)."""
    rng = np.random.default_rng(4)
    # an L of returns: a car's side (along the line of sight) and its rear, which faces the sensor
    side = np.c_[rng.uniform(0, 4.5, 300), np.zeros(300), rng.uniform(0, 1.4, 300)]
    rear = np.c_[np.zeros(120), rng.uniform(0, 1.8, 120), rng.uniform(0, 1.4, 120)]
    car = np.c_[np.concatenate([side, rear]) + [15.0, 0.0, -1.7], rng.uniform(0, 1, 420)].astype(np.float32)
    spec = InputSpec(64, ((16, 0.4, 8), (4, 0.8, 8)), ("intensity", "height"), frame="bearing")
    ref = make_inputs(car, np.array([0, 420]), spec, backend="cpu")
    near = ref.xyz[0, :, 0] < ref.xyz[0, :, 0].min() + 0.3  # the rear: the side nearest the sensor
    assert near.sum() > 5 and np.ptp(ref.xyz[0, near, 1]) > 1.2
    for angle in (0.9, 2.5, -2.0):
        c, s = np.cos(angle), np.sin(angle)
        turned = car.copy()
        turned[:, :2] = car[:, :2] @ np.array([[c, -s], [s, c]], np.float32).T
        got = make_inputs(turned, np.array([0, 420]), spec, backend="cpu")
        np.testing.assert_allclose(got.xyz, ref.xyz, atol=1e-4)
        np.testing.assert_allclose(got.globals, ref.globals, rtol=1e-4, atol=1e-5)
        sensor = make_inputs(turned, np.array([0, 420]), InputSpec(64, spec.levels, spec.point_features))
        assert np.abs(sensor.xyz - ref.xyz).max() > 1.0  # without it, the same car is another input


def test_spec_round_trip_and_errors():
    spec = InputSpec(128, ((64, 0.4, 16),), ("height",), ("extent",))
    assert InputSpec.from_json(spec.to_json()) == spec
    bearing = InputSpec(128, ((64, 0.4, 16),), ("height",), ("extent",), frame="bearing")
    assert InputSpec.from_json(bearing.to_json()) == bearing
    old = spec.to_json()
    del old["frame"]  # a card written before the field: the sensor frame
    assert InputSpec.from_json(old) == spec
    with pytest.raises(ValueError, match="frame"):
        InputSpec(frame="world")
    with pytest.raises(ValueError, match="unknown point feature"):
        InputSpec(point_features=("colour",))
    with pytest.raises(ValueError, match="at least one point"):
        make_inputs(np.zeros((3, 4), np.float32), np.array([0, 3, 3]), spec)


def _frame(rng, sizes):
    """Packed clusters of assorted sizes (1 point to more than N) at assorted places."""
    parts = [_box(rng, n, rng.uniform(0.2, 5, 3), rng.uniform([-40, -40, -2], [40, 40, 1])) for n in sizes]
    return np.concatenate(parts), np.r_[0, np.cumsum(sizes)]


@pytest.mark.parametrize("spec", [
    InputSpec(64, ((16, 0.4, 8), (4, 0.8, 8)), ("intensity", "height")),
    InputSpec(128, ((32, (0.3, 0.6), (8, 16)), (8, 1.0, 8), (0, 0.0, 0)), ("height",), ("extent", "range")),
    InputSpec(32, ((8, 0.5, 4),), (), ("log_count",), scale="unit_sphere"),
    InputSpec(64, ((16, 0.4, 8), (4, 0.8, 8)), ("intensity", "height"), frame="bearing"),
])
def test_torch_tensors_give_the_numpy_inputs(spec):
    """A torch (CPU) tensor: every step in torch, the same numbers as numpy, indices identical."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    pts, off = _frame(rng, [1, 2, 7, 31, 64, 65, 200, 900, 3000] + rng.integers(1, 600, 20).tolist())
    want = make_inputs(pts, off, spec, backend="cpu")
    for host in (None, pts):
        got = make_inputs(torch.from_numpy(pts), off, spec, backend="auto", host_points=host)
        assert all(isinstance(t, torch.Tensor) and t.device.type == "cpu" for t in got.as_list())
        assert [t.dtype for t in got.as_list()] == [torch.from_numpy(a).dtype for a in want.as_list()]
        for a, t in zip(want.as_list(), got.as_list(), strict=True):
            np.testing.assert_array_equal(t.numpy(), a)  # bit for bit: float64 means in both (see inputs.py)


def test_torch_tensors_with_no_clusters():
    torch = pytest.importorskip("torch")
    spec = InputSpec(16, ((4, 0.5, 4),), ("intensity",))
    got = make_inputs(torch.zeros((0, 4)), np.array([0]), spec)
    want = make_inputs(np.zeros((0, 4), np.float32), np.array([0]), spec)
    assert [tuple(t.shape) for t in got.as_list()] == [a.shape for a in want.as_list()]
    assert all(isinstance(t, torch.Tensor) for t in got.as_list())


def test_far_start_makes_the_sample_independent_of_the_point_order():
    """``InputSpec.start`` "far": FPS starts at each cluster's point farthest from its centroid, so the
    network inputs are the same whatever order the driver gives the points (Velodyne, Ouster and the
    simulator order them differently); "first" (the cards before it) starts at the first point and
    changes with the order. numpy and torch give the same inputs; cards without the field are "first"."""
    import torch

    from t3d_ros.classify.inputs import _far_point_index_reference, far_point_index

    rng = np.random.default_rng(0)
    clusters = [_box(rng, n, (4.0, 1.8, 1.5), (8.0, 3.0, -1.0)) for n in (700, 40, 5, 1)]
    offsets = np.r_[0, np.cumsum([len(c) for c in clusters])]
    points = np.concatenate(clusters).astype(np.float32)
    shuffled = np.concatenate([c[rng.permutation(len(c))] for c in clusters]).astype(np.float32)
    levels = ((32, 0.4, 8),)
    far, first = InputSpec(n_points=64, levels=levels, start="far"), InputSpec(n_points=64, levels=levels)
    a, b = make_inputs(points, offsets, far), make_inputs(shuffled, offsets, far)
    assert np.array_equal(a.xyz, b.xyz) and np.array_equal(a.globals, b.globals)
    assert all(np.array_equal(x, y) for x, y in zip(a.indices, b.indices, strict=True))
    assert not np.array_equal(make_inputs(points, offsets, first).xyz, make_inputs(shuffled, offsets, first).xyz)
    t = make_inputs(torch.from_numpy(shuffled), offsets, far, backend="cpu")
    assert np.array_equal(t.xyz.numpy(), a.xyz) and np.array_equal(t.globals.numpy(), a.globals)
    idx = far_point_index(points, offsets)
    big = rng.normal(0, 3, (5000, 4)).astype(np.float32)
    big_off = np.r_[0, np.sort(rng.choice(np.arange(1, 5000), 40, replace=False)), 5000]
    assert np.array_equal(far_point_index(big, big_off), _far_point_index_reference(big, big_off))  # numba = numpy
    for j, c in enumerate(clusters):  # the farthest point of each cluster, by brute force
        d2 = np.square(c[:, :3].astype(np.float64) - c[:, :3].mean(axis=0, dtype=np.float64)).sum(axis=1)
        assert idx[j] - offsets[j] == int(np.argmax(d2))
    assert InputSpec.from_json({"n_points": 64}).start == "first"
    assert InputSpec.from_json(far.to_json()).start == "far"
    with pytest.raises(ValueError, match="start"):
        InputSpec(start="middle")


def test_near_sensor_names_object_centred_clusters() -> None:
    from t3d_ros.classify.inputs import near_sensor

    rng = np.random.default_rng(0)
    far = rng.normal((12.0, -3.0, -1.0), 0.5, (40, 3))
    centred = far - far.mean(axis=0)
    edge = far - far.mean(axis=0) + (0.0, 1.2, 0.0)  # 1.2 m away: a cluster the node can make
    pts = np.concatenate([far, centred, edge]).astype(np.float32)
    offsets = np.array([0, 40, 80, 120])
    assert near_sensor(pts, offsets).tolist() == [False, True, False]
    assert near_sensor(pts, np.array([0])).shape == (0,)
