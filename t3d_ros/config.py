"""The node's parameters and ROS parameter files, shared by the node and the command line.

``NODE_PARAMS`` lists the parameters that are not segmentation settings (those are the fields of
``PipelineConfig``); ``load_ros_params`` reads a ROS 2 params YAML; ``pipeline_config`` turns
parameters into a validated ``PipelineConfig``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from t3d_ros.classify.classifier import SHIPPED_MODEL
from t3d_ros.segment.config import PipelineConfig

# Node parameters that are not pipeline settings: (name, default, description, read_only, range).
NODE_PARAMS: list[tuple[str, object, str, bool, tuple[float, float] | None]] = [
    ("cloud_topic", "points", "Input sensor_msgs/PointCloud2 topic (sensor-data QoS).", True, None),
    ("model_path", SHIPPED_MODEL, "Classifier model card (.json; a bare name is looked up in "
     "share/t3d_ros/models; default: the shipped model); empty = clustering only (every cluster 'unknown').",
     True, None),
    ("device", "auto", "Classifier device: auto (the GPU when there is one), cpu or cuda.", True, None),
    ("backend", "auto", "Classifier runtime: auto (ONNX Runtime when installed), onnxruntime or torch.", True, None),
    ("score_threshold", 0.0, "Clusters scoring below this [0-1] are labelled 'unknown' (never dropped); a floor "
     "for every class, on top of class_thresholds.", False, (0.0, 1.0)),
    ("class_thresholds", "", "Per-class score thresholds [0-1], e.g. 'car:0.8,pedestrian:0.7'; below its class's "
     "threshold a label becomes 'unknown'; classes not named have none, and the same values hold for sparse "
     "clusters. Empty = the model card's (chosen on simulated validation data: car, truck, pedestrian and cyclist "
     "labels 97% right there, the other classes 90%; stricter ones for clusters of few returns).",
     False, None),
    ("size_check", True, "Lower a label to 'unknown' when the cluster's box cannot hold an object of that class "
     "(a 6 m pedestrian, a 0.3 m car) or a road user's lowest return floats above the local ground (a car 2 m up "
     "is a tree crown); limits in classify/postcheck.py.", False, None),
    ("publish_markers", True, "Publish ~/markers (MarkerArray).", False, None),
    ("publish_clusters", True, "Publish ~/clusters (PointCloud2 with instance and class_id).", False, None),
    ("publish_detections", True, "Publish ~/detections (vision_msgs/Detection3DArray: oriented boxes, class and "
     "score with the runners-up, track id).", False, None),
    ("publish_detections_json", False, "Publish ~/detections_json (JSON in std_msgs/String, the contract of "
     "`python -m t3d_ros detect`, with stage times).", False, None),
    ("tracking", True, "Track objects over frames: stable ids, velocities, and labels voted over each track's "
     "frames (so they do not flicker).", False, None),
    ("track_gate", 2.0, "Largest distance from a track's predicted centre to a detection that continues it [m].",
     False, (0.1, 20.0)),
    ("track_min_hits", 2, "Detections before a track is confirmed and gets an id.", False, (1, 100)),
    ("track_max_misses", 3, "Frames in a row without a detection before a track ends.", False, (0, 100)),
    ("track_min_label_hits", 1, "Frames in which a track's detection must carry a class before the track is "
     "published with it; before, `unknown` with the class as its guess. 1 = at once; 2 holds back a label seen "
     "in one frame only (fewer false road users, each label one frame later).", False, (1, 100)),
    ("track_reset_share", 0.2, "When fewer than this share of the confirmed tracks (5 or more) find a detection, "
     "the frame is taken as another scene (independent frames, a bag that jumps) and the tracks start over, so "
     "that no track votes its label onto an unrelated object; consecutive frames continue 0.5-0.9 of them. "
     "0 = off.", False, (0.0, 0.99)),
    ("odom_topic", "", "nav_msgs/Odometry of the vehicle (wheel odometry, robot_localization's odometry/filtered, "
     "a LiDAR odometry); when set, tracks live in its fixed frame: standing objects stand still also in turns "
     "and track velocities are over the ground (else relative to the sensor). Empty = off.", True, None),
    ("odom_max_gap", 0.2, "Largest time [s] between odometry poses around a cloud's stamp, and beyond the newest "
     "pose, at which the pose is still interpolated (extrapolated); a cloud without one is published untracked.",
     False, (0.01, 5.0)),
    ("sensor_x", 0.0, "The sensor's position ahead of the odometry's child frame (base_link) [m]; with odom_topic.",
     True, (-100.0, 100.0)),
    ("sensor_y", 0.0, "The sensor's position left of the odometry's child frame (base_link) [m]; with odom_topic.",
     True, (-100.0, 100.0)),
    ("sensor_yaw_deg", 0.0, "The sensor's heading on the vehicle against base_link's x axis [deg, counter-clockwise "
     "seen from above]; with odom_topic.", True, (-180.0, 180.0)),
    ("marker_lifetime", 1.0, "Marker lifetime [s]; boxes vanish this long after the last frame (0 = forever).",
     False, (0.0, 3600.0)),
    ("diagnostics_period", 1.0, "Period of /diagnostics messages [s].", True, (0.1, 60.0)),
    ("max_frame_age", 0.5, "Drop a cloud older than this when its callback starts [s] (its stamp against the "
     "node's clock): after a slow frame, work on fresh data instead of catching up; 0 = off.", False, (0.0, 10.0)),
]


def load_ros_params(path: str | Path) -> dict[str, Any]:
    """The ``ros__parameters`` of a ROS 2 parameter file, nested keys joined with dots.

    Takes the ``/**`` section, or else the first node section in the file.
    """
    import yaml

    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:  # one line: where and what, not the parser's traceback
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise ValueError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(doc, dict) or not doc:
        raise ValueError(f"{path}: not a ROS 2 parameter file (expected '/**: ros__parameters: ...')")
    section = doc.get("/**", next(iter(doc.values())))
    if not isinstance(section, dict) or "ros__parameters" not in section:
        raise ValueError(f"{path}: no 'ros__parameters' section")
    flat: dict[str, Any] = {}

    def walk(prefix: str, d: dict) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    walk("", section["ros__parameters"] or {})
    return flat


def as_bool(name: str, value: Any) -> bool:
    """A boolean parameter's value: a bool, or the word true/false in any case (a params file that
    quotes it, a command-line override). ``bool("false")`` is True, so nothing else is accepted."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in ("true", "false"):
        raise ValueError(f"{name}={value!r}: must be true or false")
    return word == "true"


TRACK_PARAMS = ("tracking", "track_gate", "track_min_hits", "track_max_misses", "track_min_label_hits",
                "track_reset_share")


def tracker_config(params: dict[str, Any]):
    """The ``TrackerConfig`` of the node's ``track_*`` parameters (validated), or None with
    ``tracking: false``."""
    from t3d_ros.track import TrackerConfig

    if not as_bool("tracking", params.get("tracking", True)):
        return None
    cfg = TrackerConfig(gate_m=float(params.get("track_gate", 2.0)), min_hits=int(params.get("track_min_hits", 2)),
                        max_misses=int(params.get("track_max_misses", 3)),
                        min_label_hits=int(params.get("track_min_label_hits", 1)),
                        reset_share=float(params.get("track_reset_share", 0.2)))
    cfg.validate()
    return cfg


def pipeline_config(params: dict[str, Any], base: PipelineConfig | None = None) -> PipelineConfig:
    """``base`` (or the defaults) with every parameter that names a PipelineConfig field applied,
    converted to the field's type; validated."""
    base = base or PipelineConfig()
    changes = {}
    for f in dataclasses.fields(PipelineConfig):
        if f.name in params:
            default, value = getattr(base, f.name), params[f.name]
            if isinstance(default, bool):
                changes[f.name] = as_bool(f.name, value)
                continue
            try:
                changes[f.name] = type(default)(value)
            except (TypeError, ValueError, OverflowError):
                kind = {float: "a number", int: "an integer"}.get(type(default), "a string")
                raise ValueError(f"{f.name}={value!r}: must be {kind}") from None
    config = dataclasses.replace(base, **changes)
    config.validate()
    return config


# Parameters that every ROS 2 node has (rclpy declares them itself).
ROS_BUILTIN_PARAMS = ("use_sim_time", "start_type_description_service")


def known_params() -> list[str]:
    """Every parameter name perception_node declares."""
    return [p[0] for p in NODE_PARAMS] + [f.name for f in dataclasses.fields(PipelineConfig)] + list(ROS_BUILTIN_PARAMS)


def unknown_params(names) -> list[str]:
    """The names in ``names`` that are no parameter of perception_node (a misspelling the node would
    silently ignore), each with the closest known name when there is one: ``cluster_tolerence (did you
    mean cluster_tolerance?)``."""
    import difflib

    known = known_params()
    out = []
    for name in sorted(set(names) - set(known)):
        close = difflib.get_close_matches(name, known, n=1)
        out.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return out
