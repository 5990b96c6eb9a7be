"""How real the simulator looks (``t3d_ros/offline/eval/realism.py``, ``python -m t3d_ros realism``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import KITTI, KITTI_ODOMETRY, needs_kitti

from t3d_ros.offline.eval.realism import (
    FEATURES,
    FrameClusters,
    cluster_features,
    describe_frame,
    discriminator,
    format_report,
    ground_ring_radii,
    holdout_groups,
    is_clutter,
    realism_report,
)

F = {name: i for i, name in enumerate(FEATURES)}


def _pack(clusters: list[np.ndarray], boxes: list[list[float]]):
    points = np.concatenate(clusters).astype(np.float32)
    offsets = np.cumsum([0, *map(len, clusters)]).astype(np.int64)
    return points, offsets, np.asarray(boxes, np.float32)


def _aabb(p: np.ndarray) -> list[float]:
    """[cx, cy, cz, l, w, h, yaw] of the axis-aligned box of ``p``, length the longer side."""
    lo, hi = p.min(axis=0), p.max(axis=0)
    c, s = (lo + hi) / 2, hi - lo
    yaw = 0.0 if s[0] >= s[1] else np.pi / 2
    return [*c, max(s[0], s[1]), min(s[0], s[1]), s[2], yaw]


def _rotated_pad(rng, center, length, width, yaw, n):
    """Points covering a length x width footprint (0.5 m high) turned by ``yaw``, and its box."""
    u, v = rng.uniform(-length / 2, length / 2, n), rng.uniform(-width / 2, width / 2, n)
    c, s = np.cos(yaw), np.sin(yaw)
    p = np.c_[center[0] + u * c - v * s, center[1] + u * s + v * c, rng.uniform(-1.7, -1.2, n)]
    return p, [center[0], center[1], -1.45, length, width, 0.5, yaw]


@pytest.fixture(scope="module")
def shapes():
    rng = np.random.default_rng(0)
    wall = np.c_[10 + rng.normal(0, 0.01, 3000), rng.uniform(-2, 2, 3000), rng.uniform(-1.7, 2.3, 3000)]
    pole = np.c_[8 + rng.normal(0, 0.03, 500), 2 + rng.normal(0, 0.03, 500), rng.uniform(-1.7, 2.3, 500)]
    volume = rng.uniform((4, -6, -1.5), (6, -4, 0.5), (2000, 3))
    pad, pad_box = _rotated_pad(rng, (12, 5), 2.0, 1.0, 0.6, 5000)
    # two sides of a 4 x 2 m car seen from a corner: an L, most of the footprint empty
    t = rng.uniform(0, 1, 1500)
    side = rng.uniform(0, 1, 1500) < 4 / 6
    lshape = np.c_[np.where(side, -14 + 4 * t, -14 + rng.normal(0, 0.02, 1500)),
                   np.where(side, 3 + rng.normal(0, 0.02, 1500), 3 + 2 * t), rng.uniform(-1.4, -0.2, 1500)]
    clusters = {"wall": wall, "pole": pole, "volume": volume, "pad": pad, "lshape": lshape}
    boxes = [_aabb(p) if name != "pad" else pad_box for name, p in clusters.items()]
    points, offsets, boxes = _pack(list(clusters.values()), boxes)
    return dict(zip(clusters, cluster_features(points, offsets, boxes), strict=True)), clusters, boxes


def test_cluster_features_shape_and_copied_measures(shapes):
    feats, clusters, boxes = shapes
    assert len(FEATURES) == len(set(FEATURES)) == 12
    for (name, f), box in zip(feats.items(), boxes, strict=True):
        p = clusters[name]
        assert f.shape == (len(FEATURES),) and np.isfinite(f).all(), name
        assert f[F["log_points"]] == pytest.approx(np.log10(len(p)))
        assert f[F["range"]] == pytest.approx(np.hypot(*p[:, :2].mean(axis=0)), rel=1e-4)
        np.testing.assert_allclose(f[[F["length"], F["width"], F["height"]]], box[3:6], rtol=1e-5)
        assert f[F["bottom"]] == pytest.approx(p[:, 2].min(), abs=1e-4)
        lin, pla, sca = f[F["linearity"]], f[F["planarity"]], f[F["scattering"]]
        assert lin + pla + sca == pytest.approx(1.0)  # the three eigenvalue shares
        assert f[F["spacing"]] > 0
        assert f[F["z_spread"]] == pytest.approx(np.std(p[:, 2]) / box[5], rel=1e-3)
    empty = cluster_features(np.zeros((0, 4), np.float32), np.zeros(1, np.int64), np.zeros((0, 7), np.float32))
    assert empty.shape == (0, len(FEATURES))


def test_cluster_features_tell_shapes_apart(shapes):
    feats, _, _ = shapes
    wall, pole, volume, pad, lshape = (feats[n] for n in ("wall", "pole", "volume", "pad", "lshape"))
    assert wall[F["planarity"]] > 0.8 and wall[F["scattering"]] < 0.01 and wall[F["linearity"]] < 0.2
    assert pole[F["linearity"]] > 0.95 and pole[F["planarity"]] < 0.05
    assert volume[F["scattering"]] > 0.7 and volume[F["linearity"]] < 0.15
    assert volume[F["scattering"]] > 50 * wall[F["scattering"]]
    assert pad[F["fill"]] > 0.95  # covered footprint, in a box turned by 0.6 rad
    assert lshape[F["fill"]] < 0.35  # two sides of a car: most cells empty
    assert 0.27 < volume[F["z_spread"]] < 0.31  # uniform over the height: 1 / sqrt(12)


def test_is_clutter_flags_long_walls_and_sheets_not_cars():
    rng = np.random.default_rng(1)
    long_wall = np.c_[rng.uniform(5, 20, 6000), 8 + rng.normal(0, 0.05, 6000), rng.uniform(-1.7, 1.3, 6000)]
    car = rng.uniform((6, -3, -1.5), (10.2, -1.2, 0.0), (1500, 3))
    fence = np.c_[rng.uniform(-10, -5, 2000), -6 + rng.normal(0, 0.03, 2000), rng.uniform(-1.6, -0.4, 2000)]
    ped = rng.uniform((3, 4, -1.5), (3.5, 4.5, 0.2), (300, 3))
    big = rng.uniform((-20, 5, -1.5), (-15, 9, 1.5), (3000, 3))  # 5 x 4 m: wider than any road user
    parts = [long_wall, car, fence, ped, big]
    feats = cluster_features(*_pack(parts, [_aabb(p) for p in parts]))
    assert feats.shape == (5, len(FEATURES))
    assert feats[0, F["length"]] > 14.5
    assert is_clutter(feats).tolist() == [True, False, True, False, True]
    assert is_clutter(np.zeros((0, len(FEATURES)))).shape == (0,)


def test_ground_ring_radii_finds_rings_straight_ahead():
    rng = np.random.default_rng(2)
    radii = [4.0, 5.1, 6.4, 8.0]
    rings = []
    for r in radii:
        az = rng.uniform(-np.pi, np.pi, 2000)
        rr = r + rng.normal(0, 0.005, 2000)
        rings.append(np.c_[rr * np.cos(az), rr * np.sin(az), np.full(2000, -1.73)])
    above = np.c_[rng.uniform(3, 10, (500, 2)), rng.uniform(-0.5, 1, 500)]  # not ground
    found = ground_ring_radii(np.concatenate([*rings, above]))
    assert found == pytest.approx(radii, abs=0.02)
    assert ground_ring_radii(np.zeros((0, 3))) == []


# --- the discriminator --------------------------------------------------------------------------------


def _population(seed: int, frames: int, shift: dict[str, float] | None = None, clusters: int = 40):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(frames):
        x = rng.normal(0, 1, (clusters, len(FEATURES)))
        for name, d in (shift or {}).items():
            x[:, F[name]] += d
        out.append(FrameClusters(f"{seed}/{i}", x, [""] * clusters, rng.uniform(0, 1, 100)))
    return out


def test_discriminator_separates_different_populations_where_they_differ():
    sim = _population(10, 6)
    real = _population(11, 6, shift={"height": 4.0})
    d = discriminator(sim, real, repeats=1)
    assert d["auc"] > 0.95, d
    assert d["clusters"] == {"sim": 240, "real": 240} and d["frames"] == {"sim": 6, "real": 6}
    assert set(d["feature_auc"]) == set(FEATURES)
    assert d["feature_auc"]["height"] > 0.95  # the difference lies there ...
    assert max(v for k, v in d["feature_auc"].items() if k != "height") < 0.65  # ... and nowhere else


def test_discriminator_cannot_tell_two_draws_of_one_population():
    d = discriminator(_population(20, 6), _population(21, 6), repeats=1)
    assert 0.35 < d["auc"] < 0.65, d
    assert all(0.5 <= v < 0.65 for v in d["feature_auc"].values()), d["feature_auc"]
    again = discriminator(_population(20, 6), _population(21, 6), repeats=1)
    assert again == d  # seeded: the same numbers every run


def test_texture_along_the_rings_is_a_second_auc_where_only_it_differs():
    # The two sides share the 12 features; only the real clusters skip fewer returns along their rings
    # (docs/realism.md item 20). The 12-feature AUC cannot tell them apart, the texture AUC can.
    from t3d_ros.offline.eval.realism import TEXTURE

    sim, real = _population(30, 6), _population(31, 6)
    rng = np.random.default_rng(32)
    for f in sim:
        f.texture = rng.uniform(0.2, 0.5, len(f.features))
    for f in real:
        f.texture = rng.uniform(0.0, 0.3, len(f.features))
        f.texture[::7] = np.nan  # too few steps: a value of its own, not an error
    rep = realism_report(sim, real, repeats=1)
    d = rep["discriminator"]
    assert 0.35 < d["auc"] < 0.65 and d["auc_texture"] > 0.8, d
    assert d["feature_auc"][TEXTURE] > 0.8 and len(d["auc_texture_per_sim_set"]) == 1
    assert rep["sim"][TEXTURE][1] > rep["real"][TEXTURE][1]
    assert "13th feature" in format_report(rep) and f"| {TEXTURE} (q25" in format_report(rep)
    real[0].texture = None  # one frame without rings: no texture AUC rather than a wrong one
    d = realism_report(sim, real, repeats=1)["discriminator"]
    assert "auc_texture" not in d and TEXTURE not in d["feature_auc"]


def test_ring_skips_counts_the_returns_a_cluster_misses_along_its_rings():
    from t3d_ros.offline.eval.realism import SKIP_MIN_STEPS, ring_skips

    cols = np.arange(1000)
    az = -np.pi + (cols + 0.5) * 2 * np.pi / 1000
    xyz, ring, cid = [], [], []
    for r in range(4):  # four rings once around at 10 m: the frame's column is 1/1000 of a turn
        keep = np.ones(cols.size, bool)
        inside = (az > 0.0) & (az < 0.3)  # cluster 0
        if r == 1:
            keep &= ~inside | (cols % 2 == 0)  # ring 1 misses every other return inside cluster 0 only
        c = np.where(inside, 0, np.where((az > 1.0) & (az < 1.3), 1, -1))  # cluster 1: complete
        c[(r == 0) & (az > 2.0) & (az < 2.0 + 3.5 * 2 * np.pi / 1000)] = 2  # cluster 2: 3 returns, 2 steps
        xyz.append(np.column_stack([10 * np.cos(az), 10 * np.sin(az), np.full(cols.size, 0.1 * r)])[keep])
        ring.append(np.full(keep.sum(), r))
        cid.append(c[keep])
    xyz, ring, cid = np.concatenate(xyz), np.concatenate(ring), np.concatenate(cid)
    dup = np.flatnonzero(cid == 1)[:5]  # double returns (the same beam twice) are no step
    xyz, ring, cid = np.concatenate([xyz, xyz[dup]]), np.concatenate([ring, ring[dup]]), np.concatenate([cid, cid[dup]])
    n = int(((az > 0.0) & (az < 0.3)).sum())
    half = int(((az > 0.0) & (az < 0.3) & (cols % 2 == 0)).sum())
    out = ring_skips(xyz, ring, cid, 3)
    assert out[0] == pytest.approx((half - 1) / (3 * (n - 1) + half - 1))
    assert out[1] == 0.0
    assert np.isnan(out[2]) and SKIP_MIN_STEPS > 2
    assert np.isnan(ring_skips(xyz[:0], ring[:0], cid[:0], 2)).all()


def _drives(seed: int, drives: int, frames: int, clusters: int = 40):
    """Real-like recordings: each drive passes one street, its frames the street's clusters a little moved."""
    rng = np.random.default_rng(seed)
    out = []
    for d in range(drives):
        street = rng.normal(0, 1, (clusters, len(FEATURES)))  # the same population as ``_population``
        for i in range(frames):
            x = street + rng.normal(0, 0.01, street.shape)
            out.append(FrameClusters(f"drive{d}/{i}", x, [""] * clusters, rng.uniform(0, 1, 100),
                                     recording=f"drive{d}"))
    return out


def test_discriminator_holds_consecutive_frames_out_together():
    # Real and simulated clusters come from one population, but the real frames are consecutive: held
    # out one by one, each meets its neighbours in training and is recognised (the leak); held out by
    # recording, the two sides cannot be told apart.
    d = discriminator(_population(40, 9), _drives(41, 3, 3), repeats=1)
    assert d["held_out"] == "recordings"
    assert d["auc_frames"] > 0.75, d
    assert 0.35 < d["auc"] < 0.65, d
    # independent frames are unaffected: both ways the same population gives ~0.5
    d = discriminator(_population(20, 6), _population(21, 6), repeats=1)
    assert 0.35 < d["auc_frames"] < 0.65 and 0.35 < d["auc"] < 0.65, d


def test_holdout_groups_by_recording_or_in_blocks_of_one():
    frames = _drives(50, 2, 3)
    assert holdout_groups(frames) == (["drive0"] * 3 + ["drive1"] * 3, "recordings")
    independent = _population(51, 4)  # no recording: each frame its own
    assert holdout_groups(independent)[0] == [f.name for f in independent]
    one = _drives(52, 1, 7)  # a single recording: contiguous blocks, one per fold
    groups, how = holdout_groups(one, folds=3)
    assert how == "blocks of one recording"
    assert groups == ["drive0#0"] * 3 + ["drive0#1"] * 2 + ["drive0#2"] * 2
    d = discriminator(_population(53, 7), one, repeats=1)
    assert d["held_out"] == "blocks of one recording" and 0 <= d["auc"] <= 1


def test_one_real_frame_is_not_measured_rather_than_an_error():
    rep = realism_report(_population(60, 3), _population(61, 1), repeats=1)
    assert np.isnan(rep["discriminator"]["auc"])
    assert "not measured" in format_report(rep)  # and the statistics are still there
    assert rep["real"]["frames"] == 1 and rep["real"]["clusters_per_frame"] == [40]


def test_realism_report_uses_equal_amounts_of_sim_and_real():
    sim, real = _population(30, 9), _population(31, 3)
    rep = realism_report(sim, real, repeats=1)
    d = rep["discriminator"]
    assert len(d["auc_per_sim_set"]) == 3  # three disjoint sets of 3 sim frames against the 3 real ones
    assert d["frames"] == {"sim": 3, "real": 3}
    assert d["auc"] == pytest.approx(np.mean(d["auc_per_sim_set"]), abs=1e-3)
    assert d["auc_frames"] == pytest.approx(np.mean(d["auc_frames_per_sim_set"]), abs=1e-3)
    assert rep["sim"]["frames"] == 9 and rep["real"]["frames"] == 3
    text = format_report(rep)
    assert "ROC AUC" in text and all(name in text for name in FEATURES)
    assert "real recordings held out" in text and "every frame held out on its own" in text


# --- the command ----------------------------------------------------------------------------------------


def _write_sim_bins(folder, sensor: str, seeds) -> None:
    from t3d_ros.offline.sim import simulate

    folder.mkdir(parents=True)
    for s in seeds:
        _, f = simulate(s, sensor)
        # as KITTI stores them: float32 x, y, z, reflectance in [0, 1]
        np.c_[f.xyz, f.intensity / 255.0].astype("<f4").tofile(folder / f"{s:06d}.bin")


def test_realism_cli_on_simulated_frames_as_real(tmp_path, capsys):
    from t3d_ros.cli import main

    _write_sim_bins(tmp_path / "real" / "velodyne", "hdl64", (101, 102))
    out = tmp_path / "report"
    rc = main(["realism", "--real", str(tmp_path / "real"), "--sim", "vlp16", "--frames", "2", "--seed", "5",
               "--repeats", "1", "--json", str(out / "r.json"), "--md", str(out / "r.md"), "--png", str(out / "r.png")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    rep = json.loads((out / "r.json").read_text())
    assert set(rep) == {"clutter_rule", "sim", "real", "discriminator", "inputs"}
    for side in ("sim", "real"):
        s = rep[side]
        assert {"frames", "clusters_per_frame", "clusters_per_frame_median", "clutter_share", "features",
                "points_per_object", "intensity_percentiles_5_25_50_75_95", "ground_ring_radii_m"} <= set(s)
        assert s["frames"] == 2 and len(s["clusters_per_frame"]) == 2 and min(s["clusters_per_frame"]) > 5
        assert set(s["features"]) == set(FEATURES) and all(len(q) == 3 for q in s["features"].values())
        assert 0 <= s["clutter_share"] <= 1
        p = s["intensity_percentiles_5_25_50_75_95"]
        assert len(p) == 5 and 0 <= p[0] <= p[-1] <= 1 and p[-1] > 0  # both sides on one 0..1 scale
    assert rep["sim"]["points_per_object"] and "car" in rep["sim"]["points_per_object"]  # sim has labels
    assert rep["real"]["points_per_object"] == {}  # bare .bin files have none
    d = rep["discriminator"]
    assert {"auc", "auc_std", "clusters", "frames", "feature_auc", "auc_per_sim_set", "auc_frames"} <= set(d)
    assert d["held_out"] == "blocks of one recording"  # one folder: one drive, held out in blocks
    assert 0 <= d["auc"] <= 1 and d["frames"] == {"sim": 2, "real": 2}
    # .bin scans and simulated frames both give the lasers: the texture along the rings is measured too
    assert set(d["feature_auc"]) == {*FEATURES, "ring_skips"} and 0 <= d["auc_texture"] <= 1
    assert d["clusters"] == {"sim": sum(rep["sim"]["clusters_per_frame"]),
                             "real": sum(rep["real"]["clusters_per_frame"])}
    assert rep["inputs"]["sim"] == "vlp16" and rep["inputs"]["sim_frames"] == 2
    md = (out / "r.md").read_text()
    assert "ROC AUC" in md and "| clutter share |" in md and md.strip() in captured.out
    png = (out / "r.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 30_000


def test_every_ring_keeps_the_same_lasers_of_real_and_simulated_scans(tmp_path):
    # A simulated scan stored as KITTI stores its scans (ring by ring from the top, each from straight
    # ahead once around), read as a real frame with one laser in two, keeps the returns that the
    # simulated side keeps: both sides count the lasers from the top.
    from t3d_ros.cli.realism import real_frames, sim_frames
    from t3d_ros.offline.sim import simulate

    _, f = simulate(3, "hdl64")
    from_top = np.argsort(np.argsort(f.sensor.vertical_angles_deg)[::-1])[f.ring]
    order = np.lexsort((np.degrees(np.arctan2(f.xyz[:, 1], f.xyz[:, 0])) % 360.0, from_top))
    (tmp_path / "drive").mkdir()
    np.c_[f.xyz, f.intensity / 255.0][order].astype("<f4").tofile(tmp_path / "drive" / "000000.bin")
    (_, real, *_), = real_frames([tmp_path / "drive"], every=2)
    (_, sim, *_), = sim_frames("hdl64", 1, 3, every=2)
    assert len(sim) == np.sum(from_top % 2 == 0) and 0.3 * len(f.xyz) < len(sim) < 0.7 * len(f.xyz)
    both = {tuple(r) for r in real[:, :3].tolist()} & {tuple(r) for r in sim[:, :3].tolist()}
    assert len(both) > 0.999 * max(len(real), len(sim))  # a return or two at a ring's start may go either way
    np.save(tmp_path / "000001.npy", real)  # no storage order to find the lasers by: refused, not guessed
    with pytest.raises(ValueError, match="KITTI .bin"):
        next(real_frames([tmp_path / "000001.npy"], every=2))


def test_realism_cli_without_real_frames_fails_clearly(tmp_path, capsys):
    from t3d_ros.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["realism", "--real", str(tmp_path / "empty"), "--frames", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "empty" in err and "Traceback" not in err


@needs_kitti
def test_kitti_frames_carry_per_point_classes_into_cluster_labels():
    from t3d_ros.cli.realism import real_frames
    from t3d_ros.segment.pipeline import Pipeline

    name, pts, labels, recording, ring = next(iter(real_frames([KITTI])))
    assert pts.shape[1] == 4 and len(labels) == len(pts)
    assert recording == ""  # KITTI's object frames are independent: each is held out on its own
    drive = [rec for _, _, _, rec, _ in real_frames([KITTI_ODOMETRY])]  # a folder of consecutive frames: one drive
    assert len(drive) == 6 and set(drive) == {str(KITTI_ODOMETRY)}
    fc = describe_frame(name, pts, Pipeline(), labels, ring=ring)
    assert len(fc.labels) == len(fc.features) > 10
    assert ring is not None and ring.min() == 0 and ring.max() == 63  # KITTI's storage order gives the lasers
    ok = np.isfinite(fc.texture)  # most real clusters skip few returns along their rings
    assert ok.mean() > 0.8 and np.median(fc.texture[ok]) < 0.15
    assert {lab for lab in fc.labels if lab} and set(fc.labels) <= {"", "car", "truck", "pedestrian", "cyclist",
                                                                     "misc", "pole", "vegetation", "structure"}
    assert fc.rings and 0 <= fc.intensity.min() and fc.intensity.max() <= 1


def test_ring_gaps_counts_the_returns_a_ring_misses():
    """scripts/ring_gaps.py: rings found from a KITTI-ordered scan, and a missing return is a 2-column step."""
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("ring_gaps", REPO / "scripts" / "ring_gaps.py")
    ring_gaps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ring_gaps)
    cols = np.arange(2083)
    rings, keep = [], []
    for r in range(3):  # KITTI's order: ring after ring, azimuth increasing from -pi
        az = -np.pi + (cols + 0.5) * ring_gaps.COLUMN
        rings.append(np.column_stack([15 * np.cos(az), 15 * np.sin(az), np.full(cols.size, -0.5 + 0.1 * r)]))
        keep.append(cols % 10 != 5 if r == 1 else np.ones(cols.size, bool))  # ring 1 misses every 10th return
    xyz = np.concatenate([p[k] for p, k in zip(rings, keep, strict=True)]).astype(np.float32)
    found = ring_gaps.ring_indices(xyz)
    assert [len(r) for r in found] == [2083, 2083 - 208, 2083]
    n, shares = ring_gaps.shares(ring_gaps.steps(xyz, found)[(10, 20)])
    assert n == 3 * 2082 - 208
    assert shares[ring_gaps.NAMES.index("2")] == pytest.approx(208 / n, abs=1e-3)
    assert shares[ring_gaps.NAMES.index("next")] == pytest.approx(1 - 208 / n, abs=1e-3)
    assert ring_gaps.shares(ring_gaps.steps(xyz, found)[(40, 80)])[0] == 0  # nothing at that range
    # --cars: the same steps inside one cluster, a 4 m panel at 12 m whose middle ring misses every 10th return
    from t3d_ros.perception import Perception

    panel = np.abs(az := -np.pi + (cols + 0.5) * ring_gaps.COLUMN) < 4.0 / 12.0 / 2
    parts, ring_of = [], []
    for r in range(4):
        k = panel & ((cols % 10 != 5) if r == 1 else True)
        parts.append(np.column_stack([12 * np.cos(az[k]), 12 * np.sin(az[k]), np.full(k.sum(), 0.3 - 0.2 * r),
                                      np.full(k.sum(), 0.5)]))
        ring_of.append(np.full(k.sum(), r))
    for r, rho in enumerate((7.0, 8.0, 9.0), start=4):  # the ground, 1.73 m below, for the ground filter
        parts.append(np.column_stack([rho * np.cos(az), rho * np.sin(az), np.full(cols.size, -1.73),
                                      np.full(cols.size, 0.2)]))
        ring_of.append(np.full(cols.size, r))
    pts, ring = np.concatenate(parts).astype(np.float32), np.concatenate(ring_of)
    out = ring_gaps.cluster_steps(pts, ring, np.arctan2(pts[:, 1], pts[:, 0]), Perception.from_params({}, model=""))
    assert list(out) == [("other", (10, 20))]  # clustering only: no label, so no car
    n, shares = ring_gaps.shares(out[("other", (10, 20))])
    per_ring = int(panel.sum())
    misses = int((panel & (cols % 10 == 5)).sum())
    assert n == 4 * (per_ring - 1) - misses
    assert shares[ring_gaps.NAMES.index("2")] == pytest.approx(misses / n, abs=1e-3)
