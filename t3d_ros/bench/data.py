"""Frames the benchmarks run on: simulated scenes of every sensor, the shared KITTI frames, and
synthetic frames of a chosen size (points, clusters) for the cost-growth curves.

Shared by ``python -m t3d_ros bench`` and ``python -m t3d_ros.bench.segmentation`` /
``python -m t3d_ros.bench.ops`` so that every comparison runs on the same frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]  # the source tree (benchmarks run from a checkout)
RESULTS = REPO / "benchmarks" / "results"
THINGS = ("car", "truck", "pedestrian", "cyclist", "pole", "misc")  # objects; vegetation, walls: background
KITTI_FRAMES = ("000000", "000001", "000002")


def write_results(out: Path, res: dict, text: str, **json_kw) -> None:
    """A benchmark's numbers as ``OUT.json`` (``res``; ``json_kw`` for ``json.dumps``, e.g. ``default``)
    and its report as ``OUT.md`` (``text``), printed as well."""
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1, **json_kw) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


@dataclass
class BenchFrame:
    """One frame with its ground truth and the PointCloud2 layout a driver would publish it in.

    points (N, 4) float32 x, y, z, intensity; instance (N,) ground-truth object id (0: ground or
    background); gt_ground (N,) bool or None (KITTI has no ground labels); gt_boxes: instance ->
    box [cx, cy, cz, l, w, h, yaw] of cars and trucks; cloud: (structured array, height), the
    driver-layout buffer of the frame (organized Velodyne/Ouster for the simulator, KITTI's 16 bytes).
    """

    dataset: str  # sensor name or "kitti"
    name: str
    points: np.ndarray
    instance: np.ndarray
    gt_ground: np.ndarray | None
    gt_boxes: dict[int, np.ndarray]
    cloud: tuple[np.ndarray, int]


def sim_frames(seeds: int, sensors: tuple[str, ...] | None = None, first_seed: int = 100) -> Iterator[BenchFrame]:
    """``seeds`` simulated frames (seeds first_seed, first_seed+1, ...) of each sensor."""
    from t3d_ros.classes import CLASSES
    from t3d_ros.offline.sim import SENSORS, simulate
    from t3d_ros.offline.sim.driver import frame_to_array

    for sensor in sensors or tuple(SENSORS):
        for seed in range(seeds):
            scene, f = simulate(first_seed + seed, sensor)
            inst = f.instance.astype(np.int64).copy()
            lab = f.label.astype(np.int64)
            stuff = np.isin(lab, [CLASSES.index(c) for c in CLASSES if c not in THINGS])
            inst[stuff] = 0  # background for object metrics
            gt_boxes = {o.instance_id: np.r_[o.center, o.size, o.yaw]
                        for o in scene.objects if o.label in ("car", "truck")}
            pts = np.column_stack([f.xyz, f.intensity]).astype(np.float32)
            yield BenchFrame(sensor, f"{sensor}/{seed}", pts, inst, f.label == -1, gt_boxes,
                             frame_to_array(f, SENSORS[sensor], organized=True))


def kitti_frames(root: Path | None) -> Iterator[BenchFrame]:
    """The KITTI frames 000000..000002 under ``root`` (holding ``training/``; none when ``root`` is None
    or holds no frames). Instances: labelled objects within 40 m with >= 20 points, points above the
    box's bottom 0.15 m."""
    from t3d_ros.geometry import points_in_boxes
    from t3d_ros.io.cloud import KITTI, build_cloud
    from t3d_ros.io.kitti import OBJECT_TYPES, load_frame

    if root is None:
        return
    for fr in KITTI_FRAMES:
        if not (root / "training" / "velodyne" / f"{fr}.bin").exists():
            return
        pts, lab = load_frame(root, fr)
        keep = np.isin(lab.names, OBJECT_TYPES)
        bx = lab.boxes[keep]
        inside = points_in_boxes(pts[:, :3], bx, margin=0.1)
        # Per-point instance: inside the box and above its bottom 0.15 m (label slack is ground).
        above = pts[:, 2, None] > (bx[:, 2] - bx[:, 5] / 2 + 0.15)[None, :]
        m = inside & above
        inst = np.where(m.any(1), m.argmax(1) + 1, 0)
        rng = np.hypot(bx[:, 0], bx[:, 1])
        counts = m.sum(0)
        eval_ids = np.flatnonzero((rng <= 40) & (counts >= 20)) + 1
        inst = np.where(np.isin(inst, eval_ids), inst, 0)
        gt_boxes = {i + 1: bx[i] for i in range(len(bx)) if lab.names[keep][i] in ("Car", "Van", "Truck")}
        cloud = build_cloud(KITTI, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2], "intensity": pts[:, 3]})
        yield BenchFrame("kitti", f"kitti/{fr}", pts, inst, None, gt_boxes, (cloud, 1))


def cluster_frame(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k packed clusters, sizes log-uniform in [10, 5000], as blobs of 0.3..4 m anywhere within 40 m:
    (points (P, 3) float32, offsets (k+1,) int64)."""
    sizes = np.exp(rng.uniform(np.log(10), np.log(5000), k)).astype(np.int64)
    clusters = []
    for n in sizes:
        extent = rng.uniform(0.3, 4.0, 3) * [1.0, 1.0, 0.5]
        centre = [*rng.uniform(-40, 40, 2), rng.uniform(-1, 1)]
        clusters.append(rng.normal(size=(n, 3)) * extent / 2 + centre)
    return np.concatenate(clusters).astype(np.float32), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def resampled(points: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``points`` thinned (random subset) or densified (jittered copies, sigma 2 cm) to n points:
    the same scene as a sparser or denser sensor would see it."""
    rng = np.random.default_rng(seed)
    if n <= len(points):
        return points[np.sort(rng.choice(len(points), n, replace=False))]
    extra = points[rng.integers(0, len(points), n - len(points))].copy()
    extra[:, :3] += rng.normal(0, 0.02, (len(extra), 3)).astype(np.float32)
    return np.concatenate([points, extra])


def street_with_objects(k: int, seed: int = 0, total: int = 120_000) -> np.ndarray:
    """A flat street 1.73 m below the sensor (returns within 50 m, denser near the sensor as a
    spinning LiDAR sees it) with exactly k separated car-sized objects of 300 returns each (on a
    5 m grid from 6 m out); ``total`` points in all, so that only the cluster count changes:
    (total, 4) float32. For latency against the number of clusters."""
    rng = np.random.default_rng(seed)
    ground_points = total - 300 * k
    if ground_points < 1000:
        raise ValueError(f"{k} objects of 300 points do not fit in {total} points")
    r = 3.0 * (50.0 / 3.0) ** rng.random(ground_points)  # log-uniform range: ring spacing grows with it
    a = rng.uniform(-np.pi, np.pi, ground_points)
    ground = np.c_[r * np.cos(a), r * np.sin(a), rng.normal(-1.73, 0.02, ground_points)]
    slots = [(x, y) for x in np.arange(-47.5, 50, 5.0) for y in np.arange(-47.5, 50, 5.0)
             if 6.0 < np.hypot(x, y) < 50.0]
    chosen = rng.permutation(len(slots))[:k]
    if len(chosen) < k:
        raise ValueError(f"at most {len(slots)} objects fit on the street")
    objects = []
    for i in chosen:
        x, y = slots[i]
        size = np.array([rng.uniform(1.5, 4.0), rng.uniform(0.6, 1.8), rng.uniform(1.0, 1.8)])
        local = (rng.random((300, 3)) - 0.5) * size
        yaw = rng.uniform(0, np.pi)
        c, s = np.cos(yaw), np.sin(yaw)
        objects.append(np.c_[x + c * local[:, 0] - s * local[:, 1], y + s * local[:, 0] + c * local[:, 1],
                             -1.73 + 0.25 + size[2] / 2 + local[:, 2]])
    xyz = np.concatenate([ground, *objects])
    return np.c_[xyz, rng.uniform(0, 255, len(xyz))].astype(np.float32)
