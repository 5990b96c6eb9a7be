"""Classification networks: sizes, FLOPs, gradients, index use, NetAug slicing, ONNX export, a toy fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from t3d_ros.classify.models import (
    MODELS,
    NetAugTinyPointNet2,
    TinyPointNet2,
    build_model,
    count_flops,
    count_params,
    recalibrate_bn,
)
from t3d_ros.classify.models.layers import Level
from t3d_ros.classify.ops import SALevel, sample_and_group

POINTNET2_FAMILY = ["pointnet2_ssg", "pointnet2_msg", "tiny", "tiny_netaug"]


def ref_sample_and_group(xyz: Tensor, levels: list[Level]) -> list[Tensor]:
    """``[fps_0, group_0, fps_1, group_1, ...]`` for ``levels`` by the package's own sampling ops (the
    indices the models run with in training and in the node; MSG scales side by side)."""
    res = sample_and_group(xyz, [SALevel(lv.npoint, lv.radius, lv.nsample) for lv in levels], backend="cpu")
    return [t for pair in res if pair is not None for t in pair]


def make_inputs(model: nn.Module, batch: int, n_points: int, seed: int = 0) -> tuple[Tensor, ...]:
    """Random metric clouds with real FPS / ball-query indices."""
    xyz, feats, globals_ = model.example_inputs(batch, n_points, seed=seed)[:3]
    return (xyz, feats, globals_, *ref_sample_and_group(xyz, model.levels))


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, so that eval-mode outputs are not near zero."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
    return model


# --- sizes and costs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "num_classes", "in_feats", "global_feats", "low", "high"),
    [
        ("pointnet2_ssg", 40, 0, 0, 1.42e6, 1.52e6),  # DESIGN §3: ~1.47 M on ModelNet40
        ("pointnet2_msg", 40, 0, 0, 1.70e6, 1.80e6),  # ~1.75 M
        ("dgcnn", 40, 0, 0, 1.75e6, 1.85e6),  # ~1.8 M
        ("tiny", 40, 0, 0, 0.02e6, 0.04e6),  # T3DNet: ~0.03 M
        ("tiny", 8, 2, 8, 0.02e6, 0.04e6),  # our classes, intensity + height, 8 cluster globals
    ],
)
def test_param_counts(name: str, num_classes: int, in_feats: int, global_feats: int, low: float, high: float) -> None:
    assert low <= count_params(build_model(name, num_classes, in_feats, global_feats)) <= high


def test_flops_tiny_at_least_50x_cheaper_than_ssg() -> None:
    ssg, tiny = build_model("pointnet2_ssg", 40), build_model("tiny", 40)
    for n in (256, 1024):
        f_ssg = count_flops(ssg, ssg.example_inputs(2, n))
        f_tiny = count_flops(tiny, tiny.example_inputs(2, n))
        assert f_ssg >= 50 * f_tiny
    assert 1500 < f_ssg < 1900  # ~1.7 GFLOP per 1024-point cloud (DESIGN §3)
    assert 3 < f_tiny < 6  # ~4.2 MFLOP (64 and 16 centres)


def test_registry() -> None:
    assert set(MODELS) == {"pointnet2_ssg", "pointnet2_msg", "dgcnn", "tiny", "tiny_netaug"}
    with pytest.raises(KeyError):
        build_model("resnet", 3)
    m = build_model("tiny", 5, 1, 2, radius_scale=2.0)
    assert m.levels == [Level(64, 0.8, 16), Level(16, 1.6, 16)]
    assert build_model("pointnet2_msg", 5).levels[0] == Level(512, (0.1, 0.2, 0.4), (16, 32, 128))
    assert build_model("dgcnn", 5).levels == []


# --- forward / backward and index use -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 4, in_feats=2, global_feats=3)
    inputs = make_inputs(model, 3, 64)
    kwargs = {"width": 2.6} if name == "tiny_netaug" else {}
    logits = model(*inputs, **kwargs)
    assert logits.shape == (3, 4)
    F.cross_entropy(logits, torch.tensor([0, 1, 3])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} gets no gradient"


def test_wrong_number_of_indices_is_rejected() -> None:
    model = build_model("tiny", 3)
    with pytest.raises(ValueError, match="index tensors"):
        model(*model.example_inputs(2, 256)[:-1])


@pytest.mark.parametrize("name", POINTNET2_FAMILY)
def test_indices_change_the_output(name: str) -> None:
    """A model that ignored (or mixed up) any of its index inputs would fail here."""
    torch.manual_seed(0)
    model = randomize_bn(build_model(name, 4, in_feats=1, global_feats=2)).eval()
    inputs = list(make_inputs(model, 2, 128))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        ref = model(*inputs)
        n_prev = inputs[0].shape[1]
        for i in range(3, len(inputs), 2):  # fps_l, group_l: both index level l-1's points
            for j in (i, i + 1):
                changed = list(inputs)
                changed[j] = torch.randint(0, n_prev, inputs[j].shape, generator=g)  # other valid indices
                assert not torch.allclose(model(*changed), ref, atol=1e-5), f"index input {j} is ignored"
            n_prev = inputs[i].shape[1]


# --- network augmentation ---------------------------------------------------------------------------


def test_netaug_base_slice_equals_exported_tiny() -> None:
    torch.manual_seed(0)
    sup = NetAugTinyPointNet2(5, in_feats=2, global_feats=4)
    assert count_params(sup) > 4 * count_params(sup.export_base())
    opt = torch.optim.Adam(sup.parameters(), 1e-2)
    batches = [make_inputs(sup, 8, 128, seed=s) for s in range(3)]
    y = torch.arange(8) % 5
    for step, inputs in enumerate(batches * 2):  # a few NetAug steps: base + one widened sub-network
        loss = F.cross_entropy(sup(*inputs), y) + F.cross_entropy(sup(*inputs, width=sup.sample_width()), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert math.isfinite(loss.item()), step
    recalibrate_bn(sup, batches)
    sup.eval()
    tiny = sup.export_base().eval()
    assert type(tiny) is TinyPointNet2 and count_params(tiny) == count_params(TinyPointNet2(5, 2, 4))
    probe = make_inputs(sup, 6, 128, seed=9)
    with torch.no_grad():
        base_out = sup(*probe, width=1.0)
        torch.testing.assert_close(tiny(*probe), base_out, rtol=0, atol=0)  # bit-exact
        assert not torch.allclose(sup(*probe, width=2.6), base_out, atol=1e-3)  # widening is real
    assert count_flops(sup, probe, width=2.6) > 4 * count_flops(sup, probe, width=1.0)


def test_recalibrate_bn_estimates_base_width_statistics() -> None:
    torch.manual_seed(0)
    sup = NetAugTinyPointNet2(3).eval()
    batches = [make_inputs(sup, 4, 64, seed=s) for s in range(2)]
    recalibrate_bn(sup, batches)
    bn = sup.sa[0].mlp[0].bn
    assert bn.momentum == 0.1 and not sup.training
    assert (bn.running_mean[:16] != 0).all() and (bn.running_mean[16:] == 0).all()  # only the base slice ran
    # Same statistics as a plain tiny model with the exported weights, recalibrated on the same batches.
    tiny = recalibrate_bn(sup.export_base(), batches)
    torch.testing.assert_close(tiny.sa[0].mlp[0].bn.running_var, bn.running_var[:16])


# --- ONNX -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "in_feats", "global_feats"), [("tiny", 2, 6), ("pointnet2_ssg", 0, 0)])
def test_onnx_matches_torch_with_dynamic_batch(tmp_path, name: str, in_feats: int, global_feats: int) -> None:
    pytest.importorskip("onnxruntime")
    from t3d_ros.offline.train.export import export_onnx, run_onnx

    torch.manual_seed(0)
    model = randomize_bn(build_model(name, 8, in_feats, global_feats)).eval()
    n_points = 256
    path = tmp_path / f"{name}.onnx"
    names = export_onnx(model, make_inputs(model, 2, n_points), path)  # indices as the package computes them
    assert names[:5] == ["xyz", "feats", "globals", "fps_0", "group_0"] and len(names) == 3 + 2 * len(model.levels)
    for batch in (1, 7):
        inputs = make_inputs(model, batch, n_points, seed=batch)
        with torch.no_grad():
            expected = model(*inputs).numpy()
        got = run_onnx(path, [t.numpy() for t in inputs])
        assert got.shape == (batch, 8)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


# --- a real (small) fit -------------------------------------------------------------------------------


def toy_shapes(n_per_class: int, n_points: int, seed: int) -> tuple[Tensor, Tensor]:
    """Metric clouds of small boxes (0), long thin rods (1) and spheres (2), centred, random yaw."""
    g = torch.Generator().manual_seed(seed)
    clouds, labels = [], []
    for label in range(3):
        for _ in range(n_per_class):
            s = 1 + 0.2 * (torch.rand(1, generator=g) - 0.5)
            if label == 2:  # sphere, radius ~0.35 m
                p = torch.randn(n_points, 3, generator=g)
                p = 0.35 * s * p / p.norm(dim=1, keepdim=True)
            else:  # box ~0.6 m cube or rod ~2 m x 8 cm: points on the faces
                size = s * (torch.tensor([0.6, 0.6, 0.6]) if label == 0 else torch.tensor([2.0, 0.08, 0.08]))
                p = (torch.rand(n_points, 3, generator=g) - 0.5) * size
                face = torch.randint(0, 3, (n_points,), generator=g)
                side = torch.randint(0, 2, (n_points,), generator=g) - 0.5
                p[torch.arange(n_points), face] = side * size[face]
            yaw = torch.rand(1, generator=g) * 2 * math.pi
            c, si = torch.cos(yaw), torch.sin(yaw)
            rot = torch.tensor([[c, -si, 0.0], [si, c, 0.0], [0.0, 0.0, 1.0]])
            p = p @ rot.T + 0.01 * torch.randn(n_points, 3, generator=g)
            clouds.append(p - p.mean(0))
            labels.append(label)
    return torch.stack(clouds), torch.tensor(labels)


def test_tiny_learns_toy_shapes() -> None:
    """A real fit: Adam on 96 clouds of three metric shape classes, xyz only (no size globals)."""
    torch.manual_seed(0)
    sa = [(32, 0.3, 8, (16, 16, 32)), (8, 0.6, 8, (32, 32, 64)), (0, None, None, (64, 128))]
    model = TinyPointNet2(3, sa_config=sa)

    def inputs_of(xyz: Tensor) -> tuple[Tensor, ...]:
        b = len(xyz)
        return (xyz, xyz.new_zeros(b, xyz.shape[1], 0), xyz.new_zeros(b, 0), *ref_sample_and_group(xyz, model.levels))

    xyz, y = toy_shapes(32, 64, seed=0)
    inputs = inputs_of(xyz)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(40):
        batch = torch.randperm(len(y))[:48]
        loss = F.cross_entropy(model(*(t[batch] for t in inputs)), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.25 * losses[0]
    # BN running averages lag 40 fast steps: re-estimate them, as before any export.
    recalibrate_bn(model, [inputs]).eval()
    xyz_test, y_test = toy_shapes(20, 64, seed=1)
    with torch.no_grad():
        assert (model(*inputs).argmax(1) == y).float().mean() >= 0.9
        assert (model(*inputs_of(xyz_test)).argmax(1) == y_test).float().mean() >= 0.7
