"""Which implementation of a sampling op runs: the plain reference, numba on the CPU, or CUDA."""

from __future__ import annotations

from typing import Any

from t3d_ros.classify.ops._common import is_cuda_tensor

OPS_BACKENDS = ("auto", "reference", "cpu", "cuda")


def resolve_backend(backend: str, x: Any) -> str:
    """"auto" -> "cuda" for a CUDA tensor when the extension is usable, else "cpu"."""
    if backend not in OPS_BACKENDS:
        raise ValueError(f"backend must be one of {OPS_BACKENDS}, got {backend!r}")
    if backend == "auto":
        if is_cuda_tensor(x):
            from t3d_ros.classify.ops import cuda  # builds/loads the CUDA library lazily

            if cuda.available():
                return "cuda"
        return "cpu"
    if backend == "cuda" and not is_cuda_tensor(x):
        raise ValueError("backend='cuda' takes torch tensors on a CUDA device")
    return backend
