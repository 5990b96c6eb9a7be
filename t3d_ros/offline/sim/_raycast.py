"""Numba kernel of the ray caster: nearest hit of every (ring, column) ray among ground and primitives.

Rays start at the origin. Per column only the primitives whose azimuth interval covers the column are
tested (CSR lists ``col_ptr``/``col_items``, sorted by a lower bound of their distance so the loop
stops once the best hit is nearer than the next candidate can be).
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency; this keeps the module importable
    prange = range

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        if args and callable(args[0]):
            return args[0]
        return lambda f: f


_NO_HIT = 1e30


@njit(cache=True, inline="always")
def _hash01(seed: np.uint64, a: np.int64, b: np.int64, c: np.int64) -> float:
    # splitmix64 of (seed, ring, column, primitive): order-independent randomness for parallel loops
    x = seed * np.uint64(0x9E3779B97F4A7C15)
    x ^= np.uint64(a) * np.uint64(0xBF58476D1CE4E5B9)
    x ^= np.uint64(b) * np.uint64(0x94D049BB133111EB)
    x ^= np.uint64(c) * np.uint64(0xD6E8FEB86659FD93)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return float(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _value_noise(seed: np.uint64, x: float, y: float, z: float, cell: float) -> float:
    """Smooth random field in [0, 1) (trilinear value noise on a ``cell``-sized lattice): leaves come in
    clumps, so neighbouring beams entering a bush meet similar depths, not independent ones."""
    fx, fy, fz = x / cell, y / cell, z / cell
    ix, iy, iz = np.floor(fx), np.floor(fy), np.floor(fz)
    tx, ty, tz = fx - ix, fy - iy, fz - iz
    tx, ty, tz = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty), tz * tz * (3 - 2 * tz)
    a, b, c = np.int64(ix), np.int64(iy), np.int64(iz)
    v = 0.0
    for dx in range(2):
        wx = tx if dx else 1.0 - tx
        for dy in range(2):
            wy = ty if dy else 1.0 - ty
            for dz in range(2):
                wz = tz if dz else 1.0 - tz
                v += wx * wy * wz * _hash01(seed, a + dx, b + dy, c + dz)
    return v


@njit(cache=True, inline="always")
def _hit(kind, ox, oy, oz, dx, dy, dz, p0, p1, p2):
    """Entry distance along the local ray o + t d and the local normal; t = _NO_HIT if missed."""
    t_best = _NO_HIT
    nx = 0.0
    ny = 0.0
    nz = 0.0
    if kind == 0:  # box, slab test
        tn = -_NO_HIT
        tf = _NO_HIT
        axis = -1
        sgn = 0.0
        o = (ox, oy, oz)
        d = (dx, dy, dz)
        h = (p0, p1, p2)
        for i in range(3):
            if abs(d[i]) < 1e-12:
                if abs(o[i]) > h[i]:
                    return _NO_HIT, 0.0, 0.0, 0.0
                continue
            inv = 1.0 / d[i]
            t1 = (-h[i] - o[i]) * inv
            t2 = (h[i] - o[i]) * inv
            if t1 > t2:
                t1, t2 = t2, t1
            if t1 > tn:
                tn = t1
                axis = i
                sgn = -1.0 if d[i] > 0 else 1.0
            if t2 < tf:
                tf = t2
        if tn <= tf and tn > 0.0:
            t_best = tn
            if axis == 0:
                nx = sgn
            elif axis == 1:
                ny = sgn
            else:
                nz = sgn
        return t_best, nx, ny, nz
    if kind == 2:  # ellipsoid: unit sphere after scaling
        sx = ox / p0
        sy = oy / p1
        sz = oz / p2
        ex = dx / p0
        ey = dy / p1
        ez = dz / p2
        a = ex * ex + ey * ey + ez * ez
        b = sx * ex + sy * ey + sz * ez
        c = sx * sx + sy * sy + sz * sz - 1.0
        disc = b * b - a * c
        if disc < 0.0:
            return _NO_HIT, 0.0, 0.0, 0.0
        t = (-b - np.sqrt(disc)) / a
        if t <= 0.0:
            return _NO_HIT, 0.0, 0.0, 0.0
        x = ox + t * dx
        y = oy + t * dy
        z = oz + t * dz
        return t, x / (p0 * p0), y / (p1 * p1), z / (p2 * p2)
    # cylinder (kind 1) and cone frustum (kind 3) share the side quadric x^2 + y^2 = (k z + m)^2
    if kind == 1:
        r_bot = p0
        r_top = p0
        hh = p1
    else:
        r_bot = p0
        r_top = p1
        hh = p2
    k = (r_top - r_bot) / (2.0 * hh)
    m = 0.5 * (r_top + r_bot)
    km = k * oz + m
    qa = dx * dx + dy * dy - k * k * dz * dz
    qb = ox * dx + oy * dy - k * dz * km
    qc = ox * ox + oy * oy - km * km
    if abs(qa) > 1e-12:
        disc = qb * qb - qa * qc
        if disc >= 0.0:
            sq = np.sqrt(disc)
            ta = (-qb - sq) / qa
            tb = (-qb + sq) / qa
            if ta > tb:
                ta, tb = tb, ta
            for t in (ta, tb):
                if t > 0.0 and t < t_best:
                    z = oz + t * dz
                    if abs(z) <= hh and k * z + m >= 0.0:
                        t_best = t
                        nx = ox + t * dx
                        ny = oy + t * dy
                        nz = -k * (k * z + m)
                        break
    if abs(dz) > 1e-12:  # the cap facing the ray
        zc = hh if dz < 0.0 else -hh
        rc = r_top if dz < 0.0 else r_bot
        t = (zc - oz) / dz
        if t > 0.0 and t < t_best:
            x = ox + t * dx
            y = oy + t * dy
            if x * x + y * y <= rc * rc:
                t_best = t
                nx = 0.0
                ny = 0.0
                nz = 1.0 if dz < 0.0 else -1.0
    return t_best, nx, ny, nz


@njit(cache=True, inline="always")
def _span(kind, ox, oy, oz, dx, dy, dz, p0, p1, p2):
    """Entry and exit distances (t_in, t_out) of the local ray o + t d through a box (kind 0) or an
    ellipsoid (kind 2); t_out < 0 (or t_in > t_out) when the ray misses it. t_in < 0: o is inside."""
    if kind == 0:
        tn = -_NO_HIT
        tf = _NO_HIT
        o = (ox, oy, oz)
        d = (dx, dy, dz)
        h = (p0, p1, p2)
        for i in range(3):
            if abs(d[i]) < 1e-12:
                if abs(o[i]) > h[i]:
                    return 1.0, -1.0
                continue
            inv = 1.0 / d[i]
            t1 = (-h[i] - o[i]) * inv
            t2 = (h[i] - o[i]) * inv
            if t1 > t2:
                t1, t2 = t2, t1
            tn = max(tn, t1)
            tf = min(tf, t2)
        return tn, tf
    sx = ox / p0
    sy = oy / p1
    sz = oz / p2
    ex = dx / p0
    ey = dy / p1
    ez = dz / p2
    a = ex * ex + ey * ey + ez * ez
    b = sx * ex + sy * ey + sz * ez
    c = sx * sx + sy * sy + sz * sz - 1.0
    disc = b * b - a * c
    if disc < 0.0:
        return 1.0, -1.0
    sq = np.sqrt(disc)
    return (-b - sq) / a, (-b + sq) / a


@njit(cache=True, parallel=True)
def cast_rays(
    dir_x,
    dir_y,
    dir_z,
    oz_ring,
    col_ptr,
    col_items,
    kind,
    rinv,
    org,
    params,
    transmit,
    mfp,
    near,
    ring_lo,
    ring_hi,
    g_z0,
    g_gx,
    g_gy,
    g_amp,
    g_wave,
    g_phase,
    t_max,
    seed,
    out_t,
    out_p,
    out_cos,
):
    """Fill ``out_t`` (R, C) range, ``out_p`` (R, C) hit primitive (-1 ground, -2 none), ``out_cos`` (R, C)
    |cos| of the incidence angle, for rays with unit directions (dir_x, dir_y, dir_z) (R, C) (every beam
    has its own small azimuth offset, the spin axis a small tilt, as in a real unit), starting at
    (0, 0, ``oz_ring[r]``): the lasers of a unit sit at different heights in its head.

    A primitive with ``mfp[p] > 0`` (boxes and ellipsoids) is a volume of scattering elements, foliage:
    the ray returns at a depth drawn from the exponential free path (Beer-Lambert, mean ``mfp``) after
    it enters, or passes through when that depth lies beyond the exit; leaves face every way, so the
    incidence is random."""
    n_rings = dir_x.shape[0]
    n_cols = dir_x.shape[1]
    n_bumps = g_amp.shape[0]
    useed = np.uint64(seed)
    for c in prange(n_cols):
        k0 = col_ptr[c]
        k1 = col_ptr[c + 1]
        for r in range(n_rings):
            dx = dir_x[r, c]
            dy = dir_y[r, c]
            dz = dir_z[r, c]
            oz = oz_ring[r]
            t_best = t_max
            best = -2
            bnx = 0.0
            bny = 0.0
            bnz = 1.0
            vol_cos = -1.0  # incidence of a volume return (random leaf orientation), -1: a surface hit
            # ground: plane solution refined by Newton steps on the bumps
            denom = dz - g_gx * dx - g_gy * dy
            if denom < -1e-9:
                t = (g_z0 - oz) / denom
                if t < 1.3 * t_max:
                    gxx = 0.0
                    gyy = 0.0
                    for _ in range(3):
                        x = t * dx
                        y = t * dy
                        g = g_z0 + g_gx * x + g_gy * y
                        gxx = g_gx
                        gyy = g_gy
                        for j in range(n_bumps):
                            arg = g_wave[j, 0] * x + g_wave[j, 1] * y + g_phase[j]
                            g += g_amp[j] * np.sin(arg)
                            cj = g_amp[j] * np.cos(arg)
                            gxx += cj * g_wave[j, 0]
                            gyy += cj * g_wave[j, 1]
                        f = oz + t * dz - g
                        fp = dz - gxx * dx - gyy * dy
                        if fp > -1e-9:
                            break
                        t -= f / fp
                    if t > 0.0 and t < t_best:
                        t_best = t
                        best = -1
                        bnx = -gxx
                        bny = -gyy
                        bnz = 1.0
            for kk in range(k0, k1):
                p = col_items[kk]
                if near[p] >= t_best:
                    break
                if r < ring_lo[p] or r > ring_hi[p]:
                    continue
                ldx = rinv[p, 0, 0] * dx + rinv[p, 0, 1] * dy + rinv[p, 0, 2] * dz
                ldy = rinv[p, 1, 0] * dx + rinv[p, 1, 1] * dy + rinv[p, 1, 2] * dz
                ldz = rinv[p, 2, 0] * dx + rinv[p, 2, 1] * dy + rinv[p, 2, 2] * dz
                # the beam's origin (0, 0, oz) in the part's frame
                lox = org[p, 0] + rinv[p, 0, 2] * oz
                loy = org[p, 1] + rinv[p, 1, 2] * oz
                loz = org[p, 2] + rinv[p, 2, 2] * oz
                if mfp[p] > 0.0:
                    t_in, t_out = _span(kind[p], lox, loy, loz, ldx, ldy, ldz,
                                        params[p, 0], params[p, 1], params[p, 2])
                    t_in = max(t_in, 0.0)
                    if t_out <= t_in or t_in >= t_best:
                        continue
                    # free path: a smooth field over the leaves' entry points, plus a little per-beam noise
                    ex = t_in * dx
                    ey = t_in * dy
                    ez = oz + t_in * dz
                    u = 0.75 * _value_noise(useed ^ np.uint64(p), ex, ey, ez, 0.25) + 0.25 * _hash01(
                        useed ^ np.uint64(0x7F4A7C15), r, c, p)
                    t = t_in - mfp[p] * np.log(1.0 - min(u, 0.999))
                    if t < t_out and t < t_best:
                        t_best = t
                        best = p
                        vol_cos = 0.2 + 0.8 * _hash01(useed ^ np.uint64(0x2545F491), r, c, p)
                    continue
                t, nx, ny, nz = _hit(
                    kind[p],
                    lox,
                    loy,
                    loz,
                    ldx,
                    ldy,
                    ldz,
                    params[p, 0],
                    params[p, 1],
                    params[p, 2],
                )
                if t < t_best:
                    if transmit[p] > 0.0 and _hash01(useed, r, c, p) < transmit[p]:
                        continue  # glass, foliage, spokes: this ray passes through the part
                    t_best = t
                    best = p
                    vol_cos = -1.0
                    # local normal back to the sensor frame: n_world = R n_local = rinv^T n_local
                    bnx = rinv[p, 0, 0] * nx + rinv[p, 1, 0] * ny + rinv[p, 2, 0] * nz
                    bny = rinv[p, 0, 1] * nx + rinv[p, 1, 1] * ny + rinv[p, 2, 1] * nz
                    bnz = rinv[p, 0, 2] * nx + rinv[p, 1, 2] * ny + rinv[p, 2, 2] * nz
            out_p[r, c] = best
            if best >= -1:
                out_t[r, c] = t_best
                nn = np.sqrt(bnx * bnx + bny * bny + bnz * bnz)
                out_cos[r, c] = abs(bnx * dx + bny * dy + bnz * dz) / max(nn, 1e-12) if vol_cos < 0.0 else vol_cos
            else:
                out_t[r, c] = 0.0
                out_cos[r, c] = 0.0


@njit(cache=True)
def boxes_free(c, h, cs, z, r, oc, oh, ocs, oz, orad) -> bool:
    """True if no box (c (n,2) centre, h (n,2) half extents, cs (n,2) cos/sin of yaw, z (n,2) height
    interval, r (n,) bounding radius) overlaps any placed box (same arrays prefixed ``o``)."""
    for i in range(c.shape[0]):
        ua0 = cs[i, 0]
        ua1 = cs[i, 1]
        for j in range(oc.shape[0]):
            tx = oc[j, 0] - c[i, 0]
            ty = oc[j, 1] - c[i, 1]
            rr = r[i] + orad[j]
            if tx * tx + ty * ty >= rr * rr or z[i, 0] >= oz[j, 1] or z[i, 1] <= oz[j, 0]:
                continue
            ub0 = ocs[j, 0]
            ub1 = ocs[j, 1]
            separated = False
            # separating axis test on the four edge normals of the two rectangles
            for ax0, ax1 in ((ua0, ua1), (-ua1, ua0), (ub0, ub1), (-ub1, ub0)):
                dist = abs(tx * ax0 + ty * ax1)
                ra = h[i, 0] * abs(ua0 * ax0 + ua1 * ax1) + h[i, 1] * abs(-ua1 * ax0 + ua0 * ax1)
                rb = oh[j, 0] * abs(ub0 * ax0 + ub1 * ax1) + oh[j, 1] * abs(-ub1 * ax0 + ub0 * ax1)
                if dist > ra + rb:
                    separated = True
                    break
            if not separated:
                return False
    return True


@njit(cache=True)
def ground_height(x, y, z0, gx, gy, amp, wave, phase, slab_c, slab_ax, slab_half):
    """Ground height at points x, y (n,): tilted plane + sine bumps, raised to the top of any
    sidewalk slab (centre (S,3), x axis (S,2), half extents (S,3)) that covers the point."""
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        g = z0 + gx * x[i] + gy * y[i]
        for k in range(amp.shape[0]):
            g += amp[k] * np.sin(wave[k, 0] * x[i] + wave[k, 1] * y[i] + phase[k])
        for s in range(slab_c.shape[0]):
            rx = x[i] - slab_c[s, 0]
            ry = y[i] - slab_c[s, 1]
            u = rx * slab_ax[s, 0] + ry * slab_ax[s, 1]
            v = -rx * slab_ax[s, 1] + ry * slab_ax[s, 0]
            if abs(u) <= slab_half[s, 0] and abs(v) <= slab_half[s, 1]:
                top = slab_c[s, 2] + slab_half[s, 2] + gx * rx + gy * ry
                if top > g:
                    g = top
        out[i] = g
    return out
