"""Numba kernels of the segmentation hot spots, each equal to a numpy reference kept beside it.

The references (``cluster.cell_graph_clusters_reference``, ...) are the readable definitions and
the tests compare the two on real and simulated frames. The kernels repeat the references'
arithmetic in the same types and order (float64 cell means summed in point order, float32 z
extents; no fastmath, so no FMA contraction), so the outputs are identical, not merely close.
Without numba the references run.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from t3d_ros._numba import HAVE_NUMBA as HAVE_NUMBA  # read by the callers: without numba, the numpy references
from t3d_ros._numba import njit


@functools.lru_cache(maxsize=16)
def half_neighbourhood(cell_size: float, max_tolerance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                         np.ndarray, np.ndarray]:
    """Cell offsets (di, dj) of half the neighbourhood within ``max_tolerance`` (each unordered pair
    of cells once), their metric offsets (dx, dy) and lengths, sorted by length (stable), as the
    reference computes them. Cached (read-only arrays): the wall split clusters again several times a
    frame, and building the table in Python cost more than the clustering of a small subset."""
    reach = int(math.floor(max_tolerance / cell_size + 1e-9))
    rows = []
    for di in range(0, reach + 1):
        for dj in range(-reach, reach + 1):
            if di == 0 and dj <= 0:
                continue
            dx, dy = di * cell_size, dj * cell_size
            dist = math.hypot(dx, dy)
            if dist > max_tolerance + 1e-9:
                continue
            rows.append((di, dj, dx, dy, dist))
    rows.sort(key=lambda r: r[4])
    a = np.array(rows, dtype=np.float64).reshape(-1, 5)
    out = (a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2].copy(), a[:, 3].copy(), a[:, 4].copy())
    for arr in out:
        arr.setflags(write=False)
    return out


@njit(cache=True)
def _find(parent, a):  # pragma: no cover - compiled
    root = a
    while parent[root] != root:
        root = parent[root]
    while parent[a] != root:  # path compression
        nxt = parent[a]
        parent[a] = root
        a = nxt
    return root


@njit(cache=True)
def cell_graph_kernel(xyz, sel, cell_size, reach, tolerance, radial_per_m, tangential_per_m, max_tolerance,
                      z_gap, z_gap_per_m, off_di, off_dj, off_dx, off_dy, off_dist):  # pragma: no cover - compiled
    """Component id (N,) int32 of the points ``xyz[sel]`` (xyz (M, 3) float32; read in place, no
    copy of the non-ground points); see ``cluster.cell_graph_clusters_reference``."""
    n = sel.shape[0]
    ii = np.empty(n, np.int64)
    jj = np.empty(n, np.int64)
    imin = jmin = np.int64(1) << 62
    imax = jmax = -(np.int64(1) << 62)
    for p in range(n):
        a = np.int64(math.floor(np.float64(xyz[sel[p], 0]) / cell_size))
        b = np.int64(math.floor(np.float64(xyz[sel[p], 1]) / cell_size))
        ii[p] = a
        jj[p] = b
        imin = min(imin, a)
        imax = max(imax, a)
        jmin = min(jmin, b)
        jmax = max(jmax, b)
    h = imax - imin + 1 + 2 * reach
    w = jmax - jmin + 1 + 2 * reach
    index = np.full(h * w, -1, np.int32)
    # Cells are numbered in ascending flat (row-major) order; the reference's order (decreasing
    # range) is needed only to number the components at the end. One access to the large grid per
    # point: first-seen numbers, renumbered in flat order through small arrays.
    cell_flat = np.empty(n, np.int64)
    first = np.empty(n, np.int32)
    ncell = 0
    for p in range(n):
        f = (ii[p] - imin + reach) * w + (jj[p] - jmin + reach)
        c = index[f]
        if c < 0:
            c = ncell
            index[f] = c
            cell_flat[ncell] = f
            ncell += 1
        first[p] = c
    # Flat order by scanning the grid (cheaper than sorting ~10k cells in numba).
    renum = np.empty(ncell, np.int32)
    c = 0
    for f in range(h * w):
        if index[f] >= 0:
            renum[index[f]] = c
            index[f] = c
            cell_flat[c] = f
            c += 1
    cell_flat = cell_flat[:ncell]
    for p in range(n):
        first[p] = renum[first[p]]
    cnt = np.zeros(ncell, np.int64)
    sx = np.zeros(ncell, np.float64)
    sy = np.zeros(ncell, np.float64)
    lo = np.full(ncell, np.inf, np.float32)
    hi = np.full(ncell, -np.inf, np.float32)
    for p in range(n):  # in point order: the float64 sums are the reference's bincount sums
        c = first[p]
        q = sel[p]
        cnt[c] += 1
        sx[c] += np.float64(xyz[q, 0])
        sy[c] += np.float64(xyz[q, 1])
        zq = np.float32(xyz[q, 2])
        if zq < lo[c]:
            lo[c] = zq
        if zq > hi[c]:
            hi[c] = zq
    tol_r = np.empty(ncell, np.float64)
    tol_t = np.empty(ncell, np.float64)
    neg_reach = np.empty(ncell, np.float64)
    ur = np.empty(ncell, np.float64)
    vr = np.empty(ncell, np.float64)
    ztol = np.empty(ncell, np.float64)
    neg_r = np.empty(ncell, np.float64)
    for c in range(ncell):
        mx = sx[c] / cnt[c]
        my = sy[c] / cnt[c]
        rk = np.hypot(mx, my)
        neg_r[c] = -rk
        tol_r[c] = min(tolerance + radial_per_m * rk, max_tolerance)
        tol_t[c] = min(tolerance + tangential_per_m * rk, max_tolerance)
        neg_reach[c] = -max(tol_r[c], tol_t[c])
        rr = max(rk, 1e-6)
        ur[c] = mx / rr
        vr[c] = my / rr
        ztol[c] = z_gap + z_gap_per_m * rk
    parent = np.arange(ncell).astype(np.int64)
    for a in range(ncell):
        fa = cell_flat[a]
        for o in range(off_di.shape[0]):
            dist = off_dist[o]
            # The reference tests an offset on the cells whose reach covers it (all within tolerance).
            if not (dist <= tolerance or neg_reach[a] <= -dist):
                break  # offsets are sorted by length: no longer one is within this cell's reach either
            b = index[fa + off_di[o] * w + off_dj[o]]
            if b < 0:
                continue
            # Cells already joined need no test (most neighbours on a wall or a hedge): same components.
            ra = _find(parent, a)
            rb = _find(parent, b)
            if ra == rb:
                continue
            gap = max(lo[a], lo[b]) - min(hi[a], hi[b])
            if not gap <= ztol[a]:
                continue
            along = off_dx[o] * ur[a] + off_dy[o] * vr[a]
            across2 = dist * dist - along * along
            qa = along / tol_r[a]
            if qa * qa + across2 / (tol_t[a] * tol_t[a]) <= 1.0:
                if ra < rb:
                    parent[rb] = ra
                else:
                    parent[ra] = rb
    # Components numbered as scipy's connected_components numbers them on the reference's cells
    # (sorted by decreasing range, ties in flat order): by their first cell in that order.
    # Each component's first cell in that order is its farthest cell (first in flat order among
    # equals); sorting the components (hundreds) by it replaces sorting the cells (thousands).
    best = np.full(ncell, -1, np.int64)
    for a in range(ncell):  # ascending a = ascending flat: keep the first of equal ranges
        root = _find(parent, a)
        if best[root] < 0 or neg_r[a] < neg_r[best[root]]:
            best[root] = a
    firsts = np.empty(ncell, np.int64)
    ncomp = 0
    for a in range(ncell):  # components in ascending flat order of their first cell
        if best[_find(parent, a)] == a:
            firsts[ncomp] = a
            ncomp += 1
    key = np.empty(ncomp, np.float64)
    for t in range(ncomp):
        key[t] = neg_r[firsts[t]]
    comp = np.full(ncell, -1, np.int32)
    rank = np.argsort(key, kind="mergesort")  # stable: ties stay in flat order
    for t in range(ncomp):
        comp[_find(parent, firsts[rank[t]])] = t
    cell_label = np.empty(ncell, np.int32)
    for a in range(ncell):
        cell_label[a] = comp[_find(parent, a)]
    out = np.empty(n, np.int32)
    for p in range(n):
        out[p] = cell_label[first[p]]
    return out


@njit(cache=True)
def crop_kernel(points, x_lo, x_hi, y_lo, y_hi, z_lo, z_hi, min_range2,
                self_x_lo, self_x_hi, self_y_lo, self_y_hi):  # pragma: no cover - compiled
    """Rows of float32 ``points`` (N, C) inside the box, at least sqrt(min_range2) from the sensor in
    xy, outside the vehicle's footprint [self_x_lo, self_x_hi] x [self_y_lo, self_y_hi] (off when
    self_x_hi <= self_x_lo), with finite extra columns: (keep (M,) int64, rows (M, C) float32 copy,
    xyz (M, 3) copy). The bounds are float32, as numpy compares a float32 column with a Python float."""
    n, ncol = points.shape
    keep = np.empty(n, np.int64)
    m = 0
    for p in range(n):
        x = points[p, 0]
        y = points[p, 1]
        z = points[p, 2]
        if not (x >= x_lo and x <= x_hi and y >= y_lo and y <= y_hi and z >= z_lo and z <= z_hi):
            continue
        if min_range2 > 0 and not (x * x + y * y >= min_range2):
            continue
        if self_x_hi > self_x_lo and x >= self_x_lo and x <= self_x_hi and y >= self_y_lo and y <= self_y_hi:
            continue
        ok = True
        for c in range(3, ncol):
            if not np.isfinite(points[p, c]):
                ok = False
        if ok:
            keep[m] = p
            m += 1
    rows = np.empty((m, ncol), np.float32)
    xyz = np.empty((m, 3), np.float32)
    for k in range(m):
        p = keep[k]
        for c in range(ncol):
            rows[k, c] = points[p, c]
        xyz[k, 0] = points[p, 0]
        xyz[k, 1] = points[p, 1]
        xyz[k, 2] = points[p, 2]
    return keep[:m].copy(), rows, xyz


@njit(cache=True)
def cell_min_z_kernel(xyz, cell):  # pragma: no cover - compiled
    """``ground._cell_index`` and ``ground._cell_min_z`` in one pass: (flat (N,) int64, h, w,
    origin x, origin y, zmin (h*w,) float32). float32 cell arithmetic as the reference."""
    n = xyz.shape[0]
    ox = np.inf
    oy = np.inf
    for p in range(n):
        ox = min(ox, np.float64(xyz[p, 0]))
        oy = min(oy, np.float64(xyz[p, 1]))
    ox32 = np.float32(ox)
    oy32 = np.float32(oy)
    inv = np.float32(1.0 / cell)
    ii = np.empty(n, np.int64)
    jj = np.empty(n, np.int64)
    h = 0
    w = 0
    for p in range(n):
        i = np.int64(np.int32((xyz[p, 0] - ox32) * inv))
        j = np.int64(np.int32((xyz[p, 1] - oy32) * inv))
        ii[p] = i
        jj[p] = j
        h = max(h, i + 1)
        w = max(w, j + 1)
    flat = np.empty(n, np.int64)
    zmin = np.full(h * w, np.inf, np.float32)
    for p in range(n):
        f = ii[p] * w + jj[p]
        flat[p] = f
        if xyz[p, 2] < zmin[f]:
            zmin[f] = xyz[p, 2]
    return flat, h, w, ox, oy, zmin


@njit(cache=True)
def slope_envelope_kernel(zmin, d, dd, sweeps):  # pragma: no cover - compiled
    """``ground.slope_envelope``: ``sweeps`` Jacobi min-plus sweeps (float32 sums as the reference)."""
    h, w = zmin.shape
    g = np.full((h + 2, w + 2), np.inf, np.float32)
    g[1:-1, 1:-1] = zmin
    old = g.copy()
    for _ in range(sweeps):
        old[:, :] = g
        for i in range(1, h + 1):
            for j in range(1, w + 1):
                up = min(old[i - 1, j], old[i + 1, j])
                side = min(old[i, j - 1], old[i, j + 1])
                diag = min(min(old[i - 1, j - 1], old[i - 1, j + 1]), min(old[i + 1, j - 1], old[i + 1, j + 1]))
                new = min(min(up, side) + d, diag + dd)
                if new < g[i, j]:
                    g[i, j] = new
    return g[1:-1, 1:-1].copy()


@njit(cache=True)
def below_kernel(z, g, flat, threshold):  # pragma: no cover - compiled
    """z <= g[flat] + threshold (float32), (N,) bool."""
    out = np.empty(z.shape[0], np.bool_)
    for p in range(z.shape[0]):
        out[p] = z[p] <= g[flat[p]] + threshold
    return out


@njit(cache=True)
def pack_kernel(labels, min_points, max_points, keep_oversize):  # pragma: no cover - compiled
    """``cluster.pack_labels`` by a counting sort (stable: points keep their order in a cluster)."""
    n = labels.shape[0]
    k = 0
    for p in range(n):
        k = max(k, labels[p] + 1)
    counts = np.zeros(k, np.int64)
    for p in range(n):
        counts[labels[p]] += 1
    new = np.full(k, -1, np.int32)
    kept = 0
    n_over = 0
    for c in range(k):
        over = counts[c] > max_points
        n_over += over
        if counts[c] >= min_points and (keep_oversize or not over):
            new[c] = kept
            kept += 1
    offsets = np.zeros(kept + 1, np.int64)
    for c in range(k):
        if new[c] >= 0:
            offsets[new[c] + 1] = counts[c]
    for c in range(kept):
        offsets[c + 1] += offsets[c]
    fill = offsets[:-1].copy()
    order = np.empty(offsets[kept], np.int64)
    cluster_id = np.empty(n, np.int32)
    for p in range(n):
        c = new[labels[p]]
        cluster_id[p] = c
        if c >= 0:
            order[fill[c]] = p
            fill[c] += 1
    return cluster_id, order, offsets, n_over


@njit(cache=True)
def pairwise_sum(a, lo, n):  # pragma: no cover - compiled
    """numpy's float32 pairwise sum of a[lo:lo+n] (``np.add.reduce``'s order: 8 accumulators in
    blocks of up to 128, halves above), so that sums equal numpy's bit for bit."""
    if n < 8:
        res = np.float32(-0.0)
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= 128:
        r0 = a[lo]
        r1 = a[lo + 1]
        r2 = a[lo + 2]
        r3 = a[lo + 3]
        r4 = a[lo + 4]
        r5 = a[lo + 5]
        r6 = a[lo + 6]
        r7 = a[lo + 7]
        i = 8
        end = n - n % 8
        while i < end:
            r0 += a[lo + i]
            r1 += a[lo + i + 1]
            r2 += a[lo + i + 2]
            r3 += a[lo + i + 3]
            r4 += a[lo + i + 4]
            r5 += a[lo + i + 5]
            r6 += a[lo + i + 6]
            r7 += a[lo + i + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return pairwise_sum(a, lo, n2) + pairwise_sum(a, lo + n2, n - n2)


@njit(cache=True)
def _segment_sum(a, lo, n):  # pragma: no cover - compiled
    """``np.add.reduceat`` of one segment: its first element plus the pairwise sum of the rest."""
    if n == 1:
        return a[lo]
    return a[lo] + pairwise_sum(a, lo + 1, n - 1)


@njit(cache=True)
def closeness_kernel(x, y, c, s, start, length, d0):  # pragma: no cover - compiled
    """``boxes._closeness`` per cluster: score (K, A) float32 of the angles whose cos/sin (A, K)
    numpy computed (numpy's float32 cos differs from libm's in the last bit)."""
    na, k = c.shape
    out = np.empty((k, na), np.float32)
    tmax = 0
    for i in range(k):
        tmax = max(tmax, length[i])
    p1 = np.empty(tmax, np.float32)
    p2 = np.empty(tmax, np.float32)
    buf = np.empty(tmax, np.float32)
    d = np.empty(tmax, np.float32)
    one = np.float32(1.0)
    for i in range(k):
        lo = start[i]
        n = length[i]
        for a in range(na):
            ca = c[a, i]
            sa = s[a, i]
            for t in range(n):
                xt = x[lo + t]
                yt = y[lo + t]
                p1[t] = xt * ca + yt * sa
                p2[t] = yt * ca - xt * sa
            for pi in range(2):
                p = p1 if pi == 0 else p2
                lo_v = p[0]
                hi_v = p[0]
                for t in range(1, n):
                    lo_v = min(lo_v, p[t])
                    hi_v = max(hi_v, p[t])
                for t in range(n):
                    to_min = p[t] - lo_v
                    to_max = hi_v - p[t]
                    buf[t] = to_max * to_max - to_min * to_min
                near_max = _segment_sum(buf, 0, n) < 0
                for t in range(n):
                    di = (hi_v - p[t]) if near_max else (p[t] - lo_v)
                    d[t] = di if pi == 0 else min(d[t], di)
            for t in range(n):
                buf[t] = one / max(d[t], d0)
            out[i, a] = _segment_sum(buf, 0, n)
    return out


@njit(cache=True)
def hash_subsample_kernel(bits, offsets, sample, select):  # pragma: no cover - compiled
    """``subsample.hash_subsample_reference`` in one pass a cluster: the same indices (T,) and
    offsets (K+1,). bits: (S, >=2) uint32, the float32 x, y[, ...] of the packed points viewed as integers."""
    k = len(offsets) - 1
    m1 = np.uint64(0x9E3779B97F4A7C15)
    m2 = np.uint64(0xC2B2AE3D27D4EB4F)
    h = np.empty(offsets[k], np.uint64)
    limit = np.empty(k, np.uint64)
    sub_off = np.zeros(k + 1, np.int64)
    for c in range(k):
        a, b = offsets[c], offsets[c + 1]
        n = b - a
        limit[c] = np.uint64((np.int64(sample) << 32) // n) if n > sample else np.uint64(1) << np.uint64(32)
        kept = 0
        if select[c]:
            for i in range(a, b):
                v = (np.uint64(bits[i, 0]) * m1) ^ (np.uint64(bits[i, 1]) * m2)
                v = (v ^ (v >> np.uint64(29))) >> np.uint64(32)
                h[i] = v
                if v < limit[c]:
                    kept += 1
        sub_off[c + 1] = sub_off[c] + kept
    idx = np.empty(sub_off[k], np.int64)
    for c in range(k):
        if not select[c]:
            continue
        lo = sub_off[c]
        j = lo
        for i in range(offsets[c], offsets[c + 1]):
            if h[i] < limit[c]:
                idx[j] = i
                j += 1
        rows = idx[lo:j].copy()
        order = np.argsort(h[rows], kind="mergesort")  # stable: equal hashes by position, as the reference
        for t in range(j - lo):
            idx[lo + t] = rows[order[t]]
    return idx, sub_off


@njit(cache=True)
def wall_line_kernel(sub, draws, seed, iterations, min_pair, tolerance):  # pragma: no cover - compiled
    """``walls.fit_wall_line`` up to its least-squares refit, on its subsample ``sub`` (S, 2) float64
    (``subsample.hash_subsample``): the line hypotheses through pairs of its points drawn by column
    (k - seed) mod 256 of ``draws`` (2, 256), each scored by the points within ``tolerance``, and the
    inlier mask (S,) of the best (the first of the most votes; empty when no pair lies ``min_pair``
    apart). The reference's float64 arithmetic in its order, without its (S, H) matrix."""
    ns = sub.shape[0]
    nx = np.empty(iterations, np.float64)
    ny = np.empty(iterations, np.float64)
    c = np.empty(iterations, np.float64)
    h = 0
    for k in range(iterations):
        col = (k - seed) % draws.shape[1]
        i = int(draws[0, col] * ns)
        j = int(draws[1, col] * ns)
        dx = sub[j, 0] - sub[i, 0]
        dy = sub[j, 1] - sub[i, 1]
        length = math.hypot(dx, dy)
        if length >= min_pair:
            nx[h] = -dy / length
            ny[h] = dx / length
            c[h] = sub[i, 0] * nx[h] + sub[i, 1] * ny[h]
            h += 1
    if h == 0:
        return np.zeros(0, np.bool_)
    best = 0
    most = -1
    for k in range(h):
        votes = 0
        for s in range(ns):
            if abs(sub[s, 0] * nx[k] + sub[s, 1] * ny[k] - c[k]) < tolerance:
                votes += 1
        if votes > most:
            most = votes
            best = k
    inl = np.empty(ns, np.bool_)
    for s in range(ns):
        inl[s] = abs(sub[s, 0] * nx[best] + sub[s, 1] * ny[best] - c[best]) < tolerance
    return inl


@njit(cache=True)
def wall_fronts_kernel(xy, offsets, cand, seeds, sub_xy, sub_off, draws, iterations, min_pair, tolerance,
                       min_share, min_length, min_piece):  # pragma: no cover - compiled
    """``walls._walls_reference`` for every cluster at once: cluster k is the rows
    offsets[k]:offsets[k+1] of ``xy`` (M, 2), checked when ``cand[k]``, its RANSAC scored on the rows
    sub_off[k]:sub_off[k+1] of ``sub_xy`` (``subsample.hash_subsample``) and drawn with ``seeds[k]``.
    Returns ``wall`` (K,) bool (a wall with ``min_piece`` returns or more in front of it) and
    ``dist`` (M,) float64, each return's signed distance to its cluster's wall (+: the sensor's side;
    set for the walls only). The reference's float64 arithmetic in its order: the inliers'
    mean and the scatter's sums row by row, products and sums in separate steps."""
    k_all = cand.shape[0]
    dist = np.zeros(xy.shape[0], np.float64)
    wall = np.zeros(k_all, np.bool_)
    for k in range(k_all):
        if not cand[k]:
            continue
        a = offsets[k]
        b = offsets[k + 1]
        sub = sub_xy[sub_off[k]:sub_off[k + 1]]
        inl = wall_line_kernel(sub, draws, seeds[k], iterations, min_pair, tolerance)
        if inl.shape[0] == 0:  # no pair of returns min_pair apart: no line
            continue
        ns = sub.shape[0]
        m = 0
        sx = 0.0
        sy = 0.0
        for s in range(ns):  # the inliers in order, as numpy sums sub[inl] down its rows
            if inl[s]:
                m += 1
                sx += sub[s, 0]
                sy += sub[s, 1]
        if m == 0:
            continue
        p0x = sx / m
        p0y = sy / m
        sxy = 0.0
        sxx = 0.0
        syy = 0.0
        for s in range(ns):
            if inl[s]:
                dx = sub[s, 0] - p0x
                dy = sub[s, 1] - p0y
                sxy += dx * dy
                sxx += dx * dx
                syy += dy * dy
        theta = 0.5 * math.atan2(2 * sxy, sxx - syy)
        nx = -math.sin(theta)
        ny = math.cos(theta)
        near = 0
        for s in range(ns):
            if abs((sub[s, 0] - p0x) * nx + (sub[s, 1] - p0y) * ny) < tolerance:
                near += 1
        if near / ns < min_share:
            continue
        if -(p0x * nx + p0y * ny) < 0:  # the normal points to the sensor's side
            nx = -nx
            ny = -ny
        n_ahead = 0
        lo = np.inf
        hi = -np.inf
        for t in range(a, b):
            ex = xy[t, 0] - p0x
            ey = xy[t, 1] - p0y
            d = ex * nx + ey * ny
            dist[t] = d
            if d >= tolerance:
                n_ahead += 1
            elif abs(d) < tolerance:
                u = ex * ny + ey * -nx
                lo = min(lo, u)
                hi = max(hi, u)
        if n_ahead < min_piece:
            continue
        if min_length > 0 and (hi < lo or hi - lo < min_length):
            continue
        wall[k] = True
    return wall, dist


@njit(cache=True)
def pack_kernel_outputs(pts, xyz, ground, ng, cid_ng, order, keep, n_in):  # pragma: no cover - compiled
    """The pipeline's glue after packing, in one pass each (numpy's fancy indexing of (N, 4) rows is
    several times slower): cluster_id (M,), packed rows (S, C), packed xyz (S, 3), and the
    per-input-point cluster id and ground flag."""
    m = pts.shape[0]
    ncol = pts.shape[1]
    cluster_id = np.full(m, -1, np.int32)
    for t in range(ng.shape[0]):
        cluster_id[ng[t]] = cid_ng[t]
    s = order.shape[0]
    rows = np.empty((s, ncol), np.float32)
    pxyz = np.empty((s, 3), np.float32)
    for t in range(s):
        p = ng[order[t]]
        for c in range(ncol):
            rows[t, c] = pts[p, c]
        pxyz[t, 0] = xyz[p, 0]
        pxyz[t, 1] = xyz[p, 1]
        pxyz[t, 2] = xyz[p, 2]
    in_cid = np.full(n_in, -1, np.int32)
    in_ground = np.zeros(n_in, np.bool_)
    for t in range(m):
        in_cid[keep[t]] = cluster_id[t]
        in_ground[keep[t]] = ground[t]
    return cluster_id, rows, pxyz, in_cid, in_ground
