"""docs/realism_parked_car.png: the car parked end-on 7 m to the left of the odometry drive, seen from
above in the six frames with the shipped model's P(car) (top), beside a simulated car placed and passed
the same way (bottom; docs/realism.md item 15). The real frames are only looked at:

    .venv/bin/python scripts/parked_car_picture.py ../shared/data/kitti_odometry docs/realism_parked_car.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from t3d_ros.classify.classifier import Classifier
from t3d_ros.config import load_ros_params, pipeline_config
from t3d_ros.io.frames import iter_frames
from t3d_ros.offline.sim import Scene, SimObject, get_sensor, scan
from t3d_ros.offline.sim import objects as ob
from t3d_ros.offline.sim.scene import GroundModel
from t3d_ros.offline.viz import save_figure
from t3d_ros.segment.pipeline import Pipeline


def parked_car(seg) -> np.ndarray:
    """The car-sized cluster at 6-10.5 m whose box lies more than 6.5 m to the left."""
    for k, b in enumerate(seg.boxes):
        if 6 < np.hypot(b[0], b[1]) < 10.5 and 3.3 < b[3] < 4.2 and b[1] > 6.5 and len(seg.cluster(k)) > 900:
            return seg.cluster(k)[:, :4].astype(np.float32)
    raise LookupError("no parked car in this frame")


def main(root: str, out: str) -> None:
    pipe = Pipeline(pipeline_config(load_ros_params("config/perception.yaml")))
    clf = Classifier("models/t3d_tiny.json", device="cpu")
    car = clf.classes.index("car")
    real = [parked_car(pipe(pts)) for _, pts in iter_frames([Path(root) / "velodyne"])][:6]
    parts = ob.car(np.random.default_rng(0))
    sim = []
    for x in (5.5, 4.8, 4.2, 3.5, 2.8, 2.1):  # the real car's near corner moves so between the frames
        obj = SimObject.from_parts(1, "car", ob.place_parts(parts, np.array([x + 0.8, 7.2, -1.73]),
                                                             ob.rot_z(np.pi / 2)), np.pi / 2)
        f = scan(Scene([obj], GroundModel.flat()), get_sensor("hdl64"), seed=0)
        seg = pipe(np.column_stack([f.xyz, f.intensity]).astype(np.float32))
        sim.append(max((seg.cluster(k)[:, :4] for k in range(len(seg.boxes))), key=len).astype(np.float32))
    fig, axes = plt.subplots(2, 6, figsize=(15, 6.4))
    for row, (name, clusters) in enumerate((("real (KITTI odometry)", real), ("simulated", sim))):
        for i, c in enumerate(clusters):
            p = clf.probabilities(c, np.array([0, len(c)]))[0]
            ax = axes[row, i]
            ax.scatter(c[:, 1], c[:, 0], s=0.4, c=c[:, 2], cmap="viridis")
            top = clf.classes[int(p.argmax())]
            ax.set_title(f"{name if i == 0 else ''}\nframe {i}: {len(c)} returns\nP(car) {p[car]:.2f}"
                         + ("" if top == "car" else f", {top} {p.max():.2f}"), fontsize=9)
            ax.invert_xaxis()
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
    save_figure(fig, out, "A parked car seen from above as the drive passes it (colour: height); x up, y left [m]",
                dpi=80)


if __name__ == "__main__":
    main(*sys.argv[1:3])
