"""The tiny PointNet++ student of the T3DNet recipe (DESIGN §3): ~0.03 M parameters.

Configuration (widths from T3DNet's budget: ~0.03 M parameters, ~4.2 MFLOP per cluster here)::

    SA(64 centres, r 0.4 m, 16 samples, MLP 16-16-32)
    SA(16 centres, r 0.8 m, 16 samples, MLP 32-32-64)
    global SA(MLP 64-128)
    FC [G globals, 128] -> 64 -> K   (BatchNorm, ReLU, dropout 0.2 after the hidden layer)

Radii are in metres, sized for LiDAR clusters: 64 centres on a car (~30 m² of surface) lie
~0.7 m apart, on a pedestrian ~0.15 m apart; 0.4 m covers both at level one. Half the centres of
T3DNet's ModelNet model: a LiDAR cluster has a median of ~50 returns (p90 ~800), so 64/16 centres
already cover it; the parameter count (~0.03 M) is unchanged and the cost is ~4.3 MFLOP. Its FLOPs do not
depend on N (the centres and neighbours are fixed in number; only the gathers grow), so it costs
the same for 256- and 1024-point clusters.

The forward signature, inputs and ``.levels`` are those of ``PointNet2SSG``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .layers import ConvBNReLU, LinearBNReLU
from .pointnet2 import PointNet2SSG

TINY_CONFIG: list[tuple] = [
    (64, 0.4, 16, (16, 16, 32)),
    (16, 0.8, 16, (32, 32, 64)),
    (0, None, None, (64, 128)),
]
TINY_HEAD: tuple[int, ...] = (64,)


class TinyPointNet2(PointNet2SSG):
    """Tiny PointNet++ SSG (see the module docstring); ~0.03 M parameters, ~4.2 MFLOP per cluster.

    Args: as ``PointNet2SSG``, with the tiny defaults. A lighter dropout than the teachers' 0.4:
    small models under-fit before they over-fit.
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
        conv_layer: type[nn.Module] = ConvBNReLU,
        linear_layer: type[nn.Module] = LinearBNReLU,
        out_layer: type[nn.Module] = nn.Linear,
    ) -> None:
        super().__init__(
            num_classes,
            in_feats,
            global_feats,
            sa_config,
            head,
            dropout,
            normalize_xyz,
            radius_scale,
            conv_layer,
            linear_layer,
            out_layer,
        )
