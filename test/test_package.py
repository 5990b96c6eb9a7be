"""What colcon installs, and what the launch files, params files and README name, agree."""

from __future__ import annotations

import ast
import dataclasses
import re
import xml.etree.ElementTree as ET

import pytest
from conftest import IN_CI, KITTI, KITTI_ODOMETRY, REPO, kitti_available

from t3d_ros.config import load_ros_params, pipeline_config
from t3d_ros.segment.pipeline import PipelineConfig


def _launch_strings(path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def test_install_space_has_executables_launch_and_config(install_dir):
    share = install_dir / "t3d_ros" / "share" / "t3d_ros"
    lib = install_dir / "t3d_ros" / "lib" / "t3d_ros"
    assert (install_dir / "t3d_ros" / "share" / "ament_index" / "resource_index" / "packages" / "t3d_ros").is_file()
    assert (share / "package.xml").is_file()
    for launch in ("perception.launch.py", "sim_demo.launch.py"):
        path = share / "launch" / launch
        assert path.is_file()
        strings = _launch_strings(path)
        for exe in {"perception_node", "sim_lidar_node"} & strings:
            assert (lib / exe).is_file(), f"{launch} names {exe}, which is not installed"
        for cfg in {s for s in strings if s.endswith((".yaml", ".rviz"))}:
            assert (share / "config" / cfg).is_file(), f"{launch} names config/{cfg}, which is not installed"
    assert "cloud_topic" in _launch_strings(share / "launch" / "perception.launch.py")
    for cfg in ("perception.yaml", "sim.yaml"):
        assert load_ros_params(share / "config" / cfg)


def test_package_xml_is_format_3_ament_python():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "t3d_ros"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "visualization_msgs", "diagnostic_msgs"} <= deps


def test_shipped_params_cover_every_parameter_and_are_valid():
    from t3d_ros.config import NODE_PARAMS

    params = load_ros_params(REPO / "config" / "perception.yaml")
    names = {n for n, *_ in NODE_PARAMS} | {f.name for f in dataclasses.fields(PipelineConfig)}
    assert names == set(params), f"missing: {names - set(params)}, unknown: {set(params) - names}"
    pipeline_config(params)  # validates
    reference = (REPO / "docs" / "parameters.md").read_text()
    undocumented = [n for n in names if not re.search(rf"\|\s*`{re.escape(n)}`\s*\|", reference)]
    assert not undocumented, f"parameters missing from the table in docs/parameters.md: {undocumented}"
    for f in dataclasses.fields(PipelineConfig):
        assert f.metadata.get("description"), f"PipelineConfig.{f.name} has no description"


def test_the_shared_data_is_there_under_ci():
    """CI always has the shared real frames: the tests that need them must run there, never skip."""
    if not IN_CI:
        pytest.skip("outside CI the shared data folder is optional (tests that need it skip)")
    assert kitti_available(), f"CI=true but no KITTI frames in {KITTI}"
    assert sorted((KITTI_ODOMETRY / "velodyne").glob("*.bin")), f"CI=true but no frames in {KITTI_ODOMETRY}"
