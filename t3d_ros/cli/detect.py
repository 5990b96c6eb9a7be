"""``python -m t3d_ros detect FILE|BAG... --json OUT [--png OUT] [--track]``: the node's pipeline on files
and on the PointCloud2 topics of rosbag2 MCAP recordings; ``--track`` follows the objects over the frames
as the node's tracker does (ids, velocities relative to the sensor, voted labels)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from t3d_ros.config import load_ros_params, unknown_params
from t3d_ros.detection import to_cloud_frame
from t3d_ros.io import _decode
from t3d_ros.io.frames import frame_files, read_points
from t3d_ros.perception import Perception, reuse_freed_memory, with_tracks
from t3d_ros.segment.level import ground_tilt, tilt_advice, turn_points


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path,
                        help="frames: KITTI .bin, .npy, .pcd or .csv; or rosbag2 MCAP bags (.mcap or bag folder)")
    parser.add_argument("--topic", action="append",
                        help="bags: the PointCloud2 topic to read (repeatable; default every PointCloud2 topic)")
    parser.add_argument("--json", type=Path, help="write detections here ('-' = stdout; default stdout)")
    parser.add_argument("--png", type=Path, help="bird's-eye PNG; with several frames, a folder for one PNG each")
    parser.add_argument("--params", type=Path, help="a ROS parameter file such as config/perception.yaml")
    parser.add_argument("--model", help="classifier model card; default: the params file's model_path, else the "
                        "shipped model ('' = clustering only)")
    parser.add_argument("--device", default="auto", help="classifier device: auto, cpu or cuda")
    parser.add_argument("--track", action="store_true",
                        help="track over the frames in their order as the node does (its track_* parameters from "
                        "--params): track ids, velocities relative to the sensor and labels voted over each track")
    parser.add_argument("--period", type=float, default=0.1,
                        help="with --track: seconds between frames read from files (bags: their stamps) [s]")


def build_perception(params_file: Path | None, model: str | None, device: str = "auto") -> Perception:
    """The node's Perception from a ROS params file (or the defaults) and a model card (``None``: the
    file's ``model_path``, else the shipped model; ``''``: clustering only). Says on stderr which
    model and params it uses."""
    params = load_ros_params(params_file) if params_file else {}
    unknown = unknown_params(params)
    if unknown:  # the node warns the same way: a misspelled name must not leave a default in place unseen
        print(f"warning: {params_file}: unknown parameter(s), ignored: {', '.join(unknown)}", file=sys.stderr)
    reuse_freed_memory()  # a CLI owns its process (see perception.reuse_freed_memory)
    _decode.warmup()  # the frame decoder's kernel before the first frame, as the node does at start
    perception = Perception.from_params(params, model=model, device=device,
                                        warn=lambda m: print(m, file=sys.stderr))
    card = perception.classifier.card.get("path") if perception.classifier is not None else None
    print(f"labels: {perception.mode}{f' from {card}' if card else ''}; params: "
          f"{params_file or 'the defaults (no --params)'}", file=sys.stderr)
    return perception


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, s: str) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, enabled: bool):
    """A tqdm bar on stderr (a silent stand-in without tqdm or when not wanted)."""
    if enabled:
        try:
            from tqdm import tqdm

            return tqdm(total=total, unit="frame", file=sys.stderr, dynamic_ncols=True)
        except ImportError:
            pass
    return _NoBar()


def _frames(args: argparse.Namespace, bag_counts: dict) -> Iterator[tuple[str, str, str, np.ndarray, dict, list]]:
    """(frame name, PNG stem, PNG title, points, extra JSON keys, ground-truth boxes) of every input frame."""
    for path in args.files:
        if path not in bag_counts:
            yield str(path), path.stem, path.name, read_points(path), {}, []
            continue
        from t3d_ros.io.bag import read_clouds, read_json_topic

        truth = read_json_topic(path)  # sim --bag's ground truth, drawn dashed in the PNGs
        for cloud in read_clouds(path, list(bag_counts[path])):
            sec, nanosec = divmod(cloud.stamp_ns, 1_000_000_000)
            extra = {"topic": cloud.topic, "index": cloud.index, "stamp": {"sec": sec, "nanosec": nanosec},
                     "frame_id": cloud.frame_id}
            gt = [(o["label"], np.asarray(o["center"]), np.asarray(o["size"]), float(o["yaw"]))
                  for o in truth.get(cloud.stamp_ns, {}).get("objects", []) if o.get("num_points", 1) >= 5]
            stem = f"{path.stem}_{cloud.topic.strip('/').replace('/', '_')}_{cloud.index:06d}"
            yield (f"{path}:{cloud.topic}#{cloud.index}", stem, f"{path.name} {cloud.topic} #{cloud.index}",
                   cloud.points(), extra, gt)


def run(args: argparse.Namespace) -> int:
    """Detect objects in every frame of ``args.files``; writes JSON (and PNGs); the exit code."""
    from t3d_ros.io.bag import cloud_topics, is_bag

    perception = build_perception(args.params, args.model, args.device)
    tracker = None
    if args.track:
        from t3d_ros.config import tracker_config
        from t3d_ros.track import Tracker

        if not args.period > 0:
            raise ValueError(f"--period {args.period}: must be > 0 s")
        cfg = tracker_config(load_ros_params(args.params) if args.params else {})
        if cfg is None:
            raise ValueError(f"--track: {args.params} sets tracking: false")
        tracker = Tracker(cfg)
    # A folder that is not a bag is a folder of frames: its files, sorted by name.
    args.files = [f for p in args.files for f in ([p] if is_bag(p) or not p.is_dir() else frame_files(p))]
    # Count the frames first: a bag's topics and sizes are checked before any work, the progress bar
    # gets its total, and one frame in all means one JSON object and one PNG file.
    bag_counts = {p: cloud_topics(p, args.topic) for p in args.files if is_bag(p)}
    total = sum(sum(c.values()) for c in bag_counts.values()) + len(args.files) - len(bag_counts)
    bar = _progress(total, enabled=bool(bag_counts))
    results = []
    tilts = []  # the ground's lean in every frame: a tilted sensor not told its angles is named at the end
    level = perception.config.level_rotation  # a tilted sensor: found level, written in the cloud's frame
    for k, (name, stem, title, points, extra, gt) in enumerate(_frames(args, bag_counts)):
        if len(points) == 0:
            print(f"warning: {name}: 0 points (an empty frame: no detections)", file=sys.stderr)
        res = perception.process(points)
        if (tilt := ground_tilt(res.segmentation.points, res.segmentation.ground)) is not None:
            tilts.append(tilt)
        detections = res.detections
        if tracker is not None:  # as the node: in the level frame, before the boxes go back to the cloud's
            stamp = extra.get("stamp")
            stamp_s = stamp["sec"] + 1e-9 * stamp["nanosec"] if stamp else k * args.period
            detections = with_tracks(detections, tracker.update(detections, stamp_s))
        results.append({
            "frame": name,
            **extra,
            "detections": [d.to_json() for d in to_cloud_frame(detections, None if level is None else level.T)],
            "timing_ms": {k: round(v, 3) for k, v in res.timings_ms.items()},
        })
        if args.png:
            from t3d_ros.offline.viz import bev_png

            png = args.png if total == 1 else args.png / f"{stem}.png"
            seen = points if level is None else turn_points(points, level)  # from above: the level frame
            bev_png(png, seen, detections, title=f"{title}: {len(detections)} detections",
                    ground_truth=gt)
        ms = sum(res.timings_ms.values())
        if bag_counts:
            bar.set_postfix_str(f"{len(res.detections)} detections, {ms:.0f} ms")
            bar.update()
        else:
            print(f"{name}: {len(res.detections)} detections in {ms:.1f} ms", file=sys.stderr)
    bar.close()
    c = perception.config
    if advice := tilt_advice(tilts, c.sensor_roll_deg, c.sensor_pitch_deg, f"median over {len(tilts)} frame(s)"):
        print(f"warning: {advice}", file=sys.stderr)
    out = results[0] if len(results) == 1 else results
    text = json.dumps(out, indent=1)
    if args.json is None or str(args.json) == "-":
        print(text)
    else:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0
