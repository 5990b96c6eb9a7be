"""Gaps along a ring: how often two consecutive returns of one laser lie more than a column apart.

    .venv/bin/python scripts/ring_gaps.py --real ../shared/data/kitti/training/velodyne \
        ../shared/data/kitti_odometry/velodyne --sim hdl64 --frames 9 --md benchmarks/results/ring_gaps.md

A real object returns nearly every beam that hits it; a simulated one can lose single returns (the
weak-signal loss is drawn per return) and blocks of them (the patchy holes). This counts, for returns
more than ~0.7 m above the ground (z > -1.0 m below a sensor mounted at 1.73 m) in range bands, the
steps between consecutive returns of a ring in units of the HDL-64E's column (0.1728 deg): ~0.5 (KITTI's
firing pattern puts every ~7th return half a column on), ~1 (the next column), 2 (one return missing)
or more. Real frames must be KITTI ``.bin`` files: their points are stored ring by ring, each ring in
azimuth order, which is how ``t3d_ros.io.kitti.kitti_rings`` finds the rings (files carry no ring
number); simulated frames carry their ring and column. The real frames are only measured: nothing here
trains or tunes anything.

``--cars`` counts the same steps inside the node's clusters (``config/perception.yaml``, the shipped
model) within 40 m with at least 30 such returns: those the model calls ``car`` with a score of 0.9 or
more (simulated: and more than half of its returns truly a car's), against all the others. The real
cars of the shared frames are mostly the odometry street's parked cars at 5-10 m. The report's
``ring_skips`` (``python -m t3d_ros realism``) gives the same texture per cluster for any cluster.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from t3d_ros.io.kitti import kitti_rings, read_velodyne

COLUMN = 2 * np.pi / 2083  # HDL-64E at 10 Hz, as in KITTI
BANDS = ((5, 10), (10, 20), (20, 40), (40, 80))
EDGES = (0.25, 0.75, 1.5, 2.5, 6.5, np.inf)  # ~0.5 | ~1 | 2 | 3-6 | 7+ columns
NAMES = ("half", "next", "2", "3-6", "7+")


def ring_indices(xyz: np.ndarray, min_returns: int = 200) -> list[np.ndarray]:
    """Indices of each ring of a KITTI scan (``t3d_ros.io.kitti.kitti_rings``) with ``min_returns`` or more,
    in storage order: azimuth order within a ring, wrapping once (``steps`` unwraps it)."""
    ring = kitti_rings(xyz)
    by_ring = np.split(np.argsort(ring, kind="stable"), np.cumsum(np.bincount(ring))[:-1])
    return [r for r in by_ring if len(r) >= min_returns]


def steps(xyz: np.ndarray, rings: list[np.ndarray], az: np.ndarray | None = None) -> dict:
    """Per range band, the (K,) azimuth steps (columns) between consecutive above-ground returns."""
    az = np.arctan2(xyz[:, 1], xyz[:, 0]) if az is None else az
    rho, z = np.hypot(xyz[:, 0], xyz[:, 1]), xyz[:, 2]
    out: dict = {band: [] for band in BANDS}
    for r in rings:
        s = np.abs(np.diff(np.unwrap(az[r]))) / COLUMN
        both = (z[r][1:] > -1.0) & (z[r][:-1] > -1.0)
        for lo, hi in BANDS:
            m = both & (rho[r][1:] >= lo) & (rho[r][1:] < hi) & (rho[r][:-1] >= lo) & (rho[r][:-1] < hi)
            out[(lo, hi)].append(s[m])
    return out


def sim_scan(sensor: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A simulated scan stored as KITTI stores one, ring by ring in column order: points (N, 4) with
    intensity in [0, 1], ring (N,), azimuth (N,) as -column x ``COLUMN`` (the column is what a ring steps
    by) and the class of every return (N,) ("" none)."""
    from t3d_ros.classes import CLASSES
    from t3d_ros.offline.sim import simulate

    _, f = simulate(seed, sensor)
    order = np.lexsort((f.column, f.ring))
    pts = np.column_stack([f.xyz, f.intensity / 255.0]).astype(np.float32)[order]
    names = np.array([*CLASSES, ""], dtype=object)
    truth = names[np.where(f.label >= 0, f.label, len(CLASSES))][order]
    return pts, f.ring[order], -f.column[order].astype(np.float64) * COLUMN, truth


def sim_steps(sensor: str, seed: int) -> dict:
    pts, ring, az, _ = sim_scan(sensor, seed)
    rings = np.split(np.arange(len(pts)), np.nonzero(np.diff(ring))[0] + 1)
    return steps(pts[:, :3], rings, az=az)


CLUSTER_BANDS = ((5, 10), (10, 20), (20, 40))


def cluster_steps(points: np.ndarray, ring: np.ndarray, az: np.ndarray, perception,
                  truth: np.ndarray | None = None) -> dict:
    """Per (kind, range band), the azimuth steps (columns) between consecutive above-ground returns of one
    ring inside one cluster; kind "car" (labelled car, score >= 0.9, and ``truth`` "car" where given) or
    "other". ``points`` (N, 4) in storage order: ring by ring, azimuth order within a ring."""
    from t3d_ros.offline.eval.realism import cluster_majority

    res = perception.process(points)
    cid = res.segmentation.input_cluster_id
    k = len(res.detections)
    true = cluster_majority(truth, cid, k) if truth is not None else None
    # each cluster's input points in storage order, found with one stable sort (not a scan per cluster)
    order = np.argsort(cid, kind="stable")
    members = np.split(order, np.searchsorted(cid[order], np.arange(k + 1)))[1:k + 1]
    out: dict = {}
    for i, d in enumerate(res.detections):
        r = float(np.hypot(d.center[0], d.center[1]))
        band = next((b for b in CLUSTER_BANDS if b[0] <= r < b[1]), None)
        ids = members[i][points[members[i], 2] > -1.0]
        if band is None or len(ids) < 30:
            continue
        label = d.label if d.label != "unknown" else d.guess
        car = label == "car" and d.score >= 0.9 and (true is None or true[i] == "car")
        same = np.diff(ring[ids]) == 0
        s = np.abs(np.diff(np.unwrap(az[ids]))) / COLUMN
        out.setdefault(("car" if car else "other", band), []).append(s[same])
    return out


def shares(parts: list[np.ndarray]) -> tuple[int, list[float]]:
    s = np.concatenate(parts) if parts else np.zeros(0)
    counts = np.histogram(s, bins=(0.0, *EDGES))[0][1:]  # steps under a quarter column: double returns
    return int(counts.sum()), [round(float(c) / max(int(counts.sum()), 1), 3) for c in counts]


def car_table(files: list[Path], args: argparse.Namespace) -> None:
    from t3d_ros.config import load_ros_params
    from t3d_ros.perception import Perception

    perception = Perception.from_params(load_ros_params("config/perception.yaml"))
    sides: dict = {"real": {}, "sim": {}}
    for f in files:
        pts = read_velodyne(f)
        for key, parts in cluster_steps(pts, kitti_rings(pts), np.arctan2(pts[:, 1], pts[:, 0]), perception).items():
            sides["real"].setdefault(key, []).extend(parts)
    for seed in range(args.seed, args.seed + args.frames):
        pts, ring, az, truth = sim_scan(args.sim, seed)
        for key, parts in cluster_steps(pts, ring, az, perception, truth).items():
            sides["sim"].setdefault(key, []).extend(parts)
    lines = [f"Steps between consecutive returns of a ring inside one cluster (returns > 0.7 m above the ground, "
             f"clusters within 40 m with 30 or more of them); {len(files)} real frames, {args.frames} simulated "
             f"({args.sim}, seeds {args.seed}-{args.seed + args.frames - 1}). `car`: labelled car with a score of "
             "0.9 or more by the shipped model (simulated: and truly a car).", "",
             "| range | kind | side | clusters | steps | missing (2 or more) |", "|---|---|---|---|---|---|"]
    for band in CLUSTER_BANDS:
        for kind in ("car", "other"):
            for side in ("real", "sim"):
                parts = sides[side].get((kind, band), [])
                n, sh = shares(parts)
                lines.append(f"| {band[0]}-{band[1]} m | {kind} | {side} | {len(parts)} | {n} | "
                             + (f"**{sum(sh[2:]):.3f}** |" if n else "- |"))
    text = "\n".join(lines)
    print(text)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--real", type=Path, nargs="+", required=True, help="KITTI .bin files or folders of them")
    p.add_argument("--sim", default="hdl64")
    p.add_argument("--frames", type=int, default=9, help="simulated frames (seeds --seed, --seed + 1, ...)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--md", type=Path, help="write the table here")
    p.add_argument("--cars", action="store_true", help="steps inside the clusters: cars against the rest")
    args = p.parse_args()
    files = sorted(f for path in args.real for f in ([path] if path.is_file() else path.glob("*.bin")))
    if args.cars:
        return car_table(files, args)
    real: dict = {band: [] for band in BANDS}
    for f in files:
        xyz = read_velodyne(f)[:, :3]
        for band, parts in steps(xyz, ring_indices(xyz)).items():
            real[band] += parts
    sim: dict = {band: [] for band in BANDS}
    for seed in range(args.seed, args.seed + args.frames):
        for band, parts in sim_steps(args.sim, seed).items():
            sim[band] += parts
    lines = [f"Steps between consecutive returns of a ring, returns > 0.7 m above the ground; {len(files)} real "
             f"frames, {args.frames} simulated ({args.sim}, seeds {args.seed}-{args.seed + args.frames - 1}). "
             "Share of steps by size in HDL-64E columns.", "",
             "| range | side | steps | " + " | ".join(NAMES) + " | missing (2 or more) |",
             "|---|---|---|" + "---|" * len(NAMES) + "---|"]
    for band in BANDS:
        for side, data in (("real", real), ("sim", sim)):
            n, sh = shares(data[band])
            lines.append(f"| {band[0]}-{band[1]} m | {side} | {n} | " + " | ".join(f"{v:.3f}" for v in sh)
                         + f" | **{sum(sh[2:]):.3f}** |")
    text = "\n".join(lines)
    print(text)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text + "\n")


if __name__ == "__main__":
    main()
