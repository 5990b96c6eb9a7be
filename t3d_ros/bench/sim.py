"""Benchmark of the simulated LiDAR (scene generation + ray casting) and a bird's-eye render.

Run: ``python -m t3d_ros.bench.sim [--seeds 7] [--kitti KITTI_ROOT]``. Writes ``benchmarks/results/sim.json``, prints a
markdown table, renders one HDL-64E frame coloured by class next to a real KITTI frame (if present)
to ``docs/sim_hdl64.png`` and prints a realism comparison with the KITTI frame.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from t3d_ros.bench.data import REPO as ROOT
from t3d_ros.bench.data import RESULTS
from t3d_ros.classes import CLASS_COLORS, CLASSES, GROUND_ID
from t3d_ros.offline.sim import SENSORS, generate_scene, get_sensor, scan, simulate
from t3d_ros.offline.viz import save_figure


def bench(seeds: int) -> list[dict]:
    rows = []
    for name in SENSORS:
        sensor = get_sensor(name)
        simulate(1000, name)  # warm-up: numba cache load, first-call allocations
        gen_ms, scan_ms, total_ms, returns = [], [], [], []
        for seed in range(seeds):
            t0 = time.perf_counter()
            scene = generate_scene(seed, sensor_height=sensor.mount_height)
            t1 = time.perf_counter()
            frame = scan(scene, sensor, seed)
            t2 = time.perf_counter()
            gen_ms.append(1e3 * (t1 - t0))
            scan_ms.append(1e3 * (t2 - t1))
            total_ms.append(1e3 * (t2 - t0))
            returns.append(len(frame))
        rows.append(
            {
                "sensor": name,
                "rays": sensor.num_rays,
                "returns_median": int(np.median(returns)),
                "scene_ms_median": round(float(np.median(gen_ms)), 1),
                "scan_ms_median": round(float(np.median(scan_ms)), 1),
                "total_ms_median": round(float(np.median(total_ms)), 1),
                "total_ms_max": round(float(np.max(total_ms)), 1),
            }
        )
    return rows


def _bev(ax, xyz: np.ndarray, label: np.ndarray | None, title: str, extent: float) -> None:
    import matplotlib.pyplot as plt

    if label is None:  # real frame: colour by height
        ax.scatter(xyz[:, 0], xyz[:, 1], s=0.05, c=plt.cm.viridis(np.clip((xyz[:, 2] + 2.0) / 3.0, 0, 1)))
    else:
        g = label == GROUND_ID
        ax.scatter(xyz[g, 0], xyz[g, 1], s=0.05, c="0.35", label="ground")
        for i, name in enumerate(CLASSES):
            m = label == i
            ax.scatter(xyz[m, 0], xyz[m, 1], s=0.15, color=CLASS_COLORS[name], label=name)
        ax.legend(markerscale=20, loc="upper right", fontsize=8)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_facecolor("k")
    ax.set_title(title)


def render(seed: int, out: Path, kitti_root: Path | None, extent: float = 40.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, frame = simulate(seed, "hdl64")
    panels = [(frame.xyz, frame.label, f"simulated HDL-64E, seed {seed}: {len(frame)} points")]
    kitti = kitti_root / "training" / "velodyne" / "000000.bin" if kitti_root else None
    if kitti is not None and kitti.exists():
        k = np.fromfile(kitti, dtype=np.float32).reshape(-1, 4)
        panels.append((k[:, :3], None, f"real KITTI 000000 (colour = height): {len(k)} points"))
    fig, axs = plt.subplots(1, len(panels), figsize=(10 * len(panels), 10))
    for ax, (xyz, label, title) in zip(np.atleast_1d(axs), panels, strict=True):
        _bev(ax, xyz, label, title, extent)
    save_figure(fig, out, quiet=True, dpi=70)


def _ring_radii(xyz: np.ndarray, count: int = 8) -> list[float]:
    """Distances of the first ground rings straight ahead (|azimuth| < 5 deg, z < -1.4 m): 1-D clusters of
    the horizontal distance split at gaps > 5 cm. Files carry no ring number, so this works on both."""
    rho = np.hypot(xyz[:, 0], xyz[:, 1])
    m = (xyz[:, 2] < -1.4) & (np.abs(np.arctan2(xyz[:, 1], xyz[:, 0])) < np.radians(5)) & (rho < 15)
    r = np.sort(rho[m])
    if r.size == 0:
        return []
    groups = np.split(r, np.nonzero(np.diff(r) > 0.05)[0] + 1)
    return [round(float(np.median(g)), 2) for g in groups if g.size >= 5][:count]


def compare_kitti(seeds: int, kitti_root: Path | None) -> dict:
    stats: dict = {}
    sims = [simulate(s, "hdl64") for s in range(seeds)]
    ref = np.asarray(get_sensor("hdl64").vertical_angles_deg)
    stats["sim_points_per_frame_median"] = int(np.median([len(f) for _, f in sims]))
    inten = np.concatenate([f.intensity for _, f in sims]) / 255.0
    stats["sim_intensity_pct_5_25_50_75_95"] = np.round(np.percentile(inten, [5, 25, 50, 75, 95]), 2).tolist()
    stats["sim_ground_fraction"] = round(float(np.mean([np.mean(f.label == GROUND_ID) for _, f in sims])), 2)
    stats["sim_ground_ring_radius_ahead_m"] = _ring_radii(sims[0][1].xyz)
    stats["ideal_ground_ring_radius_m"] = np.round(1.73 / np.tan(-np.radians(ref[:8])), 2).tolist()
    per_class: dict = {}
    for lab in ("car", "pedestrian", "cyclist"):
        for lo, hi in ((8, 12), (28, 35), (55, 65)):
            counts = []
            for scene, f in sims:
                c = np.bincount(f.instance, minlength=len(scene.objects) + 1)
                counts += [
                    int(c[o.instance_id])
                    for o in scene.objects
                    if o.label == lab and lo <= np.hypot(*o.center[:2]) < hi and c[o.instance_id] > 0
                ]
            if counts:
                per_class[f"{lab} {lo}-{hi} m"] = {
                    "n": len(counts),
                    "median_points": int(np.median(counts)),
                    "max_points": int(np.max(counts)),
                }
    stats["sim_points_per_object"] = per_class
    kitti = kitti_root / "training" / "velodyne" / "000000.bin" if kitti_root else None
    if kitti is not None and kitti.exists():
        k = np.fromfile(kitti, dtype=np.float32).reshape(-1, 4)
        stats["kitti_points"] = int(len(k))
        stats["kitti_intensity_pct_5_25_50_75_95"] = np.round(
            np.percentile(k[:, 3], [5, 25, 50, 75, 95]), 2
        ).tolist()
        stats["kitti_ground_fraction_z_below_-1.45"] = round(float(np.mean(k[:, 2] < -1.45)), 2)
        stats["kitti_ground_ring_radius_ahead_m"] = _ring_radii(k[:, :3])
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=7)
    ap.add_argument("--render-seed", type=int, default=6)
    ap.add_argument("--kitti", type=Path, help="KITTI object root (holding training/) to compare with")
    args = ap.parse_args()
    rows = bench(args.seeds)
    print("| sensor | rays | returns | scene ms | scan ms | total ms (median) | total ms (max) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['sensor']} | {r['rays']} | {r['returns_median']} | {r['scene_ms_median']} "
            f"| {r['scan_ms_median']} | {r['total_ms_median']} | {r['total_ms_max']} |"
        )
    realism = compare_kitti(args.seeds, args.kitti)
    for key, val in realism.items():
        print(f"{key}: {val}")
    out = RESULTS / "sim.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "seeds": args.seeds,
    }
    out.write_text(json.dumps({"meta": meta, "timings": rows, "realism": realism}, indent=1))
    render(args.render_seed, ROOT / "docs" / "sim_hdl64.png", args.kitti)
    print(f"wrote {out} and docs/sim_hdl64.png")


if __name__ == "__main__":
    main()
