"""Timing helpers shared by the benchmarks: repeated runs, percentiles, machine state."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def timed(fn: Callable[[], object], runs: int, warmup: int = 2, sync: Callable[[], None] | None = None) -> dict:
    """Median, min, p10, p90 ms of ``runs`` calls of ``fn`` after ``warmup`` calls (``sync``: e.g.
    torch.cuda.synchronize, called around each timed call)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": float(np.median(times)), "min_ms": float(np.min(times)),
            "p10_ms": float(np.percentile(times, 10)), "p90_ms": float(np.percentile(times, 90)), "runs": runs}


def summary(values: Sequence[float]) -> dict:
    """p50, p95, max and count of a list of ms values (NaN when empty)."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return {"p50": float("nan"), "p95": float("nan"), "max": float("nan"), "n": 0}
    return {"p50": float(np.median(v)), "p95": float(np.percentile(v, 95)), "max": float(v.max()), "n": int(len(v))}


def loadavg() -> float | None:
    """1-minute load average (other work on the machine inflates every timing)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def rss_mib() -> float | None:
    """Resident memory of this process now (Linux), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "loadavg_start": loadavg()}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    from t3d_ros.classify.ops import _cpu

    info["numba_threads"] = _cpu.num_threads()
    return info
