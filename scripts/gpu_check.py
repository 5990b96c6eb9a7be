"""Times the classifier's GPU path for scripts/gpu_check.sh; writes $OUT/gpu_timing.json.

64 clusters: "sample_group" and "network" p50 over 50 calls (torch on CUDA with the CUDA sampling
ops, and the CPU classifiers beside it); then ``Perception.process`` p50 on a simulated HDL-64E frame
with device cuda (torch) and cpu (the node's default backend). Parts that cannot run (no scipy for
the simulator) are reported, not fatal.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

CALLS = 50


def clusters(k: int = 64) -> tuple[np.ndarray, np.ndarray, str]:
    """k simulated clusters (HDL-64E frames), or synthetic boxes when the simulator cannot run."""
    try:
        from t3d_ros.offline.data import make_sim_clusters

        cs = make_sim_clusters(range(1, 4), sensors=("hdl64",))
        if len(cs) >= k:
            cs = cs.subset(np.arange(k))
            return cs.points, cs.offsets, f"{k} simulated HDL-64E clusters, {len(cs.points)} points"
    except ImportError as e:
        why = f"simulator unavailable ({e})"
    else:
        why = f"only {len(cs)} simulated clusters"
    rng = np.random.default_rng(0)
    sizes = rng.integers(10, 3000, k)
    pts = np.concatenate([np.c_[rng.uniform(-0.5, 0.5, (n, 3)) * rng.uniform(0.3, 5, 3) + rng.uniform(-30, 30, 3),
                                rng.uniform(0, 1, n)] for n in sizes]).astype(np.float32)
    return pts, np.r_[0, np.cumsum(sizes)], f"{k} synthetic box clusters, {len(pts)} points ({why})"


def p50(values: list[float]) -> float:
    return round(float(np.median(values)), 3)


def time_classifier(backend: str, device: str, pts: np.ndarray, off: np.ndarray) -> dict:
    from t3d_ros.classify.classifier import SHIPPED_MODEL, Classifier

    said: list[str] = []
    clf = Classifier(SHIPPED_MODEL, device=device, backend=backend, warn=said.append)
    parts: dict[str, list[float]] = {"sample_group": [], "network": [], "total": []}
    for _ in range(CALLS):
        t0 = time.perf_counter()
        clf.logits(pts, off)
        parts["total"].append((time.perf_counter() - t0) * 1e3)
        for k in ("sample_group", "network"):
            parts[k].append(clf.last_timings_ms[k])
    return {"description": clf.description, "ops_backend": clf.ops_backend, "warnings": said,
            **{f"{k}_ms_p50": p50(v) for k, v in parts.items()}}


def time_perception(device: str) -> dict:
    from t3d_ros.offline.sim.lidar import simulate
    from t3d_ros.perception import Perception

    _, frame = simulate(100, "hdl64")  # as bench/data.py's sim_frames: xyz and the raw intensity
    points = np.column_stack([frame.xyz, frame.intensity]).astype(np.float32)
    said: list[str] = []
    # torch on the GPU: the GPU machine's onnxruntime may be the CPU package (no CUDA provider)
    per = Perception.from_params({"backend": "torch"} if device == "cuda" else {}, device=device, warn=said.append)
    per.process(points)
    times = []
    for _ in range(CALLS):
        t0 = time.perf_counter()
        res = per.process(points)
        times.append((time.perf_counter() - t0) * 1e3)
    clf = per.classifier
    return {"mode": per.mode, "ops_backend": getattr(clf, "ops_backend", None), "points": int(len(points)),
            "detections": len(res.detections), "warnings": said, "process_ms_p50": p50(times),
            "last_stage_ms": {k: round(v, 3) for k, v in res.timings_ms.items()}}


def main(out: Path) -> int:
    pts, off, what = clusters()
    report: dict = {"clusters": what, "calls": CALLS}
    for name, backend, device in [("torch_cuda", "torch", "cuda"), ("torch_cpu", "torch", "cpu"),
                                  ("onnxruntime_cpu", "onnxruntime", "cpu")]:
        try:
            report[name] = time_classifier(backend, device, pts, off)
        except Exception as e:  # report and go on: one part failing must not hide the others
            report[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
    for device in ("cuda", "cpu"):
        try:
            report[f"perception_{device}"] = time_perception(device)
        except Exception as e:
            report[f"perception_{device}"] = {"error": f"{type(e).__name__}: {e}"}
    (out / "gpu_timing.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
