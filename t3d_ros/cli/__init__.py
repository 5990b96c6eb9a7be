"""``python -m t3d_ros <command>``: the command-line entry of the package.

One module per command (or group of commands) in this package; each has ``add_arguments(parser)``
and ``run(args) -> exit code``. Commands that need the offline dependencies import them only when
they run.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> tuple[argparse.ArgumentParser, dict, Exception | None]:
    """(the parser of every command, {command: run function}, why the offline commands are missing
    or None)."""
    parser = argparse.ArgumentParser(prog="python -m t3d_ros", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    from t3d_ros.cli import detect as detect_cli
    from t3d_ros.cli import eval_kitti
    from t3d_ros.cli import replay as replay_cli  # imports rclpy only when it runs
    from t3d_ros.cli import sim as sim_cli

    sim_cli.add_arguments(sub.add_parser("sim", help="simulate LiDAR frames with ground truth to files"))
    detect_cli.add_arguments(sub.add_parser("detect", help="detect objects in point-cloud files and MCAP bags"))
    eval_kitti.add_arguments(sub.add_parser("eval-kitti", help="evaluate detections against KITTI label_2 boxes"))
    replay_cli.add_arguments(sub.add_parser("replay", help="publish a bag's PointCloud2 clouds over ROS 2"))
    commands = {"sim": sim_cli.run, "detect": detect_cli.run, "eval-kitti": eval_kitti.run, "replay": replay_cli.run}
    from t3d_ros.cli import realism as realism_cli

    realism_cli.add_arguments(sub.add_parser("realism", help="simulated against real clusters: statistics, plots, "
                                             "a sim-vs-real discriminator", description=realism_cli.__doc__))
    commands["realism"] = realism_cli.run
    from t3d_ros.cli import harvest as harvest_cli

    harvest_cli.add_arguments(sub.add_parser("harvest", help="every cluster of your recordings as a file, with "
                                             "contact sheets to label them", description=harvest_cli.__doc__))
    commands["harvest"] = harvest_cli.run
    from t3d_ros.bench import cli as bench_cli  # rclpy, matplotlib and the baselines load only when it runs

    bench_cli.add_arguments(sub.add_parser("bench", help="time every stage of the node beside its baselines"))
    commands["bench"] = bench_cli.run
    # The offline companion needs torch; without it, sim and detect still work.
    missing: Exception | None = None
    try:
        from t3d_ros.cli import train as train_cli
    except ImportError as e:
        train_cli, missing = None, e
    for name, help_text in (("train", "train a teacher or the tiny model (NetAug, distillation)"),
                            ("export", "export a checkpoint as a model bundle (ONNX + weights + card)"),
                            ("eval", "accuracy, confusion matrix, parameters, FLOPs, latency of a model"),
                            ("classify", "label files that hold one object each"),
                            ("calibrate", "fit a model card's temperature and class thresholds on validation data"),
                            ("adapt", "adapt a model to unlabelled recordings (AdaBN, pseudo-labels)")):
        p = sub.add_parser(name, help=help_text, description=help_text)
        if train_cli is not None:
            getattr(train_cli, f"add_{name}_arguments")(p)
            commands[name] = getattr(train_cli, f"run_{name}")
    return parser, commands, missing


def main(argv: list[str] | None = None) -> int:
    parser, commands, missing = build_parser()
    args = parser.parse_args(argv)
    if args.command not in commands:
        print(f"error: '{args.command}' needs the offline dependencies (torch): {missing}", file=sys.stderr)
        return 2
    run = commands[args.command]
    try:
        return run(args)
    except (OSError, ValueError, RuntimeError) as e:  # bad files and settings: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2

