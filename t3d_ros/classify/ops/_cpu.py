"""Numba kernels of the "cpu" backend: FPS, ball query and the fused all-levels sampling.

Arithmetic is float32 and bit-exact with the reference and CUDA code: the only fastmath flags are
``nnan``/``nsz`` (they help LLVM vectorise the min/select); no ``contract`` (FMA) or ``reassoc``,
which would change the distances. Inputs are assumed finite.
"""

from __future__ import annotations

import numpy as np

# Parallel kernels run on numba's OpenMP threading layer here; t3d_ros/__init__.py makes its idle
# threads sleep rather than spin (OMP_WAIT_POLICY), which matters on a shared 2-core machine.
from t3d_ros._numba import HAVE_NUMBA, njit, numba, prange  # without numba: the reference code (see fps.py)

_FM = {"nnan", "nsz"}


@njit(cache=True, fastmath=_FM)
def _fps_core(x, y, z, k, start, out, mind):  # pragma: no cover - compiled
    """FPS of the n points (x, y, z) (SoA, float32) into out[:k]; mind: float32 scratch (>= n)."""
    n = x.shape[0]
    if k <= 0:
        return
    m = min(k, n)
    out[0] = start
    # max/equality on the int32 bits: for floats >= 0 (and -1 < 0) the order is the same, and LLVM
    # vectorises an integer max reduction where a float one (NaN rules) stays scalar: ~3x faster
    mind_bits = mind.view(np.int32)
    for j in range(n):
        mind[j] = np.inf
    c = start
    for s in range(1, m):
        cx = x[c]
        cy = y[c]
        cz = z[c]
        # a chosen point sits at -1: below every distance, so it never wins while unchosen points remain
        mind[c] = np.float32(-1.0)
        best = np.int32(-2147483647)
        for j in range(n):
            dx = x[j] - cx
            dy = y[j] - cy
            dz = z[j] - cz
            d = dx * dx + dy * dy + dz * dz
            v = mind[j]
            mind[j] = d if d < v else v
            b = mind_bits[j]
            best = b if b > best else best
        for j in range(n):  # lowest index holding the max
            if mind_bits[j] == best:
                c = j
                break
        out[s] = c
    for s in range(m, k):
        out[s] = out[s - n]  # cycle the chosen sequence: out[s] = out[s % n]


@njit(cache=True, fastmath=_FM)
def _ball_query_core(x, y, z, cx, cy, cz, r2, nsample, out, base, hit):  # pragma: no cover - compiled
    """First nsample indices j (in order) with |p_j - c|^2 < r2 into out[base:base+nsample]; hit: int32 (>= n)."""
    n = x.shape[0]
    # all distances first (a vectorised loop), then the in-order scan: ~1.5x faster than one early-exit
    # loop for the usual small radii, where most centres have fewer than nsample hits anyway
    for j in range(n):
        dx = x[j] - cx
        dy = y[j] - cy
        dz = z[j] - cz
        d = dx * dx + dy * dy + dz * dz
        hit[j] = j if d < r2 else -1
    cnt = 0
    for j in range(n):
        h = hit[j]
        if h >= 0:
            out[base + cnt] = h
            cnt += 1
            if cnt == nsample:
                return
    if cnt == 0:
        # no hit (only for centres that are not points of the cloud): the nearest point, lowest index
        best = np.float32(np.inf)
        first = 0
        for j in range(n):
            dx = x[j] - cx
            dy = y[j] - cy
            dz = z[j] - cz
            d = dx * dx + dy * dy + dz * dz
            if d < best:
                best = d
                first = j
    else:
        first = out[base]
    for t in range(cnt, nsample):
        out[base + t] = first


@njit(cache=True)
def _balance(cost, nbins):  # pragma: no cover - compiled
    """Longest-processing-time split of the clusters over nbins threads, as CSR (ptr, items)."""
    order = np.argsort(-cost, kind="mergesort")
    load = np.zeros(nbins, np.float64)
    owner = np.empty(cost.shape[0], np.int64)
    count = np.zeros(nbins, np.int64)
    for i in order:
        t = np.argmin(load)
        owner[i] = t
        load[t] += cost[i]
        count[t] += 1
    ptr = np.zeros(nbins + 1, np.int64)
    for t in range(nbins):
        ptr[t + 1] = ptr[t] + count[t]
    fill = ptr[:-1].copy()
    items = np.empty(cost.shape[0], np.int64)
    for i in order:
        items[fill[owner[i]]] = i
        fill[owner[i]] += 1
    return ptr, items


@njit(cache=True, parallel=True)
def fps_packed_kernel(points, offsets, k, bin_ptr, bin_items, out):  # pragma: no cover - compiled
    """points (P,3) f32, offsets (K+1,) i64 -> out (K,k) i64 local indices; bins: LPT split of clusters."""
    for t in prange(bin_ptr.shape[0] - 1):
        for q in range(bin_ptr[t], bin_ptr[t + 1]):
            i = bin_items[q]
            a = offsets[i]
            n = offsets[i + 1] - a
            # SoA copy: O(n) against the O(n k) of FPS, and it makes the distance loop vectorisable
            x = np.empty(n, np.float32)
            y = np.empty(n, np.float32)
            z = np.empty(n, np.float32)
            for j in range(n):
                x[j] = points[a + j, 0]
                y[j] = points[a + j, 1]
                z[j] = points[a + j, 2]
            mind = np.empty(n, np.float32)
            _fps_core(x, y, z, k, 0, out[i], mind)


@njit(cache=True, parallel=True)
def ball_query_kernel(xyz_t, centres, r2, nsample, ntasks, out):  # pragma: no cover - compiled
    """xyz_t (B,3,N) f32 (transposed: contiguous coordinate rows), centres (B,S,3) -> out (B,S,nsample).

    The B*S centres are split into ntasks contiguous ranges, each with its own scratch buffer.
    """
    nb = centres.shape[0]
    ns = centres.shape[1]
    total = nb * ns
    flat = out.reshape(total * nsample)
    for t in prange(ntasks):
        hit = np.empty(xyz_t.shape[2], np.int32)
        for q in range(t * total // ntasks, (t + 1) * total // ntasks):
            b = q // ns
            s = q - b * ns
            _ball_query_core(xyz_t[b, 0], xyz_t[b, 1], xyz_t[b, 2], centres[b, s, 0], centres[b, s, 1],
                             centres[b, s, 2], r2, nsample, flat, q * nsample, hit)


@njit(cache=True, parallel=True)
def sample_group_kernel(xyz, npoints, nsamples, r2s, fps_out, fps_off, grp_out, grp_off):  # pragma: no cover
    """All SA levels of every cloud of xyz (B,N,3) in one parallel loop over the clouds.

    Level l: FPS of npoints[l] centres among the previous level's points (level 0: the N points)
    -> fps_out[b, fps_off[l]:fps_off[l+1]]; ball query (r2s[l], nsamples[l]) of those centres among
    the same points -> grp_out[b, grp_off[l]:grp_off[l+1]] (row-major (S_l, nsample_l)).
    """
    nb = xyz.shape[0]
    nlev = npoints.shape[0]
    cap = xyz.shape[1]
    for lev in range(nlev):
        cap = max(cap, npoints[lev])
    for b in prange(nb):
        n = xyz.shape[1]
        x = np.empty(n, np.float32)
        y = np.empty(n, np.float32)
        z = np.empty(n, np.float32)
        for j in range(n):
            x[j] = xyz[b, j, 0]
            y[j] = xyz[b, j, 1]
            z[j] = xyz[b, j, 2]
        mind = np.empty(cap, np.float32)
        hit = np.empty(cap, np.int32)
        for lev in range(nlev):
            s_l = npoints[lev]
            fidx = fps_out[b, fps_off[lev]:fps_off[lev + 1]]
            _fps_core(x, y, z, s_l, 0, fidx, mind)
            cx = np.empty(s_l, np.float32)
            cy = np.empty(s_l, np.float32)
            cz = np.empty(s_l, np.float32)
            for s in range(s_l):
                cx[s] = x[fidx[s]]
                cy[s] = y[fidx[s]]
                cz[s] = z[fidx[s]]
            g = grp_out[b]
            for s in range(s_l):
                _ball_query_core(x, y, z, cx[s], cy[s], cz[s], r2s[lev], nsamples[lev], g,
                                 grp_off[lev] + s * nsamples[lev], hit)
            x = cx
            y = cy
            z = cz


def num_threads() -> int:
    return numba.get_num_threads() if HAVE_NUMBA else 1


def fps_packed(points: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    """points (P,3) float32 C-contiguous, offsets (K+1,) int64 (validated) -> (K, k) int64."""
    nclusters = offsets.shape[0] - 1
    out = np.empty((nclusters, k), np.int64)
    if nclusters == 0 or k == 0:
        return out
    sizes = np.diff(offsets)
    cost = sizes.astype(np.float64) * np.minimum(sizes, k) + sizes  # FPS work + the SoA copy
    ptr, items = _balance(cost, min(num_threads(), nclusters))
    fps_packed_kernel(points, offsets, k, ptr, items, out)
    return out


def ball_query(xyz: np.ndarray, centres: np.ndarray, r2: np.float32, nsample: int) -> np.ndarray:
    """xyz (B,N,3), centres (B,S,3) float32 C-contiguous -> (B, S, nsample) int64."""
    nb, ns = centres.shape[:2]
    out = np.empty((nb, ns, nsample), np.int64)
    if out.size == 0:
        return out
    ntasks = min(nb * ns, 4 * num_threads())
    ball_query_kernel(np.ascontiguousarray(xyz.transpose(0, 2, 1)), centres, np.float32(r2), nsample, ntasks, out)
    return out


def sample_group(xyz: np.ndarray, npoints: list[int], nsamples: list[int], r2s: list[np.float32],
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """xyz (B,N,3) float32 (N >= 1) -> [(fps (B,S_l), group (B,S_l,ns_l))] for the given levels."""
    nb = xyz.shape[0]
    fps_off = np.concatenate([[0], np.cumsum(npoints)]).astype(np.int64)
    grp_off = np.concatenate([[0], np.cumsum(np.multiply(npoints, nsamples))]).astype(np.int64)
    fps_out = np.empty((nb, fps_off[-1]), np.int64)
    grp_out = np.empty((nb, grp_off[-1]), np.int64)
    if nb:
        sample_group_kernel(xyz, np.asarray(npoints, np.int64), np.asarray(nsamples, np.int64),
                            np.asarray(r2s, np.float32), fps_out, fps_off, grp_out, grp_off)
    return [(np.ascontiguousarray(fps_out[:, fps_off[i]:fps_off[i + 1]]),
             np.ascontiguousarray(grp_out[:, grp_off[i]:grp_off[i + 1]]).reshape(nb, s, ns))
            for i, (s, ns) in enumerate(zip(npoints, nsamples, strict=True))]


@njit(cache=True)
def _mean_xyz(points, lo, hi):  # pragma: no cover - compiled
    """Mean x, y, z of ``points[lo:hi]`` (float64 sums in point order, as ``np.bincount``'s)."""
    n = max(hi - lo, 1)
    sx = 0.0
    sy = 0.0
    sz = 0.0
    for p in range(lo, hi):
        sx += np.float64(points[p, 0])
        sy += np.float64(points[p, 1])
        sz += np.float64(points[p, 2])
    return sx / n, sy / n, sz / n


@njit(cache=True)
def cluster_moments_kernel(points, offsets):  # pragma: no cover - compiled
    """Per packed cluster: mean x, mean y, sums of dx^2, dx*dy, dy^2 about the mean (float64, in
    point order: ``np.bincount``'s sums), min z, max z. For ``inputs._global_features``."""
    k = offsets.shape[0] - 1
    out = np.empty((k, 7), np.float64)
    for i in range(k):
        lo = offsets[i]
        hi = offsets[i + 1]
        mx, my, _ = _mean_xyz(points, lo, hi)
        sxx = 0.0
        sxy = 0.0
        syy = 0.0
        zlo = points[lo, 2]
        zhi = points[lo, 2]
        for p in range(lo, hi):
            dx = np.float64(points[p, 0]) - mx
            dy = np.float64(points[p, 1]) - my
            sxx += dx * dx
            sxy += dx * dy
            syy += dy * dy
            zlo = min(zlo, points[p, 2])
            zhi = max(zhi, points[p, 2])
        out[i, 0] = mx
        out[i, 1] = my
        out[i, 2] = sxx
        out[i, 3] = sxy
        out[i, 4] = syy
        out[i, 5] = zlo
        out[i, 6] = zhi
    return out


@njit(cache=True)
def far_point_kernel(points, offsets):  # pragma: no cover - compiled
    """Per packed cluster: the index of its point farthest from its centroid (float64 means summed in
    point order; of equally far points the first). For ``inputs.far_point_index``."""
    k = offsets.shape[0] - 1
    out = np.empty(k, np.int64)
    for i in range(k):
        lo = offsets[i]
        hi = offsets[i + 1]
        mx, my, mz = _mean_xyz(points, lo, hi)
        best = -1.0
        arg = lo
        for p in range(lo, hi):
            dx = np.float64(points[p, 0]) - mx
            dy = np.float64(points[p, 1]) - my
            dz = np.float64(points[p, 2]) - mz
            d = dx * dx + dy * dy + dz * dz
            if d > best:
                best = d
                arg = p
        out[i] = arg
    return out
