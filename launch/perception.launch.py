"""Start perception_node on a LiDAR topic.

    ros2 launch t3d_ros perception.launch.py cloud_topic:=/points
    ros2 launch t3d_ros perception.launch.py params_file:=/path/my.yaml model:=/path/model.onnx device:=cpu
    ros2 launch t3d_ros perception.launch.py cloud_topic:=/points odom_topic:=/odometry/filtered
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def _node(context, *args, **kwargs):
    overrides = {
        "cloud_topic": LaunchConfiguration("cloud_topic").perform(context),
        "device": LaunchConfiguration("device").perform(context),
    }
    model = LaunchConfiguration("model").perform(context)
    if model:  # empty keeps the params file's model_path
        overrides["model_path"] = model
    odom = LaunchConfiguration("odom_topic").perform(context)
    if odom:  # empty keeps the params file's odom_topic
        overrides["odom_topic"] = odom
    return [
        Node(
            package="t3d_ros",
            executable="perception_node",
            name="perception_node",
            output="screen",
            emulate_tty=True,
            parameters=[LaunchConfiguration("params_file"), overrides],
        )
    ]


def generate_launch_description() -> LaunchDescription:
    default_params = PathJoinSubstitution([FindPackageShare("t3d_ros"), "config", "perception.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument("cloud_topic", default_value="points", description="input PointCloud2 topic"),
        DeclareLaunchArgument("params_file", default_value=default_params, description="node parameter file"),
        DeclareLaunchArgument("model", default_value="",
                              description="classifier model bundle; empty = the params file's model_path"),
        DeclareLaunchArgument("device", default_value="auto", description="classifier device: auto, cpu, cuda"),
        DeclareLaunchArgument("odom_topic", default_value="",
                              description="the vehicle's nav_msgs/Odometry: tracks in its fixed frame, velocities "
                                          "over the ground; empty = the params file's odom_topic"),
        OpaqueFunction(function=_node),
    ])
