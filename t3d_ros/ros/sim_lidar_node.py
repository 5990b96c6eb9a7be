"""sim_lidar_node: a simulated LiDAR that publishes PointCloud2 like a real driver does.

Scenes come from ``t3d_ros.offline.sim``; each frame is published in the chosen sensor's real field layout
(Velodyne: x,y,z,intensity,ring,time in 22 packed bytes, organized with width = lasers; Ouster: the
48-byte padded point, organized rings x columns), NaN where a beam has no return. ``pool_size``
distinct scenes are simulated and serialised once at start-up and then published in turn at the
sensor rate, so publishing costs nothing per frame and the simulator never competes with the
perception node for the CPU. Optional ground-truth boxes go to ``~/ground_truth`` (MarkerArray). With
``sequence`` the sensor's motion goes to ``odom_topic`` (``nav_msgs/Odometry``, odom -> the cloud's
frame, stamped like each cloud and sent before it), as a vehicle's odometry would.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from t3d_ros.detection import Detection, to_cloud_frame
from t3d_ros.offline.sim import SENSORS, simulate
from t3d_ros.offline.sim.driver import frame_to_array, ground_truth_detections  # also imported from here by tests
from t3d_ros.ros.convert import array_to_msg, detections_to_markers
from t3d_ros.ros.spin import declare, run_node
from t3d_ros.segment.level import mount_rotation, turn_points


class SimLidarNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim_lidar_node", **kwargs)

        def param(name, default, description, rng=None):
            d = ParameterDescriptor(name=name, description=description, read_only=True)
            if rng and isinstance(default, float):
                d.floating_point_range = [FloatingPointRange(from_value=rng[0], to_value=rng[1])]
            elif rng:
                d.integer_range = [IntegerRange(from_value=rng[0], to_value=rng[1], step=1)]
            return declare(self, name, default, d).value

        sensor_name = param("sensor", "hdl64", f"Sensor model: {', '.join(SENSORS)}.")
        rate = param("rate_hz", 0.0, "Publish rate [Hz]; 0 = the sensor's spin rate. In a sequence the scene "
                     "moves on 1 / rate a frame.", (0.0, 100.0))
        seed = param("seed", 0, "Scene seed; frame i uses seed + i.", (0, 2**31 - 1))
        frame_id = param("frame_id", "lidar", "frame_id of the published clouds.")
        density = param("density", 1.0, "Scene density: scales the number of objects (1 = a busy street).",
                          (0.0, 5.0))
        pool = param("pool_size", 8, "Distinct scenes simulated at start-up and published in turn (with "
                       "sequence: the frames of the one moving scene).", (1, 1000))
        sequence = param("sequence", False, "Publish one scene in motion (traffic and people moving, the sensor "
                           "driving on, ground truth with track ids; `sim --sequence`) instead of independent "
                           "scenes; its pool_size frames are published in a loop.")
        follow_road = param("follow_road", True, "With sequence: the sensor drives along its lane, turning with "
                            "the road (its odometry carries the heading); false: straight ahead along the scene's "
                            "x axis, whatever the road does.")
        organized = param("organized", True, "Publish organized clouds (rings x columns, NaN = no return).")
        self.publish_gt = param("publish_ground_truth", True, "Publish ~/ground_truth boxes (MarkerArray).")
        topic = param("topic", "points", "Output PointCloud2 topic.")
        odom_topic = param("odom_topic", "odom", "With sequence: the sensor's pose in the scene's fixed frame "
                           "'odom' (nav_msgs/Odometry, child frame = frame_id), for perception_node's odom_topic; "
                           "empty = off.")
        roll = param("mount_roll_deg", 0.0, "Publish the clouds (and ground truth) as a sensor mounted with this "
                       "roll reports them [deg; positive lowers the right side]: the scan is taken level, then "
                       "turned. To try perception_node's sensor_roll_deg.", (-180.0, 180.0))
        pitch = param("mount_pitch_deg", 0.0, "The same for the pitch [deg; positive looks down]: perception_node "
                        "needs sensor_pitch_deg set to the same value.", (-180.0, 180.0))
        if sensor_name not in SENSORS:
            raise ValueError(f"parameter sensor={sensor_name!r} is not one of {', '.join(SENSORS)}")
        sensor = SENSORS[sensor_name]
        self.frame_id = frame_id

        t0 = time.perf_counter()
        self.pool: list[tuple[PointCloud2, list[Detection], np.ndarray | None]] = []
        mount = mount_rotation(roll, pitch)  # p_level = mount @ p_sensor
        period_s = 1.0 / (rate or sensor.rate_hz)  # the scene moves on as much as the clock between clouds
        for frame, truth, ego in (_sequence(seed, sensor_name, pool, density, period_s, follow_road) if sequence else
                                  _scenes(seed, sensor_name, pool, density)):
            array, height = frame_to_array(frame, sensor, organized)
            if mount is not None:  # what a sensor mounted so reports (NaN slots stay NaN)
                xyz = turn_points(np.c_[array["x"], array["y"], array["z"]], mount.T)
                array["x"], array["y"], array["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
                truth = to_cloud_frame(truth, mount.T)
            msg = array_to_msg(array, Header(frame_id=frame_id), height=height, is_dense=not organized)
            self.pool.append((msg, truth, ego))
        self.get_logger().info(
            f"simulated {pool} {sensor_name} frame(s){' of one moving scene' if sequence else ''} in "
            f"{time.perf_counter() - t0:.1f} s; publishing "
            f"'{self.resolve_topic_name(topic)}' at {rate or sensor.rate_hz:g} Hz in the {sensor.layout} layout"
            f"{' (organized)' if organized else ''}"
            f"{f', as a sensor mounted with roll {roll:g} and pitch {pitch:g} degrees' if mount is not None else ''}"
        )
        # Drivers publish sensor data best effort; a best-effort subscriber would miss nothing here.
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.pub = self.create_publisher(PointCloud2, topic, qos)
        self.pub_gt = self.create_publisher(MarkerArray, "~/ground_truth", 2)
        self.pub_odom = None
        if sequence and odom_topic:
            from nav_msgs.msg import Odometry

            self._odometry = Odometry(child_frame_id=frame_id)
            self._odometry.header.frame_id = "odom"
            self.pub_odom = self.create_publisher(Odometry, odom_topic, 10)
        self.index = 0
        self.create_timer(period_s, self._tick)

    def _tick(self) -> None:
        msg, truth, ego = self.pool[self.index % len(self.pool)]
        self.index += 1
        msg.header.stamp = self.get_clock().now().to_msg()
        if self.pub_odom is not None and ego is not None:  # first: the pose is there when the cloud arrives
            odom = self._odometry
            odom.header.stamp = msg.header.stamp
            position = odom.pose.pose.position
            position.x, position.y, position.z = (float(v) for v in ego[:3])
            odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(0.5 * ego[4]), math.cos(0.5 * ego[4])
            odom.twist.twist.linear.x = float(ego[3])  # forward, in the sensor's (child frame's) axes
            self.pub_odom.publish(odom)
        self.pub.publish(msg)
        if self.publish_gt:
            self.pub_gt.publish(detections_to_markers(truth, msg.header, 0.0, ns="ground_truth"))


def _scenes(seed: int, sensor: str, n: int, density: float):
    """(frame, ground truth, None) of ``n`` independent scenes."""
    for i in range(n):
        scene, frame = simulate(seed + i, sensor, density)
        yield frame, ground_truth_detections(scene, frame), None


def _sequence(seed: int, sensor: str, n: int, density: float, period_s: float = 0.1, follow_road: bool = False):
    """(frame, ground truth with track ids and velocities, the sensor's (x, y, z, speed, heading) in the
    scene) of ``n`` frames of one moving scene, ``period_s`` seconds apart (``follow_road``: along the
    ego's lane, ``offline/sim/sequence.py``)."""
    from t3d_ros.offline.sim.sequence import iter_sequence

    for sf in iter_sequence(seed, sensor, frames=n, period_s=period_s, density=density, follow_road=follow_road):
        truth = [Detection(o.label, 1.0, o.center, o.size, o.yaw, o.num_points, track_id=o.instance_id,
                           velocity=o.velocity - sf.ego_velocity)  # relative to the sensor, like the node's
                 for o in sf.objects if o.num_points >= 5]
        yield sf.frame, truth, np.r_[sf.ego_position, sf.ego_velocity[0], sf.ego_yaw]


def main(args: list[str] | None = None) -> int:
    return run_node(SimLidarNode, "sim_lidar_node", args)


if __name__ == "__main__":
    sys.exit(main())
