"""Simulated LiDAR world: random street scenes, real sensor beam patterns, exact ray casting.

The default input of the package and the training data of its classifier. Imports no ROS module.
"""

from t3d_ros.offline.sim.lidar import Frame, scan, simulate
from t3d_ros.offline.sim.scene import Scene, SimObject, generate_scene
from t3d_ros.offline.sim.sensors import SENSORS, SensorModel, get_sensor

__all__ = [
    "SENSORS",
    "Frame",
    "Scene",
    "SensorModel",
    "SimObject",
    "generate_scene",
    "get_sensor",
    "scan",
    "simulate",
]
