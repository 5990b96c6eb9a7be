"""The classifier's GPU path: inputs built on the device (CUDA sampling ops) and kept there for the
network. The CUDA tests skip without a GPU; the rest run the same code with CPU tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t3d_ros.classify.classifier import SHIPPED_MODEL, Classifier, _cuda_usable
from t3d_ros.classify.inputs import make_inputs
from t3d_ros.classify.ops import cuda
from t3d_ros.offline.data import make_sim_clusters

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (torch.cuda.is_available())")


@pytest.fixture(scope="module")
def clusters():
    """Simulated clusters of two frames, packed: (points, offsets). Without scipy (the segmentation
    needs it; a bare GPU machine may lack it) synthetic boxes of assorted sizes instead."""
    try:
        cs = make_sim_clusters([3, 4], sensors=("hdl64",))
    except ImportError:
        rng = np.random.default_rng(5)
        sizes = rng.integers(5, 3000, 48)
        parts = [np.c_[rng.uniform(-0.5, 0.5, (n, 3)) * rng.uniform(0.3, 5, 3) + rng.uniform(-30, 30, 3),
                       rng.uniform(0, 1, n)] for n in sizes]
        return np.concatenate(parts).astype(np.float32), np.r_[0, np.cumsum(sizes)]
    assert len(cs) >= 20
    return cs.points, cs.offsets


def _quiet(backend: str, device: str = "cpu") -> Classifier:
    return Classifier(SHIPPED_MODEL, device=device, backend=backend, warn=lambda m: None)


def _on_cpu_tensors(clf: Classifier) -> Classifier:
    """Send ``clf`` down the GPU path's code with CPU tensors (inputs built in torch, ORT bound by address)."""
    clf._inputs_device = torch.device("cpu")
    clf._run_on_device = clf._run if hasattr(clf, "model") else clf._run_bound
    return clf


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_device_path_code_on_cpu_tensors_equals_the_numpy_path(clusters, backend):
    pts, off = clusters
    clf = _quiet(backend)
    want = clf.logits(pts, off)
    got = _on_cpu_tensors(clf).logits(pts, off)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert set(clf.last_timings_ms) == {"sample_group", "network"}


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_cuda_without_a_gpu_falls_back_to_the_cpu_with_one_warning(clusters, backend):
    if torch.cuda.is_available() or _cuda_usable():
        pytest.skip("a GPU is usable here")
    said: list[str] = []
    clf = Classifier(SHIPPED_MODEL, device="cuda", backend=backend, warn=said.append)
    assert len(said) == 1 and "GPU" in said[0], said
    assert clf.ops_backend == "cpu" and "CUDA sampling ops" not in clf.description
    pts, off = clusters
    labels, scores = clf(pts, off)
    ref_labels, ref_scores = _quiet(backend)(pts, off)
    assert labels == ref_labels
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-6)


def test_gpu_network_without_cuda_ops_warns_once_with_the_reason_and_the_build_command(monkeypatch):
    monkeypatch.setattr(cuda, "available", lambda: False)
    monkeypatch.setattr(cuda, "unavailable_reason", lambda: "nvcc not found")
    said: list[str] = []
    clf = _quiet("torch")
    clf._use_cuda_ops(said.append, clf._run, "cuda")
    assert len(said) == 1 and "nvcc not found" in said[0] and "python -m t3d_ros.classify.ops.cuda" in said[0]
    assert clf.ops_backend == "cpu" and clf._run_on_device is None


def test_cpu_onnx_classifier_does_not_import_torch():
    """An ORT classifier on the CPU must not load torch (the node would pay ~400 MB for nothing)."""
    import subprocess
    import sys

    code = ("import sys; from t3d_ros.classify.classifier import Classifier; "
            "c = Classifier('t3d_tiny.json', device='cpu', backend='onnxruntime'); "
            "print('torch' in sys.modules, c.ops_backend)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["False", "cpu"], out.stdout


# --------------------------------------------------------------------------- on a GPU


@pytest.fixture
def gpu_ops():
    if not cuda.available():
        pytest.fail(f"a GPU but no CUDA sampling ops: {cuda.unavailable_reason()}")


@needs_gpu
def test_torch_classifier_on_cuda_equals_the_cpu_classifier(clusters, gpu_ops):
    pts, off = clusters
    gpu, cpu = _quiet("torch", "cuda"), _quiet("torch")
    assert gpu.ops_backend == "cuda" and gpu.description == "torch cuda, CUDA sampling ops"
    inputs = gpu._device_inputs(pts, off)
    assert all(t.is_cuda for t in inputs)
    want = [torch.from_numpy(a) for a in make_inputs(pts, off, cpu.spec, backend="cpu").as_list()]
    for a, b in zip(inputs, want, strict=True):
        if a.dtype == torch.int64:  # the CUDA ops match the reference bit for bit; a mean's rounding rarely may not
            assert (a.cpu() != b).float().mean() < 1e-3
        else:
            torch.testing.assert_close(a.cpu(), b, rtol=1e-5, atol=1e-5)
    labels, scores = gpu(pts, off)
    ref_labels, ref_scores = cpu(pts, off)
    assert np.mean(np.array(labels) == np.array(ref_labels)) >= 0.98
    np.testing.assert_allclose(gpu.probabilities(pts, off), cpu.probabilities(pts, off), atol=2e-3)
    assert set(gpu.last_timings_ms) == {"sample_group", "network"}


@needs_gpu
def test_onnx_io_binding_on_cuda_equals_onnx_on_the_cpu(clusters, gpu_ops):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime without CUDAExecutionProvider (the CPU package)")
    pts, off = clusters
    gpu, cpu = _quiet("onnxruntime", "cuda"), _quiet("onnxruntime")
    assert gpu.ops_backend == "cuda" and gpu.description.endswith(", CUDA sampling ops")
    np.testing.assert_allclose(gpu.probabilities(pts, off), cpu.probabilities(pts, off), atol=2e-3)
    assert gpu(pts, off)[0] == cpu(pts, off)[0]


@needs_gpu
def test_training_batches_built_on_the_gpu_equal_the_cpu_ones(clusters, gpu_ops):
    from t3d_ros.offline.train.loader import batch_inputs

    pts, off = clusters
    parts = [pts[a:b] for a, b in zip(off[:-1], off[1:], strict=True)]
    spec = _quiet("torch").spec
    on_gpu, on_cpu = batch_inputs(parts, spec, "cuda"), batch_inputs(parts, spec)
    assert all(t.is_cuda for t in on_gpu)
    for a, b in zip(on_gpu, on_cpu, strict=True):
        if a.dtype == torch.int64:
            assert (a.cpu() != b).float().mean() < 1e-3
        else:
            torch.testing.assert_close(a.cpu(), b, rtol=1e-5, atol=1e-5)
