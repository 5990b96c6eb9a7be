"""DGCNN classification (Wang et al., ACM TOG 2019): the second teacher (DESIGN §3).

EdgeConv 64-64-128-256 on k=20 nearest-neighbour graphs, 1x1 conv to a 1024 embedding, max and
mean pooling, FC 512-256-K (dropout 0.5); ~1.8 M parameters. The graphs are built inside the
network (pairwise distances + ``topk``, ONNX ``TopK``): the first on metric xyz, the later ones
on the previous layer's features (the "dynamic" graph). It takes the PointNet++ signature so it
can be swapped in, but needs no precomputed indices (``levels == []``).

Cost is quadratic in N (the (B, N, N) distance matrix): fine for a teacher trained offline.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import ClassifierHead, ConvBNReLU, Level, example_cloud, group_points


def knn(x: Tensor, k: int) -> Tensor:
    """Indices (B, N, k) of the k nearest rows of x (B, N, C), each point included (distance 0)."""
    sq = (x * x).sum(-1)
    neg_dist = 2 * x @ x.transpose(1, 2) - sq.unsqueeze(2) - sq.unsqueeze(1)
    return neg_dist.topk(k, dim=-1).indices


class EdgeConv(nn.Module):
    """x_i' = max_j h([x_j - x_i, x_i]) over the k neighbours j of i; (B, N, C) -> (B, N, C_out)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(2 * in_channels, out_channels, negative_slope=0.2)

    def forward(self, x: Tensor, idx: Tensor) -> Tensor:
        """x (B, N, C), idx (B, N, k) -> (B, N, C_out)."""
        centre = x.unsqueeze(2).expand(-1, -1, idx.shape[2], -1)
        edge = torch.cat([group_points(x, idx) - centre, centre], dim=-1)  # (B, N, k, 2C)
        return self.conv(edge.permute(0, 3, 1, 2)).amax(dim=3).transpose(1, 2)


class DGCNN(nn.Module):
    """DGCNN classifier; ``forward(xyz, feats, globals, *indices)`` as ``PointNet2SSG`` (indices
    ignored, pass none).

    Args:
        num_classes: K.
        in_feats: F, per-point features concatenated to xyz at the input.
        global_feats: G, per-cluster features concatenated into the head.
        k: neighbours per point (clamped to N).
        edge_widths: EdgeConv output widths.
        emb_dims: width of the embedding before pooling.
        head: hidden widths of the classifier head.
        dropout: dropout after every hidden head layer.
    """

    def __init__(
        self,
        num_classes: int,
        in_feats: int = 0,
        global_feats: int = 0,
        k: int = 20,
        edge_widths: tuple[int, ...] = (64, 64, 128, 256),
        emb_dims: int = 1024,
        head: tuple[int, ...] = (512, 256),
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.num_classes, self.in_feats, self.global_feats, self.k = num_classes, in_feats, global_feats, k
        c, edges = 3 + in_feats, []
        for w in edge_widths:
            edges.append(EdgeConv(c, w))
            c = w
        self.edges = nn.ModuleList(edges)
        self.embed = ConvBNReLU(sum(edge_widths), emb_dims, negative_slope=0.2)
        self.head = ClassifierHead(2 * emb_dims, global_feats, head, num_classes, dropout)

    @property
    def levels(self) -> list[Level]:
        """No precomputed indices: the kNN graphs are built inside."""
        return []

    def forward(self, xyz: Tensor, feats: Tensor, globals: Tensor, *indices: Tensor) -> Tensor:
        """xyz (B, N, 3), feats (B, N, F), globals (B, G) -> logits (B, num_classes)."""
        k = min(self.k, xyz.shape[1])
        x = torch.cat([xyz, feats], dim=-1) if self.in_feats else xyz
        idx = knn(xyz, k)  # first graph in metric space, not mixed with intensity & co.
        outs = []
        for i, edge in enumerate(self.edges):
            if i:
                idx = knn(x, k)
            x = edge(x, idx)
            outs.append(x)
        x = self.embed(torch.cat(outs, dim=-1).transpose(1, 2).unsqueeze(-1)).squeeze(-1)  # (B, emb, N)
        x = torch.cat([x.amax(dim=2), x.mean(dim=2)], dim=1)
        return self.head(x, globals)

    def example_inputs(self, batch: int = 2, n_points: int = 1024, seed: int = 0) -> tuple[Tensor, ...]:
        """Dummy ``(xyz, feats, globals)``."""
        return example_cloud(batch, n_points, self.in_feats, self.global_feats, torch.Generator().manual_seed(seed))
