"""Checkpoints (training state) and model bundles (what the node loads).

A checkpoint is one ``torch.save`` dict: ``model`` (a ``MODELS`` name), ``model_config``,
``classes``, ``input`` (``InputSpec`` JSON), ``state_dict``, plus the training state (optimizer,
epoch, config, metrics). ``export_bundle`` turns one into ``<name>.onnx``, ``<name>.pt`` and the
``<name>.json`` card described in ``t3d_ros/classifier.py``; a NetAug supernet is exported as its
plain tiny base model.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import torch
from torch import nn

from t3d_ros.classify.classifier import CARD_FORMAT
from t3d_ros.classify.inputs import InputSpec, make_inputs
from t3d_ros.classify.models import build_model, count_flops, count_params


def load_checkpoint(path: str | Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as e:
        raise ValueError(f"cannot read checkpoint {path}: {e}") from None


def model_from_checkpoint(ckpt: dict) -> tuple[nn.Module, InputSpec, list[str]]:
    """The network of a checkpoint in eval mode, its input spec and class names."""
    spec = InputSpec.from_json(ckpt["input"])
    model = build_model(ckpt["model"], len(ckpt["classes"]), spec.in_feats, spec.global_feats,
                        **ckpt.get("model_config", {}))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), spec, list(ckpt["classes"])


def _plain(model: nn.Module, name: str, config: dict) -> tuple[nn.Module, str, dict]:
    """A NetAug supernet becomes its base tiny model (leading channel slices)."""
    if hasattr(model, "export_base"):
        base = model.export_base().eval()
        return base, "tiny", _jsonable(model.base_config)
    return model, name, _jsonable(config)


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def example_batch(spec: InputSpec, clusters: int = 4, seed: int = 0) -> list[torch.Tensor]:
    """Valid network inputs for ``clusters`` synthetic clusters of assorted sizes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 3 * spec.n_points, clusters)
    pts = np.concatenate([rng.normal(size=(n, 4)).astype(np.float32) + [15, 3, -1, 0] for n in sizes])
    inputs = make_inputs(pts, np.r_[0, np.cumsum(sizes)], spec, backend="cpu")
    return [torch.from_numpy(a) for a in inputs.as_list()]


def export_bundle(ckpt_path: str | Path, out_dir: str | Path, name: str, metrics: dict | None = None,
                  extra: dict | None = None) -> Path:
    """Write ``<out_dir>/<name>.{onnx,pt,json}`` from a checkpoint; returns the card path.

    The ONNX file is checked against torch on a synthetic batch (max |diff| recorded in the card).
    """
    from t3d_ros.offline.train.export import export_onnx, run_onnx

    ckpt = load_checkpoint(ckpt_path)
    model, spec, classes = model_from_checkpoint(ckpt)
    model, arch, config = _plain(model, ckpt["model"], ckpt.get("model_config", {}))
    spec = InputSpec(spec.n_points, tuple(tuple(lv) for lv in model.levels), spec.point_features,
                     spec.global_features, spec.scale)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    batch = example_batch(spec, clusters=4)
    export_onnx(model, batch, out / f"{name}.onnx")
    with torch.no_grad():
        ref = model(*batch).numpy()
    diff = float(abs(run_onnx(out / f"{name}.onnx", [b.numpy() for b in batch]) - ref).max())
    torch.save(model.state_dict(), out / f"{name}.pt")
    card = {
        "format": CARD_FORMAT,
        "name": name,
        "classes": classes,
        "input": spec.to_json(),
        "architecture": {"name": arch, "config": config},
        "files": {"onnx": f"{name}.onnx", "weights": f"{name}.pt"},
        "params": count_params(model),
        "mflops_per_cluster": round(count_flops(model, batch), 3),
        "onnx_max_abs_diff": diff,
        "metrics": metrics if metrics is not None else ckpt.get("metrics", {}),
        "training": {k: ckpt.get(k) for k in ("train_config", "command", "data_summary") if k in ckpt},
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        **(extra or {}),
    }
    path = out / f"{name}.json"
    path.write_text(json.dumps(card, indent=1) + "\n")
    return path
