"""Point sampling ops computed outside the network graph: FPS, ball query, all SA-level indices.

Each op has a plain reference implementation (the definition the fast ones are tested against), a
numba CPU backend and a CUDA backend (``t3d_ros.classify.ops.cuda``, built with nvcc on first use). All
backends return identical indices.
"""

from t3d_ros.classify.ops.ball_query import ball_query, ball_query_reference
from t3d_ros.classify.ops.fps import fps_batch, fps_packed, fps_reference
from t3d_ros.classify.ops.sampling import SALevel, sample_and_group, sample_clusters

__all__ = [
    "SALevel",
    "ball_query",
    "ball_query_reference",
    "fps_batch",
    "fps_packed",
    "fps_reference",
    "sample_clusters",
    "sample_and_group",
]
