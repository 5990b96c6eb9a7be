"""One frame in, labelled detections out: the core that the node and the CLI share.

``Perception.process`` runs the segmentation pipeline, classifies the clusters (when a classifier
is configured; otherwise every cluster is ``unknown`` with score 1.0, the clustering-only mode of
Autoware-style nodes) and returns ``Detection`` objects with per-stage timings.

The model may not know: a label whose (calibrated) score is below its class threshold (the model
card's ``class_thresholds``, chosen on simulated validation data, or the node's own) or whose box
cannot hold an object of that class, or a road-user label on a cluster that floats above the ground
(``classify/postcheck.py``), becomes ``unknown``. The cluster is always published, with the network's
guess and the reason, and every detection carries its clearance above the local ground.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from t3d_ros.classes import UNKNOWN
from t3d_ros.classify.classifier import BACKENDS, DEVICES, SHIPPED_MODEL, Classifier, ModelError
from t3d_ros.classify.postcheck import SIZE_LIMITS, label_thresholds, size_check
from t3d_ros.config import as_bool, pipeline_config
from t3d_ros.detection import Detection
from t3d_ros.segment.ground import cluster_ground_gap
from t3d_ros.segment.pipeline import Pipeline, PipelineConfig, Segmentation

N_HYPOTHESES = 3  # classes per detection in Detection.hypotheses (the best and two runners-up)


class ClusterClassifier(Protocol):
    """Labels packed clusters: ``(points (sum, C), offsets (K+1,)) -> (labels [K], scores (K,))``.
    ``Classifier`` also has ``probabilities`` ((K, classes) calibrated) and ``classes``, which give
    every detection its runners-up."""

    def __call__(self, points: np.ndarray, offsets: np.ndarray) -> tuple[list[str], np.ndarray]: ...


@dataclass
class FrameResult:
    detections: list[Detection]
    segmentation: Segmentation
    timings_ms: dict[str, float]


class Perception:
    """Segmentation + classification of one cloud, configured once, called per frame."""

    def __init__(
        self,
        config: PipelineConfig,
        classifier: ClusterClassifier | None = None,
        score_threshold: float = 0.0,
        class_thresholds: Mapping[str, float] | None = None,
        check_sizes: bool = True,
        sparse_points: int = 0,
        sparse_thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.pipeline = Pipeline(config)  # validates
        self.classifier = classifier
        self.score_threshold = score_threshold  # floor for every class
        self.class_thresholds = dict(class_thresholds or {})  # per class, on top of the floor
        # clusters with fewer than sparse_points returns: these per-class thresholds instead
        self.sparse_points = int(sparse_points)
        self.sparse_thresholds = dict(sparse_thresholds or {})
        self.check_sizes = check_sizes
        self.size_limits = dict(SIZE_LIMITS)  # per class; classify/postcheck.py

    def set_thresholds(self, text: str) -> None:
        """Apply the ``class_thresholds`` parameter: '' = the model card's calibrated thresholds (with
        its own thresholds for sparse clusters); 'car:0.8,...' = these for every cluster, none for the
        classes not named. ``ValueError`` on a bad entry."""
        clf = self.classifier
        if clf is None:
            return
        if text:
            self.class_thresholds = parse_class_thresholds(text, clf.classes)
            self.sparse_points, self.sparse_thresholds = 0, {}
        else:
            self.class_thresholds = dict(getattr(clf, "class_thresholds", {}))
            self.sparse_points = int(getattr(clf, "sparse_points", 0))
            self.sparse_thresholds = dict(getattr(clf, "sparse_thresholds", {}))

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, model: str | None = None, device: str | None = None,
                    warn: Callable[[str], None] = print) -> Perception:
        """The Perception that the node builds from its parameters (or a params file's, or none: the
        defaults). ``model`` and ``device`` override ``model_path`` and ``device`` (``model=''``:
        clustering only). Raises ``ValueError`` / ``ModelError`` with one clear line on bad settings."""
        model = params.get("model_path", SHIPPED_MODEL) if model is None else model
        device = params.get("device", "auto") if device is None else device
        backend = params.get("backend", "auto")
        if device not in DEVICES or backend not in BACKENDS:
            raise ModelError(f"device={device!r} / backend={backend!r}: choose device from {', '.join(DEVICES)} "
                             f"and backend from {', '.join(BACKENDS)}")
        classifier = Classifier(model, device, backend, warn=warn) if model else None
        perception = cls(pipeline_config(params), classifier, float(params.get("score_threshold", 0.0)),
                         check_sizes=as_bool("size_check", params.get("size_check", True)))
        perception.set_thresholds(str(params.get("class_thresholds", "") or ""))
        perception.pipeline.warmup()  # the classifier warmed up when it loaded
        return perception

    @property
    def mode(self) -> str:
        """What labels the clusters, in words (for logs and diagnostics)."""
        if self.classifier is None:
            return "clustering only"
        card = getattr(self.classifier, "card", {})
        return f"classifier {card.get('name', '?')} ({getattr(self.classifier, 'description', '')})"

    @property
    def config(self) -> PipelineConfig:
        return self.pipeline.config

    @config.setter
    def config(self, config: PipelineConfig) -> None:
        self.pipeline = Pipeline(config)

    def label_clusters(self, points: np.ndarray, offsets: np.ndarray, sizes: np.ndarray,
                       ground_gaps: np.ndarray | None = None
                       ) -> tuple[list, list[str], np.ndarray, list[str], list[str]]:
        """The node's decision for K packed clusters: ``points`` (sum, C) float32, ``offsets`` (K+1,),
        ``sizes`` (K, 3) their boxes' length, width, height (m), ``ground_gaps`` (K,) each one's lowest
        return above the local ground (m; None or NaN: not known, the ground check is skipped).

        Returns per cluster the network's hypotheses (best first), its guess, the guess's score, the
        label (the guess, or ``unknown`` when the score is under its class threshold or the size and
        ground checks refuse it) and the reason ('' when the label is the guess). Without a classifier
        every cluster is ``unknown`` with score 1.0 and no reason."""
        k = len(offsets) - 1
        reasons = [""] * k
        if self.classifier is None or k == 0:
            return [()] * k, [UNKNOWN] * k, np.ones(k, dtype=np.float32), [UNKNOWN] * k, reasons
        counts = np.diff(offsets).tolist()
        hypotheses = _hypotheses(self.classifier, points, offsets)
        guesses = [h[0][0] for h in hypotheses]
        scores = np.array([h[0][1] for h in hypotheses], dtype=np.float32)
        floors = np.maximum(self.score_threshold, label_thresholds(
            guesses, counts, self.class_thresholds, self.sparse_points, self.sparse_thresholds)).tolist()
        for i, (lab, s, floor) in enumerate(zip(guesses, scores, floors, strict=True)):
            if s < floor:
                band = f" for clusters under {self.sparse_points} returns" if counts[i] < self.sparse_points else ""
                reasons[i] = f"score {s:.3f} below the {lab} threshold {floor:.2f}{band}"
        if self.check_sizes:
            for i, why in enumerate(size_check(guesses, sizes, self.size_limits, ground_gaps)):
                reasons[i] = reasons[i] or why
        labels = [UNKNOWN if why else lab for lab, why in zip(guesses, reasons, strict=True)]
        return hypotheses, guesses, scores, labels, reasons

    def process(self, points: np.ndarray) -> FrameResult:
        """``points``: (N, C>=3) float32 x, y, z[, intensity]. Never drops a cluster: a cluster whose
        label the model does not trust (score below its threshold, implausible size) is reported as
        ``unknown`` with the network's guess, its score and the reason."""
        seg = self.pipeline(points)
        timings = dict(seg.timings_ms)
        k = len(seg.boxes)
        t0 = time.perf_counter()
        counts = np.diff(seg.cluster_offsets).tolist()
        # every detection's clearance, and the ground check's input (~0.5 ms a frame)
        gaps = cluster_ground_gap(seg.points.take(np.flatnonzero(seg.ground), axis=0), seg.cluster_points,
                                  seg.cluster_offsets) if k else np.zeros(0, np.float32)
        hypotheses, guesses, scores, labels, reasons = self.label_clusters(
            seg.cluster_points, seg.cluster_offsets, seg.boxes[:, 3:6], gaps)
        timings["classify"] = (time.perf_counter() - t0) * 1e3
        # One float64 copy of all boxes, a row view of it per detection: 2.5x cheaper than two small
        # casts per detection (same values).
        boxes = seg.boxes.astype(np.float64)
        centers, sizes, yaws = list(boxes[:, :3]), list(boxes[:, 3:6]), boxes[:, 6].tolist()
        score_list = np.asarray(scores, np.float64).tolist()
        clearances = gaps.astype(np.float64).tolist()
        detections = [
            Detection(
                label=labels[i],
                score=score_list[i],
                center=centers[i],
                size=sizes[i],
                yaw=yaws[i],
                num_points=counts[i],
                guess=guesses[i] if reasons[i] else "",
                unknown_reason=reasons[i],
                hypotheses=hypotheses[i],
                clearance=clearances[i],
            )
            for i in range(k)
        ]
        return FrameResult(detections, seg, timings)


def reuse_freed_memory() -> bool:
    """Keep freed per-frame buffers in this process's heap (glibc ``mallopt``) instead of returning them
    to the kernel: a frame allocates a few dozen 0.1-3 MB arrays, and by default glibc maps each one
    fresh and unmaps it when freed, so every frame paid the page faults again (~2 ms a frame on the
    development VM, where a fault is costly). A process-wide setting, so the process owners call it (the
    node, ``detect``), not ``Perception.from_params``;
    ``T3D_ROS_REUSE_FREED_MEMORY=0`` leaves glibc's defaults. True when the settings took effect."""
    import ctypes
    import os
    import sys

    if os.environ.get("T3D_ROS_REUSE_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl): its allocator has no such settings
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    # Blocks under 64 MiB come from the heap; up to 256 MiB of free heap is kept for reuse.
    return bool(libc.mallopt(m_mmap_threshold, 64 << 20)) and bool(libc.mallopt(m_trim_threshold, 256 << 20))


def with_tracks(detections: Sequence[Detection], tracked: Sequence) -> list[Detection]:
    """``detections`` as their tracks see them (``tracked``: one ``TrackedObject`` per detection, in
    order): a detection of a confirmed track gets the track's id, velocity, label and score (the
    label voted over the track's frames, so it does not flicker; this frame's label stays in
    ``frame_label`` when it differs); a detection of a tentative track is left as it is. A class the
    track has carried in too few frames (``TrackedObject.withheld``, the tracker's ``min_label_hits``) is
    published as ``unknown`` with that class as the guess, tentative track or not."""
    out = []
    for det, t in zip(detections, tracked, strict=True):
        frame, withheld = det.label, getattr(t, "withheld", "")
        if withheld:
            why = f"{withheld} in too few frames of its track yet (track_min_label_hits)"
            det = dataclasses.replace(det, label=UNKNOWN, guess=withheld, unknown_reason=why)
        if t.track_id <= 0:
            out.append(dataclasses.replace(det, frame_label=frame) if det.label != frame else det)
            continue
        out.append(dataclasses.replace(det, label=t.label, score=float(t.score), track_id=int(t.track_id),
                                       velocity=np.asarray(t.velocity, dtype=np.float64),
                                       frame_label=frame if frame != t.label else ""))
    return out


def _hypotheses(classifier: ClusterClassifier, points: np.ndarray, offsets: np.ndarray
                ) -> list[tuple[tuple[str, float], ...]]:
    """Per cluster the N_HYPOTHESES best (class, probability), best first; a classifier without
    ``probabilities`` gives its one label and score."""
    if not hasattr(classifier, "probabilities"):
        labels, scores = classifier(points, offsets)
        return [((lab, float(s)),) for lab, s in zip(labels, scores, strict=True)]
    probs = classifier.probabilities(points, offsets)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :N_HYPOTHESES]
    classes = classifier.classes
    return [tuple((classes[j], float(p[j])) for j in row) for p, row in zip(probs, order, strict=True)]


def parse_class_thresholds(text: str, classes: Sequence[str]) -> dict[str, float]:
    """``"car:0.8, pedestrian:0.7"`` -> ``{"car": 0.8, "pedestrian": 0.7}``; ``ValueError`` naming the
    bad entry (an unknown class, a value outside [0, 1])."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = item.partition(":")
        name = name.strip()
        try:
            v = float(value) if sep else float("nan")
        except ValueError:
            v = float("nan")
        if name not in classes or not 0.0 <= v <= 1.0:
            raise ValueError(f"class_thresholds={text!r}: {item!r} must be <class>:<score in [0, 1]> with a class "
                             f"of the model ({', '.join(classes)})")
        out[name] = v
    return out
