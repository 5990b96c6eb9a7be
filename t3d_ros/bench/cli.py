"""``python -m t3d_ros bench``: every stage of the node's per-frame path timed beside its peers.

One command, CPU always, GPU rows added when torch sees a GPU (the same command on a GPU machine):

1. the node's callback (decode -> crop/voxel -> ground -> cluster -> boxes -> sample/group ->
   network -> messages -> publish) p50/p95 over many frames of every simulated sensor and of the
   three shared KITTI frames, run by the real ``PerceptionNode`` in this process (``node.py``), every
   output built as if subscribed; and again with nobody subscribed (HDL-64E, KITTI);
2. classifier throughput (clusters/s, 64 real clusters) per model, backend and device, and the
   ONNX Runtime thread settings side by side;
3. baselines in the same run, as ratios: a per-point PointCloud2 reader, Patchwork++ ground removal,
   scikit-learn DBSCAN and KD-tree clustering (quality and time), ``fpsample`` FPS, the teacher;
4. cost growth: callback latency against points (30k..300k) and clusters (10..200), as a PNG;
5. memory: peak RSS, and the peak of Python/numpy allocations during one 64-beam callback.

Writes ``<out>/bench.json`` and ``<out>/bench.md`` and the plot (``--png``). Parts whose inputs are
missing (no model, no teacher, no KITTI frames, an optional package) are skipped with a note.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from t3d_ros.bench import baselines as B
from t3d_ros.bench.data import REPO, BenchFrame, cluster_frame, kitti_frames, resampled, sim_frames, street_with_objects
from t3d_ros.bench.node import STAGES, NodeHarness, cloud_message, shutdown
from t3d_ros.bench.timing import loadavg, machine, peak_rss_mib, rss_mib, summary, timed
from t3d_ros.offline.viz import save_figure

DEFAULT_MODEL = REPO / "models" / "t3d_tiny.json"
DEFAULT_TEACHER = REPO / "out" / "runs" / "teacher_ssg" / "ckpt_best.pt"  # scripts/train_t3dnet.sh
SENSORS = ("vlp16", "hdl32", "hdl64", "os1-128")
BUDGET_CPU_MS, BUDGET_GPU_MS, BUDGET_GPU_CLASSIFY_MS, BUDGET_DECODE_MS = 50.0, 5.0, 1.0, 1.0
CLASSIFY_BATCH = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="few frames and repetitions (a smoke run, ~2 min)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for bench.json, bench.md")
    p.add_argument("--png", type=Path, default=Path("docs/latency_scaling.png"), help="cost-growth plot")
    p.add_argument("--model", default=None,
                   help=f"model card (.json); default {DEFAULT_MODEL.relative_to(REPO)} when present")
    p.add_argument("--teacher", default=None, help="teacher card (.json) or training checkpoint (.pt); default "
                   f"{DEFAULT_TEACHER.relative_to(REPO)} when present")
    p.add_argument("--frames", type=int, default=None, help="simulated frames per sensor (default 10, quick 2)")
    p.add_argument("--reps", type=int, default=None, help="callbacks per frame (default 3, quick 2)")
    p.add_argument("--kitti", type=Path, default=None,
                   help="KITTI object root (holding training/velodyne) for the real-frame rows")
    p.add_argument("--baseline", metavar="REF", default=None,
                   help="instead of the full run: this checkout against git commit REF (e.g. 13d1c0b) on the same "
                   "frames, interleaved processes, ratio old/new: <out>/baseline.{json,md} (t3d_ros/bench/baseline.py)")
    p.add_argument("--odometry", type=Path, default=None,
                   help="--baseline: folder of unlabelled frames (its velodyne/*.bin), e.g. KITTI odometry frames")
    p.add_argument("--sim-frames", type=int, default=None,
                   help="--baseline: simulated HDL-64E frames (default 3, quick 1; 0 = none)")
    p.add_argument("--rounds", type=int, default=None,
                   help="--baseline: old/new process pairs (default 5, quick 2)")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _existing(given: str | None, default: Path) -> tuple[Path | None, str]:
    """(path, note): a given path must exist; the default is used only when present."""
    if given:
        path = Path(given)
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        return path, ""
    return (default, "") if default.exists() else (None, f"{default.relative_to(REPO)} not found")


# --- 1. the node's callback ---------------------------------------------------------------------
def node_path(harness: NodeHarness, frames: dict[str, list[BenchFrame]], reps: int) -> dict:
    """Per dataset: per-stage p50/p95 over frames x reps callbacks, points and clusters per frame."""
    out = {}
    for ds, frs in frames.items():
        msgs = [cloud_message(*f.cloud) for f in frs]
        harness.frame(msgs[0])  # warm-up: first-call allocations of this cloud size
        rows = [harness.frame(m) for _ in range(reps) for m in msgs]
        out[ds] = {
            "frames": len(frs), "callbacks": len(rows),
            "points": int(np.median([len(f.points) for f in frs])),
            "clusters": int(np.median([r["clusters"] for r in rows])),
            "ms": {k: summary([r[k] for r in rows]) for k in (*STAGES, "callback")},
        }
        ms = out[ds]["ms"]
        _log(f"  {ds:8s} callback p50 {ms['callback']['p50']:6.1f} ms p95 {ms['callback']['p95']:6.1f} ms "
             f"({out[ds]['points']} points, {out[ds]['clusters']} clusters)")
    return out


# --- 2. classifier throughput -----------------------------------------------------------------------
def real_clusters(frames: list[BenchFrame], k: int) -> tuple[np.ndarray, np.ndarray]:
    """k clusters (packed points, offsets) cut by the default pipeline from simulated frames."""
    from t3d_ros.segment.pipeline import Pipeline

    pipe, pts, sizes = Pipeline(), [], []
    for f in frames:
        seg = pipe(f.points)
        for i in range(seg.num_clusters):
            if len(sizes) < k:
                pts.append(seg.cluster(i))
                sizes.append(len(pts[-1]))
    if len(sizes) < k:
        raise ValueError(f"only {len(sizes)} clusters in the frames, {k} wanted")
    return np.concatenate(pts), np.r_[0, np.cumsum(sizes)].astype(np.int64)


def classifier_rows(models: dict[str, Path], gpu: str | None, pts: np.ndarray, off: np.ndarray, runs: int,
                    notes: list[str]) -> list[dict]:
    from t3d_ros.bench.models import load_model

    rows = []
    devices = ["cpu"] + (["cuda"] if gpu else [])
    for name, path in models.items():
        for device in devices:
            for backend in ("onnxruntime", "torch"):
                try:
                    clf, params, mflops = load_model(path, backend, device)
                except Exception as e:  # a missing runtime or file: note it, go on
                    notes.append(f"classifier {name} {backend} {device}: skipped ({type(e).__name__}: {e})")
                    continue
                desc = getattr(clf, "description", backend)
                if device == "cuda" and not any(x in desc for x in ("CUDA", "Tensorrt", "cuda")):
                    notes.append(f"classifier {name} {backend}: no GPU provider ({desc}), cuda row skipped")
                    continue
                parts: list[dict] = []

                def call(clf=clf, parts=parts) -> None:
                    clf.logits(pts, off)
                    parts.append(dict(clf.last_timings_ms))

                t = timed(call, runs)
                parts = parts[2:]  # after the warm-up calls
                row = {"model": name, "backend": backend, "device": device, "runtime": desc,
                       "params": params, "mflops_per_cluster": mflops, "clusters": len(off) - 1,
                       "sample_group_ms": float(np.median([p["sample_group"] for p in parts])),
                       "network_ms": float(np.median([p["network"] for p in parts])), "total_ms": t["median_ms"],
                       "clusters_per_s": (len(off) - 1) / (t["median_ms"] / 1e3)}
                rows.append(row)
                _log(f"  {name:8s} {backend:12s} {device:4s} {t['median_ms']:8.2f} ms "
                     f"({row['clusters_per_s']:.0f} clusters/s)")
    return rows


def ort_thread_rows(model: Path, pts: np.ndarray, off: np.ndarray, runs: int) -> list[dict]:
    """The model's network time (ONNX Runtime CPU) per intra-op thread count and spinning setting."""
    import os

    import onnxruntime as ort

    from t3d_ros.classify.classifier import load_card, onnx_session_options
    from t3d_ros.classify.inputs import make_inputs

    card = load_card(model)
    inputs = make_inputs(pts, off, card["input_spec"], backend="cpu").as_list()
    rows = []
    for threads in sorted({1, os.cpu_count() or 1}):
        for spinning in (True, False):
            s = ort.InferenceSession(str(card["path"].parent / card["files"]["onnx"]),
                                     onnx_session_options(threads, spinning), providers=["CPUExecutionProvider"])
            feed = {i.name: a for i, a in zip(s.get_inputs(), inputs, strict=True)}
            t = timed(lambda s=s, feed=feed: s.run(None, feed), runs)
            rows.append({"threads": threads, "spinning": spinning, **t})
    return rows


# --- 3. baselines ---------------------------------------------------------------------------------
def decode_rows(frames: list[BenchFrame], runs: int) -> list[dict]:
    from t3d_ros.ros.convert import msg_to_points

    rows = []
    for f in frames:
        msg = cloud_message(*f.cloud)
        ours = msg_to_points(msg)
        fields = [B.Field(x.name, x.offset, x.datatype, x.count) for x in msg.fields]

        def base(msg=msg, fields=fields) -> np.ndarray:
            return B.read_points_per_point(msg.data, fields, msg.point_step, msg.width, msg.height, msg.row_step,
                                           msg.is_bigendian)

        same = bool(np.array_equal(base(), ours))
        t_ours = timed(lambda msg=msg: msg_to_points(msg), runs * 10)
        t_base = timed(base, max(1, runs // 3), warmup=0)
        rows.append({"frame": f.name, "slots": msg.width * msg.height, "points": len(ours),
                     "point_step": msg.point_step, "ours_ms": t_ours["median_ms"], "baseline_ms": t_base["median_ms"],
                     "ratio": t_base["median_ms"] / t_ours["median_ms"], "identical": same})
        _log(f"  decode {f.name}: ours {t_ours['median_ms']:.2f} ms, per-point {t_base['median_ms']:.0f} ms")
    return rows


def segmentation_rows(frames: list[BenchFrame], reps: int, notes: list[str]) -> dict:
    """Default vs Patchwork++ (ground) and vs DBSCAN / KD-tree (clustering): pooled quality and
    median stage times per dataset, ratios to the default."""
    from t3d_ros.offline.eval.segmentation import pool

    names = ("patchwork+cellgraph", "envelope+kdtree", "envelope+dbscan")
    cands = B.candidates(names, log=lambda m: notes.append(m))
    acc: dict[str, dict[str, dict]] = {}
    for f in frames:
        for name, (stage, pipe) in cands.items():
            seg, t = B.timed_segment(pipe, f.points, reps)
            q, _ = B.score_segmentation(seg, f.dataset, f.instance, f.gt_ground)
            a = acc.setdefault(f.dataset, {}).setdefault(name, {"stage": stage, "q": [], "t": []})
            a["q"].append(q)
            a["t"].append(t)
        _log(f"  segmentation {f.name}")
    out: dict = {}
    for ds, cs in acc.items():
        default = next(iter(cs))
        med = {n: {k: float(np.median([t[k] for t in c["t"]])) for k in ("ground", "cluster", "total")}
               for n, c in cs.items()}
        out[ds] = {n: {"stage": c["stage"], "frames": len(c["q"]), "quality": pool(c["q"]).as_dict(),
                       "median_ms": med[n], "ratio_ground": med[n]["ground"] / max(med[default]["ground"], 1e-9),
                       "ratio_cluster": med[n]["cluster"] / max(med[default]["cluster"], 1e-9)}
                   for n, c in cs.items()}
    return out


def fps_rows(runs: int, n: int, notes: list[str]) -> list[dict]:
    from t3d_ros.classify.ops import fps_packed

    pts, off = cluster_frame(np.random.default_rng(0), CLASSIFY_BATCH)
    ours = fps_packed(pts, off, n, backend="cpu")
    rows = [{"impl": "ours (numba, packed)", **timed(lambda: fps_packed(pts, off, n, backend="cpu"), runs),
             "identical": True}]
    try:
        import fpsample
    except ImportError:
        notes.append("fpsample not installed (pip install fpsample): FPS baseline skipped")
        return rows
    for name, fn in (("fpsample.fps_sampling", lambda c, m: fpsample.fps_sampling(c, m, start_idx=0)),
                     ("fpsample.bucket_fps_kdline", lambda c, m: fpsample.bucket_fps_kdline_sampling(
                         c, m, h=3 if len(c) < 1000 else 5, start_idx=0))):
        got = B.fpsample_packed(fn, pts, off, n)
        t = timed(lambda fn=fn: B.fpsample_packed(fn, pts, off, n), runs)
        rows.append({"impl": name, **t, "identical": bool(np.array_equal(got, ours)),
                     "clusters_identical": float(np.mean(np.all(got == ours, axis=1)))})
    for r in rows:
        r["ratio"] = r["median_ms"] / rows[0]["median_ms"]
    return rows


# --- 4. cost growth ---------------------------------------------------------------------------------
def scaling_rows(harness: NodeHarness, base: np.ndarray, points: list[int], clusters: list[int], reps: int) -> dict:
    from t3d_ros.io.cloud import KITTI, build_cloud

    def run(pts: np.ndarray, objects: int | None = None) -> dict:
        cloud = build_cloud(KITTI, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2], "intensity": pts[:, 3]})
        msg = cloud_message(cloud, 1)
        harness.frame(msg)
        rows = [harness.frame(msg) for _ in range(reps)]
        return {"points": len(pts), "objects": objects, "clusters": int(np.median([r["clusters"] for r in rows])),
                "ms": {k: float(np.median([r[k] for r in rows])) for k in (*STAGES, "callback")}}

    out: dict = {"points": [], "clusters": []}
    for n in points:
        out["points"].append(run(resampled(base, n)))
        _log(f"  {n:7d} points: {out['points'][-1]['ms']['callback']:.1f} ms")
    for k in clusters:
        out["clusters"].append(run(street_with_objects(k), k))
        _log(f"  {k:7d} objects: {out['clusters'][-1]['ms']['callback']:.1f} ms "
             f"({out['clusters'][-1]['clusters']} clusters)")
    return out


def scaling_png(path: Path, scaling: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {"decode + crop/voxel": ("decode", "crop_voxel"), "ground": ("ground",), "cluster + boxes":
              ("cluster", "boxes"), "classify (sample/group + network)": ("sample_group", "network"),
              "messages + publish": ("messages", "publish")}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, xlabel in ((axes[0], "points", "points per frame (thousands)"),
                            (axes[1], "clusters", "clusters per frame")):
        rows = scaling[key]
        if not rows:
            continue
        x = np.array([r[key] for r in rows], float) / (1e3 if key == "points" else 1)
        ax.plot(x, [r["ms"]["callback"] for r in rows], "k-o", lw=2, label="whole callback")
        for label, stages in groups.items():
            ax.plot(x, [sum(r["ms"][s] for s in stages) for r in rows], "-", marker=".", label=label)
        ax.axhline(BUDGET_CPU_MS, color="r", ls="--", lw=1, label=f"budget {BUDGET_CPU_MS:.0f} ms (20 Hz)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("ms (median)")
        ax.grid(alpha=0.3)
    axes[0].set_title("HDL-64E scene thinned / densified")
    axes[1].set_title("street with k objects, 120k points")
    axes[1].legend(fontsize=7, loc="upper left")
    save_figure(fig, path, title, title_size=9, quiet=True, dpi=110)


# --- 5. memory -------------------------------------------------------------------------------------
def callback_alloc_peak_mib(harness: NodeHarness, frame: BenchFrame) -> float:
    """Peak of Python and numpy allocations during one callback (tracemalloc), MiB."""
    msg = cloud_message(*frame.cloud)
    harness.frame(msg)
    tracemalloc.start()
    try:
        harness.frame(msg)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


# --- the run ---------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    if getattr(args, "baseline", None):
        from t3d_ros.bench import baseline

        return baseline.run(args)
    t_start = time.perf_counter()
    quick = args.quick
    n_frames = args.frames or (2 if quick else 10)
    reps = args.reps or (2 if quick else 3)
    runs = 5 if quick else 30
    model, model_note = _existing(args.model, DEFAULT_MODEL)
    teacher, teacher_note = _existing(args.teacher, DEFAULT_TEACHER)
    from t3d_ros.bench.models import gpu_name

    gpu = gpu_name()
    notes: list[str] = []
    if model is None:
        notes.append(f"no model ({model_note}; --model PATH): the node runs clustering-only, no classifier rows")
    if teacher is None:
        notes.append(f"no teacher ({teacher_note}; --teacher PATH): tiny-vs-teacher rows skipped")
    if gpu is None:
        notes.append("no GPU visible to torch: GPU rows skipped (run the same command on a GPU machine)")
    res: dict = {"command": "python -m t3d_ros " + " ".join(sys.argv[1:]),
                 "date": datetime.datetime.now().isoformat(timespec="seconds"),
                 "quick": quick, "machine": machine(), "gpu": gpu, "model": str(model) if model else None,
                 "teacher": str(teacher) if teacher else None, "frames_per_sensor": n_frames, "reps": reps}

    _log(f"simulating {n_frames} frame(s) per sensor ...")
    frames: dict[str, list[BenchFrame]] = {s: list(sim_frames(n_frames, (s,))) for s in SENSORS}
    kitti = list(kitti_frames(args.kitti))
    if kitti:
        frames["kitti"] = kitti
    else:
        notes.append(f"no KITTI frames ({args.kitti or 'no --kitti ROOT given'}): KITTI rows skipped")

    _log("node callback, CPU ...")
    harness = NodeHarness(model, device="cpu")
    res["node_cpu"] = {"mode": harness.description, "datasets": node_path(harness, frames, reps)}
    res["memory"] = {"rss_after_node_mib": rss_mib(),
                     "callback_alloc_peak_mib_hdl64": callback_alloc_peak_mib(harness, frames["hdl64"][0])}

    _log("cost growth ...")
    base = frames["hdl64"][0].points
    pts_steps = [30_000, 120_000, 300_000] if quick else [30_000, 60_000, 120_000, 180_000, 240_000, 300_000]
    k_steps = [10, 50, 200] if quick else [10, 25, 50, 100, 150, 200]
    res["scaling"] = scaling_rows(harness, base, pts_steps, k_steps, reps + (1 if quick else 5))
    harness.close()
    _log("node callback, CPU, nobody subscribed ...")
    quiet = NodeHarness(model, device="cpu", subscribers=False)
    res["node_cpu_no_subscribers"] = {
        "mode": quiet.description,
        "datasets": node_path(quiet, {k: v for k, v in frames.items() if k in ("hdl64", "kitti")}, reps)}
    quiet.close()

    if gpu and model is not None:  # without a model the GPU has nothing to run
        _log(f"node callback, GPU ({gpu}) ...")
        gh = NodeHarness(model, device="cuda")
        res["node_gpu"] = {"mode": gh.description,
                           "datasets": node_path(gh, {k: v for k, v in frames.items() if k in ("hdl64", "kitti")},
                                                 reps)}
        gh.close()
    shutdown()

    _log("classifier throughput ...")
    res["classifier"], res["ort_threads"] = [], []
    if model is not None:
        pts, off = real_clusters(frames["hdl64"] + frames["os1-128"], CLASSIFY_BATCH)
        models = {"tiny": model, **({"teacher": teacher} if teacher else {})}
        res["classifier"] = classifier_rows(models, gpu, pts, off, runs, notes)
        try:
            res["ort_threads"] = ort_thread_rows(model, pts, off, runs)
        except Exception as e:  # no ONNX Runtime or no .onnx in the bundle
            notes.append(f"ONNX Runtime thread settings skipped: {type(e).__name__}: {e}")

    _log("baselines ...")
    res["decode"] = decode_rows([frames["hdl64"][0], frames["os1-128"][0], *kitti[:1]], 3 if quick else 6)
    seg_frames = frames["hdl64"][: (1 if quick else 3)] + kitti
    res["segmentation"] = segmentation_rows(seg_frames, 1 if quick else 3, notes)
    res["fps"] = fps_rows(runs, 128, notes)
    res["memory"]["peak_rss_mib"] = peak_rss_mib()
    res["machine"]["loadavg_end"] = loadavg()
    res["notes"] = notes
    res["seconds"] = round(time.perf_counter() - t_start, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(res, indent=1) + "\n")
    load = f"load average {res['machine']['loadavg_start']} -> {res['machine']['loadavg_end']}"
    scaling_png(args.png, res["scaling"], f"t3d_ros node callback, {res['node_cpu']['mode']}, "
                f"{res['machine']['cpu']} ({res['machine']['cores']} cores, {load})")
    md = to_markdown(res, args.png, args.out)
    (args.out / "bench.md").write_text(md)
    print(md)
    _log(f"wrote {args.out / 'bench.json'}, {args.out / 'bench.md'}, {args.png} in {res['seconds']:.0f} s")
    return 0


# --- the report ------------------------------------------------------------------------------------
def _f(x: float | None, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"


def _met(value: float | None, budget: float) -> str:
    if value is None or not np.isfinite(value):
        return "not measured"
    return "met" if value <= budget else "**not met**"


def budget_rows(res: dict) -> list[str]:
    cpu = res["node_cpu"]["datasets"].get("hdl64")
    lines = ["| budget (DESIGN.md §5) | measured | |", "|---|---|---|"]
    if cpu:
        v = cpu["ms"]["callback"]["p50"]
        lines.append(f"| CPU whole callback p50, HDL-64E ({cpu['points'] // 1000}k points, {cpu['clusters']} clusters) "
                     f"<= {BUDGET_CPU_MS:.0f} ms | {_f(v)} ms (p95 {_f(cpu['ms']['callback']['p95'])}) "
                     f"| {_met(v, BUDGET_CPU_MS)} |")
        v = cpu["ms"]["decode"]["p50"]
        lines.append(f"| CPU decode p50 <= {BUDGET_DECODE_MS:.0f} ms | {_f(v, 2)} ms | {_met(v, BUDGET_DECODE_MS)} |")
    gpu = res.get("node_gpu", {}).get("datasets", {}).get("hdl64")
    v = gpu["ms"]["callback"]["p50"] if gpu else None
    lines.append(f"| GPU whole callback p50 <= {BUDGET_GPU_MS:.0f} ms | "
                 f"{_f(v) + ' ms' if gpu else 'no GPU in this run'} | {_met(v, BUDGET_GPU_MS) if gpu else '-'} |")
    g = [r for r in res["classifier"] if r["device"] == "cuda" and r["model"] == "tiny"]
    v = min((r["total_ms"] for r in g), default=None)
    lines.append(f"| GPU classification of {CLASSIFY_BATCH} clusters <= {BUDGET_GPU_CLASSIFY_MS:.0f} ms | "
                 f"{_f(v, 2) + ' ms' if g else 'no GPU in this run'} | "
                 f"{_met(v, BUDGET_GPU_CLASSIFY_MS) if g else '-'} |")
    return lines


def stage_table(datasets: dict) -> list[str]:
    head = ("decode", "crop/voxel", "ground", "cluster", "boxes", "sample/group", "network", "messages", "publish")
    lines = ["| dataset | points | clusters | " + " | ".join(head) + " | **callback p50** | callback p95 |",
             "|---|---|---|" + "---|" * (len(head) + 2)]
    for ds, d in datasets.items():
        ms = d["ms"]
        cells = [f"{_f(ms[s]['p50'])} / {_f(ms[s]['p95'])}" for s in STAGES]
        lines.append(f"| {ds} | {d['points'] // 1000}k | {d['clusters']} | " + " | ".join(cells)
                     + f" | **{_f(ms['callback']['p50'])}** | {_f(ms['callback']['p95'])} |")
    return lines


def to_markdown(res: dict, png: Path, out: Path) -> str:
    m = res["machine"]
    loaded = (m["loadavg_start"] or 0) > 0.25 * (m["cores"] or 1)
    lines = ["# t3d_ros benchmark", "",
             f"`{res['command']}` ({'quick' if res['quick'] else 'full'} run, {res['date']}, {res['seconds']:.0f} s). "
             f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}, "
             f"ONNX Runtime {m.get('onnxruntime', '-')}, numba threads {m['numba_threads']}; "
             f"GPU: {res['gpu'] or 'none'}. "
             f"Model: {res['model'] or 'none'}; teacher: {res['teacher'] or 'none'}.", ""]
    if loaded:
        lines += [f"> **Measured under load** (1-min load average {m['loadavg_start']} at the start, "
                  f"{m['loadavg_end']} at the end, on {m['cores']} cores): other processes shared the CPU, every "
                  "time here is pessimistic. Re-run on an idle machine for the real numbers.", ""]
    lines += ["## Budgets", "", *budget_rows(res), "",
              f"## Node callback per stage, CPU ({res['node_cpu']['mode']})", "",
              f"ms p50 / p95 over {res['frames_per_sensor']} simulated frames per sensor x {res['reps']} callbacks "
              "(KITTI: its 3 frames), each callback run by the real `PerceptionNode` in-process on a deserialised "
              "`PointCloud2` in the sensor's driver layout (`t3d_ros/bench/node.py`). `publish`: detections JSON, "
              "publish calls and debug topics (the callback time no stage reports).", "",
              *stage_table(res["node_cpu"]["datasets"]), ""]
    if "node_cpu_no_subscribers" in res:
        lines += ["Same, with nobody subscribed to `~/markers`, `~/clusters` and `~/detections` (the node builds "
                  "only the messages of topics that have subscribers; the harness still reads the JSON):", "",
                  *stage_table(res["node_cpu_no_subscribers"]["datasets"]), ""]
    if "node_gpu" in res:
        lines += [f"## Node callback per stage, GPU ({res['gpu']}, {res['node_gpu']['mode']})", "",
                  *stage_table(res["node_gpu"]["datasets"]), ""]
    if res["classifier"]:
        tiny = {(r["backend"], r["device"]): r for r in res["classifier"] if r["model"] == "tiny"}
        lines += [f"## Classifier throughput ({res['classifier'][0]['clusters']} real clusters of simulated "
                  "HDL-64E / OS1-128 frames)", "",
                  "| model | runtime | device | params | MFLOPs / cluster | sample/group ms | network ms | total ms "
                  "| clusters/s | time vs tiny |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in res["classifier"]:
            ref = tiny.get((r["backend"], r["device"]))
            ratio = f"{r['total_ms'] / ref['total_ms']:.1f}x" if ref else "-"
            lines.append(f"| {r['model']} | {r['runtime']} | {r['device']} | {r['params'] or '-'} | "
                         f"{r['mflops_per_cluster'] or '-'} | {r['sample_group_ms']:.2f} | {r['network_ms']:.2f} | "
                         f"{r['total_ms']:.2f} | {r['clusters_per_s']:.0f} | {ratio} |")
        lines.append("")
    if res["ort_threads"]:
        lines += ["ONNX Runtime CPU session settings, network only (median ms; the node uses "
                  "`onnx_session_options()`: 1 thread, spinning off):", "",
                  "| intra-op threads | spinning | median ms | p10..p90 ms |", "|---|---|---|---|"]
        lines += [f"| {r['threads']} | {'on' if r['spinning'] else 'off'} | {r['median_ms']:.2f} | "
                  f"{r['p10_ms']:.2f}..{r['p90_ms']:.2f} |" for r in res["ort_threads"]]
        lines.append("")
    lines += ["## Baselines (same run; ratio = baseline time / ours)", "",
              "| stage | ours | baseline | data | ours ms | baseline ms | ratio | same output / quality |",
              "|---|---|---|---|---|---|---|---|"]
    for r in res["decode"]:
        lines.append(f"| decode | `msg_to_points` (structured view, field copies) | per-point `struct.unpack` reader | "
                     f"{r['frame']} ({r['slots'] // 1000}k slots, {r['point_step']} B) | {r['ours_ms']:.2f} | "
                     f"{r['baseline_ms']:.0f} | {r['ratio']:.0f}x | {'identical' if r['identical'] else 'DIFFERS'} |")
    for ds, cs in res["segmentation"].items():
        default = next(iter(cs))
        dq = cs[default]["quality"]
        for name, c in cs.items():
            if name == default:
                continue
            q = c["quality"]
            stage = c["stage"]
            part = 0 if stage == "ground" else 1  # which half of "ground+cluster" this row varies
            if stage == "ground":
                qual = (f"ground P/R {_f(q['ground_precision'], 3)}/{_f(q['ground_recall'], 3)} vs ours "
                        f"{_f(dq['ground_precision'], 3)}/{_f(dq['ground_recall'], 3)}; own cluster "
                        f"{_f(q['own_cluster_rate'], 3)} vs {_f(dq['own_cluster_rate'], 3)}")
            else:
                qual = (f"own cluster {_f(q['own_cluster_rate'], 3)} vs ours {_f(dq['own_cluster_rate'], 3)}; "
                        f"over/under-seg {_f(q['over_seg_rate'], 3)}/{_f(q['under_seg_rate'], 3)} vs "
                        f"{_f(dq['over_seg_rate'], 3)}/{_f(dq['under_seg_rate'], 3)}")
            lines.append(f"| {stage} | `{default.split('+')[part]}` | {name.split('+')[part]} | "
                         f"{ds} ({c['frames']} frames) | "
                         f"{cs[default]['median_ms'][stage]:.1f} | {c['median_ms'][stage]:.1f} | "
                         f"{c['ratio_' + stage]:.1f}x | {qual} |")
    for r in res["fps"][1:]:
        same = "identical" if r["identical"] else f"{100 * r['clusters_identical']:.0f}% of clusters identical"
        lines.append(f"| FPS ({CLASSIFY_BATCH} clusters of 10..5000 points to 128) | numba, packed | {r['impl']} | "
                     f"synthetic | {res['fps'][0]['median_ms']:.2f} | {r['median_ms']:.2f} | {r['ratio']:.1f}x "
                     f"| {same} |")
    tiny_t = {(r["backend"], r["device"]): r for r in res["classifier"] if r["model"] == "tiny"}
    for r in res["classifier"]:
        ref = tiny_t.get((r["backend"], r["device"]))
        if r["model"] == "teacher" and ref:
            lines.append(f"| classify {r['clusters']} clusters | tiny ({ref['params']} params, "
                         f"{ref['mflops_per_cluster']} MFLOPs) | teacher ({r['params']} params, "
                         f"{r['mflops_per_cluster']} MFLOPs) | {r['runtime']} | {ref['total_ms']:.2f} | "
                         f"{r['total_ms']:.2f} | {r['total_ms'] / ref['total_ms']:.1f}x "
                         "| accuracy: `python -m t3d_ros eval` |")
    sc = res["scaling"]
    rel = os.path.relpath(png.resolve(), out.resolve())  # the picture's link from bench.md
    lines += ["", "## Cost growth", "",
              f"Whole callback and stage groups (median of repeated callbacks) against points and clusters: "
              f"![latency against points and clusters]({rel})", "",
              "| points | clusters | callback ms | | objects (street) | clusters | callback ms |",
              "|---|---|---|---|---|---|---|"]
    for i in range(max(len(sc["points"]), len(sc["clusters"]))):
        a = sc["points"][i] if i < len(sc["points"]) else None
        b = sc["clusters"][i] if i < len(sc["clusters"]) else None
        left = f"{a['points']} | {a['clusters']} | {_f(a['ms']['callback'])}" if a else " | | "
        right = f"{b['objects']} | {b['clusters']} | {_f(b['ms']['callback'])}" if b else " | | "
        lines.append(f"| {left} | | {right} |")
    mem = res["memory"]
    lines += ["", "## Memory", "",
              f"Peak RSS of the benchmark process {mem['peak_rss_mib']:.0f} MiB (all frames, models and baselines "
              f"loaded); RSS with the node built and its frames run {_f(mem['rss_after_node_mib'], 0)} MiB; peak of "
              f"Python/numpy allocations during one HDL-64E callback "
              f"{mem['callback_alloc_peak_mib_hdl64']:.1f} MiB.", ""]
    if res["notes"]:
        lines += ["## Notes", "", *[f"- {n}" for n in res["notes"]], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m t3d_ros bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

