"""Contact sheets of the clusters that give a side away: the real clusters the sim-vs-real discriminator is
surest are real, and the simulated ones it is surest are simulated (docs/realism.md, "What still differs").

    .venv/bin/python scripts/realism_giveaways.py --real ../shared/data/kitti ../shared/data/kitti_odometry \
        --sim hdl64 --out docs/realism_giveaways

The discriminator is the realism report's (gradient boosting on ``offline/eval/realism.FEATURES``),
cross-validated with whole real recordings held out (a drive's consecutive frames together: see
``holdout_groups``), the two sides weighted equally (``held_out_scores``); each
cluster gets the probability of being real from the fold that did not see its recording. Writes
``<out>_real.png`` and ``<out>_sim.png`` (``--count`` clusters each, most telling first) and prints the
feature medians of the telling fifth against all clusters. The real frames are only looked at: nothing
here trains or tunes anything the node uses.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from t3d_ros.cli.realism import real_frames, sim_frames
from t3d_ros.config import pipeline_config
from t3d_ros.offline.eval.realism import FEATURES, cluster_groups, describe_frames, held_out_scores
from t3d_ros.offline.harvest import Harvested, contact_sheets
from t3d_ros.segment.pipeline import Pipeline


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", nargs="+", type=Path, required=True)
    ap.add_argument("--sim", default="hdl64")
    ap.add_argument("--frames", type=int, default=27, help="simulated frames")
    ap.add_argument("--count", type=int, default=32, help="clusters per sheet")
    ap.add_argument("--out", type=Path, default=Path("docs/realism_giveaways"))
    args = ap.parse_args()
    pipe = Pipeline(pipeline_config({}))
    real_list = list(real_frames(args.real))
    sim_list = list(sim_frames(args.sim, args.frames, 0))
    real = describe_frames(((n, p, None, rec, ring) for n, p, _, rec, ring in real_list), pipe)
    sim = describe_frames(((n, p, None, rec, ring) for n, p, _, rec, ring in sim_list), pipe)
    frames = [*sim, *real]
    x = np.concatenate([f.features for f in frames])
    y = np.concatenate([np.full(len(f.features), i >= len(sim)) for i, f in enumerate(frames)]).astype(int)
    groups = np.concatenate([np.full(len(f.features), i) for i, f in enumerate(frames)])  # the frame
    prob = np.full(len(y), np.nan)  # P(real) from the fold that held the cluster's recording out
    for te, p in held_out_scores(x, y, cluster_groups(sim, real)[0]):
        prob[te] = p
    sources = [(n, p) for n, p, *_ in (*sim_list, *real_list)]
    for side, name, sign in ((1, "real", -1.0), (0, "sim", 1.0)):
        idx = np.flatnonzero(y == side)
        order = idx[np.argsort(sign * prob[idx])]  # real: highest p(real) first; sim: lowest first
        telling = order[: max(1, len(order) // 5)]
        print(f"{name}: {len(idx)} clusters; feature medians, all / the telling fifth:")
        for i, feat in enumerate(FEATURES):
            print(f"  {feat:11s} {np.median(x[idx, i]):8.3f} {np.median(x[telling, i]):8.3f}")
        items, segs = [], {}
        for j in order[: args.count]:
            g = int(groups[j])
            k = int(j - np.flatnonzero(groups == g)[0])  # the cluster's index within its frame
            if g not in segs:
                segs[g] = pipe(sources[g][1])
            seg = segs[g]
            items.append(Harvested(Path(f"{g}_{k}"), sources[g][0], seg.cluster(k)[:, :4], "unknown", "structure",
                                   float(prob[j]), seg.boxes[k, 3:6], float(x[j, 1])))
        with tempfile.TemporaryDirectory() as tmp:
            (sheet,) = contact_sheets(items, tmp, per_sheet=args.count, labels=False)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(sheet, f"{args.out}_{name}.png")
        print(f"wrote {args.out}_{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
