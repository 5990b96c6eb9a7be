"""Calibrated scores and per-class thresholds: when may the node trust a label?

1. **Temperature scaling** (Guo et al., ICML 2017): one scalar T, fitted on held-out clusters by
   minimising the negative log-likelihood of softmax(logits / T). It changes no label, only how
   confident the scores are; the expected calibration error (ECE, 15 equal-width bins) is reported
   before and after.
2. **Class thresholds**, by a documented rule: for every class, the lowest score (on a 0.01 grid) at
   which the labels of that class on the threshold set are right at least ``target_precision`` of the
   time. The threshold set holds the validation clusters *and* outliers (ground remnants, merges of
   several objects, meta ``outlier``): any label on an outlier is wrong, so the rule also bounds how
   often the node names a class for something that is none. A class that never reaches the target
   gets threshold 1.0 (never trusted); ``min_support`` labels are needed to judge a threshold.
3. **No label that is more likely wrong than right.** The rule in 2 holds a class's labels to the
   target *on average*, and the confident ones carry the rest: on simulated validation data the
   shipped model's dense pedestrian labels scored 0.5-0.7 were right 22-30 % of the time while its
   pedestrian labels as a whole reached 0.90 at threshold 0. So each threshold is also at least the
   lowest score at which a label of that class is right ``marginal_precision`` (0.5) of the time:
   its reliability curve P(right | score), fitted per class by isotonic regression (monotone, so a
   few labels at low scores cannot make it jump). On data unlike the simulation (a real street), the
   unsure labels are the first to go wrong; this keeps them ``unknown``.
4. **Sparse clusters have their own thresholds.** A label's precision depends on how many returns the
   cluster has (on simulated validation data, car labels above the one-band threshold were right 67 %
   of the time below 20 returns and 95 % above 200): a single threshold per class reaches the target
   on average, carried by the dense clusters. So the rule is applied twice, to clusters with fewer than
   ``sparse_points`` returns and to the rest; a far or sparse object needs more confidence, a near,
   dense one less, and labels are right ``target_precision`` of the time at every range.
5. **Road users are rarer on a real street than in the simulation.** A label's precision depends on
   how often the class occurs among the clusters: with ``k`` times fewer road users per cluster, wrong
   labels on clutter come ``k`` times as often per right one, and precision p becomes
   p / (p + k (1 - p)). A simulated street holds about ten car clusters a frame at 20-45 m; the real
   residential street of the odometry frames far fewer, so its far `car` labels were mostly wrong while
   their simulated precision was 0.9 (docs/realism.md, "What the network compares real clusters
   with"). ``road_user_precision`` sets the road-user classes' own target: 0.97 on the simulation is
   0.9 on a street with 3.6x fewer road users per cluster. The clusters below it are still published,
   as ``unknown`` obstacles.
6. **Optionally, with confidence** (``confidence``, default 0: off). The thresholds above take the lowest
   score whose *measured* precision reaches the target; with few labels (a folder of your own clusters)
   that measure is noisy and the lowest threshold that happens to pass is too low. With ``confidence``
   c > 0 the exact lower bound of the precision at confidence c (Clopper-Pearson) must reach the
   target instead. Not used for the shipped card: fitted on one half of the simulated validation scenes
   and judged on the other, the measured-precision rule already held the road users' 0.97 (car 0.969,
   pedestrian 0.967, cyclist 0.984), and c = 0.75 cost a fifth of the pedestrian and two thirds of the
   cyclist recall (docs/classifier.md, "Open set", item 2).

Both are written into the model card's ``calibration`` section, which ``Classifier`` and
``Perception`` apply. Fitted on simulated validation data only, never on the frames a model is judged on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from t3d_ros.classes import ROAD_USERS
from t3d_ros.classify.postcheck import label_thresholds
from t3d_ros.offline.data import ClusterSet, with_classes


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits`` (K, C) / ``temperature``."""
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels under softmax(logits / T)."""
    p = softmax(logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(p, 1e-12)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature T in ``bounds`` that minimises the NLL of ``labels`` (K,) under ``logits`` (K, C)."""
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        return 1.0
    res = minimize_scalar(lambda lt: nll(logits, labels, float(np.exp(lt))), method="bounded",
                          bounds=(np.log(bounds[0]), np.log(bounds[1])), options={"xatol": 1e-4})
    return float(np.exp(res.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the |accuracy - confidence| of the top label, averaged over equal-width confidence bins
    weighted by their share of the clusters."""
    if len(labels) == 0:
        return float("nan")
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(right[m].mean() - conf[m].mean())
    return float(ece)


_GRID = np.round(np.arange(0.0, 1.0, 0.01), 2)  # the thresholds considered


def marginal_threshold(score: np.ndarray, right: np.ndarray, marginal_precision: float = 0.5,
                       min_support: int = 20) -> float:
    """The lowest score (0.01 grid) at which a label is right at least ``marginal_precision`` of the
    time: its reliability curve P(right | score), fitted to one class's labels (``score`` (K,),
    ``right`` (K,) bool) by isotonic regression. 0 when ``marginal_precision`` is 0; 1.0 if never
    reached, or with fewer than ``min_support`` labels to fit."""
    if marginal_precision <= 0:
        return 0.0
    if len(score) < min_support:
        return 1.0
    from sklearn.isotonic import IsotonicRegression

    curve = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, right.astype(np.float64))
    ok = curve.predict(_GRID) >= marginal_precision
    return float(_GRID[ok.argmax()]) if ok.any() else 1.0


def precision_lower_bound(right: int, labelled: int, confidence: float) -> float:
    """A one-sided lower bound on a precision measured as ``right`` of ``labelled``: the exact
    (Clopper-Pearson) bound that the true precision exceeds with probability ``confidence``; the plain
    ratio when ``confidence`` is 0."""
    if labelled == 0:
        return 0.0
    if confidence <= 0:
        return right / labelled
    if right == 0:
        return 0.0
    from scipy.stats import beta

    return float(beta.ppf(1.0 - confidence, right, labelled - right + 1))


def choose_thresholds(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                      target_precision: float | Mapping[str, float] = 0.9, min_support: int = 20,
                      marginal_precision: float = 0.5, confidence: float = 0.0) -> dict[str, float]:
    """Per class the lowest threshold (0.01 grid) whose labels reach ``target_precision`` (one for all
    classes, or per class name), raised to where a single label is right ``marginal_precision`` of the
    time (``marginal_threshold``). With ``confidence`` > 0 the precision that must reach the target is
    its lower bound at that confidence (``precision_lower_bound``), not the measured ratio.

    probs (K, C) calibrated; labels (K,) the true class index, or -1 for an outlier (no class: every
    label on it is wrong). A class with fewer than ``min_support`` labels above a threshold cannot be
    judged there; one that never reaches the target gets 1.0."""
    pred = probs.argmax(axis=1)
    score = probs.max(axis=1)
    out = {}
    for c, name in enumerate(classes):
        target = target_precision[name] if isinstance(target_precision, Mapping) else target_precision
        mine = pred == c
        out[name] = 1.0
        for tau in _GRID:
            sel = mine & (score >= tau)
            if sel.sum() < min_support:
                break
            if precision_lower_bound(int((labels[sel] == c).sum()), int(sel.sum()), confidence) >= target:
                out[name] = float(tau)
                break
        if out[name] < 1.0:
            out[name] = max(out[name], marginal_threshold(score[mine], labels[mine] == c, marginal_precision,
                                                          min_support))
    return out


def precision_recall(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                     thresholds: dict[str, float] | None = None, counts: np.ndarray | None = None,
                     sparse: dict | None = None) -> dict[str, dict]:
    """Per class: labels given (above its threshold, the sparse band's for clusters of fewer than
    ``sparse["below_points"]`` returns: the node's ``label_thresholds``), right, precision, recall of
    the class's clusters."""
    pred = probs.argmax(axis=1)
    score = probs.max(axis=1)
    below, sparse_table = (sparse["below_points"], sparse["class_thresholds"]) if sparse and counts is not None \
        else (0, None)
    tau = label_thresholds([classes[p] for p in pred], counts, thresholds or {}, below, sparse_table)
    out = {}
    for c, name in enumerate(classes):
        given = (pred == c) & (score >= tau)
        right = given & (labels == c)
        n_true = int((labels == c).sum())
        out[name] = {"labelled": int(given.sum()), "right": int(right.sum()),
                     "precision": round(float(right.sum() / given.sum()), 4) if given.any() else None,
                     "recall": round(float(right.sum() / n_true), 4) if n_true else None}
    return out


def _street_factor(strict: float, target: float) -> float:
    """How many times fewer road users (per cluster) than on the threshold set a street may hold for labels
    right ``strict`` of the time there to be right ``target`` of the time on it (module docstring, 5)."""
    return (strict / (1 - strict)) / (target / (1 - target))


SPARSE_POINTS = 30  # clusters with fewer returns get their own thresholds (about the median cluster)


def calibrate(logits: np.ndarray, labels: np.ndarray, classes: Sequence[str], target_precision: float = 0.9,
              min_support: int = 20, counts: np.ndarray | None = None, sparse_points: int = SPARSE_POINTS,
              marginal_precision: float = 0.5, road_user_precision: float | None = None,
              confidence: float = 0.0) -> dict:
    """Temperature (fitted on the clusters that have a class) and thresholds (on all, outliers
    included: ``labels`` -1), with ECE and per-class precision/recall before and after: the card's
    ``calibration`` section. With ``counts`` (K,) returns per cluster and ``sparse_points`` > 0, the
    thresholds are chosen separately for clusters with fewer returns (``sparse`` section) and for the
    rest (``class_thresholds``). ``road_user_precision`` (None: ``target_precision``) is the target of
    the road-user classes (module docstring, 5); ``confidence`` > 0 holds the precision's lower bound at
    that confidence to the targets (6)."""
    if not 0.0 <= confidence < 1.0:
        raise ValueError(f"confidence={confidence}: must lie in [0, 1) (0: the measured precision)")
    targets: float | dict[str, float] = target_precision
    if road_user_precision is not None:
        if not 0.0 < road_user_precision < 1.0:
            raise ValueError(f"road_user_precision={road_user_precision}: must lie between 0 and 1 (exclusive)")
        targets = {c: road_user_precision if c in ROAD_USERS else target_precision for c in classes}
    labels = np.asarray(labels, np.int64)
    known = labels >= 0
    t = fit_temperature(logits[known], labels[known])
    before, after = softmax(logits[known]), softmax(logits[known], t)
    probs = softmax(logits, t)
    sparse = None
    if counts is not None and sparse_points > 0:
        few = np.asarray(counts) < sparse_points
        thresholds = choose_thresholds(probs[~few], labels[~few], classes, targets, min_support, marginal_precision,
                                       confidence)
        sparse = {"below_points": int(sparse_points),
                  "class_thresholds": choose_thresholds(probs[few], labels[few], classes, targets, min_support,
                                                        marginal_precision, confidence)}
    else:
        thresholds = choose_thresholds(probs, labels, classes, targets, min_support, marginal_precision,
                                       confidence)
    band = (f"; chosen apart for clusters with fewer than {sparse_points} returns (sparse.class_thresholds) "
            f"and for the rest (class_thresholds)" if sparse else "")
    return {
        "temperature": round(t, 4),
        "class_thresholds": thresholds,
        **({"sparse": sparse} if sparse else {}),
        "rule": (f"per class the lowest score (0.01 grid) at which >= {target_precision:.0%} of its labels are "
                 + (f"right ({road_user_precision:.0%} for {', '.join(c for c in classes if c in ROAD_USERS)}: "
                    f"{_street_factor(road_user_precision, target_precision):.1f}x fewer road users than the "
                    f"simulation still give {target_precision:.0%}) " if road_user_precision is not None else "right ")
                 + "on the threshold set (validation clusters + outliers, which no label fits)"
                 + (f"; the precision's exact lower bound at {confidence:.0%} confidence must reach the target"
                    if confidence > 0 else "")
                 + f"; 1.0 if never (at least {min_support} labels to judge)"
                 + (f"; raised to the lowest score at which a single label of the class is right >= "
                    f"{marginal_precision:.0%} of the time (isotonic fit of its reliability curve)"
                    if marginal_precision > 0 else "") + band),
        "marginal_precision": marginal_precision,
        **({"road_user_precision": road_user_precision} if road_user_precision is not None else {}),
        **({"confidence": confidence} if confidence > 0 else {}),
        "ece_before": round(expected_calibration_error(before, labels[known]), 4),
        "ece_after": round(expected_calibration_error(after, labels[known]), 4),
        "nll_before": round(nll(logits[known], labels[known]), 4),
        "nll_after": round(nll(logits[known], labels[known], t), 4),
        "clusters": int(known.sum()),
        "outliers": int((~known).sum()),
        "precision_recall": precision_recall(probs, labels, classes, thresholds, counts, sparse),
        "precision_recall_without_thresholds": precision_recall(probs, labels, classes),
    }


def write_calibration(card_path: str | Path, calibration: dict) -> Path:
    """Store ``calibration`` in the model card at ``card_path`` (its ``calibration`` section)."""
    path = Path(card_path)
    card = json.loads(path.read_text())
    card["calibration"] = calibration
    path.write_text(json.dumps(card, indent=1) + "\n")
    return path


def bundle_logits(card_path: str | Path, points: np.ndarray, offsets: np.ndarray, chunk: int = 512) -> np.ndarray:
    """(K, C) raw logits of K packed clusters from the bundle run as the node runs it (``Classifier``,
    CPU), ``chunk`` clusters per call."""
    from t3d_ros.classify.classifier import Classifier

    return classifier_logits(Classifier(card_path, device="cpu"), points, offsets, chunk)


def classifier_logits(clf, points: np.ndarray, offsets: np.ndarray, chunk: int = 512) -> np.ndarray:
    """(K, C) raw logits of K packed clusters from a ``Classifier``, ``chunk`` clusters per call: one
    call on a whole data set keeps its activations (GBs) in ONNX Runtime's arena while the session lives."""
    out = []
    for i in range(0, len(offsets) - 1, chunk):
        offs = offsets[i:i + chunk + 1]
        out.append(clf.logits(points[offs[0]:offs[-1]], offs - offs[0]))
    return np.concatenate(out) if out else np.zeros((0, len(clf.classes)), np.float32)


def calibrate_bundle(card_path: str | Path, cs: ClusterSet, target_precision: float = 0.9, min_support: int = 20,
                     data: str = "", sparse_points: int = SPARSE_POINTS, marginal_precision: float = 0.5,
                     road_user_precision: float | None = None, confidence: float = 0.0) -> dict:
    """Calibrate the bundle at ``card_path`` on the ClusterSet ``cs`` (validation clusters, outliers
    included): temperature and class thresholds (two bands, see ``calibrate``) written into its card;
    returns the section."""
    classes = json.loads(Path(card_path).read_text())["classes"]
    cs = with_classes(cs, classes, data or "calibration data")
    labels = np.where(cs.outlier, -1, cs.labels)
    cal = calibrate(bundle_logits(card_path, cs.points, cs.offsets), labels, classes, target_precision, min_support,
                    np.diff(cs.offsets), sparse_points, marginal_precision, road_user_precision, confidence)
    cal = {**cal, "data": data, "target_precision": target_precision, "min_support": min_support}
    write_calibration(card_path, cal)
    return cal


def format_calibration(cal: dict) -> str:
    """A readable report: ECE before/after and per class precision/recall with and without thresholds."""
    pr, raw = cal["precision_recall"], cal["precision_recall_without_thresholds"]
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"temperature {cal['temperature']}: ECE {cal['ece_before']} -> {cal['ece_after']}, "
             f"NLL {cal['nll_before']} -> {cal['nll_after']} ({cal['clusters']} clusters, {cal['outliers']} outliers)",
             f"{'':22}{'without thresholds':>19}{'with thresholds':>19}",
             f"{'class':<12}{'threshold':>10}" + f"{'precision':>11}{'recall':>8}" * 2]
    sparse = cal.get("sparse")
    for name, tau in cal["class_thresholds"].items():
        shown = f"{tau:.2f}" if not sparse else f"{tau:.2f}/{sparse['class_thresholds'][name]:.2f}"
        lines.append(f"{name:<12}{shown:>10}{f(raw[name]['precision']):>11}{f(raw[name]['recall']):>8}"
                     f"{f(pr[name]['precision']):>11}{f(pr[name]['recall']):>8}")
    if sparse:
        lines.append(f"thresholds: clusters with >= {sparse['below_points']} returns / fewer")
    return "\n".join(lines)
