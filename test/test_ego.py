"""Ego motion for the tracker (t3d_ros/track/ego.py): planar poses, odometry lookup by stamp, and
tracks in a fixed frame seen from a turning vehicle."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from t3d_ros.detection import Detection
from t3d_ros.track import OdometryBuffer, Pose2D, Tracker, yaw_of_quaternion

DT = 0.1


def test_pose_apply_inverse_and_compose_agree() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = Pose2D(*rng.uniform(-50, 50, 2), rng.uniform(-math.pi, math.pi))
        b = Pose2D(*rng.uniform(-5, 5, 2), rng.uniform(-math.pi, math.pi))
        xy = rng.uniform(-30, 30, (7, 2))
        np.testing.assert_allclose(a.inverse().apply(a.apply(xy)), xy, atol=1e-9)
        np.testing.assert_allclose(a.compose(b).apply(xy), a.apply(b.apply(xy)), atol=1e-9)
        np.testing.assert_allclose(a.rotate(xy), a.apply(xy) - a.apply(np.zeros((1, 2))), atol=1e-9)
    # a sensor 1 m ahead of base_link, the vehicle turned 90 degrees left: the sensor is at (0, 1)
    s = Pose2D(0.0, 0.0, math.pi / 2).compose(Pose2D(1.0, 0.0, 0.0))
    assert (s.x, s.y, s.yaw) == pytest.approx((0.0, 1.0, math.pi / 2))


@pytest.mark.parametrize("roll, pitch, yaw", [(0, 0, 30), (0, 0, -170), (5, -8, 100), (-3, 12, -45)])
def test_yaw_of_quaternion_is_the_heading_of_the_x_axis(roll: float, pitch: float, yaw: float) -> None:
    q = Rotation.from_euler("xyz", [roll, pitch, yaw], degrees=True)  # URDF rpy: yaw applied last
    x_axis = q.apply([1.0, 0.0, 0.0])
    assert yaw_of_quaternion(*q.as_quat()) == pytest.approx(math.atan2(x_axis[1], x_axis[0]), abs=1e-9)
    assert yaw_of_quaternion(*(2.0 * q.as_quat())) == pytest.approx(math.radians(yaw), abs=1e-9)


@pytest.mark.parametrize("q", [(0.0, 0.0, 0.0, 0.0), (0.0, 0.0, float("nan"), 1.0), (float("inf"), 0.0, 0.0, 1.0)])
def test_a_quaternion_that_is_no_rotation_is_refused(q) -> None:
    with pytest.raises(ValueError, match="not a rotation"):
        yaw_of_quaternion(*q)


def test_odometry_buffer_interpolates_extrapolates_and_refuses() -> None:
    buf = OdometryBuffer(keep_s=1.0)
    assert buf.pose_at(0.0) is None  # empty
    buf.add(10.0, Pose2D(0.0, 0.0, math.radians(170)))
    assert buf.pose_at(10.05) == Pose2D(0.0, 0.0, math.radians(170))  # one pose: held for max_gap_s
    buf.add(10.1, Pose2D(1.0, 2.0, math.radians(-170)))
    mid = buf.pose_at(10.05)
    assert (mid.x, mid.y) == pytest.approx((0.5, 1.0))
    assert abs(mid.yaw) == pytest.approx(math.pi)  # across the wrap, not through 0
    ahead = buf.pose_at(10.15)  # beyond the newest: constant velocity of the last two
    assert (ahead.x, ahead.y) == pytest.approx((1.5, 3.0))
    assert math.degrees(ahead.yaw) == pytest.approx(-160)
    assert buf.pose_at(10.1 + 0.25) is None  # beyond max_gap_s
    assert buf.pose_at(10.1 + 0.25, max_gap_s=0.3) is not None
    assert buf.pose_at(9.99) is None  # older than the oldest
    buf.add(10.6, Pose2D(5.0, 2.0, 0.0))
    assert buf.pose_at(10.3) is None  # 0.5 s between the poses around it
    assert buf.pose_at(10.3, max_gap_s=0.6) is not None
    for k in range(30):
        buf.add(11.0 + 0.1 * k, Pose2D(float(k), 0.0, 0.0))
    assert len(buf) == 11  # keep_s = 1 s
    buf.add(3.0, Pose2D())  # time went back (a bag looping): the old poses go
    assert len(buf) == 1 and buf.latest_stamp == 3.0
    with pytest.raises(ValueError, match="not finite"):
        buf.add(4.0, Pose2D(float("nan"), 0.0, 0.0))


def _turning_street(omega: float, speed: float, frames: int, sensor_on_base: Pose2D | None = None):
    """Parked cars along a street seen from a vehicle that drives an arc: per frame the sensor's pose in
    the fixed frame and the cars' detections in the sensor's frame."""
    cars = np.array([[x, side] for x in range(6, 46, 8) for side in (-5.0, 7.0)], dtype=float)
    out = []
    for k in range(frames):
        t = k * DT
        base = Pose2D(speed / omega * math.sin(omega * t), speed / omega * (1 - math.cos(omega * t)), omega * t)
        sensor = base.compose(sensor_on_base or Pose2D())
        xy = sensor.inverse().apply(cars)
        dets = [Detection("car", 0.9, np.array([x, y, 0.8]), np.array([4.5, 1.8, 1.5]), 0.3 - sensor.yaw, 200)
                for x, y in xy]
        out.append((base, sensor, dets))
    return out


def test_tracks_in_the_fixed_frame_stand_still_in_a_turn() -> None:
    street = _turning_street(omega=0.6, speed=6.0, frames=20)
    fixed, moving = Tracker(), Tracker()
    for k, (_, sensor, dets) in enumerate(street):
        with_ego = fixed.update(dets, k * DT, ego=sensor)
        without = moving.update(dets, k * DT)
    assert len({o.track_id for o in with_ego}) == len(with_ego) and all(o.track_id > 0 for o in with_ego)
    assert all(o.hits == 20 for o in with_ego)  # one track per car all the way through the turn
    speeds = np.array([np.linalg.norm(o.velocity) for o in with_ego])
    assert speeds.max() < 0.3  # parked cars stand still over the ground
    # the headings come back in the sensor's frame: the detections' yaw
    last = street[-1][2]
    for o, d in zip(with_ego, last, strict=True):
        assert math.cos(2 * (o.yaw - d.yaw)) == pytest.approx(1.0, abs=1e-3)
    # in the sensor's frame the same cars sweep past at the ego speed plus turn rate x range
    assert np.median([np.linalg.norm(o.velocity) for o in without]) > 6.0
    # the velocity comes back in the sensor's axes: over the ground, turned into the sensor frame
    mover = Tracker()
    for k, (_, sensor, _) in enumerate(street):
        w = np.array([[2.0 * k * DT, 30.0]])  # an object driving along world +x at 2 m/s
        xy = sensor.inverse().apply(w)[0]
        o = mover.update([Detection("car", 0.9, np.array([*xy, 0.8]), np.array([4.5, 1.8, 1.5]), 0.0, 200)],
                         k * DT, ego=sensor)[0]
    np.testing.assert_allclose(sensor.rotate(o.velocity[None])[0], [2.0, 0.0], atol=0.1)


def test_a_sensor_off_the_rear_axle_is_composed() -> None:
    """The same street with the sensor 1.5 m ahead of base_link, turned 90 degrees: the tracker given
    base pose composed with the sensor's place sees standing cars, given the base pose alone it does not."""
    on_base = Pose2D(1.5, 0.0, math.pi / 2)
    street = _turning_street(omega=0.6, speed=6.0, frames=15, sensor_on_base=on_base)
    right, wrong = Tracker(), Tracker()
    for k, (base, _, dets) in enumerate(street):
        good = right.update(dets, k * DT, ego=base.compose(on_base))
        bad = wrong.update(dets, k * DT, ego=base)
    assert max(np.linalg.norm(o.velocity) for o in good) < 0.3
    assert np.median([np.linalg.norm(o.velocity) for o in bad]) > 3.0


def test_switching_between_fixed_and_sensor_frame_starts_over() -> None:
    tr = Tracker()
    d = [Detection("car", 0.9, np.array([10.0, 0.0, 0.8]), np.array([4.5, 1.8, 1.5]), 0.0, 200)]
    for k in range(3):
        first = tr.update(d, k * DT)[0]
    assert first.track_id == 1
    after = tr.update(d, 3 * DT, ego=Pose2D(100.0, 0.0, 0.0))[0]
    assert after.track_id == 0 and after.hits == 1  # a new tentative track in the odometry frame
    assert tr.update(d, 4 * DT, ego=Pose2D(100.0, 0.0, 0.0))[0].track_id == 2  # ids are never reused
