"""Tests of the simulated LiDAR world (t3d_ros.offline.sim): sensors, scenes, ray casting, files."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest

from t3d_ros.classes import CLASSES, GROUND_ID, NO_INSTANCE
from t3d_ros.offline.sim import SENSORS, Frame, Scene, SimObject, generate_scene, get_sensor, scan, simulate
from t3d_ros.offline.sim import objects as ob
from t3d_ros.offline.sim.io import load_frame, save_frame
from t3d_ros.offline.sim.lidar import VEIL_MAX
from t3d_ros.offline.sim.scene import GroundModel

# exact geometry: no noise, no dropout, no calibration error, no edge veil
IDEAL = dataclasses.replace(
    get_sensor("hdl64"),
    name="hdl64",
    range_noise_std=0.0,
    dropout=0.0,
    elevation_jitter_deg=0.0,
    mixed_pixels=0.0,
    range_bias_std=0.0,
)


def _box_obj(iid: int, label: str, center, size, refl: float = 0.5, yaw: float = 0.0) -> SimObject:
    part = ob.box(center, size, refl, rot=ob.rot_z(yaw))
    return SimObject.from_parts(iid, label, [part], yaw)


def _in_box(xyz: np.ndarray, obj: SimObject, margin: float) -> np.ndarray:
    d = xyz - obj.center
    c, s = np.cos(obj.yaw), np.sin(obj.yaw)
    u, v = d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c
    half = 0.5 * obj.size + margin
    return (np.abs(u) <= half[0]) & (np.abs(v) <= half[1]) & (np.abs(d[:, 2]) <= half[2])


@pytest.fixture(scope="module")
def street() -> tuple[Scene, Frame]:
    return simulate(3, "hdl64")


def test_sensors_real_beam_patterns() -> None:
    assert {"vlp16", "hdl32", "hdl64", "os1-128"} <= set(SENSORS)
    rings = {"vlp16": 16, "hdl32": 32, "hdl64": 64, "os1-128": 128}
    for name, n in rings.items():
        s = get_sensor(name)
        el = np.asarray(s.vertical_angles_deg)
        assert s.rings == n and s.name == name
        assert np.all(np.diff(el) > 0), "ring 0 must be the lowest beam"
        assert s.layout in ("velodyne", "ouster") and 0 < s.min_range < s.max_range
    assert np.allclose(get_sensor("vlp16").vertical_angles_deg, np.arange(-15, 16, 2))
    hdl32 = np.asarray(get_sensor("hdl32").vertical_angles_deg)
    assert hdl32[0] == pytest.approx(-30.67, abs=0.01) and hdl32[-1] == pytest.approx(10.67, abs=0.01)
    assert np.allclose(np.diff(hdl32), 1.33, atol=0.01)
    hdl64 = np.asarray(get_sensor("hdl64").vertical_angles_deg)
    assert hdl64[-1] == pytest.approx(2.0, abs=0.1) and -25.0 < hdl64[0] < -24.0
    steps = -np.diff(hdl64[::-1])
    assert np.allclose(steps[:31], 1 / 3, atol=0.02) and np.allclose(steps[-31:], 0.5, atol=0.03)
    os1 = np.asarray(get_sensor("os1-128").vertical_angles_deg)
    assert (
        os1[0] == pytest.approx(-22.5)
        and os1[-1] == pytest.approx(22.5)
        and np.allclose(np.diff(os1), 45 / 127)
    )
    assert get_sensor("vlp16").columns == 1800 and get_sensor("hdl64").columns == 2083
    with pytest.raises(ValueError, match="vlp16"):
        get_sensor("nope")


def test_unseen_sensors_are_real_beam_patterns_outside_training() -> None:
    """The sensors bench.sensors tries the model on: data-sheet beam patterns, none of them trained on."""
    from t3d_ros.offline.data.sim import SIM_SENSORS
    from t3d_ros.offline.sim.sensors import UNSEEN_SENSORS

    assert set(UNSEEN_SENSORS) == {"vlp32c", "hdl32-20hz", "os1-64", "os1-32"}
    assert not set(UNSEEN_SENSORS) & set(SIM_SENSORS) and set(UNSEEN_SENSORS) <= set(SENSORS)
    for name, s in UNSEEN_SENSORS.items():
        el = np.asarray(s.vertical_angles_deg)
        assert s.name == name and get_sensor(name) is s and np.all(np.diff(el) > 0)
    vlp32c = np.asarray(get_sensor("vlp32c").vertical_angles_deg)
    assert vlp32c.size == 32 and vlp32c[0] == -25.0 and vlp32c[-1] == 15.0
    assert np.diff(vlp32c).min() == pytest.approx(1 / 3, abs=0.01)  # bunched around the horizon
    nusc, hdl32 = get_sensor("hdl32-20hz"), get_sensor("hdl32")
    assert nusc.vertical_angles_deg == hdl32.vertical_angles_deg and nusc.rate_hz == 20.0
    assert nusc.columns == hdl32.columns // 2  # twice the spin rate, half the columns
    assert np.allclose(np.diff(get_sensor("os1-32").vertical_angles_deg), 45 / 31)
    assert get_sensor("os1-64").rings == 64
    frame = simulate(5, "os1-32")[1]
    assert frame.ring.max() == 31 and frame.column.max() < 1024 and len(frame) > 5000


def test_deterministic_by_seed() -> None:
    s1, f1 = simulate(11, "vlp16")
    s2, f2 = simulate(11, "vlp16")
    assert len(s1.objects) == len(s2.objects)
    for a in ("xyz", "intensity", "ring", "column", "label", "instance", "time"):
        assert np.array_equal(getattr(f1, a), getattr(f2, a)), a
    _, f3 = simulate(12, "vlp16")
    assert len(f3) != len(f1) or not np.array_equal(f3.xyz, f1.xyz)


def test_frame_fields_and_ranges(street: tuple[Scene, Frame]) -> None:
    scene, f = street
    s = f.sensor
    n = len(f)
    assert n > 50_000
    assert f.xyz.shape == (n, 3) and f.xyz.dtype == np.float32
    assert f.intensity.dtype == np.float32 and f.intensity.min() >= 0 and f.intensity.max() <= 255
    assert f.ring.dtype == np.uint16 and f.ring.max() < s.rings
    assert f.column.dtype == np.uint32 and f.column.max() < s.columns
    assert f.label.dtype == np.int16 and f.instance.dtype == np.int32 and f.time.dtype == np.float32
    assert np.all((f.range >= s.min_range) & (f.range <= s.max_range))
    # range is measured from the beam's own origin, which sits laser_heights_m above the frame origin
    origin_z = np.asarray(s.laser_heights_m or np.zeros(s.rings), np.float32)[f.ring]
    from_beam = f.xyz - np.c_[np.zeros((n, 2), np.float32), origin_z]
    assert np.allclose(np.linalg.norm(from_beam, axis=1), f.range, atol=1e-3)
    assert np.all(np.diff(f.time) >= 0) and f.time.max() < 1.0 / s.rate_hz
    # a return per ray at most, and each point's elevation (from its beam's origin) is its ring's angle,
    # within the tilt of the spin axis
    assert len(np.unique(f.ring.astype(np.int64) * s.columns + f.column)) == n
    el = np.degrees(np.arcsin(from_beam[:, 2] / f.range))
    assert np.percentile(np.abs(el - np.asarray(s.vertical_angles_deg)[f.ring]), 99) < s.spin_tilt_deg + 0.1
    grid = f.organized("range")
    assert grid.shape == (s.rings, s.columns) and np.count_nonzero(~np.isnan(grid)) == n


def test_labels_and_instances_consistent(street: tuple[Scene, Frame]) -> None:
    scene, f = street
    assert np.all((f.label == GROUND_ID) == (f.instance == NO_INSTANCE))
    objs = {o.instance_id: o for o in scene.objects}
    assert len(objs) == len(scene.objects) and min(objs) >= 1
    for iid in np.unique(f.instance[f.instance > 0]):
        o = objs[int(iid)]
        m = f.instance == iid
        assert np.all(f.label[m] == CLASSES.index(o.label))
        # noise (3 sigma), the edge veil (less than VEIL_MAX behind an edge) and foliage depth scatter
        margin = 0.1 + VEIL_MAX + (0.5 if o.label == "vegetation" else 0.0)
        assert _in_box(f.xyz[m].astype(np.float64), o, margin).mean() > 0.99, o


def test_points_lie_in_gt_boxes_without_noise() -> None:
    scene = generate_scene(5, sensor_height=IDEAL.mount_height)
    f = scan(scene, IDEAL, seed=1)
    objs = {o.instance_id: o for o in scene.objects}
    for iid in np.unique(f.instance[f.instance > 0]):
        o = objs[int(iid)]
        margin = 0.51 if o.label == "vegetation" else 0.01
        inside = _in_box(f.xyz[f.instance == iid].astype(np.float64), o, margin)
        assert inside.all(), (o.label, o.instance_id, (~inside).sum())


def test_ground_points_near_ground_model(street: tuple[Scene, Frame]) -> None:
    scene, f = street
    g = f.label == GROUND_ID
    assert g.mean() > 0.2
    xyz = f.xyz[g].astype(np.float64)
    dz = np.abs(xyz[:, 2] - scene.ground.height(xyz[:, 0], xyz[:, 1]))
    assert np.median(dz) < 0.03
    # kerb faces lie between road and sidewalk height (+ bumps); ground.height() ignores the tilt of the
    # sidewalk slabs on sloped streets, so a few kerb returns sit higher than it says
    assert np.mean(dz < 0.3) > 0.98
    # the ground sits at the mount height below the sensor
    assert abs(float(scene.ground.height(np.zeros(1), np.zeros(1))[0]) + scene.sensor_height) < 0.1


def test_box_shows_only_faces_towards_sensor() -> None:
    box = _box_obj(1, "misc", (10.0, 0.0, -0.23), (2.0, 2.0, 3.0))  # 1.27 m above the sensor
    f = scan(Scene([box], GroundModel.flat()), IDEAL, seed=0)
    m = f.instance == 1
    assert m.sum() > 300
    assert np.allclose(f.xyz[m, 0], 9.0, atol=1e-3)  # front face only: no top, no sides, no back
    # and nothing behind it in its shadow
    shadow = (f.xyz[:, 0] > 11.0) & (np.abs(f.xyz[:, 1] / f.xyz[:, 0]) < 0.9 / 11.0)
    assert not np.any(shadow & (f.label != GROUND_ID))
    # a low box seen from above shows its top as well
    low = _box_obj(1, "misc", (10.0, 0.0, -1.73 + 0.4), (2.0, 2.0, 0.8))
    f = scan(Scene([low], GroundModel.flat()), IDEAL, seed=0)
    pts = f.xyz[f.instance == 1]
    top = np.isclose(pts[:, 2], -1.73 + 0.8, atol=1e-3)
    front = np.isclose(pts[:, 0], 9.0, atol=1e-3)
    assert top.sum() > 20 and front.sum() > 20 and np.all(top | front)


def test_open_foliage_returns_from_deeper_than_dense() -> None:
    # A 2 m deep block of leaves 10 m ahead: beams enter it by about its mean free path, so an open
    # crown (mfp 0.8 m) returns from throughout its depth and a clipped hedge (0.08 m) from its skin.
    def depths(mfp: float) -> np.ndarray:
        part = ob.leaf_box((10.0, 0.0, -0.73), (2.0, 3.0, 2.0), 0.4, mfp)
        f = scan(Scene([SimObject.from_parts(1, "vegetation", [part], 0.0)], GroundModel.flat()), IDEAL, seed=0)
        return f.xyz[f.instance == 1, 0] - 9.0

    dense, open_ = depths(0.08), depths(0.8)
    assert len(dense) > 300 and len(open_) > 200
    assert np.median(dense) < 0.15 < 0.4 < np.median(open_)
    assert np.percentile(open_, 90) > 0.7  # a tenth from deeper than a third: a filled blob from above


def test_patch_holes_are_per_object_blocks_and_spare_the_ground() -> None:
    from t3d_ros.offline.sim.lidar import HOLE_COLUMNS, HOLE_RINGS, HOLES_MAX, _patch_holes

    inst = np.repeat(np.arange(0, 300), 2000)  # instance 0 is the ground
    ring, col = np.tile(np.arange(2000) % 64, 300), np.tile(np.arange(2000) // 64 * 5, 300)
    holes = _patch_holes(inst, ring, col, salt=7)
    assert not holes[inst == NO_INSTANCE].any()
    share = np.array([holes[inst == i].mean() for i in range(1, 300)])
    assert share.min() >= 0.0 and share.max() < HOLES_MAX + 0.05 and 0.12 < share.mean() < 0.28
    # whole blocks of beams: every return of a block shares its fate
    block = (inst * 100000 + (ring // HOLE_RINGS) * 1000 + col // HOLE_COLUMNS)
    for b in np.unique(block[holes])[:50]:
        assert holes[block == b].all()
    np.testing.assert_array_equal(holes, _patch_holes(inst, ring, col, salt=7))  # deterministic
    assert (holes != _patch_holes(inst, ring, col, salt=8)).mean() > 0.1  # another scan, other holes


def test_glossy_surfaces_mirror_slanted_beams_away() -> None:
    # A 4 x 0.05 x 2 m panel 10 m ahead, facing the sensor or turned 70 degrees: rough, it returns
    # from any angle; glossy (car paint, glass), it keeps a share cos(incidence)^gloss of the beams.
    def returns(gloss: float, yaw: float) -> int:
        part = ob.box((10.0, 0.0, -0.73), (0.05, 4.0, 2.0), 0.5, rot=ob.rot_z(yaw), gloss=gloss)
        f = scan(Scene([SimObject.from_parts(1, "misc", [part], yaw)], GroundModel.flat()), IDEAL, seed=0)
        return int((f.instance == 1).sum())

    facing, slanted = 0.0, np.radians(70.0)
    assert returns(2.0, facing) > 0.85 * returns(0.0, facing)  # facing the sensor: as rough
    rough, paint, glass = returns(0.0, slanted), returns(0.5, slanted), returns(2.0, slanted)
    assert rough > 100
    assert paint == pytest.approx(rough * np.cos(slanted) ** 0.5, rel=0.2)  # cos 70 deg = 0.34
    assert glass == pytest.approx(rough * np.cos(slanted) ** 2, abs=0.08 * rough)
    assert returns(2.0, slanted) == glass  # hashed per beam: the same scan, the same returns
    # the car model: paint and glass glossy, wheels, plates and lights not
    parts = ob.car(np.random.default_rng(1))
    assert {p.gloss for p in parts if p.retro} == {0.0} and any(p.gloss == 2.0 for p in parts)
    assert any(p.gloss == 0.5 for p in parts)


def test_object_behind_wall_is_occluded() -> None:
    wall = _box_obj(1, "structure", (8.0, 0.0, 0.0), (0.3, 12.0, 6.0))
    car_parts = ob.place_parts(ob.car(np.random.default_rng(0)), np.array([14.0, 0.0, -1.73]), np.eye(3))
    car = SimObject.from_parts(2, "car", car_parts, 0.0)
    f = scan(Scene([wall, car], GroundModel.flat()), IDEAL, seed=0)
    assert np.sum(f.instance == 1) > 1000
    assert np.sum(f.instance == 2) == 0
    # without the wall the car is seen
    f = scan(Scene([car], GroundModel.flat()), IDEAL, seed=0)
    assert np.sum(f.instance == 2) > 200


def test_slope_tilt_lays_parts_onto_the_ground() -> None:
    # the tilt lifts the x axis by gx and the y axis by gy (the ground z = z0 + gx x + gy y)
    rot = ob.slope_tilt(0.08, -0.05)
    ex, ey = rot @ np.array([1.0, 0.0, 0.0]), rot @ np.array([0.0, 1.0, 0.0])
    assert ex[2] / ex[0] == pytest.approx(0.08, abs=1e-3) and ey[2] / ey[1] == pytest.approx(-0.05, abs=1e-3)
    # a vehicle placed on a 8 % / -5 % slope: the corners of its floor sit on the ground, not 20 cm off it
    from t3d_ros.offline.sim.scene import _Builder

    ground = dataclasses.replace(GroundModel.flat(), gx=0.08, gy=-0.05)
    b = _Builder(np.random.default_rng(0), ground)
    obj = b.place("car", [ob.box((0.0, 0.0, 0.5), (4.0, 2.0, 1.0), 0.5)], 20.0, 5.0, 0.6)
    assert obj is not None
    part = obj.parts[0]
    corners = np.array([[sx * 2.0, sy * 1.0, -0.5] for sx in (-1, 1) for sy in (-1, 1)]) @ part.rot.T + part.center
    assert np.abs(corners[:, 2] - ground.height(corners[:, 0], corners[:, 1])).max() < 0.01


def test_edge_veil_blends_only_close_surfaces() -> None:
    # a 10 cm post 10 m ahead of a wall: the two echoes are told apart, nothing lands in the gap, and
    # the post keeps a post's depth; 1 m ahead of the wall, blended returns fill the gap
    sensor = dataclasses.replace(IDEAL, mixed_pixels=1.0)
    for gap, veil in ((10.0, False), (1.0, True)):
        post = SimObject.from_parts(1, "pole", [ob.vcyl(10.0, 0.0, -1.73, 2.5, 0.05, 0.4)], 0.0)
        wall = _box_obj(2, "structure", (10.0 + gap + 0.15, 0.0, 0.0), (0.3, 12.0, 6.0))
        f = scan(Scene([post, wall], GroundModel.flat()), sensor, seed=0)
        depth = np.hypot(f.xyz[f.instance == 1, 0], f.xyz[f.instance == 1, 1]) - 9.95
        assert len(depth) > 20
        assert depth.max() <= gap + 0.1
        assert (np.mean(depth > 0.15) > 0.2) == veil, (gap, np.mean(depth > 0.15))


def test_street_lamps_are_at_most_three_columns_wide_at_20_m() -> None:
    # Real lamp posts at 15-60 m come out one or two azimuth columns wide (KITTI, HDL-64E: median 13
    # returns); posts 18-30 cm across made simulated ones up to 5 columns wide at 20 m, where the
    # columns lie 6 cm apart (docs/realism.md, item 18). 12-18 cm with the beam's footprint: 3 at most.
    rng = np.random.default_rng(0)
    sensor = get_sensor("hdl64")
    widths = []
    for _ in range(12):
        parts = ob.place_parts(ob.pole(rng, "lamp"), np.array([20.0, 0.0, -1.73]), ob.rot_z(0.0))
        f = scan(Scene([SimObject.from_parts(1, "pole", parts, 0.0)], GroundModel.flat()), sensor, seed=0)
        low = (f.instance == 1) & (f.xyz[:, 2] < 0.0)  # the post below the sensor, not the arm
        assert low.sum() > 0
        widths.append(len(np.unique(f.column[low])))
    assert max(widths) <= 3, widths


def test_dropout_rate() -> None:
    wall = _box_obj(1, "structure", (6.0, 0.0, 0.0), (0.3, 10.0, 8.0), refl=0.8)
    scene = Scene([wall], GroundModel.flat())
    base = dataclasses.replace(IDEAL, dropout=0.0)
    n0 = np.sum(scan(scene, base, seed=0).instance == 1)
    for p in (0.1, 0.3):
        n = np.sum(scan(scene, dataclasses.replace(base, dropout=p), seed=0).instance == 1)
        assert abs(n / n0 - (1 - p)) < 0.02


def test_range_limits_and_sparsity_with_distance() -> None:
    s = dataclasses.replace(IDEAL, max_range=30.0)
    near = _box_obj(1, "car", (10.0, -5.0, -1.0), (4.0, 1.8, 1.5))
    far = _box_obj(2, "car", (25.0, 5.0, -1.0), (4.0, 1.8, 1.5))
    beyond = _box_obj(3, "car", (40.0, 0.0, -1.0), (4.0, 1.8, 1.5))
    f = scan(Scene([near, far, beyond], GroundModel.flat()), s, seed=0)
    counts = np.bincount(f.instance, minlength=4)
    assert counts[1] > 3 * counts[2] > 0 and counts[3] == 0
    assert f.range.max() <= 30.0


def test_class_coverage_and_density() -> None:
    seen: set[int] = set()
    for seed in range(4):
        scene, f = simulate(seed, "hdl64")
        assert all(o.label in CLASSES for o in scene.objects)
        assert len({o.instance_id for o in scene.objects}) == len(scene.objects)
        seen |= set(np.unique(f.label[f.label >= 0]).tolist())
    assert seen == set(range(len(CLASSES)))
    few = generate_scene(2, density=0.3)
    many = generate_scene(2, density=2.0)
    assert len(many.objects) > len(few.objects)


def test_scenes_are_pinned_to_their_seed() -> None:
    # Cached datasets and trained models assume a seed always gives the same scene: a refactor of
    # the scene generator must keep the draw order. Change these numbers only on purpose.
    expected = {
        5: ("open", {"car": 20, "cyclist": 3, "misc": 6, "pedestrian": 6, "pole": 17, "structure": 7, "truck": 1,
                     "vegetation": 10}),
        6: ("street", {"car": 38, "cyclist": 4, "misc": 23, "pedestrian": 11, "pole": 56, "structure": 13, "truck": 0,
                     "vegetation": 67}),
        8: ("street", {"car": 62, "cyclist": 1, "misc": 18, "pedestrian": 10, "pole": 39, "structure": 22, "truck": 1,
                     "vegetation": 73}),
    }  # fmt: skip
    for seed, (kind, counts) in expected.items():
        scene = generate_scene(seed)
        got = {label: sum(o.label == label for o in scene.objects) for label in counts}
        assert (scene.kind, got, len(scene.objects)) == (kind, counts, sum(counts.values())), seed


def test_no_overlapping_objects() -> None:
    scene = generate_scene(7)
    low = [o for o in scene.objects if o.label in ("car", "truck", "pedestrian", "cyclist")]
    c = np.array([o.center[:2] for o in low])
    r = np.array([0.5 * min(o.size[0], o.size[1]) for o in low])  # inscribed circles never intersect
    d = np.hypot(c[:, None, 0] - c[None, :, 0], c[:, None, 1] - c[None, :, 1])
    np.fill_diagonal(d, np.inf)
    assert np.all(d > r[:, None] + r[None, :])


def test_save_load_round_trip(tmp_path, street: tuple[Scene, Frame]) -> None:
    scene, f = street
    save_frame(tmp_path, "000003", scene, f)
    raw = np.fromfile(tmp_path / "000003.bin", dtype=np.float32).reshape(-1, 4)
    assert raw.shape == (len(f), 4) and raw[:, 3].max() <= 1.0
    g, objs = load_frame(tmp_path, "000003")
    assert np.array_equal(g.xyz, f.xyz) and np.array_equal(g.label, f.label)
    assert np.array_equal(g.instance, f.instance) and np.array_equal(g.ring, f.ring)
    assert np.array_equal(g.column, f.column) and np.allclose(g.intensity, f.intensity)
    assert g.sensor == f.sensor and len(objs) == len(scene.objects)
    counts = np.bincount(f.instance, minlength=len(scene.objects) + 1)
    for o in objs:
        assert o["num_points"] == counts[o["instance_id"]]
        assert set(o) == {"instance_id", "label", "center", "size", "yaw", "num_points"}


def test_cli_writes_frames(tmp_path) -> None:
    from t3d_ros.cli import sim as cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--sensor", "vlp16", "--frames", "2", "--seed", "4", "--out", str(tmp_path)])
    assert cli.run(args) == 0
    assert sorted(p.name for p in tmp_path.glob("*.bin")) == ["000004.bin", "000005.bin"]
