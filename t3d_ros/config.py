"""Pipeline configuration from ROS parameter files, shared by the node and the CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from t3d_ros.pipeline import PipelineConfig


def load_ros_params(path: str | Path) -> dict[str, Any]:
    """The ``ros__parameters`` of a ROS 2 parameter file, nested keys joined with dots.

    Takes the ``/**`` section, or else the first node section in the file.
    """
    import yaml

    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict) or not doc:
        raise ValueError(f"{path}: not a ROS 2 parameter file (expected '/**: ros__parameters: ...')")
    section = doc.get("/**", next(iter(doc.values())))
    if not isinstance(section, dict) or "ros__parameters" not in section:
        raise ValueError(f"{path}: no 'ros__parameters' section")
    flat: dict[str, Any] = {}

    def walk(prefix: str, d: dict) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    walk("", section["ros__parameters"] or {})
    return flat


def pipeline_config(params: dict[str, Any], base: PipelineConfig | None = None) -> PipelineConfig:
    """``base`` (or the defaults) with every parameter that names a PipelineConfig field applied,
    converted to the field's type; validated."""
    base = base or PipelineConfig()
    changes = {}
    for f in dataclasses.fields(PipelineConfig):
        if f.name in params:
            default, value = getattr(base, f.name), params[f.name]
            try:
                changes[f.name] = type(default)(value)
            except (TypeError, ValueError, OverflowError):
                kind = {float: "a number", int: "an integer"}.get(type(default), "a string")
                raise ValueError(f"{f.name}={value!r}: must be {kind}") from None
    config = dataclasses.replace(base, **changes)
    config.validate()
    return config
