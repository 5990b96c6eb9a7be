"""The offline companion's commands: ``train``, ``export``, ``eval``, ``classify``.

Data sources (``--data``): see ``t3d_ros.offline.data.SOURCES_HELP``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from t3d_ros.offline.data import load_data


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    from t3d_ros.offline.train.loop import TrainConfig

    d = TrainConfig()
    p.add_argument("--model", default=d.model, help="pointnet2_ssg, pointnet2_msg, dgcnn, tiny, tiny_netaug")
    p.add_argument("--data", default="sim", help="data source (see the module help)")
    p.add_argument("--sim-seeds", type=int, default=200, help="simulated training frames per sensor")
    p.add_argument("--cache", default="out/cache", help="folder for cached datasets")
    p.add_argument("--workers", type=int, default=None,
                   help="processes preparing training batches (augmentation, sampling) per training process; "
                        f"0: in the training process (default {d.workers}); also the default of --data-workers")
    p.add_argument("--data-workers", type=int, default=None,
                   help="processes for building simulated data (default: --workers, else 2)")
    p.add_argument("--out", default=d.out, help="run folder: checkpoints, log.csv")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lr-step", type=int, default=d.lr_step)
    p.add_argument("--n-points", type=int, default=d.n_points, help="points per cluster")
    p.add_argument("--point-features", type=_csv, default=d.point_features, help="e.g. intensity,height")
    p.add_argument("--global-features", type=_csv, default=d.global_features,
                   help="comma list of extent,log_count,range ('' for none)")
    p.add_argument("--scale", default=d.scale, choices=("metric", "unit_sphere"),
                   help="cluster coordinates in metres (default) or rescaled to the unit sphere (ablation)")
    p.add_argument("--augment-strength", type=float, default=d.augment_strength)
    p.add_argument("--netaug", action="store_true", help="network augmentation (T3DNet stage 1)")
    p.add_argument("--teacher", default="", help="teacher checkpoint: distil from it (T3DNet stage 2)")
    p.add_argument("--kd-temperature", type=float, default=d.kd_temperature)
    p.add_argument("--kd-alpha", type=float, default=d.kd_alpha)
    p.add_argument("--kd-mode", choices=("online", "offline"), default=d.kd_mode,
                   help="online: the teacher sees every augmented batch; offline: its logits on the clean "
                        "training clusters, computed once (much faster on a CPU)")
    p.add_argument("--init", default="", help="checkpoint to start from (stage 2 starts from stage 1)")
    p.add_argument("--model-config", type=json.loads, default={}, help="JSON constructor arguments")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--epoch-clusters", type=int, default=0, help="clusters drawn per epoch (0: all)")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (smoke tests)")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if the run folder has a checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run_train(args: argparse.Namespace) -> int:
    from t3d_ros.offline.train.loop import TrainConfig, train

    cfg = TrainConfig(
        model=args.model, model_config=args.model_config, n_points=args.n_points,
        point_features=args.point_features, global_features=args.global_features, scale=args.scale,
        epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, lr_step=args.lr_step, augment_strength=args.augment_strength,
        netaug=args.netaug or args.model == "tiny_netaug", teacher=args.teacher,
        kd_temperature=args.kd_temperature, kd_alpha=args.kd_alpha, kd_mode=args.kd_mode,
        init=args.init, seed=args.seed,
        out=args.out, resume=not args.no_resume, max_steps=args.max_steps, epoch_clusters=args.epoch_clusters,
        progress=not args.quiet, **({} if args.workers is None else {"workers": args.workers}),
    )
    # --workers used to mean only the simulation processes: it still sets them unless --data-workers does.
    data_workers = next((w for w in (args.data_workers, args.workers) if w is not None), 2)
    t0 = time.time()
    train_set = load_data(args.data, "train", args.sim_seeds, args.cache, data_workers)
    val_set = load_data(args.data, "val", args.sim_seeds, args.cache, data_workers)
    print(f"data {args.data}: {len(train_set)} training / {len(val_set)} validation clusters "
          f"({time.time() - t0:.0f} s); classes {train_set.class_counts()}", file=sys.stderr)
    best = train(cfg, train_set, val_set)
    print(f"best checkpoint: {best}")
    return 0


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, default=Path("models"), help="folder for <name>.onnx/.pt/.json")
    p.add_argument("--name", default="t3d_tiny")
    p.add_argument("--metrics", type=Path, help="an eval JSON to store in the card")


def run_export(args: argparse.Namespace) -> int:
    from t3d_ros.offline.train.bundle import export_bundle

    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    card = export_bundle(args.checkpoint, args.out, args.name, metrics)
    print(f"wrote {card} (+ .onnx, .pt)")
    return 0


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="a model card (.json) or a training checkpoint (.pt)")
    p.add_argument("--data", action="append", default=None,
                   help="data source(s) to evaluate on (repeatable; default: sim)")
    p.add_argument("--sim-seeds", type=int, default=200)
    p.add_argument("--cache", default="out/cache")
    p.add_argument("--json", type=Path, help="write the metrics here")
    p.add_argument("--png", type=Path, help="confusion-matrix PNG (of the first data source)")
    p.add_argument("--latency-batch", type=int, default=64, help="clusters per call for the latency figure")


def run_eval(args: argparse.Namespace) -> int:
    from t3d_ros.offline.eval.classifier import evaluate

    report = evaluate(args.model, args.data or ["sim"], sim_seeds=args.sim_seeds, cache=args.cache,
                      png=args.png, latency_batch=args.latency_batch)
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


def add_classify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path, help="one object per file: .npy, .bin, .pcd, .csv")
    p.add_argument("--json", action="store_true", help="one JSON object per line (the only output format)")
    p.add_argument("--model", type=Path, default=None, help="model card; default: the shipped model")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def run_classify(args: argparse.Namespace) -> int:
    from t3d_ros.classify.classifier import SHIPPED_MODEL, Classifier
    from t3d_ros.io.frames import read_points

    clf = Classifier(args.model or SHIPPED_MODEL, args.device, warn=lambda m: print(m, file=sys.stderr))
    clouds = [read_points(f) for f in args.files]
    empty = [str(f) for f, c in zip(args.files, clouds, strict=True) if len(c) == 0]
    if empty:
        raise ValueError(f"no finite points in {', '.join(empty)}")
    offsets = np.r_[0, np.cumsum([len(c) for c in clouds])]
    labels, scores = clf(np.concatenate(clouds), offsets)
    for f, label, score in zip(args.files, labels, scores, strict=True):
        print(json.dumps({"file": str(f), "label": label, "score": round(float(score), 4)}))
    return 0
