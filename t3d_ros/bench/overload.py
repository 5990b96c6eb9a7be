"""Overload: a 128-beam LiDAR at 20 Hz into perception_node; latency must stay bounded, frames dropped.

The simulated OS1-128 publishes every 50 ms; a callback that takes longer than that cannot keep up.
The node never builds a queue: its subscription keeps the last cloud only (sensor-data QoS), and a
cloud older than ``max_frame_age`` when its callback starts is dropped (counted in /diagnostics as
``frames_stale_dropped``). This runs both nodes from a colcon install as their own processes (DDS on
this machine, as in the Makefile), once per ``max_frame_age`` setting (default the shipped 0.5 s and
0 = off), and reports the stamp-to-output latency p50 / p95 / max (``~/debug/pipeline_latency_ms``),
the callback time, and frames published vs processed. The process plumbing and the accounting are
``t3d_ros.bench.endurance``'s (same measurement, minutes shorter).

    .venv/bin/python -m t3d_ros.bench.overload                 # 30 s per setting, ~2 min
    .venv/bin/python -m t3d_ros.bench.overload --seconds 10 --ages 0.5

Writes ``benchmarks/results/overload.json`` and ``overload.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

from t3d_ros.bench import endurance
from t3d_ros.bench.data import write_results

ROOT = endurance.ROOT


def run_setting(install: Path, args: argparse.Namespace, age: float) -> dict:
    """One endurance run with ``max_frame_age`` = age: its summary, the node's stale-drop count."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["--minutes", str(args.seconds / 60), "--warmup", str(args.warmup), "--sensor", args.sensor,
                "--rate", str(args.rate), "--domain-id", str(args.domain_id), "--install", str(install),
                "--out", str(Path(tmp) / "run"), "--node-arg=-p", f"--node-arg=max_frame_age:={age}"]
        if args.model:
            argv += ["--node-arg=-p", f"--node-arg=model_path:={Path(args.model).resolve()}"]
        rc = endurance.main(argv)
        out = Path(tmp) / "run.json"
        res = json.loads(out.read_text()) if out.exists() else {"summary": {}, "crashed": ["no result"]}
    s = res["summary"]
    diag = s.get("node_diagnostics_last", {})
    return {"max_frame_age_s": age, "exit_code": rc, "crashed": res.get("crashed", []),
            "seconds": round(60 * res.get("config", {}).get("minutes", 0.0), 1),
            "frames_published": s.get("frames_published"), "frames_processed": s.get("frames_processed"),
            "processed_hz": s.get("processed_hz"), "published_hz": s.get("published_hz"),
            "dropped_fraction": s.get("dropped_fraction"),
            "stale_dropped_total": int(diag["frames_stale_dropped"]) if "frames_stale_dropped" in diag else None,
            "latency_ms": s.get("latency_ms"), "processing_ms": s.get("processing_ms"),
            "node_cpu_cores": s.get("node_cpu_cores")}


def markdown(res: dict) -> str:
    c = res["config"]
    period = 1000.0 / c["rate_hz"]
    lines = [f"# Overload: {c['sensor']} at {c['rate_hz']:g} Hz (period {period:.0f} ms) into perception_node", "",
             f"{res['date']}, {res['machine']['cpus']} CPUs, load average at start {res['machine']['loadavg_start']}; "
             f"{c['seconds']:g} s measured per setting after a {c['warmup_s']:g} s warm-up; model: "
             f"{c['model'] or 'none (clustering only)'}. Command: `{c['command']}`.", "",
             "| max_frame_age | published | processed | dropped | of which stale (node) | latency p50 / p95 / max ms "
             "| max latency in periods | callback p50 / p95 ms | node CPU (cores) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lat, proc = r["latency_ms"] or {}, r["processing_ms"] or {}
        mx = lat.get("max")
        lines.append(
            f"| {r['max_frame_age_s']:g} s{' (off)' if r['max_frame_age_s'] == 0 else ''} | {r['frames_published']} "
            f"({r['published_hz']} Hz) | {r['frames_processed']} ({r['processed_hz']} Hz) | "
            f"{100 * (r['dropped_fraction'] or 0):.0f}% | {r['stale_dropped_total']} | {lat.get('p50')} / "
            f"{lat.get('p95')} / {mx} | {mx / period if mx else float('nan'):.1f} | {proc.get('p50')} / "
            f"{proc.get('p95')} | {r['node_cpu_cores']} |")
    lines += ["", "Latency: the cloud's stamp to the end of its callback. Dropped: published clouds that never "
              "reached an output (replaced in the keep-last-1 queue while a callback ran, or stale)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="measured time per setting, after the warm-up")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds after the first detections left out")
    ap.add_argument("--ages", default="0.5,0", help="max_frame_age settings to run, comma-separated [s]")
    ap.add_argument("--sensor", default="os1-128", help="simulated sensor (os1-128: 128 beams x 1024 columns)")
    ap.add_argument("--rate", type=float, default=20.0, help="publish rate of the simulated LiDAR [Hz]")
    ap.add_argument("--model", default=None, help="model card for the node (default: the shipped params' model_path)")
    ap.add_argument("--domain-id", type=int, default=78, help="ROS_DOMAIN_ID of this run")
    ap.add_argument("--install", type=Path, default=None, help="an existing colcon install (default: build one)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "overload",
                    help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    endurance.dds_env(args.domain_id)
    install = args.install or endurance.build_install(ROOT / "build" / "bench_endurance")
    load = [round(v, 2) for v in os.getloadavg()]
    rows = [run_setting(install, args, float(a)) for a in args.ages.split(",")]
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "loadavg_start": load},
           "config": {"sensor": args.sensor, "rate_hz": args.rate, "seconds": args.seconds, "warmup_s": args.warmup,
                      "model": args.model, "command": "python -m t3d_ros.bench.overload "
                      + " ".join(argv if argv is not None else sys.argv[1:])},
           "rows": rows}
    write_results(args.out, res, markdown(res))
    return 1 if any(r["crashed"] or r["exit_code"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
