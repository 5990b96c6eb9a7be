"""Tracking: ids, label stability and the label gain of track voting, on simulated sequences and on
consecutive real frames.

The node's pipeline and shipped params (``--params``, the shipped model) label every frame, and the
node's tracker (``t3d_ros.track``) follows the detections, as ``perception_node`` does:

- **simulated sequences** (``sim --sequence``: moving cars, cyclists and pedestrians, a moving ego
  sensor, ground-truth ids): CLEAR-MOT numbers (MOTA, MOTP, id switches, mostly tracked;
  ``t3d_ros.offline.eval.tracking``) of the road users (car, truck, pedestrian, cyclist with >= 10
  returns) against the tracks the node labels as road users, as a planner would read them; and,
  over every track on a road user, the label accuracy and the share of consecutive frames in which
  its published label changes, with the frame's own label (no tracking) against the track's voted
  label;
- **real frames** (``--odometry``: consecutive unlabelled frames of a drive): tracks confirmed, how
  long they last, and the same label-change share without and with tracking; a picture of the tracks
  (``--png``); and the frames tracked again with the sensor's poses from scan matching (they come
  without odometry: ``offline/eval/scan_poses.py``), the tracks' speeds relative to the sensor and
  over the ground (every tracked object of the shared street stands);
- **ego motion** (``--turn-deg-s RATE``): the same sequences driven straight and turning at RATE
  degrees a second, each tracked in the sensor's frame and with the sensor's poses (as the node does
  with ``odom_topic``, ``track/ego.py``): CLEAR-MOT, voted labels, and the error of the velocity over
  the ground (tracks in the sensor's frame get the planner's plain correction: plus the ego velocity).
  The turning frames are the straight ones turned about the sensor by RATE x t: a 360 degree scan from
  the same place with another heading holds the same returns, turned (the path stays straight: a
  vehicle that turns on the spot while it drives; what a turn does to the tracks in the sensor's
  frame is the rotation); and the same scenes driven along the ego's lane (``follow_road``: the path
  and the heading follow the road's curve, gentler turns than RATE).

    python -m t3d_ros.bench.tracking --sequences 4 --frames 20 --odometry ODOMETRY_DIR \\
        --out benchmarks/results/tracking --png docs/tracking_odometry.png

Writes ``OUT.json`` and ``OUT.md``. No ground truth of the real frames exists: their numbers are
stability, not accuracy.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from t3d_ros.bench.data import write_results
from t3d_ros.classes import CLASS_COLORS, ROAD_USERS, UNKNOWN
from t3d_ros.config import load_ros_params, tracker_config
from t3d_ros.perception import Perception, with_tracks
from t3d_ros.track import Tracker

MOVING_SPEED = 0.5  # m/s: a track this fast counts as moving (the node's velocity arrows: ros/convert.py)
COMPACT = (*ROAD_USERS, "pole")  # labels of objects whose box does not shift as the sensor drives past
# the ego-motion paths: the straight sequence, it turned about the sensor at --turn-deg-s, and the
# same scene driven along the ego's lane (``follow_road``: turning with the road, at any heading)
PATHS = {"straight": "straight", "turning": "turning", "road": "along its lane"}

SEED0 = 410_000  # sequences the shipped model never saw (training uses seeds below 2,000)


def _frame_labelled(detections) -> list:
    """The detections with their frame's own label (what the node publishes without tracking)."""
    import dataclasses

    return [dataclasses.replace(d, label=d.frame_label or d.label) for d in detections]


def sim_sequences(perception: Perception, params: dict, n: int, frames: int, sensor: str) -> dict:
    """CLEAR-MOT and label numbers over ``n`` simulated sequences."""
    from t3d_ros.offline.eval.tracking import evaluate_tracking
    from t3d_ros.offline.sim.sequence import iter_sequence

    tracked_frames, frame_frames = [], []
    outputs: dict[tuple[int, int], list] = {}  # (sequence, track id) -> its detections, in time order
    for k in range(n):
        tracker = Tracker(tracker_config(params))
        for sf in iter_sequence(SEED0 + k, sensor, frames=frames):
            pts = np.column_stack([sf.frame.xyz, sf.frame.intensity]).astype(np.float32)
            dets = perception.process(pts).detections
            dets = with_tracks(dets, tracker.update(dets, sf.stamp_s))
            tracked_frames.append((sf.objects, dets))
            frame_frames.append((sf.objects, _frame_labelled(dets)))
            for d in dets:
                if d.track_id:
                    outputs.setdefault((k, d.track_id), []).append(d)
        print(f"sequence {k + 1}/{n} done", file=sys.stderr)
    # Road users as a planner reads them: the tracks labelled as one.
    mot = evaluate_tracking([(gt, [d for d in dets if d.label in ROAD_USERS]) for gt, dets in tracked_frames],
                            labels=ROAD_USERS)
    # Labels on every track of a road user; the same tracks both times, so the same matches.
    labels = {name: evaluate_tracking(f, labels=ROAD_USERS) for name, f in
              (("tracking", tracked_frames), ("frame_labels", frame_frames))}
    keep = ("label_accuracy", "label_flip_rate", "label_flips", "matches")
    return {"sequences": n, "frames_each": frames, "sensor": sensor, "mot": mot,
            "labels": {name: {k: r[k] for k in keep} for name, r in labels.items()},
            "track_labels": track_label_changes(outputs.values())}


def turned_frame(sf, yaw: float):
    """A simulated sequence frame ``sf`` (``SequenceFrame``, the sensor heading ``sf.ego_yaw`` in the
    world) as a sensor turned by ``yaw`` [rad] more about z sees it: (points (N, 4) float32 x, y, z,
    intensity; ground truth dicts ``gt_id``, ``label``, ``num_points``, ``moving``, ``center`` (2,) and
    over-ground ``velocity`` (2,) in its axes; the sensor's pose (``Pose2D``) in the world; the ego
    velocity in its axes). A full scan from the same place with another heading holds the same returns,
    turned."""
    from t3d_ros.track import Pose2D

    back = Pose2D(0.0, 0.0, -yaw)
    xy = back.apply(sf.frame.xyz[:, :2])
    points = np.column_stack([xy, sf.frame.xyz[:, 2], sf.frame.intensity]).astype(np.float32)
    truth = [{"gt_id": o.instance_id, "label": o.label, "num_points": o.num_points, "moving": o.moving,
              "center": back.apply(o.center[None, :2])[0], "velocity": back.rotate(o.velocity[None])[0]}
             for o in sf.objects]
    pose = Pose2D(float(sf.ego_position[0]), float(sf.ego_position[1]), sf.ego_yaw + yaw)
    return points, truth, pose, back.rotate(sf.ego_velocity[None])[0]


def _velocity_errors(objects: list[dict], dets, ego_velocity: np.ndarray) -> tuple[list[float], list[float]]:
    """Per counted road user (>= 10 returns) with a confirmed road-user track within 1.5 m: the error of
    the track's velocity over the ground [m/s] (``ego_velocity``, in the sensor's axes, is added to the
    tracks' velocities: zero for tracks that are over the ground already); and the speeds the tracks
    give the standing ones."""
    tracks = [d for d in dets if d.track_id and d.label in ROAD_USERS and d.velocity is not None]
    errors, standing = [], []
    if not tracks:
        return errors, standing
    xy = np.array([d.center[:2] for d in tracks])
    for o in objects:
        if o["label"] not in ROAD_USERS or o["num_points"] < 10:
            continue
        dist = np.hypot(*(xy - o["center"]).T)
        j = int(np.argmin(dist))
        if dist[j] > 1.5:
            continue
        v = tracks[j].velocity + ego_velocity
        errors.append(float(np.hypot(*(v - o["velocity"]))))
        if not o["moving"]:
            standing.append(float(np.hypot(*v)))
    return errors, standing


def ego_motion(perception: Perception, params: dict, n: int, frames: int, sensor: str, turn_deg_s: float) -> dict:
    """Tracks in the sensor's frame against tracks with the sensor's poses, on ``n`` simulated sequences
    driven straight, turning at ``turn_deg_s`` and along the ego's lane (``PATHS``)."""
    from t3d_ros.offline.eval.tracking import evaluate_tracking
    from t3d_ros.offline.sim.sequence import iter_sequence

    runs = {(path, mode): {"frames": [], "errors": [], "standing": []}
            for path in PATHS for mode in ("sensor_frame", "ego_poses")}
    road_turns = []
    for k in range(n):
        trackers = {key: Tracker(tracker_config(params)) for key in runs}
        yaws = []
        for sf, rf in zip(iter_sequence(SEED0 + k, sensor, frames=frames),
                          iter_sequence(SEED0 + k, sensor, frames=frames, follow_road=True), strict=True):
            yaws.append(rf.ego_yaw)
            for path, (pts, truth, pose, ego_v) in (("straight", turned_frame(sf, 0.0)),
                                                     ("turning", turned_frame(sf, np.radians(turn_deg_s) * sf.stamp_s)),
                                                     ("road", turned_frame(rf, 0.0))):  # heading with its lane
                dets = perception.process(pts).detections
                for mode, ego, plus in (("sensor_frame", None, ego_v), ("ego_poses", pose, np.zeros(2))):
                    run = runs[(path, mode)]
                    tracked = with_tracks(dets, trackers[(path, mode)].update(dets, sf.stamp_s, ego=ego))
                    run["frames"].append((truth, tracked))
                    errors, standing = _velocity_errors(truth, tracked, plus)
                    run["errors"] += errors
                    run["standing"] += standing
        road_turns.append(abs(math.degrees(math.remainder(yaws[-1] - yaws[0], 2 * math.pi))) if yaws else 0.0)
        print(f"ego-motion sequence {k + 1}/{n} done", file=sys.stderr)
    out: dict = {"sequences": n, "frames_each": frames, "sensor": sensor, "turn_deg_s": turn_deg_s,
                 "road_turn_deg": road_turns, "road_turn_deg_median": float(np.median(road_turns))}
    for (path, mode), run in runs.items():
        mot = evaluate_tracking([(gt, [d for d in dets if d.label in ROAD_USERS]) for gt, dets in run["frames"]],
                                labels=ROAD_USERS)
        votes = evaluate_tracking(run["frames"], labels=ROAD_USERS)
        errors, standing = np.array(run["errors"]), np.array(run["standing"])
        out[f"{path}/{mode}"] = {
            **{key: mot[key] for key in ("mota", "id_switches", "mostly_tracked", "gt_tracks", "misses",
                                         "false_positives")},
            "label_accuracy": votes["label_accuracy"],
            "velocity_matches": int(errors.size),
            "velocity_error_median": float(np.median(errors)) if errors.size else float("nan"),
            "velocity_error_p90": float(np.percentile(errors, 90)) if errors.size else float("nan"),
            "standing_matches": int(standing.size),
            "standing_over_1ms": float((standing > 1.0).mean()) if standing.size else float("nan"),
        }
    return out


def track_label_changes(tracks) -> dict:
    """Label changes along every confirmed track's outputs (each a list of detections in time order,
    gaps included; no ground truth): of the voted label and of the frame's own label.

    The tracker switches a track's label only in a frame whose own label is the new one (hysteresis:
    the evidence of the frame's class must outgrow the current label's; decay scales all classes
    alike). So per track the voted label changes at most as often as the frame labels do, plus one
    where the vote at the first confirmed output already differs from that frame's label (the track
    was tentative before: its evidence from those frames is not in these outputs):
    ``vote_changes <= frame_label_changes + first_vote_differs``. Counted against ground truth
    (``label_flips``) no such bound holds: a vote switches some frames after the frame labels did,
    and those frames can fall where the object is not counted (under 10 returns) or not matched."""
    out = {"tracks": 0, "outputs": 0, "vote_changes": 0, "frame_label_changes": 0, "first_vote_differs": 0}
    for dets in tracks:
        votes = [d.label for d in dets]
        own = [d.frame_label or d.label for d in dets]
        out["tracks"] += 1
        out["outputs"] += len(dets)
        out["vote_changes"] += sum(a != b for a, b in zip(votes, votes[1:], strict=False))
        out["frame_label_changes"] += sum(a != b for a, b in zip(own, own[1:], strict=False))
        out["first_vote_differs"] += bool(dets) and votes[0] != own[0]
    return out


def _track_real(perception: Perception, params: dict, clouds: list[np.ndarray], poses: list | None) -> dict:
    """Track id -> [(frame index, detection)] of the confirmed tracks over ``clouds`` (10 Hz), in the
    sensor's frame or, with ``poses`` (``Pose2D`` a cloud), in the poses' fixed frame."""
    tracker = Tracker(tracker_config(params))
    history: dict[int, list] = {}
    for i, points in enumerate(clouds):
        dets = perception.process(points).detections
        ego = poses[i] if poses is not None else None
        for d in with_tracks(dets, tracker.update(dets, 0.1 * i, ego=ego)):
            if d.track_id:
                history.setdefault(d.track_id, []).append((i, d))
    return history


def _speeds(history: dict, labels: tuple[str, ...] | None = None, settle: int = 2) -> np.ndarray:
    """Speeds (m/s) of the confirmed tracks' outputs from each track's ``settle + 1``-th output on (its
    filter has had updates to settle), only those labelled one of ``labels`` (None: all)."""
    return np.array([float(np.hypot(*d.velocity[:2])) for hist in history.values() for d in
                     (d for _, d in hist[settle:]) if d.velocity is not None and (labels is None or d.label in labels)])


def _speed_summary(v: np.ndarray) -> dict:
    nan = float("nan")
    return {"outputs": len(v), "median": float(np.median(v)) if len(v) else nan,
            "p90": float(np.percentile(v, 90)) if len(v) else nan,
            "moving_share": float((v >= MOVING_SPEED).mean()) if len(v) else nan}


def odometry(perception: Perception, params: dict, root: Path, png: Path | None) -> dict:
    """Tracks over consecutive real frames (10 Hz): counts, lengths, label changes; and the tracks'
    speeds in the sensor's frame and over the ground, with the sensor's poses from scan matching
    (``offline/eval/scan_poses.py``: the frames come without odometry)."""
    from t3d_ros.io.frames import frame_files, read_points

    files = frame_files(root)
    clouds = [read_points(path) for path in files]
    history = _track_real(perception, params, clouds, None)
    pairs = changed_track = changed_frame = 0
    for hist in history.values():
        for (i, a), (j, b) in zip(hist, hist[1:], strict=False):
            if j != i + 1:
                continue
            pairs += 1
            changed_track += a.label != b.label
            changed_frame += (a.frame_label or a.label) != (b.frame_label or b.label)
    lengths = [len(h) for h in history.values()]
    out = {
        "frames": len(files),
        "tracks_confirmed": len(history),
        "tracks_in_every_frame_after_confirmation": sum(n >= len(files) - 1 for n in lengths),
        "track_length_median": float(np.median(lengths)) if lengths else 0.0,
        "consecutive_pairs": pairs,
        "label_change_rate_frame_labels": changed_frame / pairs if pairs else float("nan"),
        "label_change_rate_tracking": changed_track / pairs if pairs else float("nan"),
        "road_user_tracks": sum(h[-1][1].label in ROAD_USERS
                                for h in history.values()),
    }
    if len(clouds) >= 3:
        from t3d_ros.offline.eval.scan_poses import scan_poses

        poses = scan_poses(clouds)
        steps = np.hypot(np.diff([p.x for p in poses]), np.diff([p.y for p in poses]))
        grounded = _track_real(perception, params, clouds, poses)
        for name, hist in (("sensor_frame", history), ("scan_matched", grounded)):
            out[f"speed_{name}"] = _speed_summary(_speeds(hist))
            out[f"speed_{name}_compact"] = _speed_summary(_speeds(hist, COMPACT))
        out["ego_speed_scan_matched"] = float(steps.mean() / 0.1)
        out["ego_turn_deg"] = math.degrees(poses[-1].yaw - poses[0].yaw)
    if png is not None and clouds:
        _picture(png, clouds[-1], history, len(files))
    return out


def _picture(path: Path, points: np.ndarray, history: dict, n_frames: int) -> None:
    """The last frame from above, with every confirmed track's path over the frames and its last box."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    from t3d_ros.geometry import box_corners_xy

    extent = 35.0
    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    ax.set_facecolor("black")
    p = points[(np.abs(points[:, 0]) < extent) & (np.abs(points[:, 1]) < extent)]
    ax.scatter(-p[:, 1], p[:, 0], s=0.3, c=p[:, 2], cmap="Greys_r", vmin=-2.2, vmax=1.5, linewidths=0)
    for tid, hist in history.items():
        last = hist[-1][1]
        color = CLASS_COLORS.get(last.label, CLASS_COLORS[UNKNOWN])
        path_xy = np.array([d.center[:2] for _, d in hist])
        ax.plot(-path_xy[:, 1], path_xy[:, 0], color=color, lw=1.0)
        if hist[-1][0] == n_frames - 1:
            xy = box_corners_xy(last.center, last.size, last.yaw)
            ax.add_patch(Polygon(np.c_[-xy[:, 1], xy[:, 0]], fill=False, ec=color, lw=1.0))
            if last.label != UNKNOWN and np.abs(last.center[:2]).max() < extent - 1:
                ax.text(-last.center[1], last.center[0] + last.size[0] / 2 + 0.4, f"{last.label} #{tid}",
                        color=color, fontsize=6, ha="center", clip_on=True)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_title(f"{len(history)} tracks over {n_frames} real frames (KITTI odometry, the car drives up); lines: "
                 "each track's path in the sensor frame, boxes: the last frame; white: unknown", fontsize=8)
    ax.set_xlabel("-y [m]")
    ax.set_ylabel("x [m] (driving direction up)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def markdown(res: dict) -> str:
    lines = []
    if "sim" in res:
        s, t = res["sim"], res["sim"]["mot"]
        f, v = s["labels"]["frame_labels"], s["labels"]["tracking"]
        lines += [
            f"Simulated sequences: {s['sequences']} x {s['frames_each']} frames ({s['sensor']}, 10 Hz, moving "
            "objects and ego sensor). Road users with >= 10 returns against the tracks labelled as road users:",
            "",
            "| MOTA | MOTP | id switches | mostly tracked / objects | misses | false positives | object-frames |",
            "|---|---|---|---|---|---|---|",
            f"| {t['mota']:.3f} | {t['motp_m']:.2f} m | {t['id_switches']} | {t['mostly_tracked']} / "
            f"{t['gt_tracks']} | {t['misses']} | {t['false_positives']} | {t['gt_objects']} |",
            "",
            f"Labels of every track on a road user ({v['matches']} object-frames):",
            "",
            "| published label | label accuracy | label changes between consecutive frames |",
            "|---|---|---|",
            f"| the frame's own (no tracking) | {f['label_accuracy']:.3f} | {f['label_flip_rate']:.3f} |",
            f"| the track's vote (tracking) | {v['label_accuracy']:.3f} | {v['label_flip_rate']:.3f} |",
            "",
        ]
        if "track_labels" in s:
            c = s["track_labels"]
            lines += [
                f"Along all {c['tracks']} confirmed tracks ({c['outputs']} outputs, gaps included, no ground truth): "
                f"the voted label changes {c['vote_changes']} times, the frames' own labels "
                f"{c['frame_label_changes']} times; {c['first_vote_differs']} tracks start with a vote that "
                "differs from their first frame's label (bound: vote changes <= frame-label changes + those).",
                "",
            ]
    if "ego_motion" in res:
        e = res["ego_motion"]
        lines += [
            f"Ego motion: {e['sequences']} x {e['frames_each']} frames ({e['sensor']}), driven straight, turning "
            f"at {e['turn_deg_s']:g} deg/s, and along the ego's lane (the road's curve; the road turns "
            f"{e.get('road_turn_deg_median', float('nan')):.1f} degrees a sequence, median); tracks in the sensor's "
            "frame (velocity over the ground = the track's "
            "plus the ego velocity) against tracks with the sensor's poses (`odom_topic`):",
            "",
            "| path | tracks | MOTA | id switches | mostly tracked | voted labels right | velocity error over "
            "ground, median / p90 | standing road users said to move > 1 m/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for path in (p for p in PATHS if f"{p}/sensor_frame" in e):
            for mode, name in (("sensor_frame", "sensor's frame"), ("ego_poses", "with ego poses")):
                r = e[f"{path}/{mode}"]
                lines.append(
                    f"| {PATHS[path]} | {name} | {r['mota']:.3f} | {r['id_switches']} | {r['mostly_tracked']} / "
                    f"{r['gt_tracks']} | {r['label_accuracy']:.3f} | {r['velocity_error_median']:.2f} / "
                    f"{r['velocity_error_p90']:.2f} m/s ({r['velocity_matches']}) | "
                    f"{r['standing_over_1ms']:.2f} ({r['standing_matches']}) |")
        lines.append("")
    if "odometry" in res:
        o = res["odometry"]
        lines += [
            f"Real frames: {o['frames']} consecutive KITTI odometry frames (no labels: stability, not accuracy).",
            "",
            "| tracks confirmed | in every frame after confirmation | median length (frames) | road-user tracks "
            "| label changes, frame labels | label changes, tracking |",
            "|---|---|---|---|---|---|",
            f"| {o['tracks_confirmed']} | {o['tracks_in_every_frame_after_confirmation']} | "
            f"{o['track_length_median']:.0f} | {o['road_user_tracks']} | "
            f"{o['label_change_rate_frame_labels']:.3f} | {o['label_change_rate_tracking']:.3f} |",
            "",
        ]
        if "speed_scan_matched" in o:
            lines += [
                f"The same frames tracked with the sensor's poses from scan matching (KISS-ICP, "
                f"`offline/eval/scan_poses.py`): the car drives {o['ego_speed_scan_matched']:.1f} m/s and turns "
                f"{o['ego_turn_deg']:.1f} degrees over the frames. Speeds of the confirmed tracks' outputs from each "
                f"track's third output on; the street's tracked objects all stand (parked cars, hedges, walls, posts):",
                "",
                "| tracks in | outputs | labelled | speed, median | p90 | moving >= 0.5 m/s |",
                "|---|---|---|---|---|---|",
            ]
            for key, name in (("speed_sensor_frame", "the sensor's frame (relative to it)"),
                              ("speed_scan_matched", "the fixed frame, scan-matched poses (over the ground)")):
                for suffix, which in (("", "all"), ("_compact", "car, truck, pedestrian, cyclist, pole")):
                    v = o[key + suffix]
                    lines.append(f"| {name} | {v['outputs']} | {which} | {v['median']:.2f} m/s | {v['p90']:.2f} m/s | "
                                 f"{v['moving_share']:.2f} |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("config/perception.yaml"), help="node params (shipped)")
    ap.add_argument("--sequences", type=int, default=4, help="simulated sequences (0: none)")
    ap.add_argument("--frames", type=int, default=20, help="frames per simulated sequence")
    ap.add_argument("--sensor", default="hdl64", help="simulated sensor")
    ap.add_argument("--odometry", type=Path, help="folder of consecutive real frames (10 Hz)")
    ap.add_argument("--turn-deg-s", type=float, default=0.0,
                    help="also track the sequences straight and turning at this rate [deg/s], in the sensor's frame "
                    "and with ego poses (0: off)")
    ap.add_argument("--png", type=Path, help="picture of the tracks on the real frames")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/tracking"), help="writes OUT.json, OUT.md")
    args = ap.parse_args(argv)
    params = load_ros_params(args.params)
    params["tracking"] = True
    perception = Perception.from_params(params, warn=lambda m: print(m, file=sys.stderr))
    res: dict = {"params": str(args.params), "model": perception.mode}
    if args.sequences > 0:
        res["sim"] = sim_sequences(perception, params, args.sequences, args.frames, args.sensor)
    if args.sequences > 0 and args.turn_deg_s:
        res["ego_motion"] = ego_motion(perception, params, args.sequences, args.frames, args.sensor, args.turn_deg_s)
    if args.odometry:
        res["odometry"] = odometry(perception, params, args.odometry, args.png)
    text = markdown(res)
    write_results(args.out, res, text, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
