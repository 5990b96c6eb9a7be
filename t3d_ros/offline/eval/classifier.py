"""``python -m t3d_ros eval``: accuracy, mean-class accuracy, confusion matrix, size, FLOPs, latency.

Accuracy is also given by range and by the number of returns (``by_range``, ``by_returns``): a far,
sparse cluster is a different problem from a near one, and a robot's planner needs to know from which
range on the labels thin out.

Takes a model card (evaluated as the node runs it: ``Classifier``, ONNX Runtime on the CPU by
default) or a training checkpoint (torch). With ``device`` "cuda" the accuracy is computed on the GPU
(inputs built by the CUDA sampling ops); the latency figures are always the CPU's. Datasets whose
class list differs from the model's are mapped by name; clusters of classes the model does not know,
and outliers (clusters no class fits), are left out and counted.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from t3d_ros.classify.models import count_flops, count_params
from t3d_ros.offline.data import load_data
from t3d_ros.offline.train.bundle import example_batch, load_checkpoint, load_weights, model_from_checkpoint
from t3d_ros.offline.train.calibrate import classifier_logits
from t3d_ros.offline.train.loop import accuracy, predict
from t3d_ros.offline.viz import save_figure


def confusion_png(path: str | Path, confusion: np.ndarray, classes: list[str], title: str) -> None:
    """Row-normalised confusion matrix (rows: truth) with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = np.asarray(confusion, dtype=float)
    norm = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if conf[i, j]:
                ax.text(j, i, f"{int(conf[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    save_figure(fig, path, quiet=True)


RANGE_BINS_M = (0.0, 10.0, 20.0, 35.0, 50.0, float("inf"))  # the realism report's bins
RETURN_BINS = (0, 30, 100, float("inf"))  # 30: where the calibrated thresholds split dense from sparse


def _bin_name(lo: float, hi: float, unit: str) -> str:
    return f"{lo:g}+ {unit}" if not np.isfinite(hi) else f"{lo:g}-{hi:g} {unit}"


def accuracy_by(logits: np.ndarray, labels: np.ndarray, classes: list[str], values: np.ndarray,
                edges: tuple[float, ...], unit: str) -> dict[str, dict]:
    """:func:`accuracy` of the clusters whose ``values`` (K,) fall in each bin [edges[i], edges[i+1]),
    without the confusion matrix: {"10-20 m": {"clusters", "accuracy", "mean_class_accuracy",
    "per_class": {class: recall}, "per_class_clusters": {class: count}}}. Empty bins are left out."""
    out: dict[str, dict] = {}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (values >= lo) & (values < hi)
        if not sel.any():
            continue
        acc = accuracy(logits[sel], labels[sel], len(classes))
        counts = np.bincount(labels[sel], minlength=len(classes))
        out[_bin_name(lo, hi, unit)] = {
            "clusters": int(sel.sum()),
            "accuracy": round(acc["accuracy"], 4),
            "mean_class_accuracy": round(acc["mean_class_accuracy"], 4),
            "per_class": {classes[k]: round(v, 4) for k, v in acc["per_class"].items()},
            "per_class_clusters": {classes[k]: int(n) for k, n in enumerate(counts) if n},
        }
    return out


def _latency_ms(fn, repeats: int = 20) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def evaluate(model_path: str | Path, sources: list[str], sim_seeds: int = 200, cache: str = "out/cache",
             png: str | Path | None = None, latency_batch: int = 64, device: str = "cpu",
             mirror: bool = False) -> dict:
    model_path = Path(model_path)
    dev = torch.device("cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    if model_path.suffix == ".json":
        from t3d_ros.classify.classifier import Classifier

        clf = Classifier(model_path, device=device)
        classes, spec = clf.classes, clf.spec
        net = _torch_of_card(clf.card, model_path)
        logits_of = lambda cs: classifier_logits(clf, cs.points, cs.offsets)  # noqa: E731
        runner = clf.description
    else:
        net, spec, classes = model_from_checkpoint(load_checkpoint(model_path))
        if hasattr(net, "export_base"):  # a NetAug supernet is judged as the tiny model it exports
            net = net.export_base().eval()
        gpu_net = net if dev.type == "cpu" else copy.deepcopy(net).to(dev)  # net: CPU latency below
        logits_of = lambda cs: predict(gpu_net, cs, spec, device=dev)  # noqa: E731
        runner = f"torch {dev.type}"
    torch.set_grad_enabled(False)
    batch = example_batch(spec, clusters=latency_batch, seed=1)
    report: dict = {
        "model": str(model_path),
        "runner": runner,
        "classes": classes,
        "params": count_params(net),
        "mflops_per_cluster": round(count_flops(net, batch), 3),
        "n_points": spec.n_points,
        f"cpu_ms_network_batch{latency_batch}": round(_latency_ms(lambda: net.eval()(*batch)), 3),
        "data": {},
    }
    rng = np.random.default_rng(2)
    sizes = rng.integers(10, 3000, latency_batch)
    pts = np.concatenate([rng.normal(size=(n, 4)).astype(np.float32) + [15, 3, -1, 0] for n in sizes])
    offs = np.r_[0, np.cumsum(sizes)]
    from t3d_ros.classify.inputs import make_inputs

    report[f"cpu_ms_sampling_batch{latency_batch}"] = round(_latency_ms(lambda: make_inputs(pts, offs, spec, "cpu")), 3)
    for i, source in enumerate(sources):
        cs = load_data(source, "test", sim_seeds, cache)
        # Map the dataset's class ids onto the model's by name.
        lut = np.array([classes.index(c) if c in classes else -1 for c in cs.class_names], dtype=np.int64)
        labels = lut[cs.labels] if len(cs) else np.zeros(0, np.int64)
        outliers = int(cs.outlier.sum())  # no class fits them: no label can be right (see `calibrate`)
        keep = np.flatnonzero((labels >= 0) & ~cs.outlier)
        left_out = len(labels) - len(keep) - outliers
        cs = cs.subset(keep)
        labels = labels[keep]
        logits = logits_of(cs) if len(cs) else np.zeros((0, len(classes)))
        acc = accuracy(logits, labels, len(classes))
        acc["per_class"] = {classes[k]: round(v, 4) for k, v in acc["per_class"].items()}
        acc["clusters"] = int(len(cs))
        acc["by_range"] = accuracy_by(logits, labels, classes, cs.ranges, RANGE_BINS_M, "m")
        acc["by_returns"] = accuracy_by(logits, labels, classes, cs.sizes, RETURN_BINS, "returns")
        acc["left_out_unknown_class"] = int(left_out)
        acc["left_out_outliers"] = outliers
        if mirror and len(cs):  # the same clusters mirrored (y -> -y): a street where traffic keeps left
            pts = cs.points.copy()
            pts[:, 1] = -pts[:, 1]
            mlogits = logits_of(dataclasses.replace(cs, points=pts))
            macc = accuracy(mlogits, labels, len(classes))
            acc["mirrored"] = {"accuracy": macc["accuracy"], "mean_class_accuracy": macc["mean_class_accuracy"],
                               "same_label": round(float(np.mean(mlogits.argmax(1) == logits.argmax(1))), 4)}
        report["data"][source] = acc
        if png and i == 0:
            confusion_png(png, np.array(acc["confusion"]), classes,
                          f"{model_path.stem} on {source}: acc {acc['accuracy']:.3f}, "
                          f"mean-class {acc['mean_class_accuracy']:.3f}")
    return report


def _torch_of_card(card: dict, path: Path) -> torch.nn.Module:
    from t3d_ros.classify.models import build_model

    spec = card["input_spec"]
    arch = card["architecture"]
    model = build_model(arch["name"], len(card["classes"]), spec.in_feats, spec.global_feats, **arch.get("config", {}))
    model.load_state_dict(load_weights(path.parent / card["files"]["weights"]))  # weights_only: runs no code
    return model.eval()
