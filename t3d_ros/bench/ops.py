"""Benchmark of the sampling ops (t3d_ros.classify.ops): reference vs numba CPU vs fpsample, and CUDA when present.

A frame of 64 clusters with LiDAR-like sizes (10..5000 points, log-uniform; anisotropic blobs).
Step 1: pack every cluster to N = 256 and N = 512 points by FPS. Step 2: the indices of two SA levels
(128 centres, r = 0.2, 32 samples; 32 centres, r = 0.4, 32 samples) on the (64, N, 3) batch,
each cluster centred and scaled to the unit sphere. Times are medians of many runs (ms).

fpsample (pip install fpsample) is run cluster by cluster (it takes one cloud a call): vanilla
``fps_sampling`` honours ``start_idx`` and should give our indices exactly; the bucket/kd-tree
``bucket_fps_kdline_sampling`` reorders points into buckets, so its ``start_idx`` is not honoured as an
index of the input and its samples differ (reported as the share of clusters matching ours exactly).
Clusters smaller than N are sampled to n points and cycled, as ours are.

    python -m t3d_ros.bench.ops [--clusters 64] [--seed 0] [--quick]

Writes benchmarks/results/ops.json and ops.md and prints the table. CUDA rows are added when
``t3d_ros.classify.ops.cuda.available()`` (same command on a GPU machine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from t3d_ros.bench.baselines import fpsample_packed
from t3d_ros.bench.data import RESULTS, cluster_frame
from t3d_ros.bench.timing import timed
from t3d_ros.classify.ops import (
    SALevel,
    _cpu,
    ball_query,
    cuda,
    fps_batch,
    fps_packed,
    sample_and_group,
    sample_clusters,
)

LEVELS = [SALevel(128, 0.2, 32), SALevel(32, 0.4, 32)]
OUT = RESULTS


def unit_sphere(batch: np.ndarray) -> np.ndarray:
    xyz = batch - batch.mean(axis=1, keepdims=True)
    scale = np.maximum(np.linalg.norm(xyz, axis=2).max(axis=1), 1e-6)
    return (xyz / scale[:, None, None]).astype(np.float32)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """numba on one thread: the 2-thread numbers are sensitive to other load on the machine."""
    saved = _cpu.num_threads()
    if _cpu.HAVE_NUMBA:
        _cpu.numba.set_num_threads(1)
    try:
        yield
    finally:
        if _cpu.HAVE_NUMBA:
            _cpu.numba.set_num_threads(saved)


def bench(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    pts, off = cluster_frame(rng, args.clusters)
    sizes = np.diff(off)
    runs, ref_runs = (10, 1) if args.quick else (100, 3)
    res: dict = {
        "frame": {"clusters": int(len(sizes)), "points": int(off[-1]), "min": int(sizes.min()),
                  "median": int(np.median(sizes)), "max": int(sizes.max())},
        "levels": [vars(lv) for lv in LEVELS],
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "numba_threads": _cpu.num_threads()},
        "rows": [],
        "loadavg": Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "n/a",
    }
    rows = res["rows"]

    def row(step: str, n: int, impl: str, t: dict, base: dict | None = None, **extra) -> None:
        r = {"step": step, "N": n, "impl": impl, **t, **extra}
        if base is not None:
            r["ratio_vs_reference"] = base["median_ms"] / t["median_ms"]
        rows.append(r)
        ratio = f"  x{r['ratio_vs_reference']:.0f}" if "ratio_vs_reference" in r else ""
        print(f"{step:28s} N={n:4d} {impl:22s} {t['median_ms']:9.3f} ms{ratio} {extra or ''}", flush=True)

    try:
        import fpsample
    except ImportError:
        fpsample = None
        print("fpsample not installed: pip install fpsample (its rows are skipped)")

    for n in (256, 512):
        ours = fps_packed(pts, off, n, backend="cpu")
        t_ref = timed(lambda n=n: fps_packed(pts, off, n, backend="reference"), ref_runs, warmup=0)
        row("pack FPS (step 1)", n, "reference (numpy)", t_ref)
        row("pack FPS (step 1)", n, "cpu (numba)", timed(lambda n=n: fps_packed(pts, off, n, backend="cpu"), runs),
            t_ref)
        with one_thread():
            row("pack FPS (step 1)", n, "cpu (numba, 1 thread)",
                timed(lambda n=n: fps_packed(pts, off, n, backend="cpu"), runs), t_ref)
        if fpsample is not None:
            for name, fn in (("fpsample.fps_sampling", lambda c, m: fpsample.fps_sampling(c, m, start_idx=0)),
                             ("fpsample.bucket_kdline", lambda c, m: fpsample.bucket_fps_kdline_sampling(
                                 c, m, h=3 if len(c) < 1000 else 5, start_idx=0))):
                got = fpsample_packed(fn, pts, off, n)
                same = float(np.mean(np.all(got == ours, axis=1)))
                row("pack FPS (step 1)", n, name, timed(lambda fn=fn, n=n: fpsample_packed(fn, pts, off, n), runs),
                    t_ref, clusters_identical_to_ours=same)

        batch = unit_sphere(sample_clusters(pts, off, n, backend="cpu"))
        t_ref = timed(lambda b=batch: sample_and_group(b, LEVELS, backend="reference"), ref_runs, warmup=0)
        row("SA indices (step 2)", n, "reference (numpy)", t_ref)
        row("SA indices (step 2)", n, "cpu (numba, fused)",
            timed(lambda b=batch: sample_and_group(b, LEVELS, backend="cpu"), runs), t_ref)
        with one_thread():
            row("SA indices (step 2)", n, "cpu (numba, 1 thread)",
                timed(lambda b=batch: sample_and_group(b, LEVELS, backend="cpu"), runs), t_ref)
        row("  of which FPS 128 of N", n, "cpu (numba)", timed(lambda b=batch: fps_batch(b, 128, backend="cpu"), runs))
        centres = batch[:, :128]
        row("  of which ball query lvl 0", n, "cpu (numba)",
            timed(lambda b=batch, c=centres: ball_query(b, c, 0.2, 32, backend="cpu"), runs))
        row("frame total (step 1 + 2)", n, "cpu (numba)", timed(
            lambda n=n: sample_and_group(unit_sphere(sample_clusters(pts, off, n, backend="cpu")), LEVELS,
                                         backend="cpu"), runs))

    if cuda.available():
        import torch

        dev = torch.device("cuda")
        res["machine"]["gpu"] = torch.cuda.get_device_name(dev)
        g_pts = torch.from_numpy(pts).to(dev)
        for n in (256, 512):
            ours = fps_packed(pts, off, n, backend="cpu")
            got = fps_packed(g_pts, off, n).cpu().numpy()
            row("pack FPS (step 1)", n, "cuda", timed(lambda n=n: fps_packed(g_pts, off, n), runs * 5,
                                                      sync=torch.cuda.synchronize),
                identical_to_cpu=bool(np.array_equal(got, ours)))
            batch = unit_sphere(sample_clusters(pts, off, n, backend="cpu"))
            g_batch = torch.from_numpy(batch).to(dev)
            want = sample_and_group(batch, LEVELS, backend="cpu")
            have = sample_and_group(g_batch, LEVELS)
            same = all(np.array_equal(h.cpu().numpy(), w) for hw, ww in zip(have, want, strict=True)
                       for h, w in zip(hw, ww, strict=True))
            row("SA indices (step 2)", n, "cuda (fused, 1 launch)",
                timed(lambda b=g_batch: sample_and_group(b, LEVELS), runs * 5, sync=torch.cuda.synchronize),
                identical_to_cpu=same)
            row("  separate launches", n, "cuda (fps+bq per level)", timed(
                lambda b=g_batch: [fps_batch(b, 128), ball_query(b, b[:, :128], 0.2, 32),
                                   fps_batch(b[:, :128], 32), ball_query(b[:, :128], b[:, :32], 0.4, 32)],
                runs * 5, sync=torch.cuda.synchronize))
    else:
        res["cuda"] = f"not run: {cuda.unavailable_reason()}"
        print(f"CUDA rows skipped: {cuda.unavailable_reason()}")
    return res


def to_markdown(res: dict) -> str:
    f = res["frame"]
    m = res["machine"]
    lines = [
        "# Sampling ops benchmark",
        "",
        f"Frame: {f['clusters']} clusters, {f['points']} points (sizes {f['min']}..{f['max']}, median "
        f"{f['median']}; log-uniform 10..5000). Step 2 levels: "
        + ", ".join(f"({lv['npoint']} centres, r={lv['radius']}, {lv['nsample']} samples)" for lv in res["levels"])
        + f". Python {m['python']}, numba threads {m['numba_threads']}"
        + (f", GPU {m['gpu']}" if "gpu" in m else "") + ". Median and min ms of many runs (reference: 3 runs); "
        f"load average at the start {res['loadavg']} (other jobs on the machine inflate the 2-thread medians).",
        "",
        "| step | N | implementation | median ms | min ms | p10..p90 ms | speed-up vs reference (median) | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        ratio = f"{r['ratio_vs_reference']:.0f}x" if "ratio_vs_reference" in r else ""
        note = ""
        if "clusters_identical_to_ours" in r:
            note = f"{100 * r['clusters_identical_to_ours']:.0f}% of clusters identical to ours"
        if "identical_to_cpu" in r:
            note = "identical to cpu" if r["identical_to_cpu"] else "DIFFERS from cpu"
        lines.append(f"| {r['step'].strip()} | {r['N']} | {r['impl']} | {r['median_ms']:.3f} | {r['min_ms']:.3f} | "
                     f"{r['p10_ms']:.3f}..{r['p90_ms']:.3f} | {ratio} | {note} |")
    if "cuda" in res:
        lines += ["", f"CUDA: {res['cuda']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="few runs (smoke test)")
    args = ap.parse_args()
    res = bench(args)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ops.json").write_text(json.dumps(res, indent=2) + "\n")
    md = to_markdown(res)
    (OUT / "ops.md").write_text(md)
    print()
    print(md)


if __name__ == "__main__":
    main()
