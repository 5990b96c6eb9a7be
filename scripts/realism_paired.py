"""Judge a simulator change pair by pair: the realism discriminator on the same sets of simulated frames,
before and after a change that draws no random numbers (the scenes stay the same, so set k of one run
pairs with set k of the other; docs/realism.md items 16-17). Far more sensitive than comparing the
spread between sets.

    .venv/bin/python scripts/realism_paired.py describe out/before.pkl      # on the checkout before the change
    .venv/bin/python scripts/realism_paired.py describe out/after.pkl       # ... and after it
    .venv/bin/python scripts/realism_paired.py compare out/before.pkl out/after.pkl

``describe`` segments the real frames (``--real``, default the shared KITTI and odometry frames) and
``--frames`` simulated HDL-64E frames (seeds 0 ..; 81 = nine sets of nine) with the node's default
segmentation and pickles their cluster features (a local file of this tool only). ``compare`` prints
the AUC per set with the real recordings held out, the paired differences and the means: with the
report's 12 features, and with the texture along the rings added (``ring_skips``) where both pickles
were described with it (since 2026-12-01, fourth session).
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np

from t3d_ros.cli.realism import real_frames, sim_frames
from t3d_ros.config import pipeline_config
from t3d_ros.offline.eval.realism import TEXTURE, describe_frames, realism_report
from t3d_ros.segment.pipeline import Pipeline

REAL = [Path("../shared/data/kitti"), Path("../shared/data/kitti_odometry")]


def discriminate(path: Path) -> dict:
    """The discriminator's numbers for one pickle, kept beside it (``PATH.disc.json``, valid while the
    pickle is unchanged): comparing many changes against one "before" then costs one run each."""
    cache = path.with_name(path.name + ".disc.json")
    stamp = [path.stat().st_size, path.stat().st_mtime_ns]
    if cache.exists():
        doc = json.loads(cache.read_text())
        if doc.get("stamp") == stamp:
            return doc["discriminator"]
    doc = pickle.loads(path.read_bytes())
    disc = realism_report(doc["sim"], doc["real"])["discriminator"]
    cache.write_text(json.dumps({"stamp": stamp, "discriminator": disc}))
    return disc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("describe")
    d.add_argument("out", type=Path)
    d.add_argument("--real", type=Path, nargs="+", default=REAL)
    d.add_argument("--frames", type=int, default=81)
    d.add_argument("--every-ring", type=int, default=1, help="one laser in N on both sides (a sparser sensor)")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = ap.parse_args()
    if args.cmd == "describe":
        pipe = Pipeline(pipeline_config({}))
        doc = {"real": describe_frames(real_frames(args.real, args.every_ring), pipe),
               "sim": describe_frames(sim_frames("hdl64", args.frames, 0, args.every_ring), pipe)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(pickle.dumps(doc))
        print(f"wrote {args.out}: {len(doc['real'])} real, {len(doc['sim'])} simulated frames")
        return
    runs = [discriminate(path) for path in (args.before, args.after)]
    keys = [("12 features", "auc_per_sim_set")]
    if all("auc_texture_per_sim_set" in r for r in runs):  # both described with the rings known
        keys.append((f"with {TEXTURE}", "auc_texture_per_sim_set"))
    for title, key in keys:
        a, b = (np.array(r[key]) for r in runs)
        print(f"{title}\nset   before  after   after-before")
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            print(f"{k:3d}   {x:.3f}   {y:.3f}   {y - x:+.3f}")
        print(f"mean  {a.mean():.3f}   {b.mean():.3f}   {b.mean() - a.mean():+.3f}; lower after in {(b < a).sum()} of "
              f"{len(a)} sets")
    print(f"frames held out {runs[0]['auc_frames']:.3f} -> {runs[1]['auc_frames']:.3f}; feature AUC before -> after: "
          + ", ".join(f"{k} {runs[0]['feature_auc'][k]:.3f} -> {v:.3f}" for k, v in runs[1]["feature_auc"].items()
                      if k in runs[0]["feature_auc"]))

if __name__ == "__main__":
    main()
