"""Building blocks shared by the point-cloud classifiers.

Tensor layout: points are channel-last, ``(B, N, C)``, so that gathering rows by index is one
row gather over the flattened batch (ONNX ``Gather``); shared MLPs run as 1x1 ``Conv2d`` on ``(B, C, S, K)``
so that BatchNorm normalises channels and ONNX Runtime fuses Conv+BN.

Sampling (FPS) and grouping (ball query) indices are inputs, never computed here (DESIGN §2): the
network graph holds only gathers, 1x1 convolutions, BatchNorm, ReLU and max-pooling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Level(NamedTuple):
    """What the sampling/grouping ops must compute for one set-abstraction level.

    ``npoint`` centres are chosen by FPS among the previous level's points; ``nsample`` neighbours
    within ``radius`` (metres) of each centre are found by ball query among the previous level's
    points. For a multi-scale level ``radius`` and ``nsample`` are tuples (one entry per scale, same
    centres) and the group index is the per-scale ball queries concatenated along the last axis,
    ``(B, npoint, sum(nsample))``, so every level always has exactly one ``(fps, group)`` pair.
    """

    npoint: int
    radius: float | tuple[float, ...]
    nsample: int | tuple[int, ...]


def gather_points(x: Tensor, idx: Tensor) -> Tensor:
    """Rows of ``x`` (B, N, C) picked by ``idx`` (B, S) int64 -> (B, S, C)."""
    # One row gather over the flattened batch (ONNX Gather): the same values as
    # torch.gather(x, 1, idx[..., None].expand(...)), whose Expand + GatherElements took ~30% of
    # the tiny model's ONNX Runtime CPU time, against ~10% for this.
    b, n, c = x.shape
    flat = idx + torch.arange(b, device=idx.device).unsqueeze(1) * n
    return x.reshape(b * n, c).index_select(0, flat.reshape(-1)).reshape(b, idx.shape[1], c)


def group_points(x: Tensor, idx: Tensor) -> Tensor:
    """Neighbourhoods of ``x`` (B, N, C) picked by ``idx`` (B, S, K) int64 -> (B, S, K, C)."""
    s, k = idx.shape[1], idx.shape[2]
    return gather_points(x, idx.flatten(1)).unflatten(1, (s, k))


class ConvBNReLU(nn.Module):
    """1x1 convolution + BatchNorm + (leaky) ReLU over ``(B, C_in, H, W) -> (B, C_out, H, W)``.

    No conv bias: the BatchNorm shift makes it redundant.
    """

    def __init__(self, in_channels: int, out_channels: int, negative_slope: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn(self.conv(x))
        return F.leaky_relu(x, self.negative_slope) if self.negative_slope else F.relu(x)


class LinearBNReLU(nn.Module):
    """Linear + BatchNorm1d + ReLU + Dropout, ``(B, C_in) -> (B, C_out)`` (a classifier-head layer)."""

    def __init__(self, in_features: int, out_features: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=False)
        self.bn = nn.BatchNorm1d(out_features)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(F.relu(self.bn(self.fc(x))))


def shared_mlp(in_channels: int, widths: Sequence[int], conv_layer: type[nn.Module] = ConvBNReLU) -> nn.Sequential:
    """Stack of ``conv_layer`` blocks ``in_channels -> widths[0] -> ... -> widths[-1]``."""
    layers = []
    for w in widths:
        layers.append(conv_layer(in_channels, w))
        in_channels = w
    return nn.Sequential(*layers)


class SetAbstraction(nn.Module):
    """PointNet++ set abstraction (single scale) from precomputed FPS and ball-query indices.

    Grouped coordinates are taken relative to their centre and divided by the radius
    (``normalize_xyz``, the default): the radius is a fixed constant in metres, so the division
    loses no metric information (the absolute size still reaches the network through the centres'
    coordinates at the global level) but keeps the first layer's input in about [-1, 1] whatever
    the radius, which lets one initialisation and learning rate serve 0.1 m and 2 m radii alike.

    ``npoint == 0`` makes a global level: all points form one group, coordinates stay absolute.
    """

    def __init__(
        self,
        npoint: int,
        radius: float | None,
        nsample: int | None,
        in_channels: int,
        mlp: Sequence[int],
        normalize_xyz: bool = True,
        conv_layer: type[nn.Module] = ConvBNReLU,
    ) -> None:
        super().__init__()
        self.npoint, self.radius, self.nsample = npoint, radius, nsample
        self.normalize_xyz = normalize_xyz
        self.mlp = shared_mlp(3 + in_channels, mlp, conv_layer)
        self.out_channels = mlp[-1]

    @property
    def level(self) -> Level | None:
        return Level(self.npoint, self.radius, self.nsample) if self.npoint else None

    def forward(
        self, xyz: Tensor, feats: Tensor | None, fps_idx: Tensor | None = None, group_idx: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """xyz (B, N, 3), feats (B, N, C) or None, fps_idx (B, S), group_idx (B, S, K).

        Returns the centres (B, S, 3) and their features (B, S, C_out); a global level returns
        centres (B, 1, 3) at the origin and features (B, 1, C_out).
        """
        if not self.npoint:
            # xyz first, feats after: widened (NetAug) sub-networks then use a leading channel slice.
            x = xyz if feats is None else torch.cat([xyz, feats], dim=-1)
            x = self.mlp(x.transpose(1, 2).unsqueeze(-1)).amax(dim=2)  # (B, C_out, 1)
            return xyz.new_zeros(xyz.shape[0], 1, 3), x.transpose(1, 2)
        new_xyz = gather_points(xyz, fps_idx)
        x = _local_group(xyz, feats, new_xyz, group_idx, self.radius if self.normalize_xyz else None)
        x = self.mlp(x.permute(0, 3, 1, 2)).amax(dim=3)  # (B, C_out, S): max over each neighbourhood
        return new_xyz, x.transpose(1, 2)


class MultiScaleSetAbstraction(nn.Module):
    """PointNet++ MSG set abstraction: one FPS, one ball query and one MLP per scale.

    ``group_idx`` is (B, S, sum(nsample)): the scales' groups concatenated along the last axis.
    Output features are the scales' features concatenated (B, S, sum(mlp[-1])).
    """

    def __init__(
        self,
        npoint: int,
        radii: Sequence[float],
        nsamples: Sequence[int],
        in_channels: int,
        mlps: Sequence[Sequence[int]],
        normalize_xyz: bool = True,
    ) -> None:
        super().__init__()
        if not (len(radii) == len(nsamples) == len(mlps)):
            raise ValueError("MSG level needs one radius, nsample and MLP per scale")
        self.npoint, self.radius, self.nsample = npoint, tuple(radii), tuple(nsamples)
        self.normalize_xyz = normalize_xyz
        self.mlps = nn.ModuleList(shared_mlp(3 + in_channels, m) for m in mlps)
        self.out_channels = sum(m[-1] for m in mlps)

    @property
    def level(self) -> Level:
        return Level(self.npoint, self.radius, self.nsample)

    def forward(self, xyz: Tensor, feats: Tensor | None, fps_idx: Tensor, group_idx: Tensor) -> tuple[Tensor, Tensor]:
        """xyz (B, N, 3), feats (B, N, C) or None, fps_idx (B, S), group_idx (B, S, sum K)
        -> centres (B, S, 3), features (B, S, C_out)."""
        new_xyz = gather_points(xyz, fps_idx)
        out = []
        for idx, radius, mlp in zip(group_idx.split(self.nsample, dim=-1), self.radius, self.mlps, strict=True):
            x = _local_group(xyz, feats, new_xyz, idx, radius if self.normalize_xyz else None)
            out.append(mlp(x.permute(0, 3, 1, 2)).amax(dim=3))
        return new_xyz, torch.cat(out, dim=1).transpose(1, 2)


def _local_group(xyz: Tensor, feats: Tensor | None, centres: Tensor, idx: Tensor, radius: float | None) -> Tensor:
    """Grouped [local xyz, feats] (B, S, K, 3 + C) around ``centres`` (B, S, 3)."""
    local = group_points(xyz, idx) - centres.unsqueeze(2)
    if radius is not None:
        local = local / radius
    return local if feats is None else torch.cat([local, group_points(feats, idx)], dim=-1)


class ClassifierHead(nn.Module):
    """MLP head over [normalised cluster globals, pooled features] -> logits.

    ``globals`` go first so that a widened (NetAug) feature vector extends the input by a leading
    slice. They pass a BatchNorm first: extent (m), log point count and range (tens of m) live on
    different scales, and a learned normalisation keeps the head indifferent to that.
    """

    def __init__(
        self,
        in_features: int,
        global_feats: int,
        hidden: Sequence[int],
        num_classes: int,
        dropout: float,
        linear_layer: type[nn.Module] = LinearBNReLU,
        out_layer: type[nn.Module] = nn.Linear,
    ) -> None:
        super().__init__()
        self.global_norm = nn.BatchNorm1d(global_feats) if global_feats else None
        layers, c = [], in_features + global_feats
        for h in hidden:
            layers.append(linear_layer(c, h, dropout))
            c = h
        self.hidden = nn.Sequential(*layers)
        self.out = out_layer(c, num_classes)

    def forward(self, x: Tensor, globals: Tensor) -> Tensor:
        """x (B, C), globals (B, G) -> logits (B, num_classes)."""
        if self.global_norm is not None:
            x = torch.cat([self.global_norm(globals), x], dim=1)
        return self.out(self.hidden(x))


def random_indices(
    levels: Sequence[Level], batch: int, n_points: int, generator: torch.Generator | None = None
) -> list[Tensor]:
    """Valid (in-range) but random ``[fps_0, group_0, fps_1, group_1, ...]`` for ``levels``.

    For export and FLOP counting only; real indices come from FPS and ball query (``t3d_ros.classify.ops``).
    A level asks for ``min(npoint, points available)`` centres, as FPS cannot pick more.
    """
    out, n = [], n_points
    for lv in levels:
        s = min(lv.npoint, n)
        k = sum(lv.nsample) if isinstance(lv.nsample, tuple) else lv.nsample
        out.append(torch.rand(batch, n, generator=generator).argsort(dim=1)[:, :s].contiguous())
        out.append(torch.randint(0, n, (batch, s, k), generator=generator))
        n = s
    return out


def example_cloud(
    batch: int, n_points: int, in_feats: int, global_feats: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Random ``xyz`` (B, N, 3) in metres (a ~2 m object), ``feats`` (B, N, F), ``globals`` (B, G)."""
    xyz = torch.randn(batch, n_points, 3, generator=generator) * torch.tensor([1.0, 0.5, 0.4])
    feats = torch.rand(batch, n_points, in_feats, generator=generator)
    globals_ = torch.randn(batch, global_feats, generator=generator)
    return xyz, feats, globals_
