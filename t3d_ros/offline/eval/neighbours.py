"""Which training clusters does the network think a cluster is like? Nearest neighbours in its embedding.

The class scores are a linear function of the network's last hidden layer (the input of
``head.out``): two clusters close there get nearly the same scores. For a real cluster the model
labels wrongly, its nearest simulated clusters in that space show what in the training data taught
it the label (docs/realism.md, "What the network compares real clusters with"). Similarity is the
cosine of the embeddings; the search is brute force, (Q x R) products, fine for tens of thousands of
reference clusters.

    emb, logits = embed("models/t3d_tiny.json", cluster_set)        # (K, H), (K, C)
    idx, cos = nearest(emb_real, emb_sim, k=10)                     # (Q, 10) each
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from t3d_ros.classify.classifier import load_card
from t3d_ros.offline.data import ClusterSet
from t3d_ros.offline.train.loop import predict


def embed(card_path: str | Path, cs: ClusterSet, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(K, H) embeddings (the input of the network's output layer) and (K, C) logits of the clusters of
    ``cs``, from the bundle's torch weights on the CPU with the inputs training builds (``loop.predict``)."""
    from t3d_ros.offline.eval.classifier import _torch_of_card

    path = Path(card_path)
    card = load_card(path)
    net = _torch_of_card(card, path)
    out_layer = getattr(getattr(net, "head", None), "out", None)
    if out_layer is None:
        raise ValueError(f"{path}: the network {card['architecture']['name']!r} has no head.out layer to embed at")
    seen: list[np.ndarray] = []
    hook = out_layer.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().numpy().copy()))
    try:
        logits = predict(net, cs, card["input_spec"], batch_size)
    finally:
        hook.remove()
    emb = np.concatenate(seen) if seen else np.zeros((0, out_layer.in_features), np.float32)
    return emb, logits


def nearest(query: np.ndarray, reference: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` reference rows most similar to each query row by cosine: (Q, k) indices into
    ``reference`` and (Q, k) similarities, most similar first (k is capped at len(reference))."""
    def unit(e: np.ndarray) -> np.ndarray:
        e = np.asarray(e, np.float64)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    sim = unit(query) @ unit(reference).T
    k = min(k, sim.shape[1])
    idx = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(sim, idx, axis=1)
