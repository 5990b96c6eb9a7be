"""Simulated LiDAR + perception_node (+ rviz2): the package without a sensor.

    ros2 launch t3d_ros sim_demo.launch.py sensor:=os1-128 rviz:=true
    ros2 launch t3d_ros sim_demo.launch.py mount_pitch_deg:=10.0   # a sensor tilted down, and the node told so
"""

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("t3d_ros")
    return LaunchDescription([
        DeclareLaunchArgument("sensor", default_value="hdl64",
                              description="vlp16, hdl32, hdl64, os1-128 (trained on); vlp32c, hdl32-20hz, os1-64, "
                                          "os1-32 (never trained on)"),
        DeclareLaunchArgument("rviz", default_value="true", description="start rviz2 with the package's view"),
        DeclareLaunchArgument("mount_roll_deg", default_value="0.0",
                              description="the simulated sensor's mounting roll, degrees (positive lowers the right "
                                          "side); perception_node is told the same (sensor_roll_deg)"),
        DeclareLaunchArgument("mount_pitch_deg", default_value="0.0",
                              description="the simulated sensor's mounting pitch, degrees (positive looks down); "
                                          "perception_node is told the same (sensor_pitch_deg)"),
        Node(
            package="t3d_ros",
            executable="sim_lidar_node",
            name="sim_lidar_node",
            output="screen",
            parameters=[PathJoinSubstitution([share, "config", "sim.yaml"]),
                        {"sensor": LaunchConfiguration("sensor"), "topic": "points",
                         "mount_roll_deg": LaunchConfiguration("mount_roll_deg"),
                         "mount_pitch_deg": LaunchConfiguration("mount_pitch_deg")}],
        ),
        Node(
            package="t3d_ros",
            executable="perception_node",
            name="perception_node",
            output="screen",
            parameters=[PathJoinSubstitution([share, "config", "perception.yaml"]),
                        {"cloud_topic": "points", "odom_topic": "odom",  # the simulated ego's odometry
                         "sensor_roll_deg": LaunchConfiguration("mount_roll_deg"),
                         "sensor_pitch_deg": LaunchConfiguration("mount_pitch_deg")}],
        ),
        Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            arguments=["-d", PathJoinSubstitution([share, "config", "t3d_ros.rviz"])],
            condition=IfCondition(LaunchConfiguration("rviz")),
        ),
    ])
