"""The ``main`` of every node executable: start, report configuration errors clearly, spin, stop."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Exit code 2 with one ``cannot start`` line (no traceback) when construction fails."""
    rclpy.init(args=args)
    try:
        node = make_node()
    except Exception as e:  # configuration errors: one clear line, non-zero exit
        rclpy.logging.get_logger(name).fatal(f"cannot start: {type(e).__name__}: {e}")
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
