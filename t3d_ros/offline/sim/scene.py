"""Random street scenes in the sensor frame: ground with slope, bumps and kerbs; objects along a road.

The sensor sits at the origin, x forward, z up, ground at about ``z = -sensor_height``. A scene is a
road corridor (straight or curved, sometimes with a cross street) with lanes of driving and parked
vehicles, sidewalks with people, poles, trees and street furniture, frontage (buildings, walls,
fences, hedges, yards, parking lots) beyond and a looser second row behind it; or, sometimes, an open
lot/plaza. Objects never overlap: every part's box is checked against all placed parts (footprint and
height interval), so a car may stand under a tree crown but not in a trunk.

A scene is deterministic in its seed: ``_street`` and ``_open_area`` run their placement steps in a
fixed order on one random generator, so the order of steps and of draws within them is part of what a
seed means (cached datasets depend on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from t3d_ros.classes import CLASSES
from t3d_ros.offline.sim import objects as ob
from t3d_ros.offline.sim._raycast import boxes_free, ground_height
from t3d_ros.offline.sim.objects import BOX, Part


@dataclass
class SimObject:
    """One labelled object.

    Attributes:
        instance_id: >= 1, unique within its scene.
        label: a name from ``CLASSES``.
        center: (3,) centre of the tight oriented box, sensor frame.
        size: (3,) (length, width, height); length along ``yaw``.
        yaw: heading in radians about +z.
        parts: the primitives, sensor frame.
    """

    instance_id: int
    label: str
    center: np.ndarray
    size: np.ndarray
    yaw: float
    parts: list[Part] = field(default_factory=list, repr=False)

    @classmethod
    def from_parts(cls, instance_id: int, label: str, parts: list[Part], yaw: float = 0.0) -> SimObject:
        """An object from parts already in the sensor frame; its box is the tightest one with ``yaw``."""
        if label not in CLASSES:
            raise ValueError(f"unknown class {label!r}; known classes: {', '.join(CLASSES)}")
        center, size = ob.tight_box(parts, yaw)
        return cls(instance_id, label, center, size, float(yaw), list(parts))


@dataclass(frozen=True)
class Road:
    """Centre line of the road through ``p0`` (2,) with ``heading`` and constant ``curvature`` (1/m);
    (s, d) are arc length and signed lateral offset (left positive)."""

    p0: np.ndarray
    heading: float
    curvature: float
    half_width: float
    lane_width: float
    lanes_per_side: int
    sidewalk: tuple[float, float]  # width right (d < 0), left (d > 0)
    kerb: float
    cross: tuple[float, float] | None  # (s, half width) of a cross street

    def world(self, s: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, y and road heading at road coordinates ``s``, ``d`` (same shapes)."""
        s, d = np.asarray(s, float), np.asarray(d, float)
        th = self.heading + self.curvature * s
        if abs(self.curvature) < 1e-6:
            cx = self.p0[0] + s * np.cos(self.heading)
            cy = self.p0[1] + s * np.sin(self.heading)
        else:
            k = self.curvature
            cx = self.p0[0] + (np.sin(th) - np.sin(self.heading)) / k
            cy = self.p0[1] - (np.cos(th) - np.cos(self.heading)) / k
        return cx - d * np.sin(th), cy + d * np.cos(th), th

    def to_road(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Road coordinates (s, d) of world points, same shapes."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        if abs(self.curvature) < 1e-6:
            dx, dy = x - self.p0[0], y - self.p0[1]
            c, s_ = np.cos(self.heading), np.sin(self.heading)
            return dx * c + dy * s_, -dx * s_ + dy * c
        k = self.curvature
        cx = self.p0[0] - np.sin(self.heading) / k
        cy = self.p0[1] + np.cos(self.heading) / k
        vx, vy = x - cx, y - cy
        rho = np.hypot(vx, vy)
        d = 1.0 / k - np.sign(k) * rho
        # n(s) = v / (d - 1/k) and n = (-sin th, cos th)
        f = d - 1.0 / k
        th = np.arctan2(-vx / f, vy / f)
        dth = np.angle(np.exp(1j * (th - self.heading)))
        return dth / k, d


@dataclass
class GroundModel:
    """Ground height ``z0 + gx*x + gy*y + sum_k amp_k sin(wave_k . (x, y) + phase_k)`` plus raised
    sidewalk slabs (box parts labelled as ground)."""

    z0: float
    gx: float
    gy: float
    amp: np.ndarray  # (K,)
    wave: np.ndarray  # (K, 2) rad/m
    phase: np.ndarray  # (K,)
    refl: float = 0.3
    slabs: list[Part] = field(default_factory=list, repr=False)
    road: Road | None = None
    markings: float = 0.7  # reflectivity of lane paint
    _slab_cache: tuple | None = field(default=None, repr=False, compare=False)

    @classmethod
    def flat(cls, z0: float = -1.73, refl: float = 0.3) -> GroundModel:
        """A level, smooth ground at height ``z0`` without kerbs."""
        return cls(
            z0=z0, gx=0.0, gy=0.0, amp=np.zeros(0), wave=np.zeros((0, 2)), phase=np.zeros(0), refl=refl
        )

    def base_height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Height of the road surface (no kerbs) at (x, y), same shape."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        z = self.z0 + self.gx * x + self.gy * y
        for a, w, p in zip(self.amp, self.wave, self.phase, strict=True):
            z = z + a * np.sin(w[0] * x + w[1] * y + p)
        return z

    def height(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Height of the walkable ground (road or sidewalk top) at (x, y), same shape."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        if self._slab_cache is None or self._slab_cache[0] != len(self.slabs):
            n = len(self.slabs)
            c = np.array([sl.center for sl in self.slabs], dtype=np.float64).reshape(n, 3)
            ax = np.array([sl.rot[:2, 0] for sl in self.slabs], dtype=np.float64).reshape(
                n, 2
            )  # tilt ignored
            half = np.array([sl.params for sl in self.slabs], dtype=np.float64).reshape(n, 3)
            self._slab_cache = (
                n,
                c,
                ax,
                half,
                np.asarray(self.amp, np.float64),
                np.ascontiguousarray(self.wave, np.float64),
                np.asarray(self.phase, np.float64),
            )
        _, c, ax, half, amp, wave, phase = self._slab_cache
        z = ground_height(
            np.ascontiguousarray(x.ravel()),
            np.ascontiguousarray(y.ravel()),
            float(self.z0),
            float(self.gx),
            float(self.gy),
            amp,
            wave,
            phase,
            c,
            ax,
            half,
        )
        return z.reshape(x.shape)

    def reflectivity(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Reflectivity of the road surface at (x, y): asphalt with lane markings, same shape."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        # mottled asphalt: low-frequency variation of +-20 %
        r = self.refl * (1.0 + 0.2 * np.sin(0.7 * x + 1.3) * np.sin(0.9 * y + 0.4))
        road = self.road
        if road is None:
            return r
        s, d = road.to_road(x, y)
        ad = np.abs(d)
        paint = np.abs(ad - (road.half_width - 0.3)) < 0.08  # solid edge lines
        paint |= (np.abs(d) < 0.07) & (np.mod(s, 9.0) < 3.0)  # dashed centre line
        for lane in range(1, road.lanes_per_side):
            paint |= (np.abs(ad - lane * road.lane_width) < 0.06) & (np.mod(s + 2.0, 9.0) < 3.0)
        if road.cross is not None:  # zebra crossing before the junction
            sx, hw = road.cross
            zebra = (
                (np.abs(s - (sx - hw - 2.5)) < 2.0) & (np.mod(d, 1.0) < 0.5) & (ad < road.half_width - 0.4)
            )
            paint |= zebra
        return np.where(paint & (ad < road.half_width), self.markings, r)


@dataclass
class Scene:
    """A simulated world: labelled objects and the ground, sensor frame (sensor at the origin)."""

    objects: list[SimObject]
    ground: GroundModel
    seed: int = 0
    sensor_height: float = 1.73
    kind: str = "street"


# ---- collision bookkeeping ----------------------------------------------------------------------


class _Occupancy:
    """Boxes of everything placed: footprint OBB (centre, half extents, cos/sin of yaw) + z interval.

    An object registers one box around its low parts and one around its high parts (crowns, lamp
    arms, mast arms), so that a car fits under a lamp arm but not into the pole. Boxes of foliage are
    *soft*: other foliage may grow into them (bushes into a hedge, crowns into each other), as in
    real gardens, where plants touch and the LiDAR sees one large mass; nothing solid may.
    """

    _HIGH = 2.3  # m above the object's base

    def __init__(self) -> None:
        self.c = np.zeros((0, 2))
        self.h = np.zeros((0, 2))
        self.cs = np.zeros((0, 2))
        self.z = np.zeros((0, 2))
        self.r = np.zeros(0)
        self.soft = np.zeros(0, bool)

    @classmethod
    def boxes(
        cls, lo: np.ndarray, hi: np.ndarray, pos: np.ndarray, yaw: float, margin: float
    ) -> tuple[np.ndarray, ...]:
        """Boxes of an object with part bounds ``lo``, ``hi`` (P, 3) in its frame, placed at ``pos`` (3,)."""
        low = lo[:, 2] < cls._HIGH
        groups = [g for g in (low, ~low) if g.any()]
        bl = np.array([lo[g].min(axis=0) for g in groups])
        bh = np.array([hi[g].max(axis=0) for g in groups])
        cl = 0.5 * (bl + bh)
        c, s = np.cos(yaw), np.sin(yaw)
        cw = np.column_stack([pos[0] + c * cl[:, 0] - s * cl[:, 1], pos[1] + s * cl[:, 0] + c * cl[:, 1]])
        h = 0.5 * (bh - bl)[:, :2] + margin
        z = np.column_stack([bl[:, 2], bh[:, 2]]) + pos[2]
        cs = np.tile([c, s], (len(groups), 1))
        return cw, h, cs, z, np.hypot(h[:, 0], h[:, 1])

    def free(self, boxes: tuple[np.ndarray, ...], soft: bool = False) -> bool:
        """Whether ``boxes`` (from ``boxes()``) overlap nothing placed so far (``soft``: nothing solid)."""
        m = ~self.soft if soft else slice(None)
        return bool(boxes_free(*boxes, self.c[m], self.h[m], self.cs[m], self.z[m], self.r[m]))

    def add(self, boxes: tuple[np.ndarray, ...], soft: bool = False) -> None:
        """Mark ``boxes`` as occupied (``soft``: by foliage)."""
        c, h, cs, z, r = boxes
        self.soft = np.concatenate([self.soft, np.full(len(c), soft)])
        self.c = np.concatenate([self.c, c])
        self.h = np.concatenate([self.h, h])
        self.cs = np.concatenate([self.cs, cs])
        self.z = np.concatenate([self.z, z])
        self.r = np.concatenate([self.r, r])


class _Builder:
    """Places objects into the scene while keeping them apart."""

    _TILT = {"car", "truck"}  # vehicles follow the ground slope; people, poles, buildings stay vertical

    def __init__(self, rng: np.random.Generator, ground: GroundModel) -> None:
        self.rng = rng
        self.ground = ground
        self.occ = _Occupancy()
        self.objects: list[SimObject] = []
        # keep the ego vehicle's own footprint free (the sensor sits on it)
        self.occ.add(
            self.occ.boxes(np.array([[-2.8, -1.0, -5.0]]), np.array([[2.0, 1.0, 0.5]]), np.zeros(3), 0.0, 0.0)
        )

    def prepare(
        self,
        label: str,
        parts: list[Part],
        x: float,
        y: float,
        yaw: float,
        margin: float = 0.15,
        sink: float = 0.0,
    ) -> tuple | None:
        """Everything needed to commit the model at (x, y) with heading ``yaw``; None if blocked."""
        n = len(parts)
        centers = np.array([p.center for p in parts]).reshape(n, 3)
        ext = ob.parts_half_extents(parts, np.eye(3))
        lo, hi = centers - ext, centers + ext
        if label in self._TILT:
            z = float(self.ground.height(x, y))
        else:
            # stand on the lowest ground point under the footprint (kerbs, slope) and sink a little
            fx = np.clip(np.array([0.0, lo[:, 0].min(), hi[:, 0].max()]), -1.5, 1.5)
            fy = np.clip(np.array([0.0, lo[:, 1].min(), hi[:, 1].max()]), -1.5, 1.5)
            gx, gy = np.meshgrid(fx, fy)
            c, s = np.cos(yaw), np.sin(yaw)
            z = float(np.min(self.ground.height(x + c * gx - s * gy, y + s * gx + c * gy))) - sink
        pos = np.array([x, y, z])
        boxes = self.occ.boxes(lo, hi, pos, yaw, margin)
        if not self.occ.free(boxes, soft=label == "vegetation"):
            return None
        return parts, pos, yaw, boxes, lo, hi

    def commit(self, label: str, prep: tuple) -> SimObject:
        """Add the object ``prepare`` made ready: occupy its boxes, place its parts, label it."""
        parts, pos, yaw, boxes, lo, hi = prep
        self.occ.add(boxes, soft=label == "vegetation")
        rz = ob.rot_z(yaw)
        if label in self._TILT:
            # tilt about the footprint centre onto the ground normal (small angles)
            rot = ob.slope_tilt(self.ground.gx, self.ground.gy) @ rz
            placed = ob.place_parts(parts, pos, rot)
            center, size = ob.tight_box(placed, yaw)
        else:
            placed = ob.place_parts(parts, pos, rz)
            center, size = (
                rz @ (0.5 * (lo.min(axis=0) + hi.max(axis=0))) + pos,
                hi.max(axis=0) - lo.min(axis=0),
            )
        obj = SimObject(
            len(self.objects) + 1, label, center, size, float(np.mod(yaw + np.pi, 2 * np.pi) - np.pi), placed
        )
        self.objects.append(obj)
        return obj

    def place(
        self,
        label: str,
        parts: list[Part],
        x: float,
        y: float,
        yaw: float,
        margin: float = 0.15,
        sink: float = 0.0,
    ) -> SimObject | None:
        """Put a model with its origin at ground level at (x, y); None where it would overlap."""
        prep = self.prepare(label, parts, x, y, yaw, margin, sink)
        return None if prep is None else self.commit(label, prep)

    def random(
        self,
        label: str,
        x: float,
        y: float,
        yaw: float,
        tries: int = 1,
        jitter: float = 0.0,
        margin: float = 0.15,
    ) -> SimObject | None:
        """A random model of ``label`` at (x, y); up to ``tries`` new models and positions (normal
        ``jitter`` in m) until one fits, else None."""
        for _ in range(tries):
            parts = ob.make_object(label, self.rng)
            dx, dy = self.rng.normal(0, jitter, 2) if jitter else (0.0, 0.0)
            obj = self.place(label, parts, x + dx, y + dy, yaw, margin)
            if obj is not None:
                return obj
        return None

    def tree(self, x: float, y: float) -> None:
        """A random tree at (x, y): trunk labelled pole, crown vegetation; nothing if either is blocked."""
        trunk, crown = ob.tree(self.rng)
        yaw = float(self.rng.uniform(-np.pi, np.pi))
        t = self.prepare("pole", trunk, x, y, yaw, margin=0.1)
        c = self.prepare("vegetation", crown, x, y, yaw, margin=0.0) if t is not None else None
        if t is None or c is None:  # crown or trunk blocked: no tree here
            return
        self.commit("pole", t)
        self.commit("vegetation", c)


def _ground(rng: np.random.Generator, sensor_height: float) -> GroundModel:
    """A random ground: slope up to 5 degrees, cm-scale bumps, through ``-sensor_height`` under the sensor."""
    slope = np.radians(min(abs(rng.normal(0.0, 1.5)), 5.0))
    direction = rng.uniform(-np.pi, np.pi)
    k = 6
    wavelength = rng.uniform(2.0, 30.0, k)
    amp = 0.004 * wavelength**0.6 * rng.uniform(0.3, 1.0, k)  # cm-scale, longer waves a bit higher
    ang = rng.uniform(-np.pi, np.pi, k)
    wave = (2 * np.pi / wavelength)[:, None] * np.column_stack([np.cos(ang), np.sin(ang)])
    phase = rng.uniform(0, 2 * np.pi, k)
    # the vehicle stands on the ground: the surface passes through -sensor_height below the sensor
    z0 = -sensor_height - float(np.sum(amp * np.sin(phase))) + rng.normal(0.0, 0.02)
    return GroundModel(
        z0=z0,
        gx=float(np.tan(slope) * np.cos(direction)),
        gy=float(np.tan(slope) * np.sin(direction)),
        amp=amp,
        wave=wave,
        phase=phase,
        refl=float(rng.uniform(0.2, 0.4)),
    )


def _sidewalks(rng: np.random.Generator, road: Road, ground: GroundModel, s_range: float) -> list[Part]:
    """Raised slabs along both road edges for |s| < ``s_range``, in 6 m pieces that follow the curve;
    gap at a cross street."""
    slabs = []
    refl = float(rng.uniform(0.3, 0.5))
    seg = 6.0
    thick = road.kerb + 0.12  # reaches below the bumps of the road surface
    for side, width in ((-1, road.sidewalk[0]), (1, road.sidewalk[1])):
        d_mid = side * (road.half_width + 0.5 * width)
        for s0 in np.arange(-s_range, s_range, seg):
            s_mid = s0 + 0.5 * seg
            if road.cross is not None and abs(s_mid - road.cross[0]) < road.cross[1] + 0.5 * seg:
                continue
            x, y, th = road.world(s_mid, d_mid)
            z_top = float(ground.base_height(x, y)) + road.kerb
            tilt = ob.slope_tilt(ground.gx, ground.gy)
            slabs.append(
                Part(
                    BOX,
                    np.array([float(x), float(y), z_top - 0.5 * thick]),
                    tilt @ ob.rot_z(float(th)),
                    np.array([0.5 * seg + 0.02, 0.5 * width, 0.5 * thick]),
                    refl,
                )
            )
    return slabs


_STREET_REACH = 85.0  # m: a street scene spans road coordinates s in [-_STREET_REACH, _STREET_REACH]


def _random_road(rng: np.random.Generator) -> tuple[Road, tuple[bool, bool]]:
    """A random road with the ego vehicle in one of its right-hand lanes, and whether each side
    (right, left) has a parking lane."""
    lanes = int(rng.integers(1, 3))
    lane_w = float(rng.uniform(3.0, 3.6))
    parking = (bool(rng.random() < 0.55), bool(rng.random() < 0.55))
    half = lanes * lane_w + (2.3 if max(parking) else 0.3)
    heading = float(rng.normal(0.0, 0.08)) if rng.random() < 0.85 else float(rng.uniform(-np.pi, np.pi))
    curvature = 0.0 if rng.random() < 0.5 else float(rng.uniform(-1 / 90, 1 / 90))
    ego_lane = int(rng.integers(0, lanes))
    d_ego = -(ego_lane + 0.5) * lane_w  # right-hand traffic: ego drives on the right half
    n0 = np.array([-np.sin(heading), np.cos(heading)])
    cross = (float(rng.uniform(-35, 55)), float(rng.uniform(4.0, 8.0))) if rng.random() < 0.4 else None
    road = Road(
        p0=-d_ego * n0,
        heading=heading,
        curvature=curvature,
        half_width=half,
        lane_width=lane_w,
        lanes_per_side=lanes,
        sidewalk=(float(rng.uniform(1.5, 5.0)), float(rng.uniform(1.5, 5.0))),
        kerb=float(rng.uniform(0.08, 0.18)),
        cross=cross,
    )
    return road, parking


def _street(b: _Builder, rng: np.random.Generator, density: float) -> None:
    """Fill ``b`` with a street scene: road and sidewalks, then everything along them.

    The steps share one random stream, so their order (and the side order right, left) is part of
    what a seed means: reordering them changes every scene.
    """
    road, parking = _random_road(rng)
    b.ground.road = road
    b.ground.slabs = _sidewalks(rng, road, b.ground, _STREET_REACH)
    street = _StreetFiller(b, rng, density, road, parking)
    for side in (-1, 1):
        street.frontage(side)
    for side in (-1, 1):
        street.back_row(side)
    for side in (-1, 1):
        street.lamps(side)
        street.sidewalk_trees(side)
        street.sidewalk_clutter(side)
    for side in (-1, 1):
        street.parked_vehicles(side)
    for side in (-1, 1):
        street.traffic(side)
        street.cyclists(side)
    street.cross_traffic()
    street.pedestrians()
    street.cones()


class _StreetFiller:
    """The placement steps of a street scene, on one road.

    ``side`` is -1 for the right side of the road (d < 0), +1 for the left. Positions are road
    coordinates (s along the centre line, d across it); ``density`` scales how many objects a step
    tries to place.
    """

    def __init__(
        self,
        b: _Builder,
        rng: np.random.Generator,
        density: float,
        road: Road,
        parking: tuple[bool, bool],
    ) -> None:
        self.b = b
        self.rng = rng
        self.density = density
        self.road = road
        self.parking = parking
        self.half = road.half_width

    # ---- helpers --------------------------------------------------------------------------------

    def _at(self, s: float, d: float) -> tuple[float, float, float]:
        """x, y and road heading at road coordinates (s, d)."""
        x, y, th = self.road.world(s, d)
        return float(x), float(y), float(th)

    def _in_cross(self, s: float, pad: float = 0.0) -> bool:
        """Whether ``s`` lies within the cross street widened by ``pad`` on each side."""
        cross = self.road.cross
        return cross is not None and abs(s - cross[0]) < cross[1] + pad

    def _gap(self, mean: float) -> float:
        """A random spacing with ``mean`` at density 1, shorter at higher density."""
        return float(self.rng.exponential(mean / max(self.density, 1e-3)))

    def _sidewalk_width(self, side: int) -> float:
        return self.road.sidewalk[0 if side < 0 else 1]

    def _edge(self, side: int) -> float:
        """|d| of the back of the sidewalk, where the frontage starts."""
        return self.half + self._sidewalk_width(side)

    # ---- frontage ---------------------------------------------------------------------------------

    def frontage(self, side: int) -> None:
        """Behind the sidewalk: a residential side (property lines, front gardens, houses set back) or
        an urban one (buildings, walls, fences, hedges, yards and lots end to end)."""
        if self.rng.random() < 0.55:
            self.residential(side)
        else:
            self.urban(side)

    def residential(self, side: int) -> None:
        """Plots 10-25 m wide, end to end: each with a hedge, fence or wall along the property line
        (broken by a driveway), a front garden of bushes, trees, beds, bins, a shed and perhaps a car
        in the driveway, and a house 3-12 m back. What KITTI's residential streets are made of."""
        rng = self.rng
        edge = self._edge(side)
        s = -_STREET_REACH + float(rng.uniform(0, 5))
        while s < _STREET_REACH:
            width = float(rng.uniform(10, 25))
            if self._in_cross(s + 0.5 * width, 0.5 * width + 1.0):
                cross = self.road.cross
                assert cross is not None
                s = cross[0] + cross[1] + 1.0
                continue
            self._plot(side, s, width, edge)
            s += width

    def _plot(self, side: int, s: float, width: float, edge: float) -> None:
        """One plot from ``s`` over ``width``: the house first (it needs the most room), then the
        property line, a shed, the garden and the driveway."""
        rng, b = self.rng, self.b
        facing = np.pi if side > 0 else 0.0  # structures face the road
        line = edge + float(rng.uniform(0.0, 0.4))
        back = line + 1.5 + float(rng.uniform(3.0, 12.0))  # the house's street face
        length = width * float(rng.uniform(0.5, 0.85))
        x, y, th = self._at(s + 0.5 * width + float(rng.uniform(-0.1, 0.1)) * width, side * back)
        b.place("structure", ob.structure(rng, "house", length), x, y, th + facing, margin=0.1, sink=0.05)
        drive = float(rng.uniform(s + 1.5, s + width - 4.0)) if rng.random() < 0.5 and width > 7 else None
        drive_w = float(rng.uniform(2.5, 4.0))
        kind = str(rng.choice(["hedge", "fence", "low_wall", "wall", "wall_hedge", "none"],
                              p=[0.35, 0.2, 0.15, 0.05, 0.1, 0.15]))
        pieces = [(s, s + width)] if drive is None else [(s, drive), (drive + drive_w, s + width)]
        for a, c in pieces:
            if c - a < 0.8 or kind == "none":
                continue
            mid, length = 0.5 * (a + c), c - a
            if kind in ("hedge", "wall_hedge"):
                x, y, th = self._at(mid, side * (line + (0.9 if kind == "wall_hedge" else 0.3)))
                b.place("vegetation", ob.hedge(rng, length), x, y, th, margin=0.02)
            if kind != "hedge":
                wall = "low_wall" if kind == "wall_hedge" else kind
                x, y, th = self._at(mid, side * line)
                b.place("structure", ob.structure(rng, wall, length), x, y, th + facing, margin=0.02, sink=0.05)
        if rng.random() < 0.25:  # shed or garage beside the house
            x, y, th = self._at(float(rng.uniform(s + 2, s + width - 2)), side * (back - float(rng.uniform(0, 3))))
            b.place("structure", ob.structure(rng, "shed"), x, y, th + facing, margin=0.1, sink=0.05)
        if drive is not None:
            if rng.random() < 0.4:  # a car in the driveway, nose to the house or to the road
                x, y, th = self._at(drive + 0.5 * drive_w, side * (line + float(rng.uniform(3.0, 5.0))))
                flip = np.pi if rng.random() < 0.5 else 0.0
                b.random("car" if rng.random() < 0.85 else "truck", x, y, th + np.pi / 2 + flip, margin=0.1)
            if rng.random() < 0.5:  # bins by the driveway
                x, y, th = self._at(drive - 0.6, side * (line + 0.8))
                b.random("misc", x, y, th, tries=2, margin=0.05)
        for _ in range(rng.poisson(0.9)):
            x, y, _ = self._at(float(rng.uniform(s, s + width)), side * float(rng.uniform(line + 1.5, back + 3.0)))
            b.tree(x, y)
        for _ in range(rng.poisson(3.5 * self.density)):
            ss = float(rng.uniform(s + 0.5, s + width - 0.5))
            if drive is not None and drive - 0.5 < ss < drive + drive_w + 0.5:
                continue
            x, y, _ = self._at(ss, side * float(rng.uniform(line + 1.0, back + 1.0)))
            b.place("vegetation", ob.vegetation(rng, "bush"), x, y, float(rng.uniform(-np.pi, np.pi)), margin=0.0)
        if rng.random() < 0.3:
            x, y, th = self._at(float(rng.uniform(s + 1, s + width - 1)), side * float(rng.uniform(line + 1, back)))
            b.place("vegetation", ob.flower_bed(rng), x, y, th, margin=0.0)
        if rng.random() < 0.5:  # an overgrown shrubbery along the property line or the house
            d = line + 1.0 if rng.random() < 0.6 else back - 1.0
            x, y, th = self._at(float(rng.uniform(s + 2, s + width - 2)), side * d)
            b.place("vegetation", ob.vegetation(rng, "shrubbery"), x, y, th, margin=0.0)

    def urban(self, side: int) -> None:
        """Behind the sidewalk, end to end along the road with random gaps: buildings, fences, walls,
        hedges, yards and parking lots; the cross street is kept clear."""
        rng = self.rng
        edge = self._edge(side)
        s = -_STREET_REACH + float(rng.uniform(0, 10))
        while s < _STREET_REACH:
            kind = str(
                rng.choice(
                    ["building", "fence", "wall", "hedge", "yard", "lot"], p=[0.4, 0.12, 0.08, 0.16, 0.16, 0.08]
                )
            )
            length = float(rng.uniform(6, 30)) if kind != "lot" else float(rng.uniform(12, 30))
            s_mid = s + 0.5 * length
            if self._in_cross(s_mid, 0.5 * length + 1.0):
                cross = self.road.cross
                assert cross is not None
                s = cross[0] + cross[1] + 1.0
                continue
            # long straight pieces on a curve: cut into pieces of at most 12 m
            if kind in ("building", "fence", "wall") and abs(self.road.curvature) > 1e-6:
                length = min(length, 12.0)
                s_mid = s + 0.5 * length
            # all four setbacks are drawn whatever the kind: the random stream depends on it
            setback = {
                "building": rng.uniform(0, 4),
                "fence": rng.uniform(0, 0.6),
                "wall": rng.uniform(0, 0.6),
                "hedge": rng.uniform(0.3, 1.5),
            }.get(kind, 0.0)
            if kind in ("building", "fence", "wall"):
                self._structure(side, kind, s_mid, length, edge, setback)
            elif kind == "hedge":
                x, y, th = self._at(s_mid, side * (edge + setback))
                self.b.place("vegetation", ob.hedge(rng, min(length, 20.0)), x, y, th, margin=0.02)
            elif kind == "yard":
                self._yard(side, s, length, edge)
            else:
                self._parking_lot(side, s, length, edge)
            s += length + (float(rng.uniform(0.5, 8.0)) if rng.random() < 0.5 else 0.0)

    def _structure(self, side: int, kind: str, s_mid: float, length: float, edge: float, setback: float) -> None:
        """A building, fence or wall of ``length`` centred at ``s_mid``, ``setback`` behind the
        sidewalk and facing the road; half the fences and walls have a garden behind them."""
        rng, b = self.rng, self.b
        parts = ob.structure(rng, kind, length)
        x, y, th = self._at(s_mid, side * (edge + setback + (0.3 if kind != "building" else 0.0)))
        b.place("structure", parts, x, y, th + (np.pi if side > 0 else 0.0), margin=0.05, sink=0.05)
        if kind != "building" and rng.random() < 0.5:  # garden behind the fence
            for _ in range(int(rng.integers(1, 4))):
                x, y, _ = self._at(
                    s_mid + rng.uniform(-0.4, 0.4) * length,
                    side * (edge + setback + rng.uniform(1.5, 5)),
                )
                if rng.random() < 0.5:
                    b.tree(x, y)
                else:
                    b.random("vegetation", x, y, float(rng.uniform(-np.pi, np.pi)))

    def _yard(self, side: int, s: float, length: float, edge: float) -> None:
        """1-4 trees, bushes or misc objects in an open yard from ``s`` over ``length``, 1-12 m
        behind the sidewalk."""
        rng, b = self.rng, self.b
        for _ in range(int(rng.integers(1, 5))):
            x, y, _ = self._at(s + rng.uniform(0, length), side * (edge + rng.uniform(1, 12)))
            r = rng.random()
            if r < 0.4:
                b.tree(x, y)
            elif r < 0.8:
                b.random("vegetation", x, y, float(rng.uniform(-np.pi, np.pi)))
            else:
                b.random("misc", x, y, float(rng.uniform(-np.pi, np.pi)))

    def _parking_lot(self, side: int, s: float, length: float, edge: float) -> None:
        """1-2 rows of cars (and a few trucks) perpendicular to the road, from ``s`` over ``length``,
        the first row 3 m behind the sidewalk."""
        rng = self.rng
        for row in range(int(rng.integers(1, 3))):
            d_row = edge + 3.0 + row * 6.0
            for ss in np.arange(s + 1.5, s + length - 1.0, float(rng.uniform(2.5, 3.0))):
                if rng.random() < 0.75 * min(self.density, 1.3):
                    x, y, th = self._at(ss, side * d_row)
                    flip = np.pi if rng.random() < 0.5 else 0.0
                    label = "car" if rng.random() < 0.9 else "truck"
                    self.b.random(label, x, y, th + np.pi / 2 + flip + rng.normal(0, 0.05), margin=0.1)

    def back_row(self, side: int) -> None:
        """A second row 8-35 m behind the sidewalk (buildings, trees, bushes), seen through gaps in the
        frontage and over walls, fences and low buildings."""
        rng, b = self.rng, self.b
        edge = self._edge(side)
        for _ in range(rng.poisson(24 * self.density)):
            s_b = float(rng.uniform(-_STREET_REACH, _STREET_REACH))
            if self._in_cross(s_b, 3.0):
                continue
            x, y, th = self._at(s_b, side * (edge + float(rng.uniform(8, 40))))
            r = rng.random()
            if r < 0.2:
                kind = "house" if rng.random() < 0.5 else "building"
                b.place("structure", ob.structure(rng, kind), x, y, th + (np.pi if side > 0 else 0.0), sink=0.05)
            elif r < 0.65:
                b.tree(x, y)
            else:
                b.random("vegetation", x, y, float(rng.uniform(-np.pi, np.pi)))

    # ---- sidewalk -------------------------------------------------------------------------------

    def lamps(self, side: int) -> None:
        """Street lamps at the kerb every 18-35 m, arms over the road."""
        rng = self.rng
        d_kerb = side * (self.half + 0.45)
        toward_road = -side * np.pi / 2
        if rng.random() < 0.3:  # not every street has lamps on both sides
            return
        s = -_STREET_REACH + float(rng.uniform(0, 20))
        lamp_every = float(rng.uniform(22, 40))
        while s < _STREET_REACH:
            if not self._in_cross(s, 1.0):
                x, y, th = self._at(s, d_kerb)
                self.b.place("pole", ob.pole(rng, "lamp"), x, y, th + toward_road, margin=0.1)
            s += lamp_every

    def sidewalk_trees(self, side: int) -> None:
        """On 75 % of sidewalks, a row of trees near the kerb every 7-15 m (closer at high density)."""
        rng = self.rng
        if rng.random() >= 0.75:
            return
        sw = self._sidewalk_width(side)
        s = -_STREET_REACH + float(rng.uniform(0, 10))
        every = float(rng.uniform(7, 15))
        while s < _STREET_REACH:
            if not self._in_cross(s, 2.0):
                x, y, _ = self._at(s, side * (self.half + min(sw * 0.5, rng.uniform(0.8, 1.6))))
                self.b.tree(x, y)
            s += every * float(rng.uniform(0.8, 1.2)) / max(self.density, 0.3) ** 0.5

    def sidewalk_clutter(self, side: int) -> None:
        """Random items across the sidewalk, ~14 m apart at density 1: see ``_sidewalk_item``."""
        rng = self.rng
        sw = self._sidewalk_width(side)
        s = -_STREET_REACH
        while True:
            s += self._gap(14.0)
            if s >= _STREET_REACH:
                break
            if self._in_cross(s, 1.0):
                continue
            x, y, th = self._at(s, side * (self.half + float(rng.uniform(0.3, max(sw - 0.4, 0.4)))))
            self._sidewalk_item(side, x, y, th)

    def _sidewalk_item(self, side: int, x: float, y: float, th: float) -> None:
        """At (x, y), road heading ``th``: a sign or other pole (25 %), a misc object (55 %), a parked
        bicycle (10 %), or rarely a small structure."""
        rng, b = self.rng, self.b
        toward_road = -side * np.pi / 2
        r = rng.random()
        if r < 0.25:
            kind = str(rng.choice(["sign", "thin", "light", "utility"], p=[0.5, 0.2, 0.2, 0.1]))
            b.place("pole", ob.pole(rng, kind), x, y, th + (np.pi if rng.random() < 0.6 else toward_road))
        elif r < 0.8:
            b.random("misc", x, y, th + float(rng.choice([0.0, np.pi / 2, np.pi])) + rng.normal(0, 0.2))
        elif r < 0.9:  # a parked bicycle is no cyclist (KITTI labels riders only): street furniture
            b.place("misc", ob.cyclist(rng, rider=False), x, y, th + toward_road + rng.normal(0, 0.3))
        elif rng.random() < 0.3:
            b.random("structure", x, y, th, margin=0.1)

    # ---- road -----------------------------------------------------------------------------------

    def parked_vehicles(self, side: int) -> None:
        """If ``side`` has a parking lane: cars and trucks bumper to bumper along it, with gaps, in
        the direction of traffic on that side; none in front of the cross street."""
        rng = self.rng
        if not self.parking[0 if side < 0 else 1]:
            return
        d = side * (self.half - 1.15)
        s = -_STREET_REACH + float(rng.uniform(0, 5))
        while s < _STREET_REACH:
            label = "car" if rng.random() < 0.9 else "truck"
            parts = ob.make_object(label, rng)
            _, size = ob.tight_box(parts, 0.0)
            s_mid = s + 0.5 * size[0]
            if not self._in_cross(s_mid, 0.5 * size[0] + 3.0) and rng.random() < 0.7 * min(self.density, 1.2):
                x, y, th = self._at(s_mid, d + side * float(rng.uniform(-0.25, 0.1)))
                self.b.place(
                    label, parts, x, y, th + (np.pi if side > 0 else 0.0) + rng.normal(0, 0.03), margin=0.1
                )
            s += (
                size[0]
                + float(rng.uniform(0.6, 3.0))
                + (float(rng.uniform(3, 12)) if rng.random() < 0.2 else 0.0)
            )

    def traffic(self, side: int) -> None:
        """Cars and trucks in every driving lane of ``side``, at random gaps, heading with traffic
        (right-hand: the left side drives the other way)."""
        rng = self.rng
        for lane in range(self.road.lanes_per_side):
            d = side * (lane + 0.5) * self.road.lane_width
            s = -_STREET_REACH + self._gap(15.0)
            while s < _STREET_REACH:
                label = "car" if rng.random() < 0.85 else "truck"
                x, y, th = self._at(s, d + float(rng.normal(0, 0.25)))
                self.b.random(
                    label, x, y, th + (np.pi if side > 0 else 0.0) + rng.normal(0, 0.04), margin=0.8
                )
                s += 7.0 + self._gap(30.0)

    def cyclists(self, side: int) -> None:
        """Often 1-3 cyclists riding near the kerb of ``side`` (beside the parking lane, if any), near
        and far: the rarest road user, and the one a sparse far cluster most often hides."""
        rng = self.rng
        if rng.random() >= 0.75 * self.density:
            return
        for _ in range(int(rng.integers(1, 4))):
            s = float(rng.uniform(-70, 75))
            parked = self.parking[0 if side < 0 else 1]
            x, y, th = self._at(s, side * (self.half - 0.7 - (2.2 if parked else 0.0)))
            self.b.random(
                "cyclist", x, y, th + (np.pi if side > 0 else 0.0) + rng.normal(0, 0.08), tries=2
            )

    def cross_traffic(self) -> None:
        """If there is a cross street: 0-4 cars or trucks in it, on either side of the main road."""
        rng, cross = self.rng, self.road.cross
        if cross is None:
            return
        for _ in range(int(rng.integers(0, 5))):
            side = 1 if rng.random() < 0.5 else -1
            u = side * float(rng.uniform(self.half + 3, 60))
            x, y, th = self._at(cross[0] + float(rng.choice([-1, 1])) * rng.uniform(1.0, cross[1] - 1.2), u)
            label = "car" if rng.random() < 0.85 else "truck"
            self.b.random(label, x, y, th + np.pi / 2 + float(rng.choice([0.0, np.pi])), margin=0.5)

    # ---- people and road works --------------------------------------------------------------------

    def pedestrians(self) -> None:
        """Groups of 1-3 people walking along either sidewalk or, 12 % of groups, across the road."""
        for _ in range(self.rng.poisson(7.0 * self.density)):
            self._pedestrian_group()

    def _pedestrian_group(self) -> None:
        rng, half = self.rng, self.half
        side = 1 if rng.random() < 0.5 else -1
        sw = self._sidewalk_width(side)
        s = float(rng.uniform(-60, 70))
        crossing = rng.random() < 0.12
        d = (
            float(rng.uniform(-half + 1, half - 1))
            if crossing
            else side * (half + rng.uniform(0.4, sw - 0.3))
        )
        x, y, th = self._at(s, d)
        heading = (
            th + (np.pi / 2 if crossing else (0.0 if rng.random() < 0.5 else np.pi)) + rng.normal(0, 0.3)
        )
        for _ in range(int(rng.choice([1, 1, 1, 2, 2, 3]))):
            self.b.random("pedestrian", x, y, heading + rng.normal(0, 0.2), tries=3, jitter=0.6, margin=0.05)

    def cones(self) -> None:
        """In 15 % of scenes: a line of 3-7 cones or barriers 2 m apart, 1 m inside one road edge,
        10-40 m ahead or behind."""
        rng = self.rng
        if rng.random() >= 0.15:
            return
        s0 = float(rng.uniform(10, 40)) * float(rng.choice([-1, 1]))
        d0 = float(rng.choice([-1, 1])) * (self.half - 1.0)
        for i in range(int(rng.integers(3, 8))):
            x, y, th = self._at(s0 + i * 2.0, d0)
            self.b.random("misc", x, y, th, margin=0.05)


# ---- open area ----------------------------------------------------------------------------------


def _open_area(b: _Builder, rng: np.random.Generator, density: float) -> None:
    """Fill ``b`` with a parking lot / plaza / campus: no road, objects at any orientation, buildings
    around. Like ``_street``, the step order is part of what a seed means."""
    _lot_buildings(b, rng)
    _lot_parking_rows(b, rng, density)
    _lot_scatter(b, rng, density)
    _lot_trees(b, rng, density)
    b.ground.refl = float(rng.uniform(0.25, 0.45))


def _lot_buildings(b: _Builder, rng: np.random.Generator) -> None:
    """3-7 buildings 18-60 m away in any direction, roughly facing the sensor."""
    for _ in range(int(rng.integers(3, 8))):
        a = float(rng.uniform(-np.pi, np.pi))
        r = float(rng.uniform(18, 60))
        parts = ob.structure(rng, "building")
        b.place(
            "structure", parts, r * np.cos(a), r * np.sin(a), a + np.pi / 2 + rng.normal(0, 0.2), margin=0.3
        )


def _lot_parking_rows(b: _Builder, rng: np.random.Generator, density: float) -> None:
    """1-4 parallel rows of parked cars (and a few trucks), 80 m long, 4-30 m either side of the
    sensor, all rows along one random direction."""
    base = float(rng.uniform(-np.pi, np.pi))
    for _row in range(int(rng.integers(1, 5))):
        off = float(rng.uniform(4, 30)) * float(rng.choice([-1, 1]))
        for k in np.arange(-40, 40, float(rng.uniform(2.5, 3.0))):
            if rng.random() < 0.6 * min(density, 1.3):
                x = off * -np.sin(base) + k * np.cos(base)
                y = off * np.cos(base) + k * np.sin(base)
                label = "car" if rng.random() < 0.9 else "truck"
                b.random(
                    label,
                    x,
                    y,
                    base + np.pi / 2 + float(rng.choice([0, np.pi])) + rng.normal(0, 0.06),
                    margin=0.1,
                )


def _lot_scatter(b: _Builder, rng: np.random.Generator, density: float) -> None:
    """People, cyclists, poles, bushes, misc objects, small structures and cars at random positions
    3-50 m away (uniform over the area) and random headings."""
    counts = {"pedestrian": 10, "cyclist": 2, "pole": 6, "vegetation": 6, "misc": 8, "structure": 3, "car": 3}
    for label, n in counts.items():
        for _ in range(rng.poisson(n * density)):
            r = float(np.sqrt(rng.uniform(9, 50**2)))
            a = float(rng.uniform(-np.pi, np.pi))
            b.random(label, r * np.cos(a), r * np.sin(a), float(rng.uniform(-np.pi, np.pi)), tries=2)


def _lot_trees(b: _Builder, rng: np.random.Generator, density: float) -> None:
    """About 5 trees (at density 1) at random positions 4-45 m away."""
    for _ in range(rng.poisson(5 * density)):
        r = float(np.sqrt(rng.uniform(16, 45**2)))
        a = float(rng.uniform(-np.pi, np.pi))
        b.tree(r * np.cos(a), r * np.sin(a))


def generate_scene(seed: int, density: float = 1.0, *, sensor_height: float = 1.73) -> Scene:
    """A random scene, deterministic in ``seed``.

    ``density`` scales the number of objects (1.0: ~30-60 objects visible to a 64-beam sensor
    within 50 m). ``sensor_height`` puts the ground at about ``z = -sensor_height``.
    """
    rng = np.random.default_rng(seed)
    ground = _ground(rng, sensor_height)
    b = _Builder(rng, ground)
    kind = "street" if rng.random() < 0.8 else "open"
    if kind == "street":
        _street(b, rng, density)
    else:
        _open_area(b, rng, density)
    for obj in b.objects:
        assert obj.label in CLASSES
    return Scene(objects=b.objects, ground=ground, seed=seed, sensor_height=sensor_height, kind=kind)
