"""Labelled clusters for training and evaluating the cluster classifier, from every source.

Every source returns one container, :class:`ClusterSet` (``clusterset.py``). Sources, one file each:

- ``sim.py``: simulated frames cut by the node's own segmentation (the default training data);
- ``modelnet40.py``: ModelNet40 CAD objects (teacher pre-training);
- ``kitti.py``: real KITTI objects and the node's clusters on KITTI frames (evaluation only);
- ``folder.py``: a user folder ``<root>/<class>/*`` of labelled clusters.

``load_data(source, split)`` turns a ``--data`` string into the ClusterSet of one split. Nothing here
downloads anything, and the node never imports this package.
"""

from __future__ import annotations

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
  FILE.npz            a saved ClusterSet"""


def load_data(source: str, split: str, sim_seeds: int = 200, cache: str = "out/cache", workers: int = 2
              ) -> ClusterSet:
    """The ClusterSet of ``source`` (see ``SOURCES_HELP``) for ``split`` ("train", "val" or "test")."""
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


__all__ = [
    "KITTI_TO_T3D",
    "SIM_SENSORS",
    "SIM_TEST_SEED",
    "SIM_VAL_SEED",
    "SOURCES_HELP",
    "ClusterSet",
    "format_summary",
    "load_data",
    "load_folder",
    "load_kitti_frame_clusters",
    "load_kitti_objects",
    "load_modelnet40",
    "load_or_make_sim_clusters",
    "make_sim_clusters",
    "sim_cache_key",
]
