"""The picture of tracking with odometry (``odom_topic``, docs/tracking.md "Ego motion"): one simulated
HDL-64E sequence driven at its drawn speed and turning at ``--turn`` degrees a second (the frames turned
about the sensor, as ``bench.tracking --turn-deg-s`` does), segmented and classified with the shipped
params, tracked in the sensor's frame and with the sensor's poses; the last frame from above with every
confirmed track's velocity as an arrow (the distance it covers in 1 s).

    .venv/bin/python scripts/ego_motion_picture.py --out docs/ego_motion.png

Left: tracks in the sensor's frame, velocity over the ground = the track's plus the ego velocity (what a
planner could correct on its own). Right: with the sensor's poses. Ground-truth moving road users are
ringed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from t3d_ros.bench.tracking import SEED0, turned_frame  # noqa: E402
from t3d_ros.classes import CLASS_COLORS, ROAD_USERS, UNKNOWN  # noqa: E402
from t3d_ros.config import load_ros_params, tracker_config  # noqa: E402
from t3d_ros.offline.sim.sequence import iter_sequence  # noqa: E402
from t3d_ros.offline.viz import save_figure  # noqa: E402
from t3d_ros.perception import Perception, with_tracks  # noqa: E402
from t3d_ros.track import Tracker  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turn", type=float, default=30.0, help="turn rate [deg/s]")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--seed", type=int, default=SEED0)
    ap.add_argument("--params", type=Path, default=Path("config/perception.yaml"))
    ap.add_argument("--out", type=Path, default=Path("docs/ego_motion.png"))
    args = ap.parse_args()
    params = load_ros_params(args.params)
    perception = Perception.from_params(params)
    trackers = {"sensor": Tracker(tracker_config(params)), "odometry": Tracker(tracker_config(params))}
    rate = np.radians(args.turn)
    for sf in iter_sequence(args.seed, "hdl64", frames=args.frames):
        points, truth, pose, ego_v = turned_frame(sf, rate * sf.stamp_s)
        dets = perception.process(points).detections
        last = {name: with_tracks(dets, t.update(dets, sf.stamp_s, ego=pose if name == "odometry" else None))
                for name, t in trackers.items()}
        moving = [o["center"] for o in truth if o["moving"] and o["num_points"] >= 10 and o["label"] in ROAD_USERS]

    extent = 35.0
    fig, axes = plt.subplots(1, 2, figsize=(14, 7.4), dpi=100)
    inside = (np.abs(points[:, 0]) < extent) & (np.abs(points[:, 1]) < extent)
    for ax, (name, dets) in zip(axes, last.items(), strict=True):
        ax.set_facecolor("black")
        p = points[inside]
        ax.scatter(-p[:, 1], p[:, 0], s=0.2, c=p[:, 2], cmap="Greys_r", vmin=-2.2, vmax=1.5, linewidths=0)
        speeds = []
        for d in dets:
            if not d.track_id or d.velocity is None or np.abs(d.center[:2]).max() > extent:
                continue
            v = d.velocity + (ego_v if name == "sensor" else 0.0)
            color = CLASS_COLORS.get(d.label, CLASS_COLORS[UNKNOWN])
            ax.arrow(-d.center[1], d.center[0], -v[1], v[0], color=color, width=0.08, head_width=0.6,
                     length_includes_head=True)
            if d.label in ROAD_USERS and not any(np.hypot(*(m - d.center[:2])) < 2.0 for m in moving):
                speeds.append(float(np.hypot(*v)))
        for m in moving:
            ax.add_patch(plt.Circle((-m[1], m[0]), 2.5, fill=False, ec="yellow", lw=0.8, ls="--"))
        where = "in the sensor's frame (+ ego velocity)" if name == "sensor" else "with odometry (odom_topic)"
        median = f"{np.median(speeds):.1f}" if speeds else "-"
        ax.set_title(f"tracks {where}: standing road users move at {median} m/s (median of {len(speeds)})",
                     fontsize=9)
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_aspect("equal")
        ax.set_xlabel("-y [m]")
    axes[0].set_ylabel("x [m]")
    save_figure(fig, args.out, f"Frame {args.frames} of a simulated drive turning at {args.turn:g} deg/s (seed "
                f"{args.seed}, HDL-64E, shipped params): arrows = each confirmed track's velocity over the ground, "
                "1 s long; yellow rings: road users that really move; white: unknown", 9, bbox_inches="tight")


if __name__ == "__main__":
    main()
