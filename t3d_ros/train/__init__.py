"""Offline side of t3d_ros: datasets, augmentation, training, distillation, export, evaluation.

Never imported by the node, so a robot needs none of the training dependencies.
"""

from t3d_ros.train.augment import Augment
from t3d_ros.train.datasets import (
    KITTI_TO_T3D,
    ClusterSet,
    load_folder,
    load_kitti_frame_clusters,
    load_kitti_objects,
    load_modelnet40,
    load_or_make_sim_clusters,
    make_sim_clusters,
)

__all__ = [
    "KITTI_TO_T3D",
    "Augment",
    "ClusterSet",
    "load_folder",
    "load_kitti_frame_clusters",
    "load_kitti_objects",
    "load_modelnet40",
    "load_or_make_sim_clusters",
    "make_sim_clusters",
]
