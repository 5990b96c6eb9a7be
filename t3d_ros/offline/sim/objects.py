"""Object generators: every class of ``CLASSES`` built from analytic primitives with random shapes.

A model is a list of :class:`Part` in the object frame: origin on the ground under the object,
x forward (along the object's length), y left, z up. :func:`make_object` draws a random model of a
class; :func:`place_parts` moves a model into the sensor frame.

Primitive kinds (``params`` meaning, all in metres, in the part's own frame given by ``rot``):

- ``BOX``: half extents (hx, hy, hz).
- ``CYLINDER``: (radius, half length, 0), axis = local z; capped.
- ``ELLIPSOID``: semi-axes (a, b, c).
- ``CONE``: frustum (radius at z=-h, radius at z=+h, half length h), axis = local z; capped.

Materials: ``refl`` is the diffuse reflectivity (0..1) in the LiDAR's near infrared; ``transmit`` is
the probability that a ray passes through the part (glass, spokes, foliage, mesh fences);
``jitter`` moves a return up to that many metres deeper (rays that enter foliage); ``retro`` marks
retro-reflectors (plates, signs, cone bands) that return near-saturated intensity; ``mfp`` > 0 makes
a box or ellipsoid a *volume* of leaves with that mean free path (m): rays return from inside it at
exponentially distributed depths, or pass through (dense bush ~0.1-0.3 m, open crown ~0.5-1.5 m);
``gloss`` > 0 makes a surface glossy (clearcoat, glass): it keeps only a share cos(incidence)^gloss
of the beams that meet it, the rest mirrored away (0: rough, returns from any angle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

BOX, CYLINDER, ELLIPSOID, CONE = 0, 1, 2, 3

_I3 = np.eye(3)


@dataclass(slots=True)
class Part:
    """One primitive: ``kind``, ``center`` (3,), ``rot`` (3, 3) part-to-parent, ``params`` (3,)."""

    kind: int
    center: np.ndarray
    rot: np.ndarray
    params: np.ndarray
    refl: float
    transmit: float = 0.0
    jitter: float = 0.0
    retro: bool = False
    mfp: float = 0.0
    gloss: float = 0.0


def rot_x(a: float) -> np.ndarray:
    """Rotation matrix (3, 3) about +x by ``a`` radians."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(a: float) -> np.ndarray:
    """Rotation matrix (3, 3) about +y by ``a`` radians."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(a: float) -> np.ndarray:
    """Rotation matrix (3, 3) about +z by ``a`` radians."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def slope_tilt(gx: float, gy: float) -> np.ndarray:
    """Rotation (3, 3) that lays a level footprint onto the plane z = gx * x + gy * y: the x axis
    rises by gx and the y axis by gy (small angles: pitch then roll)."""
    return rot_y(-np.arctan(gx)) @ rot_x(np.arctan(gy))


def axis_rot(direction: np.ndarray) -> np.ndarray:
    """A rotation (3, 3) whose third column is the unit vector along ``direction`` (3,)."""
    zx, zy, zz = (float(v) for v in direction)
    n = (zx * zx + zy * zy + zz * zz) ** 0.5
    zx, zy, zz = zx / n, zy / n, zz / n
    # x = helper cross z, with helper = e_x unless z is close to it
    if abs(zx) < 0.9:
        xx, xy, xz = 0.0, -zz, zy
    else:
        xx, xy, xz = zz, 0.0, -zx
    m = (xx * xx + xy * xy + xz * xz) ** 0.5
    xx, xy, xz = xx / m, xy / m, xz / m
    yx, yy, yz = zy * xz - zz * xy, zz * xx - zx * xz, zx * xy - zy * xx
    return np.array([[xx, yx, zx], [xy, yy, zy], [xz, yz, zz]])


# ---- part helpers (object frame) ---------------------------------------------------------------


def box(center, size, refl: float, rot: np.ndarray = _I3, **mat) -> Part:
    """Box with full ``size`` (lx, ly, lz) at ``center``."""
    return Part(BOX, np.asarray(center, float), rot, 0.5 * np.asarray(size, float), refl, **mat)


def limb(p0, p1, radius: float, refl: float, **mat) -> Part:
    """Capped cylinder between points ``p0`` and ``p1`` (3,)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    return Part(
        CYLINDER, 0.5 * (p0 + p1), axis_rot(d), np.array([radius, 0.5 * np.linalg.norm(d), 0.0]), refl, **mat
    )


def vcyl(x: float, y: float, z0: float, height: float, radius: float, refl: float, **mat) -> Part:
    """Vertical cylinder standing at (x, y) from z0 up ``height``."""
    return Part(
        CYLINDER, np.array([x, y, z0 + 0.5 * height]), _I3, np.array([radius, 0.5 * height, 0.0]), refl, **mat
    )


def wheel(x: float, y: float, radius: float, width: float, refl: float, **mat) -> Part:
    """Wheel (cylinder with axis along y) touching the ground at (x, y)."""
    return Part(
        CYLINDER,
        np.array([x, y, radius]),
        rot_x(np.pi / 2),
        np.array([radius, 0.5 * width, 0.0]),
        refl,
        **mat,
    )


def ellipsoid(center, semi, refl: float, rot: np.ndarray = _I3, **mat) -> Part:
    """Ellipsoid with semi-axes ``semi`` (3,)."""
    return Part(ELLIPSOID, np.asarray(center, float), rot, np.asarray(semi, float), refl, **mat)


def cone(
    x: float, y: float, z0: float, height: float, r_bottom: float, r_top: float, refl: float, **mat
) -> Part:
    """Vertical frustum from z0 up ``height``."""
    return Part(
        CONE, np.array([x, y, z0 + 0.5 * height]), _I3, np.array([r_bottom, r_top, 0.5 * height]), refl, **mat
    )


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _paint(rng: np.random.Generator) -> float:
    # Car paint in the near infrared: black/dark blue cars return little, white/silver a lot.
    k = rng.random()
    if k < 0.3:
        return _u(rng, 0.03, 0.09)
    if k < 0.7:
        return _u(rng, 0.1, 0.3)
    return _u(rng, 0.3, 0.6)


def _cloth(rng: np.random.Generator) -> float:
    return _u(rng, 0.05, 0.5)


# ---- vehicles -----------------------------------------------------------------------------------

_GLASS = 0.45  # share of rays that pass through windows (to the interior or beyond)
# Glossy surfaces keep a share cos(incidence)^gloss of their returns: real clearcoat and glass mirror
# a slanted beam away, so a parked car returns its sides and ends, little of its roof and bonnet.
_GLOSS_GLASS, _GLOSS_PAINT = 2.0, 0.5


def _windscreen(x_top: float, x_bottom: float, z_top: float, z_bottom: float, width: float) -> Part:
    # Thin glass slab between the roof edge (x_top, z_top) and the bonnet (x_bottom, z_bottom).
    p0, p1 = np.array([x_top, 0.0, z_top]), np.array([x_bottom, 0.0, z_bottom])
    d = p1 - p0
    length = float(np.linalg.norm(d))
    pitch = np.arctan2(-d[2], d[0])  # rotate the slab's x axis onto d
    return box(0.5 * (p0 + p1), (length, width, 0.03), 0.05, rot=rot_y(pitch), transmit=_GLASS,
               gloss=_GLOSS_GLASS)


def car(rng: np.random.Generator) -> list[Part]:
    """Sedan, hatchback, SUV, wagon, pickup or van: body, glass cabin, wheels, plates, mirrors.

    Vans (a Sprinter, 5-6.5 m) are cars, as KITTI labels them (``Van`` -> ``car``): a `truck` is a
    box truck, a bus or a semi."""
    if rng.random() < 0.07:
        return van(rng)
    kind = rng.choice(["sedan", "hatch", "suv", "wagon", "pickup"], p=[0.35, 0.25, 0.25, 0.1, 0.05])
    if kind == "sedan":
        length, width, height = _u(rng, 4.2, 5.0), _u(rng, 1.7, 1.9), _u(rng, 1.38, 1.52)
    elif kind == "hatch":
        length, width, height = _u(rng, 3.5, 4.3), _u(rng, 1.6, 1.8), _u(rng, 1.42, 1.62)
    elif kind == "suv":
        length, width, height = _u(rng, 4.3, 5.0), _u(rng, 1.8, 2.0), _u(rng, 1.65, 1.9)
    elif kind == "wagon":
        length, width, height = _u(rng, 4.5, 5.0), _u(rng, 1.75, 1.9), _u(rng, 1.45, 1.75)
    else:
        length, width, height = _u(rng, 4.9, 5.4), _u(rng, 1.8, 2.0), _u(rng, 1.7, 1.9)
    paint = _paint(rng)
    tall = kind in ("suv", "pickup")
    clearance = _u(rng, 0.18, 0.26) if tall else _u(rng, 0.12, 0.2)
    r_wheel = _u(rng, 0.34, 0.4) if tall else _u(rng, 0.29, 0.34)
    belt = height * _u(rng, 0.56, 0.64)
    wheelbase = length * _u(rng, 0.57, 0.62)
    x_off = _u(rng, -0.05, 0.05) * length
    cab_w = width - _u(rng, 0.1, 0.2)
    parts: list[Part] = []
    # Lower body; the nose and the tail are a little lower than the belt line.
    nose = _u(rng, 0.5, 0.8)
    parts.append(
        box((x_off * 0.2, 0, 0.5 * (clearance + belt)), (length - 2 * nose, width, belt - clearance), paint,
            gloss=_GLOSS_PAINT)
    )
    for sign in (1, -1):
        z_top = belt - _u(rng, 0.05, 0.15)
        parts.append(
            box(
                (sign * (0.5 * length - 0.5 * nose) + x_off * 0.2, 0, 0.5 * (clearance + 0.05 + z_top)),
                (nose, width - 0.04, z_top - clearance - 0.05),
                paint,
                gloss=_GLOSS_PAINT,
            )
        )
    if kind == "sedan":
        cab_len = length * _u(rng, 0.42, 0.5)
        cab_c = -length * _u(rng, 0.0, 0.06)
    elif kind == "hatch":
        cab_len = length * _u(rng, 0.5, 0.58)
        cab_c = -0.5 * length + 0.12 + 0.5 * cab_len
    elif kind == "pickup":
        cab_len = length * _u(rng, 0.28, 0.34)
        cab_c = length * 0.05
    else:
        cab_len = length * _u(rng, 0.58, 0.68)
        cab_c = -0.5 * length + 0.1 + 0.5 * cab_len
    roof_h = height - belt
    parts.append(box((cab_c, 0, belt + 0.5 * roof_h), (cab_len, cab_w, roof_h), paint * 0.8, transmit=_GLASS,
                     gloss=_GLOSS_GLASS))
    parts.append(box((cab_c, 0, height - 0.02), (cab_len, cab_w, 0.04), paint, gloss=_GLOSS_PAINT))  # roof
    ws = roof_h / np.tan(np.radians(_u(rng, 28, 40)))
    parts.append(_windscreen(cab_c + 0.5 * cab_len, cab_c + 0.5 * cab_len + ws, height, belt, cab_w))
    if kind == "sedan":
        rs = roof_h / np.tan(np.radians(_u(rng, 25, 35)))
        parts.append(_windscreen(cab_c - 0.5 * cab_len, cab_c - 0.5 * cab_len - rs, height, belt, cab_w))
    if kind == "pickup":  # open bed: floor and three walls
        bed_len = 0.5 * length + cab_c - 0.5 * cab_len - 0.1
        bx = -0.5 * length + 0.5 * bed_len
        bed_top = belt + 0.05
        parts.append(box((bx, 0.5 * width - 0.03, bed_top - 0.25), (bed_len, 0.06, 0.5), paint, gloss=_GLOSS_PAINT))
        parts.append(box((bx, -0.5 * width + 0.03, bed_top - 0.25), (bed_len, 0.06, 0.5), paint, gloss=_GLOSS_PAINT))
        parts.append(box((-0.5 * length + 0.03, 0, bed_top - 0.25), (0.06, width, 0.5), paint, gloss=_GLOSS_PAINT))
    tyre = _u(rng, 0.03, 0.08)
    wy = 0.5 * width - 0.13
    for x in (0.5 * wheelbase + x_off, -0.5 * wheelbase + x_off):
        for y in (wy, -wy):
            parts.append(wheel(x, y, r_wheel, 0.22, tyre))
    for sign in (1, -1):  # mirrors
        parts.append(
            box(
                (cab_c + 0.5 * cab_len - 0.1, sign * (0.5 * width + 0.08), belt + 0.08),
                (0.12, 0.16, 0.12),
                paint,
                gloss=_GLOSS_PAINT,
            )
        )
        # licence plates and rear lights are retro-reflective
        parts.append(
            box((sign * (0.5 * length + 0.01), 0, _u(rng, 0.35, 0.6)), (0.02, 0.5, 0.12), 0.9, retro=True)
        )
        parts.append(
            box(
                (-0.5 * length - 0.005, sign * (0.5 * width - 0.15), belt - 0.15),
                (0.02, 0.25, 0.12),
                0.7,
                retro=rng.random() < 0.5,
            )
        )
    return parts


def van(rng: np.random.Generator) -> list[Part]:
    """Large van (5-6.5 m long, 2.2-2.8 m high): a `car`, as in KITTI's labels."""
    paint = _paint(rng)
    length, width, height = _u(rng, 5.0, 6.5), _u(rng, 1.95, 2.15), _u(rng, 2.2, 2.8)
    r_w = _u(rng, 0.33, 0.4)
    nose = _u(rng, 0.6, 0.9)
    parts = [box((-0.5 * nose, 0, 0.5 * (height + 0.3)), (length - nose, width, height - 0.3), paint,
                 gloss=_GLOSS_PAINT),
             box((0.5 * length - 0.5 * nose, 0, 0.65), (nose, width - 0.05, 0.7), paint, gloss=_GLOSS_PAINT),
             _windscreen(0.5 * length - nose, 0.5 * length - 0.1, height - 0.2, 1.05, width - 0.15)]
    for x in (0.5 * length - nose - 0.3, -0.5 * length + 1.0):
        for y in (0.5 * width - 0.2, -0.5 * width + 0.2):
            parts.append(wheel(x, y, r_w, 0.24, 0.05))
    parts.append(box((-0.5 * length - 0.01, 0, 0.6), (0.02, 0.5, 0.12), 0.9, retro=True))
    return parts


def truck(rng: np.random.Generator) -> list[Part]:
    """Box truck, bus or tractor with trailer (6-12.5 m). Vans are cars (see :func:`van`)."""
    kind = rng.choice(["box", "bus", "semi"], p=[0.45, 0.35, 0.2])
    paint = _paint(rng)
    parts: list[Part] = []
    if kind == "bus":
        length, width, height = _u(rng, 9.0, 12.2), _u(rng, 2.45, 2.55), _u(rng, 2.9, 3.4)
        r_w = _u(rng, 0.48, 0.52)
        parts.append(box((0, 0, 0.7), (length, width, 0.8), paint))
        parts.append(
            box(
                (0, 0, 0.5 * (1.1 + height - 0.5)),
                (length - 0.1, width - 0.04, height - 1.6),
                0.08,
                transmit=0.35,
            )
        )  # window band
        parts.append(box((0, 0, height - 0.25), (length, width, 0.5), paint))
        axles = [0.5 * length - 2.6, -0.5 * length + 3.0]
        tyre_w = 0.3
    else:
        length = _u(rng, 6.0, 9.0) if kind == "box" else _u(rng, 10.0, 12.5)
        width = _u(rng, 2.3, 2.55)
        height = _u(rng, 2.9, 3.6) if kind == "box" else _u(rng, 3.6, 4.0)
        r_w = _u(rng, 0.45, 0.52)
        cab_len, cab_h = _u(rng, 1.8, 2.4), _u(rng, 2.5, 3.0)
        cx = 0.5 * length - 0.5 * cab_len
        parts.append(box((cx, 0, 0.5 * (0.6 + cab_h)), (cab_len, width - 0.1, cab_h - 0.6), paint))
        parts.append(_windscreen(0.5 * length - 0.25, 0.5 * length - 0.02, cab_h - 0.15, 1.6, width - 0.3))
        gap = _u(rng, 0.2, 0.6)
        cargo_len = length - cab_len - gap
        cargo_paint = _u(rng, 0.2, 0.6)
        bottom = _u(rng, 1.0, 1.3)
        parts.append(
            box(
                (-0.5 * length + 0.5 * cargo_len, 0, 0.5 * (bottom + height)),
                (cargo_len, width, height - bottom),
                cargo_paint,
            )
        )
        parts.append(box((0, 0, 0.5 * (0.55 + bottom)), (length - 0.6, 0.9, bottom - 0.55), 0.05))  # chassis
        axles = [0.5 * length - 0.5 * cab_len - 0.2, -0.5 * length + 1.5]
        if kind == "semi" or length > 8.0:
            axles.append(-0.5 * length + 2.8)
        tyre_w = 0.3
    for x in axles:
        for y in (0.5 * width - 0.2, -0.5 * width + 0.2):
            parts.append(wheel(x, y, r_w, tyre_w, 0.05))
    parts.append(box((-0.5 * length - 0.01, 0, 0.6), (0.02, 0.5, 0.12), 0.9, retro=True))
    if kind in ("box", "semi") and rng.random() < 0.6:  # reflective contour markings
        parts.append(
            box((-0.5 * length - 0.012, 0, height - 0.1), (0.02, width - 0.1, 0.06), 0.9, retro=True)
        )
    return parts


# ---- people -------------------------------------------------------------------------------------


def _two_bone(hip: np.ndarray, foot: np.ndarray, l1: float, l2: float, bend: np.ndarray) -> np.ndarray:
    # Knee position of a two-segment limb reaching from hip to foot, bending towards ``bend``.
    d_vec = foot - hip
    d = min(float(np.linalg.norm(d_vec)), l1 + l2 - 1e-3)
    u = d_vec / max(np.linalg.norm(d_vec), 1e-9)
    a = (l1 * l1 - l2 * l2 + d * d) / (2 * d)
    h = np.sqrt(max(l1 * l1 - a * a, 0.0))
    v = bend - np.dot(bend, u) * u
    v /= max(np.linalg.norm(v), 1e-9)
    return hip + a * u + h * v


def pedestrian(rng: np.random.Generator) -> list[Part]:
    """Adult or child, standing / walking / running, with arms, optional bag, backpack or coat."""
    child = rng.random() < 0.12
    height = _u(rng, 1.1, 1.45) if child else float(np.clip(rng.normal(1.72, 0.09), 1.5, 2.0))
    s = height / 1.75
    build = _u(rng, 0.85, 1.25)  # slim .. heavy
    cloth, skin = _cloth(rng), _u(rng, 0.15, 0.45)
    hip_z = height * (0.5 if child else 0.52)
    shoulder_z = height * 0.81
    head_r = 0.11 * s * (1.2 if child else 1.0)
    parts = [
        ellipsoid(
            (0, 0, height - head_r),
            (0.95 * head_r, 0.8 * head_r, head_r),
            skin if rng.random() < 0.5 else _u(rng, 0.05, 0.3),
        )
    ]
    torso_h = 0.5 * (shoulder_z - hip_z) + 0.05 * s
    lean = _u(rng, -0.05, 0.15)
    parts.append(
        ellipsoid(
            (0.02, 0, hip_z + torso_h),
            (0.12 * s * build, 0.2 * s * build, torso_h + 0.05 * s),
            cloth,
            rot=rot_y(lean),
        )
    )
    pose = rng.choice(["stand", "walk", "run"], p=[0.35, 0.55, 0.1])
    swing = {"stand": _u(rng, 0.0, 0.08), "walk": _u(rng, 0.2, 0.45), "run": _u(rng, 0.45, 0.7)}[str(pose)]
    leg_len = hip_z - 0.05
    pants = _cloth(rng)
    for side, phase in ((1.0, 1.0), (-1.0, -1.0)):
        hip = np.array([0.0, side * 0.09 * s * build, hip_z])
        ang = phase * swing * _u(rng, 0.7, 1.0)
        foot = np.array([leg_len * np.sin(ang), side * (0.1 * s + _u(rng, 0.0, 0.06)), 0.05])
        foot[2] = max(0.05, hip_z - leg_len * np.cos(ang) * (0.97 if ang < 0 else 1.0))
        knee = _two_bone(hip, foot, 0.5 * leg_len, 0.5 * leg_len + 0.01, np.array([1.0, 0.0, 0.0]))
        parts.append(limb(hip, knee, 0.075 * s * build, pants))
        parts.append(limb(knee, foot, 0.055 * s * build, pants))
        parts.append(box((foot[0] + 0.05 * s, foot[1], 0.04), (0.25 * s, 0.1 * s, 0.08), 0.1))
        shoulder = np.array([0.0, side * 0.2 * s * build, shoulder_z])
        arm_len = 0.36 * height
        a_ang = -phase * swing * 0.8
        elbow = shoulder + 0.5 * arm_len * np.array([np.sin(a_ang), 0.15 * side, -np.cos(a_ang)])
        fore = _u(rng, 0.0, 1.3) if pose != "stand" or rng.random() < 0.3 else 0.1
        hand = elbow + 0.5 * arm_len * np.array([np.sin(a_ang + fore), 0.05 * side, -np.cos(a_ang + fore)])
        parts.append(limb(shoulder, elbow, 0.05 * s * build, cloth))
        parts.append(limb(elbow, hand, 0.04 * s * build, skin))
        if side > 0 and rng.random() < 0.2:  # hand bag / shopping bag
            parts.append(box(hand - np.array([0, 0, 0.18]), (0.3, 0.12, 0.3), _cloth(rng)))
    if rng.random() < 0.25:  # backpack
        parts.append(box((-0.12 * s * build - 0.09, 0, shoulder_z - 0.22), (0.18, 0.3, 0.4), _cloth(rng)))
    if rng.random() < 0.15 and not child:  # long coat / dress hides the legs
        parts.append(
            cone(
                0,
                0,
                hip_z * _u(rng, 0.25, 0.55),
                hip_z * 0.6,
                _u(rng, 0.22, 0.3) * s,
                0.17 * s * build,
                cloth,
            )
        )
    return parts


def _bicycle(rng: np.random.Generator, frame_refl: float) -> tuple[list[Part], dict[str, np.ndarray]]:
    r = _u(rng, 0.31, 0.36)
    wb = _u(rng, 0.98, 1.1)
    rear, front = np.array([-0.5 * wb, 0, r]), np.array([0.5 * wb, 0, r])
    bb = np.array([-0.5 * wb + 0.42, 0, 0.3])
    seat = np.array([-0.5 * wb + 0.3, 0, _u(rng, 0.85, 1.0)])
    head_top = np.array([0.5 * wb - 0.22, 0, seat[2] - 0.02])
    head_bot = np.array([0.5 * wb - 0.16, 0, seat[2] - 0.18])
    bar = np.array([0.5 * wb - 0.25, 0, seat[2] + _u(rng, 0.0, 0.12)])
    tube = _u(rng, 0.015, 0.025)
    parts = [
        # spoked wheels: most rays pass between the spokes
        Part(CYLINDER, rear, rot_x(np.pi / 2), np.array([r, 0.02, 0.0]), 0.08, transmit=0.6),
        Part(CYLINDER, front, rot_x(np.pi / 2), np.array([r, 0.02, 0.0]), 0.08, transmit=0.6),
        limb(bb, seat, tube, frame_refl),
        limb(seat, head_top, tube, frame_refl),
        limb(bb, head_bot, tube * 1.2, frame_refl),
        limb(bb, rear, tube * 0.8, frame_refl),
        limb(seat + np.array([0.03, 0, -0.05]), rear, tube * 0.7, frame_refl),
        limb(head_top, front, tube, frame_refl),
        limb(head_top, bar, tube, frame_refl),
        limb(bar + np.array([0, 0.27, 0]), bar - np.array([0, 0.27, 0]), 0.014, frame_refl),
        box(seat + np.array([0, 0, 0.03]), (0.25, 0.14, 0.05), 0.05),
    ]
    if rng.random() < 0.3:  # rear rack / basket
        parts.append(box(rear + np.array([0.05, 0, r + 0.05]), (0.4, 0.16, 0.08), frame_refl))
    return parts, {"bb": bb, "seat": seat, "bar": bar}


def cyclist(rng: np.random.Generator, rider: bool = True) -> list[Part]:
    """Bicycle (or sometimes a motorbike) with its rider; ``rider=False`` gives a parked bicycle."""
    frame_refl = _u(rng, 0.1, 0.6)
    if rider and rng.random() < 0.12:
        # Motorbike: heavier wheels, a body between them, an upright rider.
        wb = _u(rng, 1.3, 1.5)
        r = _u(rng, 0.28, 0.33)
        parts = [
            wheel(0.5 * wb, 0, r, 0.12, 0.05),
            wheel(-0.5 * wb, 0, r, 0.15, 0.05),
            box((0.0, 0, r + 0.25), (wb * 0.8, 0.35, 0.45), _paint(rng)),
            box((-0.25, 0, r + 0.52), (0.6, 0.28, 0.1), 0.05),
        ]
        joints = {
            "bb": np.array([0.05, 0, r + 0.05]),
            "seat": np.array([-0.25, 0, r + 0.55]),
            "bar": np.array([0.5 * wb - 0.25, 0, r + 0.75]),
        }
        crank = None
    else:
        parts, joints = _bicycle(rng, frame_refl)
        crank = _u(rng, 0, 2 * np.pi)
    if not rider:
        return parts
    h = float(np.clip(rng.normal(1.75, 0.08), 1.5, 1.95))
    s = h / 1.75
    cloth, pants = _cloth(rng), _cloth(rng)
    hip = joints["seat"] + np.array([0.0, 0, 0.08])
    lean = _u(rng, 0.25, 0.75) if crank is not None else _u(rng, 0.1, 0.35)  # forward lean from vertical
    torso_len = 0.55 * s
    shoulder = hip + torso_len * np.array([np.sin(lean), 0, np.cos(lean)])
    parts.append(
        ellipsoid(
            0.5 * (hip + shoulder), (0.12 * s, 0.19 * s, 0.5 * torso_len + 0.05), cloth, rot=rot_y(lean)
        )
    )
    head_c = shoulder + 0.2 * s * np.array([np.sin(lean * 0.6), 0, np.cos(lean * 0.6)])
    helmet = rng.random() < 0.5
    parts.append(
        ellipsoid(
            head_c,
            (0.13 * s, 0.1 * s, 0.12 * s) if helmet else (0.1 * s, 0.08 * s, 0.11 * s),
            _u(rng, 0.1, 0.7) if helmet else _u(rng, 0.1, 0.4),
        )
    )
    leg = 0.46 * s
    for side in (1.0, -1.0):
        hip_s = hip + np.array([0, side * 0.1 * s, 0])
        if crank is not None:
            a = crank + (0 if side > 0 else np.pi)
            foot = joints["bb"] + np.array([0.17 * np.cos(a), side * 0.15, 0.17 * np.sin(a)])
        else:
            foot = joints["bb"] + np.array([0.15, side * 0.2, -0.05])
        knee = _two_bone(hip_s, foot, leg, leg, np.array([1.0, 0, 0.3]))
        parts.append(limb(hip_s, knee, 0.07 * s, pants))
        parts.append(limb(knee, foot, 0.055 * s, pants))
        sh = shoulder + np.array([0, side * 0.19 * s, 0])
        hand = joints["bar"] + np.array([0, side * 0.24, 0])
        elbow = _two_bone(sh, hand, 0.3 * s, 0.3 * s, np.array([-0.2, side * 0.5, -1.0]))
        parts.append(limb(sh, elbow, 0.045 * s, cloth))
        parts.append(limb(elbow, hand, 0.04 * s, cloth))
    return parts


# ---- street furniture and nature ---------------------------------------------------------------


def pole(rng: np.random.Generator, kind: str | None = None) -> list[Part]:
    """Street lamp, thin post, sign post, traffic light, utility pole or tree trunk (see :func:`tree`)."""
    kind = kind or str(
        rng.choice(["lamp", "thin", "sign", "light", "utility"], p=[0.3, 0.15, 0.3, 0.12, 0.13])
    )
    metal = _u(rng, 0.15, 0.45)
    if kind == "lamp":
        h = _u(rng, 5.0, 10.0)
        r0 = _u(rng, 0.06, 0.09)  # columns of 4-10 m: 12-18 cm across at the base (EN 40), tapering
        parts = [cone(0, 0, -0.05, h + 0.05, r0, r0 * _u(rng, 0.45, 0.8), metal)]
        arm = _u(rng, 0.5, 2.5)
        rise = _u(rng, 0.0, 0.5)
        parts.append(limb((0, 0, h - 0.1), (arm, 0, h + rise), 0.04, metal))
        parts.append(box((arm, 0, h + rise - 0.08), (_u(rng, 0.4, 0.8), _u(rng, 0.2, 0.35), 0.15), metal))
        return parts
    if kind == "thin":
        h = _u(rng, 1.8, 3.5)
        return [vcyl(0, 0, -0.05, h, _u(rng, 0.03, 0.06), metal)]
    if kind == "sign":
        h = _u(rng, 2.0, 3.2)
        r = _u(rng, 0.03, 0.05)
        parts = [vcyl(0, 0, -0.05, h, r, metal)]
        n_signs = 1 if rng.random() < 0.75 else 2
        z = h - 0.05
        for _ in range(n_signs):
            w = _u(rng, 0.45, 0.9)
            if rng.random() < 0.5:  # round sign, facing +x
                parts.append(
                    Part(
                        CYLINDER,
                        np.array([r + 0.02, 0, z - 0.5 * w]),
                        rot_y(np.pi / 2),
                        np.array([0.5 * w, 0.01, 0.0]),
                        0.9,
                        retro=True,
                    )
                )
            else:
                ht = w * _u(rng, 0.6, 1.2)
                parts.append(box((r + 0.02, 0, z - 0.5 * ht), (0.02, w, ht), 0.9, retro=True))
                w = ht
            z -= w + 0.05
        return parts
    if kind == "light":
        h = _u(rng, 2.8, 4.5)
        parts = [vcyl(0, 0, -0.05, h, _u(rng, 0.06, 0.1), metal)]
        parts.append(box((0.12, 0, h - 0.45), (0.25, 0.32, 0.9), 0.05))
        if rng.random() < 0.3:  # mast arm over the road
            arm = _u(rng, 3.0, 6.0)
            parts.append(limb((0, 0, h - 0.1), (arm, 0, h + 0.2), 0.07, metal))
            parts.append(box((arm - 0.3, 0, h - 0.3), (0.25, 0.32, 0.9), 0.05))
        return parts
    if kind == "utility":
        h = _u(rng, 7.0, 11.0)
        parts = [cone(0, 0, -0.05, h, _u(rng, 0.13, 0.17), _u(rng, 0.09, 0.12), _u(rng, 0.2, 0.35))]
        parts.append(box((0, 0, h - 0.4), (0.1, _u(rng, 1.2, 2.2), 0.1), 0.3))
        return parts
    if kind == "trunk":  # up to the first branches
        h = _u(rng, 1.6, 3.5)
        # most street trees are young: trunks 10-60 cm across, half of them under 22 cm
        r0 = 0.05 + 0.25 * float(rng.random()) ** 2
        return [cone(0, 0, -0.05, h, r0, r0 * _u(rng, 0.6, 0.9), _u(rng, 0.2, 0.45))]
    raise ValueError(f"unknown pole kind {kind!r}")


def leaves(center, semi, refl: float, mfp: float, rot: np.ndarray = _I3) -> Part:
    """A volume of foliage: an ellipsoid whose returns come from inside it (mean free path ``mfp``, m)."""
    return Part(ELLIPSOID, np.asarray(center, float), rot, np.asarray(semi, float), refl, mfp=mfp)


def leaf_box(center, size, refl: float, mfp: float, rot: np.ndarray = _I3) -> Part:
    """A box-shaped volume of foliage (a clipped hedge) with mean free path ``mfp``."""
    return Part(BOX, np.asarray(center, float), rot, 0.5 * np.asarray(size, float), refl, mfp=mfp)


def _leaf_refl(rng: np.random.Generator) -> float:
    # Leaves are bright in the near infrared, but a canopy returns a mix of leaves, twigs and shadow.
    return _u(rng, 0.2, 0.6)


def crown(rng: np.random.Generator, base_z: float, trunk_r: float) -> list[Part]:
    """Tree crown above ``base_z``: lobes of open foliage (conifer: a stack of cones). Returns come from
    inside the crown and some rays pass through it (mean free path 0.3-1.5 m)."""
    refl = _leaf_refl(rng)
    mfp = _u(rng, 0.2, 1.0)
    if rng.random() < 0.15:
        h = _u(rng, 3.0, 8.0)
        r = _u(rng, 1.0, 2.5)
        return [Part(CONE, np.array([0, 0, base_z + 0.5 * h]), _I3, np.array([r, 0.15, 0.5 * h]), refl,
                     transmit=_u(rng, 0.3, 0.55), jitter=_u(rng, 0.2, 0.5))]
    # Leaves grow in clumps with gaps between them: real canopies come apart into many fragments.
    radius, height = _u(rng, 1.2, 5.0), _u(rng, 1.5, 6.0)
    n = int(np.clip(radius * height * _u(rng, 0.6, 1.6), 3, 40))
    # the core where the trunk branches out: the crown is one object with its trunk, as on real trees
    core = _u(rng, 0.4, 0.9)
    parts = [leaves((0, 0, base_z + core), (core, core, core), refl, mfp)]
    for _ in range(n):
        u = rng.normal(0, 1, 3)
        u *= rng.random() ** (1 / 3) / max(np.linalg.norm(u), 1e-9)  # uniform in the unit ball
        size = _u(rng, 0.35, 1.2) * min(1.0, 0.5 * radius)
        a, b, c = size, size * _u(rng, 0.7, 1.3), size * _u(rng, 0.5, 1.0)
        # the crown's lowest point stays above base_z, so cars and people fit underneath
        z = base_z + 0.5 * height + u[2] * 0.5 * height
        z = max(z, base_z + c)
        parts.append(leaves((u[0] * radius, u[1] * radius, z), (a, b, c), refl, mfp * _u(rng, 0.6, 1.4),
                            rot_z(_u(rng, 0, 3))))
    return parts


def _lobes(rng: np.random.Generator, length: float, width: float, height: float, n: int, refl: float,
           mfp: float) -> list[Part]:
    """``n`` overlapping leaf volumes filling a rough ``length`` x ``width`` x ``height`` footprint
    (along x): a clump when it is short, a row of shrubs when it is long."""
    parts = []
    seg = length / n
    for k in range(n):
        a = min(_u(rng, 0.5, 0.9) * max(seg, width) + 0.1, 0.5 * length + 0.1)
        b = min(_u(rng, 0.35, 0.6) * width + 0.05, a)
        c = _u(rng, 0.35, 0.55) * height
        x = -0.5 * length + (k + 0.5) * seg + _u(rng, -0.3, 0.3) * seg
        y = _u(rng, -0.5, 0.5) * max(width - 2 * b, 0.0)
        z = c + _u(rng, 0.0, 1.0) * max(height - 2 * c, 0.0)
        yaw = _u(rng, -np.pi, np.pi) if a < 1.5 * b else _u(rng, -0.15, 0.15)
        parts.append(leaves((x, y, z), (a, b, c), refl, mfp * _u(rng, 0.7, 1.4), rot_z(yaw)))
    return parts


def bush(rng: np.random.Generator) -> list[Part]:
    """A bush, a clump of shrubs or a tall shrub (thuja, laurel): overlapping leaf volumes, dense (mfp
    0.08-0.35 m), 0.4-3.5 m high."""
    if rng.random() < 0.3:  # tall and narrow
        size, h = _u(rng, 0.5, 1.6), _u(rng, 1.5, 3.5)
    else:
        size = _u(rng, 0.6, 3.5)
        h = min(_u(rng, 0.4, 3.0), 1.3 * size + 0.4)
    return _lobes(rng, size, size * _u(rng, 0.5, 1.0), h, int(rng.integers(2, 8)), _leaf_refl(rng),
                  _u(rng, 0.08, 0.35))


def hedge(rng: np.random.Generator, length: float | None = None) -> list[Part]:
    """A hedge along x: a clipped body of leaves (mfp 0.06-0.3 m) with an uneven top and sides, or an
    untrimmed row of shrubs; 2-30 m long, 0.5-2.8 m high."""
    length = length or _u(rng, 2.0, 30.0)
    h, w = _u(rng, 0.5, 2.8), _u(rng, 0.5, 1.6)
    refl, mfp = _leaf_refl(rng), _u(rng, 0.06, 0.3)
    if rng.random() < 0.6:  # clipped: a box of leaves with lumps on top
        parts = [leaf_box((0, 0, 0.45 * h), (length, w, 0.9 * h), refl, mfp)]
        n = max(1, int(length / _u(rng, 1.0, 3.0)))
        for x in np.linspace(-0.5 * length + 0.5, 0.5 * length - 0.5, n):
            parts.append(leaves((x + _u(rng, -0.3, 0.3), _u(rng, -0.1, 0.1) * w, 0.9 * h),
                                (_u(rng, 0.4, 1.0), 0.5 * w * _u(rng, 0.8, 1.1), _u(rng, 0.05, 0.2) * h + 0.05),
                                refl, mfp))
        return parts
    n = max(2, int(length / _u(rng, 0.8, 1.8)))
    return _lobes(rng, length, w, h, n, refl, mfp * _u(rng, 1.0, 2.0))


def flower_bed(rng: np.random.Generator) -> list[Part]:
    """A flower bed, tall grass or ground cover: a low, wide patch of sparse leaves (0.2-0.7 m)."""
    length, width, h = _u(rng, 1.0, 6.0), _u(rng, 0.6, 3.0), _u(rng, 0.2, 0.7)
    return _lobes(rng, length, width, h, int(rng.integers(1, 5)), _leaf_refl(rng), _u(rng, 0.2, 0.6))


def shrubbery(rng: np.random.Generator) -> list[Part]:
    """An overgrown mass of shrubs, 3-12 m long, 2-6 m deep, 1-3.5 m high: many lobes of several
    densities, tall ones among low ones (garden corners, park edges)."""
    length, width = _u(rng, 3.0, 12.0), _u(rng, 2.0, 6.0)
    parts = []
    for _ in range(int(rng.integers(2, 5))):  # a few layers of different heights
        h = _u(rng, 0.8, 3.5)
        n = max(2, int(length * _u(rng, 0.6, 1.5)))
        layer = _lobes(rng, length * _u(rng, 0.6, 1.0), width * _u(rng, 0.4, 1.0), h, n, _leaf_refl(rng),
                       _u(rng, 0.08, 0.5))
        dy = _u(rng, -0.3, 0.3) * width
        parts += [Part(q.kind, q.center + np.array([0.0, dy, 0.0]), q.rot, q.params, q.refl, mfp=q.mfp)
                  for q in layer]
    return parts


def vegetation(rng: np.random.Generator, kind: str | None = None) -> list[Part]:
    """Bush, hedge, shrub row, overgrown shrubbery or flower bed (tree crowns come from :func:`tree`)."""
    kind = kind or str(rng.choice(["bush", "hedge", "shrubbery", "bed"], p=[0.45, 0.28, 0.17, 0.1]))
    if kind == "shrubbery":
        return shrubbery(rng)
    if kind == "bush":
        return bush(rng)
    if kind == "hedge":
        return hedge(rng)
    if kind == "bed":
        return flower_bed(rng)
    raise ValueError(f"unknown vegetation kind {kind!r}")


def _facade(rng: np.random.Generator, length: float, h: float, grey: float, depth: float = 0.4) -> list[Part]:
    """The street face (y = 0, facing +y) of a building ``length`` x ``h``: wall piers and spandrels
    around window openings; behind each opening the dark glass, ``depth`` m back, returns little
    (weak and often lost), so windows are holes in the returns, as on real facades."""
    floor = _u(rng, 2.8, 3.6)
    n_floors = max(1, int(h / floor))
    win_w, win_h = _u(rng, 0.8, 2.2), _u(rng, 1.2, 1.9)
    pitch = win_w + _u(rng, 0.6, 2.5)
    n_win = max(1, int((length - 0.8) / pitch))
    xs = (np.arange(n_win) - 0.5 * (n_win - 1)) * pitch
    glass = _u(rng, 0.02, 0.08)
    parts = [box((0, -depth - 0.05, 0.5 * h), (length, 0.1, h), glass, transmit=0.3)]  # glass plane
    sill = _u(rng, 0.8, 1.1)
    for f in range(n_floors):
        z0 = f * floor
        top = min(z0 + floor, h)
        bottom = z0 + sill if f or rng.random() < 0.6 else z0 + 0.05  # shop windows on the ground floor
        wh = min(win_h if bottom > z0 + 0.1 else 2.4, top - bottom - 0.3)
        if wh < 0.5:
            parts.append(box((0, -0.5 * depth, 0.5 * (z0 + top)), (length, depth, top - z0), grey))
            continue
        # spandrel below and lintel above the windows, then piers between them
        parts.append(box((0, -0.5 * depth, 0.5 * (z0 + bottom)), (length, depth, bottom - z0 + 0.01), grey))
        parts.append(box((0, -0.5 * depth, 0.5 * (bottom + wh + top)), (length, depth, top - bottom - wh), grey))
        edges = np.r_[-0.5 * length, (xs[:, None] + [-0.5 * win_w, 0.5 * win_w]).ravel(), 0.5 * length]
        for a, b_ in edges.reshape(-1, 2):
            if b_ - a > 0.05:
                parts.append(box((0.5 * (a + b_), -0.5 * depth, bottom + 0.5 * wh), (b_ - a, depth, wh), grey))
    return parts


def _roof(rng: np.random.Generator, length: float, depth: float, h: float, grey: float) -> list[Part]:
    """A pitched roof over a ``length`` x ``depth`` block of height ``h`` (ridge along x), centred on the
    block (y from 0 to -depth): two tilted slabs."""
    pitch = np.radians(_u(rng, 25, 45))
    half = 0.5 * depth + 0.3
    slope = half / np.cos(pitch)
    rise = half * np.tan(pitch)
    tiles = _u(rng, 0.05, 0.3)
    parts = []
    for sgn in (-1, 1):
        y = -0.5 * depth + sgn * 0.5 * half
        parts.append(box((0, y, h + 0.5 * rise), (length + 0.4, slope, 0.12), tiles, rot=rot_x(sgn * pitch)))
    return parts


def structure(rng: np.random.Generator, kind: str | None = None, length: float | None = None) -> list[Part]:
    """Wall, low garden wall, fence (bars, mesh or boards), guard rail, bus shelter, building (facade
    with windows, uneven roof line), house (pitched roof), shed or garage."""
    kind = kind or str(rng.choice(["wall", "low_wall", "fence", "rail", "shelter", "building", "shed"],
                                  p=[0.15, 0.12, 0.25, 0.1, 0.05, 0.2, 0.13]))
    grey = _u(rng, 0.15, 0.5)
    if kind in ("wall", "low_wall"):
        length = length or _u(rng, 2.0, 15.0)
        h = _u(rng, 0.4, 1.2) if kind == "low_wall" else _u(rng, 1.2, 3.0)
        t = _u(rng, 0.15, 0.5)
        parts = [box((0, 0, 0.5 * h - 0.1), (length, t, h + 0.2), grey)]
        if rng.random() < 0.3:  # coping stones
            parts.append(box((0, 0, h + 0.04), (length + 0.05, t + 0.08, 0.08), grey * 1.1))
        if rng.random() < 0.35:  # pillars every few metres
            for x in np.arange(-0.5 * length, 0.5 * length + 0.01, _u(rng, 2.0, 4.0)):
                parts.append(box((x, 0, 0.5 * h + 0.1), (0.4, t + 0.15, h + 0.2), grey))
        return parts
    if kind == "fence":
        length = length or _u(rng, 3.0, 20.0)
        h = _u(rng, 0.9, 2.0)
        style = rng.choice(["bars", "mesh", "boards", "pickets"])
        n_posts = max(2, int(length / _u(rng, 2.0, 3.0)) + 1)
        parts = [
            vcyl(x, 0, -0.1, h + 0.1, _u(rng, 0.03, 0.05), grey)
            for x in np.linspace(-0.5 * length, 0.5 * length, n_posts)
        ]
        parts.append(box((0, 0, h - 0.03), (length, 0.05, 0.05), grey))
        if style in ("bars", "pickets"):
            parts.append(box((0, 0, 0.12), (length, 0.05, 0.05), grey))
            gap = _u(rng, 0.12, 0.25)
            w = 0.012 if style == "bars" else _u(rng, 0.03, 0.06)
            for x in np.arange(-0.5 * length + gap, 0.5 * length, gap)[:150]:
                parts.append(vcyl(x, 0, 0.0, h, w, grey) if style == "bars"
                             else box((x, 0, 0.5 * h), (w, 0.02, h), grey))
        elif style == "mesh":  # chain-link: most rays pass through
            parts.append(box((0, 0, 0.5 * h), (length, 0.02, h), grey, transmit=_u(rng, 0.5, 0.8)))
        else:
            parts.append(
                box((0, 0, 0.5 * h), (length, 0.03, h), _u(rng, 0.15, 0.4), transmit=_u(rng, 0.0, 0.3))
            )
        return parts
    if kind == "rail":
        length = length or _u(rng, 6.0, 25.0)
        z = _u(rng, 0.55, 0.8)
        parts = [box((0, 0, z), (length, 0.06, 0.32), _u(rng, 0.3, 0.6))]
        for x in np.arange(-0.5 * length + 0.2, 0.5 * length, 2.0):
            parts.append(box((x, -0.1, 0.5 * z - 0.05), (0.1, 0.1, z + 0.1), grey))
        return parts
    if kind == "shelter":
        length, depth, h = _u(rng, 3.0, 6.0), _u(rng, 1.2, 1.8), _u(rng, 2.3, 2.7)
        glass = {"transmit": 0.7}
        parts = [
            box((0, 0.5 * depth, 0.5 * h), (length, 0.03, h - 0.1), 0.1, **glass),
            box((0.5 * length, 0, 0.5 * h), (0.03, depth, h - 0.1), 0.1, **glass),
            box((-0.5 * length, 0, 0.5 * h), (0.03, depth, h - 0.1), 0.1, **glass),
            box((0, 0, h), (length + 0.2, depth + 0.2, 0.1), grey),
        ]
        for x in (-0.5 * length, 0.5 * length):
            for y in (-0.5 * depth, 0.5 * depth):
                parts.append(vcyl(x, y, 0, h, 0.04, grey))
        return parts
    if kind == "shed":  # garden shed, garage, kiosk, container: vehicle-sized boxes that are no vehicle
        length, depth = _u(rng, 2.0, 7.0), _u(rng, 1.8, 4.0)
        h = _u(rng, 1.9, 3.2)
        parts = [box((0, -0.5 * depth, 0.5 * h - 0.05), (length, depth, h), grey)]
        if rng.random() < 0.5:
            parts += _roof(rng, length, depth, h, grey)
        if rng.random() < 0.4:  # garage door or shutter: a darker, slightly recessed panel
            parts.append(box((0, 0.01, 0.45 * h), (min(2.6, 0.8 * length), 0.02, 0.85 * h), _u(rng, 0.05, 0.3)))
        return parts
    if kind in ("building", "house"):
        house = kind == "house"
        length = length or (_u(rng, 7.0, 16.0) if house else _u(rng, 8.0, 35.0))
        depth = _u(rng, 6.0, 12.0) if house else _u(rng, 6.0, 15.0)
        h = _u(rng, 2.8, 7.0) if house else _u(rng, 3.0, 20.0)
        parts: list[Part] = []
        # the street face in blocks of their own heights (an uneven roof line), each with windows
        n_blocks = 1 if house or rng.random() < 0.4 else int(rng.integers(2, 4))
        cuts = np.sort(rng.uniform(-0.5 * length, 0.5 * length, n_blocks - 1))
        bounds = np.r_[-0.5 * length, cuts, 0.5 * length]
        for a, b_ in zip(bounds[:-1], bounds[1:], strict=True):
            bl, bh = b_ - a, h if house else h * _u(rng, 0.6, 1.0)
            if bl < 1.0:
                continue
            setin = 0.0 if house or rng.random() < 0.7 else _u(rng, 0.5, 3.0)  # recessed blocks, porches
            block = [box((0, -0.5 * depth - 0.4, 0.5 * bh - 0.2), (bl, depth - 0.8, bh + 0.2), grey)]
            block += _facade(rng, bl, bh, grey)
            if house:
                block += _roof(rng, bl, depth, bh, _u(rng, 0.05, 0.3))
            elif rng.random() < 0.4 and bh > 6.0:  # balconies / ledges
                bal = bl * _u(rng, 0.3, 0.9)
                for z in np.arange(3.0, bh - 1.0, 3.0):
                    block.append(box((0, 0.6, z), (bal, 1.2, 0.15), grey))
            parts += [Part(q.kind, q.center + np.array([0.5 * (a + b_), -setin, 0.0]), q.rot, q.params, q.refl,
                           q.transmit, q.jitter, q.retro, q.mfp) for q in block]
        if rng.random() < 0.3:  # steps, a porch or a low front wall
            parts.append(box((0, 0.4, 0.15), (length * _u(rng, 0.2, 0.6), 0.8, 0.3), grey))
        return parts
    raise ValueError(f"unknown structure kind {kind!r}")


def misc(rng: np.random.Generator) -> list[Part]:
    """Bins, traffic cones, boxes, bollards, benches, cabinets, barriers, hydrants."""
    kind = rng.choice(
        ["wheelie", "bin", "cone", "box", "bollard", "bench", "cabinet", "barrier", "hydrant"],
        p=[0.15, 0.12, 0.15, 0.12, 0.14, 0.08, 0.1, 0.07, 0.07],
    )
    col = _u(rng, 0.05, 0.6)
    if kind == "wheelie":
        lx, ly, h = _u(rng, 0.55, 0.75), _u(rng, 0.5, 0.6), _u(rng, 0.95, 1.1)
        return [
            box((0, 0, 0.5 * h), (lx, ly, h - 0.05), col),
            box((0.02, 0, h - 0.02), (lx + 0.06, ly + 0.04, 0.05), col),
            wheel(-0.5 * lx + 0.1, 0.5 * ly - 0.05, 0.1, 0.06, 0.05),
            wheel(-0.5 * lx + 0.1, -0.5 * ly + 0.05, 0.1, 0.06, 0.05),
        ]
    if kind == "bin":
        r, h = _u(rng, 0.2, 0.35), _u(rng, 0.7, 1.0)
        return [vcyl(0, 0, 0, h, r, col), cone(0, 0, h, 0.08, r + 0.02, r * 0.7, col)]
    if kind == "cone":
        h = _u(rng, 0.45, 0.9)
        return [
            box((0, 0, 0.02), (0.4 * h + 0.1, 0.4 * h + 0.1, 0.04), 0.1),
            cone(0, 0, 0.04, h * 0.5, 0.2 * h, 0.12 * h, 0.6),
            cone(0, 0, 0.04 + h * 0.5, h * 0.2, 0.12 * h, 0.09 * h, 0.9, retro=True),
            cone(0, 0, 0.04 + h * 0.7, h * 0.3, 0.09 * h, 0.02, 0.6),
        ]
    if kind == "box":
        h = _u(rng, 0.3, 1.2)
        parts = [box((0, 0, 0.5 * h), (_u(rng, 0.3, 1.2), _u(rng, 0.3, 1.0), h), col)]
        if rng.random() < 0.4:
            h2 = _u(rng, 0.2, 0.6)
            parts.append(
                box(
                    (_u(rng, -0.1, 0.1), _u(rng, -0.1, 0.1), h + 0.5 * h2),
                    (_u(rng, 0.3, 0.6), _u(rng, 0.3, 0.6), h2),
                    _u(rng, 0.05, 0.6),
                )
            )
        return parts
    if kind == "bollard":
        r, h = _u(rng, 0.06, 0.13), _u(rng, 0.6, 1.1)
        parts = [vcyl(0, 0, -0.05, h, r, col)]
        if rng.random() < 0.5:
            parts.append(ellipsoid((0, 0, h - 0.05), (r, r, r * 0.7), col))
        if rng.random() < 0.5:
            parts.append(vcyl(0, 0, h * 0.7, 0.08, r + 0.005, 0.9, retro=True))
        return parts
    if kind == "bench":
        length = _u(rng, 1.2, 2.2)
        wood = _u(rng, 0.15, 0.4)
        parts = [
            box((0, 0, 0.45), (length, 0.45, 0.06), wood),
            box((0, -0.22, 0.75), (length, 0.05, 0.4), wood),
        ]
        for x in (-0.4 * length, 0.4 * length):
            parts.append(box((x, 0, 0.22), (0.06, 0.45, 0.45), col))
        return parts
    if kind == "cabinet":
        h = _u(rng, 0.9, 1.6)
        parts = [box((0, 0, 0.5 * h), (_u(rng, 0.5, 1.3), _u(rng, 0.3, 0.6), h), col)]
        if rng.random() < 0.3:  # roof overhang
            parts.append(box((0, 0, h + 0.02), (0.9, 0.5, 0.04), col))
        return parts
    if kind == "barrier":
        length = _u(rng, 1.2, 2.2)
        parts = [box((0, 0, 0.8), (length, 0.04, 0.25), 0.9, retro=True)]
        for x in (-0.45 * length, 0.45 * length):
            parts.append(box((x, 0, 0.4), (0.05, 0.5, 0.8), col))
        return parts
    # hydrant
    return [
        vcyl(0, 0, 0, 0.55, 0.1, col),
        ellipsoid((0, 0, 0.55), (0.11, 0.11, 0.1), col),
        limb((0, -0.18, 0.38), (0, 0.18, 0.38), 0.05, col),
    ]


def tree(rng: np.random.Generator) -> tuple[list[Part], list[Part]]:
    """A tree as two models: (trunk labelled ``pole``, crown labelled ``vegetation``)."""
    trunk = pole(rng, "trunk")
    top = float(trunk[0].center[2] + trunk[0].params[2])
    r_top = float(trunk[0].params[1])
    return trunk, crown(rng, top - 0.3, r_top)


GENERATORS: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "car": car,
    "truck": truck,
    "pedestrian": pedestrian,
    "cyclist": cyclist,
    "pole": pole,
    "vegetation": vegetation,
    "structure": structure,
    "misc": misc,
}


def make_object(label: str, rng: np.random.Generator) -> list[Part]:
    """A random model (list of :class:`Part`, object frame) of class ``label``."""
    try:
        return GENERATORS[label](rng)
    except KeyError:
        raise ValueError(f"no generator for class {label!r}; known: {', '.join(GENERATORS)}") from None


# ---- placement and tight boxes ------------------------------------------------------------------


def place_parts(parts: list[Part], position: np.ndarray, rot: np.ndarray) -> list[Part]:
    """The parts moved into the parent frame: ``x_parent = rot @ x_object + position``."""
    position = np.asarray(position, dtype=np.float64)
    return [replace(p, center=rot @ p.center + position, rot=rot @ p.rot) for p in parts]


def parts_half_extents(parts: list[Part], frame: np.ndarray) -> np.ndarray:
    """Half extents (P, 3) of the boxes around each part, axis-aligned in the frame whose axes are the
    columns of ``frame`` (3, 3)."""
    n = len(parts)
    kind = np.array([p.kind for p in parts], dtype=np.int64).reshape(n)
    rot = np.einsum("ji,pjk->pik", frame, np.array([p.rot for p in parts]).reshape(n, 3, 3))
    params = np.array([p.params for p in parts], dtype=np.float64).reshape(n, 3)
    out = np.empty((n, 3))
    m = kind == BOX
    out[m] = np.einsum("pij,pj->pi", np.abs(rot[m]), params[m])
    m = kind == ELLIPSOID
    out[m] = np.sqrt(np.einsum("pij,pj->pi", rot[m] ** 2, params[m] ** 2))
    m = (kind == CYLINDER) | (kind == CONE)
    if m.any():
        r = np.where(kind[m] == CYLINDER, params[m, 0], np.maximum(params[m, 0], params[m, 1]))
        h = np.where(kind[m] == CYLINDER, params[m, 1], params[m, 2])
        a = rot[m][:, :, 2]
        out[m] = np.abs(a) * h[:, None] + r[:, None] * np.sqrt(np.clip(1.0 - a * a, 0.0, 1.0))
    return out


def tight_box(parts: list[Part], yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre (3,) and size (3,) = (length, width, height) of the tightest box with heading ``yaw``
    around parts given in the parent frame."""
    rz = rot_z(yaw)
    c = np.array([p.center for p in parts]).reshape(len(parts), 3) @ rz
    e = parts_half_extents(parts, rz)
    lo = (c - e).min(axis=0)
    hi = (c + e).max(axis=0)
    return rz @ (0.5 * (lo + hi)), hi - lo
