"""How real does the simulator look? The same cluster statistics for simulated and real frames.

Both kinds of frame go through the node's own segmentation; every cluster it keeps is described by
``FEATURES`` (geometry of its points and box, no intensity: every sensor calibrates intensity
differently). The report (``realism_report``) puts side by side:

- clusters per frame, and the share that is *clutter*: larger than any road user (longer than 12 m,
  wider than 3.5 m or higher than 4.5 m) or flat and long (a vertical sheet: longer than 3 m and
  thinner than 0.35 m, or planar with a width under 15 % of its length);
- distributions of every feature (medians and quartiles), points per object against range for each
  class where labels exist (simulator ground truth; KITTI boxes), per-point intensity, and the
  radii of the first ground rings straight ahead (the beam pattern and mounting height);
- a *sim-vs-real discriminator*: gradient boosting on ``FEATURES``, cross-validated with whole
  *recordings* held out, whose ROC AUC says how well a cluster's origin can be told (0.5:
  indistinguishable), and each feature's own AUC, which says where the difference lies.

Why recordings, not frames: consecutive frames of one drive hold the same objects a few centimetres
apart. With frames held out one by one, the discriminator meets in training the neighbours of every
real frame it is tested on and recognises that street's objects, not what makes a cluster real; the
simulated frames are independent scenes and have no such neighbours, so the AUC comes out too high
(on the nine real frames here, six of them consecutive, over nine sets of simulated frames: 0.79 with
frames held out, 0.62 with the drive held out whole, for the simulator of 2026-12-01; 0.88 and 0.78
for that of 2026-11-23; docs/realism.md). The
AUC with frames held out is still reported (``auc_frames``), as it was measured before 2026-12-01.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from t3d_ros.offline.viz import save_figure
from t3d_ros.segment.pipeline import Pipeline

FEATURES = (
    "log_points",  # log10 of the cluster's returns
    "range",  # xy distance of its centroid, m
    "length",  # box length (the longer side), m
    "width",  # box width, m
    "height",  # z extent, m
    "bottom",  # lowest return relative to the sensor, m
    "linearity",  # (l1 - l2) / l1 of the 3D PCA eigenvalues l1 >= l2 >= l3
    "planarity",  # (l2 - l3) / l1
    "scattering",  # l3 / l1: a volume of scattered returns (foliage) is high, a sheet low
    "fill",  # share of the box footprint's 0.2 m cells that hold a return
    "spacing",  # median distance to the nearest other return of the cluster / range (angular), mrad
    "z_spread",  # std of z / height: returns spread over the height or bunched
)
CLUTTER_RULE = ("longer than 12 m, wider than 3.5 m or higher than 4.5 m (larger than any road user), "
                "or a vertical sheet (longer than 3 m and thinner than 0.35 m, or width < 15% of length "
                "with planarity > 0.5)")
FILL_CELL = 0.2  # m


def cluster_features(points: np.ndarray, offsets: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(K, len(FEATURES)) float64 features of K packed clusters: points (P, >=3) in the sensor frame,
    offsets (K+1,), boxes (K, 7) [cx, cy, cz, l, w, h, yaw] as the pipeline fits them."""
    from scipy.spatial import cKDTree

    k = len(offsets) - 1
    out = np.zeros((k, len(FEATURES)))
    if k == 0:
        return out
    xyz = points[:, :3].astype(np.float64)
    n = np.diff(offsets)
    cid = np.repeat(np.arange(k), n)
    start = offsets[:-1]
    mean = np.add.reduceat(xyz, start, axis=0) / n[:, None]
    d = xyz - mean[cid]
    cov = np.zeros((k, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            cov[:, i, j] = cov[:, j, i] = np.add.reduceat(d[:, i] * d[:, j], start) / n
    ev = np.sort(np.linalg.eigvalsh(cov), axis=1)[:, ::-1]  # l1 >= l2 >= l3
    l1 = np.maximum(ev[:, 0], 1e-12)
    rng = np.hypot(mean[:, 0], mean[:, 1])
    zmin = np.minimum.reduceat(xyz[:, 2], start)
    height = boxes[:, 5].astype(np.float64)
    zstd = np.sqrt(np.maximum(np.add.reduceat(d[:, 2] ** 2, start) / n, 0))
    # Footprint fill: occupied 0.2 m cells in the box frame over the cells of the box.
    c, s = np.cos(boxes[cid, 6]), np.sin(boxes[cid, 6])
    u = (xyz[:, 0] - boxes[cid, 0]) * c + (xyz[:, 1] - boxes[cid, 1]) * s + boxes[cid, 3] / 2
    v = -(xyz[:, 0] - boxes[cid, 0]) * s + (xyz[:, 1] - boxes[cid, 1]) * c + boxes[cid, 4] / 2
    nu = np.maximum(np.ceil(boxes[:, 3] / FILL_CELL), 1).astype(np.int64)
    nv = np.maximum(np.ceil(boxes[:, 4] / FILL_CELL), 1).astype(np.int64)
    iu = np.clip((u / FILL_CELL).astype(np.int64), 0, nu[cid] - 1)
    iv = np.clip((v / FILL_CELL).astype(np.int64), 0, nv[cid] - 1)
    cells = np.unique(np.stack([cid, iu, iv], axis=1), axis=0)
    fill = np.bincount(cells[:, 0], minlength=k) / (nu * nv)
    spacing = np.zeros(k)
    for i in range(k):  # nearest-neighbour spacing (angular, so that range does not dominate)
        p = xyz[offsets[i]:offsets[i + 1]]
        if len(p) > 1:
            dist, _ = cKDTree(p).query(p, k=2)
            spacing[i] = np.median(dist[:, 1]) / max(rng[i], 1.0) * 1e3
    out[:] = np.column_stack([
        np.log10(n), rng, boxes[:, 3], boxes[:, 4], height, zmin,
        (ev[:, 0] - ev[:, 1]) / l1, (ev[:, 1] - ev[:, 2]) / l1, ev[:, 2] / l1,
        fill, spacing, zstd / np.maximum(height, 1e-3),
    ])
    return out


def is_clutter(features: np.ndarray) -> np.ndarray:
    """(K,) bool: the cluster is larger than any road user, or a flat, long sheet (``CLUTTER_RULE``)."""
    f = {name: features[:, i] for i, name in enumerate(FEATURES)}
    large = (f["length"] > 12.0) | (f["width"] > 3.5) | (f["height"] > 4.5)
    sheet = (f["length"] > 3.0) & ((f["width"] < 0.35) | ((f["width"] < 0.15 * f["length"]) & (f["planarity"] > 0.5)))
    return large | sheet


def ground_ring_radii(xyz: np.ndarray, count: int = 8) -> list[float]:
    """Distances of the first ground rings straight ahead (|azimuth| < 5 deg, z < -1.0 m below the
    sensor, within 15 m): 1-D clusters of the horizontal distance split at gaps > 5 cm. Files carry no
    ring number, so this works on simulated and real frames alike."""
    rho = np.hypot(xyz[:, 0], xyz[:, 1])
    m = (xyz[:, 2] < -1.0) & (np.abs(np.arctan2(xyz[:, 1], xyz[:, 0])) < np.radians(5)) & (rho < 15)
    r = np.sort(rho[m])
    if r.size == 0:
        return []
    groups = np.split(r, np.nonzero(np.diff(r) > 0.05)[0] + 1)
    return [round(float(np.median(g)), 2) for g in groups if g.size >= 5][:count]


@dataclass
class FrameClusters:
    """The clusters of one frame: ``features`` (K, F), ``labels`` (K,) class name or "" (no label),
    the frame's per-point intensity in [0, 1], and its ground-ring radii."""

    name: str
    features: np.ndarray
    labels: list[str]
    intensity: np.ndarray
    rings: list[float] = field(default_factory=list)
    # frames of one recording (a bag, a folder of consecutive frames) share it and are held out together
    # by the discriminator; "" = a recording of its own (an independent frame, a simulated scene)
    recording: str = ""
    # (K,) share of each cluster's steps along a ring that skip a return (``ring_skips``; NaN: too few
    # steps); None where the frame's rings are unknown (files without a ring number, other than KITTI's)
    texture: np.ndarray | None = None


def cluster_majority(point_labels: Sequence[str], input_cluster_id: np.ndarray, k: int) -> list[str]:
    """(k,) the class of each of ``k`` clusters from its points' classes: the one that holds more than
    half of them, else "". ``point_labels`` (N,) names every input point's class ("" none),
    ``input_cluster_id`` (N,) its cluster (-1 none)."""
    if k == 0:
        return []
    names = np.asarray(point_labels, dtype=object)
    sel = input_cluster_id >= 0
    classes, inv = np.unique(names[sel].astype(str), return_inverse=True)
    table = np.zeros((k, len(classes)), np.int64)
    np.add.at(table, (input_cluster_id[sel], inv.reshape(-1)), 1)
    best = table.argmax(axis=1)
    share = table[np.arange(k), best] / np.maximum(table.sum(axis=1), 1)
    return [str(classes[b]) if s > 0.5 else "" for b, s in zip(best, share, strict=True)]


TEXTURE = "ring_skips"  # the name of the texture feature in reports
SKIP_STEP = 1.5  # a step along a ring of this many columns or more skips a return
SKIP_MIN_STEPS = 5  # fewer steps inside a cluster than this: no texture (NaN)


def ring_skips(xyz: np.ndarray, ring: np.ndarray, input_cluster_id: np.ndarray, k: int) -> np.ndarray:
    """(k,) the texture of each cluster along the scan lines: the share of steps between consecutive
    returns of one ring inside the cluster that skip one or more columns (``SKIP_STEP``), NaN for a
    cluster with fewer than ``SKIP_MIN_STEPS`` steps. ``xyz`` (N, 3) every input point, ``ring`` (N,)
    its laser, ``input_cluster_id`` (N,) its cluster (-1 none).

    A ring's column is taken as the median azimuth step between its consecutive returns over the whole
    frame, so no sensor table is needed (KITTI's firing pattern puts some returns half a column on: the
    median is still the column); steps under a quarter of it are double returns and not counted. Real
    surfaces return nearly every beam that meets them, so their steps are mostly one column; a
    simulated surface that loses single returns (per-beam dropout, glossy paint hashed per beam) skips
    many (docs/realism.md items 11 and 20). The 12 ``FEATURES`` of the box and its points do not see it."""
    out = np.full(k, np.nan)
    if k == 0 or len(xyz) < 2:
        return out
    ring = np.asarray(ring, np.int64)
    az = np.arctan2(xyz[:, 1], xyz[:, 0]).astype(np.float64)
    o = np.lexsort((az, ring))
    same = ring[o][1:] == ring[o][:-1]
    d = np.diff(az[o])
    column = np.full(int(ring.max()) + 1, np.nan)
    rs, ds = ring[o][1:][same & (d > 1e-6)], d[same & (d > 1e-6)]
    for r in np.unique(rs):  # at most a few hundred lasers
        column[r] = np.median(ds[rs == r])
    cid = np.asarray(input_cluster_id, np.int64)
    o = np.lexsort((az, ring, cid))
    o = o[cid[o] >= 0]
    if len(o) < 2:
        return out
    c, r = cid[o], ring[o]
    step = np.diff(az[o]) / column[r[1:]]
    inside = (c[1:] == c[:-1]) & (r[1:] == r[:-1]) & np.isfinite(step) & (step >= 0.25)
    counted = np.bincount(c[1:][inside], minlength=k)
    skipped = np.bincount(c[1:][inside & (step >= SKIP_STEP)], minlength=k)
    ok = counted >= SKIP_MIN_STEPS
    out[ok] = skipped[ok] / counted[ok]
    return out


def describe_frame(name: str, points: np.ndarray, pipeline: Pipeline, point_labels: Sequence[str] | None = None,
                   recording: str = "", ring: np.ndarray | None = None) -> FrameClusters:
    """Segment ``points`` (N, >=3; intensity in column 3, 0..1 or 0..255) and describe its clusters.
    ``point_labels`` (N,) names the class of every input point ("" none): a cluster takes the class
    that holds most of its points (when that is more than half of them). ``ring`` (N,) the laser of
    every point, where known, gives each cluster's texture along the rings (``ring_skips``)."""
    seg = pipeline(points)
    feats = cluster_features(seg.cluster_points, seg.cluster_offsets, seg.boxes)
    k = len(feats)
    labels = [""] * k
    if point_labels is not None and k:
        labels = cluster_majority(point_labels, seg.input_cluster_id, k)
    texture = None if ring is None else ring_skips(points[:, :3], ring, seg.input_cluster_id, k)
    inten = points[:, 3].astype(np.float64) if points.shape[1] > 3 else np.zeros(0)
    if len(inten) and np.nanmax(inten) > 1.0:
        inten = inten / 255.0
    return FrameClusters(name, feats, labels, np.clip(inten, 0, 1), ground_ring_radii(points[:, :3]), recording,
                         texture)


def holdout_groups(frames: Sequence[FrameClusters], folds: int = 3) -> tuple[list[str], str]:
    """The group of every frame that the discriminator holds out together, and how they were formed.

    Each recording is one group (a frame without one is its own). With fewer than two recordings
    there is nothing to hold out whole, so each recording is cut into ``folds`` contiguous blocks of
    frames (blocked cross-validation: it shrinks the leak, it does not remove it, since an object seen
    in two blocks is still met in training; the report names which of the two it used).
    """
    keys = [f.recording or f.name for f in frames]
    if len(set(keys)) >= 2:
        return keys, "recordings"
    return [f"{key}#{j * folds // len(keys)}" for j, key in enumerate(keys)], "blocks of one recording"


def cluster_groups(sim: Sequence[FrameClusters], real: Sequence[FrameClusters], folds: int = 3,
                   ) -> tuple[np.ndarray, str]:
    """(K,) the hold-out group of every cluster of ``sim`` then ``real`` (each simulated frame a group
    of its own, the real ones by ``holdout_groups``), and how the real groups were formed."""
    real_groups, how = holdout_groups(real, folds)
    keys = [f"sim/{i}" for i in range(len(sim))] + [f"real/{g}" for g in real_groups]
    ids = {g: k for k, g in enumerate(dict.fromkeys(keys))}
    groups = [np.full(len(f.features), ids[key]) for f, key in zip((*sim, *real), keys, strict=True)]
    return (np.concatenate(groups) if groups else np.zeros(0, np.int64)), how


def discriminator(sim: Sequence[FrameClusters], real: Sequence[FrameClusters], repeats: int = 5, folds: int = 3,
                  seed: int = 0) -> dict:
    """Sim-vs-real ROC AUC of gradient boosting on ``FEATURES`` with real recordings held out whole
    (``holdout_groups``; every simulated frame is a scene of its own), and the same with every frame
    held out on its own (``auc_frames``: too high where real frames are consecutive, see the module
    docstring); mean and spread over ``repeats`` shuffles; and each feature's own AUC (how far it
    alone separates the two).

    The AUC is taken within each held-out fold and averaged over the folds: the folds differ in their
    share of real clusters (a whole drive may be one fold), and pooling the folds' scores would mix
    classifiers trained on different shares. Training weighs both sides equally for the same reason."""
    from sklearn.metrics import roc_auc_score

    x = np.concatenate([f.features for f in (*sim, *real)])
    y = np.concatenate([np.full(len(f.features), i >= len(sim)) for i, f in enumerate((*sim, *real))]).astype(int)
    by_recording, how = cluster_groups(sim, real, folds)
    by_frame = np.concatenate([np.full(len(f.features), i) for i, f in enumerate((*sim, *real))])
    aucs = {key: [_fold_auc(x, y, groups, folds, seed + r) for r in range(repeats)]
            for key, groups in (("recordings", by_recording), ("frames", by_frame))}
    per_feature = {}
    for i, name in enumerate(FEATURES):
        a = roc_auc_score(y, x[:, i])
        per_feature[name] = round(float(max(a, 1 - a)), 3)
    out = {"auc": round(float(np.mean(aucs["recordings"])), 3), "auc_std": round(float(np.std(aucs["recordings"])), 3),
           "auc_frames": round(float(np.mean(aucs["frames"])), 3), "held_out": how,
           "clusters": {"sim": int((y == 0).sum()), "real": int((y == 1).sum())},
           "frames": {"sim": len(sim), "real": len(real)}, "feature_auc": per_feature}
    tex = _textures((*sim, *real))
    if tex is not None:
        # the texture along the rings as a 13th feature (NaN where a cluster has too few steps: gradient
        # boosting takes NaN as a value of its own); the 12-feature AUC above stays the target's measure
        xt = np.column_stack([x, tex])
        out["auc_texture"] = round(float(np.mean([_fold_auc(xt, y, by_recording, folds, seed + r)
                                                   for r in range(repeats)])), 3)
        ok = np.isfinite(tex)
        if 0 < y[ok].mean() < 1:
            a = roc_auc_score(y[ok], tex[ok])
            out["feature_auc"][TEXTURE] = round(float(max(a, 1 - a)), 3)
    return out


def held_out_scores(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 3,
                    seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The discriminator, cross-validated: for each ``StratifiedGroupKFold`` fold (``groups`` held out
    whole) whose training and test parts hold both sides, ``(test indices, P(real) of those clusters)``
    from gradient boosting trained on the rest, the two sides weighted equally. ``x`` (K, F), ``y``
    (K,) 1 = real. With fewer groups a side than ``folds``, as many folds as its groups; with fewer
    than two, no fold (nothing to hold out while training on the rest)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedGroupKFold

    folds = min(folds, len(np.unique(groups[y == 0])), len(np.unique(groups[y == 1])))
    if folds < 2:
        return
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, te in cv.split(x, y, groups):
        if not 0 < y[te].mean() < 1 or not 0 < y[tr].mean() < 1:
            continue  # a fold with one side only says nothing about telling them apart
        share = y[tr].mean()
        weight = np.where(y[tr] == 1, 0.5 / share, 0.5 / (1.0 - share))
        clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                             random_state=seed).fit(x[tr], y[tr], sample_weight=weight)
        yield te, clf.predict_proba(x[te])[:, 1]


def _fold_auc(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> float:
    """Mean over the held-out folds of the ROC AUC within each fold (:func:`held_out_scores`); NaN
    when there is no such fold."""
    from sklearn.metrics import roc_auc_score

    out = [roc_auc_score(y[te], p) for te, p in held_out_scores(x, y, groups, folds, seed)]
    return float(np.mean(out)) if out else float("nan")


def _textures(frames: Sequence[FrameClusters]) -> np.ndarray | None:
    """(K,) ``ring_skips`` of every cluster of ``frames``, or None unless every frame has them."""
    if not frames or any(f.texture is None for f in frames):
        return None
    return np.concatenate([f.texture for f in frames])


def _quantiles(v: np.ndarray) -> list[float]:
    return [round(float(q), 3) for q in np.percentile(v, [25, 50, 75])] if len(v) else []


def summarize(frames: Sequence[FrameClusters]) -> dict:
    """Statistics of one side (sim or real): clusters per frame, clutter share, feature quartiles,
    points per labelled object by range band, intensity percentiles, ground-ring radii."""
    feats = np.concatenate([f.features for f in frames]) if frames else np.zeros((0, len(FEATURES)))
    labels = [lab for f in frames for lab in f.labels]
    inten = np.concatenate([f.intensity for f in frames]) if frames else np.zeros(0)
    clutter = is_clutter(feats)
    tex = _textures(frames)
    per_class: dict[str, dict] = {}
    rng, npts = feats[:, 1], 10 ** feats[:, 0]
    for cls in sorted({lab for lab in labels if lab}):
        m = np.array([lab == cls for lab in labels])
        bands = {}
        for lo, hi in ((0, 10), (10, 20), (20, 35), (35, 50), (50, 80)):
            sel = m & (rng >= lo) & (rng < hi)
            if sel.any():
                bands[f"{lo}-{hi} m"] = {"n": int(sel.sum()), "median_points": int(np.median(npts[sel]))}
        per_class[cls] = bands
    return {
        "frames": len(frames),
        "clusters_per_frame": [len(f.features) for f in frames],
        "clusters_per_frame_median": float(np.median([len(f.features) for f in frames])) if frames else 0.0,
        "clutter_share": round(float(clutter.mean()), 3) if len(clutter) else None,
        "features": {name: _quantiles(feats[:, i]) for i, name in enumerate(FEATURES)},
        TEXTURE: _quantiles(tex[np.isfinite(tex)]) if tex is not None else None,
        "points_per_object": per_class,
        "intensity_percentiles_5_25_50_75_95": ([round(float(q), 3) for q in np.percentile(inten, [5, 25, 50, 75, 95])]
                                               if len(inten) else []),
        "ground_ring_radii_m": [f.rings for f in frames[:3]],
    }


def realism_report(sim: Sequence[FrameClusters], real: Sequence[FrameClusters], repeats: int = 5) -> dict:
    """Both sides' statistics and the discriminator (see the module docstring). With more simulated
    than real frames, the discriminator is run on disjoint sets of as many simulated frames as there
    are real ones (the AUC grows with the training data, so equal amounts keep it comparable) and the
    sets' mean is reported."""
    n = len(real)
    sets = [sim[i:i + n] for i in range(0, max(len(sim) - n, 0) + 1, n)] if len(sim) > n else [sim]
    runs = [discriminator(s, real, repeats=repeats) for s in sets]
    disc = dict(runs[0])
    disc["auc"] = round(float(np.mean([r["auc"] for r in runs])), 3)
    disc["auc_std"] = round(float(np.std([r["auc"] for r in runs])) if len(runs) > 1 else runs[0]["auc_std"], 3)
    disc["auc_per_sim_set"] = [r["auc"] for r in runs]
    disc["auc_frames"] = round(float(np.mean([r["auc_frames"] for r in runs])), 3)
    disc["auc_frames_per_sim_set"] = [r["auc_frames"] for r in runs]
    disc["feature_auc"] = {k: round(float(np.mean([r["feature_auc"][k] for r in runs])), 3)
                           for k in (*FEATURES, TEXTURE) if all(k in r["feature_auc"] for r in runs)}
    if all("auc_texture" in r for r in runs):
        disc["auc_texture_per_sim_set"] = [r["auc_texture"] for r in runs]
        disc["auc_texture"] = round(float(np.mean(disc["auc_texture_per_sim_set"])), 3)
    return {"clutter_rule": CLUTTER_RULE, "sim": summarize(sim), "real": summarize(real), "discriminator": disc}


def format_report(report: dict) -> str:
    """A markdown summary: the discriminator, then sim and real side by side."""
    d, s, r = report["discriminator"], report["sim"], report["real"]
    sets = d.get("auc_per_sim_set", [d["auc"]])
    frames = d.get("auc_frames_per_sim_set", [])
    if not np.isfinite(d["auc"]):
        head = [f"sim-vs-real discriminator: not measured ({d['frames']['real']} real frame(s); it needs real "
                "frames in two or more groups to hold out, and as many simulated ones)", ""]
    else:
        head = [f"sim-vs-real discriminator (gradient boosting on {len(FEATURES)} cluster features, real "
                f"{d.get('held_out', 'frames')} held out): "
                f"ROC AUC {d['auc']:.3f} +- {d['auc_std']:.3f} (mean of {len(sets)} set(s) of {d['frames']['sim']} "
                f"sim frames against {d['frames']['real']} real: {', '.join(f'{a:.3f}' for a in sets)}; "
                f"0.5 = indistinguishable)", ""]
        if "auc_texture" in d:
            head += [f"with the texture along the rings as a 13th feature ({TEXTURE}: the share of steps between "
                     f"consecutive returns of a ring inside a cluster that skip a return; what the network sees and "
                     f"the 12 features do not): ROC AUC {d['auc_texture']:.3f} "
                     f"({', '.join(f'{a:.3f}' for a in d['auc_texture_per_sim_set'])})", ""]
        if frames:
            head += [f"with every frame held out on its own (as measured before 2026-12-01; too high where real "
                     f"frames are consecutive): ROC AUC {d['auc_frames']:.3f} "
                     f"({', '.join(f'{a:.3f}' for a in frames)})", ""]
    lines = [*head,
             "| statistic | sim | real | feature AUC |", "|---|---|---|---|",
             f"| clusters per frame (median) | {s['clusters_per_frame_median']:g} | "
             f"{r['clusters_per_frame_median']:g} | |",
             f"| clutter share | {s['clutter_share']} | {r['clutter_share']} | |"]
    for name in FEATURES:
        lines.append(f"| {name} (q25 / median / q75) | {' / '.join(map(str, s['features'][name]))} | "
                     f"{' / '.join(map(str, r['features'][name]))} | {d['feature_auc'][name]} |")
    if s.get(TEXTURE) is not None and r.get(TEXTURE) is not None:
        lines.append(f"| {TEXTURE} (q25 / median / q75) | {' / '.join(map(str, s[TEXTURE]))} | "
                     f"{' / '.join(map(str, r[TEXTURE]))} | {d['feature_auc'].get(TEXTURE, '')} |")
    lines.append(f"| intensity p5/25/50/75/95 | {s['intensity_percentiles_5_25_50_75_95']} | "
                 f"{r['intensity_percentiles_5_25_50_75_95']} | |")
    lines.append(f"| ground rings ahead, m (first frame) | {(s['ground_ring_radii_m'] or [[]])[0]} | "
                 f"{(r['ground_ring_radii_m'] or [[]])[0]} | |")
    for side, stats in (("sim", s), ("real", r)):
        for cls, bands in stats["points_per_object"].items():
            text = ", ".join(f"{b}: {v['median_points']} ({v['n']})" for b, v in bands.items())
            cells = (text, "") if side == "sim" else ("", text)
            lines.append(f"| points per {cls} cluster by range ({side}; median (n)) | {cells[0]} | {cells[1]} | |")
    return "\n".join(lines)


def realism_png(path: str | Path, sim: Sequence[FrameClusters], real: Sequence[FrameClusters], report: dict,
                title: str = "") -> None:
    """Sim against real: histograms of the features (and of the texture along the rings where both
    sides have it), points against range, intensity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fs = np.concatenate([f.features for f in sim])
    fr = np.concatenate([f.features for f in real])
    tex_sim, tex_real = _textures(sim), _textures(real)
    texture = tex_sim is not None and tex_real is not None
    panels = [*FEATURES, *([TEXTURE] if texture else []), "intensity", "points_vs_range"]
    cols = 5
    rows = int(np.ceil(len(panels) / cols))
    fig, axs = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), dpi=90)
    axs = axs.ravel()
    auc = report["discriminator"]["feature_auc"]
    for ax, name in zip(axs, panels, strict=False):
        if name == "intensity":
            a = np.concatenate([f.intensity for f in sim])
            b = np.concatenate([f.intensity for f in real])
            bins = np.linspace(0, 1, 41)
        elif name == TEXTURE:
            a, b = (np.minimum(t[np.isfinite(t)], 0.6) for t in (tex_sim, tex_real))  # the last bin: 0.6 or more
            bins = np.linspace(0, 0.6, 31)
        elif name == "points_vs_range":
            ax.scatter(fs[:, 1], fs[:, 0], s=3, alpha=0.4, label="sim", color="tab:blue")
            ax.scatter(fr[:, 1], fr[:, 0], s=3, alpha=0.4, label="real", color="tab:orange")
            ax.set_xlabel("range [m]")
            ax.set_ylabel("log10 points")
            ax.set_title("points per cluster against range")
            ax.legend(fontsize=7)
            continue
        else:
            i = FEATURES.index(name)
            a, b = fs[:, i], fr[:, i]
            hi = np.percentile(np.r_[a, b], 98)
            lo = min(np.percentile(np.r_[a, b], 2), 0)
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        ax.hist(a, bins=bins, density=True, alpha=0.5, label="sim", color="tab:blue")
        ax.hist(b, bins=bins, density=True, alpha=0.5, label="real", color="tab:orange")
        ax.set_title(f"{name}" + (f" (AUC {auc[name]:.2f})" if name in auc else ""), fontsize=9)
        ax.legend(fontsize=7)
    for ax in axs[len(panels):]:
        ax.axis("off")
    d = report["discriminator"]
    frames = f"; {d['auc_frames']:.2f} with every frame held out" if "auc_frames" in d else ""
    frames += f"; {d['auc_texture']:.2f} with {TEXTURE}" if "auc_texture" in d else ""
    save_figure(fig, path, title or f"simulated vs real clusters: discriminator AUC {d['auc']:.2f} with real "
                f"{d.get('held_out', 'frames')} held out{frames} "
                f"({d['clusters']['sim']} sim / {d['clusters']['real']} real clusters)", quiet=True)


def describe_frames(frames: Iterable[tuple], pipeline: Pipeline) -> list[FrameClusters]:
    """``describe_frame`` of every (name, points, point labels or None[, recording[, ring]])."""
    out = []
    for name, points, labels, *rest in frames:
        out.append(describe_frame(name, points, pipeline, labels, rest[0] if rest else "",
                                  rest[1] if len(rest) > 1 else None))
    return out
