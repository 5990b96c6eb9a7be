"""Multi-object tracking of detections over frames (core: no ROS, no torch). See ``tracker.py``."""

from t3d_ros.track.ego import OdometryBuffer, Pose2D, yaw_of_quaternion
from t3d_ros.track.tracker import TrackedObject, Tracker, TrackerConfig

__all__ = ["OdometryBuffer", "Pose2D", "TrackedObject", "Tracker", "TrackerConfig", "yaw_of_quaternion"]
