"""t3d_ros: LiDAR object recognition for ROS 2 with a tiny distilled point-cloud network.

The core (this package minus ``t3d_ros.ros``) imports no ROS module and works on numpy arrays.
"""

__version__ = "0.1.0"
