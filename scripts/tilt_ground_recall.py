"""What a tilted sensor does to the ground removal, without and with its mounting angles
(docs/segmentation.md, "A tilted sensor").

    .venv/bin/python scripts/tilt_ground_recall.py

Simulated frames (seeds 300001-300003 per sensor) turned as a sensor mounted with (roll, pitch)
reports them, segmented with the shipped params (``config/perception.yaml``) as they are, and with the
angles set. Printed per sensor and tilt: the ground recall against the simulator's ground truth, the
share of what the pipeline calls ground that is ground (precision), and the clusters a frame, each the
mean over the frames. Measurement only.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from t3d_ros.config import load_ros_params, pipeline_config
from t3d_ros.offline.sim import simulate
from t3d_ros.segment.level import mount_rotation, turn_points
from t3d_ros.segment.pipeline import Pipeline

TILTS = ((0.0, 0.0), (0.0, 3.0), (0.0, 6.0), (0.0, 10.0), (0.0, 15.0), (5.0, 0.0), (10.0, 0.0))  # (roll, pitch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", nargs="+", default=["hdl64", "vlp16"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[300_001, 300_002, 300_003])
    ap.add_argument("--params", type=Path, default=Path("config/perception.yaml"))
    args = ap.parse_args()
    cfg = pipeline_config(load_ros_params(args.params))
    print("| sensor | roll, pitch (deg) | told | ground recall | ground precision | clusters a frame |")
    print("|---|---|---|---|---|---|")
    for sensor in args.sensors:
        frames = [simulate(seed, sensor)[1] for seed in args.seeds]
        for roll, pitch in TILTS:
            r = mount_rotation(roll, pitch)
            for told in (False, True) if r is not None else (False,):
                pipe = Pipeline(replace(cfg, sensor_roll_deg=roll, sensor_pitch_deg=pitch) if told else cfg)
                rec, prec, k = [], [], []
                for f in frames:
                    pts = np.c_[f.xyz, f.intensity].astype(np.float32)
                    seg = pipe(pts if r is None else turn_points(pts, r.T))  # as the tilted sensor reports
                    truth, got = f.label < 0, seg.input_ground
                    rec.append((got & truth).sum() / max(truth.sum(), 1))
                    prec.append((got & truth).sum() / max(got.sum(), 1))
                    k.append(seg.num_clusters)
                print(f"| {sensor} | {roll:g}, {pitch:g} | {'yes' if told else 'no'} | {np.mean(rec):.3f} | "
                      f"{np.mean(prec):.3f} | {np.mean(k):.0f} |")


if __name__ == "__main__":
    main()
