"""ament_python package: installs the Python package, executables, launch/config/models."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

package_name = "t3d_ros"


def _requirements(name: str) -> list[str]:
    """Requirement lines of ``name`` (beside this file), comments stripped."""
    path = Path(__file__).resolve().parent / name
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()] if path.is_file() else []
    return [line for line in lines if line and not line.startswith("-")]


setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={"t3d_ros.classify.ops": ["csrc/*.cu"]},  # CUDA kernels, compiled on demand with nvcc
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
        (f"share/{package_name}/models", [f for f in glob("models/*") if not f.endswith(".md")]),
    ],
    install_requires=["setuptools", "numpy", "scipy"],
    # The node needs requirements.txt only; the offline companion (t3d_ros.offline, bench, the training
    # and evaluation commands) needs these too: pip install -e .[offline]
    extras_require={"offline": _requirements("requirements-offline.txt")},
    zip_safe=True,
    maintainer="t3d_ros maintainers",
    maintainer_email="t3d-ros@example.org",
    description="LiDAR object recognition with a tiny distilled point-cloud network for ROS 2.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "perception_node = t3d_ros.ros.perception_node:main",
            "sim_lidar_node = t3d_ros.ros.sim_lidar_node:main",
            "replay_node = t3d_ros.ros.replay_node:main",
        ],
    },
)
