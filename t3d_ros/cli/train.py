"""The offline companion's commands: ``train``, ``export``, ``eval``, ``classify``, ``calibrate``, ``adapt``.

Data sources (``--data``): see ``t3d_ros.offline.data.SOURCES_HELP``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from t3d_ros.offline.data import load_data


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


def _source_weight(text: str) -> tuple[str, float]:
    name, sep, weight = text.rpartition("=")
    try:
        if sep and name:
            return name, float(weight)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r}: expected SOURCE=WEIGHT, e.g. folder=5")


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sim-seeds", type=int, default=200, help="simulated training frames per sensor")
    p.add_argument("--cache", default="out/cache", help="folder for cached datasets")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    from t3d_ros.classify.inputs import FRAMES, STARTS
    from t3d_ros.offline.train.loop import FINETUNE_DEFAULTS, TrainConfig

    d, f = TrainConfig(), FINETUNE_DEFAULTS
    p.add_argument("--model", default=d.model, help="pointnet2_ssg, pointnet2_msg, dgcnn, tiny, tiny_netaug")
    p.add_argument("--data", default="sim", help="data source(s), comma-separated, e.g. sim,folder:DIR "
                   "(see the module help)")
    p.add_argument("--source-weight", type=_source_weight, action="append", default=[], metavar="SOURCE=W",
                   help="multiply the sampling weight of a data source's clusters (e.g. folder=5; repeatable)")
    p.add_argument("--finetune", default="", help="model bundle (card .json, or its .pt/.onnx) or checkpoint to "
                   "fine-tune: its architecture, input spec and classes")
    _add_data_arguments(p)
    p.add_argument("--workers", type=int, default=None,
                   help="processes preparing training batches (augmentation, sampling) per training process; "
                        f"0: in the training process (default {d.workers}); also the default of --data-workers")
    p.add_argument("--data-workers", type=int, default=None,
                   help="processes for building simulated data (default: --workers, else 2)")
    p.add_argument("--out", default=d.out, help="run folder: checkpoints, log.csv")
    p.add_argument("--epochs", type=int, default=None, help=f"default {d.epochs}; fine-tuning {f['epochs']}")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=None, help=f"default {d.lr:g}; fine-tuning {f['lr']:g}")
    p.add_argument("--lr-step", type=int, default=None, help=f"default {d.lr_step}; fine-tuning {f['lr_step']}")
    p.add_argument("--oe-weight", type=float, default=d.oe_weight,
                   help="outlier exposure: weight of the outliers' loss towards a uniform softmax (0: leave them out)")
    p.add_argument("--oe-share", type=float, default=d.oe_share, help="share of every batch drawn from the outliers")
    p.add_argument("--n-points", type=int, default=d.n_points, help="points per cluster")
    p.add_argument("--point-features", type=_csv, default=d.point_features, help="e.g. intensity,height")
    p.add_argument("--global-features", type=_csv, default=d.global_features,
                   help="comma list of extent,log_count,range ('' for none)")
    p.add_argument("--scale", default=d.scale, choices=("metric", "unit_sphere"),
                   help="cluster coordinates in metres (default) or rescaled to the unit sphere (ablation)")
    p.add_argument("--fps-start", default=d.fps_start, choices=("", *STARTS),
                   help="where sampling starts in each cluster at run time: 'far', the point farthest from its "
                        "centroid (the same sample whatever order the driver gives the points; trained on random "
                        "starts), or 'first', its first point; default: the fine-tuned card's, else 'first'")
    p.add_argument("--frame", default=d.frame, choices=FRAMES,
                   help="cluster xy as in the sensor frame (default) or turned so that the sensor lies at -x "
                        "(removes the bearing, an exact symmetry, from what the network must learn)")
    p.add_argument("--augment-strength", type=float, default=d.augment_strength)
    p.add_argument("--mirror", type=float, default=d.mirror,
                   help="probability of mirroring a training cluster (y -> -y in the sensor frame: streets where "
                        "traffic keeps left); 0 as the shipped recipe")
    p.add_argument("--mirror-consistency", type=float, default=d.mirror_consistency,
                   help="weight of a term that makes each training cluster's class probabilities agree with its "
                        "mirror image's (symmetric KL; a second forward and backward pass a step); 0 as the "
                        "shipped recipe")
    p.add_argument("--row-loss", type=float, default=d.row_loss,
                   help="probability of losing random whole scan rows of a training cluster (as glossy paint or a "
                        "weak laser loses them), on top of the returns lost one by one; 0 as the shipped recipe")
    p.add_argument("--far", type=float, default=d.far,
                   help="probability of moving a training cluster up to 3x farther away (at most 60 m), thinned to "
                        "the rows and columns a sensor still puts on it there: far road users are rare in the "
                        "simulated scenes; 0 as the shipped recipe")
    p.add_argument("--balance", type=float, default=d.balance,
                   help="class balancing: a cluster is drawn with weight count(its class)^-balance (0: natural "
                        "frequencies, 1: every class equally often)")
    p.add_argument("--netaug", action="store_true", help="network augmentation (T3DNet stage 1)")
    p.add_argument("--teacher", default="", help="teacher checkpoint: distil from it (T3DNet stage 2); several, "
                   "comma-separated: from their mean logits (an ensemble); a logits_*.npy file that offline "
                   "distillation cached beside a teacher (e.g. one trained on a GPU machine) stands for it")
    p.add_argument("--kd-temperature", type=float, default=d.kd_temperature)
    p.add_argument("--kd-alpha", type=float, default=d.kd_alpha)
    p.add_argument("--kd-teacher-right", action="store_true",
                   help="distil only the clusters the teacher labels right; the rest learn from their label alone")
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
    from t3d_ros.offline.train.bundle import load_model_source
    from t3d_ros.offline.train.loop import FINETUNE_DEFAULTS, TrainConfig, train

    # unset schedule options: the training defaults, or those that suit fine-tuning
    defaults = FINETUNE_DEFAULTS if args.finetune else dataclasses.asdict(TrainConfig())
    schedule = {k: defaults[k] if getattr(args, k) is None else getattr(args, k) for k in FINETUNE_DEFAULTS}
    cfg = TrainConfig(
        model=args.model, model_config=args.model_config, n_points=args.n_points,
        point_features=args.point_features, global_features=args.global_features, scale=args.scale, frame=args.frame,
        fps_start=args.fps_start,
        batch_size=args.batch_size, augment_strength=args.augment_strength, mirror=args.mirror,
        mirror_consistency=args.mirror_consistency, row_loss=args.row_loss,
        far=args.far, balance=args.balance,
        netaug=args.netaug or args.model == "tiny_netaug", teacher=args.teacher,
        kd_temperature=args.kd_temperature, kd_alpha=args.kd_alpha, kd_teacher_right=args.kd_teacher_right,
        kd_mode=args.kd_mode,
        init=args.init, finetune=args.finetune, oe_weight=args.oe_weight, oe_share=args.oe_share,
        source_weights=dict(args.source_weight), seed=args.seed,
        out=args.out, resume=not args.no_resume, max_steps=args.max_steps, epoch_clusters=args.epoch_clusters,
        progress=not args.quiet, **schedule, **({} if args.workers is None else {"workers": args.workers}),
    )
    # fine-tuning: the data's classes are mapped onto the model's
    classes = load_model_source(args.finetune)["classes"] if args.finetune else None
    # --workers used to mean only the simulation processes: it still sets them unless --data-workers does.
    data_workers = next((w for w in (args.data_workers, args.workers) if w is not None), 2)
    t0 = time.time()
    train_set = load_data(args.data, "train", args.sim_seeds, args.cache, data_workers, classes)
    val_set = load_data(args.data, "val", args.sim_seeds, args.cache, data_workers, classes)
    print(f"data {args.data}: {len(train_set)} training / {len(val_set)} validation clusters "
          f"({time.time() - t0:.0f} s); classes {train_set.subset(~train_set.outlier).class_counts()}, "
          f"outliers {int(train_set.outlier.sum())}", file=sys.stderr)
    best = train(cfg, train_set, val_set)
    print(f"best checkpoint: {best}")
    return 0


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, default=Path("models"), help="folder for <name>.onnx/.pt/.json")
    p.add_argument("--name", default="t3d_tiny")
    p.add_argument("--metrics", type=Path, help="an eval JSON to store in the card")
    p.add_argument("--calibrate-on", default="", metavar="SOURCE",
                   help="then calibrate the bundle on the validation split of SOURCE (e.g. sim; see calibrate)")
    _add_calibration_arguments(p)


def run_export(args: argparse.Namespace) -> int:
    from t3d_ros.offline.train.bundle import export_bundle

    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    card = export_bundle(args.checkpoint, args.out, args.name, metrics)
    print(f"wrote {card} (+ .onnx, .pt)")
    if args.calibrate_on:
        args.card, args.data = card, args.calibrate_on
        return run_calibrate(args)
    return 0


def _add_calibration_arguments(p: argparse.ArgumentParser) -> None:
    _add_data_arguments(p)
    p.add_argument("--target-precision", type=float, default=0.9,
                   help="per class the lowest threshold whose labels are right this often")
    p.add_argument("--road-user-precision", type=float, default=0.97,
                   help="the target of the car, truck, pedestrian and cyclist thresholds: real streets hold fewer road "
                        "users per cluster than simulated ones, and 0.97 here is still 0.9 with 3.6x fewer "
                        "(offline/train/calibrate.py, 5); 0: --target-precision for every class")
    p.add_argument("--min-support", type=int, default=20, help="labels needed to judge a threshold")
    p.add_argument("--sparse-points", type=int, default=30, help="clusters with fewer returns get their own "
                   "thresholds, chosen by the same rule (0: one threshold per class)")
    p.add_argument("--marginal-precision", type=float, default=0.5,
                   help="each threshold at least the score at which a single label is right this often (0: off)")
    p.add_argument("--confidence", type=float, default=0.0,
                   help="hold the exact lower bound of each precision at this confidence (e.g. 0.9) to the target, "
                        "not the measured precision: for small labelled sets such as your own folder (0: off)")
    p.add_argument("--data-workers", type=int, default=2, help="processes for building simulated data")


def add_calibrate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("card", type=Path, help="model card (.json) to calibrate; its calibration section is rewritten")
    p.add_argument("--data", default="sim", help="data source whose validation split (outliers included) is used")
    _add_calibration_arguments(p)


def run_calibrate(args: argparse.Namespace) -> int:
    from t3d_ros.offline.train.calibrate import calibrate_bundle, format_calibration

    val = load_data(args.data, "val", args.sim_seeds, args.cache, args.data_workers)
    scenes = f"; --sim-seeds {args.sim_seeds}" if "sim" in args.data.split(",") else ""
    cal = calibrate_bundle(args.card, val, args.target_precision, args.min_support, f"{args.data} (val{scenes})",
                           args.sparse_points, args.marginal_precision, args.road_user_precision or None,
                           args.confidence)
    print(format_calibration(cal))
    print(f"wrote the calibration into {args.card}")
    return 0


def add_adapt_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("card", type=Path, help="model card (.json) to adapt")
    p.add_argument("--data", required=True, help="unlabelled target clusters: folder:DIR (every file under DIR) "
                   "or frames:PATH (frames or bags, segmented by the node's pipeline)")
    p.add_argument("--out", type=Path, required=True, help="folder for <name>.onnx/.pt/.json")
    p.add_argument("--name", required=True)
    p.add_argument("--pseudo-labels", type=float, default=None, metavar="SCORE",
                   help="then fine-tune on the target clusters labelled with a calibrated score >= SCORE")
    p.add_argument("--mix", default="sim", help="labelled data the pseudo-labelled clusters are mixed with")
    p.add_argument("--target-weight", type=float, default=5.0, help="sampling weight of the target clusters")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs (pseudo-labels)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epoch-clusters", type=int, default=0, help="clusters drawn per epoch (0: all)")
    p.add_argument("--max-steps", type=int, default=0, help="stop fine-tuning after this many steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_data_arguments(p)
    p.add_argument("--data-workers", type=int, default=2, help="processes for building simulated data")


def run_adapt(args: argparse.Namespace) -> int:
    from t3d_ros.classify.classifier import load_card
    from t3d_ros.offline.train.adapt import adapt, target_clusters
    from t3d_ros.offline.train.loop import TrainConfig

    classes = tuple(load_card(args.card)["classes"])
    target = target_clusters(args.data, classes)
    print(f"{args.data}: {len(target)} target clusters", file=sys.stderr)
    mix = None
    if args.pseudo_labels is not None:
        mix = load_data(args.mix, "train", args.sim_seeds, args.cache, args.data_workers, classes)
    cfg = TrainConfig(lr=args.lr, epochs=args.epochs, lr_step=5, batch_size=args.batch_size,
                      epoch_clusters=args.epoch_clusters, max_steps=args.max_steps, seed=args.seed,
                      progress=not args.quiet)
    card = adapt(args.card, target, args.out, args.name, args.data, args.pseudo_labels, mix, args.target_weight, cfg)
    print(f"wrote {card} (+ .onnx, .pt): {json.loads(card.read_text())['adaptation']}")
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
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                   help="where the accuracy is computed (cuda: network and sampling ops on the GPU); default cpu")
    p.add_argument("--mirror", action="store_true",
                   help="also judge every cluster mirrored (y -> -y: traffic keeping left) and report how many "
                        "labels stay the same")


def run_eval(args: argparse.Namespace) -> int:
    from t3d_ros.offline.eval.classifier import evaluate

    report = evaluate(args.model, args.data or ["sim"], sim_seeds=args.sim_seeds, cache=args.cache,
                      png=args.png, latency_batch=args.latency_batch, device=args.device, mirror=args.mirror)
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


def add_classify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", type=Path,
                   help="one object per file (.npy, .bin, .pcd, .csv), x y z [intensity] in the sensor's frame (z up)")
    p.add_argument("--json", action="store_true", help="one JSON object per line (the only output format)")
    p.add_argument("--model", type=Path, default=None, help="model card; default: the params' model_path, else the "
                   "shipped model")
    p.add_argument("--params", type=Path, default=None,
                   help="a ROS parameter file such as config/perception.yaml: its score_threshold, class_thresholds "
                   "and size_check (default: the node's defaults: the card's thresholds, size check on)")
    p.add_argument("--raw", action="store_true",
                   help="the network's best class for every file, never 'unknown' (no thresholds, no size check)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def run_classify(args: argparse.Namespace) -> int:
    """Label each file as the node labels a cluster: the network's guess, or ``unknown`` with the reason
    when its score is under the class threshold or its box cannot hold that class (``Perception.label_clusters``;
    a file has no ground around it, so the ground check is skipped)."""
    from t3d_ros.classify.inputs import NEAR_SENSOR_M, near_sensor
    from t3d_ros.config import load_ros_params
    from t3d_ros.io.frames import read_points
    from t3d_ros.perception import Perception
    from t3d_ros.segment.boxes import fit_boxes

    params = load_ros_params(args.params) if args.params else {}
    perception = Perception.from_params(params, model=None if args.model is None else str(args.model),
                                        device=args.device, warn=lambda m: print(m, file=sys.stderr))
    if perception.classifier is None:
        raise ValueError("classify needs a model: --model CARD, or a params file with a model_path")
    clouds = [read_points(f) for f in args.files]
    empty = [str(f) for f, c in zip(args.files, clouds, strict=True) if len(c) == 0]
    if empty:
        raise ValueError(f"no finite points in {', '.join(empty)}")
    offsets = np.r_[0, np.cumsum([len(c) for c in clouds])]
    points = np.concatenate(clouds).astype(np.float32, copy=False)
    near = [str(f) for f, n in zip(args.files, near_sensor(points, offsets), strict=True) if n]
    if near:
        print(f"warning: {len(near)} of {len(clouds)} file(s) lie within {NEAR_SENSOR_M:g} m of the sensor "
              f"({near[0]}{', ...' if len(near) > 1 else ''}): object-centred? The network reads each cluster's "
              "range and the side the sensor sees it from: give the points in the sensor's frame, as harvest "
              "writes them (centred simulated clusters: right 0.51 of the time against 0.81)", file=sys.stderr)
    boxes = fit_boxes(np.ascontiguousarray(points[:, :3]), offsets, perception.config.box_method)
    if args.raw:
        perception.score_threshold, perception.class_thresholds, perception.sparse_thresholds = 0.0, {}, {}
        perception.check_sizes = False
    _, guesses, scores, labels, reasons = perception.label_clusters(points, offsets, boxes[:, 3:6])
    for i, f in enumerate(args.files):
        doc = {"file": str(f), "label": labels[i], "score": round(float(scores[i]), 4),
               "num_points": int(offsets[i + 1] - offsets[i]), "size": [round(float(v), 2) for v in boxes[i, 3:6]]}
        if reasons[i]:
            doc.update(guess=guesses[i], unknown_reason=reasons[i])
        print(json.dumps(doc))
    return 0
