"""offline/eval/neighbours.py: the network's embedding of a cluster, and its nearest neighbours."""

from __future__ import annotations

import numpy as np
import torch
from conftest import REPO

from t3d_ros.offline.data import ClusterSet
from t3d_ros.offline.eval.neighbours import embed, nearest

CARD = REPO / "models" / "t3d_tiny.json"


def _clusters(seed: int = 0, k: int = 7) -> ClusterSet:
    rng = np.random.default_rng(seed)
    parts = [(rng.normal(size=(n, 4)) * [1.5, 0.6, 0.5, 0.1] + [rng.uniform(5, 40), rng.uniform(-10, 10), -1, 0.3])
             for n in rng.integers(10, 400, k)]
    return ClusterSet.from_list(parts, np.zeros(k), ["car"], source="test", sensor="", frame=0)


def test_embedding_gives_the_node_scores_through_the_output_layer():
    """The logits are the node's (ONNX Runtime), and they are the output layer applied to the embedding."""
    from t3d_ros.classify.classifier import Classifier

    cs = _clusters()
    emb, logits = embed(CARD, cs, batch_size=3)  # batches: the hook collects every one in order
    assert emb.shape[0] == logits.shape[0] == len(cs)
    np.testing.assert_allclose(logits, Classifier(CARD, device="cpu").logits(cs.points, cs.offsets), atol=1e-3)
    state = torch.load(REPO / "models" / "t3d_tiny.pt", weights_only=True)
    w, b = state["head.out.weight"].numpy(), state["head.out.bias"].numpy()
    np.testing.assert_allclose(emb @ w.T + b, logits, atol=1e-4)


def test_nearest_ranks_by_cosine():
    emb, _ = embed(CARD, _clusters(1))
    idx, cos = nearest(emb[:3], emb, k=4)
    assert idx.shape == cos.shape == (3, 4)
    assert idx[:, 0].tolist() == [0, 1, 2]  # each is its own nearest
    np.testing.assert_allclose(cos[:, 0], 1.0, atol=1e-9)
    assert np.all(np.diff(cos, axis=1) <= 1e-12)
    # scale does not matter to a cosine; k is capped at the reference's size
    idx2, cos2 = nearest(3 * emb[:3], emb[:2], k=5)
    assert idx2.shape == (3, 2) and idx2[0, 0] == 0 and idx2[1, 0] == 1
    np.testing.assert_allclose(cos2[:2, 0], 1.0, atol=1e-9)
