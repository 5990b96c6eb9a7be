"""CUDA backend of the sampling ops: csrc/sampling.cu built with nvcc on demand, loaded with ctypes.

The library is plain CUDA C++ (no torch headers), so it builds with nvcc alone; its ``extern "C"``
launchers take raw device pointers and torch's current stream and never synchronise. Build cache:
``$T3D_ROS_CACHE`` or ``~/.cache/t3d_ros``, one folder per hash of the source and flags. A prebuilt
library (``build(out_dir)``, e.g. in a Docker image) is used when ``$T3D_ROS_CUDA_LIB`` points at it.

``available()`` is False, with ``unavailable_reason()`` saying why, when torch has no CUDA, there is
no GPU, nvcc is missing or the build/load fails; it never raises.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from t3d_ros.classify.ops._common import radius_sq

__all__ = ["available", "unavailable_reason", "build", "build_cached", "cache_dir", "nvcc_version", "probe_kernel",
           "find_nvcc", "nvcc_command", "load_library",
           "fps_packed", "fps_batch", "ball_query", "sample_group", "SOURCE", "LIB_NAME", "MAX_LEVELS"]

SOURCE = Path(__file__).resolve().parent / "csrc" / "sampling.cu"
LIB_NAME = "libt3d_sampling.so"
NVCC_FLAGS = ("-O3", "-shared", "-Xcompiler", "-fPIC")
ABI_VERSION = 2
MAX_LEVELS = 8
_INT_MAX = 2**31 - 1


class _Levels(ctypes.Structure):
    """Mirror of ``struct T3DLevels`` in sampling.cu (layout checked against t3d_levels_layout)."""

    _fields_ = [
        ("count", ctypes.c_int),
        ("npoint", ctypes.c_int * MAX_LEVELS),
        ("nsample", ctypes.c_int * MAX_LEVELS),
        ("r2", ctypes.c_float * MAX_LEVELS),
        ("fps_idx", ctypes.c_void_p * MAX_LEVELS),
        ("group_idx", ctypes.c_void_p * MAX_LEVELS),
        ("centres", ctypes.c_void_p * MAX_LEVELS),
    ]


# --------------------------------------------------------------------------- build


def find_nvcc() -> str | None:
    """nvcc from $CUDA_HOME / $CUDA_PATH, the PATH, or /usr/local/cuda; None when there is none."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            cand = Path(os.environ[var]) / "bin" / "nvcc"
            if cand.is_file():
                return str(cand)
    found = shutil.which("nvcc")
    if found:
        return found
    cand = Path("/usr/local/cuda/bin/nvcc")
    return str(cand) if cand.is_file() else None


def nvcc_command(out_path: str | Path, arch: str | None = None, nvcc: str | None = None,
                 source: str | Path = SOURCE) -> list[str]:
    """``nvcc -O3 -shared -Xcompiler -fPIC [-arch=sm_XY] -o out_path sampling.cu``."""
    cmd = [nvcc or find_nvcc() or "nvcc", *NVCC_FLAGS]
    if arch:
        cmd.append(f"-arch={arch}")
    return [*cmd, "-o", str(out_path), str(source)]


def build(out_dir: str | Path, arch: str | None = None, nvcc: str | None = None, timeout: float = 600) -> Path:
    """Compile sampling.cu into ``out_dir/libt3d_sampling.so`` (ahead of time or on demand); its path.

    arch: e.g. "sm_90" for SASS of one GPU (no JIT at load); None: nvcc's default target (its PTX is
    JIT-compiled by the driver for newer GPUs). Raises RuntimeError with nvcc's output on failure.
    """
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        raise RuntimeError("nvcc not found (set CUDA_HOME or put nvcc on PATH)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / LIB_NAME
    # compile to a private name, then rename: concurrent builders never load a half-written library
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=out_dir)
    os.close(fd)
    try:
        proc = subprocess.run(nvcc_command(tmp, arch, nvcc), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"nvcc failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}".strip())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def nvcc_version(nvcc: str | None = None) -> str:
    """The release line of ``nvcc --version`` ('' without nvcc): part of the build cache key, so a
    toolkit upgrade builds anew."""
    nvcc = nvcc or find_nvcc()
    if nvcc is None:
        return ""
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return next((line.strip() for line in out.splitlines() if "release" in line), out.strip()[-200:])


def cache_dir(arch: str | None = None, nvcc: str | None = None) -> Path:
    """Folder of a build: $T3D_ROS_CACHE (or ~/.cache/t3d_ros) / hash of the source, the flags, the
    GPU architecture and the nvcc version."""
    root = Path(os.environ.get("T3D_ROS_CACHE") or Path.home() / ".cache" / "t3d_ros")
    h = hashlib.sha256(SOURCE.read_bytes())
    h.update(" ".join([*NVCC_FLAGS, arch or "", nvcc_version(nvcc)]).encode())
    return root / h.hexdigest()[:16]


FAILED = "BUILD_FAILED"  # in a cache folder: that build failed; not retried until its key changes


def build_cached(arch: str | None = None, nvcc: str | None = None) -> Path:
    """The library for ``arch`` from the cache, built there first if needed (ahead of time:
    ``python -m t3d_ros.classify.ops.cuda``). A failed build is remembered in the cache folder
    (``BUILD_FAILED`` holds nvcc's output) and raises at once the next time, in every process, until
    the source, flags, architecture or nvcc change or the file is deleted."""
    folder = cache_dir(arch, nvcc)
    lib, failed = folder / LIB_NAME, folder / FAILED
    if lib.is_file():
        return lib
    if failed.is_file():
        raise RuntimeError(f"an earlier build of {SOURCE.name} failed (nvcc output in {failed}; delete it to retry)")
    try:
        return build(folder, arch, nvcc)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        folder.mkdir(parents=True, exist_ok=True)
        failed.write_text(f"{' '.join(nvcc_command(lib, arch, nvcc))}\n{e}\n")
        raise RuntimeError(f"building {SOURCE.name} failed (remembered in {failed}): {e}") from None


# --------------------------------------------------------------------------- loading

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_reason: str | None = None  # None: not probed yet


def load_library(path: str | Path) -> ctypes.CDLL:
    """Load a built library and declare its functions; raises OSError/RuntimeError if unusable."""
    lib = ctypes.CDLL(str(path))
    p, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    lib.t3d_abi_version.restype = i
    lib.t3d_abi_version.argtypes = []
    lib.t3d_error_string.restype = ctypes.c_char_p
    lib.t3d_error_string.argtypes = [i]
    lib.t3d_device_count.restype = i
    lib.t3d_device_count.argtypes = [ctypes.POINTER(i)]
    lib.t3d_probe.restype = i
    lib.t3d_probe.argtypes = []
    lib.t3d_levels_layout.restype = None
    lib.t3d_levels_layout.argtypes = [p]
    lib.t3d_fps_packed.restype = i
    lib.t3d_fps_packed.argtypes = [p, p, i, i, i, p, p, p]
    lib.t3d_fps_batch.restype = i
    lib.t3d_fps_batch.argtypes = [p, i, i, i, i, p, p, p]
    lib.t3d_ball_query.restype = i
    lib.t3d_ball_query.argtypes = [p, p, i, i, i, f, i, p, p]
    lib.t3d_sample_group.restype = i
    lib.t3d_sample_group.argtypes = [p, i, i, i, p, ctypes.c_int64, ctypes.POINTER(_Levels), p]
    if lib.t3d_abi_version() != ABI_VERSION:
        raise RuntimeError(f"{path}: ABI version {lib.t3d_abi_version()}, expected {ABI_VERSION}")
    layout = np.zeros(4, np.int64)
    lib.t3d_levels_layout(layout.ctypes.data)
    expected = [ctypes.sizeof(_Levels), _Levels.fps_idx.offset, _Levels.group_idx.offset, _Levels.centres.offset]
    if layout.tolist() != expected:
        raise RuntimeError(f"{path}: struct T3DLevels layout {layout.tolist()} != ctypes mirror {expected}")
    return lib


def _probe() -> tuple[ctypes.CDLL | None, str]:
    try:
        import torch
    except ImportError:
        return None, "torch is not installed"
    if not torch.backends.cuda.is_built():
        return None, f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return None, "no CUDA device visible to torch"
    path = os.environ.get("T3D_ROS_CUDA_LIB")
    if path:
        if not Path(path).is_file():
            return None, f"T3D_ROS_CUDA_LIB={path} does not exist"
    else:
        if not SOURCE.is_file():
            return None, f"{SOURCE} is missing (install csrc/*.cu as package data, or set T3D_ROS_CUDA_LIB)"
        major, minor = torch.cuda.get_device_capability()
        arch = f"sm_{major}{minor}"
        if find_nvcc() is None and not (cache_dir(arch) / LIB_NAME).is_file():
            return None, ("nvcc not found: cannot build the CUDA sampling library (build it ahead of time: "
                          "python -m t3d_ros.classify.ops.cuda)")
        try:
            path = build_cached(arch)
        except RuntimeError as e_arch:
            # an nvcc too old for this GPU: fall back to its default target, JIT-compiled by the driver
            try:
                path = build_cached(None)
            except RuntimeError as e:
                return None, f"{e}\n(with -arch={arch}: {e_arch})"
    try:
        lib = load_library(path)
    except (OSError, RuntimeError, AttributeError) as e:
        return None, f"loading {path} failed: {e}"
    count = ctypes.c_int(0)
    code = lib.t3d_device_count(ctypes.byref(count))
    if code != 0 or count.value == 0:
        return None, f"CUDA runtime of {path}: {lib.t3d_error_string(code).decode()} ({count.value} devices)"
    reason = probe_kernel(lib)
    return (None, f"{path}: {reason}") if reason else (lib, "")


def probe_kernel(lib: ctypes.CDLL) -> str:
    """'' when a one-thread kernel of ``lib`` runs on the current GPU and syncs; else why not."""
    code = lib.t3d_probe()
    if code == 0:
        return ""
    what = "wrong result" if code == -1 else lib.t3d_error_string(code).decode()
    return (f"a test kernel did not run ({what}): no usable GPU, a driver older than the nvcc that built the "
            "library, or a library built for another GPU architecture")


def _ensure() -> ctypes.CDLL | None:
    global _lib, _reason
    if _reason is None:
        with _lock:
            if _reason is None:
                _lib, _reason = _probe()
    return _lib


def available() -> bool:
    """True when the CUDA kernels can run (GPU, torch with CUDA, library built/loaded); never raises."""
    return _ensure() is not None


def unavailable_reason() -> str:
    """Why ``available()`` is False ("" when it is True)."""
    _ensure()
    return _reason or ""


# --------------------------------------------------------------------------- launchers


def _lib_or_raise() -> ctypes.CDLL:
    lib = _ensure()
    if lib is None:
        raise RuntimeError(f"CUDA sampling ops unavailable: {_reason}")
    return lib


def _f32_cuda(t: Any, name: str) -> Any:
    """t as a contiguous float32 CUDA tensor (copies only when needed)."""
    import torch

    if not isinstance(t, torch.Tensor) or not t.is_cuda:
        raise ValueError(f"{name} must be a torch tensor on a CUDA device")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
    return t.detach().to(torch.float32).contiguous()


def _as_int(value: int, name: str) -> int:
    if not 0 <= value <= _INT_MAX:
        raise ValueError(f"{name}={value} out of range for the CUDA kernels")
    return int(value)


def _check(lib: ctypes.CDLL, code: int, what: str) -> None:
    if code != 0:
        raise RuntimeError(f"{what}: {lib.t3d_error_string(code).decode()} (CUDA error {code})")


def _fps_threads(max_n: int) -> int:
    """Block size: ~4 points a thread, a multiple of 32 in [32, 1024] (a heuristic, not tuned on a GPU)."""
    want = max(32, -(-max_n // 4))
    return min(1024, 1 << (want - 1).bit_length())


def fps_packed(points: Any, offsets: np.ndarray, k: int) -> Any:
    """Packed FPS on the GPU: points (P, 3) CUDA tensor, offsets (K+1,) validated int64 (host) -> (K, k) int64."""
    import torch

    lib = _lib_or_raise()
    xyz = _f32_cuda(points, "points")
    nclusters = _as_int(offsets.shape[0] - 1, "K")
    k = _as_int(k, "k")
    out = torch.empty((nclusters, k), dtype=torch.int64, device=xyz.device)
    if nclusters == 0 or k == 0:
        return out
    _as_int(int(offsets[-1]), "P")
    with torch.cuda.device(xyz.device):
        off = torch.from_numpy(np.ascontiguousarray(offsets, np.int64)).to(xyz.device)
        mind = torch.empty(xyz.shape[0], dtype=torch.float32, device=xyz.device)  # per-point, sized by P
        stream = torch.cuda.current_stream(xyz.device).cuda_stream
        code = lib.t3d_fps_packed(xyz.data_ptr(), off.data_ptr(), nclusters, k,
                                  _fps_threads(int(np.diff(offsets).max())), mind.data_ptr(), out.data_ptr(), stream)
    _check(lib, code, "t3d_fps_packed")
    return out


def fps_batch(xyz: Any, k: int) -> Any:
    """Batched FPS on the GPU: xyz (B, N, 3) CUDA tensor, N >= 1 -> (B, k) int64."""
    import torch

    lib = _lib_or_raise()
    xyz = _f32_cuda(xyz, "xyz")
    nb, n = (_as_int(v, name) for v, name in zip(xyz.shape[:2], ("B", "N"), strict=True))
    k = _as_int(k, "k")
    out = torch.empty((nb, k), dtype=torch.int64, device=xyz.device)
    if nb == 0 or k == 0:
        return out
    with torch.cuda.device(xyz.device):
        mind = torch.empty(nb * n, dtype=torch.float32, device=xyz.device)
        stream = torch.cuda.current_stream(xyz.device).cuda_stream
        code = lib.t3d_fps_batch(xyz.data_ptr(), nb, n, k, _fps_threads(n), mind.data_ptr(), out.data_ptr(), stream)
    _check(lib, code, "t3d_fps_batch")
    return out


def ball_query(xyz: Any, centres: Any, radius: float, nsample: int) -> Any:
    """Ball query on the GPU: xyz (B, N, 3), centres (B, S, 3) CUDA tensors -> (B, S, nsample) int64."""
    import torch

    lib = _lib_or_raise()
    xyz = _f32_cuda(xyz, "xyz")
    centres = _f32_cuda(centres, "centres")
    if centres.device != xyz.device:
        raise ValueError(f"xyz on {xyz.device}, centres on {centres.device}")
    nb, n = (_as_int(v, name) for v, name in zip(xyz.shape[:2], ("B", "N"), strict=True))
    ns = _as_int(centres.shape[1], "S")
    nsample = _as_int(nsample, "nsample")
    out = torch.empty((nb, ns, nsample), dtype=torch.int64, device=xyz.device)
    if out.numel() == 0:
        return out
    with torch.cuda.device(xyz.device):
        stream = torch.cuda.current_stream(xyz.device).cuda_stream
        code = lib.t3d_ball_query(xyz.data_ptr(), centres.data_ptr(), nb, n, ns, float(radius_sq(radius)), nsample,
                                  out.data_ptr(), stream)
    _check(lib, code, "t3d_ball_query")
    return out


def sample_group(xyz: Any, levels: list[tuple[int, int, np.float32]]) -> list[tuple[Any, Any]]:
    """All SA levels in one launch: xyz (B, N, 3) CUDA tensor, levels [(npoint > 0, nsample, r2)].

    Returns [(fps_idx (B, S_l) int64, group_idx (B, S_l, nsample_l) int64)] like ``sample_and_group``.
    """
    import torch

    lib = _lib_or_raise()
    xyz = _f32_cuda(xyz, "xyz")
    nb, n = (_as_int(v, name) for v, name in zip(xyz.shape[:2], ("B", "N"), strict=True))
    if len(levels) > MAX_LEVELS:
        raise ValueError(f"at most {MAX_LEVELS} sampling levels in one launch, got {len(levels)}")
    dev = xyz.device
    outs = [(torch.empty((nb, s), dtype=torch.int64, device=dev),
             torch.empty((nb, s, ns), dtype=torch.int64, device=dev)) for s, ns, _ in levels]
    if nb == 0 or not levels:
        return outs
    # level l's points are level l-1's centres: the scratch must hold the largest of those clouds
    stride = max([n] + [s for s, _, _ in levels[:-1]])
    lv = _Levels()
    lv.count = len(levels)
    with torch.cuda.device(dev):
        centres = [torch.empty((nb, s, 3), dtype=torch.float32, device=dev) for s, _, _ in levels]
        mind = torch.empty(nb * stride, dtype=torch.float32, device=dev)
        for i, ((s, ns, r2), (fidx, gidx)) in enumerate(zip(levels, outs, strict=True)):
            lv.npoint[i] = _as_int(s, "npoint")
            lv.nsample[i] = _as_int(ns, "nsample")
            lv.r2[i] = float(r2)
            lv.fps_idx[i] = fidx.data_ptr()
            lv.group_idx[i] = gidx.data_ptr()
            lv.centres[i] = centres[i].data_ptr()
        stream = torch.cuda.current_stream(dev).cuda_stream
        code = lib.t3d_sample_group(xyz.data_ptr(), nb, n, _fps_threads(n), mind.data_ptr(), stride,
                                    ctypes.byref(lv), stream)
    _check(lib, code, "t3d_sample_group")
    return outs


def main(argv: list[str] | None = None) -> int:
    """``python -m t3d_ros.classify.ops.cuda [--arch sm_XY]``: build the library ahead of time into the
    cache (for the GPU of this machine, or the given architecture) and say where; then probe it."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--arch", help="e.g. sm_90 (default: this machine's GPU; without one, nvcc's default target)")
    args = ap.parse_args(argv)
    arch = args.arch
    if arch is None:
        try:
            import torch

            if torch.cuda.is_available():
                arch = "sm_{}{}".format(*torch.cuda.get_device_capability())
        except ImportError:
            pass
    try:
        path = build_cached(arch)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"built {path} (arch {arch or 'nvcc default'}, {nvcc_version() or 'nvcc ?'})")
    lib = load_library(path)
    reason = probe_kernel(lib)
    print(f"probe: {'a test kernel ran on this GPU' if not reason else reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
