"""Shared fixtures: DDS kept on this machine, a colcon install of the package, a ROS test node."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The real frames the tests read (never copied into the repository): $T3D_ROS_SHARED_DATA, else the data
# folder of the workplace's shared folder as scripts/shared_dir.sh finds it (beside the checkout, or beside
# the checkout it was cloned from). CI always has it, so under CI=true a test that needs it runs (and fails
# when it is missing) instead of being skipped.
def _shared_data() -> Path:
    if "T3D_ROS_SHARED_DATA" in os.environ:
        return Path(os.environ["T3D_ROS_SHARED_DATA"])
    try:
        out = subprocess.run(["bash", str(REPO / "scripts" / "shared_dir.sh")], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        return Path(out) / "data"
    except (OSError, subprocess.SubprocessError):
        return REPO.parent / "shared" / "data"


SHARED_DATA = _shared_data()
KITTI = SHARED_DATA / "kitti"  # KITTI object root: training/{velodyne,label_2,calib}
KITTI_ROOT = KITTI / "training"
KITTI_ODOMETRY = SHARED_DATA / "kitti_odometry"  # six unlabelled consecutive frames: velodyne/*.bin
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Every DDS participant of the test session stays on loopback, in a domain of its own so that
# parallel runs (CI beside a developer) never see each other. Set before rclpy is imported.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = os.environ.get("T3D_TEST_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# Loopback-only transports with big socket buffers: multi-MB best-effort clouds arrive whole.
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds_localhost.xml"))


def kitti_available() -> bool:
    return (KITTI_ROOT / "velodyne" / "000000.bin").is_file()


# Skips a test without the shared KITTI frames, except under CI, where they must be there.
needs_kitti = pytest.mark.skipif(not kitti_available() and not IN_CI, reason=f"KITTI frames not found in {KITTI}")


@pytest.fixture(scope="session")
def install_dir(tmp_path_factory) -> Path:
    """``colcon build`` of this repository into a temporary install space."""
    colcon = shutil.which("colcon", path=str(Path(sys.executable).parent)) or shutil.which("colcon")
    if colcon is None:
        pytest.fail("colcon is not installed: run `make test` (it installs requirements-dev.txt)")
    base = tmp_path_factory.mktemp("colcon")
    src = base / "src" / "t3d_ros"
    # Copy only what the package needs so the build never crawls .venv or old build trees.
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".venv", "build", "install", "log", ".git", "__pycache__", "*.egg-info", "out", ".pytest_cache"))
    proc = subprocess.run(
        [colcon, "--log-base", str(base / "log"), "build", "--base-paths", str(base / "src"),
         "--build-base", str(base / "build"), "--install-base", str(base / "install")],
        cwd=base, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode:
        pytest.fail(f"colcon build failed:\n{proc.stdout}\n{proc.stderr}")
    return base / "install"


class NodeProcess:
    """An installed executable run as its own process, its output collected to a file."""

    def __init__(self, install: Path, executable: str, ros_args: list[str], log_path: Path) -> None:
        exe = install / "t3d_ros" / "lib" / "t3d_ros" / executable
        assert exe.is_file(), f"{exe} was not installed"
        self.log_path = log_path
        self._log = open(log_path, "w")
        cmd = f". {install}/local_setup.sh && exec {exe} --ros-args " + " ".join(ros_args)
        self.proc = subprocess.Popen(["bash", "-c", cmd], stdout=self._log, stderr=subprocess.STDOUT,
                                     env=os.environ.copy(), start_new_session=True)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


@pytest.fixture
def start_node(install_dir, tmp_path) -> Iterator[Callable[..., NodeProcess]]:
    started: list[NodeProcess] = []

    def start(executable: str, *ros_args: str, params: str | None = None) -> NodeProcess:
        args = list(ros_args)
        if params:
            args = ["--params-file", str(install_dir / "t3d_ros" / "share" / "t3d_ros" / "config" / params), *args]
        node = NodeProcess(install_dir, executable, args, tmp_path / f"{executable}-{len(started)}.log")
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture(scope="session")
def ros_node():
    """An rclpy node in the test process (publishes clouds, reads the node's outputs)."""
    import rclpy
    from rclpy.node import Node

    rclpy.init()
    node = Node(f"t3d_test_{os.getpid()}")
    yield node
    node.destroy_node()
    rclpy.try_shutdown()


def spin_until(node, condition: Callable[[], bool], timeout: float) -> bool:
    import rclpy

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
        if condition():
            return True
    return False
