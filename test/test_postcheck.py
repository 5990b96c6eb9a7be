"""After the network: class thresholds and size limits lower a label to ``unknown`` (never drop a cluster).

``classify/postcheck.py`` (size limits per class), ``Perception.process`` with a fake classifier on a
synthetic frame, ``parse_class_thresholds``, ``Detection.to_json`` and the card's ``calibration``
section (``load_card``, ``Classifier.temperature`` / ``class_thresholds``, ``Perception.from_params``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from t3d_ros.classes import CLASSES, UNKNOWN
from t3d_ros.classify.postcheck import SIZE_LIMITS, implausible_reason, size_check
from t3d_ros.detection import Detection
from t3d_ros.perception import Perception, parse_class_thresholds
from t3d_ros.segment.pipeline import PipelineConfig

# --- size limits --------------------------------------------------------------------------------------


@pytest.mark.parametrize("label, size, words", [
    ("pedestrian", (6.0, 0.6, 1.7), ("6.0 m long", "pedestrian", "1.5 m")),
    ("pedestrian", (0.8, 0.6, 3.1), ("3.1 m high", "2.4 m")),
    ("pedestrian", (0.5, 0.4, 0.3), ("0.30 m high", "0.6 m")),
    ("car", (4.2, 1.8, 0.3), ("0.30 m high", "car", "0.5 m")),
    ("car", (4.2, 3.5, 1.5), ("3.5 m wide", "3 m")),
    ("car", (9.0, 1.8, 1.5), ("9.0 m long", "7 m")),
    ("truck", (9.0, 2.5, 1.2), ("1.20 m high", "truck", "1.8 m")),
    ("truck", (25.0, 2.5, 3.5), ("25.0 m long", "20 m")),
    ("cyclist", (1.8, 0.7, 0.5), ("0.50 m high", "0.7 m")),
    ("pole", (5.0, 0.3, 6.0), ("5.0 m long", "4 m")),
    ("misc", (0.8, 0.8, 3.0), ("3.0 m high", "2.5 m")),
])
def test_implausible_boxes_name_the_measure_and_the_limit(label, size, words):
    why = implausible_reason(label, size)
    assert why, f"a {label} of {size} passed"
    for w in words:
        assert w in why, why


@pytest.mark.parametrize("label, size", [
    ("car", (4.5, 1.8, 1.5)),
    ("car", (1.2, 0.4, 0.9)),  # one side of a car seen end-on: a partial view is smaller, never larger
    ("car", (6.9, 2.1, 2.8)),  # a van
    ("truck", (12.0, 2.5, 3.8)),
    ("pedestrian", (0.6, 0.5, 1.75)),
    ("cyclist", (1.8, 0.6, 1.7)),
    ("pole", (0.3, 0.3, 8.0)),  # poles may be as tall as they like
    ("misc", (0.5, 0.5, 1.0)),
])
def test_plausible_boxes_pass(label, size):
    assert implausible_reason(label, size) == ""


@pytest.mark.parametrize("label", ["vegetation", "structure", UNKNOWN, "not-a-class"])
@pytest.mark.parametrize("size", [(60.0, 20.0, 15.0), (0.01, 0.01, 0.0)])
def test_classes_without_limits_never_fail(label, size):
    assert implausible_reason(label, size) == ""


def test_size_limits_cover_the_road_users_and_leave_out_vegetation_and_structure():
    assert {"car", "truck", "pedestrian", "cyclist"} <= set(SIZE_LIMITS) <= set(CLASSES)
    assert "vegetation" not in SIZE_LIMITS and "structure" not in SIZE_LIMITS


def test_size_check_gives_one_reason_per_cluster_in_order():
    labels = ["car", "pedestrian", "vegetation", "truck"]
    sizes = np.array([[4.2, 1.8, 1.5, 0.0], [6.0, 0.6, 1.7, 0.0], [30.0, 5.0, 8.0, 0.0], [9.0, 2.5, 1.0, 0.0]],
                     np.float32)  # extra columns are ignored
    reasons = size_check(labels, sizes)
    assert len(reasons) == 4
    assert reasons[0] == "" and reasons[2] == ""
    assert "6.0 m long" in reasons[1] and "1.00 m high" in reasons[3]


def test_size_check_of_no_clusters_is_empty():
    assert size_check([], np.zeros((0, 3))) == []


@pytest.mark.parametrize("label", ["car", "truck", "pedestrian", "cyclist"])
def test_a_road_user_floating_above_the_ground_is_implausible(label):
    lim = SIZE_LIMITS[label].max_ground_gap
    assert 0.5 <= lim <= 3.5  # set from simulation (bench.ground_gap), not left open
    # the upper part of a road user behind a parked car
    size = {"car": (4.2, 1.8, 0.6), "truck": (9.0, 2.5, 1.9), "pedestrian": (0.6, 0.5, 0.8),
            "cyclist": (1.8, 0.6, 0.8)}[label]
    assert implausible_reason(label, size, ground_gap=lim) == ""  # the limit itself passes
    assert implausible_reason(label, size, ground_gap=float("nan")) == ""  # no ground seen: not judged
    why = implausible_reason(label, size, ground_gap=lim + 0.3)
    assert "above the ground" in why and label in why and f"{lim:g} m" in why, why


@pytest.mark.parametrize("label", ["pedestrian", "cyclist"])
def test_a_person_reaching_higher_than_people_do_is_implausible(label):
    # 2.2 m of returns from 0.2 m up reach 2.4 m: within the box's max_height, above any person
    size = (0.7, 0.6, 2.2)
    assert implausible_reason(label, size) == ""  # without the ground: plausible
    why = implausible_reason(label, size, ground_gap=0.2)
    assert "top 2.4 m above the ground" in why and "2.3 m" in why, why
    assert implausible_reason(label, (0.7, 0.6, 1.8), ground_gap=0.2) == ""  # a tall person: 2.0 m


def test_classes_off_the_road_may_float():
    for label in ("vegetation", "structure", "pole", "misc"):
        assert implausible_reason(label, (1.0, 1.0, 1.0), ground_gap=4.0) == ""


def test_size_check_takes_the_ground_gaps_in_cluster_order():
    reasons = size_check(["car", "car", "vegetation"], np.array([[4.2, 1.8, 1.5]] * 3), ground_gaps=[0.3, 2.5, 3.0])
    assert reasons[0] == "" and "2.5 m above the ground" in reasons[1] and reasons[2] == ""


# --- Perception.process with a fake classifier ---------------------------------------------------------

GROUND_Z = -1.73


def _box(rng, center, size, n):
    lo, hi = np.subtract(center, np.divide(size, 2)), np.add(center, np.divide(size, 2))
    return np.c_[rng.uniform(lo, hi, (n, 3)), np.full(n, 50.0)]


def _on_ground(x, y, size, clearance=0.3):
    """Centre of a box of ``size`` standing ``clearance`` above the ground (out of the ground filter)."""
    return (x, y, GROUND_Z + clearance + size[2] / 2)


# name: (centre, size, points, the fake network's label, its score)
OBJECTS = {
    "car": (_on_ground(8, 0, (4.2, 1.8, 1.5)), (4.2, 1.8, 1.5), 1500, "car", 0.9),
    "pedestrian": (_on_ground(8, 6, (0.5, 0.5, 1.7)), (0.5, 0.5, 1.7), 400, "pedestrian", 0.6),
    "wall": (_on_ground(15, -6, (8.0, 0.3, 2.0)), (8.0, 0.3, 2.0), 3000, "pedestrian", 0.99),
    "slab": ((12, 10, -0.85), (3.0, 1.5, 0.3), 800, "car", 0.95),
    "low_truck": (_on_ground(-10, 0, (8.0, 2.5, 1.2)), (8.0, 2.5, 1.2), 2500, "truck", 0.9),
    "hedge": (_on_ground(-8, -12, (10.0, 1.0, 1.4)), (10.0, 1.0, 1.4), 2500, "vegetation", 0.4),
    # a car-sized tree crown 2.5 m above the ground: the right size for a car, but nothing holds it up
    "crown": (_on_ground(-15, 12, (3.0, 1.6, 1.0), clearance=2.5), (3.0, 1.6, 1.0), 1200, "car", 0.9),
}


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    xy = rng.uniform(-30, 30, (40_000, 2))
    xy = xy[np.hypot(xy[:, 0], xy[:, 1]) > 3]
    ground = np.c_[xy, GROUND_Z + rng.normal(0, 0.02, len(xy)), rng.uniform(0, 100, len(xy))]
    objects = [_box(rng, c, s, n) for c, s, n, _, _ in OBJECTS.values()]
    return np.concatenate([ground, *objects]).astype(np.float32)


class FakeClassifier:
    """Labels each cluster as OBJECTS says for the object whose centre is nearest its centroid."""

    classes = list(CLASSES)

    def __init__(self, class_thresholds: dict[str, float] | None = None) -> None:
        self.class_thresholds = dict(class_thresholds or {})
        self.calls = 0
        self.seen: list[str] = []

    def __call__(self, points, offsets):
        self.calls += 1
        names = list(OBJECTS)
        centres = np.array([OBJECTS[n][0][:2] for n in names])
        labels, scores = [], []
        for k in range(len(offsets) - 1):
            c = points[offsets[k]:offsets[k + 1], :2].mean(axis=0)
            d = np.hypot(*(centres - c).T)
            assert d.min() < 1.0, f"a cluster at {c} matches no object"
            name = names[int(d.argmin())]
            self.seen.append(name)
            labels.append(OBJECTS[name][3])
            scores.append(OBJECTS[name][4])
        return labels, np.asarray(scores, np.float64)


def _by_object(result) -> dict[str, Detection]:
    names = list(OBJECTS)
    centres = np.array([OBJECTS[n][0][:2] for n in names])
    out = {}
    for d in result.detections:
        name = names[int(np.hypot(*(centres - d.center[:2]).T).argmin())]
        assert name not in out, f"two detections for {name}"
        out[name] = d
    assert set(out) == set(OBJECTS), f"clusters lost: {set(OBJECTS) - set(out)}"  # never dropped
    return out


def _check_consistent(d: Detection) -> None:
    """A kept label has no guess or reason; a lowered one keeps both."""
    if d.label == UNKNOWN:
        assert d.guess in CLASSES and d.unknown_reason, d
    else:
        assert d.guess == "" and d.unknown_reason == "", d


def test_size_check_lowers_implausible_labels_and_keeps_the_guess(frame):
    clf = FakeClassifier()
    res = Perception(PipelineConfig(), clf).process(frame)
    assert clf.calls == 1 and sorted(clf.seen) == sorted(OBJECTS)
    det = _by_object(res)
    for d in det.values():
        _check_consistent(d)
    assert det["car"].label == "car" and det["pedestrian"].label == "pedestrian"
    assert det["hedge"].label == "vegetation"  # 10 m long, but vegetation has no size limit
    for name, guess, words in (("wall", "pedestrian", "m long"), ("slab", "car", "m high"),
                               ("low_truck", "truck", "m high"), ("crown", "car", "above the ground")):
        d = det[name]
        assert d.label == UNKNOWN and d.guess == guess, d
        assert words in d.unknown_reason and guess in d.unknown_reason, d.unknown_reason
        assert d.score == pytest.approx(OBJECTS[name][4])  # the network's score is kept
    assert "8.0 m long" in det["wall"].unknown_reason
    assert "1.20 m high" in det["low_truck"].unknown_reason
    assert "2.5 m above the ground" in det["crown"].unknown_reason
    # the reason is about the box that was published
    assert implausible_reason("car", det["slab"].size) == det["slab"].unknown_reason
    assert sum(d.num_points for d in det.values()) == sum(o[2] for o in OBJECTS.values())
    assert "classify" in res.timings_ms


def test_size_check_off_keeps_every_label(frame):
    det = _by_object(Perception(PipelineConfig(), FakeClassifier(), check_sizes=False).process(frame))
    assert {n: d.label for n, d in det.items()} == {n: o[3] for n, o in OBJECTS.items()}
    assert all(d.guess == "" and d.unknown_reason == "" for d in det.values())


def test_class_thresholds_and_the_floor_lower_low_scores(frame):
    # car 0.9 >= 0.9 stays (the threshold is a minimum); pedestrian 0.6 < 0.7 becomes unknown;
    # the hedge (vegetation 0.4) passes the 0.3 floor
    per = Perception(PipelineConfig(), FakeClassifier(), score_threshold=0.3,
                     class_thresholds={"car": 0.9, "pedestrian": 0.7}, check_sizes=False)
    det = _by_object(per.process(frame))
    assert det["car"].label == "car"
    ped = det["pedestrian"]
    assert ped.label == UNKNOWN and ped.guess == "pedestrian" and ped.score == pytest.approx(0.6)
    assert ped.unknown_reason == "score 0.600 below the pedestrian threshold 0.70"
    assert det["hedge"].label == "vegetation" and det["wall"].label == "pedestrian"  # 0.99 >= 0.7

    # the floor wins where it is higher than the class threshold
    per = Perception(PipelineConfig(), FakeClassifier(), score_threshold=0.5,
                     class_thresholds={"vegetation": 0.1}, check_sizes=False)
    det = _by_object(per.process(frame))
    hedge = det["hedge"]
    assert hedge.label == UNKNOWN and hedge.guess == "vegetation"
    assert hedge.unknown_reason == "score 0.400 below the vegetation threshold 0.50"
    assert det["pedestrian"].label == "pedestrian"  # 0.6 >= 0.5
    for d in det.values():
        _check_consistent(d)


def test_sparse_clusters_need_their_own_thresholds(frame):
    # the pedestrian has 400 returns, the car 1500: with the band at 1000 returns the pedestrian is
    # judged by the sparse thresholds (0.8: unknown), the car by the dense ones (0.85: kept)
    per = Perception(PipelineConfig(), FakeClassifier(), class_thresholds={"car": 0.85, "pedestrian": 0.5},
                     check_sizes=False, sparse_points=1000, sparse_thresholds={"car": 0.95, "pedestrian": 0.8})
    det = _by_object(per.process(frame))
    assert det["car"].label == "car" and det["car"].num_points >= 1000
    ped = det["pedestrian"]
    assert ped.num_points < 1000 and ped.label == UNKNOWN and ped.guess == "pedestrian"
    assert ped.unknown_reason == "score 0.600 below the pedestrian threshold 0.80 for clusters under 1000 returns"
    per.sparse_points = 300  # now both are dense: the pedestrian passes its 0.5
    det = _by_object(per.process(frame))
    assert det["pedestrian"].label == "pedestrian" and det["car"].label == "car"
    # the floor still holds in the sparse band
    per.sparse_points, per.score_threshold = 1000, 0.9
    assert _by_object(per.process(frame))["pedestrian"].unknown_reason.startswith(
        "score 0.600 below the pedestrian threshold 0.90 for clusters under 1000")


def test_a_low_score_is_the_reason_even_when_the_size_is_wrong_too(frame):
    per = Perception(PipelineConfig(), FakeClassifier(), class_thresholds={"truck": 0.95})
    d = _by_object(per.process(frame))["low_truck"]
    assert d.label == UNKNOWN and d.guess == "truck"
    assert d.unknown_reason.startswith("score 0.900 below the truck threshold 0.95"), d.unknown_reason


def test_without_a_classifier_every_cluster_is_unknown_with_no_guess(frame):
    det = _by_object(Perception(PipelineConfig()).process(frame))
    for d in det.values():
        assert d.label == UNKNOWN and d.score == 1.0 and d.guess == "" and d.unknown_reason == ""
        assert set(d.to_json()) == {"label", "score", "center", "size", "yaw", "num_points", "clearance"}


def test_every_detection_says_how_high_it_starts_above_the_ground(frame):
    """``clearance``: the lowest return above the local ground, with or without a classifier."""
    for clf in (None, FakeClassifier()):
        det = _by_object(Perception(PipelineConfig(), clf).process(frame))
        for name in ("car", "pedestrian", "wall", "low_truck", "hedge"):  # built 0.3 m above the ground
            assert det[name].clearance == pytest.approx(0.3, abs=0.06), (name, det[name].clearance)
        assert det["crown"].clearance == pytest.approx(2.5, abs=0.06)
        assert det["crown"].to_json()["clearance"] == pytest.approx(det["crown"].clearance, abs=1e-3)


def test_empty_frame_never_calls_the_classifier():
    clf = FakeClassifier()
    res = Perception(PipelineConfig(), clf, class_thresholds={"car": 0.5}).process(np.zeros((0, 4), np.float32))
    assert res.detections == [] and clf.calls == 0


# --- parse_class_thresholds, Detection.to_json ----------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("car:0.8,pedestrian:0.7", {"car": 0.8, "pedestrian": 0.7}),
    (" car : 0.8 ,  misc:1 , ", {"car": 0.8, "misc": 1.0}),
    ("truck:0", {"truck": 0.0}),
    ("", {}),
])
def test_parse_class_thresholds_accepts(text, expected):
    assert parse_class_thresholds(text, CLASSES) == expected


@pytest.mark.parametrize("text, bad", [
    ("car:0.8,bus:0.5", "bus:0.5"),  # not a class of the model
    ("car:1.5", "car:1.5"),
    ("car:-0.1", "car:-0.1"),
    ("car", "car"),
    ("car:high", "car:high"),
    ("car:nan", "car:nan"),
    ("car=0.8", "car=0.8"),
    ("pedestrian:0.7;car:0.8", "pedestrian:0.7;car:0.8"),
])
def test_parse_class_thresholds_rejects_naming_the_entry(text, bad):
    with pytest.raises(ValueError) as e:
        parse_class_thresholds(text, CLASSES)
    msg = str(e.value)
    assert repr(bad) in msg and "class_thresholds" in msg and "car, truck" in msg, msg


def test_parse_class_thresholds_knows_only_the_models_classes():
    with pytest.raises(ValueError, match="'pole:0.5'"):
        parse_class_thresholds("car:0.5,pole:0.5", ["car", "pedestrian"])


def test_detection_json_adds_guess_and_reason_only_when_lowered():
    base = dict(score=0.41234567, center=np.array([1.0, 2.0, -0.5]), size=np.array([4.0, 1.8, 1.5]), yaw=0.1,
                num_points=120)
    keys = {"label", "score", "center", "size", "yaw", "num_points"}
    kept = Detection(label="car", **base).to_json()
    assert set(kept) == keys and kept["score"] == 0.4123  # no ground seen near it: no clearance
    assert Detection(label="car", clearance=0.31234, **base).to_json()["clearance"] == 0.312
    lowered = Detection(label=UNKNOWN, guess="car", unknown_reason="score 0.41 below the car threshold 0.80",
                        **base).to_json()
    assert set(lowered) == keys | {"guess", "unknown_reason"}
    assert lowered["label"] == UNKNOWN and lowered["guess"] == "car" and "threshold" in lowered["unknown_reason"]
    json.dumps(lowered)  # plain JSON types


# --- the card's calibration section --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_card() -> dict:
    from t3d_ros.classify.classifier import resolve_model_path

    path = resolve_model_path()
    assert path.is_file(), f"the shipped model card {path} is missing"
    card = json.loads(path.read_text())
    for key in ("onnx", "weights"):  # a copy elsewhere still finds the network files
        if key in card["files"]:
            card["files"][key] = str(path.parent / card["files"][key])
    return card


def _write_card(tmp_path, card: dict, calibration, name: str = "card.json"):
    card = dict(card)
    if calibration is ...:
        card.pop("calibration", None)
    else:
        card["calibration"] = calibration
    path = tmp_path / name
    path.write_text(json.dumps(card))
    return path


@pytest.mark.parametrize("calibration, words", [
    ({"temperature": 0.0}, "calibration.temperature=0.0"),
    ({"temperature": 50}, "calibration.temperature=50"),
    ({"temperature": "1.5"}, "calibration.temperature='1.5'"),
    ({"temperature": -1}, "calibration.temperature=-1"),
    ({"class_thresholds": {"bus": 0.5}}, "calibration.class_thresholds"),
    ({"class_thresholds": {"car": 1.5}}, "calibration.class_thresholds"),
    ({"class_thresholds": {"car": -0.2}}, "calibration.class_thresholds"),
    ({"class_thresholds": {"car": "0.5"}}, "calibration.class_thresholds"),
    ({"class_thresholds": [0.5, 0.5]}, "calibration.class_thresholds"),
    (None, "calibration=None"),
    ([1.0], "calibration=[1.0]"),
    ({"temperature": True}, "calibration.temperature=True"),
    ({"class_thresholds": {"car": True}}, "calibration.class_thresholds"),
    ({"sparse": {"below_points": 30}}, "calibration.sparse"),
    ({"sparse": {"below_points": -1, "class_thresholds": {}}}, "calibration.sparse"),
    ({"sparse": {"below_points": 30.5, "class_thresholds": {}}}, "calibration.sparse"),
    ({"sparse": {"below_points": 30, "class_thresholds": {"bus": 0.5}}}, "calibration.sparse"),
    ({"sparse": [30]}, "calibration.sparse"),
])
def test_card_with_a_bad_calibration_is_rejected(tmp_path, shipped_card, calibration, words):
    from t3d_ros.classify.classifier import ModelError, load_card

    path = _write_card(tmp_path, shipped_card, calibration)
    with pytest.raises(ModelError) as e:
        load_card(path)
    msg = str(e.value)
    assert words in msg and str(path) in msg, msg


def test_card_calibration_sets_temperature_and_thresholds(tmp_path, shipped_card):
    pytest.importorskip("onnxruntime")
    from t3d_ros.classify.classifier import Classifier, load_card

    assert load_card(_write_card(tmp_path, shipped_card, {}, "empty.json"))["classes"] == shipped_card["classes"]
    plain = Classifier(_write_card(tmp_path, shipped_card, ..., "plain.json"), device="cpu", backend="onnxruntime")
    assert plain.temperature == 1.0 and plain.class_thresholds == {}
    cal = {"temperature": 2.5, "class_thresholds": {"car": 0.8, "pedestrian": 0.65}}
    path = _write_card(tmp_path, shipped_card, cal, "calibrated.json")
    clf = Classifier(path, device="cpu", backend="onnxruntime")
    assert clf.temperature == 2.5 and clf.class_thresholds == {"car": 0.8, "pedestrian": 0.65}

    # the temperature divides the logits before the softmax: the same labels, softer scores
    rng = np.random.default_rng(1)
    clusters = [rng.normal(0, s, (n, 3)) + (8, 0, -1) for s, n in ((0.5, 300), (0.2, 80), (1.5, 900))]
    points = np.concatenate([np.c_[c, np.full(len(c), 0.3)] for c in clusters]).astype(np.float32)
    offsets = np.cumsum([0, *map(len, clusters)]).astype(np.int64)
    logits = plain.logits(points, offsets)
    z = logits / 2.5
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.probabilities(points, offsets), expected, rtol=1e-4, atol=1e-6)
    labels_plain, scores_plain = plain(points, offsets)
    labels_cal, scores_cal = clf(points, offsets)
    assert labels_plain == labels_cal
    assert np.all(scores_cal <= scores_plain + 1e-6)

    # the node's parameters: '' takes the card's thresholds, a string overrides them, a bad one is refused
    per = Perception.from_params({"model_path": str(path), "backend": "onnxruntime"}, device="cpu")
    assert per.class_thresholds == {"car": 0.8, "pedestrian": 0.65} and per.check_sizes is True
    per = Perception.from_params({"model_path": str(path), "backend": "onnxruntime", "class_thresholds": "truck:0.9",
                                  "size_check": False, "score_threshold": 0.2}, device="cpu")
    assert per.class_thresholds == {"truck": 0.9} and per.check_sizes is False and per.score_threshold == 0.2

    # a card with sparse thresholds: '' takes both bands, a string replaces both
    cal["sparse"] = {"below_points": 30, "class_thresholds": {"car": 0.9, "pedestrian": 0.95}}
    path = _write_card(tmp_path, shipped_card, cal, "banded.json")
    clf = Classifier(path, device="cpu", backend="onnxruntime")
    assert clf.sparse_points == 30 and clf.sparse_thresholds == {"car": 0.9, "pedestrian": 0.95}
    assert plain.sparse_points == 0 and plain.sparse_thresholds == {}
    per = Perception.from_params({"model_path": str(path), "backend": "onnxruntime"}, device="cpu")
    assert per.sparse_points == 30 and per.sparse_thresholds == {"car": 0.9, "pedestrian": 0.95}
    assert per.class_thresholds == {"car": 0.8, "pedestrian": 0.65}
    per.set_thresholds("car:0.5")
    assert per.class_thresholds == {"car": 0.5} and per.sparse_points == 0
    per.set_thresholds("")
    assert per.sparse_points == 30 and per.class_thresholds == {"car": 0.8, "pedestrian": 0.65}
    with pytest.raises(ValueError, match="'bus:0.9'"):
        Perception.from_params({"model_path": str(path), "backend": "onnxruntime", "class_thresholds": "bus:0.9"},
                               device="cpu")
    # clustering only: no classifier, no thresholds, whatever the parameter says
    assert Perception.from_params({"class_thresholds": "car:0.9"}, model="").class_thresholds == {}


def test_switches_read_a_quoted_false_as_false():
    """A params file that quotes a switch ('false') must not turn it on (bool('false') is True)."""
    from t3d_ros.config import tracker_config

    assert Perception.from_params({"size_check": "false"}, model="").check_sizes is False
    assert Perception.from_params({"size_check": "True"}, model="").check_sizes is True
    assert Perception.from_params({}, model="").check_sizes is True
    assert tracker_config({"tracking": "false"}) is None
    assert tracker_config({"tracking": True}) is not None
    for bad in ({"size_check": "no"}, {"size_check": 1}):
        with pytest.raises(ValueError, match="size_check"):
            Perception.from_params(bad, model="")
    with pytest.raises(ValueError, match="tracking"):
        tracker_config({"tracking": "off"})
