"""Training: one readable loop for teachers, the tiny model, NetAug and distillation (T3DNet).

    stage 0  teacher:          train(TrainConfig(model="pointnet2_ssg", ...))
    stage 1  tiny + NetAug:    train(TrainConfig(model="tiny_netaug", netaug=True, ...))
    stage 2  distillation:     train(TrainConfig(model="tiny", init=<stage 1 ckpt>, teacher=<teacher ckpt>))

Each step: augment a batch of clusters (numpy), turn it into network inputs (FPS + ball-query
indices by the CPU/CUDA ops, see ``t3d_ros/inputs.py``), forward, loss, one Adam step.
NetAug adds the loss of one randomly widened sub-network that shares the tiny model's weights
(until ``netaug_stop`` of the epochs); distillation mixes the label loss with the teacher's
softened outputs: L = (1 - a) CE(s, y) + a T^2 KL(softmax(t/T) || softmax(s/T)).
Several GPUs/processes: run under ``torchrun``; batches are sharded by rank (DDP).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from t3d_ros.classify.inputs import InputSpec, make_inputs
from t3d_ros.classify.models import build_model, count_params, recalibrate_bn
from t3d_ros.offline.data import ClusterSet
from t3d_ros.offline.train.augment import Augment
from t3d_ros.offline.train.bundle import load_checkpoint, model_from_checkpoint


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in every checkpoint and model card."""

    model: str = "tiny"  # a t3d_ros.classify.models.MODELS name
    model_config: dict = field(default_factory=dict)
    n_points: int = 256  # points per cluster (FPS)
    point_features: tuple[str, ...] = ()
    global_features: tuple[str, ...] = ("extent", "log_count", "range")
    scale: str = "metric"  # InputSpec.scale: "metric" or "unit_sphere" (ablation)
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lr_step: int = 15  # epochs between learning-rate decays
    lr_gamma: float = 0.5
    label_smoothing: float = 0.0
    balance: float = 0.5  # sampling weight per cluster = count(class)^-balance (0: natural frequencies)
    augment_strength: float = 1.0  # small models prefer weaker augmentation (T3DNet)
    netaug: bool = False
    netaug_stop: float = 0.5  # fraction of epochs after which only the base width trains
    teacher: str = ""  # checkpoint of the teacher for distillation
    kd_temperature: float = 4.0
    kd_alpha: float = 0.7
    # "online": the teacher sees every augmented batch (faithful, costs a teacher forward per step);
    # "offline": its logits on the clean training clusters are computed once and reused as soft
    # targets for the augmented views (the augmentations keep the label; ~30x faster on a CPU).
    kd_mode: str = "online"
    init: str = ""  # checkpoint whose weights start this run (stage 2 starts from stage 1)
    seed: int = 0
    out: str = "out/runs/run"
    resume: bool = True
    epoch_clusters: int = 0  # clusters drawn per epoch (0: the training set's size)
    max_steps: int = 0  # stop after this many steps (0: no limit); for smoke tests
    progress: bool = True

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _spec(cfg: TrainConfig, model: nn.Module) -> InputSpec:
    return InputSpec(cfg.n_points, tuple(tuple(lv) for lv in model.levels), tuple(cfg.point_features),
                     tuple(cfg.global_features), cfg.scale)


def _batch_inputs(clusters: list[np.ndarray], spec: InputSpec, device: torch.device) -> list[torch.Tensor]:
    """Network inputs (torch, on ``device``) of a list of (n_i, 4) clusters."""
    pts = np.concatenate(clusters).astype(np.float32)
    inputs = make_inputs(pts, np.r_[0, np.cumsum([len(c) for c in clusters])], spec, backend="cpu")
    return [torch.from_numpy(a).to(device) for a in inputs.as_list()]


def _tensors(cs: ClusterSet, idx: np.ndarray, spec: InputSpec, augment: Augment | None,
             rng: np.random.Generator, device: torch.device) -> tuple[list[torch.Tensor], list[np.ndarray]]:
    """Network inputs of clusters ``idx`` (augmented when ``augment``), and the clusters used."""
    clusters = [cs.cluster(i) for i in idx]
    if augment is not None:
        clusters = [augment(c, rng) for c in clusters]
    return _batch_inputs(clusters, spec, device), clusters


@torch.no_grad()
def predict(model: nn.Module, cs: ClusterSet, spec: InputSpec, batch_size: int = 256,
            device: torch.device | str = "cpu") -> np.ndarray:
    """(K, classes) logits of every cluster of ``cs`` (no augmentation)."""
    model.eval()
    out = []
    rng = np.random.default_rng(0)
    for start in range(0, len(cs), batch_size):
        idx = np.arange(start, min(start + batch_size, len(cs)))
        inputs, _ = _tensors(cs, idx, spec, None, rng, torch.device(device))
        out.append(model(*inputs).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(cs.class_names)), np.float32)


def accuracy(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """Overall and mean-class accuracy (classes absent from ``labels`` are left out of the mean)."""
    pred = logits.argmax(axis=1) if len(logits) else np.zeros(0, int)
    conf = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(conf, (labels, pred), 1)
    per_class = np.diag(conf) / np.maximum(conf.sum(axis=1), 1)
    present = conf.sum(axis=1) > 0
    return {
        "accuracy": float((pred == labels).mean()) if len(labels) else float("nan"),
        "mean_class_accuracy": float(per_class[present].mean()) if present.any() else float("nan"),
        "per_class": {int(i): float(per_class[i]) for i in np.flatnonzero(present)},
        "confusion": conf.tolist(),
    }


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 KL(softmax(t/T) || softmax(s/T)), batch mean (Hinton et al.)."""
    t = temperature
    return F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), log_target=True,
                    reduction="batchmean") * t * t


def train(cfg: TrainConfig, train_set: ClusterSet, val_set: ClusterSet | None = None) -> Path:
    """Train; returns the path of the best checkpoint (``<out>/ckpt_best.pt``; by validation
    mean-class accuracy, or the last epoch without a validation set)."""
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world = 0, 1
    if ddp:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1000 * rank)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    classes = list(train_set.class_names)
    nc = len(classes)

    features = InputSpec(point_features=tuple(cfg.point_features), global_features=tuple(cfg.global_features))
    model = build_model(cfg.model, nc, features.in_feats, features.global_feats, **cfg.model_config)
    spec = _spec(cfg, model)
    if cfg.init:
        init = load_checkpoint(cfg.init)
        src, _, _ = model_from_checkpoint(init)
        src = src.export_base() if hasattr(src, "export_base") and not hasattr(model, "export_base") else src
        model.load_state_dict(src.state_dict())
    teacher, teacher_spec = None, None
    if cfg.teacher:
        teacher, teacher_spec, t_classes = model_from_checkpoint(load_checkpoint(cfg.teacher))
        if t_classes != classes:
            raise ValueError(f"teacher classes {t_classes} differ from the data's {classes}")
        teacher = teacher.to(device).eval()
        if cfg.kd_mode not in ("online", "offline"):
            raise ValueError(f"kd_mode={cfg.kd_mode!r}: must be 'online' or 'offline'")
    teacher_logits = None
    if teacher is not None and cfg.kd_mode == "offline":
        with torch.no_grad():
            teacher_logits = torch.from_numpy(predict(teacher, train_set, teacher_spec, device=device)).to(device)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma)
    start_epoch, best, step = 0, -1.0, 0
    last = out / "ckpt_last.pt"
    if cfg.resume and last.is_file():
        ck = load_checkpoint(last)
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start_epoch, best, step = ck["epoch"] + 1, ck.get("best", -1.0), ck.get("step", 0)
        if rank == 0:
            print(f"resuming {last} at epoch {start_epoch}", file=sys.stderr)
    net = model
    if ddp:
        net = nn.parallel.DistributedDataParallel(model, find_unused_parameters=cfg.netaug)

    augment = Augment(strength=cfg.augment_strength) if cfg.augment_strength > 0 else None
    counts = np.bincount(train_set.labels, minlength=nc).astype(np.float64)
    weights = np.maximum(counts[train_set.labels], 1) ** -cfg.balance
    weights /= weights.sum()
    steps_per_epoch = max((cfg.epoch_clusters or len(train_set)) // (cfg.batch_size * world), 1)
    ckpt_common = {
        "model": cfg.model, "model_config": cfg.model_config, "classes": classes, "input": spec.to_json(),
        "train_config": cfg.to_json(), "command": " ".join(sys.argv),
        "data_summary": {"train": train_set.class_counts(), "val": val_set.class_counts() if val_set else {}},
    }
    log_path = out / "log.csv"
    new_log = not log_path.is_file() or start_epoch == 0
    log = open(log_path, "w" if new_log else "a", newline="")
    writer = csv.writer(log)
    if new_log:
        writer.writerow(["epoch", "step", "lr", "loss", "train_acc", "val_acc", "val_macc", "seconds"])
    try:
        from tqdm import tqdm
    except ImportError:  # progress bars are a convenience
        tqdm = None
    best_path = out / "ckpt_best.pt"
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        model.train()
        order = np.random.default_rng(cfg.seed + epoch).choice(  # same draw in every process
            len(train_set), size=steps_per_epoch * cfg.batch_size * world, p=weights)
        order = order[rank::world]  # each process its share; the global batch is world * batch_size
        widen = cfg.netaug and epoch < math.ceil(cfg.netaug_stop * cfg.epochs)
        batches = range(0, len(order) - cfg.batch_size + 1, cfg.batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=not cfg.progress or rank) if tqdm else batches
        tot_loss = tot_correct = tot_n = 0.0
        for b in bar:
            idx = order[b:b + cfg.batch_size]
            inputs, clusters = _tensors(train_set, idx, spec, augment, rng, device)
            y = torch.from_numpy(train_set.labels[idx]).to(device)
            logits = net(*inputs)
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            if teacher_logits is not None:
                t_logits = teacher_logits[torch.from_numpy(idx).to(device)]
            elif teacher is not None:
                with torch.no_grad():
                    t_logits = teacher(*_batch_inputs(clusters, teacher_spec, device))
            if teacher is not None:
                loss = (1 - cfg.kd_alpha) * loss + cfg.kd_alpha * kd_loss(logits, t_logits, cfg.kd_temperature)
            if widen:  # NetAug: the base model also learns as part of a wider network
                width = model.sample_width()
                loss = loss + F.cross_entropy(net(*inputs, width=width), y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            tot_loss += float(loss.detach()) * len(idx)
            tot_correct += float((logits.argmax(1) == y).sum())
            tot_n += len(idx)
            if tqdm and cfg.progress and not rank:
                bar.set_postfix(loss=f"{tot_loss / tot_n:.3f}", acc=f"{tot_correct / tot_n:.3f}")
            if cfg.max_steps and step >= cfg.max_steps:
                break
        sched.step()
        if rank:
            continue
        if cfg.netaug and hasattr(model, "export_base"):
            # BN statistics of the base width, re-estimated on training batches (NetAug).
            recalibrate_bn(model, (_tensors(train_set, rng.choice(len(train_set), cfg.batch_size), spec, augment,
                                            rng, device)[0] for _ in range(10)))
        metrics = {"train_loss": tot_loss / max(tot_n, 1), "train_accuracy": tot_correct / max(tot_n, 1)}
        if val_set is not None and len(val_set):
            metrics.update({f"val_{k}": v for k, v in accuracy(
                predict(model, val_set, spec, device=device), val_set.labels, nc).items()
                if k in ("accuracy", "mean_class_accuracy")})
        score = metrics.get("val_mean_class_accuracy", metrics["train_accuracy"])
        ck = {**ckpt_common, "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
              "scheduler": sched.state_dict(), "epoch": epoch, "step": step, "metrics": metrics,
              "best": max(best, score), "params": count_params(model)}
        torch.save(ck, last)
        if score > best:
            best = score
            torch.save(ck, best_path)
        writer.writerow([epoch, step, f"{sched.get_last_lr()[0]:.2e}", f"{metrics['train_loss']:.4f}",
                         f"{metrics['train_accuracy']:.4f}", f"{metrics.get('val_accuracy', float('nan')):.4f}",
                         f"{metrics.get('val_mean_class_accuracy', float('nan')):.4f}", f"{time.time() - t0:.1f}"])
        log.flush()
        if cfg.progress:
            print(f"epoch {epoch}: " + json.dumps({k: round(v, 4) for k, v in metrics.items()}), file=sys.stderr)
        if cfg.max_steps and step >= cfg.max_steps:
            break
    log.close()
    if ddp:
        import torch.distributed as dist

        dist.destroy_process_group()
    return best_path
