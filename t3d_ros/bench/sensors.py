"""LiDARs the model has never seen: the shipped model and params on simulated scans of sensors outside
its training set, next to the four it is trained on.

The model is judged on real data from sensors it was not trained on (a 32-beam sensor among them).
Real scans of such sensors are not available here; this bench asks the part of that question the
simulator can answer: do the labels hold when only the *sensor* changes (beam pattern, columns, spin
rate, mounting height) and the streets stay the simulator's? It scans the same simulated test scenes
(seeds from ``SIM_TEST_SEED``, never trained or tuned on) with every sensor, runs the node's
``Perception`` on each scan, and reports per sensor:

- clusters a frame;
- the network's accuracy and mean-class accuracy on the clusters that have a class (>= 10 returns,
  more than half of them from one class);
- road-user labels (car, truck, pedestrian, cyclist; what the node publishes after its thresholds and
  checks): precision, the share of them on an object of that class;
- road users found: the objects of those classes within ``--max-range`` that leave >= 10 returns in
  the scan, and how many of them the node labels right (the cluster holding most of the object's
  returns carries its class) or lets fall under ``min_cluster_points`` (lost in the segmentation).

    python -m t3d_ros.bench.sensors --seeds 60 --out benchmarks/results/sensors

Sensors: ``offline/sim/sensors.py`` (``UNSEEN_SENSORS``: VLP-32C, HDL-32E at 20 Hz as in nuScenes'
sweeps, OS1-64, OS1-32). Writes ``OUT.json`` and ``OUT.md``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from t3d_ros.bench.data import REPO, write_results
from t3d_ros.bench.timing import machine
from t3d_ros.classes import CLASSES, ROAD_USERS, UNKNOWN
from t3d_ros.config import load_ros_params
from t3d_ros.offline.data import SIM_TEST_SEED
from t3d_ros.offline.data.sim import SIM_SENSORS, cluster_truth
from t3d_ros.offline.sim import get_sensor, simulate
from t3d_ros.offline.sim.sensors import UNSEEN_SENSORS
from t3d_ros.perception import Perception

MIN_POINTS, MIN_PURITY = 10, 0.5  # a cluster "has a class", as training and calibration count them


def object_outcomes(instance: np.ndarray, truth: np.ndarray, input_cluster_id: np.ndarray, labels: list[str],
                    xyz: np.ndarray, max_range: float, min_returns: int = MIN_POINTS) -> list[tuple[str, str]]:
    """(class, outcome) of every road-user object of a scan with >= ``min_returns`` returns whose
    returns lie within ``max_range`` (m, horizontal, their mean). ``instance``, ``truth`` (class id; ground
    ``GROUND_ID`` or ``len(CLASSES)``), ``input_cluster_id`` (-1: in no cluster): (N,) per return; ``labels``:
    the node's label of every cluster. Outcome: ``right`` (the cluster holding most of the object's
    clustered returns has its class), ``wrong`` (another road-user class), ``unknown``, ``other`` (a
    non-road-user class) or ``lost`` (none of its returns in a cluster)."""
    out = []
    for inst in np.unique(instance[(truth >= 0) & (truth < len(CLASSES))]):
        sel = instance == inst
        cls = CLASSES[int(np.bincount(truth[sel]).argmax())]
        if cls not in ROAD_USERS or sel.sum() < min_returns:
            continue
        if float(np.hypot(*xyz[sel, :2].mean(axis=0))) > max_range:
            continue
        cid = input_cluster_id[sel]
        cid = cid[cid >= 0]
        if not len(cid):
            out.append((cls, "lost"))
            continue
        lab = labels[int(np.bincount(cid).argmax())]
        out.append((cls, "right" if lab == cls else "unknown" if lab == UNKNOWN
                    else "wrong" if lab in ROAD_USERS else "other"))
    return out


def evaluate_sensor(perception: Perception, sensor: str, seeds: range, max_range: float = 50.0) -> dict:
    """The numbers of the module docstring for one sensor over ``seeds`` (scenes drawn for the sensor's
    own mounting height)."""
    model = get_sensor(sensor)  # simulate() draws the scene for its mounting height
    clusters = 0
    net = Counter()  # (truth, guess) of the clusters that have a class
    labelled, right = Counter(), Counter()
    objects = Counter()
    times_ms, returns = [], 0
    for seed in seeds:
        _, frame = simulate(seed, sensor)
        points = np.column_stack([frame.xyz, frame.intensity]).astype(np.float32)
        returns += len(points)
        t0 = time.perf_counter()
        res = perception.process(points)
        times_ms.append((time.perf_counter() - t0) * 1e3)
        seg = res.segmentation
        truth, major, purity = cluster_truth(frame.label, seg.input_cluster_id, seg.num_clusters)
        clusters += len(res.detections)
        for d, m, p in zip(res.detections, major, purity, strict=True):
            t = CLASSES[m] if m < len(CLASSES) and p >= MIN_PURITY else None
            if t is not None and d.num_points >= MIN_POINTS:
                net[t, d.guess or d.label] += 1
            if d.label in ROAD_USERS:
                labelled[d.label] += 1
                right[d.label] += d.label == t
        labels = [d.label for d in res.detections]
        objects.update(object_outcomes(frame.instance, truth, seg.input_cluster_id, labels, frame.xyz, max_range))
    n_net = sum(net.values())
    recall = {c: net[c, c] / n for c in CLASSES if (n := sum(v for (t, _), v in net.items() if t == c))}
    found = {c: {o: objects[c, o] for o in ("right", "wrong", "unknown", "other", "lost")} for c in ROAD_USERS}
    return {
        "sensor": sensor,
        "trained_on": sensor in SIM_SENSORS,
        "beams": model.rings,
        "columns": model.columns,
        "rate_hz": model.rate_hz,
        "mount_height_m": model.mount_height,
        "frames": len(seeds),
        "clusters_per_frame": round(clusters / max(len(seeds), 1), 1),
        "returns_per_frame": round(returns / max(len(seeds), 1)),
        "process_ms_median": round(float(np.median(times_ms)), 1) if times_ms else float("nan"),
        "network_accuracy": round(sum(net[c, c] for c in CLASSES) / max(n_net, 1), 4),
        "network_mean_class": round(float(np.mean(list(recall.values()))), 4) if recall else float("nan"),
        "network_recall": {c: round(v, 4) for c, v in recall.items()},
        "road_user_labels": {c: [right[c], labelled[c]] for c in ROAD_USERS},
        "road_user_precision": round(sum(right.values()) / max(sum(labelled.values()), 1), 4),
        "objects": found,
    }


def _pct(a: int, b: int) -> str:
    return f"{a / b:.2f} ({a}/{b})" if b else "–"


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"# Sensors the model has never seen ({res['date']}, {m['cpu']}, {m['cores']} cores)", "",
             f"`{res['command']}`: model `{res['model']}`, params `{res.get('params', '?')}`; {res['frames']} "
             f"simulated test scenes (seeds {res['seeds']}) scanned by every sensor at its own mounting height. "
             f"Network: accuracy on the clusters that have a class (>= {MIN_POINTS} returns, purity >= "
             f"{MIN_PURITY}). Road-user labels: what the node publishes (thresholds and checks on). Objects: road "
             f"users within {res['max_range_m']:g} m that leave >= {MIN_POINTS} returns.", "",
             "| sensor | trained on | beams x columns, rate | mount | returns a frame | clusters a frame | "
             "`Perception.process`, median | network accuracy | network mean-class | road-user label precision | "
             "road users labelled right | unknown | lost in segmentation |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["sensors"]:
        obj = r["objects"]
        n = sum(sum(o.values()) for o in obj.values())
        tot = {k: sum(o[k] for o in obj.values()) for k in ("right", "unknown", "lost")}
        lab_right = sum(v[0] for v in r["road_user_labels"].values())
        lab_all = sum(v[1] for v in r["road_user_labels"].values())
        lines.append(
            f"| {r['sensor']} | {'yes' if r['trained_on'] else '**no**'} | {r['beams']} x {r['columns']}, "
            f"{r['rate_hz']:g} Hz | {r['mount_height_m']:g} m | {r.get('returns_per_frame', '–')} | "
            f"{r['clusters_per_frame']} | "
            f"{r.get('process_ms_median', float('nan')):.1f} ms | "
            f"{r['network_accuracy']:.3f} | {r['network_mean_class']:.3f} | {_pct(lab_right, lab_all)} | "
            f"{_pct(tot['right'], n)} | {_pct(tot['unknown'], n)} | {_pct(tot['lost'], n)} |")
    lines += ["", "Per road-user class: label precision (right / all labels) and objects labelled right "
              "(right / objects):", "",
              "| sensor | " + " | ".join(f"{c} precision | {c} objects right" for c in ROAD_USERS) + " |",
              "|---|" + "---|---|" * len(ROAD_USERS)]
    for r in res["sensors"]:
        cells = []
        for c in ROAD_USERS:
            ok, all_ = r["road_user_labels"][c]
            o = r["objects"][c]
            cells += [_pct(ok, all_), _pct(o["right"], sum(o.values()))]
        lines.append(f"| {r['sensor']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=60, help="simulated test scenes (each scanned by every sensor)")
    ap.add_argument("--sensors", nargs="+", default=[*SIM_SENSORS, *UNSEEN_SENSORS])
    ap.add_argument("--max-range", type=float, default=50.0, help="road users farther than this are not counted [m]")
    ap.add_argument("--params", type=Path, default=REPO / "config" / "perception.yaml")
    ap.add_argument("--model", default=None, help="model card; default: the params' model")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "sensors")
    args = ap.parse_args(argv)
    perception = Perception.from_params(load_ros_params(args.params), model=args.model)
    if perception.classifier is None:
        ap.error("a model is needed (--model or the params' model_path)")
    seeds = range(SIM_TEST_SEED, SIM_TEST_SEED + args.seeds)
    rows = [evaluate_sensor(perception, s, seeds, args.max_range) for s in args.sensors]
    card = Path(str(perception.classifier.card.get("path", "?"))).resolve()
    res = {"date": datetime.date.today().isoformat(), "machine": machine(),
           "command": " ".join(["python -m t3d_ros.bench.sensors", *(argv if argv is not None else sys.argv[1:])]),
           "model": str(card.relative_to(REPO)) if card.is_relative_to(REPO) else str(card),
           "params": str(args.params.resolve().relative_to(REPO)) if args.params.resolve().is_relative_to(REPO)
           else str(args.params),
           "seeds": f"{seeds.start}..{seeds.stop - 1}", "frames": len(seeds), "max_range_m": args.max_range,
           "sensors": rows}
    write_results(args.out, res, markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
