"""The threshold rule of ``offline/train/calibrate.py`` on synthetic scores: one band, and apart for
sparse clusters (few returns), whose labels are less often right at the same score."""

from __future__ import annotations

import numpy as np
import pytest

from t3d_ros.offline.train.calibrate import (
    calibrate,
    choose_thresholds,
    marginal_threshold,
    precision_lower_bound,
    precision_recall,
)

CLASSES = ["car", "pedestrian", "vegetation"]


def _scores(rng, n, right_share):
    """n car labels with scores uniform in [0.4, 1]; a label is right with probability ``right_share``
    at score 0.4 rising linearly to 1 at score 1; the wrong ones are vegetation (or outliers, -1)."""
    score = rng.uniform(0.4, 1.0, n)
    p_right = right_share + (1 - right_share) * (score - 0.4) / 0.6
    right = rng.random(n) < p_right
    probs = np.zeros((n, 3))
    probs[:, 0] = score
    probs[:, 2] = 1 - score
    labels = np.where(right, 0, np.where(rng.random(n) < 0.5, 2, -1))
    return probs, labels


def test_thresholds_reach_the_target_precision_at_the_lowest_score():
    rng = np.random.default_rng(0)
    probs, labels = _scores(rng, 4000, 0.5)
    tau = choose_thresholds(probs, labels, CLASSES, 0.9, 20)
    sel = (probs[:, 0] >= tau["car"])
    assert (labels[sel] == 0).mean() >= 0.9
    below = (probs[:, 0] >= tau["car"] - 0.01)
    assert (labels[below] == 0).mean() < 0.9  # the lowest such score
    assert tau["pedestrian"] == 1.0  # never labelled: cannot be judged, never trusted


def test_sparse_clusters_get_their_own_stricter_thresholds():
    rng = np.random.default_rng(1)
    dense_p, dense_y = _scores(rng, 3000, 0.8)
    sparse_p, sparse_y = _scores(rng, 3000, 0.2)
    probs = np.concatenate([dense_p, sparse_p])
    labels = np.concatenate([dense_y, sparse_y])
    counts = np.r_[rng.integers(30, 2000, 3000), rng.integers(10, 30, 3000)]
    logits = np.log(np.clip(probs, 1e-6, 1))

    one = calibrate(logits, labels, CLASSES, 0.9, 20)
    two = calibrate(logits, labels, CLASSES, 0.9, 20, counts=counts, sparse_points=30)
    assert "sparse" not in one and two["sparse"]["below_points"] == 30
    t = two["temperature"]
    assert one["temperature"] == t  # the bands change the thresholds, not the scores
    dense_tau, sparse_tau = two["class_thresholds"]["car"], two["sparse"]["class_thresholds"]["car"]
    assert sparse_tau > one["class_thresholds"]["car"] > dense_tau

    # one threshold reaches the target on average, not on the sparse clusters; two bands reach it on both
    scaled = np.exp(logits / t) / np.exp(logits / t).sum(axis=1, keepdims=True)
    few = counts < 30
    for cal, sparse_ok in ((one, False), (two, True)):
        pr = precision_recall(scaled, labels, CLASSES, cal["class_thresholds"], counts, cal.get("sparse"))
        assert pr["car"]["precision"] >= 0.9
        pr_sparse = precision_recall(scaled[few], labels[few], CLASSES, cal["class_thresholds"], counts[few],
                                     cal.get("sparse"))
        assert (pr_sparse["car"]["precision"] >= 0.9) == sparse_ok, pr_sparse
    # the card's report judges each cluster by its band
    assert two["precision_recall"] == precision_recall(scaled, labels, CLASSES, two["class_thresholds"], counts,
                                                       two["sparse"])


def _mostly_sure(rng, n_sure, n_unsure, unsure_right):
    """Car labels: ``n_sure`` at scores 0.9-1 (all right) and ``n_unsure`` at 0.35-0.65, right with
    probability ``unsure_right``; the wrong ones are outliers. The class reaches 0.9 on average at
    threshold 0, carried by the sure labels."""
    score = np.r_[rng.uniform(0.9, 1.0, n_sure), rng.uniform(0.35, 0.65, n_unsure)]
    right = np.r_[np.ones(n_sure, bool), rng.random(n_unsure) < unsure_right]
    probs = np.column_stack([score, np.zeros_like(score), 1 - score])
    return probs, np.where(right, 0, -1)


def test_a_label_more_likely_wrong_than_right_is_not_given():
    rng = np.random.default_rng(2)
    probs, labels = _mostly_sure(rng, 3000, 300, 0.25)
    assert (labels == 0).mean() >= 0.9  # the average rule alone trusts every car label
    assert choose_thresholds(probs, labels, CLASSES, 0.9, 20, marginal_precision=0.0)["car"] == 0.0
    tau = choose_thresholds(probs, labels, CLASSES, 0.9, 20)["car"]
    assert 0.65 <= tau <= 0.9  # above every unsure label, which is right a quarter of the time
    # unsure labels that are right 80 % of the time stay: the rule does not cost recall where labels hold
    probs, labels = _mostly_sure(rng, 3000, 300, 0.8)
    assert choose_thresholds(probs, labels, CLASSES, 0.9, 20)["car"] <= 0.35


def test_marginal_threshold_follows_the_reliability_curve():
    rng = np.random.default_rng(3)
    score = rng.uniform(0, 1, 20000)
    right = rng.random(20000) < score  # a calibrated class: right with probability = score
    assert abs(marginal_threshold(score, right, 0.5) - 0.5) <= 0.05
    assert abs(marginal_threshold(score, right, 0.8) - 0.8) <= 0.05
    assert marginal_threshold(score, right, 0.0) == 0.0  # off
    assert marginal_threshold(score[:10], right[:10], 0.5, min_support=20) == 1.0  # too few to judge
    assert marginal_threshold(score, np.zeros(20000, bool), 0.5) == 1.0  # never right: never trusted


def test_calibrate_writes_the_marginal_rule_into_the_card():
    rng = np.random.default_rng(4)
    probs, labels = _mostly_sure(rng, 2000, 300, 0.25)
    logits = np.log(np.clip(probs, 1e-6, 1))
    on, off = (calibrate(logits, labels, CLASSES, 0.9, 20, marginal_precision=m) for m in (0.5, 0.0))
    assert on["marginal_precision"] == 0.5 and "right >= 50% of the time" in on["rule"]
    assert off["marginal_precision"] == 0.0 and "single label" not in off["rule"]
    assert on["class_thresholds"]["car"] > off["class_thresholds"]["car"]
    assert on["precision_recall"]["car"]["precision"] > off["precision_recall"]["car"]["precision"]


def test_road_users_get_their_own_stricter_target():
    """``road_user_precision``: the car threshold reaches the stricter target, vegetation keeps the base one,
    and the rule names the street factor it stands for."""
    rng = np.random.default_rng(5)
    probs, labels = _scores(rng, 6000, 0.5)
    veg_p, veg_y = _scores(rng, 6000, 0.5)
    veg_p[:, [0, 2]] = veg_p[:, [2, 0]]  # the same scores as vegetation labels, wrong ones on cars
    veg_y = np.where(veg_y == 0, 2, np.where(veg_y == 2, 0, -1))
    probs, labels = np.concatenate([probs, veg_p]), np.concatenate([labels, veg_y])
    logits = np.log(np.clip(probs, 1e-6, 1))
    base = calibrate(logits, labels, CLASSES, 0.9, 20, sparse_points=0, marginal_precision=0.0)
    strict = calibrate(logits, labels, CLASSES, 0.9, 20, sparse_points=0, marginal_precision=0.0,
                       road_user_precision=0.97)
    assert strict["class_thresholds"]["car"] > base["class_thresholds"]["car"]
    assert strict["precision_recall"]["car"]["precision"] >= 0.97 > base["precision_recall"]["car"]["precision"]
    assert strict["class_thresholds"]["vegetation"] == base["class_thresholds"]["vegetation"]
    assert strict["road_user_precision"] == 0.97 and "road_user_precision" not in base
    assert "97% for car, pedestrian: 3.6x fewer road users" in strict["rule"]
    with pytest.raises(ValueError, match="road_user_precision=1.0"):
        calibrate(logits, labels, CLASSES, 0.9, 20, road_user_precision=1.0)


def test_precision_lower_bound_is_the_exact_one_sided_bound():
    assert precision_lower_bound(99, 99, 0.95) == pytest.approx(0.05 ** (1 / 99))  # all right: 0.970
    assert precision_lower_bound(90, 100, 0.0) == 0.9  # 0: the measured ratio
    assert precision_lower_bound(0, 10, 0.9) == 0.0 and precision_lower_bound(0, 0, 0.9) == 0.0
    lo = [precision_lower_bound(90, 100, c) for c in (0.5, 0.75, 0.9, 0.95)]
    assert lo == sorted(lo, reverse=True) and 0.83 < lo[-1] < 0.85  # surer: lower


def test_confidence_keeps_small_sets_from_choosing_thresholds_too_low():
    """On 300 labels the lowest threshold whose measured precision passes is often below the one whose true
    precision does (the true one: from 400,000 labels of the same scores); held to the lower bound at 90 %
    confidence, the chosen threshold falls short far less often."""
    rng = np.random.default_rng(6)
    big_p, big_y = _scores(rng, 400_000, 0.5)
    order = np.argsort(-big_p[:, 0])
    right = np.cumsum(big_y[order] == 0) / np.arange(1, len(order) + 1)

    def true_precision(tau: float) -> float:
        return float(right[np.searchsorted(-big_p[order, 0], -tau, side="right") - 1])

    short = {0.0: 0, 0.9: 0}
    for _ in range(60):
        probs, labels = _scores(rng, 300, 0.5)
        for conf in short:
            tau = choose_thresholds(probs, labels, CLASSES, 0.9, 20, marginal_precision=0.0, confidence=conf)["car"]
            short[conf] += tau < 1.0 and true_precision(tau) < 0.9
    assert short[0.0] >= 20 and 3 * short[0.9] <= short[0.0], short  # 28 and 7 of 60


def test_calibrate_writes_the_confidence_into_the_card():
    rng = np.random.default_rng(7)
    probs, labels = _scores(rng, 2000, 0.5)
    logits = np.log(np.clip(probs, 1e-6, 1))
    plain = calibrate(logits, labels, CLASSES, 0.9, 20, sparse_points=0)
    sure = calibrate(logits, labels, CLASSES, 0.9, 20, sparse_points=0, confidence=0.9)
    assert sure["class_thresholds"]["car"] > plain["class_thresholds"]["car"]
    assert sure["confidence"] == 0.9 and "confidence" not in plain and "90% confidence" in sure["rule"]
    assert all("; ;" not in c["rule"] and "fits); 1.0 if never" in c["rule"].replace(
        "; the precision's exact lower bound at 90% confidence must reach the target", "") for c in (plain, sure))
    with pytest.raises(ValueError, match="confidence=1.0"):
        calibrate(logits, labels, CLASSES, 0.9, 20, confidence=1.0)
