"""Timing driver of ``bench --baseline``: one tree's ``Perception`` on prepared frames, in its own process.

Run as a script with ``PYTHONPATH=<tree>`` so that ``import t3d_ros`` loads *that* tree's code (the
current checkout or an old commit extracted by ``t3d_ros.bench.baseline``); it imports nothing from
the checkout that started it. It builds the Perception the way that tree's ``detect`` command does
(``build_perception(params_file, model, device)``: ``t3d_ros/cli/detect.py`` since the layout split,
``t3d_ros/detect_cli.py`` before) and times ``Perception.process`` on (N, 4) float32 frames read from
``.npy`` files (decode excluded: both trees get the same arrays).

    python baseline_driver.py --params P.yaml --model M.json --out OUT.json [--segments DIR] F1.npy ...

Writes OUT.json: per frame the wall times of ``process`` (ms), the stage times it reports, the number
of clusters, and the detections of the first timed run; with ``--segments``, one ``<i>.npz`` per
frame with the per-input-point cluster id and ground flag (for segmentation quality).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path: drop it, so that no module here
# (data.py, models.py, ...) shadows a top-level module that the tree's code imports.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p and str(Path(p).resolve()) != _HERE]
# An editable install of the checkout adds a meta-path finder that serves every t3d_ros module the
# tree lacks from the checkout (a failed `import t3d_ros.cli.detect` in an old tree would load the
# new one): drop it, so that only the tree's own code can be imported.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def _build_perception(params: Path, model: str, device: str):
    """The tree's own ``detect`` builder (its Perception, classifier and thresholds)."""
    try:
        from t3d_ros.cli.detect import build_perception  # layout of f48b128 and later
    except ImportError:
        from t3d_ros.detect_cli import build_perception  # flat layout (13d1c0b and before)
    return build_perception(params, model, device)


def _detection_json(d) -> dict:
    return {"label": d.label, "score": float(d.score), "center": [float(v) for v in d.center],
            "size": [float(v) for v in d.size], "yaw": float(d.yaw), "num_points": int(d.num_points)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("frames", nargs="+", type=Path, help="(N, 4) float32 .npy frames")
    ap.add_argument("--params", type=Path, required=True, help="the tree's ROS params file")
    ap.add_argument("--model", required=True, help="the tree's model card ('' = clustering only)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=3, help="timed passes over all frames")
    ap.add_argument("--warmup", type=int, default=1, help="untimed passes first (numba, ORT, caches)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--segments", type=Path, help="write per-point cluster ids and ground flags here")
    args = ap.parse_args(argv)

    import t3d_ros

    t_start = time.perf_counter()
    perception = _build_perception(args.params, args.model, args.device)
    frames = [np.load(f) for f in args.frames]
    for _ in range(args.warmup):
        for pts in frames:
            perception.process(pts)
    rows: list[dict] = [{"ms": [], "stages": [], "clusters": None, "detections": None} for _ in frames]
    for rep in range(args.reps):
        for i, pts in enumerate(frames):
            clf = getattr(perception, "classifier", None)
            if clf is not None and hasattr(clf, "last_timings_ms"):
                clf.last_timings_ms = {}
            t0 = time.perf_counter()
            res = perception.process(pts)
            ms = (time.perf_counter() - t0) * 1e3
            stages = {k: float(v) for k, v in res.timings_ms.items()}
            if clf is not None:
                stages.update({f"classifier.{k}": float(v) for k, v in getattr(clf, "last_timings_ms", {}).items()})
            rows[i]["ms"].append(ms)
            rows[i]["stages"].append(stages)
            if rep == 0:
                rows[i]["clusters"] = len(res.detections)
                rows[i]["detections"] = [_detection_json(d) for d in res.detections]
                if args.segments:
                    args.segments.mkdir(parents=True, exist_ok=True)
                    seg = res.segmentation
                    np.savez(args.segments / f"{i}.npz", cluster_id=seg.input_cluster_id, ground=seg.input_ground)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "t3d_ros": str(Path(t3d_ros.__file__).resolve().parents[1]),
        "frames": [str(f) for f in args.frames], "reps": args.reps, "warmup": args.warmup,
        "seconds": time.perf_counter() - t_start, "rows": rows,
    }) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
