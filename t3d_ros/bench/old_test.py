"""The simulated test set of an old commit, rebuilt with that commit's own code, and models judged on it.

Issue 10 asks that the simulated test accuracy stay within 3 points of an earlier model's. The test
set changes with the simulator, so "the same test set" means the old one: this extracts ``--ref``'s
tree with ``git archive`` (as ``bench --baseline`` does, into ``out/baseline/<sha>/``), builds its
simulated test split (seeds 200000.., ``--sim-seeds`` // 5 scenes x its sensors) in a subprocess that
imports only the old tree, saves it as ``out/old_test/<sha>.npz``, and evaluates every model card
given on it with this checkout's ``eval`` (classes mapped by name; outliers left out as ``eval`` does)::

    python -m t3d_ros.bench.old_test --ref da7d213 \\
        --models 11-23=REF:models/t3d_tiny.json 11-28=43b4f52:models/t3d_tiny.json now=models/t3d_tiny.json \\
        --out benchmarks/results/old_test

``--models`` entries may name a card inside the old tree as ``REF:path`` (e.g. ``REF:models/t3d_tiny.json``),
or in any other commit as ``COMMIT:path`` (extracted the same way).
Writes ``OUT.json`` and ``OUT.md``. The old tree must be importable with this virtual environment
(it was, from 2026-11-23 on: ``t3d_ros.train.cli.load_data`` or ``t3d_ros.offline.data.load_data``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from t3d_ros.bench.baseline import card_at, extract_tree, resolve
from t3d_ros.bench.data import REPO

CACHE = REPO / "out" / "old_test"

# Run inside the old tree: its load_data (wherever that commit kept it) builds and saves the split.
# The editable install's meta-path finder would serve modules the old tree lacks from this checkout.
_BUILD = """
import os, sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
if os.path.isfile("t3d_ros/offline/data/__init__.py"):
    from t3d_ros.offline.data import load_data
else:
    from t3d_ros.train.cli import load_data
assert os.path.abspath(sys.modules[load_data.__module__].__file__).startswith(os.getcwd()), "not the old tree's code"
cs = load_data("sim", "test", sim_seeds=int(sys.argv[2]), cache=sys.argv[3], workers=int(sys.argv[4]))
cs.save(sys.argv[1])
print(len(cs.labels))
"""


def build_old_test(ref: str, sim_seeds: int = 200, workers: int = 2, cache: Path = CACHE) -> Path:
    """``ref``'s simulated test split, built by ``ref``'s code, as a ClusterSet ``.npz`` (built once)."""
    sha = resolve(ref)
    out = cache / f"{sha[:12]}_seeds{sim_seeds}.npz"
    if out.is_file():
        return out
    tree = extract_tree(sha)
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    subprocess.run([sys.executable, "-c", _BUILD, str(out.resolve()), str(sim_seeds), str(cache.resolve() / sha[:12]),
                    str(workers)], cwd=tree, env=env, check=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True, help="the commit whose simulator builds the test set (e.g. da7d213)")
    ap.add_argument("--models", nargs="+", required=True, help="model cards: name=path.json, name=REF:path "
                    "(a card in the old tree) or name=COMMIT:path")
    ap.add_argument("--sim-seeds", type=int, default=200, help="as `eval --sim-seeds`: the test split is "
                    "sim_seeds // 5 scenes (default 200: 40 scenes)")
    ap.add_argument("--workers", type=int, default=2, help="processes building the old test set")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/old_test"), help="writes OUT.json, OUT.md")
    args = ap.parse_args(argv)

    from t3d_ros.offline.eval.classifier import evaluate

    sha = resolve(args.ref)
    data = build_old_test(sha, args.sim_seeds, args.workers)
    rows = []
    for spec in args.models:
        name, card = card_at(spec, sha)
        rep = evaluate(card, [str(data)])["data"][str(data)]
        rows.append({"model": name, "card": str(card), "accuracy": rep["accuracy"],
                     "mean_class_accuracy": rep["mean_class_accuracy"], "per_class": rep["per_class"],
                     "clusters": rep["clusters"]})
        print(f"{name}: acc {rep['accuracy']:.3f}, mean-class {rep['mean_class_accuracy']:.3f} "
              f"({rep['clusters']} clusters)", file=sys.stderr)
    doc = {"ref": sha, "test_set": str(data), "sim_seeds": args.sim_seeds, "models": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    classes = list(rows[0]["per_class"]) if rows else []
    n = rows[0]["clusters"] if rows else 0
    lines = [f"Simulated test set of commit {sha[:7]}, built by that commit's code ({n} clusters; "
             f"`python -m t3d_ros.bench.old_test --ref {sha[:7]}`)", "",
             "| model | accuracy | mean-class | " + " | ".join(classes) + " |",
             "|---|---|---|" + "---|" * len(classes)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['accuracy']:.3f} | {r['mean_class_accuracy']:.3f} | "
                     + " | ".join(f"{r['per_class'][c]:.2f}" for c in classes) + " |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
