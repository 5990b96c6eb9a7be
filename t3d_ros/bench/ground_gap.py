"""How high above the ground a road user's lowest return may lie: the limits of the ground check, from simulation.

``classify/postcheck.py`` lowers a road-user label to ``unknown`` when the cluster's lowest return lies
more than ``max_ground_gap`` above the local ground (``segment/ground.py: cluster_ground_gap``). The
limits cannot come from body sizes alone: a pedestrian behind a parked car shows only its upper half,
and a low robot sensor sees the roofs of cars behind a hedge. So they come from the simulated
validation scenes (seeds 100000.., never the training or test scenes, never real frames), every sensor,
and the mounting heights that training draws (0.4-2.0 m for half of the frames). The rule: a class's
limit is the 99.5th percentile of the gaps of its own clusters (majority truth, purity >= 0.5, >= 10
returns), rounded up to 0.1 m, so that at most ~0.5 % of true road users are lowered by it. With a
model, the report also counts the road-user labels that the limits lower, right and wrong::

    python -m t3d_ros.bench.ground_gap --seeds 200 --out benchmarks/results/ground_gap --png docs/ground_gap.png

Writes ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
from pathlib import Path

import numpy as np

from t3d_ros.bench.data import REPO, write_results
from t3d_ros.bench.timing import machine
from t3d_ros.classes import CLASSES, ROAD_USERS
from t3d_ros.classify.postcheck import SIZE_LIMITS, implausible_reason, without_ground_check
from t3d_ros.config import load_ros_params
from t3d_ros.offline.data.sim import SIM_SENSORS, cluster_truth, mount_height
from t3d_ros.offline.sim import simulate
from t3d_ros.offline.viz import save_figure
from t3d_ros.perception import Perception

FIRST_VAL_SEED = 100_000  # offline/data: the validation scenes
PERCENTILE, MIN_PURITY, MIN_POINTS = 99.5, 0.5, 10


def measure(perception: Perception, seeds: range, sensors: tuple[str, ...]) -> list[dict]:
    """One row per cluster of every (seed, sensor) frame: its true class (majority, ``len(CLASSES)`` =
    ground), purity, returns, ground gap (m) and the label the node gives without the ground check."""
    perception.size_limits = without_ground_check(perception.size_limits)
    rows = []
    for seed in seeds:
        for sensor in sensors:
            _, frame = simulate(seed, sensor, 1.0, mount_height=mount_height(seed, sensor))
            res = perception.process(np.column_stack([frame.xyz, frame.intensity]).astype(np.float32))
            _, major, purity = cluster_truth(frame.label, res.segmentation.input_cluster_id,
                                             res.segmentation.num_clusters)
            for d, m, p in zip(res.detections, major, purity, strict=True):  # d.clearance: the gap
                rows.append({"truth": int(m), "purity": float(p), "n": d.num_points, "gap": float(d.clearance),
                             "size": [round(float(v), 3) for v in d.size], "label": d.label})
    return rows


def derive_limits(rows: list[dict]) -> dict[str, dict]:
    """Per class: clusters, gap percentiles (m), and for road users the limit by the module's rule."""
    out = {}
    for ci, name in enumerate((*CLASSES, "ground")):
        g = np.array([r["gap"] for r in rows if r["truth"] == ci and r["purity"] >= MIN_PURITY
                      and r["n"] >= MIN_POINTS])
        g = g[np.isfinite(g)]
        if not len(g):
            continue
        q = {f"p{p:g}": round(float(np.percentile(g, p)), 3) for p in (50, 90, 99, PERCENTILE)}
        entry = {"clusters": len(g), **q, "max": round(float(g.max()), 3)}
        if name in ROAD_USERS:
            entry["limit"] = math.ceil(np.percentile(g, PERCENTILE) * 10 - 1e-9) / 10
        out[name] = entry
    return out


def effect(rows: list[dict], limits: dict[str, float]) -> dict[str, dict]:
    """Per road-user label: how many there are, right and wrong, and how many of each the ground check
    lowers (``limits`` as ``max_ground_gap``, and the shipped ``max_top``)."""
    checked = {k: dataclasses.replace(v, max_ground_gap=limits.get(k, math.inf)) for k, v in SIZE_LIMITS.items()}
    out = {}
    for lab in ROAD_USERS:
        mine = [r for r in rows if r["label"] == lab]
        right = [r for r in mine if r["truth"] < len(CLASSES) and CLASSES[r["truth"]] == lab]
        wrong = [r for r in mine if not (r["truth"] < len(CLASSES) and CLASSES[r["truth"]] == lab)]

        def lowered(rs: list[dict], lab: str = lab) -> int:
            return sum(bool(implausible_reason(lab, r["size"], checked, r["gap"])) for r in rs)

        out[lab] = {"right": len(right), "right_lowered": lowered(right), "wrong": len(wrong),
                    "wrong_lowered": lowered(wrong)}
    return out


def plot(rows: list[dict], limits: dict[str, float], path: Path) -> None:
    """Histograms of the gap by true class (road users against vegetation and structure), limits dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from t3d_ros.classes import CLASS_COLORS

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), sharey=True)
    bins = np.linspace(-0.2, 5.0, 53)
    for ax, lab in zip(axes, ROAD_USERS, strict=True):
        for name, style in ((lab, {"color": CLASS_COLORS[lab], "alpha": 0.8}),
                            ("vegetation", {"color": CLASS_COLORS["vegetation"], "alpha": 0.35}),
                            ("structure", {"color": CLASS_COLORS["structure"], "alpha": 0.35})):
            ci = CLASSES.index(name)
            g = np.array([r["gap"] for r in rows if r["truth"] == ci and r["purity"] >= MIN_PURITY
                          and r["n"] >= MIN_POINTS])
            g = g[np.isfinite(g)]
            if len(g):
                ax.hist(np.clip(g, bins[0], bins[-1]), bins=bins, density=True, histtype="stepfilled", label=name,
                        **style)
        if lab in limits:
            ax.axvline(limits[lab], color="k", ls="--", lw=1)
            ax.text(limits[lab] - 0.05, 2e-3, f"limit {limits[lab]:g} m", fontsize=8, ha="right")
        ax.set_title(f"true {lab} clusters")
        ax.set_xlabel("lowest return above the local ground [m]")
        ax.set_yscale("log")
        ax.legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("density (log)")
    save_figure(fig, path, "Where clusters start above the ground, simulated validation frames (bench.ground_gap)",
                title_size=10, quiet=True, dpi=90)


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"# Ground check limits ({res['date']}, {m['cpu']}, {m['cores']} cores)", "",
             f"`{res['command']}`: {res['frames']} simulated validation frames (seeds {res['seeds']}, sensors "
             f"{', '.join(res['sensors'])}, training's mounting heights). Gap = the lowest return of a cluster above "
             f"the local ground (m); clusters of >= {MIN_POINTS} returns with purity >= {MIN_PURITY} by true class. "
             f"Limit = the {PERCENTILE:g}th percentile rounded up to 0.1 m (road users only).", "",
             "| true class | clusters | median | p90 | p99 | p99.5 | max | limit |",
             "|---|---|---|---|---|---|---|---|"]
    for name, e in res["gaps"].items():
        lines.append(f"| {name} | {e['clusters']} | {e['p50']:.2f} | {e['p90']:.2f} | {e['p99']:.2f} | "
                     f"{e[f'p{PERCENTILE:g}']:.2f} | {e['max']:.2f} | {e.get('limit', '–')} |")
    if res.get("effect"):
        lines += ["", f"Road-user labels of `{res['model']}` (class thresholds and box limits on, ground check off) "
                  "that the ground check lowers (these limits, and `max_top` of pedestrians and cyclists: "
                  f"{res['max_top']}):", "",
                  "| label | right | right lowered | wrong | wrong lowered | precision before -> after |",
                  "|---|---|---|---|---|---|"]
        for lab, e in res["effect"].items():
            n = e["right"] + e["wrong"]
            kept_r, kept_w = e["right"] - e["right_lowered"], e["wrong"] - e["wrong_lowered"]
            before = f"{e['right'] / n:.3f}" if n else "–"
            after = f"{kept_r / (kept_r + kept_w):.3f}" if kept_r + kept_w else "–"
            lines.append(f"| {lab} | {e['right']} | {e['right_lowered']} | {e['wrong']} | {e['wrong_lowered']} | "
                         f"{before} -> {after} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=200, help="simulated validation scenes (x the sensors)")
    ap.add_argument("--sensors", nargs="+", default=list(SIM_SENSORS))
    ap.add_argument("--params", type=Path, default=REPO / "config" / "perception.yaml")
    ap.add_argument("--model", default=None, help="model card; default the params' model; '' none (gaps only)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ground_gap")
    ap.add_argument("--png", type=Path, default=None, help="histograms of the gaps (e.g. docs/ground_gap.png)")
    args = ap.parse_args(argv)
    perception = Perception.from_params(load_ros_params(args.params), model=args.model)
    seeds = range(FIRST_VAL_SEED, FIRST_VAL_SEED + args.seeds)
    rows = measure(perception, seeds, tuple(args.sensors))
    gaps = derive_limits(rows)
    limits = {k: v["limit"] for k, v in gaps.items() if "limit" in v}
    res = {"date": datetime.date.today().isoformat(), "machine": machine(),
           "command": f"python -m t3d_ros.bench.ground_gap --seeds {args.seeds}",
           "seeds": f"{seeds.start}..{seeds.stop - 1}",
           "sensors": list(args.sensors), "frames": len(seeds) * len(args.sensors), "gaps": gaps, "limits": limits,
           "shipped_limits": {k: v.max_ground_gap for k, v in SIZE_LIMITS.items() if k in ROAD_USERS},
           "max_top": {k: v.max_top for k, v in SIZE_LIMITS.items() if math.isfinite(v.max_top)}}
    if perception.classifier is not None:
        card = Path(str(perception.classifier.card.get("path", "?"))).resolve()
        res["model"] = str(card.relative_to(REPO)) if card.is_relative_to(REPO) else str(card)
        res["effect"] = effect(rows, limits)
    if args.png:
        plot(rows, limits, args.png)
    write_results(args.out, res, markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
