"""The picture of a tilted sensor (``sensor_pitch_deg``, docs/segmentation.md "A tilted sensor"): one
simulated HDL-64E frame as a sensor pitched down by ``--pitch`` degrees reports it, segmented with the
shipped params without and with its mounting angle, from above.

    .venv/bin/python scripts/tilted_sensor_picture.py --out docs/tilted_sensor.png

Ground returns light grey, each cluster in a colour of its own, returns in no cluster black; the title
gives the ground recall against the simulator's ground truth and the number of clusters.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from t3d_ros.config import load_ros_params, pipeline_config  # noqa: E402
from t3d_ros.offline.sim import simulate  # noqa: E402
from t3d_ros.offline.viz import save_figure  # noqa: E402
from t3d_ros.segment.level import mount_rotation, turn_points  # noqa: E402
from t3d_ros.segment.pipeline import Pipeline  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/tilted_sensor.png"))
    ap.add_argument("--pitch", type=float, default=10.0, help="degrees, positive looks down")
    ap.add_argument("--seed", type=int, default=300_001)
    ap.add_argument("--params", type=Path, default=Path("config/perception.yaml"))
    ap.add_argument("--extent", type=float, default=40.0, help="half width of the view, m")
    args = ap.parse_args()
    cfg = pipeline_config(load_ros_params(args.params))
    _, frame = simulate(args.seed, "hdl64")
    r = mount_rotation(0.0, args.pitch)
    tilted = turn_points(np.c_[frame.xyz, frame.intensity].astype(np.float32), r.T)  # as the sensor reports
    truth = frame.label < 0
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.8))
    colours = plt.get_cmap("tab20")(np.arange(20))
    for ax, told in zip(axes, (False, True), strict=True):
        seg = Pipeline(replace(cfg, sensor_pitch_deg=args.pitch) if told else cfg)(tilted)
        level = turn_points(tilted, r)  # drawn level either way, so that the two views line up
        g, cid = seg.input_ground, seg.input_cluster_id
        rest = ~g & (cid < 0)
        ax.scatter(level[g, 1], level[g, 0], s=0.2, c="0.82", rasterized=True)
        ax.scatter(level[rest, 1], level[rest, 0], s=0.3, c="k", rasterized=True)
        inside = cid >= 0
        ax.scatter(level[inside, 1], level[inside, 0], s=0.5, c=colours[cid[inside] % 20], rasterized=True)
        recall = (g & truth).sum() / max(truth.sum(), 1)
        how = f"told sensor_pitch_deg: {args.pitch:g}" if told else "not told (level assumed)"
        ax.set_title(f"{how}\nground recall {recall:.3f}, {seg.num_clusters} clusters")
        ax.set_xlim(args.extent, -args.extent)  # +y (left) on the left, as seen from above
        ax.set_ylim(-args.extent, args.extent)
        ax.set_aspect("equal")
        ax.set_xlabel("y (m, left)")
        ax.set_ylabel("x (m, forward)")
    save_figure(fig, args.out, f"A simulated HDL-64E frame from a sensor pitched {args.pitch:g} degrees down (seed "
                f"{args.seed}): ground grey, clusters in colour, other returns (noise, oversized clusters left out) "
                "black", 10, dpi=90)


if __name__ == "__main__":
    main()
