"""Training batches, prepared in ``DataLoader`` worker processes while the model trains.

One item is one batch: the clusters ``idx`` of the training set, augmented (numpy), turned into
network inputs (FPS + ball-query indices, numba CPU ops) for the model and, with online
distillation, for the teacher. ``EpochSampler`` draws every epoch's class-balanced cluster order
in the main process, identically in every DDP process (each takes its share of the global batch),
and hands batch ``b`` to the workers as ``(epoch, b, idx)``. With outlier exposure a fixed share of
every batch are outliers (clusters no class fits), drawn apart from the class balancing.

Reproducibility: the augmentation of batch ``b`` of ``epoch`` draws from a generator seeded by
(run seed, rank, epoch, b), so a run gives the same batches whatever the number of workers, and a
resumed run the same as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from t3d_ros.classify.inputs import InputSpec, make_inputs
from t3d_ros.offline.data import ClusterSet
from t3d_ros.offline.train.augment import Augment


class Batch(NamedTuple):
    inputs: list[torch.Tensor]  # the model's network inputs
    labels: torch.Tensor  # (B,) int64
    idx: torch.Tensor  # (B,) int64 cluster indices (offline distillation looks up the teacher's logits)
    teacher_inputs: list[torch.Tensor] | None  # online distillation: the same clusters for the teacher
    outlier: torch.Tensor  # (B,) bool: no class fits (outlier exposure; its label is not used)


def batch_inputs(clusters: list[np.ndarray], spec: InputSpec,
                 device: torch.device | str | None = None) -> list[torch.Tensor]:
    """Network inputs of a list of (n_i, 4) clusters: CPU tensors (numba ops), or with a CUDA
    ``device`` tensors built there by the CUDA sampling ops (the CPU ops when those are unusable)."""
    pts = np.concatenate(clusters).astype(np.float32)
    offsets = np.r_[0, np.cumsum([len(c) for c in clusters])]
    if device is not None and torch.device(device).type == "cuda":
        return make_inputs(torch.from_numpy(pts).to(device), offsets, spec, backend="auto", host_points=pts).as_list()
    return [torch.from_numpy(a) for a in make_inputs(pts, offsets, spec, backend="cpu").as_list()]


def _random_point_first(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``points`` with a random point swapped to the front: sampling (start "first") starts there."""
    j = int(rng.integers(len(points))) if len(points) else 0
    if j == 0:
        return points
    out = points.copy()
    out[[0, j]] = points[[j, 0]]
    return out


class ClusterBatches(Dataset):
    """Item ``(epoch, b, idx)``: batch ``b`` of ``epoch``, the clusters ``idx`` of ``cs``."""

    def __init__(self, cs: ClusterSet, spec: InputSpec, augment: Augment | None, seed: int, rank: int = 0,
                 teacher_spec: InputSpec | None = None):
        # A network that samples from the farthest point at run time (InputSpec.start "far") trains on
        # random starts: the sample varies from batch to batch, and the network learns not to depend on
        # where sampling starts (a fixed start in training gave toy runs 0.65 instead of 0.8+).
        self.random_start = spec.start == "far"
        if self.random_start:
            spec = dataclasses.replace(spec, start="first")
            teacher_spec = dataclasses.replace(teacher_spec, start="first") if teacher_spec is not None else None
        self.cs, self.spec, self.augment, self.teacher_spec = cs, spec, augment, teacher_spec
        self.seed, self.rank = seed, rank

    def rng(self, epoch: int, b: int, purpose: int = 0) -> np.random.Generator:
        """The generator of batch ``b`` of ``epoch`` (``purpose`` 1: BN recalibration batches)."""
        return np.random.default_rng([self.seed, self.rank, epoch, b, purpose])

    def batch(self, idx: np.ndarray, rng: np.random.Generator) -> Batch:
        """Clusters ``idx``, augmented with ``rng``, as network inputs."""
        clusters = [self.cs.cluster(i) for i in idx]
        if self.augment is not None:
            sensors = self.cs.meta.get("sensor")  # simulated clusters: the resolution for Augment's push_away
            clusters = [self.augment(c, rng, str(sensors[i]) if sensors is not None else None)
                        for c, i in zip(clusters, idx, strict=True)]
        if self.random_start:
            clusters = [_random_point_first(c, rng) for c in clusters]
        teacher = batch_inputs(clusters, self.teacher_spec) if self.teacher_spec is not None else None
        return Batch(batch_inputs(clusters, self.spec), torch.from_numpy(self.cs.labels[idx]),
                     torch.from_numpy(np.asarray(idx, np.int64)), teacher, torch.from_numpy(self.cs.outlier[idx]))

    def __getitem__(self, key: tuple[int, int, np.ndarray]) -> Batch:
        epoch, b, idx = key
        return self.batch(idx, self.rng(epoch, b))


class EpochSampler(Sampler):
    """The keys ``(epoch, b, idx)`` of this process's ``steps`` batches of the epoch set by ``set_epoch``.

    Clusters are drawn with replacement, cluster i with probability proportional to
    ``count(class_i) ** -balance * weight_i`` (``weight``: e.g. a per-source weight; 1 by default);
    the draw depends only on (seed, epoch), so every DDP process makes the same one and takes every
    ``world``-th cluster of it. ``outlier`` (K,) bool marks clusters that no class fits: they are left
    out of the class draw, and ``round(oe_share * batch_size)`` of every batch are drawn from them
    (in proportion to ``weight``) when ``oe_share`` > 0 (outlier exposure).
    """

    def __init__(self, labels: np.ndarray, num_classes: int, balance: float, batch_size: int, steps: int,
                 seed: int, rank: int = 0, world: int = 1, outlier: np.ndarray | None = None,
                 oe_share: float = 0.0, weight: np.ndarray | None = None):
        outlier = np.zeros(len(labels), bool) if outlier is None else np.asarray(outlier, bool)
        weight = np.ones(len(labels)) if weight is None else np.asarray(weight, np.float64)
        counts = np.bincount(labels[~outlier], minlength=num_classes).astype(np.float64)
        weights = np.where(outlier, 0.0, np.maximum(counts[labels], 1) ** -balance * weight)
        if weights.sum() <= 0:
            raise ValueError("no training clusters with a class (all are outliers or have weight 0)")
        self.weights = weights / weights.sum()
        out = np.where(outlier, weight, 0.0)
        self.outlier_weights = out / out.sum() if out.sum() > 0 else None
        self.n_outliers = int(round(oe_share * batch_size)) if self.outlier_weights is not None else 0
        if self.n_outliers >= batch_size:
            raise ValueError(f"oe_share={oe_share}: outliers would fill the whole batch")
        self.batch_size, self.steps, self.seed, self.rank, self.world = batch_size, steps, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[int, int, np.ndarray]]:
        n_out = self.n_outliers
        bs = self.batch_size - n_out  # clusters with a class per batch
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.choice(len(self.weights), size=self.steps * bs * self.world, p=self.weights)
        order = order[self.rank::self.world]  # the global batch is world * batch_size
        outliers = np.zeros(0, np.int64)
        if n_out:  # drawn after the classes: without outliers the draw is the one of plain training
            outliers = rng.choice(len(self.weights), size=self.steps * n_out * self.world, p=self.outlier_weights)
            outliers = outliers[self.rank::self.world]
        for b in range(self.steps):
            yield self.epoch, b, np.concatenate([order[b * bs:(b + 1) * bs], outliers[b * n_out:(b + 1) * n_out]])


def _as_is(batch: Batch) -> Batch:  # the items are whole batches already
    return batch


def _init_worker(worker_id: int) -> None:
    """One numba thread per worker: the workers are the parallelism. (Nothing here draws from a
    global RNG; every batch has its own generator, ``ClusterBatches.rng``.)"""
    try:
        import numba

        numba.set_num_threads(1)
    except ImportError:  # pragma: no cover - the ops then run their numpy fallback
        pass


def make_loader(dataset: ClusterBatches, sampler: EpochSampler, workers: int, seed: int,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader of whole batches; ``workers`` processes (0: in the main process) that live as
    long as the loader (starting them costs seconds: torch and numba load in each)."""
    # Not "fork": numba's parallel ops run on GNU OpenMP, which aborts a child forked after the
    # parent used it ("fork() called from a process already using GNU OpenMP").
    methods = multiprocessing.get_all_start_methods()
    context = ("forkserver" if "forkserver" in methods else "spawn") if workers else None
    return DataLoader(dataset, batch_size=None, sampler=sampler, num_workers=workers, collate_fn=_as_is,
                      pin_memory=pin_memory, persistent_workers=workers > 0, multiprocessing_context=context,
                      worker_init_fn=_init_worker if workers else None,
                      # its own generator: iterating must not consume the global torch RNG (NetAug widths)
                      generator=torch.Generator().manual_seed(seed))
