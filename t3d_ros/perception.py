"""One frame in, labelled detections out: the core that the node and the CLI share.

``Perception.process`` runs the segmentation pipeline, classifies the clusters (when a classifier
is configured; otherwise every cluster is ``unknown`` with score 1.0, the clustering-only mode of
Autoware-style nodes) and returns ``Detection`` objects with per-stage timings.

The model may not know: a label whose (calibrated) score is below its class threshold (the model
card's ``class_thresholds``, chosen on simulated validation data, or the node's own) or whose box
cannot hold an object of that class (``classify/postcheck.py``) becomes ``unknown``. The cluster is
always published, with the network's guess and the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from t3d_ros.classes import UNKNOWN
from t3d_ros.classify.classifier import BACKENDS, DEVICES, SHIPPED_MODEL, Classifier, ModelError
from t3d_ros.classify.postcheck import size_check
from t3d_ros.config import pipeline_config
from t3d_ros.detection import Detection
from t3d_ros.segment.pipeline import Pipeline, PipelineConfig, Segmentation


class ClusterClassifier(Protocol):
    """Labels packed clusters: ``(points (sum, C), offsets (K+1,)) -> (labels [K], scores (K,))``."""

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
    ) -> None:
        self.pipeline = Pipeline(config)  # validates
        self.classifier = classifier
        self.score_threshold = score_threshold  # floor for every class
        self.class_thresholds = dict(class_thresholds or {})  # per class, on top of the floor
        self.check_sizes = check_sizes

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
        thresholds = {}
        if classifier is not None:
            text = str(params.get("class_thresholds", "") or "")
            thresholds = parse_class_thresholds(text, classifier.classes) if text else classifier.class_thresholds
        return cls(pipeline_config(params), classifier, float(params.get("score_threshold", 0.0)), thresholds,
                   bool(params.get("size_check", True)))

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

    def process(self, points: np.ndarray) -> FrameResult:
        """``points``: (N, C>=3) float32 x, y, z[, intensity]. Never drops a cluster: a cluster whose
        label the model does not trust (score below its threshold, implausible size) is reported as
        ``unknown`` with the network's guess, its score and the reason."""
        seg = self.pipeline(points)
        timings = dict(seg.timings_ms)
        k = len(seg.boxes)
        t0 = time.perf_counter()
        reasons = [""] * k
        if self.classifier is not None and k:
            guesses, scores = self.classifier(seg.cluster_points, seg.cluster_offsets)
            for i, (lab, s) in enumerate(zip(guesses, scores, strict=True)):
                floor = max(self.score_threshold, self.class_thresholds.get(lab, 0.0))
                if s < floor:
                    reasons[i] = f"score {s:.3f} below the {lab} threshold {floor:.2f}"
            if self.check_sizes:
                for i, why in enumerate(size_check(guesses, seg.boxes[:, 3:6])):
                    reasons[i] = reasons[i] or why
            labels = [UNKNOWN if why else lab for lab, why in zip(guesses, reasons, strict=True)]
        else:
            guesses, labels, scores = [UNKNOWN] * k, [UNKNOWN] * k, np.ones(k, dtype=np.float32)
        timings["classify"] = (time.perf_counter() - t0) * 1e3
        counts = np.diff(seg.cluster_offsets)
        detections = [
            Detection(
                label=labels[i],
                score=float(scores[i]),
                center=seg.boxes[i, :3].astype(np.float64),
                size=seg.boxes[i, 3:6].astype(np.float64),
                yaw=float(seg.boxes[i, 6]),
                num_points=int(counts[i]),
                guess=guesses[i] if reasons[i] else "",
                unknown_reason=reasons[i],
            )
            for i in range(k)
        ]
        return FrameResult(detections, seg, timings)


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
