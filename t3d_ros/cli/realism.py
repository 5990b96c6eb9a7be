"""``python -m t3d_ros realism --real FRAMES... --sim SENSOR``: simulated against real clusters, side by side.

``--real`` takes KITTI object roots (``training/velodyne`` with ``label_2`` and ``calib``: the labelled
boxes give per-class statistics), folders of frames (``*.bin``, ``*.pcd``, ``*.npy``; a ``velodyne/``
sub-folder is looked into), single frame files and rosbag2 MCAP bags (every PointCloud2 topic). The
frames of one folder or bag are taken as one recording (consecutive frames of a drive), which the
discriminator holds out whole; the frames of a KITTI object root are independent. Both
sides are segmented with the same parameters (``--params``, default: the node's defaults). Writes the
report as JSON (``--json``), a markdown table (``--md``, also printed) and a picture (``--png``).
``--every-ring N`` keeps one laser in N on both sides (KITTI ``.bin`` scans on the real side, whose storage
order gives the lasers): how real the simulated streets look to a sparser sensor.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--real", type=Path, nargs="+", required=True,
                   help="real frames: KITTI object roots, folders of frames, frame files or MCAP bags")
    p.add_argument("--sim", default="hdl64", help="simulated sensor (vlp16, hdl32, hdl64, os1-128)")
    p.add_argument("--frames", type=int, default=27, help="simulated frames (seeds --seed, --seed + 1, ...); the "
                   "discriminator takes them in sets of as many as there are real frames")
    p.add_argument("--seed", type=int, default=0, help="first simulated seed")
    p.add_argument("--params", type=Path, help="a ROS parameter file for the segmentation (default: defaults)")
    p.add_argument("--repeats", type=int, default=5, help="shuffles of the discriminator's cross-validation")
    p.add_argument("--json", type=Path, help="write the report here")
    p.add_argument("--md", type=Path, help="write the markdown table here")
    p.add_argument("--png", type=Path, help="write the histograms here")
    p.add_argument("--every-ring", type=int, default=1, metavar="N",
                   help="keep one laser in N on both sides, counted from the top: a sparser sensor's view (2: 32 "
                        "of KITTI's 64 lasers); the real frames must be KITTI .bin scans, whose order gives the lasers")


def real_frames(paths: list[Path], every: int = 1,
                ) -> Iterator[tuple[str, np.ndarray, list[str] | None, str, np.ndarray | None]]:
    """(name, points (N, 4), per-point class or None, recording, per-point laser or None) of every real
    frame named by ``paths``: labelled KITTI object roots give per-point classes from their boxes and
    independent frames (recording ""); anything else ``iter_frames`` reads, each path one recording (a
    folder or a bag: one drive). KITTI ``.bin`` scans give each return's laser (``io.kitti.kitti_rings``:
    their storage order), which the texture along the rings needs; other files carry none.
    ``every`` > 1 keeps one laser in ``every``: KITTI ``.bin`` scans only."""
    from t3d_ros.io.bag import is_bag
    from t3d_ros.io.frames import frame_files, iter_frames
    from t3d_ros.io.kitti import every_ring_mask, kitti_rings

    for path in paths:
        if (path / "training" / "label_2").is_dir() or (path / "label_2").is_dir():
            frames = ((*frame, "") for frame in _kitti_frames(path))
            scans = True
        else:
            scans = not is_bag(path) and all(f.suffix.lower() == ".bin"
                                              for f in (frame_files(path) if path.is_dir() else [path]))
            if every > 1 and not scans:
                raise ValueError(f"{path}: one laser in {every} needs KITTI .bin scans (their order gives the lasers)")
            frames = ((name, pts, None, str(path)) for name, pts in iter_frames([path]))
        for name, pts, labels, recording in frames:
            ring = kitti_rings(pts) if scans else None
            if every > 1:
                keep = every_ring_mask(pts, every, ring)
                pts, ring = pts[keep], ring[keep]
                labels = None if labels is None else list(np.asarray(labels, dtype=object)[keep])
            yield name, pts, labels, recording, ring


def _kitti_frames(root: Path) -> Iterator[tuple[str, np.ndarray, list[str]]]:
    """Labelled KITTI frames: per point the class of the label box holding it ("" for none)."""
    from t3d_ros.geometry import points_in_boxes
    from t3d_ros.io.kitti import KITTI_TO_T3D, read_calib, read_labels, read_velodyne
    from t3d_ros.offline.eval.kitti import frame_ids, training_dir

    t = training_dir(root)
    for fid in frame_ids(root):
        pts = read_velodyne(t / "velodyne" / f"{fid}.bin")
        labels = read_labels(t / "label_2" / f"{fid}.txt", read_calib(t / "calib" / f"{fid}.txt"))
        names = np.full(len(pts), "", dtype=object)
        if len(labels.boxes):
            inside = points_in_boxes(pts[:, :3], labels.boxes, margin=0.2)
            for k, typ in enumerate(labels.names):
                cls = KITTI_TO_T3D.get(str(typ))
                if cls:
                    names[inside[:, k] & (names == "")] = cls
        yield f"{root.name}/{fid}", pts, list(names)


def sim_frames(sensor: str, frames: int, seed: int, every: int = 1,
               ) -> Iterator[tuple[str, np.ndarray, list[str], str, np.ndarray]]:
    """(name, points (N, 4), per-point class, recording "" (every scene its own), per-point laser) of
    ``frames`` simulated scans from ``seed`` on; ``every`` > 1 keeps one laser in ``every``, counted from
    the top as ``real_frames`` counts KITTI's."""
    from t3d_ros.classes import CLASSES
    from t3d_ros.offline.sim import simulate

    names = np.array([*CLASSES, ""], dtype=object)
    for s in range(seed, seed + frames):
        _, f = simulate(s, sensor)
        from_top = np.argsort(np.argsort(f.sensor.vertical_angles_deg)[::-1])  # ring -> its place from the top
        keep = from_top[f.ring] % every == 0
        pts = np.column_stack([f.xyz, f.intensity]).astype(np.float32)[keep]
        yield (f"sim-{sensor}/{s}", pts, list(names[np.where(f.label >= 0, f.label, len(CLASSES))][keep]), "",
               from_top[f.ring][keep])


def run(args: argparse.Namespace) -> int:
    from t3d_ros.config import load_ros_params, pipeline_config
    from t3d_ros.offline.eval.realism import describe_frames, format_report, realism_png, realism_report
    from t3d_ros.segment.pipeline import Pipeline

    if args.every_ring < 1:
        raise ValueError(f"--every-ring must be >= 1, got {args.every_ring}")
    pipe = Pipeline(pipeline_config(load_ros_params(args.params) if args.params else {}))
    real = describe_frames(real_frames(args.real, args.every_ring), pipe)
    if not real:
        raise ValueError("no real frames found in " + ", ".join(map(str, args.real)))
    print(f"real: {len(real)} frames, {sum(len(f.features) for f in real)} clusters", file=sys.stderr)
    sim = describe_frames(sim_frames(args.sim, args.frames, args.seed, args.every_ring), pipe)
    print(f"sim ({args.sim}): {len(sim)} frames, {sum(len(f.features) for f in sim)} clusters", file=sys.stderr)
    report = realism_report(sim, real, repeats=args.repeats)
    report["inputs"] = {"real": [str(p) for p in args.real], "sim": args.sim, "sim_frames": args.frames,
                        "sim_seed": args.seed, "params": str(args.params) if args.params else None,
                        "every_ring": args.every_ring}
    text = format_report(report)
    print(text)
    for path, content in ((args.json, json.dumps(report, indent=1)), (args.md, text)):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content + "\n")
    if args.png:
        realism_png(args.png, sim, real, report)
    return 0
