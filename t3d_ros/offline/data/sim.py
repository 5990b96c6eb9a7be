"""Simulated clusters cut by the node's own segmentation: the default training data.

Each (seed, sensor) frame of the simulated LiDAR is segmented by the node's pipeline, and every
cluster is labelled by the majority ground-truth class of its points: the same partial views,
ground remnants and merges the node sees at run time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from t3d_ros.classes import CLASSES, GROUND_ID
from t3d_ros.offline.data.clusterset import ClusterSet, format_summary

log = logging.getLogger(__name__)

SIM_SENSORS: tuple[str, ...] = ("vlp16", "hdl32", "hdl64", "os1-128")
# Bump when the sim-cluster recipe changes so stale caches are not reused (the cache key also holds a
# hash of the simulator's and the segmentation's source files).
_SIM_CACHE_VERSION = 2
# Mounting heights of real sensors: small robots (0.4 m) to roof racks (2.0 m). Half of the training
# frames take one at random, half the sensor's usual height.
MOUNT_HEIGHTS = (0.4, 2.0)


def mount_height(seed: int, sensor: str, heights: tuple[float, float] | None = MOUNT_HEIGHTS) -> float | None:
    """The sensor height of frame ``seed`` (None: the sensor's own), drawn from ``heights``."""
    if heights is None:
        return None
    rng = np.random.default_rng([seed, sum(map(ord, sensor)), 0x40])
    return float(rng.uniform(*heights)) if rng.random() < 0.5 else None


def _label_clusters(
    input_cluster_id: np.ndarray, truth: np.ndarray, n_clusters: int, n_truth: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Majority truth of every cluster.

    input_cluster_id: (N,) cluster of every point (-1 none); truth: (N,) id in [0, n_truth).
    Returns majority (K,) int64, its share (K,) float32 and the cluster sizes (K,) int64.
    """
    sel = input_cluster_id >= 0
    table = np.zeros((n_clusters, n_truth), np.int64)
    np.add.at(table, (input_cluster_id[sel], truth[sel]), 1)
    size = table.sum(axis=1)
    major = table.argmax(axis=1)
    share = table[np.arange(n_clusters), major] / np.maximum(size, 1)
    return major.astype(np.int64), share.astype(np.float32), size


def cluster_truth(point_labels: np.ndarray, input_cluster_id: np.ndarray, n_clusters: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-point truth of a simulated frame (``Frame.label``, ``GROUND_ID`` for ground) as ids with ground
    as the last one, ``len(CLASSES)``, so that it can win a cluster's majority vote; and every cluster's
    majority (K,) and its share (K,) (``_label_clusters``)."""
    truth = np.where(point_labels == GROUND_ID, len(CLASSES), point_labels).astype(np.int64)
    major, purity, _ = _label_clusters(input_cluster_id, truth, n_clusters, len(CLASSES) + 1)
    return truth, major, purity


def _sim_frame_clusters(task: tuple) -> tuple[dict, dict[str, int]]:
    """Worker: simulate and segment one (seed, sensor) frame. Module-level so ``spawn`` can pickle it."""
    seed, sensor, density, min_points, min_purity, cfg_dict, heights = task
    from t3d_ros.offline.sim import simulate
    from t3d_ros.segment.pipeline import Pipeline, PipelineConfig

    _, frame = simulate(seed, sensor, density, mount_height=mount_height(seed, sensor, heights))
    cfg = PipelineConfig(**cfg_dict) if cfg_dict is not None else PipelineConfig()
    pts = np.column_stack([frame.xyz, frame.intensity]).astype(np.float32)
    seg = Pipeline(cfg)(pts)
    k = seg.num_clusters
    truth, major, purity = cluster_truth(frame.label, seg.input_cluster_id, k)
    sizes = np.diff(seg.cluster_offsets)
    is_ground = major == len(CLASSES)
    small = sizes < min_points
    impure = purity < min_purity
    # Ground remnants and merges of several objects are what the node meets and no class fits: kept as
    # outliers (meta "outlier"), for outlier exposure in training and as negatives of the thresholds.
    outlier = (is_ground | impure) & ~small
    if is_ground.any():  # an outlier's label: its largest object class (for the record only)
        sel = seg.input_cluster_id >= 0
        table = np.zeros((k, len(CLASSES)), np.int64)
        obj = truth[sel] < len(CLASSES)
        np.add.at(table, (seg.input_cluster_id[sel][obj], truth[sel][obj]), 1)
        major = np.where(is_ground, table.argmax(axis=1), major)
    keep = ~small
    stats = {
        "frames": 1,
        "clusters": k,
        "kept": int((keep & ~outlier).sum()),
        "outliers_ground": int((is_ground & ~small).sum()),
        "outliers_impure": int((impure & ~small & ~is_ground).sum()),
        "dropped_small": int(small.sum()),
        "oversize_left_out": int(seg.n_oversize),
        "input_points": len(frame),
    }
    ki = np.flatnonzero(keep)
    cl_sizes = sizes[ki]
    rows = np.concatenate([np.arange(seg.cluster_offsets[i], seg.cluster_offsets[i + 1]) for i in ki]) if len(ki) \
        else np.zeros(0, np.int64)
    cpts = seg.cluster_points[rows, :4].copy()
    cpts[:, 3] = np.clip(cpts[:, 3] / 255.0, 0.0, 1.0)  # sim intensity is 0..255 like the drivers
    offsets = np.zeros(len(ki) + 1, np.int64)
    np.cumsum(cl_sizes, out=offsets[1:])
    centre = np.add.reduceat(cpts[:, :2].astype(np.float64), offsets[:-1], axis=0) / cl_sizes[:, None] \
        if len(ki) else np.zeros((0, 2))
    out = {
        "points": cpts,
        "offsets": offsets,
        "labels": major[ki],
        "purity": purity[ki],
        "outlier": outlier[ki],
        "range_m": np.hypot(centre[:, 0], centre[:, 1]).astype(np.float32),
        "seed": seed,
        "sensor": sensor,
    }
    return out, stats


def _sim_tasks(seeds, sensors, density, min_points, min_purity, pipeline_config, heights):
    cfg = asdict(pipeline_config) if pipeline_config is not None else None
    hs = tuple(map(float, heights)) if heights is not None else None
    return [(int(s), str(sen), float(density), int(min_points), float(min_purity), cfg, hs)
            for s in seeds for sen in sensors]


def make_sim_clusters(
    seeds: Sequence[int],
    sensors: Sequence[str] = SIM_SENSORS,
    density: float = 1.0,
    min_points: int = 10,
    min_purity: float = 0.7,
    pipeline_config: Any = None,
    workers: int = 1,
    verbose: bool = False,
    heights: tuple[float, float] | None = MOUNT_HEIGHTS,
) -> ClusterSet:
    """Simulate one frame per (seed, sensor), segment it with the node's pipeline, label the clusters.

    Every cluster is labelled by the majority ground-truth class of its input points (ground counts
    as a class), ``purity`` = that majority's share. Clusters with fewer than ``min_points`` points are
    dropped; those whose majority is ground or whose purity is below ``min_purity`` are kept as
    outliers (``meta["outlier"]``, labelled by their largest object class). Half the frames are taken
    from a random mounting height in ``heights`` (``mount_height``). The counts per cause are in
    ``info["summary"]`` (and logged, printed when ``verbose``). Points are the packed cluster points the
    classifier receives at run time (sensor frame, intensity / 255). ``meta["frame"]`` is the seed, so
    ``split`` keeps all sensors' views of a scene together. Output order is (seed, sensor) order,
    independent of ``workers`` (> 1: a ``spawn`` process pool, safe from any caller).
    """
    from t3d_ros.segment.pipeline import PipelineConfig

    if pipeline_config is not None and not isinstance(pipeline_config, PipelineConfig):
        raise TypeError(f"pipeline_config must be a PipelineConfig, got {type(pipeline_config).__name__}")
    if pipeline_config is not None:
        pipeline_config.validate()
    tasks = _sim_tasks(seeds, sensors, density, min_points, min_purity, pipeline_config, heights)
    t0 = time.perf_counter()
    if workers > 1 and len(tasks) > 1:
        with mp.get_context("spawn").Pool(min(workers, len(tasks))) as pool:
            results = pool.map(_sim_frame_clusters, tasks, chunksize=1)
    else:
        results = [_sim_frame_clusters(t) for t in tasks]
    elapsed = time.perf_counter() - t0

    totals: Counter[str] = Counter()
    parts = []
    for out, stats in results:
        totals.update(stats)
        n = len(out["labels"])
        parts.append(
            ClusterSet(
                out["points"], out["offsets"], out["labels"], CLASSES,
                {
                    "source": np.full(n, "sim", dtype=str),
                    "range_m": out["range_m"],
                    "purity": out["purity"],
                    "outlier": out["outlier"],
                    "sensor": np.full(n, out["sensor"], dtype="<U16"),
                    "frame": np.full(n, out["seed"], dtype=np.int32),
                },
            )
        )
    cs = ClusterSet.concatenate(parts) if parts else ClusterSet.empty(CLASSES)
    summary = dict(totals)
    summary["seconds"] = round(elapsed, 2)
    summary["workers"] = int(workers)
    cs.info = {
        "source": "sim",
        "seeds": [int(s) for s in seeds] if len(seeds) <= 64 else f"{len(seeds)} seeds, {min(seeds)}..{max(seeds)}",
        "sensors": list(sensors),
        "density": density,
        "min_points": min_points,
        "min_purity": min_purity,
        "mount_heights": list(heights) if heights is not None else None,
        "summary": summary,
        "class_counts": cs.class_counts(),
    }
    msg = format_summary(cs)
    log.info("%s", msg)
    if verbose:
        print(msg)
    return cs



def sim_cache_key(
    seeds: Sequence[int],
    sensors: Sequence[str] = SIM_SENSORS,
    density: float = 1.0,
    min_points: int = 10,
    min_purity: float = 0.7,
    pipeline_config: Any = None,
    heights: tuple[float, float] | None = MOUNT_HEIGHTS,
) -> str:
    """Hash (16 hex digits) of everything that changes the sim clusters (not ``workers``): the
    arguments and the source code of the simulator, the segmentation and this module."""
    from t3d_ros.segment.pipeline import PipelineConfig

    cfg = asdict(pipeline_config if pipeline_config is not None else PipelineConfig())
    blob = json.dumps(
        {
            "v": _SIM_CACHE_VERSION,
            "code": _source_hash(),
            "heights": list(heights) if heights is not None else None,
            "seeds": [int(s) for s in seeds],
            "sensors": list(sensors),
            "density": float(density),
            "min_points": int(min_points),
            "min_purity": float(min_purity),
            "pipeline": cfg,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_or_make_sim_clusters(
    cache_dir: str | Path,
    seeds: Sequence[int],
    sensors: Sequence[str] = SIM_SENSORS,
    density: float = 1.0,
    min_points: int = 10,
    min_purity: float = 0.7,
    pipeline_config: Any = None,
    workers: int = 1,
    verbose: bool = False,
    heights: tuple[float, float] | None = MOUNT_HEIGHTS,
) -> ClusterSet:
    """:func:`make_sim_clusters`, cached as ``<cache_dir>/sim_<key>.npz`` (key: :func:`sim_cache_key`,
    which changes with the simulator's and the segmentation's code)."""
    key = sim_cache_key(seeds, sensors, density, min_points, min_purity, pipeline_config, heights)
    path = Path(cache_dir) / f"sim_{key}.npz"
    if path.is_file():
        cs = ClusterSet.load(path)
        log.info("sim clusters from cache %s", path)
        if verbose:
            print(f"loaded {path}\n{format_summary(cs)}")
        return cs
    cs = make_sim_clusters(seeds, sensors, density, min_points, min_purity, pipeline_config, workers, verbose,
                           heights)
    cs.save(path)
    return cs


def _source_hash() -> str:
    """sha256 (12 hex digits) of the source files that decide what the sim clusters are."""
    root = Path(__file__).resolve().parents[2]
    files = sorted([*(root / "offline" / "sim").glob("*.py"), *(root / "segment").glob("*.py"), Path(__file__)])
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:12]
