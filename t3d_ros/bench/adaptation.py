"""Does adapting the model to real data help? Measured on the labelled KITTI frames, honestly.

Three ways a user adapts the shipped model to their own sensor, each judged on labelled frames it
never saw:

- **fine-tune, leave one frame out**: for each labelled frame, the clusters of the *other* frames are
  harvested and labelled from their boxes (a cluster with most of its returns in a car/truck/pedestrian/
  cyclist box gets that class; one in the camera's view within 50 m that no box holds is no road user
  and goes to ``outlier/``, an open-set negative), the model is fine-tuned on them mixed with the
  simulated data (``train --finetune ... --data sim,folder:DIR``), calibrated on the simulated
  validation data, and evaluated on the held-out frame; the three held-out results are summed;
- **AdaBN** (unsupervised): BatchNorm statistics re-estimated on the clusters of unlabelled frames
  (``adapt --data frames:ODOMETRY``), evaluated on all labelled frames;
- **pseudo-labels** (unsupervised): fine-tuned on the odometry clusters the model itself labels with a
  calibrated score >= 0.9 (``adapt --pseudo-labels 0.9``).

    python -m t3d_ros.bench.adaptation --model models/t3d_tiny.json --kitti KITTI_ROOT \\
        --odometry ODOMETRY_ROOT --out benchmarks/results/adaptation

Writes ``OUT.json`` and ``OUT.md``; work files go to ``out/adaptation``. Nothing here changes the shipped
model: this measures what a user gets from the commands.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from t3d_ros.bench.data import write_results
from t3d_ros.bench.labels import kitti_eval
from t3d_ros.classes import ROAD_USERS

WORK = Path("out/adaptation")


def _run(*args: str) -> None:
    """``python -m t3d_ros ARGS``; raises with its output on failure."""
    proc = subprocess.run([sys.executable, "-m", "t3d_ros", *args], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"python -m t3d_ros {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def label_frames(root: Path, frames: list[str], out: Path, max_range: float = 50.0) -> dict[str, int]:
    """Clusters of ``frames`` into ``out/<class>/`` (from the boxes) and ``out/outlier/`` (no box, in the
    camera's view within ``max_range``); clusters outside the view or on DontCare boxes are left out.
    Returns the count per folder."""
    from t3d_ros.geometry import points_in_boxes
    from t3d_ros.io.kitti import KITTI_TO_T3D, read_calib, read_labels, read_velodyne
    from t3d_ros.offline.eval.kitti import in_camera_fov, training_dir
    from t3d_ros.segment.pipeline import Pipeline

    t = training_dir(root)
    pipe = Pipeline()
    counts: dict[str, int] = {}
    for fid in frames:
        calib = read_calib(t / "calib" / f"{fid}.txt")
        labels = read_labels(t / "label_2" / f"{fid}.txt", calib, keep_dontcare=False)
        pts = read_velodyne(t / "velodyne" / f"{fid}.bin")
        seg = pipe(pts)
        for k in range(seg.num_clusters):
            cl = seg.cluster(k)
            centre = cl[:, :3].mean(axis=0)
            inside = (points_in_boxes(cl[:, :3], labels.boxes, margin=0.3) if len(labels.boxes)
                      else np.zeros((len(cl), 0)))
            share = inside.mean(axis=0) if inside.shape[1] else np.zeros(0)
            if len(share) and share.max() >= 0.5:
                cls = KITTI_TO_T3D.get(str(labels.names[int(share.argmax())]))
                if cls not in ROAD_USERS:
                    continue  # Misc and the like: no road user, but not clutter we can name either
                folder = cls
            elif (np.hypot(*centre[:2]) <= max_range and in_camera_fov(centre[None], calib)[0]
                  and not (len(share) and share.max() > 0.05)):
                folder = "outlier"
            else:
                continue
            (out / folder).mkdir(parents=True, exist_ok=True)
            np.save(out / folder / f"{fid}_{k:04d}.npy", cl[:, :4].astype(np.float32))
            counts[folder] = counts.get(folder, 0) + 1
    return counts


def _evaluate(card: Path, root: Path, frames: list[str] | None = None) -> dict:
    from t3d_ros.perception import Perception

    p = Perception.from_params({}, model=str(card), device="cpu")
    return kitti_eval(p, root, 50.0, frames)


def _sum(summaries: list[dict]) -> dict:
    out = {k: 0 for k in ("objects", "found", "right", "detections", "true")}
    for s in summaries:
        for k in out:
            out[k] += s["classes"]["all"][k]
    out["precision"] = round(out["true"] / out["detections"], 3) if out["detections"] else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("models/t3d_tiny.json"))
    ap.add_argument("--kitti", type=Path, required=True)
    ap.add_argument("--odometry", type=Path)
    ap.add_argument("--epochs", type=int, default=6, help="fine-tuning epochs")
    ap.add_argument("--epoch-clusters", type=int, default=3000, help="clusters drawn per fine-tuning epoch")
    ap.add_argument("--source-weight", type=float, default=20.0, help="sampling weight of the real clusters")
    ap.add_argument("--sim-seeds", type=int, default=200, help="simulated training frames per sensor (as the model's)")
    ap.add_argument("--calibration-seeds", type=int, default=1000,
                    help="--sim-seeds of the calibration (as the shipped model's: validation = a tenth of them)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/adaptation"))
    args = ap.parse_args(argv)
    from t3d_ros.offline.eval.kitti import frame_ids

    frames = frame_ids(args.kitti)
    res: dict = {"model": str(args.model), "frames": frames}
    res["no adaptation"] = _sum([_evaluate(args.model, args.kitti, [f]) for f in frames])
    held_out = []
    for f in frames:
        folder = WORK / f"lofo_{f}" / "data"
        counts = label_frames(args.kitti, [g for g in frames if g != f], folder)
        run = WORK / f"lofo_{f}" / "run"
        _run("train", "--finetune", str(args.model), "--data", f"sim,folder:{folder}", "--source-weight",
             f"folder={args.source_weight:g}", "--epochs", str(args.epochs), "--epoch-clusters",
             str(args.epoch_clusters), "--batch-size", "32", "--sim-seeds", str(args.sim_seeds), "--out", str(run),
             "--quiet", "--no-resume")
        _run("export", str(run / "ckpt_best.pt"), "--out", str(WORK / f"lofo_{f}"), "--name", "tuned",
             "--calibrate-on", "sim", "--sim-seeds", str(args.calibration_seeds))
        s = _evaluate(WORK / f"lofo_{f}" / "tuned.json", args.kitti, [f])
        held_out.append(s)
        print(f"fine-tune without {f} ({counts}): {s['classes']['all']}", file=sys.stderr)
    res["finetune_leave_one_frame_out"] = _sum(held_out)
    if args.odometry:
        _run("adapt", str(args.model), "--data", f"frames:{args.odometry}", "--out", str(WORK), "--name", "adabn")
        res["adabn_on_odometry"] = _sum([_evaluate(WORK / "adabn.json", args.kitti, [f]) for f in frames])
        _run("adapt", str(args.model), "--data", f"frames:{args.odometry}", "--out", str(WORK), "--name", "pseudo",
             "--pseudo-labels", "0.9", "--epoch-clusters", str(args.epoch_clusters), "--sim-seeds", str(args.sim_seeds),
             "--quiet")
        res["pseudo_labels_on_odometry"] = _sum([_evaluate(WORK / "pseudo.json", args.kitti, [f]) for f in frames])
    lines = ["| model | road-user labels in view on an object of that class | labelled objects: right / found / all |",
             "|---|---|---|"]
    for name, s in res.items():
        if isinstance(s, dict) and "objects" in s:
            lines.append(f"| {name} | {s['true']}/{s['detections']} ({s['precision']}) | {s['right']} / {s['found']} / "
                         f"{s['objects']} |")
    text = "\n".join(lines) + "\n"
    write_results(args.out, res, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
