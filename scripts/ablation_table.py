"""Markdown table of the T3DNet ablation from the ``eval --json`` files of several runs.

    python scripts/ablation_table.py teacher=out/runs/teacher_ssg/eval.json tiny=out/runs/tiny/eval.json ...
        [--baseline teacher] [--out benchmarks/results/classifier.md]

Ratios (FLOPs, accuracy) are to the baseline run (the teacher).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _acc(report: dict, prefix: str) -> tuple[str, str]:
    for source, acc in report["data"].items():
        if source == prefix or source.startswith(prefix + ":"):
            n = acc["clusters"]
            return f"{acc['accuracy']:.3f}", f"{acc['mean_class_accuracy']:.3f} ({n})"
    return "-", "-"


def table(runs: dict[str, dict], baseline: str) -> str:
    base = runs[baseline]
    base_acc = base["data"]["sim"]["accuracy"]
    rows = ["| model | params | MFLOPs / cluster (teacher / model) | CPU ms, batch 64 | sim acc (% of teacher) "
            "| sim mean-class acc | KITTI clusters acc | mean-class (n) | KITTI objects acc | mean-class (n) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        sim = r["data"]["sim"]
        ms = next(v for k, v in r.items() if k.startswith("cpu_ms_network_batch"))
        kc, kcm = _acc(r, "kitti")
        ko, kom = _acc(r, "kitti-objects")
        rows.append(
            f"| {name} | {r['params']:,} | {r['mflops_per_cluster']:.1f} "
            f"({base['mflops_per_cluster'] / r['mflops_per_cluster']:.0f}x) | {ms:.1f} "
            f"| {sim['accuracy']:.3f} ({100 * sim['accuracy'] / base_acc:.0f}%) | {sim['mean_class_accuracy']:.3f} "
            f"| {kc} | {kcm} | {ko} | {kom} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="name=eval.json")
    parser.add_argument("--baseline", help="run the ratios are taken to (default: the first)")
    parser.add_argument("--out", help="also write the table here")
    args = parser.parse_args()
    runs = {}
    for item in args.runs:
        name, path = item.split("=", 1)
        runs[name] = json.loads(Path(path).read_text())
    text = table(runs, args.baseline or next(iter(runs)))
    print(text, end="")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
