"""Adapt a model bundle to the user's sensor from unlabelled recordings.

- **AdaBN** (Li et al., 2016, "Revisiting batch normalization for practical domain adaptation"):
  every BatchNorm layer's running mean and variance are re-estimated on the target clusters; the
  weights stay as they are. The features a layer passes on are then normalised by the target's own
  statistics, which absorbs much of a change of sensor (density, noise, mounting height).
- **pseudo-labels** (optional, after AdaBN): the target clusters that the adapted model labels with a
  calibrated score >= the threshold get that label; the model is fine-tuned a few epochs on them
  mixed with simulated data (the target clusters weighted up), then AdaBN once more on the target.

The result is a new bundle whose card says ``adapted_from``, the method and the number of target
clusters. No label of the target is ever read, so no metric can be measured here: evaluate the
bundle on labelled frames (``eval``, ``python -m t3d_ros.bench.adaptation``). The card's calibration
is carried over from the source bundle (fitted before adaptation; it says so).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from torch import nn

from t3d_ros.classify.inputs import InputSpec
from t3d_ros.classify.models import recalibrate_bn
from t3d_ros.offline.data import ClusterSet, combine
from t3d_ros.offline.data.clusterset import intensity01
from t3d_ros.offline.train.bundle import (
    CHECKPOINT_KEYS,
    export_bundle,
    load_checkpoint,
    load_model_source,
    model_from_checkpoint,
    save_checkpoint,
)
from t3d_ros.offline.train.calibrate import softmax
from t3d_ros.offline.train.loader import batch_inputs
from t3d_ros.offline.train.loop import TrainConfig, predict, train


def target_clusters(source: str, classes: tuple[str, ...], min_points: int = 10) -> ClusterSet:
    """The unlabelled clusters of ``source`` (labels 0, meaningless):

    ``folder:DIR``: every cluster file under DIR (``unsorted/`` and class folders alike);
    ``frames:PATH``: the frames or bags of PATH segmented by the node's pipeline, clusters with at
    least ``min_points`` points. Intensities are scaled to [0, 1] as in the training data."""
    from t3d_ros.io.frames import SUFFIXES, iter_frames, read_points

    kind, _, root = source.partition(":")
    clusters, frames = [], []
    if kind == "folder":
        files = sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                       and not p.name.startswith("."))
        clusters = [c for c in (read_points(p) for p in files) if len(c)]
        frames = list(range(len(clusters)))
    elif kind == "frames":
        from t3d_ros.segment.pipeline import Pipeline

        pipeline = Pipeline()  # the node's defaults: the clusters it will classify
        for i, (_, points) in enumerate(iter_frames([Path(root)])):
            seg = pipeline(points)
            for k in range(seg.num_clusters):
                if len(seg.cluster(k)) >= min_points:
                    clusters.append(seg.cluster(k))
                    frames.append(i)
    else:
        raise ValueError(f"adapt: data source {source!r} must be folder:DIR or frames:PATH")
    padded = []
    for c in clusters:  # (n, >=3) -> (n, 4), no intensity -> 0
        p = np.zeros((len(c), 4), np.float32)
        p[:, :min(4, c.shape[1])] = c[:, :4]
        padded.append(intensity01(p))
    if len(padded) < 2:
        raise ValueError(f"adapt: {source} has {len(padded)} cluster(s); AdaBN needs at least 2")
    return ClusterSet.from_list(padded, np.zeros(len(padded), np.int64), classes, source=source,
                                sensor="target", frame=frames)


def adabn(model: nn.Module, spec: InputSpec, cs: ClusterSet, batch_size: int = 64, seed: int = 0) -> nn.Module:
    """``model`` with every BatchNorm's running statistics re-estimated on the clusters of ``cs``
    (shuffled, in batches of about ``batch_size``, never a batch of one); in eval mode."""
    order = np.random.default_rng(seed).permutation(len(cs))
    parts = np.array_split(order, max(len(cs) // batch_size, 1))
    return recalibrate_bn(model, (batch_inputs([cs.cluster(i) for i in p], spec) for p in parts)).eval()


def adapt(card_path: str | Path, target: ClusterSet, out_dir: str | Path, name: str, target_name: str,
          pseudo_threshold: float | None = None, mix: ClusterSet | None = None, target_weight: float = 5.0,
          train_config: TrainConfig | None = None) -> Path:
    """AdaBN on ``target`` (and, with ``pseudo_threshold``, fine-tuning on its confidently labelled
    clusters mixed with ``mix``); writes ``<out_dir>/<name>.{onnx,pt,json}`` and returns the card."""
    from t3d_ros.classify.classifier import load_card

    card = load_card(card_path)
    source = load_model_source(card_path)
    model, spec, classes = model_from_checkpoint(source)
    work = Path(out_dir) / f"{name}_work"
    work.mkdir(parents=True, exist_ok=True)
    info: dict = {"method": "adabn", "target": target_name, "target_clusters": len(target)}

    def checkpoint(model: nn.Module, path: Path, training: dict | None = None) -> Path:
        return save_checkpoint({**{k: source[k] for k in (*CHECKPOINT_KEYS, "model_config") if k in source},
                                **(training or {}), "state_dict": model.state_dict(), "metrics": {}}, path)

    model = adabn(model, spec, target)
    ckpt = checkpoint(model, work / "adabn.pt")
    if pseudo_threshold is not None:
        if mix is None:
            raise ValueError("pseudo-labels: give the data to mix them with (e.g. sim)")
        probs = softmax(predict(model, target, spec), card.get("calibration", {}).get("temperature", 1.0))
        sure = probs.max(axis=1) >= pseudo_threshold
        if not sure.any():
            raise ValueError(f"pseudo-labels: no target cluster has a score >= {pseudo_threshold}")
        labelled = target.subset(sure)
        labelled.labels = probs.argmax(axis=1)[sure]
        cfg = dataclasses.replace(train_config or TrainConfig(lr=2e-4, epochs=3, lr_step=5), finetune=str(ckpt),
                                  init="", teacher="", out=str(work / "finetune"), resume=False,
                                  source_weights={"target": target_weight})
        train(cfg, combine([mix, labelled], ["mix", "target"], classes))
        tuned = load_checkpoint(work / "finetune" / "ckpt_last.pt")
        model, _, _ = model_from_checkpoint(tuned)
        # the fine-tuned BN statistics are those of the mix: the target's own again (AdaBN)
        training = {k: tuned[k] for k in ("train_config", "command", "data_summary") if k in tuned}
        ckpt = checkpoint(adabn(model, spec, target), work / "adapted.pt", training)
        info.update(method="adabn+pseudo-labels", pseudo_threshold=pseudo_threshold,
                    pseudo_labelled=labelled.class_counts(), mixed_with=len(mix), target_weight=target_weight)
    extra = {"adapted_from": str(card["path"]), "adaptation": info}
    if "calibration" in card:
        extra["calibration"] = {**card["calibration"], "note": f"carried over from {card['path']}: fitted before "
                                "adaptation, on simulated data"}
    return export_bundle(ckpt, out_dir, name, metrics={}, extra=extra)
