"""The ``main`` of every node executable: start, report configuration errors clearly, spin, stop."""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def init_rclpy(name: str, args: list[str] | None, **options) -> bool:
    """``rclpy.init(args=args, **options)``; False, after one ``cannot start`` line for node ``name``
    (no traceback), when rcl cannot parse the arguments, e.g. a broken params file."""
    try:
        rclpy.init(args=args, **options)
    except RuntimeError as e:
        print(f"[FATAL] [{name}]: cannot start: {e}", file=sys.stderr)
        return False
    return True


def interrupted(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt (Ctrl-C, rclpy's SIGINT/SIGTERM handler) is among ``error``'s causes:
    compiled code that a signal interrupts (a numba kernel unpickling its constants) wraps it in a
    ``SystemError``, which an ``except Exception`` would otherwise report as a fault."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def run_node(make_node: Callable[[], Node], name: str, args: list[str] | None = None) -> int:
    """Spin the node until SIGINT/SIGTERM (exit 0, no traceback); exit code 2 with one ``cannot start``
    line (no traceback) when the arguments or the construction fail."""
    if not init_rclpy(name, args):
        return 2
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
    except Exception:
        # The signal handler shuts the context down while a callback may still be publishing: its
        # "publisher's context is invalid" is the shutdown, not a fault. Anything else is one.
        if rclpy.ok():
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
