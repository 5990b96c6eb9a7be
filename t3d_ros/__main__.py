"""``python -m t3d_ros <command>``: the command-line entry of the package."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m t3d_ros", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from t3d_ros import detect_cli
    from t3d_ros.sim import cli as sim_cli

    sim_cli.add_arguments(sub.add_parser("sim", help="simulate LiDAR frames with ground truth to files"))
    detect_cli.add_arguments(sub.add_parser("detect", help="detect objects in point-cloud files"))
    args = parser.parse_args(argv)
    run = {"sim": sim_cli.run, "detect": detect_cli.run}[args.command]
    try:
        return run(args)
    except (OSError, ValueError) as e:  # bad files and settings: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
