"""Sequences of simulated frames: one scene in which traffic and people move while the sensor drives on.

:func:`simulate_sequence` draws one scene (:func:`~t3d_ros.offline.sim.scene.generate_scene`, the same
scene ``simulate(seed)`` scans), makes some of its objects move at constant speed, moves the ego sensor
forward along +x, and ray-casts every frame with the unchanged :func:`~t3d_ros.offline.sim.lidar.scan`
from the sensor's pose of that moment. Points and ground truth come in the SENSOR frame of their frame,
as a driver publishes them; every object keeps its ``instance_id`` (the ground-truth track id).

Frames: the *world* frame is the sensor frame of :func:`simulate` (``generate_scene``'s: the sensor at
the origin looking along +x). By default the ego drives straight along world +x at a constant speed and
never turns, so the sensor axes stay parallel to the world axes and frame 0 is the scan ``simulate``
makes. With ``follow_road`` it drives along its lane of a street scene instead (the road's curve, a road
at any heading), facing along the road: each frame is scanned from the ego's place with axes parallel to
the world's and then turned to the ego's heading (a full revolution from the same place with another
heading holds the same returns, turned; the columns and firing times are shifted with it). Scenes
without a road keep the straight path. The sensor's height follows the ground under it (the sensor stays
level, as ``generate_scene`` has it).

Motion (all at constant speed, drawn per object from the seed):

- Cars and trucks in the driving lanes of a street follow their lane along the road (curves
  included) at 3-12 m/s, ~90 % of them; cars in a cross street drive straight along their heading.
  Parked cars (parking lanes, lots, driveways) and every car of an open-area scene stay.
- Cyclists (riders) ride at 3-7 m/s (~90 %): along the road in a street, straight on an open area.
- Pedestrians (~85 %) walk straight along their heading at 0.8-1.8 m/s.
- Moved objects are rigid copies of their parts, turned about their box centre and lifted or lowered
  with the ground under them (vehicles keep their tilt onto the ground slope).

Collisions, kept simple: a moving object is checked at every frame time against the footprint boxes
(and height intervals) of everything else (standing objects, the moving objects already planned, the
ego vehicle). When its drawn speed would make it hit something, other speeds of its class are tried
(nearest first) and, if none fits, it stands still. Limits: contact is checked at the frame times
only (a fast object could pass through a thin pole between two frames; no scan sees it), the boxes are
the coarse ones the scene builder uses (so moving objects keep a few cm apart but their boxes, not
their shapes, decide), pedestrians of one group walk at their own speeds (a faster one waits), and
objects standing in the ego's swept path (what it would drive into within the sequence, e.g. a car
stopped in its lane or, when the road curves or turns away from +x, the frontage) are LEFT OUT of
every frame so that the sensor never sits inside an object. Without ``follow_road`` the ego does not
steer: on a strongly curved road or a road that does not run along +x it leaves its lane. A scan is
taken at one instant: no motion skew within a revolution. Each frame is scanned with its own seed, so the noise and the
per-unit calibration of :func:`scan` (beam elevations, spin tilt) are redrawn every frame.

Imports no ROS module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from t3d_ros.offline.sim import objects as ob
from t3d_ros.offline.sim._raycast import boxes_free
from t3d_ros.offline.sim.lidar import Frame, scan
from t3d_ros.offline.sim.objects import Part
from t3d_ros.offline.sim.scene import GroundModel, Road, Scene, SimObject, generate_scene
from t3d_ros.offline.sim.sensors import SensorModel, get_sensor

#: speed range (m/s) of each class that moves
SPEEDS: dict[str, tuple[float, float]] = {
    "car": (3.0, 12.0),
    "truck": (3.0, 12.0),
    "cyclist": (3.0, 7.0),
    "pedestrian": (0.8, 1.8),
}
_MOVE_P = {"car": 0.9, "truck": 0.9, "cyclist": 0.9, "pedestrian": 0.85}  # share of the candidates that move
_VEHICLES = ("car", "truck")  # tilted onto the ground slope by the scene builder
_EGO_SPEED_MAX = 10.0  # m/s: the default ego speed is drawn from [0, this]
# the ego vehicle around the sensor, as generate_scene keeps it free (sensor frame, m)
_EGO_LO = np.array([[-2.8, -1.0, -5.0]])
_EGO_HI = np.array([[2.0, 1.0, 0.5]])
_HIGH = 2.3  # m above an object's base: parts above go into a second box (crowns, lamp arms), as in the scene
_MARGIN = 0.05  # m added around a moving object's boxes
_ALIGN = 0.35  # rad: how far a vehicle's heading may differ from its lane's (or the cross street's)
_FRAME_Z = 1.0e4  # m: boxes of frame k are lifted by k * this, so one overlap test covers all frames apart
_CROWN = 1.0  # m: vegetation whose lowest point is this high above the ground does not stop moving objects
_SPEED_TRIES = 6  # other speeds of the class tried when the drawn one collides


@dataclass
class SequenceObject:
    """Ground truth of one object in one frame, sensor frame of that frame.

    Attributes:
        instance_id: the object's id, >= 1, the same in every frame (the ground-truth track id).
        label: a name from ``CLASSES``.
        center: (3,) m, centre of the tight box.
        size: (3,) m, (length, width, height), length along ``yaw``.
        yaw: rad about +z.
        velocity: (2,) m/s over the GROUND (absolute, not relative to the moving sensor), in the sensor's
            x/y axes (parallel to the world's: the ego does not turn); zero for standing objects. The
            velocity relative to the sensor is ``velocity - SequenceFrame.ego_velocity``.
        num_points: returns of the object in this frame.
        moving: whether the object moves in this sequence.
    """

    instance_id: int
    label: str
    center: np.ndarray
    size: np.ndarray
    yaw: float
    velocity: np.ndarray
    num_points: int
    moving: bool

    def as_dict(self) -> dict:
        """JSON-ready dict with the attribute names as keys."""
        return {
            "instance_id": int(self.instance_id),
            "label": self.label,
            "center": [float(v) for v in self.center],
            "size": [float(v) for v in self.size],
            "yaw": float(self.yaw),
            "velocity": [float(v) for v in self.velocity],
            "num_points": int(self.num_points),
            "moving": bool(self.moving),
        }


@dataclass
class SequenceFrame:
    """One frame of a sequence.

    Attributes:
        index: 0, 1, ... in time order.
        stamp_s: seconds since the first frame (``index * period_s``).
        frame: the scan: points (``frame.xyz`` (N, 3), sensor frame) with per-point ``label`` and
            ``instance`` (= ``SequenceObject.instance_id``, 0 for ground).
        objects: ground truth of every object of the scene (also those with no returns: filter on
            ``num_points``), in ``instance_id`` order.
        scene: the scene as this frame saw it (objects moved, sensor frame of this frame), for the
            helpers that take a ``Scene`` (``io.save_frame``, ``driver.ground_truth_detections``); with
            ``follow_road`` its ground model keeps the world's axes (its objects are turned).
        ego_position: (3,) m, the sensor in the world frame.
        ego_velocity: (2,) m/s over the ground in the sensor's axes, (ego speed, 0).
        ego_yaw: rad, the sensor's heading in the world frame (0 unless ``follow_road``).
    """

    index: int
    stamp_s: float
    frame: Frame
    objects: list[SequenceObject]
    scene: Scene = field(repr=False)
    ego_position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    ego_velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    ego_yaw: float = 0.0

    def ground_truth_json(self) -> dict:
        """JSON-ready ground truth: ``{"index", "stamp_s", "ego": {"position", "velocity"}, "objects":
        [SequenceObject.as_dict(), ...]}``."""
        return {
            "index": int(self.index),
            "stamp_s": float(self.stamp_s),
            "ego": {
                "position": [float(v) for v in self.ego_position],
                "velocity": [float(v) for v in self.ego_velocity],
                "yaw": float(self.ego_yaw),
            },
            "objects": [o.as_dict() for o in self.objects],
        }


@dataclass
class _MovedGround(GroundModel):
    """The world's ground seen from a sensor at ``origin`` (3,) (world frame): the analytic surface and
    the slabs shifted, the road's paint and asphalt mottle kept where they lie in the world."""

    world: GroundModel | None = field(default=None, repr=False)
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def reflectivity(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        assert self.world is not None
        x, y = np.asarray(x, float), np.asarray(y, float)
        return self.world.reflectivity(x + self.origin[0], y + self.origin[1])


@dataclass
class _Motion:
    """A moving object's trajectory sampled at the frame times: ``center`` (K, 3) world, ``yaw`` (K,),
    ``velocity`` (K, 2) over the ground."""

    center: np.ndarray
    yaw: np.ndarray
    velocity: np.ndarray


def _wrap(a: np.ndarray) -> np.ndarray:
    return np.mod(np.asarray(a) + np.pi, 2 * np.pi) - np.pi


def _shift_part(p: Part, center: np.ndarray, rot: np.ndarray | None = None) -> Part:
    return dataclasses.replace(p, center=center, rot=p.rot if rot is None else rot)


def _ground_seen_from(g: GroundModel, origin: np.ndarray) -> GroundModel:
    """``g`` (world frame) in the frame of a sensor at ``origin`` (3,) with axes parallel to the world's:
    ``height'(x, y) = height(x + ox, y + oy) - oz``."""
    if not origin.any():
        return g
    ox, oy, oz = (float(v) for v in origin)
    road = None if g.road is None else dataclasses.replace(g.road, p0=np.asarray(g.road.p0) - origin[:2])
    return _MovedGround(
        z0=g.z0 + g.gx * ox + g.gy * oy - oz,
        gx=g.gx,
        gy=g.gy,
        amp=g.amp,
        wave=g.wave,
        phase=np.asarray(g.phase) + np.asarray(g.wave).reshape(-1, 2) @ np.array([ox, oy]),
        refl=g.refl,
        slabs=[_shift_part(sl, sl.center - origin) for sl in g.slabs],
        road=road,
        markings=g.markings,
        world=g,
        origin=origin.copy(),
    )


def _road_role(obj: SimObject, road: Road) -> tuple[str, float] | None:
    """How a street object may move: ``("road", +-1)`` along the road with (+1) or against (-1) its
    direction, ``("line", 0)`` straight along its heading, or None (it stands)."""
    if obj.label == "pedestrian":
        return "line", 0.0
    s, d = road.to_road(obj.center[0], obj.center[1])
    s, d = float(s), float(d)
    _, _, th = road.world(s, d)
    rel = float(_wrap(obj.yaw - float(th)))
    along = min(abs(rel), np.pi - abs(rel)) < _ALIGN
    sgn = 1.0 if abs(rel) < np.pi / 2 else -1.0
    if obj.label == "cyclist":
        return ("road", sgn) if along else ("line", 0.0)
    lanes = road.lanes_per_side * road.lane_width
    if abs(d) < lanes + 0.3 and along:  # a driving lane; parking lanes lie further out
        return "road", sgn
    across = abs(abs(rel) - np.pi / 2) < _ALIGN
    if road.cross is not None and abs(s - road.cross[0]) < road.cross[1] and abs(d) > road.half_width and across:
        return "line", 0.0  # cross traffic: the cross street is straight
    return None


def _role(obj: SimObject, scene: Scene) -> tuple[str, float] | None:
    if obj.label not in SPEEDS:
        return None
    road = scene.ground.road
    if road is None:  # open area: cars stand in their lot, people and riders go straight
        return None if obj.label in _VEHICLES else ("line", 0.0)
    return _road_role(obj, road)


def _ground_z(ground: GroundModel, label: str, xy: np.ndarray, yaw: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Height (K,) an object stands at with its centre at ``xy`` (K, 2): vehicles on the ground under
    their centre, the others on the lowest ground under their footprint (kerbs), as the scene places them."""
    if label in _VEHICLES:
        return ground.height(xy[:, 0], xy[:, 1])
    hx, hy = np.minimum(0.5 * size[:2], 1.5)
    gx, gy = np.meshgrid([-hx, 0.0, hx], [-hy, 0.0, hy])
    gx, gy = gx.ravel()[None, :], gy.ravel()[None, :]
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    z = ground.height(xy[:, :1] + c * gx - s * gy, xy[:, 1:] + s * gx + c * gy)
    return z.min(axis=1)


def _trajectory(obj: SimObject, role: tuple[str, float], speed: float, times: np.ndarray, scene: Scene) -> _Motion:
    """Where ``obj`` is at ``times`` (K,) s moving at ``speed`` m/s in the way ``role`` says."""
    c0 = np.asarray(obj.center, dtype=np.float64)
    road = scene.ground.road
    if role[0] == "road" and road is not None:
        s0, d0 = (float(v) for v in road.to_road(c0[0], c0[1]))
        # arc length runs along the centre line: a lane at offset d is (1 - k d) times as long
        rate = speed / max(1.0 - road.curvature * d0, 0.1)
        x, y, th = road.world(s0 + role[1] * rate * times, np.full(times.shape, d0))
        x0, y0, th0 = road.world(s0, d0)
        xy = c0[:2] + np.column_stack([x - x0, y - y0])
        yaw = obj.yaw + (th - th0)
        heading = th if role[1] > 0 else th + np.pi
    else:
        heading = np.full(times.shape, obj.yaw)
        xy = c0[:2] + speed * times[:, None] * np.array([np.cos(obj.yaw), np.sin(obj.yaw)])
        yaw = heading
    z_here = _ground_z(scene.ground, obj.label, xy, yaw, obj.size)
    z_start = _ground_z(scene.ground, obj.label, c0[None, :2], np.array([obj.yaw]), obj.size)
    center = np.column_stack([xy, c0[2] + z_here - z_start])
    velocity = speed * np.column_stack([np.cos(heading), np.sin(heading)])
    return _Motion(center, _wrap(yaw), velocity)


def _local_bounds(obj: SimObject) -> tuple[np.ndarray, np.ndarray]:
    """Part bounds lo, hi (P, 3) in the object's frame: origin at the bottom centre of its box, x along yaw."""
    rz = ob.rot_z(obj.yaw)
    centers = np.array([p.center for p in obj.parts]).reshape(-1, 3)
    base = np.asarray(obj.center) - np.array([0.0, 0.0, 0.5 * obj.size[2]])
    local = (centers - base) @ rz
    ext = ob.parts_half_extents(obj.parts, rz)
    return local - ext, local + ext


def _boxes(lo: np.ndarray, hi: np.ndarray, base: np.ndarray, yaw: np.ndarray, margin: float,
           frame_z: float = 0.0) -> tuple[np.ndarray, ...]:
    """Footprint boxes of an object with local part bounds ``lo``, ``hi`` (P, 3) at K poses (``base``
    (K, 3) bottom centre, ``yaw`` (K,)): one box around its low parts, one around its high parts, as
    ``boxes_free`` takes them: centre (K*G, 2), half extents (K*G, 2), cos/sin (K*G, 2), z interval
    (K*G, 2) (pose k lifted by ``k * frame_z``), bounding radius (K*G,); pose-major."""
    low = lo[:, 2] < _HIGH
    groups = [g for g in (low, ~low) if g.any()]
    bl = np.array([lo[g].min(axis=0) for g in groups])  # (G, 3)
    bh = np.array([hi[g].max(axis=0) for g in groups])
    cl = 0.5 * (bl + bh)
    k, n_g = len(yaw), len(groups)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]  # (K, 1)
    cw = np.stack([base[:, :1] + c * cl[:, 0] - s * cl[:, 1], base[:, 1:2] + s * cl[:, 0] + c * cl[:, 1]], axis=-1)
    half = np.broadcast_to(0.5 * (bh - bl)[:, :2] + margin, (k, n_g, 2))
    lift = base[:, 2:3] + frame_z * np.arange(k)[:, None]  # (K, 1)
    z = np.stack([lift + bl[:, 2], lift + bh[:, 2]], axis=-1)
    cs = np.broadcast_to(np.stack([c, s], axis=-1), (k, n_g, 2))
    half = np.ascontiguousarray(half.reshape(-1, 2))
    return (
        np.ascontiguousarray(cw.reshape(-1, 2)),
        half,
        np.ascontiguousarray(cs.reshape(-1, 2)),
        np.ascontiguousarray(z.reshape(-1, 2)),
        np.hypot(half[:, 0], half[:, 1]),
    )


def _select(boxes: tuple[np.ndarray, ...], rows: np.ndarray | slice) -> tuple[np.ndarray, ...]:
    return tuple(np.ascontiguousarray(a[rows]) for a in boxes)


def _concat(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b, strict=True))


def _free(query: tuple[np.ndarray, ...], placed: tuple[np.ndarray, ...]) -> bool:
    return bool(boxes_free(*query, *placed))


def _plan(
    scene: Scene, rng: np.random.Generator, times: np.ndarray, ego: np.ndarray, ego_yaw: np.ndarray | None = None
) -> tuple[dict[int, _Motion], set[int]]:
    """Which objects move and how (index into ``scene.objects`` -> motion), and which objects stand in
    the ego's swept path (``ego`` (K, 3) sensor positions, ``ego_yaw`` (K,) its headings; None: along +x,
    never turning) and are left out."""
    objs = scene.objects
    n, k = len(objs), len(times)
    draws = rng.random((n, 2))  # (move?, speed) for every object, so one object's draws never shift another's
    ego_boxes = _boxes(_EGO_LO, _EGO_HI, ego, np.zeros(k) if ego_yaw is None else ego_yaw, 0.0, _FRAME_Z)
    bounds = [_local_bounds(o) for o in objs]
    base0 = [np.asarray(o.center) - np.array([0.0, 0.0, 0.5 * o.size[2]]) for o in objs]
    stand = [_boxes(lo, hi, b[None, :], np.array([o.yaw]), 0.0) for (lo, hi), b, o in zip(bounds, base0, objs,
                                                                                            strict=True)]
    owner = np.concatenate([np.full(len(b[4]), i) for i, b in enumerate(stand)] + [np.zeros(0, int)])
    standing = tuple(np.concatenate([b[j] for b in stand] + [np.zeros((0, 2) if j < 4 else 0)]) for j in range(5))
    # tree crowns are foliage above the ground whose coarse box spans the road: traffic passes under them
    crown = np.array([o.label == "vegetation" and b[2] - float(scene.ground.height(b[0], b[1])) > _CROWN
                      for o, b in zip(objs, base0, strict=True)] + [False])
    if ego_yaw is None:  # straight along +x: one box from the first place to the last
        z_lo, z_hi = float(ego[:, 2].min()), float(ego[:, 2].max())
        reach = np.array([[float(ego[:, 0].max()), 0.0, z_hi - z_lo]])
        swept = _boxes(_EGO_LO, _EGO_HI + reach, np.array([[0.0, 0.0, z_lo]]), np.zeros(1), 0.0)
    else:  # along a curve: the ego's box at every frame, stretched forward to the next frame's place
        step = np.r_[0.0, np.hypot(*np.diff(ego[:, :2], axis=0).T)].max()
        swept = _boxes(_EGO_LO, _EGO_HI + np.array([[step, 0.0, 0.0]]), ego, ego_yaw, 0.0)
    candidates, in_path = [], []
    for i, o in enumerate(objs):
        role = _role(o, scene)
        if role is None:
            continue
        lo_v, hi_v = SPEEDS[o.label]
        first = _trajectory(o, role, 1.0, times[:2], scene)
        # objects ahead in their direction of travel first: followers then see where the leader goes
        ahead = float(np.dot(first.velocity[0], np.asarray(o.center[:2])))
        entry = (-ahead, i, role, lo_v + draws[i, 1] * (hi_v - lo_v))
        if draws[i, 0] < _MOVE_P[o.label]:
            candidates.append(entry)
        elif not _free(stand[i], swept):
            in_path.append(entry)  # would stand in the ego's way: moves after all, if it can
    candidates.sort(key=lambda c: (c[0], c[1]))
    movers: dict[int, _Motion] = {}
    moving = np.zeros(n, bool)
    dynamic = ego_boxes  # everything that moves, frame k lifted by k * _FRAME_Z
    for _, i, role, v in candidates + sorted(in_path, key=lambda c: (c[0], c[1])):
        o, (lo, hi) = objs[i], bounds[i]
        n_groups = int((lo[:, 2] < _HIGH).any()) + int((lo[:, 2] >= _HIGH).any())
        lo_v, hi_v = SPEEDS[o.label]
        others = ~moving[owner] & (owner != i) & ~crown[owner]
        placed = _select(standing, others)
        speeds = [v, *sorted(np.linspace(lo_v, hi_v, _SPEED_TRIES), key=lambda u, v=v: abs(u - v))]
        for speed in speeds:
            m = _trajectory(o, role, float(speed), times, scene)
            base = m.center - np.array([0.0, 0.0, 0.5 * o.size[2]])
            later = slice(n_groups, None)  # frame 0 (first n_groups rows) is free by construction
            here = _select(_boxes(lo, hi, base, m.yaw, _MARGIN), later)
            lifted = _select(_boxes(lo, hi, base, m.yaw, _MARGIN, _FRAME_Z), later)
            if _free(here, placed) and _free(lifted, dynamic):
                movers[i] = m
                moving[i] = True
                dynamic = _concat(dynamic, lifted)
                break
    # what the ego would still drive into: its box swept along its path, against everything standing
    removed = {i for i in range(n) if not moving[i] and not _free(stand[i], swept)}
    return movers, removed


def _objects_at(scene: Scene, movers: dict[int, _Motion], removed: set[int], k: int,
                origin: np.ndarray) -> list[SimObject]:
    """The scene's objects at frame ``k`` in the frame of a sensor at ``origin`` (3,) (world frame)."""
    out = []
    for i, o in enumerate(scene.objects):
        if i in removed:
            continue
        m = movers.get(i)
        if m is None or (m.yaw[k] == m.yaw[0] and not (m.center[k] - m.center[0]).any()):
            if not origin.any():
                out.append(o)
                continue
            parts = [_shift_part(p, p.center - origin) for p in o.parts]
            out.append(SimObject(o.instance_id, o.label, np.asarray(o.center) - origin, o.size, o.yaw, parts))
            continue
        # rigid motion about the box centre: rotate by the change of heading (about the vehicle's tilted
        # up axis for vehicles), then move the centre
        dyaw = float(m.yaw[k] - m.yaw[0])
        if o.label in _VEHICLES:
            g = scene.ground
            tilt = ob.slope_tilt(g.gx, g.gy)
            rot = tilt @ ob.rot_z(dyaw) @ tilt.T
        else:
            rot = ob.rot_z(dyaw)
        c0, c = np.asarray(o.center, dtype=np.float64), m.center[k] - origin
        centers = (np.array([p.center for p in o.parts]).reshape(-1, 3) - c0) @ rot.T + c
        parts = [_shift_part(p, centers[j], rot @ p.rot) for j, p in enumerate(o.parts)]
        out.append(SimObject(o.instance_id, o.label, c, o.size, float(_wrap(m.yaw[k])), parts))
    return out


def _turned(frame: Frame, truth: list[SequenceObject], scene: Scene, yaw: float
            ) -> tuple[Frame, list[SequenceObject], Scene]:
    """A scan taken with the world's axes (and its ground truth and scene) as a sensor at the same place
    heading ``yaw`` (rad) sees it: points, boxes and velocities turned by -yaw about z; each return's
    column (and firing time) moves by the turn, so column 0 still points backwards."""
    rot = ob.rot_z(-yaw)
    sensor = frame.sensor
    shift = int(round(yaw * sensor.columns / (2.0 * np.pi)))
    column = ((frame.column.astype(np.int64) + shift) % sensor.columns).astype(frame.column.dtype)
    frame = dataclasses.replace(
        frame, xyz=(frame.xyz.astype(np.float64) @ rot.T).astype(np.float32), column=column,
        time=(column / (sensor.columns * sensor.rate_hz)).astype(np.float32))
    truth = [dataclasses.replace(o, center=rot @ o.center, yaw=float(_wrap(o.yaw - yaw)),
                                 velocity=rot[:2, :2] @ o.velocity) for o in truth]
    objects = [SimObject(o.instance_id, o.label, rot @ np.asarray(o.center, float), o.size, float(_wrap(o.yaw - yaw)),
                         [_shift_part(p, rot @ p.center, rot @ p.rot) for p in o.parts]) for o in scene.objects]
    return frame, truth, dataclasses.replace(scene, objects=objects)


def iter_sequence(
    seed: int,
    sensor: str | SensorModel = "hdl64",
    frames: int = 20,
    period_s: float = 0.1,
    ego_speed: float | None = None,
    density: float = 1.0,
    follow_road: bool = False,
) -> Iterator[SequenceFrame]:
    """The frames of :func:`simulate_sequence` one by one (a long sequence need not fit in memory)."""
    if frames < 0 or period_s <= 0 or density <= 0:
        raise ValueError("frames must be >= 0, period_s > 0 and density > 0")
    if ego_speed is not None and ego_speed < 0:
        raise ValueError("ego_speed must be >= 0 (the ego drives forward, along +x)")
    model = get_sensor(sensor) if isinstance(sensor, str) else sensor
    if frames == 0:
        return
    scene = generate_scene(seed, density, sensor_height=model.mount_height)
    rng = np.random.default_rng([seed, 0x5E9])  # its own stream: the scene stays generate_scene's
    drawn = float(rng.uniform(0.0, _EGO_SPEED_MAX))  # drawn always, so that ego_speed does not shift the rest
    v_ego = drawn if ego_speed is None else float(ego_speed)
    times = np.arange(frames) * float(period_s)
    g = scene.ground
    road = g.road if follow_road else None
    if road is None:
        ex, ey, yaw = v_ego * times, np.zeros(frames), np.zeros(frames)
    else:  # along the ego's lane: the road's (s, d) of the origin, then s grows with the distance driven
        s0, d0 = (float(v) for v in road.to_road(0.0, 0.0))
        ex, ey, yaw = road.world(s0 + v_ego * times, np.full(frames, d0))
        ex, ey = ex - ex[0], ey - ey[0]  # frame 0 exactly at the origin
    ego = np.column_stack([ex, ey, g.height(ex, ey) - g.height(0.0, 0.0)])
    movers, removed = _plan(scene, rng, times, ego, None if road is None else yaw)
    index = {o.instance_id: i for i, o in enumerate(scene.objects)}
    for k in range(frames):
        origin = ego[k]
        objs = _objects_at(scene, movers, removed, k, origin)
        moved = Scene(objs, _ground_seen_from(g, origin), seed=scene.seed, sensor_height=scene.sensor_height,
                      kind=scene.kind)
        # frame 0 is what simulate(seed) scans (turned with follow_road); later frames draw their own noise
        frame = scan(moved, model, seed=seed * 7919 + 17 + 1_000_003 * k)
        counts = np.bincount(frame.instance, minlength=max((o.instance_id for o in objs), default=0) + 1)
        truth = []
        for o in objs:
            m = movers.get(index[o.instance_id])
            truth.append(SequenceObject(
                instance_id=int(o.instance_id),
                label=o.label,
                center=np.asarray(o.center, dtype=np.float64),
                size=np.asarray(o.size, dtype=np.float64),
                yaw=float(o.yaw),
                velocity=np.zeros(2) if m is None else m.velocity[k].copy(),
                num_points=int(counts[o.instance_id]),
                moving=m is not None,
            ))
        if road is not None:  # scanned with the world's axes: turned to the ego's heading
            frame, truth, moved = _turned(frame, truth, moved, float(yaw[k]))
        yield SequenceFrame(k, float(times[k]), frame, truth, moved, origin.copy(), np.array([v_ego, 0.0]),
                            float(_wrap(yaw[k])) if road is not None else 0.0)


def simulate_sequence(
    seed: int,
    sensor: str | SensorModel = "hdl64",
    frames: int = 20,
    period_s: float = 0.1,
    ego_speed: float | None = None,
    density: float = 1.0,
    follow_road: bool = False,
) -> list[SequenceFrame]:
    """``frames`` scans, ``period_s`` seconds apart, of one scene with moving objects and a moving sensor.

    Args:
        seed: draws the scene (``generate_scene(seed, density)``, ground ``sensor.mount_height`` below the
            sensor), which objects move and how fast, the ego speed and the scan noise. Same seed, same
            sequence.
        sensor: a name of ``SENSORS`` or a :class:`SensorModel`.
        frames: number of frames.
        period_s: seconds between frames (0.1: a 10 Hz sensor).
        ego_speed: m/s of the sensor along +x (along the road with ``follow_road``); None: drawn from
            [0, 10] by the seed.
        density: object density scale of the scene.
        follow_road: drive along the ego's lane of a street scene, turning with the road (else straight
            along +x).

    Returns:
        The frames in time order, points and ground truth in each frame's sensor frame; see the module
        docstring for the motion model and its limits.
    """
    return list(iter_sequence(seed, sensor, frames, period_s, ego_speed, density, follow_road))
