"""``python -m t3d_ros bench --baseline REF``: this checkout against an old commit, same frames, same run.

The old commit's tree is extracted once with ``git archive`` into ``out/baseline/<sha>/`` (its code,
its ``models/`` and its ``config/perception.yaml``). Both trees then run the same frames through
their own ``Perception`` (built as their ``detect`` command builds it, with their own shipped model
and params) in separate processes started in turn, old then new, ``--rounds`` times
(``baseline_driver.py``): a slow minute on a shared machine hits both sides alike, so the ratio
old/new does not depend on the machine. Decode is excluded (both get the same float32 arrays).

Frame sets: the three labelled KITTI frames (``--kitti ROOT``), the six unlabelled odometry frames
(``--odometry DIR``) and simulated HDL-64E frames. Quality is scored here, with this checkout's
evaluation code, on each side's output: segmentation (``offline/eval/segmentation.py``: ground
precision/recall, own-cluster rate) where there is per-point truth, labels (``offline/eval/kitti.py``:
road-user labels that lie on an object of that class, labelled objects found with the right label)
on KITTI, and label counts per frame on the odometry frames. Writes ``baseline.json`` and ``baseline.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from t3d_ros.bench.data import REPO, kitti_frames
from t3d_ros.bench.timing import loadavg, machine
from t3d_ros.classes import ROAD_USERS

DRIVER = Path(__file__).resolve().parent / "baseline_driver.py"
CACHE = REPO / "out" / "baseline"
SIM_SENSOR = "hdl64"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resolve(ref: str, repo: Path = REPO) -> str:
    """The full sha of ``ref`` in ``repo`` (ValueError with git's message when it names no commit)."""
    p = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                       capture_output=True, text=True)
    if p.returncode:
        raise ValueError(f"--baseline {ref!r}: not a commit of {repo}")
    return p.stdout.strip()


def extract_tree(ref: str, cache: Path = CACHE, repo: Path = REPO) -> Path:
    """``ref``'s tree under ``cache/<sha>/`` (extracted once with ``git archive``; reused afterwards)."""
    sha = resolve(ref, repo)
    dest = cache / sha
    if (dest / ".complete").is_file():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=cache))
    archive = subprocess.Popen(["git", "-C", str(repo), "archive", "--format=tar", sha], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(tmp)], stdin=archive.stdout, check=True)
    if archive.wait():
        raise RuntimeError(f"git archive {sha} failed (exit {archive.returncode})")
    (tmp / ".complete").write_text(sha + "\n")
    if dest.exists():  # a half-extracted tree of an interrupted run
        import shutil

        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def card_at(spec: str, default_ref: str = "") -> tuple[str, Path]:
    """A ``--models`` entry -> (name, card path): ``name=path.json``, ``path.json``, or a card inside a
    commit, ``name=COMMIT:models/t3d_tiny.json`` (extracted by :func:`extract_tree`; ``REF`` stands for
    ``default_ref``). The name defaults to the file's stem."""
    name, _, path = spec.rpartition("=")
    commit, sep, inner = path.partition(":")
    if sep and not Path(path).exists():
        p = extract_tree(default_ref if commit == "REF" else commit) / inner
    else:
        p = Path(path)
    return (name or p.stem), p


# --- frames ------------------------------------------------------------------------------------------
def frame_sets(kitti: Path | None, odometry: Path | None, sim_frames: int, notes: list[str]) -> dict[str, list[dict]]:
    """name -> frames; a frame: {"name", "points" (N, 4) float32, and its truth when there is one}."""
    sets: dict[str, list[dict]] = {}
    kf = list(kitti_frames(kitti)) if kitti else []
    if kf:
        from t3d_ros.io.kitti import load_frame

        sets["kitti"] = [{"name": f.name, "points": np.ascontiguousarray(f.points, np.float32),
                          "instance": f.instance, "labels": load_frame(kitti, f.name.split("/")[1])[1],
                          "calib_root": str(kitti)} for f in kf]
    else:
        notes.append(f"KITTI frames: skipped, none found ({kitti or 'no --kitti ROOT given'})")
    odo_dir = odometry / "velodyne" if odometry and (odometry / "velodyne").is_dir() else odometry
    odo = sorted(odo_dir.glob("*.bin")) if odo_dir else []
    if odo:
        from t3d_ros.io.frames import read_points

        sets["odometry"] = [{"name": f"odometry/{p.stem}", "points": read_points(p)} for p in odo]
    else:
        notes.append(f"KITTI odometry frames: skipped, none found ({odometry or 'no --odometry DIR given'})")
    if sim_frames > 0:
        from t3d_ros.classes import CLASSES
        from t3d_ros.offline.sim import simulate

        sim = []
        for seed in range(100, 100 + sim_frames):
            _, f = simulate(seed, SIM_SENSOR)
            label = f.label.astype(np.int64)
            # Background (vegetation, walls, ...) is no object for the segmentation metrics.
            things = np.isin(label, [CLASSES.index(c) for c in ("car", "truck", "pedestrian", "cyclist", "pole",
                                                               "misc") if c in CLASSES])
            sim.append({"name": f"{SIM_SENSOR}/{seed}",
                        "points": np.column_stack([f.xyz, f.intensity]).astype(np.float32),
                        "instance": np.where(things, f.instance.astype(np.int64), 0), "gt_ground": f.label == -1,
                        "class_of_point": label})
        sets[f"sim {SIM_SENSOR}"] = sim
    return sets


# --- the interleaved runs ------------------------------------------------------------------------------
def run_driver(tree: Path, frames: list[Path], out: Path, reps: int, warmup: int, segments: Path | None = None,
               timeout: float = 1800) -> dict:
    """One driver process on ``tree``'s code, shipped model and params; its JSON."""
    env = {k: v for k, v in os.environ.items() if k not in ("AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH")}
    env["PYTHONPATH"] = str(tree)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # both trees set it; the old one only as a default too
    cmd = [sys.executable, str(DRIVER), "--params", str(tree / "config" / "perception.yaml"),
           "--model", str(tree / "models" / "t3d_tiny.json"), "--device", "cpu", "--reps", str(reps),
           "--warmup", str(warmup), "--out", str(out), *map(str, frames)]
    if segments is not None:
        cmd += ["--segments", str(segments)]
    p = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        raise RuntimeError(f"timing driver failed on {tree} (exit {p.returncode}):\n{p.stderr[-3000:]}")
    res = json.loads(out.read_text())
    if Path(res["t3d_ros"]) != tree.resolve():
        raise RuntimeError(f"the driver imported t3d_ros from {res['t3d_ros']}, not from {tree}")
    return res


def interleaved(trees: dict[str, Path], frames: list[Path], work: Path, rounds: int, reps: int, warmup: int) -> dict:
    """``rounds`` x (one process per tree, in the order given): side -> list of the drivers' JSON."""
    runs: dict[str, list[dict]] = {side: [] for side in trees}
    for r in range(rounds):
        for side, tree in trees.items():
            seg = work / f"seg_{side}" if r == 0 else None
            runs[side].append(run_driver(tree, frames, work / f"{side}_{r}.json", reps, warmup, seg))
        _log(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{s} {np.median([m for row in runs[s][-1]['rows'] for m in row['ms']]):.1f} ms" for s in trees))
    return runs


def _stage_split(stages: dict) -> tuple[float, float]:
    """(segmentation, classification) ms of one ``process`` call's stage times."""
    seg = sum(v for k, v in stages.items() if k != "classify" and not k.startswith("classifier."))
    return seg, stages.get("classify", 0.0)


def timing_summary(runs: list[dict], index: list[int]) -> dict:
    """Medians over the rounds and reps of the frames ``index`` (positions in the drivers' rows)."""
    whole, seg, cls, sample, per_round = [], [], [], [], []
    for run in runs:
        rr = []
        for i in index:
            row = run["rows"][i]
            whole += row["ms"]
            rr += row["ms"]
            for st in row["stages"]:
                s, c = _stage_split(st)
                seg.append(s)
                cls.append(c)
                sample.append(st.get("classifier.sample_group", float("nan")))
        per_round.append(float(np.median(rr)))
    return {"whole_ms": float(np.median(whole)), "whole_p90_ms": float(np.percentile(whole, 90)),
            "segmentation_ms": float(np.median(seg)), "classification_ms": float(np.median(cls)),
            "sample_group_ms": float(np.nanmedian(sample)) if np.isfinite(sample).any() else None,
            "clusters_per_frame": float(np.mean([runs[0]["rows"][i]["clusters"] for i in index])),
            "round_medians_ms": per_round, "calls": len(whole)}


# --- quality ---------------------------------------------------------------------------------------------
def _detections(rows: list[dict]):
    from t3d_ros.detection import Detection

    return [Detection(label=d["label"], score=d["score"], center=np.asarray(d["center"]), size=np.asarray(d["size"]),
                      yaw=d["yaw"], num_points=d["num_points"]) for d in rows]


def _segmentation_quality(frames: list[dict], segs: list[dict], min_points: int) -> dict:
    from t3d_ros.offline.eval.segmentation import evaluate, pool

    qs = [evaluate(s["cluster_id"], s["ground"], f["instance"], f.get("gt_ground"), min_points=min_points)[0]
          for f, s in zip(frames, segs, strict=True)]
    return pool(qs).as_dict()


def _label_counts(dets: list[list[dict]]) -> dict:
    c: Counter[str] = Counter(d["label"] for ds in dets for d in ds)
    n = max(len(dets), 1)
    return {"road_users_per_frame": round(sum(c[k] for k in ROAD_USERS) / n, 2),
            "unknown_per_frame": round(c["unknown"] / n, 2), "labels": dict(sorted(c.items()))}


def _kitti_labels(frames: list[dict], dets: list[list[dict]], max_range: float = 50.0) -> dict:
    """eval-kitti's summary, as ``bench.labels`` reports it (road-user labels in view on an object of
    that class; labelled objects found with the right label)."""
    from t3d_ros.io.kitti import read_calib
    from t3d_ros.offline.eval.kitti import evaluate_frame, summarize

    results = []
    for f, ds in zip(frames, dets, strict=True):
        fid = f["name"].split("/")[1]
        calib = read_calib(Path(f["calib_root"]) / "training" / "calib" / f"{fid}.txt")
        results.append(evaluate_frame(fid, f["points"], f["labels"], calib, _detections(ds), max_range=max_range))
    a = summarize(results)["classes"]["all"]
    return {"road_user_labels_right": a["true"], "road_user_labels": a["detections"], "objects_right": a["right"],
            "objects_found": a["found"], "objects": a["objects"]}


def _sim_labels(frames: list[dict], segs: list[dict], dets: list[list[dict]]) -> dict:
    """Road-user labels whose cluster is mostly points of that class, and ground-truth road users
    (>= 10 points) whose majority cluster carries their class."""
    from t3d_ros.classes import CLASSES

    right = labelled = objects = objects_right = 0
    for f, s, ds in zip(frames, segs, dets, strict=True):
        cid, cls = s["cluster_id"], f["class_of_point"]
        for k, d in enumerate(ds):
            if d["label"] not in ROAD_USERS:
                continue
            labelled += 1
            members = cls[cid == k]
            members = members[members >= 0]
            if len(members) and CLASSES[np.bincount(members).argmax()] == d["label"]:
                right += 1
        for inst in np.unique(f["instance"][f["instance"] > 0]):
            m = f["instance"] == inst
            name = CLASSES[np.bincount(cls[m][cls[m] >= 0]).argmax()] if (cls[m] >= 0).any() else None
            if name not in ROAD_USERS or m.sum() < 10:
                continue
            objects += 1
            c = cid[m]
            c = c[c >= 0]
            if len(c) and ds[np.bincount(c).argmax()]["label"] == name:
                objects_right += 1
    return {"road_user_labels_right": right, "road_user_labels": labelled, "objects_right": objects_right,
            "objects": objects}


def quality(name: str, frames: list[dict], run: dict, seg_dir: Path, index: list[int]) -> dict:
    dets = [run["rows"][i]["detections"] for i in index]
    segs = [dict(np.load(seg_dir / f"{i}.npz")) for i in index]
    out: dict = {"labels": _label_counts(dets)}
    if name == "kitti":
        out["segmentation"] = _segmentation_quality(frames, segs, min_points=20)
        out["kitti"] = _kitti_labels(frames, dets)
    elif name.startswith("sim"):
        out["segmentation"] = _segmentation_quality(frames, segs, min_points=10)
        out["sim"] = _sim_labels(frames, segs, dets)
    return out


# --- the command ------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    notes: list[str] = []
    sha = resolve(args.baseline)
    _log(f"baseline {args.baseline} = {sha[:12]}: extracting into {_rel(CACHE)}/ ...")
    old = extract_tree(sha, CACHE)
    trees = {"old": old, "new": REPO}
    quick = args.quick
    rounds = args.rounds or (2 if quick else 5)
    reps = args.reps or (1 if quick else 3)
    n_sim = args.sim_frames if args.sim_frames is not None else (1 if quick else 3)
    sets = frame_sets(args.kitti, args.odometry, n_sim, notes)
    if not sets:
        raise ValueError("no frames to run (give --kitti ROOT, --odometry DIR or --sim-frames N > 0)")
    res: dict = {"command": "python -m t3d_ros " + " ".join(sys.argv[1:]),
                 "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
                 "baseline": {"ref": args.baseline, "sha": sha, "tree": str(old)},
                 "current": {"sha": _head(), "tree": str(REPO), "dirty": _dirty()},
                 "rounds": rounds, "reps": reps, "order": "old, new in every round",
                 "timing": "Perception.process wall time per frame; decode excluded (both get the same float32 "
                           "arrays); segmentation = crop + voxel + ground + cluster + boxes, classification = "
                           "classify (sample/group + network + thresholds)", "sets": {}}
    with tempfile.TemporaryDirectory(prefix="t3d_baseline_") as tmp:
        work = Path(tmp)
        paths, index = [], {}
        for name, frs in sets.items():
            index[name] = []
            for f in frs:
                index[name].append(len(paths))
                paths.append(work / f"frame_{len(paths)}.npy")
                np.save(paths[-1], f["points"])
        _log(f"{len(paths)} frames ({', '.join(f'{k}: {len(v)}' for k, v in sets.items())}), {rounds} rounds x "
             f"{reps} reps, interleaved processes ...")
        runs = interleaved(trees, paths, work, rounds, reps, warmup=1)
        for name, frs in sets.items():
            row = {"frames": len(frs), "points": int(np.median([len(f["points"]) for f in frs]))}
            for side in trees:
                row[side] = timing_summary(runs[side], index[name])
                row[side]["quality"] = quality(name, frs, runs[side][0], work / f"seg_{side}", index[name])
            row["ratio_old_new"] = row["old"]["whole_ms"] / row["new"]["whole_ms"]
            row["ratio_per_round"] = [o / n for o, n in zip(row["old"]["round_medians_ms"],
                                                             row["new"]["round_medians_ms"], strict=True)]
            res["sets"][name] = row
            _log(f"  {name}: old {row['old']['whole_ms']:.1f} ms, new {row['new']['whole_ms']:.1f} ms, "
                 f"{row['ratio_old_new']:.2f}x")
    res["machine"]["loadavg_end"] = loadavg()
    res["notes"] = notes
    res["seconds"] = round(time.perf_counter() - t_start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "baseline.json").write_text(json.dumps(res, indent=1) + "\n")
    md = to_markdown(res)
    (args.out / "baseline.md").write_text(md)
    print(md)
    _log(f"wrote {args.out / 'baseline.json'}, {args.out / 'baseline.md'} in {res['seconds']:.0f} s")
    return 0


def _head() -> str | None:
    p = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    return p.stdout.strip() or None


def _dirty() -> bool:
    # only the code and what it loads count (benchmark results and docs do not change the timings)
    p = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "t3d_ros",
                        "config", "models"],
                       capture_output=True, text=True)
    return bool(p.stdout.strip())


def _rel(path: Path) -> str:
    """``path`` relative to the checkout when inside it (reports name no home folders)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _q(row: dict) -> str:
    """The quality cells of one side."""
    q = row["quality"]
    parts = []
    if "segmentation" in q:
        s = q["segmentation"]
        gp = "" if s["ground_precision"] != s["ground_precision"] else (
            f"ground P/R {s['ground_precision']:.3f}/{s['ground_recall']:.3f}, ")
        parts.append(f"{gp}own cluster {s['own_cluster_rate']:.3f} ({s['n_objects']} objects)")
    if "kitti" in q:
        k = q["kitti"]
        parts.append(f"road-user labels right {k['road_user_labels_right']}/{k['road_user_labels']}, "
                     f"objects right {k['objects_right']}/{k['objects']}")
    if "sim" in q:
        k = q["sim"]
        parts.append(f"road-user labels right {k['road_user_labels_right']}/{k['road_user_labels']}, "
                     f"road users right {k['objects_right']}/{k['objects']}")
    lab = q["labels"]
    parts.append(f"{lab['road_users_per_frame']} road-user / {lab['unknown_per_frame']} unknown labels per frame")
    return "; ".join(parts)


def to_markdown(res: dict) -> str:
    m = res["machine"]
    b, c = res["baseline"], res["current"]
    lines = ["# Speed against a baseline commit", "",
             f"`{res['command']}` ({res['date']}, {res['seconds']:.0f} s). Machine: {m['cpu']}, {m['cores']} cores, "
             f"Python {m['python']}, numpy {m['numpy']}, ONNX Runtime {m.get('onnxruntime', '-')}; load average "
             f"{m['loadavg_start']} at the start, {m['loadavg_end']} at the end.", "",
             f"Baseline `{b['ref']}` = {b['sha'][:12]} (its code, `models/t3d_tiny.json` and `config/perception.yaml`, "
             f"extracted to `{_rel(Path(b['tree']))}`) against this checkout ({(c['sha'] or '?')[:12]}"
             f"{' + uncommitted changes' if c['dirty'] else ''}, its "
             f"shipped model and params). Each side runs in its own process, {res['order']}, {res['rounds']} rounds "
             f"of 1 warm-up + {res['reps']} timed passes over all frames. {res['timing']}.", "",
             "| frames | points | clusters old / new | **ratio old/new** (per round) | whole ms old / new (p50) | "
             "segmentation ms old / new | classification ms old / new |", "|---|---|---|---|---|---|---|"]
    for name, r in res["sets"].items():
        o, n = r["old"], r["new"]
        pr = ", ".join(f"{x:.2f}" for x in r["ratio_per_round"])
        lines.append(f"| {name} ({r['frames']}) | {r['points'] // 1000}k | {o['clusters_per_frame']:.1f} / "
                     f"{n['clusters_per_frame']:.1f} | **{r['ratio_old_new']:.2f}x** ({pr}) | {o['whole_ms']:.1f} / "
                     f"{n['whole_ms']:.1f} | {o['segmentation_ms']:.1f} / {n['segmentation_ms']:.1f} | "
                     f"{o['classification_ms']:.1f} / {n['classification_ms']:.1f} |")
    lines += ["", "Quality (scored with this checkout's evaluation code on each side's output; first round):", "",
              "| frames | old | new |", "|---|---|---|"]
    for name, r in res["sets"].items():
        lines.append(f"| {name} | {_q(r['old'])} | {_q(r['new'])} |")
    if res["notes"]:
        lines += ["", "Notes:", "", *[f"- {x}" for x in res["notes"]]]
    return "\n".join(lines) + "\n"
