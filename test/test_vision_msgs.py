"""vision_msgs (built from source into .venv/vision_msgs by scripts/build_vision_msgs.sh) imports and serializes."""

from __future__ import annotations

import math

import pytest
from conftest import IN_CI

try:
    from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose
except ImportError as exc:  # not built, or its prefix not sourced
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

HOW_TO = ("vision_msgs is not importable: run `make setup` (or `bash scripts/build_vision_msgs.sh`), "
          "then `. .venv/vision_msgs/install/local_setup.sh` (the make targets source it)")


def require_vision_msgs() -> None:
    """Skips without vision_msgs, except under CI (`make test` builds and sources it there): then it fails."""
    if _IMPORT_ERROR is not None:
        if IN_CI:
            pytest.fail(f"{HOW_TO} ({_IMPORT_ERROR})")
        pytest.skip(f"{HOW_TO} ({_IMPORT_ERROR})")


def _detection_array() -> Detection3DArray:
    msg = Detection3DArray()
    msg.header.frame_id = "velodyne"
    msg.header.stamp.sec = 1_700_000_000
    msg.header.stamp.nanosec = 123_456_789

    det = Detection3D()
    det.header = msg.header
    det.id = "track-7"
    yaw = 0.6
    det.bbox.center.position.x = 12.5
    det.bbox.center.position.y = -3.25
    det.bbox.center.position.z = -0.8
    det.bbox.center.orientation.z = math.sin(yaw / 2)
    det.bbox.center.orientation.w = math.cos(yaw / 2)
    det.bbox.size.x = 4.2
    det.bbox.size.y = 1.8
    det.bbox.size.z = 1.5

    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = "car"
    hyp.hypothesis.score = 0.87
    hyp.pose.pose = det.bbox.center
    det.results.append(hyp)

    msg.detections.append(det)
    return msg


def test_detection3d_array_round_trips() -> None:
    require_vision_msgs()
    from rclpy.serialization import deserialize_message, serialize_message

    msg = _detection_array()
    data = serialize_message(msg)
    assert isinstance(data, bytes) and len(data) > 0
    back = deserialize_message(data, Detection3DArray)

    assert back == msg
    assert len(back.detections) == 1
    det = back.detections[0]
    assert det.id == "track-7"
    assert det.header.frame_id == "velodyne"
    assert det.bbox.size.x == pytest.approx(4.2)
    yaw = 2 * math.atan2(det.bbox.center.orientation.z, det.bbox.center.orientation.w)
    assert yaw == pytest.approx(0.6)
    assert [(r.hypothesis.class_id, r.hypothesis.score) for r in det.results] == [("car", 0.87)]
    assert back.header.stamp.nanosec == 123_456_789
