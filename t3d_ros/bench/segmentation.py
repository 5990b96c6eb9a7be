"""Side-by-side benchmark of the segmentation candidates (ground, clustering, boxes).

Runs every candidate on the same frames: simulated scenes of every sensor (several seeds) and the
three KITTI frames (``--kitti ROOT``, the folder holding ``training/``). Quality: ground precision/recall,
over-/under-segmentation, own-cluster and missed rates (t3d_ros.offline.eval.segmentation), on "thing" objects
(car, truck, pedestrian, cyclist, pole, misc; vegetation and structure are background here) with
>= 10 points; on KITTI the own-cluster rate of labelled objects within 40 m with >= 20 points.
Time: median ms of the stage (3 runs a frame) and its ratio to the default.

    python -m t3d_ros.bench.segmentation [--seeds 3] [--quick] [--kitti KITTI_ROOT]

Writes benchmarks/results/segmentation.json and segmentation.md and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from t3d_ros.bench.baselines import candidates, score_segmentation, timed_segment
from t3d_ros.bench.data import RESULTS, kitti_frames, sim_frames
from t3d_ros.geometry import bev_iou, yaw_error
from t3d_ros.offline.eval.segmentation import pool
from t3d_ros.segment import boxes as B


def box_quality(seg, inst, gt_boxes, match, reps: int):
    """Per box method: BEV IoU and yaw error (deg) on own-cluster, not over-segmented cars/trucks,
    and median time for all clusters of the frame."""
    out = {}
    xyz = seg.cluster_points[:, :3]
    for name, fn in B.BOX_METHODS.items():
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            bx = fn(xyz, seg.cluster_offsets)
            ts.append((time.perf_counter() - t0) * 1e3)
        ious, yerr = [], []
        for k, obj in enumerate(match.instance):
            if obj not in gt_boxes or not match.own[k] or match.majority_share[k] < 0.8:
                continue
            g = gt_boxes[obj]
            b = bx[match.majority[k]]
            ious.append(bev_iou(b, g))
            yerr.append(float(np.degrees(yaw_error(b[6], g[6]))))
        out[name] = {"ms": float(np.median(ts)), "iou": ious, "yaw": yerr}
    return out


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 seed, 1 rep")
    ap.add_argument("--kitti", type=Path, help="KITTI object root (holding training/) for the real-frame rows")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.reps = 1, 1
    cands = candidates()
    default_name = next(iter(cands))
    frames = list(sim_frames(args.seeds)) + list(kitti_frames(args.kitti))
    rows: dict[str, dict[str, dict]] = {}  # dataset -> candidate -> {"q": [...], "t": [...]}
    boxes_acc: dict[str, dict[str, dict[str, list]]] = {}
    for fr in frames:
        ds = fr.dataset
        for name, (_, pipe) in cands.items():
            seg, t = timed_segment(pipe, fr.points, args.reps)
            q, match = score_segmentation(seg, ds, fr.instance, fr.gt_ground)
            r = rows.setdefault(ds, {}).setdefault(name, {"q": [], "t": []})
            r["q"].append(q)
            r["t"].append(t)
            if name == default_name:
                bq = box_quality(seg, fr.instance, fr.gt_boxes, match, args.reps)
                for bm, v in bq.items():
                    acc = boxes_acc.setdefault(ds, {}).setdefault(bm, {"ms": [], "iou": [], "yaw": []})
                    acc["ms"].append(v["ms"])
                    acc["iou"] += v["iou"]
                    acc["yaw"] += v["yaw"]
        print(f"done {fr.name}", flush=True)

    result = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
              "default": default_name, "frames": [f.name for f in frames], "segmentation": {}, "boxes": {}}
    md = ["# Segmentation benchmark", "",
          f"Frames: {len(frames)} ({', '.join(sorted({f.dataset for f in frames}))}); "
          f"{args.seeds} sim seeds per sensor; "
          f"median of {args.reps} runs per frame. Default: `{default_name}`. Times are per stage in ms "
          "(ratio = candidate / default, same stage; total = crop + voxel + ground + cluster + boxes).", ""]
    for ds, cs in rows.items():
        stage_default = {k: float(np.median([t[k] for t in cs[default_name]["t"]]))
                         for k in ("ground", "cluster", "total")}
        md += [f"## {ds}", "",
               "| candidate | ground P | ground R | over-seg | under-seg | own cluster | missed | objects "
               "| ground ms (x) | cluster ms (x) | total ms |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        result["segmentation"][ds] = {}
        for name, r in cs.items():
            q = pool(r["q"])
            tm = {k: float(np.median([t[k] for t in r["t"]])) for k in r["t"][0]}
            result["segmentation"][ds][name] = {"quality": q.as_dict(), "median_ms": tm}

            def ratio(k: str, tm=tm, sd=stage_default) -> str:
                return f"{tm[k]:.1f} ({tm[k] / max(sd[k], 1e-9):.2f})"

            md.append(f"| {name} | {q.ground_precision:.3f} | {q.ground_recall:.3f} | "
                      f"{q.over_seg_rate:.3f} | {q.under_seg_rate:.3f} | {q.own_cluster_rate:.3f} | "
                      f"{q.missed_rate:.3f} | {q.n_objects} | "
                      f"{ratio('ground')} | {ratio('cluster')} | {tm['total']:.1f} |")
        md.append("")
    md += ["## Boxes (default segmentation; cars/trucks in their own cluster)", "",
           "| dataset | method | n | BEV IoU median | yaw err median (deg) | yaw err p90 (deg) "
           "| ms per frame |",
           "|---|---|---|---|---|---|---|"]
    for ds, bm in boxes_acc.items():
        result["boxes"][ds] = {}
        for name, v in bm.items():
            iou, yaw = np.array(v["iou"]), np.array(v["yaw"])
            ent = {"n": len(iou), "iou_median": float(np.median(iou)) if len(iou) else None,
                   "yaw_median_deg": float(np.median(yaw)) if len(yaw) else None,
                   "yaw_p90_deg": float(np.percentile(yaw, 90)) if len(yaw) else None,
                   "ms_median": float(np.median(v["ms"]))}
            result["boxes"][ds][name] = ent
            md.append(f"| {ds} | {name} | {ent['n']} | {_f(ent['iou_median'])} | "
                      f"{_f(ent['yaw_median_deg'])} | {_f(ent['yaw_p90_deg'])} | {ent['ms_median']:.2f} |")
    out = RESULTS
    out.mkdir(parents=True, exist_ok=True)
    (out / "segmentation.json").write_text(json.dumps(result, indent=1))
    (out / "segmentation.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
