"""Sampling ops (t3d_ros.classify.ops): reference semantics, cpu == reference, CUDA build, cuda == reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t3d_ros.classify.ops import (
    SALevel,
    ball_query,
    ball_query_reference,
    cuda,
    fps_batch,
    fps_packed,
    fps_reference,
    sample_and_group,
    sample_clusters,
)


def sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared distances (len(a), len(b)) with the ops' float32 formula (point b minus a)."""
    d = b[None, :, :].astype(np.float32) - a[:, None, :].astype(np.float32)
    return d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2]


def cloud(rng: np.random.Generator, n: int, kind: str = "normal") -> np.ndarray:
    if kind == "grid":  # small integer coordinates: many exact ties and duplicates
        return rng.integers(-2, 3, size=(n, 3)).astype(np.float32)
    if kind == "blob":  # LiDAR-cluster-like: anisotropic, far from the origin
        return (rng.normal(size=(n, 3)) * [2.0, 0.8, 0.6] + [15.0, -4.0, 0.5]).astype(np.float32)
    return rng.normal(size=(n, 3)).astype(np.float32)


def packed(rng: np.random.Generator, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    kinds = ("normal", "grid", "blob")
    pts = np.concatenate([cloud(rng, n, kinds[i % 3]) for i, n in enumerate(sizes)])
    return pts, np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


# --------------------------------------------------------------------------- FPS reference semantics


@pytest.mark.parametrize("kind", ["normal", "grid", "blob"])
def test_fps_reference_is_max_min_distance_with_lowest_index_ties(kind):
    rng = np.random.default_rng(0)
    for trial in range(20):
        n = int(rng.integers(1, 60))
        xyz = cloud(rng, n, kind)
        start = int(rng.integers(0, n))
        idx = fps_reference(xyz, n, start)
        assert idx[0] == start
        assert sorted(idx.tolist()) == list(range(n)), "k == n must choose every point once"
        d = sqdist(xyz, xyz)  # d[i, j]: point j to centre i
        for s in range(1, n):
            mind = d[idx[:s]].min(axis=0)
            unchosen = np.setdiff1d(np.arange(n), idx[:s])
            best = mind[unchosen].max()
            assert mind[idx[s]] == best, (trial, s)
            assert idx[s] == unchosen[mind[unchosen] == best].min(), (trial, s)


def test_fps_reference_distinct_and_cycles_when_k_exceeds_n():
    rng = np.random.default_rng(1)
    xyz = cloud(rng, 50)
    idx = fps_reference(xyz, 20)
    assert idx.dtype == np.int64 and idx.shape == (20,)
    assert len(set(idx.tolist())) == 20
    assert np.array_equal(idx, fps_reference(xyz, 50)[:20]), "prefixes do not depend on k"
    long = fps_reference(xyz, 133, start=7)
    first = fps_reference(xyz, 50, start=7)
    assert np.array_equal(long, first[np.arange(133) % 50])
    assert np.array_equal(fps_reference(xyz[:1], 5), np.zeros(5, np.int64))
    assert fps_reference(xyz, 0).shape == (0,)


def test_fps_reference_keeps_origin_and_duplicate_points():
    # the classic CUDA kernel skips points with norm < 1e-3: here they are ordinary points
    xyz = np.array([[1, 0, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0], [5, 5, 5], [5, 5, 5]], np.float32)
    idx = fps_reference(xyz, 6)
    assert sorted(idx.tolist()) == list(range(6))
    assert idx.tolist() == [0, 4, 1, 2, 3, 5]  # farthest, then the origin, then duplicates by index
    assert fps_reference(np.zeros((4, 3), np.float32), 4).tolist() == [0, 1, 2, 3]


def test_fps_reference_rejects_bad_input():
    with pytest.raises(ValueError):
        fps_reference(np.zeros((0, 3), np.float32), 4)
    with pytest.raises(ValueError):
        fps_reference(np.zeros((3, 3), np.float32), 2, start=3)
    with pytest.raises(ValueError):
        fps_reference(np.zeros((3, 2), np.float32), 2)
    with pytest.raises(ValueError):  # an empty cluster in a packed frame
        fps_packed(np.zeros((3, 3), np.float32), np.array([0, 2, 2, 3]), 4, backend="cpu")


# --------------------------------------------------------------------------- cpu == reference


def test_fps_cpu_equals_reference_single_clouds():
    rng = np.random.default_rng(2)
    sizes = [1, 2, 3, 5, 17, 64, 100, 255, 512, 777, 1500, 3000] + rng.integers(1, 3000, 8).tolist()
    for i, n in enumerate(sizes):
        xyz = cloud(rng, n, ("normal", "grid", "blob")[i % 3])
        k = int(rng.choice([1, 16, 128, 300, 700]))
        got = fps_packed(xyz, np.array([0, n]), k, backend="cpu")[0]
        assert np.array_equal(got, fps_reference(xyz, k)), (n, k)


@pytest.mark.parametrize("k", [1, 8, 64, 300])
def test_fps_packed_cpu_equals_reference_mixed_clusters(k):
    rng = np.random.default_rng(3 + k)
    sizes = [1, 1, 2, 10, 3000, 1, 57, 400, 63, 64, 65, 1200] + rng.integers(1, 500, 12).tolist()
    pts, off = packed(rng, sizes)
    got = fps_packed(pts, off, k, backend="cpu")
    ref = fps_packed(pts, off, k, backend="reference")
    assert got.shape == (len(sizes), k) and got.dtype == np.int64
    assert np.array_equal(got, ref)
    assert np.all(got < np.diff(off)[:, None]) and np.all(got >= 0)
    for i in range(len(sizes)):  # independent of the packing: each cluster alone gives the same
        assert np.array_equal(got[i], fps_reference(pts[off[i]:off[i + 1]], k))


def test_fps_batch_cpu_equals_reference():
    rng = np.random.default_rng(4)
    xyz = np.stack([cloud(rng, 300, kind) for kind in ("normal", "grid", "blob", "grid")])
    got = fps_batch(xyz, 100, backend="cpu")
    assert got.shape == (4, 100)
    assert np.array_equal(got, np.stack([fps_reference(c, 100) for c in xyz]))
    assert np.array_equal(fps_batch(xyz, 450, backend="cpu"), fps_batch(xyz, 450, backend="reference"))


# --------------------------------------------------------------------------- ball query


def test_ball_query_reference_semantics():
    xyz = np.array([[[0, 0, 0], [1, 0, 0], [0.5, 0, 0], [0, 2, 0], [0.2, 0, 0]]], np.float32)
    centres = np.array([[[0, 0, 0], [0, 2, 0], [9, 9, 9]]], np.float32)
    got = ball_query_reference(xyz, centres, 1.0, 4)
    # distance exactly r (point 1) is outside: strictly less than r^2
    assert got[0, 0].tolist() == [0, 2, 4, 0]  # hits in index order, padded with the first hit
    assert got[0, 1].tolist() == [3, 3, 3, 3]
    assert got[0, 2].tolist() == [3, 3, 3, 3]  # no hit: the nearest point
    assert ball_query_reference(xyz, centres[:, :1], 1.0, 2)[0, 0].tolist() == [0, 2]


def test_ball_query_cpu_equals_reference():
    rng = np.random.default_rng(5)
    for kind, radius in (("normal", 0.4), ("grid", 1.0), ("grid", 1.5), ("blob", 0.7)):
        xyz = np.stack([cloud(rng, 400, kind) for _ in range(3)])
        centres = np.concatenate([xyz[:, :40], cloud(rng, 3 * 30, kind).reshape(3, 30, 3) * 3], axis=1)
        for nsample in (1, 16, 32):
            got = ball_query(xyz, centres, radius, nsample, backend="cpu")
            assert got.shape == (3, 70, nsample) and got.dtype == np.int64
            assert np.array_equal(got, ball_query_reference(xyz, centres, radius, nsample)), (kind, nsample)


# --------------------------------------------------------------------------- sample_and_group, sample_clusters

LEVELS = [SALevel(128, 0.25, 32), SALevel(32, 0.5, 16), SALevel(0, 0.0, 0)]


def unit_batch(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    xyz = np.stack([cloud(rng, n, ("normal", "grid", "blob")[i % 3]) for i in range(b)])
    xyz -= xyz.mean(axis=1, keepdims=True)
    return (xyz / np.linalg.norm(xyz, axis=2).max(axis=1)[:, None, None]).astype(np.float32)


def test_sample_and_group_shapes_radius_and_cpu_equals_reference():
    rng = np.random.default_rng(6)
    xyz = unit_batch(rng, 6, 512)
    got = sample_and_group(xyz, LEVELS, backend="cpu")
    ref = sample_and_group(xyz, LEVELS, backend="reference")
    assert len(got) == 3 and got[2] is None and ref[2] is None
    pts = xyz
    for (fidx, gidx), (rf, rg), lv in zip(got[:2], ref[:2], LEVELS, strict=False):
        assert fidx.shape == (6, lv.npoint) and gidx.shape == (6, lv.npoint, lv.nsample)
        assert fidx.dtype == np.int64 and gidx.dtype == np.int64
        assert np.array_equal(fidx, rf) and np.array_equal(gidx, rg)
        centres = np.take_along_axis(pts, fidx[:, :, None], axis=1)
        for b in range(6):
            assert np.array_equal(fidx[b], fps_reference(pts[b], lv.npoint))
            d = sqdist(centres[b], pts[b])  # (S, N)
            r2 = np.float32(lv.radius) * np.float32(lv.radius)
            # every index (hits and first-hit padding) is inside the ball: centres are points
            assert np.all(np.take_along_axis(d, gidx[b], axis=1) < r2)
            for s in range(lv.npoint):
                hits = np.flatnonzero(d[s] < r2)[:lv.nsample]
                assert np.array_equal(gidx[b, s, :hits.size], hits)
                assert np.all(gidx[b, s, hits.size:] == hits[0])
        pts = centres


def test_sample_and_group_small_clouds_and_level_checks():
    rng = np.random.default_rng(7)
    xyz = unit_batch(rng, 3, 20)  # fewer points than centres: FPS cycles
    levels = [SALevel(64, 0.3, 8), SALevel(80, 0.6, 4)]
    got = sample_and_group(xyz, levels, backend="cpu")
    ref = sample_and_group(xyz, levels, backend="reference")
    for (f, g), (rf, rg) in zip(got, ref, strict=True):
        assert np.array_equal(f, rf) and np.array_equal(g, rg)
    with pytest.raises(ValueError):
        sample_and_group(xyz, [SALevel(0, 0, 0), SALevel(8, 0.2, 4)])


def test_pack_clusters_numpy():
    rng = np.random.default_rng(8)
    sizes = [1, 5, 300, 2000, 64]
    pts, off = packed(rng, sizes)
    feats = np.concatenate([pts, rng.random((len(pts), 1), np.float32)], axis=1)  # x, y, z, intensity
    batch = sample_clusters(feats, off, 64, backend="cpu")
    assert batch.shape == (5, 64, 4) and batch.dtype == np.float32
    idx = fps_packed(pts, off, 64, backend="reference")
    assert np.array_equal(batch, feats[idx + off[:-1, None]])
    assert np.all(batch[0] == feats[0])  # a 1-point cluster repeats its point


def test_torch_cpu_tensors_in_torch_out():
    rng = np.random.default_rng(9)
    pts, off = packed(rng, [1, 40, 700])
    t_pts, t_off = torch.from_numpy(pts), torch.from_numpy(off)
    idx = fps_packed(t_pts, t_off, 32)
    assert isinstance(idx, torch.Tensor) and idx.dtype == torch.int64 and idx.device.type == "cpu"
    assert np.array_equal(idx.numpy(), fps_packed(pts, off, 32, backend="reference"))
    batch = sample_clusters(t_pts, t_off, 128)
    assert isinstance(batch, torch.Tensor) and batch.shape == (3, 128, 3)
    assert np.array_equal(batch.numpy(), sample_clusters(pts, off, 128))
    fb = fps_batch(batch, 16)
    assert isinstance(fb, torch.Tensor) and np.array_equal(fb.numpy(), fps_batch(batch.numpy(), 16))
    bq = ball_query(batch, batch[:, :8], 0.5, 4)
    assert isinstance(bq, torch.Tensor) and bq.shape == (3, 8, 4)
    xyz = torch.from_numpy(unit_batch(rng, 2, 256)).double()  # float64 in: computed in float32
    res = sample_and_group(xyz, LEVELS)
    ref = sample_and_group(xyz.float().numpy(), LEVELS, backend="reference")
    for (f, g), (rf, rg) in zip(res[:2], ref[:2], strict=True):
        assert isinstance(f, torch.Tensor) and f.dtype == torch.int64 and isinstance(g, torch.Tensor)
        assert np.array_equal(f.numpy(), rf) and np.array_equal(g.numpy(), rg)


def test_backend_checks():
    xyz = np.zeros((1, 4, 3), np.float32)
    with pytest.raises(ValueError):
        fps_batch(xyz, 2, backend="gpu")
    with pytest.raises(ValueError):  # cuda takes CUDA tensors only
        fps_batch(xyz, 2, backend="cuda")
    if not torch.cuda.is_available():
        assert cuda.available() is False and cuda.unavailable_reason()


# --------------------------------------------------------------------------- CUDA source builds here


def test_cuda_source_compiles_with_nvcc(tmp_path):
    nvcc = cuda.find_nvcc()
    if nvcc is None:
        pytest.skip("nvcc not installed")
    import subprocess

    ptx = tmp_path / "sampling.ptx"
    proc = subprocess.run([nvcc, "--ptx", "-O3", "-o", str(ptx), str(cuda.SOURCE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # exactness: no float FMA may be contracted from the distance formula
    assert "fma.rn.f32" not in ptx.read_text()
    lib = cuda.build(tmp_path)  # the on-demand command: nvcc -O3 -shared -Xcompiler -fPIC
    assert lib.is_file()
    cuda.load_library(lib)  # symbols, ABI version and the ctypes mirror of struct T3DLevels


def _fake_nvcc(tmp_path, release: str, compiles: bool):
    """A CUDA_HOME whose bin/nvcc reports ``release`` and fails or succeeds at compiling; it counts
    its compile calls in ``calls``."""
    home = tmp_path / f"cuda-{release}"
    (home / "bin").mkdir(parents=True)
    nvcc = home / "bin" / "nvcc"
    nvcc.write_text(f"""#!/bin/bash
if [ "$1" = "--version" ]; then echo "Cuda compilation tools, release {release}, V{release}.0"; exit 0; fi
echo x >> {home}/calls
{'exit 0' if compiles else 'echo "nvcc fatal: unsupported gpu architecture" >&2; exit 1'}
""")
    nvcc.chmod(0o755)
    return home


def test_cuda_build_cache_key_and_remembered_failure(tmp_path, monkeypatch):
    """The cache key holds the nvcc version (a toolkit upgrade builds anew); a failed build is written
    down and not retried by the next call or process, which get one clear line at once."""
    monkeypatch.setenv("T3D_ROS_CACHE", str(tmp_path / "cache"))
    old, new = _fake_nvcc(tmp_path, "12.4", compiles=False), _fake_nvcc(tmp_path, "13.0", compiles=False)
    assert cuda.cache_dir("sm_90", str(old / "bin" / "nvcc")) != cuda.cache_dir("sm_90", str(new / "bin" / "nvcc"))
    assert cuda.cache_dir("sm_90", str(old / "bin" / "nvcc")) != cuda.cache_dir("sm_80", str(old / "bin" / "nvcc"))
    monkeypatch.setenv("CUDA_HOME", str(old))
    with pytest.raises(RuntimeError, match="unsupported gpu architecture"):
        cuda.build_cached("sm_90")
    assert (cuda.cache_dir("sm_90") / cuda.FAILED).is_file()
    with pytest.raises(RuntimeError, match="an earlier build .* failed .*delete it to retry"):
        cuda.build_cached("sm_90")
    assert (old / "calls").read_text().count("x") == 1  # remembered: nvcc ran once
    monkeypatch.setenv("CUDA_HOME", str(new))  # another toolkit: another key, tried again
    with pytest.raises(RuntimeError, match="remembered in"):
        cuda.build_cached("sm_90")
    assert (new / "calls").read_text().count("x") == 1


def test_cuda_build_ahead_of_time_and_probe_kernel(tmp_path, monkeypatch):
    """`python -m t3d_ros.classify.ops.cuda` builds into the cache once (later calls reuse it) and
    probes the library by launching a kernel: without a usable GPU the probe says so, never crashes."""
    if cuda.find_nvcc() is None:
        pytest.skip("nvcc not installed")
    monkeypatch.setenv("T3D_ROS_CACHE", str(tmp_path / "cache"))
    assert cuda.main([]) == 0
    arch = "sm_{}{}".format(*torch.cuda.get_device_capability()) if torch.cuda.is_available() else None
    lib_path = cuda.build_cached(arch)
    mtime = lib_path.stat().st_mtime_ns
    assert cuda.build_cached(arch) == lib_path and lib_path.stat().st_mtime_ns == mtime  # reused, not rebuilt
    reason = cuda.probe_kernel(cuda.load_library(lib_path))
    if torch.cuda.is_available():
        assert reason == ""
    else:
        assert "test kernel did not run" in reason


# --------------------------------------------------------------------------- cuda == reference (GPU only)

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (torch.cuda.is_available())")


@pytest.fixture
def gpu():
    if not cuda.available():
        if cuda.find_nvcc() is None:
            pytest.skip(cuda.unavailable_reason())
        pytest.fail(cuda.unavailable_reason())
    return torch.device("cuda")


@needs_gpu
def test_cuda_fps_packed_equals_reference(gpu):
    rng = np.random.default_rng(10)
    sizes = [1, 20000, 1, 2, 31, 32, 33, 500, 1024, 1025, 4097, 1] + rng.integers(1, 3000, 20).tolist()
    pts, off = packed(rng, sizes)
    for k in (1, 64, 512):
        got = fps_packed(torch.from_numpy(pts).to(gpu), off, k)
        assert got.is_cuda and got.dtype == torch.int64
        assert np.array_equal(got.cpu().numpy(), fps_packed(pts, off, k, backend="cpu")), k
    ref = np.stack([fps_reference(pts[off[i]:off[i + 1]], 512) for i in range(3)])
    assert np.array_equal(fps_packed(torch.from_numpy(pts).to(gpu), off, 512, backend="cuda")[:3].cpu().numpy(), ref)
    batch = sample_clusters(torch.from_numpy(pts).to(gpu), torch.from_numpy(off), 256)
    assert batch.is_cuda and np.array_equal(batch.cpu().numpy(), sample_clusters(pts, off, 256, backend="reference"))


@needs_gpu
def test_cuda_fps_batch_and_ball_query_equal_reference(gpu):
    rng = np.random.default_rng(11)
    for n, k in ((1, 4), (32, 32), (512, 128), (2048, 512), (100, 300)):
        xyz = unit_batch(rng, 5, n) if n > 1 else np.zeros((5, 1, 3), np.float32)
        got = fps_batch(torch.from_numpy(xyz).to(gpu), k)
        assert np.array_equal(got.cpu().numpy(), fps_batch(xyz, k, backend="reference")), (n, k)
    xyz = unit_batch(rng, 4, 600)
    centres = np.concatenate([xyz[:, :50], rng.normal(size=(4, 20, 3)).astype(np.float32) * 2], axis=1)
    for radius, nsample in ((0.1, 8), (0.3, 32), (2.0, 64)):
        got = ball_query(torch.from_numpy(xyz).to(gpu), torch.from_numpy(centres).to(gpu), radius, nsample)
        assert np.array_equal(got.cpu().numpy(), ball_query_reference(xyz, centres, radius, nsample))
    grid = np.stack([cloud(rng, 300, "grid") for _ in range(2)])  # distances exactly r: strictness
    got = ball_query(torch.from_numpy(grid).to(gpu), torch.from_numpy(grid[:, :60]).to(gpu), 1.0, 16)
    assert np.array_equal(got.cpu().numpy(), ball_query_reference(grid, grid[:, :60], 1.0, 16))


@needs_gpu
def test_cuda_sample_and_group_equals_reference(gpu):
    rng = np.random.default_rng(12)
    for n, levels in ((512, LEVELS), (256, [SALevel(64, 0.2, 16), SALevel(16, 0.4, 32)]),
                      (20, [SALevel(64, 0.3, 8), SALevel(80, 0.6, 4), SALevel(0, 0, 0)])):
        xyz = unit_batch(rng, 7, n)
        got = sample_and_group(torch.from_numpy(xyz).to(gpu), levels)
        ref = sample_and_group(xyz, levels, backend="reference")
        for g, r in zip(got, ref, strict=True):
            if r is None:
                assert g is None
                continue
            assert g[0].is_cuda and g[1].is_cuda
            assert np.array_equal(g[0].cpu().numpy(), r[0]) and np.array_equal(g[1].cpu().numpy(), r[1])


def test_multiscale_level_is_one_fps_and_a_ball_query_per_scale():
    """PointNet++ MSG levels: the same FPS centres, the scales' neighbour lists side by side."""
    rng = np.random.default_rng(5)
    xyz = rng.normal(size=(3, 200, 3)).astype(np.float32)
    msg = [SALevel(32, (0.3, 0.6), (8, 16)), SALevel(8, (0.6, 1.2), (4, 8)), SALevel(0, 0.0, 0)]
    out = sample_and_group(xyz, msg, backend="cpu")
    assert out[2] is None
    pts = xyz
    for (fidx, group), lv in zip(out[:2], msg, strict=False):
        ref = sample_and_group(pts, [SALevel(lv.npoint, *lv.scales[0])], backend="reference")[0]
        assert np.array_equal(fidx, ref[0])
        centres = np.take_along_axis(pts, fidx[:, :, None], axis=1)
        parts = [ball_query_reference(pts, centres, r, k) for r, k in lv.scales]
        assert np.array_equal(group, np.concatenate(parts, axis=-1))
        pts = centres
