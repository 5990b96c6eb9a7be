"""Multi-object tracking of detections over frames (core: no ROS, no torch). See ``tracker.py``."""

from t3d_ros.track.tracker import TrackedObject, Tracker, TrackerConfig

__all__ = ["TrackedObject", "Tracker", "TrackerConfig"]
