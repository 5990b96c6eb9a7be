"""Classifiers for the throughput comparison: model bundles (``Classifier``) and training checkpoints
(torch, for a teacher that was never exported)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from t3d_ros.classify.inputs import make_inputs


class CheckpointClassifier:
    """A training checkpoint (``train``'s ``ckpt_best.pt``) run with torch, called like ``Classifier.logits``."""

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        import torch

        from t3d_ros.classify.models import count_flops, count_params
        from t3d_ros.offline.train.bundle import example_batch, load_checkpoint, model_from_checkpoint

        model, self.spec, self.classes = model_from_checkpoint(load_checkpoint(path))
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.params = count_params(model)
        self.mflops = count_flops(model.cpu(), example_batch(self.spec, clusters=4))
        self.model.to(self.device)
        self.description = f"torch {self.device.type} (checkpoint)"
        self.last_timings_ms: dict[str, float] = {}

    def logits(self, points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        import torch

        t0 = time.perf_counter()
        inputs = make_inputs(points, offsets, self.spec, backend="cpu")
        t1 = time.perf_counter()
        with torch.inference_mode():
            out = self.model(*[torch.from_numpy(a).to(self.device) for a in inputs.as_list()]).float().cpu().numpy()
        self.last_timings_ms = {"sample_group": (t1 - t0) * 1e3, "network": (time.perf_counter() - t1) * 1e3}
        return out


def load_model(path: str | Path, backend: str, device: str):
    """(classifier with ``logits`` and ``last_timings_ms``, params, MFLOPs per cluster) of a bundle
    card (.json) or a training checkpoint (torch only)."""
    from t3d_ros.classify.classifier import Classifier

    if Path(path).suffix == ".json":
        clf = Classifier(path, device=device, backend=backend, warn=lambda m: None)
        return clf, clf.card.get("params"), clf.card.get("mflops_per_cluster")
    if backend == "onnxruntime":
        raise ValueError("a training checkpoint runs with torch only; export it for ONNX Runtime")
    clf = CheckpointClassifier(path, "cuda" if device == "cuda" else "cpu")
    return clf, clf.params, round(clf.mflops, 3)


def gpu_name() -> str | None:
    """The GPU that torch sees, or None (then the GPU rows are skipped)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
