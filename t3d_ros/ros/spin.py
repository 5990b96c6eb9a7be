"""The ``main`` of every node executable: start, report configuration errors clearly, spin, stop; and
how every node declares its parameters."""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter


def init_rclpy(name: str, args: list[str] | None, **options) -> bool:
    """``rclpy.init(args=args, **options)``; False, after one ``cannot start`` line for node ``name``
    (no traceback), when rcl cannot parse the arguments, e.g. a broken params file."""
    try:
        rclpy.init(args=args, **options)
    except RuntimeError as e:
        print(f"[FATAL] [{name}]: cannot start: {e}", file=sys.stderr)
        return False
    return True


def declare(node: Node, name: str, default, descriptor: ParameterDescriptor) -> Parameter:
    """``node.declare_parameter(name, default, descriptor)``, taking an integer that the params file or
    ``-p`` gave for a double parameter (``cluster_tolerance: 1``, ``mount_pitch_deg:=10``) as that double,
    as the CLI does (rclpy would refuse it and stop the node)."""
    given = node._parameter_overrides.get(name)  # what --params-file and -p gave this node (rclpy's own dict)
    if isinstance(default, float) and given is not None and given.type_ == Parameter.Type.INTEGER:
        node._parameter_overrides[name] = Parameter(name, Parameter.Type.DOUBLE, float(given.value))
    return node.declare_parameter(name, default, descriptor)


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
