"""Point-cloud classification networks: the teachers, the tiny student and its NetAug supernet.

Every model takes ``forward(xyz (B, N, 3), feats (B, N, F), globals (B, G), *indices)`` and
returns logits (B, num_classes); ``model.levels`` lists the ``(npoint, radius, nsample)`` the
caller must compute FPS / ball-query indices for (one ``fps_l, group_l`` pair per level, in
order; see ``pointnet2``), and ``model.example_inputs(batch, n_points)`` builds dummy inputs.

Offline code (training, export) and the node both import this package; it needs only torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from .dgcnn import DGCNN
from .layers import Level
from .netaug import NetAugTinyPointNet2, recalibrate_bn
from .pointnet2 import PointNet2MSG, PointNet2SSG
from .tiny import TinyPointNet2

MODELS: dict[str, type[nn.Module]] = {
    "pointnet2_ssg": PointNet2SSG,
    "pointnet2_msg": PointNet2MSG,
    "dgcnn": DGCNN,
    "tiny": TinyPointNet2,
    "tiny_netaug": NetAugTinyPointNet2,
}

__all__ = [
    "DGCNN",
    "MODELS",
    "Level",
    "NetAugTinyPointNet2",
    "PointNet2MSG",
    "PointNet2SSG",
    "TinyPointNet2",
    "build_model",
    "count_flops",
    "count_params",
    "recalibrate_bn",
]


def build_model(name: str, num_classes: int, in_feats: int = 0, global_feats: int = 0, **cfg) -> nn.Module:
    """The model registered as ``name`` (a key of ``MODELS``); ``cfg`` goes to its constructor."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](num_classes, in_feats=in_feats, global_feats=global_feats, **cfg)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, inputs: Sequence[Tensor], **kwargs) -> float:
    """MFLOPs per cloud of one eval-mode forward pass on ``inputs`` (batch = ``inputs[0].shape[0]``).

    Counted by ``torch.utils.flop_counter`` (matmuls and convolutions, 2 FLOPs per multiply-add;
    BatchNorm, ReLU, gathers and pooling are not counted). ``kwargs`` go to ``forward``
    (e.g. ``width=`` for the NetAug supernet).
    """
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs, **kwargs)
    model.train(was_training)
    return counter.get_total_flops() / inputs[0].shape[0] / 1e6
