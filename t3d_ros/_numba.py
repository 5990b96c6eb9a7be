"""numba when it is installed, else a stand-in: ``njit`` then leaves a function as it is and
``HAVE_NUMBA`` is False, so that the callers run their numpy references instead of the kernels
(``segment/_fast.py``, ``classify/ops/_cpu.py``, ``io/_decode.py``)."""

from __future__ import annotations

try:
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - the callers fall back to their references
    numba = None
    HAVE_NUMBA = False
    prange = range

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

__all__ = ["HAVE_NUMBA", "njit", "numba", "prange"]
