"""KITTI reading and conversion, and the own-cluster check on the real frames (skipped without data)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import KITTI, needs_kitti

from t3d_ros.geometry import points_in_boxes
from t3d_ros.io.kitti import OBJECT_TYPES, kitti_rings, load_frame, read_calib, read_labels, thin_rings
from t3d_ros.offline.eval.segmentation import match_objects
from t3d_ros.segment.pipeline import Pipeline, PipelineConfig

ROOT = KITTI
FRAMES = ("000000", "000001", "000002")


def test_points_in_boxes_rotated():
    box = np.array([[10.0, 5.0, 0.0, 4.0, 2.0, 1.0, np.pi / 2]])  # length along +y
    pts = np.array([[10.0, 6.9, 0.0], [10.9, 5.0, 0.4], [11.1, 5.0, 0.0], [10.0, 5.0, 0.6]])
    assert points_in_boxes(pts, box)[:, 0].tolist() == [True, True, False, False]
    assert points_in_boxes(pts, box, margin=0.2)[:, 0].tolist() == [True, True, True, True]
    assert points_in_boxes(pts, np.zeros((0, 7))).shape == (4, 0)


def _kitti_ordered_scan(rng: np.random.Generator, rings: int = 8, columns: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """A scan stored as KITTI stores it: ring by ring from the top, each once around from straight ahead
    (azimuth 0 -> 180, wrap, -180 -> 0), some returns missing; (N, 4) points and (N,) true rings."""
    pts, truth = [], []
    for ring in range(rings):
        az = np.radians(np.linspace(0.0, 360.0, columns, endpoint=False) + 0.1)
        az = np.where(az > np.pi, az - 2 * np.pi, az)
        keep = rng.random(columns) > 0.3
        keep[0] = ring == 0 or keep[0]  # the scan's first return starts it
        el = np.radians(2.0 - 0.4 * ring)
        r = rng.uniform(5.0, 60.0, keep.sum())
        a = az[keep]
        pts.append(np.column_stack([r * np.cos(a), r * np.sin(a), r * np.tan(el), np.zeros_like(r)]))
        truth.append(np.full(keep.sum(), ring))
    return np.concatenate(pts).astype(np.float32), np.concatenate(truth)


def test_kitti_rings_are_recovered_from_the_storage_order():
    pts, truth = _kitti_ordered_scan(np.random.default_rng(0))
    assert np.array_equal(kitti_rings(pts), truth)
    # a return jittering across +-180 right after the wrap is no second wrap
    i = int(np.flatnonzero(np.diff(np.arctan2(pts[:, 1], pts[:, 0])) < -np.pi)[2]) + 2
    jittered = pts.copy()
    jittered[i, 1] = abs(jittered[i, 1]) + 1e-3  # back to +179.9 degrees
    jittered[i, 0] = -abs(jittered[i, 0])
    rings = kitti_rings(jittered)
    assert rings.max() == truth.max() and np.mean(rings == truth) > 0.999
    thin = thin_rings(pts, 2)
    assert np.array_equal(thin, pts[truth % 2 == 0]) and thin_rings(pts, 1) is pts
    with pytest.raises(ValueError):
        thin_rings(pts, 0)
    assert len(kitti_rings(np.zeros((0, 3), np.float32))) == 0


@needs_kitti
@pytest.mark.parametrize("frame", FRAMES)
def test_kitti_rings_of_the_shared_frames(frame):
    # 64 lasers: one ring each (a ring the sensor never closes may merge with the next), each at its own
    # elevation, from the top down
    pts, _ = load_frame(ROOT, frame)
    rings = kitti_rings(pts)
    assert 62 <= rings.max() + 1 <= 64
    far = np.hypot(pts[:, 0], pts[:, 1]) > 10.0  # near returns sit off their laser's angle (its offset)
    el = np.degrees(np.arctan2(pts[:, 2], np.hypot(pts[:, 0], pts[:, 1])))
    med = [np.median(el[far & (rings == k)]) for k in range(rings.max() + 1) if (far & (rings == k)).sum() > 20]
    assert len(med) > 30 and np.all(np.diff(med) < 0.05)  # the lower rings meet the ground within 10 m


@needs_kitti
def test_calib_and_label_conversion():
    calib = read_calib(ROOT / "training" / "calib" / "000000.txt")
    assert calib["R0_rect"].shape == (3, 3) and calib["Tr_velo_to_cam"].shape == (3, 4)
    lab = read_labels(ROOT / "training" / "label_2" / "000002.txt", calib)
    assert "DontCare" not in set(lab.names)
    assert lab.boxes.shape == (len(lab.names), 7)
    # The car of frame 000002 lies ahead (x > 0) at about 35 m, heading along x (yaw ~ 0 mod pi).
    pts, lab = load_frame(ROOT, "000002")
    car = int(np.flatnonzero(lab.names == "Car")[0])
    assert 30 < lab.boxes[car, 0] < 40
    inside = points_in_boxes(pts[:, :3], lab.boxes[car : car + 1])[:, 0]
    assert inside.sum() >= 40
    # The points in the box span most of its length: centre and yaw are right, not only size.
    u = pts[inside, 0] - lab.boxes[car, 0]
    assert u.max() - u.min() > 0.5 * lab.boxes[car, 3]
    pts, lab = load_frame(ROOT, "000000")
    assert points_in_boxes(pts[:, :3], lab.boxes[lab.names == "Pedestrian"]).sum() > 200


def _objects(frame):
    """Per-point instance ids (0 none) of labelled objects within 40 m with >= 20 points above the
    bottom 0.15 m of their box (the label slack there holds ground returns)."""
    pts, lab = load_frame(ROOT, frame)
    keep = np.isin(lab.names, OBJECT_TYPES)
    bx, names = lab.boxes[keep], lab.names[keep]
    m = points_in_boxes(pts[:, :3], bx, margin=0.1)
    m &= pts[:, 2, None] > (bx[:, 2] - bx[:, 5] / 2 + 0.15)[None, :]
    ok = (np.hypot(bx[:, 0], bx[:, 1]) <= 40.0) & (m.sum(0) >= 20)
    inst = np.zeros(len(pts), np.int64)
    for k in np.flatnonzero(ok):
        inst[m[:, k]] = k + 1
    return pts, inst, names


# The KITTI "Misc" of frame 000002 (a box ~9 m away) stands against a wall, with returns 2-5 cm from
# the wall's: no distance threshold splits them; the wall split (segment/walls.py) does.


@needs_kitti
@pytest.mark.parametrize("frame", FRAMES)
def test_every_kitti_object_gets_its_own_cluster(frame):
    pts, inst, names = _objects(frame)
    seg = Pipeline(PipelineConfig())(pts)
    match, _ = match_objects(seg.input_cluster_id, inst, min_points=20)
    for k, obj in enumerate(match.instance):
        name = names[obj - 1]
        assert match.own[k], f"{frame} {name}: no cluster of its own"
        assert match.majority_share[k] >= 0.8, f"{frame} {name}: split, share {match.majority_share[k]:.2f}"


@needs_kitti
@pytest.mark.parametrize("wall_split", [False, True])
def test_kitti_misc_against_wall(wall_split):
    """Without the wall split the box merges with the wall it stands against; with it, it is its own."""
    pts, inst, names = _objects("000002")
    seg = Pipeline(PipelineConfig(wall_split=wall_split))(pts)
    match, _ = match_objects(seg.input_cluster_id, inst, min_points=20)
    k = [i for i, o in enumerate(match.instance) if names[o - 1] == "Misc"][0]
    assert bool(match.own[k]) == wall_split
    if wall_split:
        assert match.majority_share[k] >= 0.9
