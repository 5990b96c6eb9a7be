"""Same-run A/B of the cloud decoder: ``points_from_view``'s numba pass (into a fresh array, and into a
buffer kept between clouds, as the node decodes) against its numpy path, on the messages the benchmark
decodes (simulated HDL-64E and OS1-128 frames in their drivers' layouts, a KITTI frame), interleaved,
in one process. Prints a Markdown table; outputs are checked identical.

    .venv/bin/python scripts/decode_ab.py --kitti ../shared/data/kitti [--out benchmarks/results/decode_ab.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from t3d_ros.bench.data import kitti_frames, sim_frames
from t3d_ros.bench.node import cloud_message
from t3d_ros.io import _decode
from t3d_ros.io.cloud import points_from_view
from t3d_ros.ros.convert import msg_to_points, msg_view


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kitti", type=Path)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    frames = list(sim_frames(1, ("hdl64", "os1-128"))) + (list(kitti_frames(args.kitti))[:1] if args.kitti else [])
    _decode.warmup()
    rows = ["| frame | slots | point step | numpy path ms | numba pass ms | into a kept buffer ms | numpy / numba | "
            "numba / buffer | identical |", "|---|---|---|---|---|---|---|---|---|"]
    for f in frames:
        msg = cloud_message(*f.cloud)
        fast = msg_to_points(msg)
        buffer = np.empty((msg.width * msg.height, 4), np.float32)
        have, t = _decode.HAVE_NUMBA, {"numpy": [], "numba": [], "buffer": []}
        decoders = {"numpy": msg_to_points, "numba": msg_to_points,
                    "buffer": lambda m, buffer=buffer: points_from_view(msg_view(m), out=buffer)}
        try:
            same = bool(np.array_equal(decoders["buffer"](msg), fast))
            _decode.HAVE_NUMBA = False
            same &= bool(np.array_equal(msg_to_points(msg), fast))
            for _ in range(args.rounds):  # interleaved: the machine's drift hits all alike
                for name, decode in decoders.items():
                    _decode.HAVE_NUMBA = name != "numpy"
                    for _ in range(args.reps):
                        t0 = time.perf_counter()
                        decode(msg)
                        t[name].append((time.perf_counter() - t0) * 1e3)
        finally:
            _decode.HAVE_NUMBA = have
        a, b, c = (float(np.median(t[k])) for k in ("numpy", "numba", "buffer"))
        rows.append(f"| {f.name} | {msg.width * msg.height // 1000}k | {msg.point_step} B | {a:.2f} | {b:.2f} | "
                    f"{c:.2f} | {a / b:.2f}x | {b / c:.2f}x | {same} |")
    text = "\n".join(rows)
    print(text)
    if args.out:
        args.out.write_text(f"`python scripts/decode_ab.py{' --kitti ' + str(args.kitti) if args.kitti else ''}`"
                            f" ({time.strftime('%Y-%m-%d %H:%M')}), median of {args.rounds} x {args.reps}"
                            f" interleaved decodes:\n\n{text}\n")


if __name__ == "__main__":
    main()
