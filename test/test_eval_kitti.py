"""eval-kitti: field of view, matching, recall/precision bookkeeping, and the command on the shared frames."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from conftest import KITTI_ROOT, REPO, needs_kitti

from t3d_ros.cli.eval_kitti import card_sim_metrics, headline
from t3d_ros.detection import Detection
from t3d_ros.io.kitti import KittiLabels
from t3d_ros.offline.eval.kitti import evaluate_frame, in_camera_fov, match_detections, summarize

# A camera looking along the LiDAR's +x (camera x right = -y, y down = -z, z forward = x), 1242 px wide.
CALIB = {
    "Tr_velo_to_cam": np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0]]),
    "R0_rect": np.eye(3),
    "P2": np.array([[700.0, 0.0, 621.0, 0.0], [0.0, 700.0, 180.0, 0.0], [0.0, 0.0, 1.0, 0.0]]),
}


def _det(label: str, x: float, y: float, score: float = 0.9) -> Detection:
    return Detection(label, score, np.array([x, y, 0.0]), np.array([1.0, 1.0, 1.0]), 0.0, 50)


def _labels(rows: list[tuple[str, list[float]]]) -> KittiLabels:
    return KittiLabels(np.array([b for _, b in rows], dtype=np.float64), np.array([n for n, _ in rows], dtype=object),
                       np.zeros(len(rows)), np.zeros(len(rows), int))


def test_camera_fov_is_the_image_in_front():
    pts = np.array([[10.0, 0.0, 0.0], [10.0, 8.0, 0.0], [10.0, 9.5, 0.0], [10.0, -9.5, 0.0], [-10.0, 0.0, 0.0]])
    # Half the image is 621 px at f = 700 px: +-41.6 degrees, i.e. |y| < 8.87 m at 10 m.
    assert in_camera_fov(pts, CALIB).tolist() == [True, True, False, False, False]


def test_match_is_one_to_one_nearest_first_inside_the_grown_footprint():
    boxes = np.array([[10.0, 0.0, 0.0, 4.0, 2.0, 1.5, np.pi / 2],  # length along y
                      [20.0, 0.0, 0.0, 1.0, 1.0, 1.8, 0.0]])
    centers = np.array([[10.0, 1.8], [10.6, 0.0], [10.0, 0.2], [21.2, 0.0], [30.0, 0.0]])
    det_to_gt, gt_to_det = match_detections(centers, boxes, margin=0.5)
    # (10, 1.8) and (10.6, 0) lie in the grown footprint of the first box too, but (10, 0.2) is nearest.
    assert gt_to_det.tolist() == [2, -1]
    assert det_to_gt.tolist() == [-1, -1, 0, -1, -1]  # (21.2, 0) is 0.7 m past a 0.5 m half length + 0.5
    det_to_gt, gt_to_det = match_detections(centers, boxes, margin=0.8)
    assert gt_to_det.tolist() == [2, 3]
    assert match_detections(np.zeros((0, 2)), boxes, 0.5)[1].tolist() == [-1, -1]


def test_recall_precision_and_what_is_ignored():
    labels = _labels([
        ("Car", [10.0, 0.0, -1.0, 4.0, 1.8, 1.5, 0.0]),
        ("Van", [20.0, 3.0, -1.0, 5.0, 2.0, 2.0, 0.0]),
        ("Pedestrian", [8.0, -2.0, -1.0, 0.6, 0.6, 1.8, 0.0]),
        ("Car", [80.0, 0.0, -1.0, 4.0, 1.8, 1.5, 0.0]),  # beyond max_range: ignored
        ("Cyclist", [12.0, 4.0, -1.0, 1.8, 0.6, 1.7, 0.0]),  # no returns: ignored
    ])
    points = np.concatenate([
        np.c_[np.random.default_rng(0).uniform([9, -0.5, -1.5], [11, 0.5, -0.5], (40, 3)), np.zeros(40)],
        np.c_[np.random.default_rng(1).uniform([19, 2.5, -1.5], [21, 3.5, -0.5], (40, 3)), np.zeros(40)],
        np.c_[np.random.default_rng(2).uniform([7.9, -2.1, -1.5], [8.1, -1.9, -0.5], (30, 3)), np.zeros(30)],
        np.c_[np.random.default_rng(3).uniform([79, -0.5, -1.5], [81, 0.5, -0.5], (40, 3)), np.zeros(40)],
    ]).astype(np.float32)
    dets = [
        _det("car", 10.3, 0.2),  # right class
        _det("truck", 20.0, 3.2),  # the van (a car) found, wrong class: a false truck
        _det("pedestrian", 15.0, -5.0),  # on nothing: a false pedestrian
        _det("car", 80.0, 0.0),  # on the ignored far car: out of scope, no false positive
        _det("pedestrian", 12.0, 4.0),  # on the ignored cyclist: out of scope
        _det("pole", 14.0, 2.0),  # unlabelled class: never judged
        _det("car", 5.0, -30.0),  # outside the camera's view: out of scope
    ]
    fe = evaluate_frame("f", points, labels, CALIB, dets, max_range=50.0, min_points=10)
    assert fe.gt_status == ["", "", "", "far", "few_points"]
    assert fe.gt_class == ["car", "car", "pedestrian", "car", "cyclist"]
    assert fe.gt_match.tolist()[:3] == [0, 1, -1]
    assert fe.det_scope.tolist() == [True, True, True, False, False, True, False]
    s = summarize([fe])
    car, ped, truck, everything = (s["classes"][c] for c in ("car", "pedestrian", "truck", "all"))
    assert (car["objects"], car["found"], car["right"]) == (2, 2, 1)
    assert car["recall_any"] == 1.0 and car["recall"] == 0.5
    assert (car["detections"], car["true"], car["precision"]) == (1, 1, 1.0)
    assert (ped["objects"], ped["found"], ped["recall_any"]) == (1, 0, 0.0)
    assert (ped["detections"], ped["precision"]) == (1, 0.0)
    assert (truck["objects"], truck["detections"], truck["precision"]) == (0, 1, 0.0)
    assert s["classes"]["misc"]["precision"] is None
    assert (everything["objects"], everything["found"], everything["detections"], everything["true"]) == (3, 2, 3, 1)
    assert s["confusion"] == {"car": {"car": 1, "truck": 1}, "pedestrian": {"missed": 1}}
    assert s["in_view"] == {"car": 1, "pedestrian": 1, "pole": 1, "truck": 1}
    doc = fe.to_json()
    no_labels = KittiLabels(np.zeros((0, 7)), np.zeros(0, dtype=object), np.zeros(0), np.zeros(0, int))
    empty = evaluate_frame("e", points, no_labels, CALIB, [])  # a frame without labels or detections
    assert summarize([empty])["classes"]["all"]["objects"] == 0
    assert [o["status"] for o in doc["objects"]] == ["evaluated"] * 3 + ["far", "few_points"]
    assert doc["objects"][0]["detection"]["label"] == "car" and doc["objects"][2]["detection"] is None


@needs_kitti
def test_eval_kitti_on_the_shared_frames(tmp_path):
    root = KITTI_ROOT.parent
    proc = subprocess.run([sys.executable, "-m", "t3d_ros", "eval-kitti", str(root), "--model", "", "--json",
                           str(tmp_path / "eval.json"), "--png", str(tmp_path / "png")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "recall(any)" in proc.stdout
    doc = json.loads((tmp_path / "eval.json").read_text())
    assert [f["frame"] for f in doc["frames"]] == ["000000", "000001", "000002"]
    everything = doc["classes"]["all"]
    # Within 50 m in view with >= 10 returns: the pedestrian (000000), the cyclist at 46 m (000001),
    # the Misc object and the car at 35 m (000002); the truck at 70 m and the car at 61 m are far.
    assert everything["objects"] == 4
    statuses = {(f["frame"], o["type"]): o["status"] for f in doc["frames"] for o in f["objects"]}
    assert statuses[("000001", "Truck")] == "far" and statuses[("000000", "Pedestrian")] == "evaluated"
    ped = next(o for o in doc["frames"][0]["objects"] if o["type"] == "Pedestrian")
    assert ped["detection"] is not None and ped["detection"]["label"] == "unknown"  # clustering only
    assert everything["found"] >= 2 and everything["detections"] == 0  # nothing labelled: no precision
    pngs = sorted(p.name for p in (tmp_path / "png").glob("*.png"))
    assert pngs == ["000000_eval.png", "000001_eval.png", "000002_eval.png"]
    assert all(10_000 < (tmp_path / "png" / p).stat().st_size < 300_000 for p in pngs)


def test_eval_kitti_reports_a_missing_root(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "t3d_ros", "eval-kitti", str(tmp_path), "--model", ""],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no frame" in proc.stderr and "Traceback" not in proc.stderr


def test_headline_sets_real_labels_beside_simulated_ones_of_both_kinds():
    """Real columns count the node's labels (thresholds applied); beside them the card's simulated numbers,
    both the labels above its thresholds (calibration split) and the network's argmax (test set)."""
    card = {"metrics": {"classes": ["car", "pedestrian"],
                        "data": {"sim": {"confusion": [[8, 2], [1, 9]]}}},
            "calibration": {"precision_recall": {"car": {"precision": 0.97, "recall": 0.55},
                                                 "pedestrian": {"precision": 0.96, "recall": 0.6}}}}
    sim = card_sim_metrics(card, ["car", "pedestrian"])
    assert sim["car"] == {"precision": round(8 / 9, 4), "recall": 0.8, "clusters": 10,
                          "labelled_precision": 0.97, "labelled_recall": 0.55}
    summary = {"classes": {"all": {"true": 1, "detections": 2, "precision": 0.5, "right": 1, "objects": 2,
                                   "found": 2},
                           "car": {"precision": 0.5, "recall": 1.0}}}
    text = headline(summary, sim)
    car_row = next(line for line in text.splitlines() if line.startswith("car "))
    assert car_row.split() == ["car", "0.50", "1.00", "0.97", "/", "0.55", "0.89", "/", "0.80"]
    assert card_sim_metrics({"metrics": {}}, ["car"]) == {}  # a card without its test evaluation
    # a card without a calibration section: the labelled columns are '-'
    del card["calibration"]
    assert "-" in next(line for line in headline(summary, card_sim_metrics(card, ["car"])).splitlines()
                       if line.startswith("car "))
