"""PointNet++ classification, single-scale (SSG) and multi-scale (MSG) grouping (Qi et al., NeurIPS 2017).

The teachers of the distillation recipe (DESIGN §3). FPS and ball-query indices are inputs
(DESIGN §2), so the graph exports to ONNX with no custom operator.

Inputs of ``forward``:
    xyz      (B, N, 3) float32  cluster points, centred, in metres (not rescaled: size matters)
    feats    (B, N, F) float32  per-point extra features (intensity, height above bottom, ...);
                                ignored when ``in_feats == 0``
    globals  (B, G) float32     per-cluster features (extent, log count, range, ...); ignored when
                                ``global_feats == 0``
    *indices                    ``fps_0, group_0, fps_1, group_1, ...`` int64, one pair per entry
                                of ``model.levels``: fps_l (B, S_l) indexes level l-1's points
                                (level -1: the N inputs); group_l (B, S_l, K_l) indexes the same
                                points (MSG: the scales' ball queries concatenated, K_l = sum).
Output: logits (B, num_classes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .layers import (
    ClassifierHead,
    ConvBNReLU,
    Level,
    LinearBNReLU,
    MultiScaleSetAbstraction,
    SetAbstraction,
    example_cloud,
    random_indices,
)

# (npoint, radius, nsample, mlp); npoint 0 = global level. The paper's ModelNet radii, which are
# also sensible in metres for LiDAR clusters (scale them with ``radius_scale``).
SSG_CONFIG: list[tuple] = [
    (512, 0.2, 32, (64, 64, 128)),
    (128, 0.4, 64, (128, 128, 256)),
    (0, None, None, (256, 512, 1024)),
]
# (npoint, radii, nsamples, mlps), one radius/nsample/mlp per scale.
MSG_CONFIG: list[tuple] = [
    (512, (0.1, 0.2, 0.4), (16, 32, 128), ((32, 32, 64), (64, 64, 128), (64, 96, 128))),
    (128, (0.2, 0.4, 0.8), (32, 64, 128), ((64, 64, 128), (128, 128, 256), (128, 128, 256))),
    (0, None, None, (256, 512, 1024)),
]


class PointNet2SSG(nn.Module):
    """PointNet++ SSG classifier: SA(512, 0.2, 32, 64-64-128) -> SA(128, 0.4, 64, 128-128-256) ->
    global SA(256-512-1024) -> FC 512-256-K (dropout 0.4); ~1.47 M parameters (K=40, F=G=0).

    Args:
        num_classes: K.
        in_feats: F, per-point features besides xyz.
        global_feats: G, per-cluster features concatenated into the head.
        sa_config: list of ``(npoint, radius, nsample, mlp widths)``; the last must be global
            (``npoint == 0``).
        head: hidden widths of the classifier head.
        dropout: dropout after every hidden head layer.
        normalize_xyz: divide grouped local coordinates by the radius (see ``SetAbstraction``).
        radius_scale: multiplies every radius (e.g. 2.0 for large metric clusters).
    """

    def __init__(
        self,
        num_classes: int,
        in_feats: int = 0,
        global_feats: int = 0,
        sa_config: Sequence[tuple] = SSG_CONFIG,
        head: Sequence[int] = (512, 256),
        dropout: float = 0.4,
        normalize_xyz: bool = True,
        radius_scale: float = 1.0,
        conv_layer: type[nn.Module] = ConvBNReLU,
        linear_layer: type[nn.Module] = LinearBNReLU,
        out_layer: type[nn.Module] = nn.Linear,
    ) -> None:
        super().__init__()
        _check_config(sa_config)
        self.num_classes, self.in_feats, self.global_feats = num_classes, in_feats, global_feats
        self.sa_config = [tuple(c) for c in sa_config]
        c = in_feats
        sa = []
        for npoint, radius, nsample, mlp in sa_config:
            radius = radius * radius_scale if npoint else None
            sa.append(SetAbstraction(npoint, radius, nsample, c, mlp, normalize_xyz, conv_layer))
            c = sa[-1].out_channels
        self.sa = nn.ModuleList(sa)
        self.head = ClassifierHead(c, global_feats, head, num_classes, dropout, linear_layer, out_layer)

    @property
    def levels(self) -> list[Level]:
        """The ``(npoint, radius, nsample)`` of every level that takes indices, in input order."""
        return [m.level for m in self.sa if m.npoint]

    def forward(self, xyz: Tensor, feats: Tensor, globals: Tensor, *indices: Tensor) -> Tensor:
        """xyz (B, N, 3), feats (B, N, F), globals (B, G), fps_0 (B, S_0), group_0 (B, S_0, K_0), ...
        -> logits (B, num_classes)."""
        if len(indices) != 2 * len(self.levels):
            n = 2 * len(self.levels)
            raise ValueError(f"expected {n} index tensors (fps, group per level), got {len(indices)}")
        f = feats if self.in_feats else None
        i = 0
        for sa in self.sa:
            if sa.npoint:
                xyz, f = sa(xyz, f, indices[i], indices[i + 1])
                i += 2
            else:
                xyz, f = sa(xyz, f)
        return self.head(f.flatten(1), globals)

    def example_inputs(self, batch: int = 2, n_points: int = 1024, seed: int = 0) -> tuple[Tensor, ...]:
        """Dummy ``(xyz, feats, globals, fps_0, group_0, ...)`` with valid random indices (see
        ``layers.random_indices``); for ONNX export and FLOP counting."""
        g = torch.Generator().manual_seed(seed)
        cloud = example_cloud(batch, n_points, self.in_feats, self.global_feats, g)
        return (*cloud, *random_indices(self.levels, batch, n_points, g))


class PointNet2MSG(PointNet2SSG):
    """PointNet++ MSG classifier: SA(512, r 0.1/0.2/0.4, 16/32/128) -> SA(128, r 0.2/0.4/0.8,
    32/64/128) -> global SA(256-512-1024) -> FC 512-256-K (dropout 0.4); ~1.75 M parameters.

    ``.levels`` entries carry per-scale tuples of radii and nsamples; each level takes one
    ``fps`` (B, S) and one ``group`` (B, S, sum(nsample)) holding the scales' ball queries side
    by side, scale order as in ``radius``.

    Args: as ``PointNet2SSG``; ``sa_config`` entries are ``(npoint, radii, nsamples, mlps)``.
    """

    def __init__(
        self,
        num_classes: int,
        in_feats: int = 0,
        global_feats: int = 0,
        sa_config: Sequence[tuple] = MSG_CONFIG,
        head: Sequence[int] = (512, 256),
        dropout: float = 0.4,
        normalize_xyz: bool = True,
        radius_scale: float = 1.0,
    ) -> None:
        nn.Module.__init__(self)
        _check_config(sa_config)
        self.num_classes, self.in_feats, self.global_feats = num_classes, in_feats, global_feats
        self.sa_config = [tuple(c) for c in sa_config]
        c = in_feats
        sa: list[nn.Module] = []
        for npoint, radii, nsamples, mlps in sa_config:
            if npoint:
                radii = tuple(r * radius_scale for r in radii)
                sa.append(MultiScaleSetAbstraction(npoint, radii, nsamples, c, mlps, normalize_xyz))
            else:
                sa.append(SetAbstraction(0, None, None, c, mlps))
            c = sa[-1].out_channels
        self.sa = nn.ModuleList(sa)
        self.head = ClassifierHead(c, global_feats, head, num_classes, dropout)


def _check_config(sa_config: Sequence[tuple]) -> None:
    if not sa_config or sa_config[-1][0] != 0 or any(c[0] <= 0 for c in sa_config[:-1]):
        raise ValueError("sa_config: local levels (npoint > 0) followed by exactly one global level (npoint 0)")
