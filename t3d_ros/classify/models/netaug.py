"""Network augmentation (Cai et al., ICLR 2022) for the tiny PointNet++ (T3DNet stage 1, DESIGN §3).

Every hidden layer is allocated at the widest width (``round(base * max(widths))`` channels); the
tiny model is the leading slice of channels of every layer (Conv/Linear ``weight[:out, :in]``,
BatchNorm statistics and affine ``[:out]``), so training a widened sub-network also trains the
tiny model's weights. Input channels (3 + F, G) and the logits are fixed.

One training step (widening stops halfway through training)::

    loss = ce(model(*inputs), y) + ce(model(*inputs, width=model.sample_width()), y)
    loss.backward(); opt.step()

Before export, re-estimate the BatchNorm statistics at the base width (the widened passes have
moved the shared running statistics) and take the plain slice::

    recalibrate_bn(model, batches)      # batches: iterable of (xyz, feats, globals, *indices)
    tiny = model.export_base()          # a TinyPointNet2, same outputs as width 1.0 in eval mode
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import ConvBNReLU, LinearBNReLU
from .tiny import TINY_CONFIG, TINY_HEAD, TinyPointNet2

WIDTHS: tuple[float, ...] = (1.0, 1.8, 2.6)


def _sliced_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: Tensor, c: int) -> Tensor:
    """``bn`` over the first ``c`` channels of its widest allocation; in training mode the running
    statistics of those channels are updated in place (the slices are views)."""
    momentum = 0.0
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return F.batch_norm(
        x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c], bn.training, momentum, bn.eps
    )


class DynamicConvBNReLU(ConvBNReLU):
    """``ConvBNReLU`` allocated at the widest width that runs its leading ``active_out`` channels;
    input channels follow the input tensor. ``base_out`` is the tiny model's width."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        self.base_out = self.active_out = out_channels

    def forward(self, x: Tensor) -> Tensor:
        """x (B, C_in_active, H, W) -> (B, active_out, H, W)."""
        x = F.conv2d(x, self.conv.weight[: self.active_out, : x.shape[1]])
        return F.relu(_sliced_batch_norm(self.bn, x, self.active_out))


class DynamicLinearBNReLU(LinearBNReLU):
    """``LinearBNReLU`` counterpart of ``DynamicConvBNReLU``: (B, C_in_active) -> (B, active_out)."""

    def __init__(self, in_features: int, out_features: int, dropout: float = 0.0) -> None:
        super().__init__(in_features, out_features, dropout)
        self.base_out = self.active_out = out_features

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.fc.weight[: self.active_out, : x.shape[1]])
        return self.dropout(F.relu(_sliced_batch_norm(self.bn, x, self.active_out)))


class DynamicLinear(nn.Linear):
    """Output layer: fixed outputs (the logits), inputs follow the active width. (B, C_in_active) -> (B, K)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight[:, : x.shape[1]], self.bias)


class NetAugTinyPointNet2(TinyPointNet2):
    """Supernet of ``TinyPointNet2`` for network augmentation.

    Same inputs, ``.levels`` and ``example_inputs`` as the tiny model (the radii and sample counts
    do not change with width); ``forward(..., width=w)`` runs the sub-network whose every hidden
    layer has ``round(base * w)`` output channels. ``state_dict`` keys are those of
    ``TinyPointNet2``, each tensor holding the widest allocation.

    Args:
        num_classes, in_feats, global_feats, sa_config, head, dropout, normalize_xyz,
        radius_scale: the base tiny model's (``TinyPointNet2``).
        widths: width multipliers; ``widths[0]`` must be 1.0 (the base model), the largest one sets
            the allocation.
    """

    def __init__(
        self,
        num_classes: int,
        in_feats: int = 0,
        global_feats: int = 0,
        sa_config: Sequence[tuple] = TINY_CONFIG,
        head: Sequence[int] = TINY_HEAD,
        dropout: float = 0.2,
        normalize_xyz: bool = True,
        radius_scale: float = 1.0,
        widths: Sequence[float] = WIDTHS,
    ) -> None:
        if widths[0] != 1.0 or any(w < 1.0 for w in widths):
            raise ValueError("widths must start with 1.0 (the base model) and be >= 1")
        wmax = max(widths)
        wide_sa = [(n, r, k, tuple(round(c * wmax) for c in mlp)) for n, r, k, mlp in sa_config]
        wide_head = tuple(round(c * wmax) for c in head)
        super().__init__(
            num_classes,
            in_feats,
            global_feats,
            wide_sa,
            wide_head,
            dropout,
            normalize_xyz,
            radius_scale,
            conv_layer=DynamicConvBNReLU,
            linear_layer=DynamicLinearBNReLU,
            out_layer=DynamicLinear,
        )
        self.widths = tuple(float(w) for w in widths)
        self.base_config = dict(
            sa_config=[tuple(c) for c in sa_config],
            head=tuple(head),
            dropout=dropout,
            normalize_xyz=normalize_xyz,
            radius_scale=radius_scale,
        )
        # Hidden layers in registration order (SA MLPs, then head) pair with the base widths.
        base_widths = [c for *_, mlp in sa_config for c in mlp] + list(head)
        dyn = self._dynamic_layers()
        assert len(dyn) == len(base_widths)
        for layer, c in zip(dyn, base_widths, strict=True):
            layer.base_out = layer.active_out = c

    def _dynamic_layers(self) -> list[DynamicConvBNReLU | DynamicLinearBNReLU]:
        return [m for m in self.modules() if isinstance(m, DynamicConvBNReLU | DynamicLinearBNReLU)]

    def set_width(self, width: float) -> None:
        """Make every hidden layer run ``round(base * width)`` channels (at most its allocation)."""
        for layer in self._dynamic_layers():
            layer.active_out = min(round(layer.base_out * width), layer.bn.num_features)

    def sample_width(self, generator: torch.Generator | None = None) -> float:
        """A random augmented width (one of ``widths[1:]``) for the step's widened pass."""
        choices = self.widths[1:] or self.widths
        return choices[int(torch.randint(len(choices), (1,), generator=generator))]

    def forward(self, xyz: Tensor, feats: Tensor, globals: Tensor, *indices: Tensor, width: float = 1.0) -> Tensor:
        """As ``PointNet2SSG.forward``, run at ``width`` -> logits (B, num_classes)."""
        self.set_width(width)
        return super().forward(xyz, feats, globals, *indices)

    def export_base(self) -> TinyPointNet2:
        """A plain ``TinyPointNet2`` holding the leading slice of every weight and BN buffer.

        Re-estimate BN statistics at width 1.0 first (``recalibrate_bn``): the shared running
        statistics have also been updated by the widened passes.
        """
        base = TinyPointNet2(self.num_classes, self.in_feats, self.global_feats, **self.base_config)
        wide = self.state_dict()
        sliced = {k: wide[k][tuple(slice(0, n) for n in v.shape)].clone() for k, v in base.state_dict().items()}
        base.load_state_dict(sliced)
        return base.train(self.training)


def recalibrate_bn(model: nn.Module, batches: Iterable[Sequence[Tensor]]) -> nn.Module:
    """Re-estimate every BatchNorm's running statistics from ``batches`` of model inputs.

    Resets the statistics, then runs forward passes in train mode without gradients (at width 1.0
    for a NetAug supernet), averaging over all batches (``momentum=None``); restores momentum and
    the train/eval mode. Works on any model of this package. Returns ``model``.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    was_training = model.training
    kwargs = {"width": 1.0} if isinstance(model, NetAugTinyPointNet2) else {}
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for batch in batches:
            model(*batch, **kwargs)
    for bn, m in zip(bns, momenta, strict=True):
        bn.momentum = m
    return model.train(was_training)
