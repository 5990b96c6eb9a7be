"""Numpy augmentations of one cluster (N, 4) x, y, z, intensity in the SENSOR frame.

The clusters are partial views seen from the sensor, so geometric changes are chosen to keep the
view consistent: rotating about the vertical axis through the sensor moves the object around the
sensor and its visible side turns with it; rotation about the cluster's own centre is kept small
(large angles would show the hidden side facing the sensor). Sizes are metric and matter for the
classes (car vs truck), so scale jitter stays mild. Every function takes a ``np.random.Generator``;
the same seed gives the same output. :class:`Augment` chains them with strengths, all scaled by one
``strength`` scalar (small models prefer weaker augmentation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from t3d_ros.offline.sim.sensors import SENSORS


def _rot_z(points: np.ndarray, angle: float, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    out = points.copy()
    x, y = points[:, 0] - cx, points[:, 1] - cy
    out[:, 0] = c * x - s * y + cx
    out[:, 1] = s * x + c * y + cy
    return out


def rotate_about_sensor(points: np.ndarray, angle: float) -> np.ndarray:
    """(N, C) rotated by ``angle`` (rad) about the z axis through the sensor (origin)."""
    return _rot_z(points, angle)


def rotate_about_centre(points: np.ndarray, angle: float) -> np.ndarray:
    """(N, C) rotated by ``angle`` (rad) about the vertical axis through the xy centroid."""
    if not len(points):
        return points.copy()
    cx, cy = points[:, :2].mean(axis=0)
    return _rot_z(points, angle, float(cx), float(cy))


def tilt(points: np.ndarray, pitch: float, roll: float) -> np.ndarray:
    """(N, C) rotated about the sensor's y (pitch) then x (roll) axes (rad): a tilted mount / slope."""
    cp, sp, cr, sr = math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
    rot_y = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rot_x = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    out = points.copy()
    out[:, :3] = (points[:, :3].astype(np.float64) @ (rot_x @ rot_y).T).astype(points.dtype)
    return out


def scale_about_base(points: np.ndarray, factor: float) -> np.ndarray:
    """(N, C) scaled by ``factor`` about the cluster's bottom centre (xy centroid, lowest z), so the
    object keeps standing where it stood and its range barely changes."""
    if not len(points):
        return points.copy()
    base = np.array([*points[:, :2].mean(axis=0), points[:, 2].min()], dtype=np.float64)
    out = points.copy()
    out[:, :3] = ((points[:, :3] - base) * factor + base).astype(points.dtype)
    return out


def ring_rows(points: np.ndarray, gap_deg: float = 0.15) -> np.ndarray:
    """(N,) int64 scan row of every point, from its elevation angle seen from the sensor.

    Returns of one laser lie on a cone (constant elevation), so sorted elevations jump by the ring
    spacing (0.33-2 deg for common sensors) between rings: a jump above ``gap_deg`` starts a new row.
    """
    if not len(points):
        return np.zeros(0, np.int64)
    elev = np.degrees(np.arctan2(points[:, 2], np.hypot(points[:, 0], points[:, 1])))
    order = np.argsort(elev, kind="stable")
    new_row = np.concatenate([[0], (np.diff(elev[order]) > gap_deg).astype(np.int64)])
    rows = np.empty(len(points), np.int64)
    rows[order] = np.cumsum(new_row)
    return rows


def ring_dropout(points: np.ndarray, step: int, rng: np.random.Generator, min_points: int = 1) -> np.ndarray:
    """Keep every ``step``-th scan row (random phase): a sparser sensor or a farther object."""
    rows = ring_rows(points)
    keep = rows % step == rng.integers(step)
    return points[keep] if keep.sum() >= min_points else points


def row_loss(points: np.ndarray, fraction: float, rng: np.random.Generator, min_points: int = 1) -> np.ndarray:
    """Lose each scan row (:func:`ring_rows`) with probability ``fraction``, whole: glossy paint at a
    slant, a dark stripe or a weak laser loses returns a row at a time, where :func:`random_dropout`
    loses them one by one (docs/realism.md item 21: a network trained on the one reads the other as
    unlike its class)."""
    rows = ring_rows(points)
    if not len(rows):
        return points
    keep = ~(rng.random(int(rows.max()) + 1) < fraction)[rows]
    return points[keep] if keep.sum() >= min_points else points


def resolution_deg(sensor: str, elevation_deg: float) -> tuple[float, float] | None:
    """(row, column) spacing in degrees of the simulated ``sensor`` (``offline.sim.sensors``) at
    ``elevation_deg``: the gap between its two beams around that elevation (clamped to its field of
    view) and one column; None for a name it does not know."""
    model = SENSORS.get(sensor)
    if model is None:
        return None
    angles = np.asarray(model.vertical_angles_deg)
    i = int(np.clip(np.searchsorted(angles, elevation_deg), 1, len(angles) - 1))
    return float(angles[i] - angles[i - 1]), 360.0 / model.columns


def push_away(points: np.ndarray, factor: float, rng: np.random.Generator, row_deg: float | None = None,
              column_deg: float | None = None, min_points: int = 1) -> np.ndarray:
    """(N, C) moved ``factor`` (>= 1) times farther from the sensor along its bearing, and thinned as a
    sensor of the same angular resolution sees it there.

    At ``factor`` times the range an object subtends 1/``factor`` of the angles, so one beam is left in
    each cell of ``factor`` scan rows by ``factor`` columns (in the angles seen now), aimed at the
    cell's middle: it keeps the return nearest there if one lies within half a row and half a column,
    so the kept returns lie on rows and a surface that returned a share of the beams still does
    (cells, not rows, because the HDL-64E's lasers interleave at short range and its rows cannot be
    told apart there). The bearing, and with it the side the sensor sees, does not change; the
    object keeps its height above the ground (flat ground). ``row_deg`` / ``column_deg``: the sensor's
    spacing (:func:`resolution_deg`); None: estimated from the cluster (the median gap
    between :func:`ring_rows` rows and between neighbours along a row). A result under ``min_points``
    returns gives ``points`` unchanged. Far road users are rare in the simulated scenes (six cyclists
    at 35-50 m in the test split); this makes them from near ones.
    """
    if factor <= 1.0 or len(points) < 2:
        return points
    xy = points[:, :2].astype(np.float64)
    el = np.degrees(np.arctan2(points[:, 2].astype(np.float64), np.hypot(xy[:, 0], xy[:, 1])))
    az = np.arctan2(xy[:, 1], xy[:, 0])
    az = np.degrees((az - np.median(az) + np.pi) % (2 * np.pi) - np.pi)  # unwrapped around the bearing
    if row_deg is None or column_deg is None:
        row_deg, column_deg = _resolution_of(el, az, ring_rows(points))
    h, w = factor * row_deg, factor * column_deg
    u, v = rng.uniform(0, 1, 2)
    cell_row = np.floor(el / h + u).astype(np.int64)
    cell_col = np.floor(az / w + v).astype(np.int64)
    # the sensor's one beam in the cell points at its middle; it hits if a return lies within half a
    # row and half a column of there (so a cell whose middle was a hole stays empty)
    d_row = np.abs(el - (cell_row + 0.5 - u) * h) / row_deg
    d_col = np.abs(az - (cell_col + 0.5 - v) * w) / column_deg
    near = np.flatnonzero((d_row <= 0.5) & (d_col <= 0.5))
    order = near[np.lexsort((d_row[near] ** 2 + d_col[near] ** 2, cell_col[near], cell_row[near]))]
    first = np.ones(len(order), bool)
    first[1:] = (np.diff(cell_row[order]) != 0) | (np.diff(cell_col[order]) != 0)
    keep = order[first]
    if len(keep) < max(min_points, 1):
        return points
    out = points[np.sort(keep)].copy()
    out[:, :2] += ((factor - 1.0) * out[:, :2].astype(np.float64).mean(axis=0)).astype(out.dtype)
    return out


def _resolution_of(el: np.ndarray, az: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """(row, column) spacing in degrees estimated from one cluster (see :func:`push_away`)."""
    n_rows = int(rows.max()) + 1
    centres = np.bincount(rows, el, n_rows) / np.maximum(np.bincount(rows, None, n_rows), 1)
    gaps = np.diff(np.sort(centres))
    order = np.lexsort((az, rows))
    steps = np.diff(az[order])[rows[order][1:] == rows[order][:-1]]
    steps = steps[steps > 1e-3]
    return (float(np.median(gaps)) if len(gaps) else 1.0), (float(np.median(steps)) if len(steps) else 0.2)


def random_dropout(points: np.ndarray, fraction: float, rng: np.random.Generator, min_points: int = 1) -> np.ndarray:
    """Drop each point with probability ``fraction`` (never below ``min_points`` points)."""
    keep = rng.random(len(points)) >= fraction
    if keep.sum() < min(min_points, len(points)):
        keep[rng.choice(len(points), min(min_points, len(points)), replace=False)] = True
    return points[keep]


def occlude(points: np.ndarray, fraction: float, rng: np.random.Generator, min_points: int = 1) -> np.ndarray:
    """Remove up to ``fraction`` of the points in one piece: a random azimuth sector as seen from the
    sensor (something in front of the object) or, half of the time, one side along a random
    horizontal direction (a cut-off end). Keeps at least ``min_points`` points."""
    n = len(points)
    if n <= min_points or fraction <= 0:
        return points
    if rng.random() < 0.5:
        az = np.arctan2(points[:, 1], points[:, 0])
        az = (az - np.median(az) + np.pi) % (2 * np.pi) - np.pi  # unwrap around the object's bearing
        key = az
    else:
        a = rng.uniform(0, 2 * np.pi)
        key = points[:, 0] * math.cos(a) + points[:, 1] * math.sin(a)
    order = np.argsort(key, kind="stable")
    n_cut = min(int(round(fraction * n)), n - min_points)
    if n_cut <= 0:
        return points
    start = rng.integers(0, n - n_cut + 1)  # a contiguous run in the sorted order = one sector/side
    keep = np.ones(n, bool)
    keep[order[start : start + n_cut]] = False
    return points[keep]


def jitter(points: np.ndarray, sigma: float, rng: np.random.Generator, clip: float = 3.0) -> np.ndarray:
    """Gaussian xyz noise of std ``sigma`` (m), clipped at ``clip`` sigma."""
    out = points.copy()
    noise = np.clip(rng.normal(0.0, 1.0, (len(points), 3)), -clip, clip) * sigma
    out[:, :3] += noise.astype(points.dtype)
    return out


@dataclass
class Augment:
    """Random augmentation of one cluster; ``aug(points, rng)`` -> (M, 4) float32, M <= N.

    Magnitudes and probabilities are multiplied by ``strength`` (0: only the rotation about the
    sensor, which is an exact symmetry of the data and therefore not scaled; set
    ``sensor_yaw_deg=0`` too for the identity).
    """

    strength: float = 1.0
    sensor_yaw_deg: float = 180.0  # any angle is consistent: the object just sits at another bearing
    centre_yaw_deg: float = 10.0  # small: larger angles turn the hidden side towards the sensor
    tilt_deg: float = 3.0  # pitch/roll of the sensor mount or the road
    scale: float = 0.1  # factor in [1 - scale, 1 + scale]
    dropout_prob: float = 0.5
    dropout_max: float = 0.3  # fraction of points dropped at random, uniform in [0, max]
    ring_dropout_prob: float = 0.2
    ring_step_max: int = 3  # keep every k-th ring, k in [2, ring_step_max]
    # Lose random whole rows (each with a probability uniform in [0, row_loss_max]) with this
    # probability; 0 by default, as the shipped recipe was trained (and then no random draw is taken).
    row_loss_prob: float = 0.0
    row_loss_max: float = 0.3
    jitter_sigma: tuple[float, float] = (0.01, 0.03)  # m, drawn uniformly
    occlusion_prob: float = 0.3
    occlusion_max: float = 0.3  # largest share of the points removed by one occluder
    intensity_gain: float = 0.3  # intensity * uniform(1 - gain, 1 + gain): sensors scale it differently
    intensity_noise: float = 0.02
    intensity_zero_prob: float = 0.1  # some sensors / folders give no intensity at all
    min_points: int = 8  # dropouts and occlusion never leave fewer points than this (or than N)
    # Mirror the cluster in the vertical plane through the sensor and its centre (y -> -y in the sensor
    # frame) with this probability: an exact symmetry of the scene (streets where traffic keeps left),
    # so not scaled by ``strength``. 0 by default, as the shipped recipe was trained.
    mirror_prob: float = 0.0
    # Move the cluster farther away with this probability (:func:`push_away`): the range times a factor
    # drawn from U(1, far_factor_max), never beyond far_max_range (m) or to fewer than far_min_points
    # returns (the node's smallest cluster). 0 by default, as the shipped recipe was trained.
    far_prob: float = 0.0
    far_factor_max: float = 3.0
    far_max_range: float = 60.0
    far_min_points: int = 10

    def __call__(self, points: np.ndarray, rng: np.random.Generator, sensor: str | None = None) -> np.ndarray:
        """points (N, 4) float32 sensor frame -> augmented (M, 4) float32. ``sensor``: the name of the
        simulated sensor that saw the cluster (its resolution for :func:`push_away`), if known."""
        pts = np.array(points, dtype=np.float32, copy=True)
        if pts.ndim != 2 or pts.shape[1] < 4:
            raise ValueError(f"points must have shape (N, 4), got {pts.shape}")
        s = max(float(self.strength), 0.0)
        keep_min = min(self.min_points, len(pts))

        def p(prob: float) -> bool:
            return rng.random() < min(prob * s, 1.0)

        # View-dependent removals first, while the geometry is still the one the sensor saw.
        if self.far_prob > 0 and p(self.far_prob):
            pts = self._push_away(pts, rng, sensor)
        if self.ring_step_max >= 2 and p(self.ring_dropout_prob):
            pts = ring_dropout(pts, int(rng.integers(2, self.ring_step_max + 1)), rng, keep_min)
        if self.row_loss_prob > 0 and p(self.row_loss_prob):
            pts = row_loss(pts, rng.uniform(0, self.row_loss_max), rng, keep_min)
        if p(self.occlusion_prob):
            pts = occlude(pts, rng.uniform(0, self.occlusion_max), rng, keep_min)
        if p(self.dropout_prob):
            pts = random_dropout(pts, rng.uniform(0, self.dropout_max), rng, keep_min)
        if not len(pts):
            return pts
        if self.centre_yaw_deg > 0 and s > 0:
            pts = rotate_about_centre(pts, math.radians(rng.uniform(-1, 1) * self.centre_yaw_deg * s))
        if self.mirror_prob > 0 and rng.random() < self.mirror_prob:
            pts[:, 1] = -pts[:, 1]
        if self.sensor_yaw_deg > 0:
            pts = rotate_about_sensor(pts, math.radians(rng.uniform(-1, 1) * self.sensor_yaw_deg))
        if self.tilt_deg > 0 and s > 0:
            t = math.radians(self.tilt_deg * s)
            pts = tilt(pts, rng.uniform(-t, t), rng.uniform(-t, t))
        if self.scale > 0 and s > 0:
            pts = scale_about_base(pts, rng.uniform(1 - self.scale * s, 1 + self.scale * s))
        if s > 0 and self.jitter_sigma[1] > 0:
            pts = jitter(pts, rng.uniform(*self.jitter_sigma) * s, rng)
        if s > 0:
            if p(self.intensity_zero_prob):
                pts[:, 3] = 0.0
            else:
                g = self.intensity_gain * s
                pts[:, 3] *= rng.uniform(1 - g, 1 + g)
                pts[:, 3] += rng.normal(0, self.intensity_noise * s, len(pts)).astype(np.float32)
                np.clip(pts[:, 3], 0.0, 1.0, out=pts[:, 3])
        return pts.astype(np.float32, copy=False)

    def _push_away(self, pts: np.ndarray, rng: np.random.Generator, sensor: str | None) -> np.ndarray:
        centre = pts[:, :3].astype(np.float64).mean(axis=0) if len(pts) else np.zeros(3)
        r = float(np.hypot(centre[0], centre[1]))
        top = min(self.far_factor_max, self.far_max_range / max(r, 1e-3),
                  math.sqrt(len(pts) / max(self.far_min_points, 1)))
        if top <= 1.05:
            return pts
        res = resolution_deg(sensor, math.degrees(math.atan2(centre[2], r))) if sensor else None
        row_deg, column_deg = res if res is not None else (None, None)
        return push_away(pts, rng.uniform(1.0, top), rng, row_deg, column_deg, self.far_min_points)
