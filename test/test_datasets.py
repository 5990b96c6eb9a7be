"""Training datasets: sim clusters, ModelNet40 layouts, KITTI objects, user folders, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import KITTI, needs_kitti

from t3d_ros.classes import CLASSES
from t3d_ros.offline.data import (
    ClusterSet,
    load_folder,
    load_kitti_frame_clusters,
    load_kitti_objects,
    load_modelnet40,
    load_or_make_sim_clusters,
    make_sim_clusters,
    sim_cache_key,
)
from t3d_ros.offline.train.augment import Augment, occlude, random_dropout, ring_dropout, ring_rows, rotate_about_sensor

SEEDS, SENSORS = (3, 4), ("vlp16", "hdl64")


@pytest.fixture(scope="module")
def sim() -> ClusterSet:
    return make_sim_clusters(SEEDS, SENSORS, min_purity=0.7)


def _check_valid(cs: ClusterSet) -> None:
    assert cs.points.dtype == np.float32 and cs.points.shape[1] == 4
    assert cs.offsets.dtype == np.int64 and cs.offsets[0] == 0 and cs.offsets[-1] == len(cs.points)
    assert np.all(np.diff(cs.offsets) > 0), "empty cluster"
    assert cs.labels.dtype == np.int64 and len(cs.labels) == len(cs)
    assert np.all((cs.labels >= 0) & (cs.labels < len(cs.class_names)))
    for key in ("source", "range_m", "purity", "sensor", "frame"):
        assert len(cs.meta[key]) == len(cs), key
    assert np.all((cs.points[:, 3] >= 0) & (cs.points[:, 3] <= 1))


def test_sim_clusters_valid(sim: ClusterSet) -> None:
    _check_valid(sim)
    assert sim.class_names == CLASSES
    assert len(sim) > 50
    assert sim.sizes.min() >= 10
    inliers = ~sim.outlier
    assert sim.meta["purity"][inliers].min() >= 0.7  # below: a merge, kept as an outlier
    assert 0 < sim.outlier.sum() < 0.5 * len(sim)
    assert set(sim.meta["sensor"].tolist()) == set(SENSORS)
    assert set(sim.meta["frame"].tolist()) == set(SEEDS)
    assert len(set(sim.labels.tolist())) >= 4  # a street scene has cars, poles, structures, ...
    s = sim.info["summary"]
    assert s["frames"] == 4 and s["kept"] == inliers.sum()
    assert s["outliers_ground"] + s["outliers_impure"] == sim.outlier.sum()
    assert s["clusters"] == len(sim) + s["dropped_small"]
    # Clusters are in the sensor frame, not centred: range_m is the centroid's xy distance.
    i = int(np.argmax(sim.meta["range_m"]))
    c = sim.cluster(i)
    assert sim.meta["range_m"][i] > 5
    assert np.isclose(np.hypot(*c[:, :2].mean(axis=0)), sim.meta["range_m"][i], atol=1e-3)


def test_sim_labels_match_ground_truth(sim: ClusterSet) -> None:
    # Cross-check the majority vote against the simulator on one frame, independently of the packing.
    from t3d_ros.offline.data.sim import mount_height
    from t3d_ros.offline.sim import simulate
    from t3d_ros.segment.pipeline import Pipeline

    _, frame = simulate(SEEDS[0], SENSORS[1], mount_height=mount_height(SEEDS[0], SENSORS[1]))
    pts = np.column_stack([frame.xyz, frame.intensity]).astype(np.float32)
    seg = Pipeline()(pts)
    mine = sim.subset((sim.meta["frame"] == SEEDS[0]) & (sim.meta["sensor"] == SENSORS[1]) & ~sim.outlier)
    checked = 0
    for k in range(seg.num_clusters):
        lab = frame.label[seg.input_cluster_id == k]
        vals, counts = np.unique(lab, return_counts=True)
        if vals[np.argmax(counts)] < 0 or counts.max() / len(lab) < 0.7:
            continue
        # Find the same cluster by its first point.
        first = seg.cluster(k)[0, :3]
        j = [i for i in range(len(mine)) if np.array_equal(mine.cluster(i)[0, :3], first)]
        assert len(j) == 1
        assert mine.labels[j[0]] == vals[np.argmax(counts)]
        assert np.isclose(mine.meta["purity"][j[0]], counts.max() / len(lab))
        assert len(mine.cluster(j[0])) == len(seg.cluster(k))
        checked += 1
    assert checked == len(mine)


def test_sim_deterministic_and_workers(sim: ClusterSet) -> None:
    again = make_sim_clusters(SEEDS, SENSORS, min_purity=0.7, workers=2)
    assert np.array_equal(again.points, sim.points)
    assert np.array_equal(again.offsets, sim.offsets)
    assert np.array_equal(again.labels, sim.labels)
    for k in sim.meta:
        assert np.array_equal(again.meta[k], sim.meta[k])


def test_min_purity_filters() -> None:
    strict = make_sim_clusters(SEEDS[:1], SENSORS[:1], min_purity=0.99)
    assert strict.meta["purity"][~strict.outlier].min() >= 0.99
    loose = make_sim_clusters(SEEDS[:1], SENSORS[:1], min_purity=0.0)
    assert len(loose) == len(strict) and loose.outlier.sum() <= strict.outlier.sum()
    assert loose.info["summary"]["outliers_impure"] == 0


def test_save_load_round_trip(sim: ClusterSet, tmp_path) -> None:
    path = sim.save(tmp_path / "sim.npz")
    back = ClusterSet.load(path)
    assert np.array_equal(back.points, sim.points) and back.points.dtype == np.float32
    assert np.array_equal(back.offsets, sim.offsets) and np.array_equal(back.labels, sim.labels)
    assert back.class_names == sim.class_names
    assert back.info == sim.info
    for k, v in sim.meta.items():
        assert back.meta[k].dtype == v.dtype and np.array_equal(back.meta[k], v), k
    with np.load(path, allow_pickle=False) as z:  # no object arrays anywhere
        assert all(z[k].dtype != object for k in z.files)


def test_cache(sim: ClusterSet, tmp_path) -> None:
    key = sim_cache_key(SEEDS, SENSORS, min_purity=0.7)
    (tmp_path / f"sim_{key}.npz").parent.mkdir(exist_ok=True)
    sim.save(tmp_path / f"sim_{key}.npz")  # pre-seed: the call must load it, not recompute
    got = load_or_make_sim_clusters(tmp_path, SEEDS, SENSORS, min_purity=0.7)
    assert np.array_equal(got.points, sim.points)
    assert sim_cache_key(SEEDS, SENSORS, min_purity=0.8) != key
    assert sim_cache_key(SEEDS[::-1], SENSORS, min_purity=0.7) != key


def test_split_by_frame(sim: ClusterSet) -> None:
    parts = sim.split((0.5, 0.5), seed=1)
    assert sum(len(p) for p in parts) == len(sim)
    frames = [set(p.meta["frame"].tolist()) for p in parts]
    assert frames[0] and frames[1] and not frames[0] & frames[1]
    # Every sensor's view of one scene stays in one part.
    for p, f in zip(parts, frames, strict=True):
        assert len(p) == int(np.isin(sim.meta["frame"], list(f)).sum())
    again = sim.split((0.5, 0.5), seed=1)
    assert np.array_equal(again[0].labels, parts[0].labels)


def test_subset_and_counts(sim: ClusterSet) -> None:
    idx = np.array([5, 0, 2])
    sub = sim.subset(idx)
    for j, i in enumerate(idx):
        assert np.array_equal(sub.cluster(j), sim.cluster(i))
    assert sum(sim.class_counts().values()) == len(sim)
    assert list(sim.class_counts()) == list(CLASSES)
    with pytest.raises(ValueError):
        ClusterSet(sim.points, sim.offsets[:-1], sim.labels, sim.class_names)


# ---------------------------------------------------------------------------------------------
# ModelNet40, both layouts on tiny fixtures
# ---------------------------------------------------------------------------------------------

MN_CLASSES = ("airplane", "bathtub", "night_stand")  # one name with an underscore


def _objects(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    return {c: [rng.normal(size=(40, 3)) * (i + 1) + 5 for _ in range(2)] for i, c in enumerate(MN_CLASSES)}


def test_modelnet_txt_layout(tmp_path) -> None:
    objs = _objects(np.random.default_rng(0))
    root = tmp_path / "modelnet40_normal_resampled"
    root.mkdir()
    (root / "modelnet40_shape_names.txt").write_text("\n".join(MN_CLASSES) + "\n")
    ids = {"train": [], "test": []}
    for c, arrs in objs.items():
        (root / c).mkdir()
        for j, xyz in enumerate(arrs):
            sid = f"{c}_{j + 1:04d}"
            normals = np.tile([0.0, 0.0, 1.0], (len(xyz), 1))
            np.savetxt(root / c / f"{sid}.txt", np.hstack([xyz, normals]), delimiter=",", fmt="%.6f")
            ids["train" if j == 0 else "test"].append(sid)
    for split, names in ids.items():
        (root / f"modelnet40_{split}.txt").write_text("\n".join(names) + "\n")
    cs = load_modelnet40(tmp_path, "train", n_points=32)  # parent folder: layout found inside it
    _check_valid(cs)
    assert cs.class_names == MN_CLASSES and cs.labels.tolist() == [0, 1, 2]
    assert cs.sizes.tolist() == [32, 32, 32]
    expect = objs["night_stand"][0][:32]
    expect = expect - expect.mean(axis=0)
    expect /= np.linalg.norm(expect, axis=1).max()
    assert np.allclose(cs.cluster(2)[:, :3], expect, atol=1e-5)
    assert np.allclose(np.linalg.norm(cs.points[:, :3], axis=1).max(), 1.0, atol=1e-5)
    assert np.all(cs.points[:, 3] == 0) and np.all(cs.meta["range_m"] == 0)
    test = load_modelnet40(root, "test", n_points=None)
    assert test.labels.tolist() == [0, 1, 2] and test.sizes.tolist() == [40, 40, 40]


def test_modelnet_h5_layout(tmp_path) -> None:
    h5py = pytest.importorskip("h5py")
    objs = _objects(np.random.default_rng(1))
    root = tmp_path / "modelnet40_ply_hdf5_2048"
    root.mkdir()
    (root / "shape_names.txt").write_text("\n".join(MN_CLASSES) + "\n")
    for split, j in (("train", 0), ("test", 1)):
        data = np.stack([objs[c][j] for c in MN_CLASSES]).astype(np.float32)  # (3, 40, 3)
        with h5py.File(root / f"ply_data_{split}0.h5", "w") as f:
            f["data"] = data
            f["label"] = np.array([[2], [0], [1]], np.uint8)  # labels need not follow the names
    cs = load_modelnet40(root, "train", n_points=16)
    _check_valid(cs)
    assert cs.class_names == MN_CLASSES and cs.labels.tolist() == [2, 0, 1]
    assert cs.sizes.tolist() == [16, 16, 16]
    expect = objs["airplane"][0][:16]
    expect = expect - expect.mean(axis=0)
    expect /= np.linalg.norm(expect, axis=1).max()
    assert np.allclose(cs.cluster(0)[:, :3], expect, atol=1e-5)
    assert len(load_modelnet40(tmp_path, "test")) == 3


def test_modelnet_missing_names_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="modelnet40_train.txt.*ply_data_train"):
        load_modelnet40(tmp_path, "train")


# ---------------------------------------------------------------------------------------------
# KITTI (the shared development frames; skipped where absent)
# ---------------------------------------------------------------------------------------------



@needs_kitti
def test_kitti_objects() -> None:
    cs = load_kitti_objects(KITTI)
    _check_valid(cs)
    names = [cs.class_names[i] for i in cs.labels]
    assert names.count("car") >= 1 and "pedestrian" in names and "cyclist" in names
    assert "truck" in names  # KITTI 'Truck' -> truck
    assert "DontCare" not in names
    car = [len(cs.cluster(i)) for i, n in enumerate(names) if n == "car"]
    assert max(car) >= 50
    # Ground removed: the grown box around the pedestrian (8.7 m) holds a ring of ground returns;
    # none of them, and nothing below the labelled box bottom, is kept.
    from t3d_ros.geometry import points_in_boxes
    from t3d_ros.io.kitti import load_frame

    pts, lab = load_frame(KITTI, "000000")
    raw = pts[points_in_boxes(pts[:, :3], lab.boxes, 0.2)[:, 0]]
    ped = cs.cluster(names.index("pedestrian"))
    bottom = lab.boxes[0, 2] - lab.boxes[0, 5] / 2
    assert ped[:, 2].min() >= bottom and ped[:, 2].max() > bottom + 1.5
    assert len(ped) <= len(raw) - 50
    assert set(cs.meta["frame"].tolist()) <= {0, 1, 2}
    only_ped = load_kitti_objects(KITTI, frames=[0], classes={"Pedestrian": "pedestrian"})
    assert [only_ped.class_names[i] for i in only_ped.labels] == ["pedestrian"]


@needs_kitti
def test_kitti_frame_clusters() -> None:
    cs = load_kitti_frame_clusters(KITTI)
    _check_valid(cs)
    names = [cs.class_names[i] for i in cs.labels]
    assert "pedestrian" in names
    assert cs.meta["purity"].min() >= 0.3
    s = cs.info["summary"]
    assert s["unlabelled"] > 0 and s["kept"] == len(cs)


# ---------------------------------------------------------------------------------------------
# User folder
# ---------------------------------------------------------------------------------------------


def test_folder_all_formats(tmp_path) -> None:
    pypcd4 = pytest.importorskip("pypcd4")
    rng = np.random.default_rng(2)
    arrs = [np.column_stack([rng.normal(size=(n, 3)) + 10, rng.uniform(0, 1, n)]).astype(np.float32)
            for n in (11, 12, 13, 14)]
    (tmp_path / "car").mkdir()
    (tmp_path / "pole").mkdir()
    np.save(tmp_path / "car" / "a.npy", arrs[0])
    arrs[1].tofile(tmp_path / "car" / "b.bin")
    pypcd4.PointCloud.from_xyzi_points(arrs[2]).save(tmp_path / "pole" / "c.pcd")
    np.savetxt(tmp_path / "pole" / "d.csv", arrs[3][:, :3], delimiter=",", header="x,y,z", comments="", fmt="%.6f")
    (tmp_path / "pole" / "README.txt").write_text("ignored")
    cs = load_folder(tmp_path)
    _check_valid(cs)
    assert cs.class_names == ("car", "pole") and cs.labels.tolist() == [0, 0, 1, 1]
    assert cs.sizes.tolist() == [11, 12, 13, 14]
    for i in range(3):
        assert np.allclose(cs.cluster(i), arrs[i], atol=1e-6)
    assert np.allclose(cs.cluster(3)[:, :3], arrs[3][:, :3], atol=1e-5) and np.all(cs.cluster(3)[:, 3] == 0)
    mapped = load_folder(tmp_path, CLASSES)
    assert mapped.class_names == CLASSES
    assert [CLASSES[i] for i in mapped.labels] == ["car", "car", "pole", "pole"]
    with pytest.raises(ValueError, match="unknown class.*pole"):
        load_folder(tmp_path, ("car", "truck"))


def test_folder_of_object_centred_clusters_is_named(tmp_path, caplog) -> None:
    rng = np.random.default_rng(3)
    (tmp_path / "car").mkdir()
    np.save(tmp_path / "car" / "sensor_frame.npy", (rng.normal(size=(20, 4)) + (10, 2, 0, 0)).astype(np.float32))
    with caplog.at_level("WARNING"):
        load_folder(tmp_path)
    assert "object-centred" not in caplog.text
    np.save(tmp_path / "car" / "centred.npy", rng.normal(0, 0.3, (20, 4)).astype(np.float32))
    with caplog.at_level("WARNING"):
        assert len(load_folder(tmp_path)) == 2  # loaded all the same
    assert "1 of 2 clusters lie within 1 m of the sensor: object-centred" in caplog.text


# ---------------------------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------------------------


def test_augment_shapes_dtypes_determinism(sim: ClusterSet) -> None:
    aug = Augment()
    for i in range(min(len(sim), 40)):
        c = sim.cluster(i)
        a = aug(c, np.random.default_rng(i))
        b = aug(c, np.random.default_rng(i))
        assert a.dtype == np.float32 and a.ndim == 2 and a.shape[1] == 4
        assert min(len(c), aug.min_points) <= len(a) <= len(c)
        assert np.array_equal(a, b)
        assert np.all((a[:, 3] >= 0) & (a[:, 3] <= 1)) and np.all(np.isfinite(a))
    c = sim.cluster(0)
    assert not np.array_equal(aug(c, np.random.default_rng(0)), aug(c, np.random.default_rng(1)))
    identity = Augment(strength=0.0, sensor_yaw_deg=0.0)
    assert np.array_equal(identity(c, np.random.default_rng(0)), c)


def test_augment_geometry(sim: ClusterSet) -> None:
    rng = np.random.default_rng(0)
    big = sim.cluster(int(np.argmax(sim.sizes)))
    # Rotation about the sensor keeps ranges; rotation about the centre keeps the centroid.
    rot = rotate_about_sensor(big, 1.0)
    assert np.allclose(np.hypot(rot[:, 0], rot[:, 1]), np.hypot(big[:, 0], big[:, 1]), atol=1e-4)
    # Weak augmentation moves points less than strong augmentation (no sensor yaw to compare shapes).
    def spread(s: float) -> float:
        a = Augment(strength=s, sensor_yaw_deg=0.0, dropout_prob=0, ring_dropout_prob=0, occlusion_prob=0)
        return float(np.mean([np.abs(a(big, np.random.default_rng(k))[:, :3] - big[:, :3]).mean() for k in range(5)]))
    assert 0 < spread(0.2) < spread(1.0)
    # Ring dropout on a compact VLP-16 cluster (2 deg between rings; on the HDL-64E the lasers' heights
    # in the head and the tilt of its spin axis blur 0.33 deg apart rows, as on the real sensor): rows
    # follow the lasers, every 2nd row keeps about half the points.
    compact = [i for i in range(len(sim)) if np.ptp(sim.cluster(i)[:, :2], axis=0).max() < 5.0
               and sim.meta["sensor"][i] == "vlp16"]
    big = sim.cluster(max(compact, key=lambda i: sim.sizes[i]))
    rows = ring_rows(big)
    assert rows.max() >= 3
    kept = ring_dropout(big, 2, rng)
    assert 0.25 * len(big) < len(kept) < 0.75 * len(big)
    assert len(random_dropout(big, 0.99, rng, min_points=20)) >= 20
    occ = occlude(big, 0.3, rng, min_points=8)
    assert abs(len(occ) - 0.7 * len(big)) <= 2


def test_augment_mirror(sim: ClusterSet) -> None:
    """``mirror_prob``: y -> -y in the sensor frame (x, z, intensity and the range kept), about as often
    as asked; off by default, so that the shipped recipe's augmentations are unchanged."""
    c = sim.cluster(0)
    only = Augment(strength=0.0, sensor_yaw_deg=0.0, mirror_prob=1.0)
    m = only(c, np.random.default_rng(0))
    assert np.array_equal(m[:, 1], -c[:, 1]) and np.array_equal(m[:, [0, 2, 3]], c[:, [0, 2, 3]])
    half = Augment(strength=0.0, sensor_yaw_deg=0.0, mirror_prob=0.5)
    flipped = [not np.array_equal(half(c, np.random.default_rng(k)), c) for k in range(400)]
    assert 0.4 < np.mean(flipped) < 0.6
    assert Augment().mirror_prob == 0.0
    # the same seed gives the same draws as without the mirror when it is off
    assert np.array_equal(Augment(mirror_prob=0.0)(c, np.random.default_rng(3)), Augment()(c, np.random.default_rng(3)))


def test_row_loss_loses_whole_scan_rows(sim: ClusterSet) -> None:
    """``row_loss``: every scan row is kept or lost whole (the texture of glossy paint or a weak laser,
    docs/realism.md item 21), about the asked share of rows; off by default, and then the draws are the
    shipped recipe's."""
    from t3d_ros.offline.train.augment import row_loss

    compact = [i for i in range(len(sim)) if np.ptp(sim.cluster(i)[:, :2], axis=0).max() < 5.0
               and sim.meta["sensor"][i] == "vlp16"]
    c = sim.cluster(max(compact, key=lambda i: sim.sizes[i]))
    rows = ring_rows(c)
    assert rows.max() >= 3
    tagged = c.copy()
    tagged[:, 3] = np.arange(len(c))  # the point's index rides in the intensity column
    shares = []
    for k in range(200):
        kept = row_loss(tagged, 0.4, np.random.default_rng(k)).astype(np.int64)[:, 3]
        lost = np.setdiff1d(np.unique(rows), np.unique(rows[kept]))
        assert np.array_equal(np.sort(kept), np.flatnonzero(~np.isin(rows, lost)))  # whole rows, nothing else
        shares.append(len(lost) / len(np.unique(rows)))
    assert 0.3 < np.mean(shares) < 0.5
    assert len(row_loss(c, 1.0, np.random.default_rng(0), min_points=8)) == len(c)  # never below min_points
    assert Augment().row_loss_prob == 0.0
    off = Augment(row_loss_prob=0.0)(c, np.random.default_rng(3))
    assert np.array_equal(off, Augment()(c, np.random.default_rng(3)))
    only = Augment(dropout_prob=0, ring_dropout_prob=0, occlusion_prob=0, row_loss_prob=1.0)
    assert np.mean([len(only(c, np.random.default_rng(k))) for k in range(50)]) < 0.95 * len(c)


def _lattice(rng: np.random.Generator, keep: float = 1.0) -> np.ndarray:
    """A 3 m x 1.5 m wall 10 m ahead of the sensor, scanned on a 0.4 deg x 0.2 deg lattice (a share
    ``keep`` of the beams return)."""
    el, az = np.meshgrid(np.radians(np.arange(-6.0, 2.0, 0.4)), np.radians(np.arange(-8.0, 8.0, 0.2)), indexing="ij")
    el, az = el.ravel(), az.ravel()
    y = 10.0 * np.tan(az)
    pts = np.stack([np.full_like(y, 10.0), y, np.hypot(10.0, y) * np.tan(el), np.full_like(y, 0.3)], 1)
    pts = pts[(np.abs(pts[:, 1]) < 1.5) & (pts[:, 2] > -1.0) & (pts[:, 2] < 0.5)]
    return pts[rng.random(len(pts)) < keep].astype(np.float32)


def test_push_away_thins_as_a_farther_view() -> None:
    """``push_away``: twice as far, along the same bearing, a quarter of the returns on rows one sensor
    row apart; a surface that returned half the beams still returns about half; off by default (no
    draw), and on in ``Augment`` only up to ``far_max_range`` and ``far_min_points``."""
    from t3d_ros.offline.train.augment import push_away, resolution_deg

    rng = np.random.default_rng(0)
    wall = _lattice(rng)
    far = push_away(wall, 2.0, rng, 0.4, 0.2)
    assert 0.2 < len(far) / len(wall) < 0.3
    assert np.hypot(*far[:, :2].mean(0)) == pytest.approx(2 * np.hypot(*wall[:, :2].mean(0)), rel=0.05)
    assert abs(np.arctan2(*far[:, 1::-1].mean(0)) - np.arctan2(*wall[:, 1::-1].mean(0))) < 0.02  # same bearing
    assert far[:, 2].min() >= wall[:, 2].min() and far[:, 2].max() <= wall[:, 2].max()  # heights kept
    el = np.degrees(np.arctan2(far[:, 2], np.hypot(far[:, 0], far[:, 1])))
    gaps = np.diff(np.unique(np.round(el, 2)))
    assert np.median(gaps[gaps > 0.1]) == pytest.approx(0.4, abs=0.08)  # rows one sensor row apart there
    half = _lattice(np.random.default_rng(1), keep=0.5)
    shares = [len(push_away(half, 2.0, np.random.default_rng(k), 0.4, 0.2)) / len(far) for k in range(20)]
    assert 0.4 < np.mean(shares) < 0.6  # holes stay holes
    assert np.array_equal(push_away(wall, 1.0, rng), wall)
    assert np.array_equal(push_away(wall, 6.0, rng, 0.4, 0.2, min_points=len(wall)), wall)
    est = push_away(wall, 2.0, np.random.default_rng(2))  # the spacing estimated from the cluster
    assert 0.2 < len(est) / len(wall) < 0.3
    assert resolution_deg("hdl64", 0.0) == pytest.approx((10.33 / 31, 360 / 2083), rel=0.01)
    assert resolution_deg("nope", 0.0) is None
    assert Augment().far_prob == 0.0
    off = Augment(far_prob=0.0)(wall, np.random.default_rng(3))
    assert np.array_equal(off, Augment()(wall, np.random.default_rng(3)))
    only = Augment(strength=0.0, sensor_yaw_deg=0.0, far_prob=1.0)
    assert np.array_equal(only(wall, np.random.default_rng(3)), wall)  # strength 0 scales the probability to 0
    only = Augment(dropout_prob=0, ring_dropout_prob=0, occlusion_prob=0, scale=0, jitter_sigma=(0, 0), tilt_deg=0,
                   sensor_yaw_deg=0, centre_yaw_deg=0, far_prob=1.0, far_max_range=25.0)
    ranges = [np.hypot(*only(wall, np.random.default_rng(k), "hdl64")[:, :2].mean(0)) for k in range(30)]
    assert max(ranges) <= 25.0 + 0.5 and np.mean(ranges) > 13.0


def test_training_batches_push_clusters_away(sim: ClusterSet) -> None:
    """``train --far`` through the training loader (which hands ``Augment`` each simulated cluster's
    sensor): the batches' ``range`` input grows, never beyond ``far_max_range``."""
    from t3d_ros.classify.inputs import InputSpec
    from t3d_ros.offline.train.loader import ClusterBatches

    spec = InputSpec(n_points=32)
    still = Augment(strength=0.0, sensor_yaw_deg=0.0)
    far = Augment(dropout_prob=0, ring_dropout_prob=0, occlusion_prob=0, scale=0, jitter_sigma=(0, 0), tilt_deg=0,
                  sensor_yaw_deg=0, centre_yaw_deg=0, far_prob=1.0, far_max_range=40.0)
    idx = np.flatnonzero((sim.sizes >= 200) & (sim.ranges < 15))[:16]
    assert len(idx) >= 4
    near = ClusterBatches(sim, spec, still, 0).batch(idx, np.random.default_rng(0)).inputs[2][:, -1].numpy() * 50
    moved = ClusterBatches(sim, spec, far, 0).batch(idx, np.random.default_rng(0)).inputs[2][:, -1].numpy() * 50
    assert np.all(moved >= near - 0.05) and np.mean(moved) > 1.3 * np.mean(near)
    assert moved.max() <= 40.5
