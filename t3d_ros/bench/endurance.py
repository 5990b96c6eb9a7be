"""Endurance under overload: the simulated LiDAR at 20 Hz, 128 beams, into perception_node, for minutes.

Both nodes run from a colcon install as their own processes, DDS kept on this machine as in the
Makefile (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, a domain of its own, the Fast DDS profile
``config/fastdds_localhost.xml``). This script listens from a third process and records:

- latency: ``~/debug/pipeline_latency_ms`` (now minus the cloud's stamp, at the end of the callback)
  and ``~/debug/processing_time_ms`` (the callback), per minute: p50 / p95 / max;
- memory: the resident set size (``/proc/<pid>/status`` VmRSS) of the perception node every second,
  its growth after the warm-up (least-squares slope, MB per minute) and first vs last minute;
- frames: published by the simulator (the stamps of its ``~/ground_truth``, one per cloud) against
  processed by the node (the stamps of ``~/detections_json``, turned on); dropped = published - processed, exact.
  The node's own counts (``/diagnostics``: ``frames_skipped_estimate``, frames it never saw, from gaps
  between input stamps; ``frames_stale_dropped``, frames it dropped as older than ``max_frame_age``)
  are reported beside it;
- CPU: the node's CPU time per wall second (1.0 = one core busy).

    .venv/bin/python -m t3d_ros.bench.endurance --minutes 10      # the README's run (idle machine)
    .venv/bin/python -m t3d_ros.bench.endurance --minutes 1       # a quick check

Writes ``benchmarks/results/endurance.json`` and ``endurance.md``. Not part of the tests (minutes long,
machine-dependent); builds its own install under ``build/bench_endurance`` unless ``--install`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from t3d_ros.bench.data import REPO as ROOT
from t3d_ros.bench.data import RESULTS

TOPIC = "/bench/points"


def dds_env(domain_id: int) -> None:
    """The Makefile's DDS settings, before rclpy is imported (children inherit them)."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(ROOT / "config" / "fastdds_localhost.xml")


def build_install(base: Path) -> Path:
    """``colcon build`` of this repository into ``base`` (as the tests do); returns the install space."""
    colcon = shutil.which("colcon", path=str(Path(sys.executable).parent)) or shutil.which("colcon")
    if colcon is None:
        sys.exit("colcon not found: run `make setup` first")
    base.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [colcon, "--log-base", str(base / "log"), "build", "--paths", str(ROOT), "--build-base", str(base / "build"),
         "--install-base", str(base / "install")],
        cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"colcon build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return base / "install"


def start(install: Path, executable: str, params: str, extra: list[str], log: Path) -> subprocess.Popen:
    exe = install / "t3d_ros" / "lib" / "t3d_ros" / executable
    cfg = install / "t3d_ros" / "share" / "t3d_ros" / "config" / params
    if not exe.is_file():
        sys.exit(f"{exe} not found")
    cmd = f". {install}/local_setup.sh && exec {exe} --ros-args --params-file {cfg} " + " ".join(extra)
    # exec: the Popen pid is the node's own process, whose memory is read from /proc.
    return subprocess.Popen(["bash", "-c", cmd], stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def pct(values: np.ndarray | list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if len(values) else None


def summarize(samples: dict, t_start: float, warmup_s: float, minutes: float, rate_hz: float) -> dict:
    """Per-minute latency, memory trend and frame accounting from the raw samples."""
    lat_t, lat = np.array(samples["latency_t"]), np.array(samples["latency_ms"])
    proc_t, proc = np.array(samples["processing_t"]), np.array(samples["processing_ms"])
    mem_t, mem = np.array(samples["rss_t"]), np.array(samples["rss_mb"])
    steady = t_start + warmup_s
    per_minute = []
    n_min = max(1, int(np.ceil(minutes - 0.02)))  # the loop overruns by a spin or two
    for m in range(n_min):
        a, b = steady + 60 * m, min(steady + 60 * (m + 1), steady + 60 * minutes)
        sel, psel, msel = (lat_t >= a) & (lat_t < b), (proc_t >= a) & (proc_t < b), (mem_t >= a) & (mem_t < b)
        per_minute.append({
            "minute": m + 1, "frames": int(psel.sum()),
            "latency_ms_p50": pct(lat[sel], 50), "latency_ms_p95": pct(lat[sel], 95),
            "latency_ms_max": round(float(lat[sel].max()), 1) if sel.any() else None,
            "processing_ms_p50": pct(proc[psel], 50), "processing_ms_p95": pct(proc[psel], 95),
            "rss_mb_median": round(float(np.median(mem[msel])), 1) if msel.any() else None,
        })
    ms = mem_t >= steady
    slope = float(np.polyfit((mem_t[ms] - steady) / 60.0, mem[ms], 1)[0]) if ms.sum() > 2 else float("nan")
    # Frames: every published stamp after the warm-up and up to 2 s before the end (still in flight).
    window_s = max(samples["t_end"] - 2.0 - steady, 1e-9)
    pub = {s for s, t in samples["published"].items() if steady <= t <= samples["t_end"] - 2.0}
    done = set(samples["processed"])
    processed = len(pub & done)
    # The node's own counters over the same window: the /diagnostics snapshot at the warm-up's end vs the last.
    diags = [d for t, d in samples["diag"] if t >= steady]
    first, last = (diags[0], diags[-1]) if diags else ({}, {})

    def counter(name: str) -> int | None:
        return int(last[name]) - int(first[name]) if name in last and name in first else None

    lat_s = lat[lat_t >= steady]
    proc_s = proc[proc_t >= steady]
    cpu = samples["cpu"]
    return {
        "frames_published": len(pub),
        "frames_processed": processed,
        "frames_dropped": len(pub) - processed,
        "dropped_fraction": round((len(pub) - processed) / max(len(pub), 1), 4),
        "processed_hz": round(processed / window_s, 2),
        "published_hz": round(len(pub) / window_s, 2),
        "node_skipped_estimate": counter("frames_skipped_estimate"),
        "node_stale_dropped": counter("frames_stale_dropped"),
        "node_frames_processed": counter("frames_processed"),
        "node_frames_rejected": last.get("frames_rejected"),
        "node_processing_errors": last.get("processing_errors"),
        "node_diagnostics_last": last,
        "latency_ms": {"p50": pct(lat_s, 50), "p95": pct(lat_s, 95), "p99": pct(lat_s, 99),
                       "max": round(float(lat_s.max()), 1) if len(lat_s) else None},
        "processing_ms": {"p50": pct(proc_s, 50), "p95": pct(proc_s, 95), "p99": pct(proc_s, 99)},
        "rss_mb": {"after_warmup": round(float(mem[ms][0]), 1) if ms.any() else None,
                   "end": round(float(mem[-1]), 1) if len(mem) else None,
                   "max": round(float(mem.max()), 1) if len(mem) else None,
                   "slope_mb_per_min": round(slope, 3)},
        "node_cpu_cores": round((cpu[-1][1] - cpu[0][1]) / max(cpu[-1][0] - cpu[0][0], 1e-9), 2)
        if len(cpu) > 1 else None,
        "per_minute": per_minute,
    }


def markdown(res: dict) -> str:
    s, c = res["summary"], res["config"]
    lines = [
        f"# Endurance: {c['sensor']} at {c['rate_hz']:g} Hz for {c['minutes']:g} min",
        "",
        f"{res['date']}, {res['machine']['cpus']} CPUs, load average at start {res['machine']['loadavg_start']}, "
        f"after a {c['warmup_s']:g} s warm-up. Node: {s['node_diagnostics_last'].get('mode', '?')}. "
        f"Command: `{c['command']}`.",
        "",
        "| frames published | processed | dropped | node: never seen (estimate) + stale dropped "
        "| latency p50 / p95 / max ms "
        "| processing p50 / p95 ms | RSS after warm-up / end MB | RSS slope MB/min | node CPU (cores) |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {s['frames_published']} | {s['frames_processed']} ({s['processed_hz']} Hz) | {s['frames_dropped']} "
        f"({100 * s['dropped_fraction']:.1f}%) | {s['node_skipped_estimate']} + {s['node_stale_dropped']} | "
        f"{s['latency_ms']['p50']} / "
        f"{s['latency_ms']['p95']} / {s['latency_ms']['max']} | {s['processing_ms']['p50']} / "
        f"{s['processing_ms']['p95']} | {s['rss_mb']['after_warmup']} / {s['rss_mb']['end']} | "
        f"{s['rss_mb']['slope_mb_per_min']} | {s['node_cpu_cores']} |",
        "",
        "| minute | frames | latency p50 | p95 | max | processing p50 | p95 | RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in s["per_minute"]:
        lines.append(f"| {m['minute']} | {m['frames']} | {m['latency_ms_p50']} | {m['latency_ms_p95']} | "
                     f"{m['latency_ms_max']} | {m['processing_ms_p50']} | {m['processing_ms_p95']} | "
                     f"{m['rss_mb_median']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="measured time after the warm-up")
    ap.add_argument("--warmup", type=float, default=30.0, help="seconds after the first detections left out")
    ap.add_argument("--sensor", default="os1-128", help="simulated sensor (os1-128: 128 beams x 1024 columns)")
    ap.add_argument("--rate", type=float, default=20.0, help="publish rate of the simulated LiDAR [Hz]")
    ap.add_argument("--domain-id", type=int, default=77, help="ROS_DOMAIN_ID of this run")
    ap.add_argument("--install", type=Path, default=None, help="an existing colcon install (default: build one)")
    ap.add_argument("--out", type=Path, default=RESULTS / "endurance", help="writes OUT.json and OUT.md")
    ap.add_argument("--node-arg", action="append", default=[], help="extra perception_node ROS argument, e.g. "
                    "'-p' 'model_path:=t3d_tiny.json' given as --node-arg=-p --node-arg=model_path:=...")
    args = ap.parse_args(argv)
    dds_env(args.domain_id)
    install = args.install or build_install(ROOT / "build" / "bench_endurance")
    logs = ROOT / "out" / "bench_endurance"  # the nodes' output (not results)
    logs.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node
    from std_msgs.msg import Float64, String
    from visualization_msgs.msg import MarkerArray

    sim = start(install, "sim_lidar_node", "sim.yaml",
                ["-p", f"sensor:={args.sensor}", "-p", f"rate_hz:={args.rate}", "-p", f"topic:={TOPIC}"],
                logs / "endurance_sim.log")
    per = start(install, "perception_node", "perception.yaml",
                ["-p", f"cloud_topic:={TOPIC}", "-p", "publish_detections_json:=true", *args.node_arg],
                logs / "endurance_perception.log")
    procs = [sim, per]
    names = {sim.pid: "sim_lidar_node", per.pid: "perception_node"}
    rclpy.init()
    node = Node("t3d_endurance_monitor")
    samples: dict = {"latency_t": [], "latency_ms": [], "processing_t": [], "processing_ms": [], "rss_t": [],
                     "rss_mb": [], "published": {}, "processed": [], "cpu": [], "diag": []}
    key = lambda h: h.stamp.sec * 10**9 + h.stamp.nanosec  # noqa: E731

    def on_truth(m: MarkerArray) -> None:
        if m.markers:
            samples["published"][key(m.markers[0].header)] = time.monotonic()

    def on_det(m: String) -> None:
        s = json.loads(m.data)["stamp"]
        samples["processed"].append(s["sec"] * 10**9 + s["nanosec"])

    def on_diag(m: DiagnosticArray) -> None:
        for st in m.status:
            if st.name.startswith("t3d_ros"):
                samples["diag"].append((time.monotonic(), {kv.key: kv.value for kv in st.values}))

    def on_float(name: str):
        def cb(m: Float64) -> None:
            samples[f"{name}_t"].append(time.monotonic())
            samples[f"{name}_ms"].append(m.data)
        return cb

    node.create_subscription(MarkerArray, "/sim_lidar_node/ground_truth", on_truth, 50)
    node.create_subscription(String, "/perception_node/detections_json", on_det, 50)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    node.create_subscription(Float64, "/perception_node/debug/pipeline_latency_ms", on_float("latency"), 50)
    node.create_subscription(Float64, "/perception_node/debug/processing_time_ms", on_float("processing"), 50)
    loadavg = os.getloadavg()
    print(f"sim_lidar_node ({args.sensor}, {args.rate:g} Hz) -> perception_node; logs in {logs}/endurance_*.log",
          flush=True)
    try:
        t0 = time.monotonic()
        while not samples["processed"] and time.monotonic() - t0 < 180:  # the simulator builds its scenes first
            rclpy.spin_once(node, timeout_sec=0.1)
            if any(p.poll() is not None for p in procs):
                break
        if not samples["processed"]:
            print("no detections arrived; see the logs", file=sys.stderr)
            for log in ("endurance_sim.log", "endurance_perception.log"):
                print(f"--- {log}\n{(logs / log).read_text()[-3000:]}", file=sys.stderr)
            return 1
        t_start = time.monotonic()
        t_end = t_start + args.warmup + 60 * args.minutes
        next_sample, next_print = t_start, t_start + 30
        while time.monotonic() < t_end and all(p.poll() is None for p in procs):
            rclpy.spin_once(node, timeout_sec=0.05)
            now = time.monotonic()
            if now >= next_sample:
                try:
                    mem, cpu = rss_mb(per.pid), cpu_seconds(per.pid)
                except OSError:  # the node has just exited; the loop ends on the next check
                    continue
                samples["rss_t"].append(now)
                samples["rss_mb"].append(mem)
                if now >= t_start + args.warmup:
                    samples["cpu"].append((now, cpu))
                next_sample += 1.0
            if now >= next_print:
                recent = samples["latency_ms"][-100:]
                print(f"{now - t_start:6.0f} s: published {len(samples['published'])}, processed "
                      f"{len(samples['processed'])}, latency p50 {np.median(recent):.0f} ms, "
                      f"RSS {samples['rss_mb'][-1]:.0f} MB", flush=True)
                next_print += 30
        samples["t_end"] = time.monotonic()
        crashed = [names[p.pid] for p in procs if p.poll() is not None]
    finally:
        stop(procs)
        node.destroy_node()
        rclpy.try_shutdown()
    measured = (samples["t_end"] - t_start - args.warmup) / 60.0
    res = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_start": [round(v, 2) for v in loadavg]},
        "config": {"sensor": args.sensor, "rate_hz": args.rate, "minutes": round(measured, 2),
                   "warmup_s": args.warmup, "node_args": args.node_arg,
                   "command": "python -m t3d_ros.bench.endurance " + " ".join(argv or sys.argv[1:])},
        "crashed": crashed,
        "summary": summarize(samples, t_start, args.warmup, measured, args.rate),
    }
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))
    print(f"wrote {args.out.with_suffix('.json')} and .md")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
