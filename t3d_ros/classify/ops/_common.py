"""Helpers shared by the sampling ops: array kinds (numpy / torch CPU / torch CUDA) and argument checks."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def is_tensor(x: Any) -> bool:
    """True for a torch tensor; never imports torch (a numpy-only caller must not pay for it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def is_cuda_tensor(x: Any) -> bool:
    return is_tensor(x) and x.is_cuda


def to_numpy(x: Any, dtype: type) -> np.ndarray:
    """C-contiguous numpy copy/view of ``x`` (numpy array, sequence or torch tensor on any device)."""
    if is_tensor(x):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def like(result: np.ndarray, template: Any) -> Any:
    """``result`` as the kind of array ``template`` is (numpy stays numpy, a tensor goes to its device)."""
    if is_tensor(template):
        import torch

        return torch.from_numpy(result).to(template.device)
    return result


def check_xyz(xyz_shape: tuple[int, ...], name: str = "xyz", batched: bool = True) -> None:
    want = 3 if batched else 2
    if len(xyz_shape) != want or xyz_shape[-1] != 3:
        shape = "(B, N, 3)" if batched else "(n, 3)"
        raise ValueError(f"{name} must have shape {shape}, got {tuple(xyz_shape)}")


def check_offsets(offsets: np.ndarray, n_points: int) -> np.ndarray:
    """Validate packed-cluster offsets (K+1,): start at 0, end at P, every cluster non-empty."""
    if offsets.ndim != 1 or offsets.shape[0] < 1:
        raise ValueError(f"offsets must have shape (K+1,), got {offsets.shape}")
    if offsets[0] != 0 or offsets[-1] != n_points:
        raise ValueError(f"offsets must start at 0 and end at the number of points ({n_points})")
    if offsets.shape[0] > 1 and np.any(np.diff(offsets) <= 0):
        raise ValueError("every cluster must have at least one point (offsets strictly increasing)")
    return offsets


def check_count(value: int, name: str, minimum: int = 0) -> int:
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def radius_sq(radius: float) -> np.float32:
    """Squared radius exactly as every backend compares it: float32(r) * float32(r) in float32."""
    r = np.float32(radius)
    return np.float32(r * r)
