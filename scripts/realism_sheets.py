"""Contact sheets of the large clusters of real and simulated frames, for docs/realism.md.

    .venv/bin/python scripts/realism_sheets.py --real ../shared/data/kitti/training/velodyne \
        ../shared/data/kitti_odometry --sim hdl64 --out docs/realism_long

Segments every frame with the node's default parameters and draws up to ``--count`` random clusters
longer than ``--min-length`` and wider than ``--min-width`` m from each side (``<out>_real.png``,
``<out>_sim.png``), each from above and from the side, as `harvest` draws them. The real frames are
only looked at: nothing here trains or tunes anything.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from t3d_ros.cli.realism import sim_frames
from t3d_ros.config import pipeline_config
from t3d_ros.io.frames import iter_frames
from t3d_ros.offline.harvest import Harvested, contact_sheets
from t3d_ros.segment.pipeline import Pipeline


def large_clusters(frames, pipe: Pipeline, min_length: float, min_width: float) -> list[Harvested]:
    out = []
    for name, pts in frames:
        seg = pipe(pts)
        for k, box in enumerate(seg.boxes):
            if box[3] > min_length and box[4] > min_width:
                cl = seg.cluster(k)[:, :4].astype(np.float32)
                out.append(Harvested(Path(f"{name}_{k}"), name, cl, "unknown", "structure", 0.0, box[3:6],
                                     float(np.hypot(box[0], box[1]))))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", type=Path, nargs="+", required=True, help="folders or files of real frames")
    p.add_argument("--sim", default="hdl64", help="simulated sensor")
    p.add_argument("--frames", type=int, default=9, help="simulated frames (seeds 0, 1, ...)")
    p.add_argument("--min-length", type=float, default=6.0, help="m")
    p.add_argument("--min-width", type=float, default=3.0, help="m")
    p.add_argument("--count", type=int, default=12, help="clusters drawn from each side")
    p.add_argument("--out", type=Path, required=True, help="prefix of the two PNGs")
    args = p.parse_args()
    pipe = Pipeline(pipeline_config({}))
    sides = {
        "real": large_clusters(iter_frames(args.real), pipe, args.min_length, args.min_width),
        "sim": large_clusters(((n, q) for n, q, *_ in sim_frames(args.sim, args.frames, 0)), pipe,
                              args.min_length, args.min_width),
    }
    rng = np.random.default_rng(0)
    for side, clusters in sides.items():
        if not clusters:
            print(f"{side}: no cluster longer than {args.min_length} m and wider than {args.min_width} m; no sheet")
            continue
        pick = sorted(rng.choice(len(clusters), min(args.count, len(clusters)), replace=False))
        with tempfile.TemporaryDirectory() as tmp:
            sheet = contact_sheets([clusters[i] for i in pick], tmp, per_sheet=args.count, cols=6,
                                   labels=False)[0]
            dest = Path(f"{args.out}_{side}.png")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(sheet, dest)
        print(f"{side}: {len(clusters)} clusters longer than {args.min_length} m and wider than "
              f"{args.min_width} m; {len(pick)} drawn -> {dest}")


if __name__ == "__main__":
    main()
