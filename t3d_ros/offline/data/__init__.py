"""Labelled clusters for training and evaluating the cluster classifier, from every source.

Every source returns one container, :class:`ClusterSet` (``clusterset.py``). Sources, one file each:

- ``sim.py``: simulated frames cut by the node's own segmentation (the default training data);
- ``modelnet40.py``: ModelNet40 CAD objects (teacher pre-training);
- ``kitti.py``: real KITTI objects and the node's clusters on KITTI frames (evaluation only);
- ``folder.py``: a user folder ``<root>/<class>/*`` of labelled clusters.

``load_data(source, split)`` turns a ``--data`` string into the ClusterSet of one split; several
sources, comma-separated, are joined by ``combine``. Nothing here downloads anything, and the node
never imports this package.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from t3d_ros.io.kitti import KITTI_TO_T3D
from t3d_ros.offline.data.clusterset import ClusterSet, format_summary
from t3d_ros.offline.data.folder import load_folder
from t3d_ros.offline.data.kitti import load_kitti_frame_clusters, load_kitti_objects
from t3d_ros.offline.data.modelnet40 import load_modelnet40
from t3d_ros.offline.data.sim import SIM_SENSORS, load_or_make_sim_clusters, make_sim_clusters, sim_cache_key

SIM_VAL_SEED, SIM_TEST_SEED = 100_000, 200_000  # first seeds of the validation and test scenes

SOURCES_HELP = """data sources:
  sim                 clusters of simulated scenes segmented by the node's own pipeline; train,
                      validation and test use disjoint seed ranges (--sim-seeds training frames per
                      sensor), cached under --cache
  modelnet40:ROOT     ModelNet40 (modelnet40_normal_resampled or modelnet40_ply_hdf5_2048 layout)
  kitti:ROOT          the node's clusters on KITTI frames, labelled by the 3D boxes (evaluation)
  kitti-objects:ROOT  the points inside each KITTI box
  folder:ROOT         ROOT/<class>/* files, one object each (.npy, .bin, .pcd, .csv)
  FILE.npz            a saved ClusterSet
several sources, comma-separated (e.g. sim,folder:DIR), are joined; class names are mapped by name
onto the first source's classes"""


def load_data(source: str, split: str, sim_seeds: int = 200, cache: str = "out/cache", workers: int = 2,
              classes: Sequence[str] | None = None) -> ClusterSet:
    """The ClusterSet of ``source`` (see ``SOURCES_HELP``; several comma-separated) for ``split``
    ("train", "val" or "test"), with ``meta["data_source"]`` the source of every cluster. Class names
    are mapped by name onto ``classes`` (default: the first source's classes)."""
    specs = [s for s in source.split(",") if s]
    if not specs:
        raise ValueError(f"no data source in {source!r}")
    return combine([_load_one(s, split, sim_seeds, cache, workers) for s in specs], specs, classes)


def _load_one(source: str, split: str, sim_seeds: int, cache: str, workers: int) -> ClusterSet:
    kind, _, root = source.partition(":")
    if kind == "sim":
        n = {"train": sim_seeds, "val": max(sim_seeds // 10, 4), "test": max(sim_seeds // 5, 8)}[split]
        first = {"train": 0, "val": SIM_VAL_SEED, "test": SIM_TEST_SEED}[split]
        return load_or_make_sim_clusters(cache, range(first, first + n), workers=workers)
    if kind == "modelnet40":
        return load_modelnet40(root, "test" if split == "val" else split)
    if kind == "kitti":
        return load_kitti_frame_clusters(root)
    if kind == "kitti-objects":
        return load_kitti_objects(root)
    if kind == "folder":
        parts = load_folder(root).split([0.8, 0.1, 0.1], seed=0)
        return parts[{"train": 0, "val": 1, "test": 2}[split]]
    if source.endswith(".npz"):
        return ClusterSet.load(source)
    raise ValueError(f"unknown data source {source!r} (see `python -m t3d_ros train --help`)")


def with_classes(cs: ClusterSet, classes: Sequence[str], name: str = "data") -> ClusterSet:
    """``cs`` with its labels mapped by name onto ``classes``. A class with clusters that ``classes``
    lacks is a ``ValueError`` naming it; an outlier's label (for the record only) becomes 0 then."""
    classes = tuple(classes)
    if cs.class_names == classes:
        return cs
    lut = np.array([classes.index(c) if c in classes else -1 for c in cs.class_names], np.int64)
    labels = lut[cs.labels] if len(cs) else np.zeros(0, np.int64)
    unknown = sorted({cs.class_names[i] for i in cs.labels[(labels < 0) & ~cs.outlier]})
    if unknown:
        raise ValueError(f"{name}: class(es) {', '.join(unknown)} not in the class list ({', '.join(classes)})")
    return ClusterSet(cs.points, cs.offsets, np.maximum(labels, 0), classes, dict(cs.meta), dict(cs.info))


def _fill(key: str, like: np.ndarray, cs: ClusterSet) -> np.ndarray:
    """Meta ``key`` for a set that lacks it: a neutral value of ``like``'s type."""
    n = len(cs)
    if key == "outlier":
        return np.zeros(n, bool)
    if key == "purity":
        return np.ones(n, np.float32)
    if key == "range_m":
        return cs.ranges.astype(np.float32)  # computed from the points: the set lacks the key
    if like.dtype.kind in "US":
        return np.full(n, "unknown" if key == "sensor" else "", dtype=str)
    return np.zeros(n, like.dtype)


def combine(sets: Sequence[ClusterSet], names: Sequence[str], classes: Sequence[str] | None = None) -> ClusterSet:
    """One ClusterSet of ``sets`` (from the sources ``names``): labels mapped onto ``classes`` (default:
    the first set's), meta keys harmonised, ``meta["data_source"]`` set to each cluster's source name,
    ``info["sources"]`` listing every source's size; otherwise the info of the first set."""
    classes = tuple(classes) if classes is not None else sets[0].class_names
    sets = [with_classes(cs, classes, name) for cs, name in zip(sets, names, strict=True)]
    likes = {k: v for cs in reversed(sets) for k, v in cs.meta.items()}
    joined = []
    for cs, name in zip(sets, names, strict=True):
        meta = {k: cs.meta[k] if k in cs.meta else _fill(k, likes[k], cs) for k in likes}
        meta["data_source"] = np.full(len(cs), name)
        joined.append(ClusterSet(cs.points, cs.offsets, cs.labels, classes, meta, cs.info))
    out = ClusterSet.concatenate(joined) if len(joined) > 1 else joined[0]
    out.info = {**sets[0].info, "sources": [{"source": name, "clusters": len(cs), "outliers": int(cs.outlier.sum())}
                                            for cs, name in zip(sets, names, strict=True)]}
    return out


def source_counts(cs: ClusterSet) -> list[dict]:
    """Per data source (``meta["data_source"]``, else ``meta["source"]``): clusters per class (outliers
    apart)."""
    src = source_names(cs)
    out = []
    for name in dict.fromkeys(src.tolist()):
        part = cs.subset(src == name)
        known = part.subset(~part.outlier)
        out.append({"source": name, "classes": known.class_counts(), "outliers": int(part.outlier.sum())})
    return out


def source_names(cs: ClusterSet) -> np.ndarray:
    """(K,) str the source of every cluster: ``meta["data_source"]`` (``load_data``), else ``meta["source"]``."""
    for key in ("data_source", "source"):
        if key in cs.meta:
            return np.asarray(cs.meta[key]).astype(str)
    return np.full(len(cs), str(cs.info.get("source", "data")))


__all__ = [
    "KITTI_TO_T3D",
    "SIM_SENSORS",
    "SIM_TEST_SEED",
    "SIM_VAL_SEED",
    "SOURCES_HELP",
    "ClusterSet",
    "combine",
    "format_summary",
    "load_data",
    "load_folder",
    "load_kitti_frame_clusters",
    "load_kitti_objects",
    "load_modelnet40",
    "load_or_make_sim_clusters",
    "make_sim_clusters",
    "sim_cache_key",
    "source_counts",
    "source_names",
    "with_classes",
]
