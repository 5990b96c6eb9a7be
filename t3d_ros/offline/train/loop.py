"""Training: one readable loop for teachers, the tiny model, NetAug and distillation (T3DNet).

    stage 0  teacher:          train(TrainConfig(model="pointnet2_ssg", ...))
    stage 1  tiny + NetAug:    train(TrainConfig(model="tiny_netaug", netaug=True, ...))
    stage 2  distillation:     train(TrainConfig(model="tiny", init=<stage 1 ckpt>, teacher=<teacher ckpt>))
    fine-tuning:               train(TrainConfig(finetune=<bundle or ckpt>, lr=2e-4, epochs=10, lr_step=5))

Each step: a batch of clusters, augmented (numpy) and turned into network inputs (FPS + ball-query
indices by the CPU ops, see ``t3d_ros/classify/inputs.py``) by ``workers`` DataLoader processes
(``loader.py``), then forward, loss, one Adam step.
NetAug adds the loss of one randomly widened sub-network that shares the tiny model's weights
(until ``netaug_stop`` of the epochs); distillation mixes the label loss with the teacher's
softened outputs: L = (1 - a) CE(s, y) + a T^2 KL(softmax(t/T) || softmax(s/T)).
Outlier exposure (Hendrycks et al., ICLR 2019): clusters that no class fits (``meta["outlier"]``:
ground remnants, merges of several objects) make up ``oe_share`` of every batch and get no label
loss; instead ``oe_weight`` times their cross-entropy to the uniform distribution pushes their
softmax flat, so that a low score can say "none of the classes" (the thresholds of ``calibrate.py``
rely on it). Validation and the best checkpoint judge the clusters with a class only.
Fine-tuning (``finetune``) starts from a model bundle or checkpoint, with its architecture, input
spec and class list; several data sources can be mixed with per-source sampling weights.
Several GPUs/processes: run under ``torchrun``; batches are sharded by rank (DDP).
Checkpoints are written and read by ``bundle.save_checkpoint`` / ``bundle.load_checkpoint``
(``torch.load(weights_only=True)``: a checkpoint from someone else cannot run code).
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import hashlib
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
from torch.utils.data import DataLoader

from t3d_ros.classify.inputs import InputSpec
from t3d_ros.classify.models import build_model, count_params, recalibrate_bn
from t3d_ros.offline.data import ClusterSet, source_counts, source_names, with_classes
from t3d_ros.offline.train.augment import Augment
from t3d_ros.offline.train.bundle import (
    load_checkpoint,
    load_model_source,
    model_from_checkpoint,
    plain_model,
    save_checkpoint,
)
from t3d_ros.offline.train.loader import Batch, ClusterBatches, EpochSampler, batch_inputs, make_loader


@dataclass
class TrainConfig:
    """Everything a run depends on; saved in every checkpoint and model card."""

    model: str = "tiny"  # a t3d_ros.classify.models.MODELS name
    model_config: dict = field(default_factory=dict)
    n_points: int = 256  # points per cluster (FPS)
    point_features: tuple[str, ...] = ()
    global_features: tuple[str, ...] = ("extent", "log_count", "range")
    scale: str = "metric"  # InputSpec.scale: "metric" or "unit_sphere" (ablation)
    frame: str = "sensor"  # InputSpec.frame: "sensor" or "bearing" (clusters turned so the sensor lies at -x)
    # InputSpec.start: FPS from the point farthest from the centroid ("far": trained on random starts) or
    # from the first point; "" = the fine-tuned card's start, else "first" (the recipe's)
    fps_start: str = ""
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lr_step: int = 15  # epochs between learning-rate decays
    lr_gamma: float = 0.5
    label_smoothing: float = 0.0
    balance: float = 0.5  # sampling weight per cluster = count(class)^-balance (0: natural frequencies)
    augment_strength: float = 1.0  # small models prefer weaker augmentation (T3DNet)
    mirror: float = 0.0  # probability of mirroring a training cluster (Augment.mirror_prob)
    # weight of a consistency term: the symmetric KL between the class probabilities of each training
    # cluster and of its mirror image (the same network inputs with y negated: the same samples and
    # groups), so that an object seen on the left is labelled as it is on the right; 0: off (the
    # mirrored batch costs a second forward and backward pass)
    mirror_consistency: float = 0.0
    row_loss: float = 0.0  # probability of losing random whole scan rows of a cluster (Augment.row_loss_prob)
    far: float = 0.0  # probability of moving a cluster farther away, thinned as seen there (Augment.far_prob)
    netaug: bool = False
    netaug_stop: float = 0.5  # fraction of epochs after which only the base width trains
    teacher: str = ""  # checkpoint of the teacher for distillation; several (comma-separated): their mean logits
    kd_temperature: float = 4.0
    kd_alpha: float = 0.7
    # distil only the clusters whose label the teacher's logits get right; the others learn from their
    # label alone (a teacher weak on a rare class otherwise teaches the student its mistakes there)
    kd_teacher_right: bool = False
    # "online": the teacher sees every augmented batch (faithful, costs a teacher forward per step);
    # "offline": its logits on the clean training clusters are computed once and reused as soft
    # targets for the augmented views (the augmentations keep the label; ~30x faster on a CPU).
    kd_mode: str = "online"
    init: str = ""  # checkpoint whose weights start this run (stage 2 starts from stage 1)
    # A model bundle (card .json or its .pt/.onnx) or a checkpoint to fine-tune: its architecture,
    # input spec and class list replace model, model_config, n_points, *_features, scale and frame.
    finetune: str = ""
    oe_weight: float = 0.5  # outlier exposure: weight of the outliers' CE to uniform; 0: outliers left out
    oe_share: float = 0.15  # share of every batch drawn from the outliers, apart from the class balancing
    # sampling-weight factor per data source (a --data name such as "folder:DIR", or its kind "folder"):
    # a few hundred clusters of the user's sensor matter next to ~20k simulated ones
    source_weights: dict = field(default_factory=dict)
    seed: int = 0
    out: str = "out/runs/run"
    resume: bool = True
    epoch_clusters: int = 0  # clusters drawn per epoch (0: the training set's size)
    max_steps: int = 0  # stop after this many steps (0: no limit); for smoke tests
    # DataLoader processes preparing batches (augmentation + network inputs) per training process;
    # 0: in the training process itself; the batches are the same either way (see loader.py).
    # 0 by default: on a 2-core CPU workers only compete with torch (tiny model, 40 steps: 0 workers
    # 4.7-6.2 s, 1: 6.7-8.4 s, 2: 7.0-10.2 s). With workers, a script calling train() needs the
    # ``if __name__ == "__main__":`` guard (workers start by forkserver, which imports __main__).
    workers: int = 0
    progress: bool = True

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# What fine-tuning uses where the user sets nothing: a small learning rate, a short schedule.
FINETUNE_DEFAULTS = {"lr": 2e-4, "epochs": 10, "lr_step": 5}


def _spec(cfg: TrainConfig, model: nn.Module) -> InputSpec:
    return InputSpec(cfg.n_points, tuple(tuple(lv) for lv in model.levels), tuple(cfg.point_features),
                     tuple(cfg.global_features), cfg.scale, cfg.frame, cfg.fps_start or "first")


@torch.no_grad()
def predict(model: nn.Module, cs: ClusterSet, spec: InputSpec, batch_size: int = 256,
            device: torch.device | str = "cpu") -> np.ndarray:
    """(K, classes) logits of every cluster of ``cs`` (no augmentation)."""
    model.eval()
    out = []
    for start in range(0, len(cs), batch_size):
        clusters = [cs.cluster(i) for i in range(start, min(start + batch_size, len(cs)))]
        inputs = [t.to(device) for t in batch_inputs(clusters, spec, device)]  # built on a GPU with its CUDA ops
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


def oe_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy to the uniform distribution (mean over classes of -log softmax), batch mean,
    less its floor log(C): KL(uniform || softmax), the same gradient, and 0 for a flat softmax, so
    that the logged training loss still reads 0 when all is learnt."""
    return -F.log_softmax(logits, 1).mean(1).mean() - math.log(logits.shape[1])


def mirror_consistency_loss(logits: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
    """Symmetric KL divergence (mean over the batch) between the class distributions of ``logits``
    (B, C) and of the same clusters mirrored, ``mirrored`` (B, C): 0 when the two agree."""
    a, b = F.log_softmax(logits, 1), F.log_softmax(mirrored, 1)
    return 0.5 * ((a.exp() * (a - b)).sum(1) + (b.exp() * (b - a)).sum(1)).mean()


def mirrored_inputs(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """The network inputs of the same clusters mirrored (y -> -y): ``xyz`` (first input, (B, N, 3))
    with y negated, the rest (features, globals, sample and group indices) as they are: a reflection
    keeps every distance, so sampling and grouping pick the same points (exactly: x^2 + (-y)^2 is
    x^2 + y^2 in floating point too). In the bearing frame (the cluster's mean on +x) the sensor-frame
    mirror is the same y -> -y."""
    xyz = inputs[0].clone()
    xyz[..., 1] = -xyz[..., 1]
    return [xyz, *inputs[1:]]


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float, reduce: bool = True
            ) -> torch.Tensor:
    """T^2 KL(softmax(t/T) || softmax(s/T)) (Hinton et al.): batch mean, or (N,) per cluster if not
    ``reduce``."""
    t = temperature
    kl = F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1), log_target=True,
                  reduction="none").sum(1) * t * t
    return kl.mean() if reduce else kl


def train(cfg: TrainConfig, train_set: ClusterSet, val_set: ClusterSet | None = None) -> Path:
    """Train; returns the path of the best checkpoint (``<out>/ckpt_best.pt``; by validation
    mean-class accuracy, or the last epoch without a validation set).

    Under ``torchrun`` every process runs this; process 0 alone validates, writes checkpoints and
    the log, and all processes stop after the same step.
    """
    _check_config(cfg)
    source = None
    if cfg.finetune:  # the network to fine-tune decides the inputs and the classes
        cfg, source = _finetune_source(cfg)
        train_set = with_classes(train_set, source["classes"], "training data")
        val_set = with_classes(val_set, source["classes"], "validation data") if val_set is not None else None
    elif cfg.netaug:
        cfg = _netaug_supernet(cfg)
    rank, world = _init_process_group()
    run = _Run(cfg, Path(cfg.out), _device(), rank, world)
    run.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    classes = list(train_set.class_names)
    model, spec = _build_model(cfg, len(classes), source)  # first: building the teacher draws from the RNG too
    teacher = _load_teacher(cfg, classes, train_set, run.device)
    model = model.to(run.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, cfg.lr_step, cfg.lr_gamma)
    start_epoch = _resume(run, model, opt, sched)
    net = nn.parallel.DistributedDataParallel(model, find_unused_parameters=cfg.netaug) if world > 1 else model
    loader = _make_loader(run, train_set, spec, teacher)
    info = _checkpoint_info(cfg, spec, classes, train_set, val_set)
    log = _EpochLog(run.out / "log.csv", fresh=start_epoch == 0, echo=cfg.progress) if rank == 0 else None
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        metrics = _train_epoch(run, net, model, opt, loader, epoch, teacher)
        sched.step()
        if log is not None:  # the other processes go on and wait for process 0 in the next step
            if cfg.netaug and hasattr(model, "export_base"):
                _recalibrate_bn(model, loader.dataset, epoch, cfg.batch_size, run.device)
            metrics.update(_validate(model, val_set, spec, len(classes), run.device))
            _save_checkpoints(run, {**info, "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
                                    "scheduler": sched.state_dict(), "epoch": epoch, "metrics": metrics,
                                    "params": count_params(model)})
            log.write(epoch, run.step, sched.get_last_lr()[0], metrics, time.time() - t0)
        if cfg.max_steps and run.step >= cfg.max_steps:  # all processes: they count the same steps
            break
    # Stop the loader's workers, and free DDP's reducer (it holds the gloo process group and its
    # threads) while the interpreter is alive: freed during interpreter shutdown instead, a gloo
    # thread can abort the process ("terminate called without an active exception", seen 1 in ~15
    # torchrun runs on CPU).
    del loader, net
    gc.collect()
    _finish(log, world)
    return run.out / "ckpt_best.pt"


@dataclass
class _Run:
    """What the steps of one run share: its settings, place, process and progress."""

    cfg: TrainConfig
    out: Path
    device: torch.device
    rank: int
    world: int
    step: int = 0  # optimizer steps so far, over all epochs
    best: float = -1.0  # best validation score so far (see _save_checkpoints)


@dataclass
class _Teacher:
    models: list[nn.Module]  # online: one, or an ensemble whose logits are averaged (offline: none)
    spec: InputSpec | None  # online distillation: the members share one input spec
    logits: torch.Tensor | None  # kd_mode "offline": its logits on every (clean) training cluster

    def logits_of(self, batch: Batch, device: torch.device) -> torch.Tensor:
        if self.logits is not None:
            return self.logits[batch.idx.to(device)]
        with torch.no_grad():
            inputs = [t.to(device) for t in batch.teacher_inputs]
            return torch.stack([m(*inputs) for m in self.models]).mean(0)


def _check_config(cfg: TrainConfig) -> None:
    if cfg.kd_mode not in ("online", "offline"):
        raise ValueError(f"kd_mode={cfg.kd_mode!r}: must be 'online' or 'offline'")
    if cfg.workers < 0:
        raise ValueError(f"workers={cfg.workers}: must be 0 (batches in the training process) or more")
    if cfg.oe_weight < 0 or not 0 <= cfg.oe_share < 1:
        raise ValueError(f"oe_weight={cfg.oe_weight}, oe_share={cfg.oe_share}: need oe_weight >= 0, 0 <= oe_share < 1")
    if any(w < 0 for w in cfg.source_weights.values()):
        raise ValueError(f"source_weights={cfg.source_weights}: weights must be >= 0")
    if cfg.finetune and cfg.init:
        raise ValueError("finetune and init both give the starting weights: set one")


def _init_process_group() -> tuple[int, int]:
    """(rank, world size): under torchrun joins the process group (NCCL on GPUs, gloo on the CPU)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    import torch.distributed as dist

    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _device() -> torch.device:
    return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")


# NetAug trains a supernet whose leading channels are the plain model it exports.
NETAUG_SUPERNETS = {"tiny": "tiny_netaug"}


def _netaug_supernet(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the NetAug supernet of its model (``--model tiny --netaug`` trains ``tiny_netaug``)."""
    if cfg.model in NETAUG_SUPERNETS.values():
        return cfg
    if cfg.model not in NETAUG_SUPERNETS:
        raise ValueError(f"netaug: there is no NetAug supernet of {cfg.model!r}; network augmentation trains "
                         f"{', '.join(NETAUG_SUPERNETS)} (as {', '.join(NETAUG_SUPERNETS.values())})")
    print(f"netaug: training {NETAUG_SUPERNETS[cfg.model]!r}, the supernet of {cfg.model!r} "
          f"(its base slice exports as a plain {cfg.model!r})", file=sys.stderr)
    return dataclasses.replace(cfg, model=NETAUG_SUPERNETS[cfg.model])


def _finetune_source(cfg: TrainConfig) -> tuple[TrainConfig, dict]:
    """The network of ``cfg.finetune`` (a NetAug supernet as its tiny base unless ``cfg.netaug``) and
    ``cfg`` with its architecture and input spec."""
    source = load_model_source(cfg.finetune)
    net, spec, _ = model_from_checkpoint(source)
    if not cfg.netaug:
        net, name, config = plain_model(net, source["model"], source.get("model_config", {}))
        source = {**source, "model": name, "model_config": config, "state_dict": net.state_dict()}
    elif not hasattr(net, "sample_width"):
        raise ValueError(f"netaug: {cfg.finetune} is a {source['model']!r}, not a NetAug supernet")
    cfg = dataclasses.replace(cfg, model=source["model"], model_config=dict(source.get("model_config", {})),
                              n_points=spec.n_points, point_features=tuple(spec.point_features),
                              global_features=tuple(spec.global_features), scale=spec.scale, frame=spec.frame,
                              fps_start=cfg.fps_start or spec.start)
    return cfg, source


def _build_model(cfg: TrainConfig, num_classes: int, source: dict | None = None) -> tuple[nn.Module, InputSpec]:
    """The network to train (weights from ``source`` (fine-tuning) or ``cfg.init`` when set) and its
    input spec."""
    features = InputSpec(point_features=tuple(cfg.point_features), global_features=tuple(cfg.global_features))
    model = build_model(cfg.model, num_classes, features.in_feats, features.global_feats, **cfg.model_config)
    if source is not None:
        model.load_state_dict(source["state_dict"])
    elif cfg.init:
        src, _, _ = model_from_checkpoint(load_checkpoint(cfg.init))
        if hasattr(src, "export_base") and not hasattr(model, "export_base"):  # stage 1 supernet -> tiny
            src = src.export_base()
        model.load_state_dict(src.state_dict())
    return model, _spec(cfg, model)


def _load_teacher(cfg: TrainConfig, classes: list[str], train_set: ClusterSet, device: torch.device
                  ) -> _Teacher | None:
    """The teacher of ``cfg.teacher``: one checkpoint, or several (comma-separated) whose logits are
    averaged (an ensemble teacher, e.g. stage-1 runs of several seeds). A ``.npy`` member is a
    teacher's offline logits on this training set as :func:`teacher_logits` writes them, for a teacher
    trained elsewhere (a GPU machine) whose checkpoint did not travel; offline distillation only. Only
    its shape is checked against the training set (its name's hash needs the checkpoint): the data
    must be made by the same code and seeds, which the simulated cache key ensures."""
    paths = [p for p in cfg.teacher.split(",") if p]
    if not paths:
        return None
    files = [p for p in paths if p.endswith(".npy")]
    if files and cfg.kd_mode == "online":
        raise ValueError(f"{files[0]}: a teacher's logits file teaches offline only (kd_mode='offline')")
    models, specs, ckpts = [], [], []
    for path in paths:
        if path in files:
            continue
        model, spec, t_classes = model_from_checkpoint(load_checkpoint(path))
        if t_classes != classes:
            raise ValueError(f"teacher {path}: classes {t_classes} differ from the data's {classes}")
        models.append(model.to(device).eval())
        specs.append(spec)
        ckpts.append(path)
    if cfg.kd_mode == "online" and any(sp != specs[0] for sp in specs):
        raise ValueError("online distillation from several teachers needs one input spec; use kd_mode='offline'")
    if cfg.kd_mode == "online":
        return _Teacher(models, specs[0], None)
    # offline: each member sees the clusters as its own input spec builds them, once; the members
    # are not needed after that (not kept on the device while the student trains)
    members = [teacher_logits(m, path, train_set, sp, device) for m, path, sp in zip(models, ckpts, specs, strict=True)]
    for path in files:
        logits = np.load(path)
        if logits.shape != (len(train_set), len(classes)):
            raise ValueError(f"teacher logits {path}: shape {logits.shape}, this training set needs "
                             f"{(len(train_set), len(classes))}: computed on other data")
        members.append(logits.astype(np.float32))
    logits = torch.from_numpy(np.mean(members, axis=0))
    return _Teacher([], specs[0] if specs else None, logits.to(device))


def teacher_logits(model: nn.Module, checkpoint: str | Path, cs: ClusterSet, spec: InputSpec,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """(K, classes) logits of a teacher on the clean clusters of ``cs`` for offline distillation,
    cached beside its checkpoint as ``logits_<hash>.npy`` (hash of the checkpoint file, the input spec
    and the clusters' points and offsets). A large teacher's forward pass over the training set takes
    the better part of an hour on a 2-core CPU and seconds on a GPU: the file computed where the
    teacher was trained travels with it, and a different data set or checkpoint never matches it."""
    h = hashlib.sha256(Path(checkpoint).read_bytes())
    h.update(repr(spec).encode())
    for a in (cs.points, cs.offsets):
        h.update(np.ascontiguousarray(a).tobytes())
    path = Path(checkpoint).parent / f"logits_{h.hexdigest()[:16]}.npy"
    if path.is_file():
        logits = np.load(path)
        if logits.shape == (len(cs), len(cs.class_names)):
            return logits
    logits = predict(model, cs, spec, device=device)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    try:
        np.save(tmp, logits)
        os.replace(tmp, path)  # concurrent students never read a half-written file
    except OSError as e:  # a read-only teacher folder: distil without the cache
        print(f"teacher logits not cached beside {checkpoint}: {e}", file=sys.stderr)
    return logits


def _resume(run: _Run, model: nn.Module, opt: torch.optim.Optimizer,
            sched: torch.optim.lr_scheduler.LRScheduler) -> int:
    """The first epoch to run: after the one of ``<out>/ckpt_last.pt`` when resuming from it."""
    last = run.out / "ckpt_last.pt"
    if not (run.cfg.resume and last.is_file()):
        return 0
    ck = load_checkpoint(last)
    model.load_state_dict(ck["state_dict"])
    opt.load_state_dict(ck["optimizer"])
    sched.load_state_dict(ck["scheduler"])
    run.step, run.best = ck.get("step", 0), ck.get("best", -1.0)
    if run.rank == 0:
        print(f"resuming {last} at epoch {ck['epoch'] + 1}", file=sys.stderr)
    return ck["epoch"] + 1


def _make_loader(run: _Run, train_set: ClusterSet, spec: InputSpec, teacher: _Teacher | None) -> DataLoader:
    """This process's training batches: class-balanced draws (times the source weights) and a share
    of outliers, its share of every global batch."""
    cfg = run.cfg
    augment = None
    if cfg.augment_strength > 0:
        augment = Augment(strength=cfg.augment_strength, mirror_prob=cfg.mirror, row_loss_prob=cfg.row_loss,
                          far_prob=cfg.far)
    elif cfg.mirror > 0:  # the mirror alone
        augment = Augment(strength=0.0, sensor_yaw_deg=0.0, mirror_prob=cfg.mirror)
    online = teacher is not None and teacher.logits is None
    batches = ClusterBatches(train_set, spec, augment, cfg.seed, run.rank, teacher.spec if online else None)
    steps = max((cfg.epoch_clusters or len(train_set)) // (cfg.batch_size * run.world), 1)
    sampler = EpochSampler(train_set.labels, len(train_set.class_names), cfg.balance, cfg.batch_size, steps,
                           cfg.seed, run.rank, run.world, outlier=train_set.outlier,
                           oe_share=cfg.oe_share if cfg.oe_weight > 0 else 0.0,
                           weight=_source_weights(cfg.source_weights, train_set))
    return make_loader(batches, sampler, cfg.workers, cfg.seed + 1000 * run.rank, run.device.type == "cuda")


def _source_weights(weights: dict, cs: ClusterSet) -> np.ndarray | None:
    """(K,) sampling-weight factor of every cluster: ``weights`` by source name or kind ("folder")."""
    if not weights:
        return None
    names = source_names(cs)
    kinds = np.array([n.partition(":")[0] for n in names], dtype=str)
    out = np.ones(len(cs))
    for key, factor in weights.items():
        mine = (names == key) | (kinds == key)
        if not mine.any():
            raise ValueError(f"source weight {key}={factor}: no training clusters from {key!r} "
                             f"(sources: {', '.join(dict.fromkeys(names.tolist()))})")
        out[mine] *= factor
    return out


def _train_epoch(run: _Run, net: nn.Module, model: nn.Module, opt: torch.optim.Optimizer, loader: DataLoader,
                 epoch: int, teacher: _Teacher | None) -> dict:
    """One epoch (or up to ``max_steps``); the mean training loss and accuracy (of the clusters with a
    class) of this process."""
    cfg = run.cfg
    model.train()
    loader.sampler.set_epoch(epoch)
    widen = cfg.netaug and epoch < math.ceil(cfg.netaug_stop * cfg.epochs)
    bar = _progress(loader, f"epoch {epoch}", cfg.progress and run.rank == 0)
    tot_loss = tot_correct = tot_n = tot_known = 0.0
    for batch in bar:
        logits, loss = _train_step(run, net, model, opt, batch, teacher, widen)
        run.step += 1
        known = ~batch.outlier
        tot_loss += float(loss) * len(batch.labels)
        tot_correct += float((logits.argmax(1).cpu() == batch.labels)[known].sum())
        tot_n += len(batch.labels)
        tot_known += float(known.sum())
        if bar is not loader:
            bar.set_postfix(loss=f"{tot_loss / tot_n:.3f}", acc=f"{tot_correct / max(tot_known, 1):.3f}")
        if cfg.max_steps and run.step >= cfg.max_steps:
            break
    return {"train_loss": tot_loss / max(tot_n, 1), "train_accuracy": tot_correct / max(tot_known, 1)}


def _train_step(run: _Run, net: nn.Module, model: nn.Module, opt: torch.optim.Optimizer, batch: Batch,
                teacher: _Teacher | None, widen: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (labels, + distillation, + outlier exposure, + NetAug) and one optimizer step; (logits,
    loss), detached."""
    cfg = run.cfg
    inputs = [t.to(run.device, non_blocking=True) for t in batch.inputs]
    y = batch.labels.to(run.device)
    outlier = batch.outlier.to(run.device)
    logits = net(*inputs)
    t_logits = teacher.logits_of(batch, run.device) if teacher is not None else None
    loss = _loss(cfg, logits, y, outlier, t_logits)
    if cfg.mirror_consistency > 0:
        loss = loss + cfg.mirror_consistency * mirror_consistency_loss(logits, net(*mirrored_inputs(inputs)))
    if widen:  # NetAug: the base model also learns as part of a wider network
        width = model.sample_width()
        loss = loss + _loss(cfg, net(*inputs, width=width), y, outlier)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return logits.detach(), loss.detach()


def _loss(cfg: TrainConfig, logits: torch.Tensor, y: torch.Tensor, outlier: torch.Tensor,
          teacher_logits: torch.Tensor | None = None) -> torch.Tensor:
    """CE (mixed with distillation from ``teacher_logits``) of the clusters with a class, plus
    ``oe_weight`` times the CE to uniform of the outliers (their labels are not used)."""
    known = ~outlier  # the sampler puts at least one cluster with a class in every batch
    s, yk = logits[known], y[known]
    if teacher_logits is None:
        loss = F.cross_entropy(s, yk, label_smoothing=cfg.label_smoothing)
    else:
        t = teacher_logits[known]
        alpha = torch.full_like(yk, cfg.kd_alpha, dtype=s.dtype)
        if cfg.kd_teacher_right:
            alpha = alpha * (t.argmax(1) == yk)
        ce = F.cross_entropy(s, yk, label_smoothing=cfg.label_smoothing, reduction="none")
        loss = ((1 - alpha) * ce + alpha * kd_loss(s, t, cfg.kd_temperature, reduce=False)).mean()
    if cfg.oe_weight > 0 and bool(outlier.any()):
        loss = loss + cfg.oe_weight * oe_loss(logits[outlier])
    return loss


def _progress(loader: DataLoader, desc: str, show: bool):
    """``loader`` behind a tqdm bar when shown and tqdm is installed (a convenience)."""
    if show:
        try:
            from tqdm import tqdm

            return tqdm(loader, desc=desc, leave=False)
        except ImportError:
            pass
    return loader


def _recalibrate_bn(model: nn.Module, batches: ClusterBatches, epoch: int, batch_size: int,
                    device: torch.device) -> None:
    """BN statistics of the base width, re-estimated on 10 random training batches (NetAug)."""
    def inputs(rng: np.random.Generator) -> list[torch.Tensor]:
        batch = batches.batch(rng.choice(len(batches.cs), batch_size), rng)
        return [t.to(device) for t in batch.inputs]

    recalibrate_bn(model, (inputs(batches.rng(epoch, i, purpose=1)) for i in range(10)))


def _validate(model: nn.Module, val_set: ClusterSet | None, spec: InputSpec, num_classes: int,
              device: torch.device) -> dict:
    if val_set is not None:
        val_set = val_set.subset(~val_set.outlier)  # no class to get right
    if val_set is None or not len(val_set):
        return {}
    acc = accuracy(predict(model, val_set, spec, device=device), val_set.labels, num_classes)
    return {f"val_{k}": acc[k] for k in ("accuracy", "mean_class_accuracy")}


def _checkpoint_info(cfg: TrainConfig, spec: InputSpec, classes: list[str], train_set: ClusterSet,
                     val_set: ClusterSet | None) -> dict:
    """What every checkpoint of the run says about the model and how it was trained."""
    return {
        "model": cfg.model, "model_config": cfg.model_config, "classes": classes, "input": spec.to_json(),
        "train_config": cfg.to_json(), "command": " ".join(sys.argv), "finetuned_from": cfg.finetune or None,
        "data_summary": _data_summary(train_set, val_set),
    }


def _data_summary(train_set: ClusterSet, val_set: ClusterSet | None) -> dict:
    """Clusters per class (outliers apart) of the training and validation sets, and per data source."""
    val = {d["source"]: d for d in source_counts(val_set)} if val_set is not None else {}
    sources = [{"source": d["source"], "train": d["classes"], "train_outliers": d["outliers"],
                "val": val.get(d["source"], {}).get("classes", {}),
                "val_outliers": val.get(d["source"], {}).get("outliers", 0)} for d in source_counts(train_set)]
    known = lambda cs: cs.subset(~cs.outlier).class_counts()  # noqa: E731
    return {"train": known(train_set), "val": known(val_set) if val_set is not None else {},
            "train_outliers": int(train_set.outlier.sum()),
            "val_outliers": int(val_set.outlier.sum()) if val_set is not None else 0, "sources": sources}


def _save_checkpoints(run: _Run, ck: dict) -> None:
    """``ckpt_last.pt`` always, ``ckpt_best.pt`` when the score (validation mean-class accuracy, or
    training accuracy without a validation set) is the best so far."""
    metrics = ck["metrics"]
    score = metrics.get("val_mean_class_accuracy", metrics["train_accuracy"])
    ck = {**ck, "step": run.step, "best": max(run.best, score)}
    save_checkpoint(ck, run.out / "ckpt_last.pt")
    if score > run.best:
        run.best = score
        save_checkpoint(ck, run.out / "ckpt_best.pt")


class _EpochLog:
    """``log.csv``, one row per epoch (appended to when resuming), and a line on stderr if ``echo``."""

    def __init__(self, path: Path, fresh: bool, echo: bool):
        fresh = fresh or not path.is_file()
        self.file = open(path, "w" if fresh else "a", newline="")
        self.writer = csv.writer(self.file)
        self.echo = echo
        if fresh:
            self.writer.writerow(["epoch", "step", "lr", "loss", "train_acc", "val_acc", "val_macc", "seconds"])

    def write(self, epoch: int, step: int, lr: float, metrics: dict, seconds: float) -> None:
        nan = float("nan")
        self.writer.writerow([epoch, step, f"{lr:.2e}", f"{metrics['train_loss']:.4f}",
                              f"{metrics['train_accuracy']:.4f}", f"{metrics.get('val_accuracy', nan):.4f}",
                              f"{metrics.get('val_mean_class_accuracy', nan):.4f}", f"{seconds:.1f}"])
        self.file.flush()
        if self.echo:
            print(f"epoch {epoch}: " + json.dumps({k: round(v, 4) for k, v in metrics.items()}), file=sys.stderr)

    def close(self) -> None:
        self.file.close()


def _finish(log: _EpochLog | None, world: int) -> None:
    if log is not None:
        log.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # process 0 may still be writing the last checkpoint: all return after it
        dist.destroy_process_group()
