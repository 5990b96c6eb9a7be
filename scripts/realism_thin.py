"""The realism report's discriminator on a sparser view: one laser in N kept on both sides, the real KITTI
frames (rings found from their storage order, ``t3d_ros.io.kitti.kitti_rings``) and the simulated HDL-64E
frames (rings known), counted from the top laser on both (docs/kitti.md, "A sparser sensor").

    .venv/bin/python scripts/realism_thin.py --every 2      # a 32-laser view; --every 1: the report itself

Prints the AUC per set of nine simulated frames with the real recordings held out, their mean, the AUC
with every frame held out, and the clusters a frame of both sides. The real frames must be KITTI ``.bin``
scans (their order gives the rings). They are only measured: nothing here trains or tunes anything.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from t3d_ros.classes import CLASSES
from t3d_ros.cli.realism import real_frames
from t3d_ros.config import pipeline_config
from t3d_ros.io.kitti import kitti_rings
from t3d_ros.offline.eval.realism import describe_frames, realism_report
from t3d_ros.offline.sim import simulate
from t3d_ros.segment.pipeline import Pipeline

REAL = [Path("../shared/data/kitti"), Path("../shared/data/kitti_odometry")]


def thin_real(paths: list[Path], every: int) -> Iterator[tuple[str, np.ndarray, list[str] | None, str]]:
    for name, pts, labels, rec in real_frames(paths):
        keep = kitti_rings(pts) % every == 0
        yield name, pts[keep], None if labels is None else list(np.asarray(labels, dtype=object)[keep]), rec


def thin_sim(frames: int, every: int) -> Iterator[tuple[str, np.ndarray, list[str]]]:
    names = np.array([*CLASSES, ""], dtype=object)
    for seed in range(frames):
        _, f = simulate(seed, "hdl64")
        from_top = np.argsort(np.argsort(f.sensor.vertical_angles_deg)[::-1])  # ring -> its place from the top
        keep = from_top[f.ring] % every == 0
        pts = np.column_stack([f.xyz, f.intensity]).astype(np.float32)[keep]
        yield f"sim-hdl64/{seed}", pts, list(names[np.where(f.label >= 0, f.label, len(CLASSES))][keep])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=int, default=2, help="keep one laser in this many (1: all)")
    ap.add_argument("--real", type=Path, nargs="+", default=REAL, help="KITTI object roots or folders of .bin scans")
    ap.add_argument("--frames", type=int, default=27, help="simulated frames (sets of nine)")
    args = ap.parse_args()
    pipe = Pipeline(pipeline_config({}))
    real = describe_frames(thin_real(args.real, args.every), pipe)
    sim = describe_frames(thin_sim(args.frames, args.every), pipe)
    d = realism_report(sim, real)["discriminator"]
    per_set = np.asarray(d["auc_per_sim_set"])
    print(f"one laser in {args.every}: AUC with the real recordings held out {per_set.mean():.3f} "
          f"(per set {', '.join(f'{a:.3f}' for a in per_set)}); with every frame held out {d['auc_frames']:.3f}")
    print(f"clusters a frame: real {np.mean([len(f.features) for f in real]):.1f}, "
          f"simulated {np.mean([len(f.features) for f in sim]):.1f}")


if __name__ == "__main__":
    main()
