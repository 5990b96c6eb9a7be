"""ROS message <-> core conversions: PointCloud2, MarkerArray, DiagnosticArray."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from t3d_ros.classes import CLASS_COLORS, ROAD_USERS, UNKNOWN
from t3d_ros.detection import Detection
from t3d_ros.io.cloud import Field, cloud_view, layout_of, points_from_view


def msg_view(msg: PointCloud2) -> np.ndarray:
    """Zero-copy structured (height, width) view of a PointCloud2; raises ``CloudError``."""
    fields = [Field(f.name, f.offset, f.datatype, f.count) for f in msg.fields]
    return cloud_view(msg.data, fields, msg.point_step, msg.width, msg.height, msg.row_step, msg.is_bigendian)


def msg_to_points(msg: PointCloud2) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity of the finite points; raises ``CloudError``."""
    return points_from_view(msg_view(msg))


def array_to_msg(array: np.ndarray, header: Header, height: int = 1, is_dense: bool = True) -> PointCloud2:
    """A PointCloud2 carrying a structured ``array`` (N,) as ``height`` rows; copies once."""
    layout = layout_of(array)
    msg = PointCloud2()
    msg.header = header
    msg.height = height
    msg.width = array.shape[0] // height if height else 0
    msg.fields = [PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count) for f in layout.fields]
    msg.is_bigendian = array.dtype.fields[layout.fields[0].name][0].byteorder == ">" if layout.fields else False
    msg.point_step = layout.point_step
    msg.row_step = layout.point_step * msg.width
    msg.is_dense = is_dense
    msg.data = array.tobytes()
    return msg


def _quaternion(det: Detection) -> Quaternion:
    """The box's orientation in the cloud's frame (its yaw, or a tilted sensor's full turn)."""
    x, y, z, w = det.quaternion()
    return Quaternion(x=x, y=y, z=z, w=w)


def _color(label: str, alpha: float) -> ColorRGBA:
    r, g, b = CLASS_COLORS.get(label, CLASS_COLORS[UNKNOWN])
    return ColorRGBA(r=r, g=g, b=b, a=alpha)


ARROW_MIN_SPEED = 0.5  # m/s: slower tracks get no velocity arrow (a standing object's filter jitter)
# Only what can move gets an arrow: a hedge's or a wall's fragment "moves" as the part of it in view
# changes while the vehicle drives past (the real odometry street with scan-matched poses: 284 of
# the 380 confirmed outputs over 0.5 m/s were vegetation, structure or pole, 87 unknown, 9 road users).
ARROW_LABELS = frozenset(ROAD_USERS)


def detections_to_markers(
    detections: Sequence[Detection], header: Header, lifetime_s: float = 0.0, ns: str = "t3d_ros",
    velocity_arrows: bool = False, level_to_cloud: np.ndarray | None = None,
) -> MarkerArray:
    """DELETEALL (so no stale box stays in rviz), then per detection an oriented CUBE coloured by
    class and a TEXT label with the track id and the score above it ("car #12 0.87"; below its class's
    threshold "unknown car? #12 0.62": the network's guess and its score). Marker ids:
    2*i (box) and 2*i+1 (text). ``velocity_arrows`` (the node sets it when its velocities are over the
    ground: ``odom_topic``): then an ARROW from the centre of every road-user track (``ARROW_LABELS``)
    moving at ARROW_MIN_SPEED or more to where it will be in 1 s, ids from 2*len(detections); a tilted
    sensor's level-frame velocities are turned into the cloud's frame by ``level_to_cloud`` (3, 3)."""
    clear = Marker(header=header, ns=ns, action=Marker.DELETEALL)
    life = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1.0) * 1e9))
    # Markers are shallow copies of two templates, given new pose/scale/colour objects: a Marker()
    # builds ~15 default sub-messages (texture, mesh file, ...) that each marker would then replace;
    # copying is ~2x faster per frame and serialises to the same bytes. Shared sub-messages are
    # never mutated.
    base = Marker(header=header, ns=ns, action=Marker.ADD, lifetime=life)
    box_t, text_t = copy.copy(base), copy.copy(base)
    box_t.type = Marker.CUBE
    text_t.type = Marker.TEXT_VIEW_FACING
    text_t.scale = Vector3(z=0.6)
    colors: dict[str, tuple[ColorRGBA, ColorRGBA]] = {}
    markers = [clear]
    for i, det in enumerate(detections):
        if det.label not in colors:
            colors[det.label] = (_color(det.label, 0.45), _color(det.label, 1.0))
        cx, cy, cz = (float(v) for v in det.center)
        box = copy.copy(box_t)
        box.id = 2 * i
        box.pose = Pose(position=Point(x=cx, y=cy, z=cz),
                        orientation=_quaternion(det))
        sx, sy, sz = (max(float(v), 0.05) for v in det.size)
        box.scale = Vector3(x=sx, y=sy, z=sz)
        box.color = colors[det.label][0]
        text = copy.copy(text_t)
        text.id = 2 * i + 1
        text.pose = Pose(position=Point(x=cx, y=cy, z=float(det.center[2] + det.size[2] / 2 + 0.4)))
        text.color = colors[det.label][1]
        # an unknown label names the network's guess, whose score it is ("unknown car? 0.62")
        name = f"{det.label} {det.guess}?" if det.label == UNKNOWN and det.guess else det.label
        text.text = f"{name} #{det.track_id} {det.score:.2f}" if det.track_id else f"{name} {det.score:.2f}"
        markers += (box, text)
    if velocity_arrows:
        markers += _velocity_arrows(detections, base, colors, 2 * len(detections), level_to_cloud)
    out = MarkerArray()
    out.markers = markers
    return out


def _velocity_arrows(detections: Sequence[Detection], base: Marker, colors: dict, first_id: int,
                     level_to_cloud: np.ndarray | None) -> list[Marker]:
    arrows = []
    turn = np.eye(3) if level_to_cloud is None else np.asarray(level_to_cloud, np.float64)
    for det in detections:
        v = det.velocity
        if (not det.track_id or v is None or det.label not in ARROW_LABELS
                or not np.hypot(v[0], v[1]) >= ARROW_MIN_SPEED):
            continue
        step = turn @ np.array([v[0], v[1], 0.0])
        arrow = copy.copy(base)
        arrow.type, arrow.id = Marker.ARROW, first_id + len(arrows)
        start = np.asarray(det.center, np.float64)
        arrow.points = [Point(x=float(a), y=float(b), z=float(c)) for a, b, c in (start, start + step)]
        arrow.scale = Vector3(x=0.15, y=0.4, z=0.5)  # shaft and head diameter, head length [m]
        arrow.color = colors[det.label][1]
        arrows.append(arrow)
    return arrows


def detections_to_detection3d_array(detections: Sequence[Detection], header: Header):
    """``vision_msgs/Detection3DArray``: per detection an oriented ``bbox`` (centre pose with the yaw
    as a quaternion about +z, size = length, width, height), ``results`` = the published label with
    its score, then the network's runners-up (``Detection.hypotheses``), and ``id`` = the track id
    ("" when untracked). Stamped with the input ``header``. vision_msgs is imported here, so the rest
    of the node runs without it."""
    from geometry_msgs.msg import PoseWithCovariance
    from vision_msgs.msg import (  # optional: only ~/detections needs it
        BoundingBox3D,
        Detection3D,
        Detection3DArray,
        ObjectHypothesis,
        ObjectHypothesisWithPose,
    )

    # As in detections_to_markers: shallow copies of templates, given new sub-messages. A Detection3D()
    # builds an empty PointCloud2 and a hypothesis a 36-float covariance, which each detection would
    # then replace; copies serialise to the same bytes. Shared sub-messages are never mutated.
    det_t, hyp_t, pwc_t = Detection3D(header=header), ObjectHypothesisWithPose(), PoseWithCovariance()
    out = Detection3DArray(header=header)
    items = []
    for det in detections:
        cx, cy, cz = (float(v) for v in det.center)
        pose = Pose(position=Point(x=cx, y=cy, z=cz),
                    orientation=_quaternion(det))
        pwc = copy.copy(pwc_t)
        pwc.pose = pose
        d = copy.copy(det_t)
        d.bbox = BoundingBox3D(center=pose, size=Vector3(x=float(det.size[0]), y=float(det.size[1]),
                                                          z=float(det.size[2])))
        d.id = str(det.track_id) if det.track_id else ""
        results = []
        for class_id, score in [(det.label, float(det.score))] + [(c, p) for c, p in det.hypotheses
                                                                   if c != det.label]:
            hyp = copy.copy(hyp_t)
            hyp.hypothesis = ObjectHypothesis(class_id=class_id, score=float(score))
            hyp.pose = pwc
            results.append(hyp)
        d.results = results
        items.append(d)
    out.detections = items
    return out


def clusters_to_array(points: np.ndarray, offsets: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
    """Structured (sum,) array x, y, z, intensity, instance (uint32, 1..K), class_id (int16,
    index into CLASSES, -2 for unknown) of the packed cluster points, for ``~/clusters``."""
    n = int(offsets[-1]) if len(offsets) else 0
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4"),
                      ("instance", "<u4"), ("class_id", "<i2")])
    out = np.zeros(n, dtype=dtype)
    if n == 0:
        return out
    for col, name in enumerate(("x", "y", "z", "intensity")[: points.shape[1]]):
        out[name] = points[:n, col]
    counts = np.diff(offsets)
    out["instance"] = np.repeat(np.arange(1, len(counts) + 1, dtype=np.uint32), counts)
    out["class_id"] = np.repeat(class_ids.astype(np.int16), counts)
    return out
