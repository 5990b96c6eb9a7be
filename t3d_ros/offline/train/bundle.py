"""Checkpoints (training state) and model bundles (what the node loads).

A checkpoint is one ``torch.save`` dict: ``model`` (a ``MODELS`` name), ``model_config``,
``classes``, ``input`` (``InputSpec`` JSON), ``state_dict``, plus the training state (optimizer,
epoch, config, metrics). It holds only tensors, plain containers and str/int/float/bool/None
(``save_checkpoint`` converts numpy values and refuses anything else), so ``load_checkpoint`` reads
it with ``torch.load(weights_only=True)``: a checkpoint from someone else cannot run code.
``export_bundle`` turns one into ``<name>.onnx``, ``<name>.pt`` and the ``<name>.json`` card
described in ``t3d_ros/classify/classifier.py``; a NetAug supernet is exported as its plain tiny
base model.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
from collections import OrderedDict
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch
from torch import nn

from t3d_ros.classify.classifier import CARD_FORMAT
from t3d_ros.classify.inputs import InputSpec, make_inputs
from t3d_ros.classify.models import build_model, count_flops, count_params

CHECKPOINT_KEYS = ("model", "classes", "input", "state_dict")  # what every consumer needs


def _why_not(e: Exception) -> str:
    """The one informative line of a torch.load failure (its weights_only message is a page long)."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
    if found:
        return f"refused to load it: it calls for {found.group(1)}, which could run code"
    text = str(e).split("WeightsUnpickler error:")[-1].strip().splitlines()
    return f"not a readable torch file ({type(e).__name__}: {text[0] if text else ''})"


def load_weights(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU: tensors and plain values only, so the file
    cannot run code. A file it refuses or cannot read raises one ``ValueError`` line."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError, KeyError... depending on the damage
        raise ValueError(f"{path}: {_why_not(e)}; use files written by `python -m t3d_ros train` or "
                         "`export` (tensors and plain values only)") from None


def load_checkpoint(path: str | Path) -> dict:
    """A training checkpoint (see the module docstring), loaded without running code from the file;
    a ``ValueError`` naming the file when it is not one."""
    ckpt = load_weights(path)
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt] if isinstance(ckpt, dict) else list(CHECKPOINT_KEYS)
    if missing:
        raise ValueError(f"{path}: not a t3d_ros training checkpoint (no {', '.join(map(repr, missing))}); "
                         "pass a ckpt_best.pt or ckpt_last.pt of a `python -m t3d_ros train` run folder")
    return ckpt


def _plain_values(x: Any, where: str) -> Any:
    """``x`` with numpy values made plain; a TypeError for what ``weights_only`` loading refuses."""
    if x is None or isinstance(x, torch.Tensor) or type(x) in (bool, int, float, str):
        return x
    if isinstance(x, np.generic):  # np.float64 is a float subclass, but pickles as a numpy global
        return x.item()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.array(x))
    if isinstance(x, PurePath):
        return str(x)
    if isinstance(x, dict):
        out = (OrderedDict if isinstance(x, OrderedDict) else dict)(
            (_plain_values(k, where), _plain_values(v, f"{where}[{k!r}]")) for k, v in x.items())
        if hasattr(x, "_metadata"):  # state dicts carry module versions, read by load_state_dict
            out._metadata = _plain_values(x._metadata, where)
        return out
    if isinstance(x, (list, tuple)):
        return (tuple if type(x) is tuple else list)(_plain_values(v, f"{where}[{i}]") for i, v in enumerate(x))
    raise TypeError(f"checkpoint value {where} is a {type(x).__module__}.{type(x).__qualname__}; "
                    "checkpoints hold only tensors, dict/list/tuple and str/int/float/bool/None")


def save_checkpoint(ckpt: dict, path: str | Path) -> Path:
    """Write ``ckpt`` so that ``load_checkpoint`` (``weights_only=True``) reads it back; numpy
    scalars and arrays become Python numbers and tensors. The file is replaced atomically, so an
    interrupted run never leaves half a checkpoint behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(_plain_values(ckpt, "ckpt"), tmp)
    os.replace(tmp, path)
    return path


def model_from_checkpoint(ckpt: dict) -> tuple[nn.Module, InputSpec, list[str]]:
    """The network of a checkpoint in eval mode, its input spec and class names."""
    spec = InputSpec.from_json(ckpt["input"])
    model = build_model(ckpt["model"], len(ckpt["classes"]), spec.in_feats, spec.global_feats,
                        **ckpt.get("model_config", {}))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), spec, list(ckpt["classes"])


def load_model_source(path: str | Path) -> dict:
    """The network of a model bundle (its card ``.json``, or the ``.pt``/``.onnx`` beside a card) or
    of a training checkpoint, as a checkpoint-like dict: ``model``, ``model_config``, ``classes``,
    ``input``, ``state_dict`` (a bundle's weights are read with ``weights_only``: no code runs)."""
    from t3d_ros.classify.classifier import load_card

    path = Path(path)
    card = path if path.suffix == ".json" else path.with_suffix(".json")
    if path.suffix == ".json" or (path.suffix in (".pt", ".onnx") and card.is_file()):
        doc = load_card(card)
        arch = doc["architecture"]
        return {"model": arch["name"], "model_config": arch.get("config", {}), "classes": list(doc["classes"]),
                "input": doc["input"], "state_dict": load_weights(card.parent / doc["files"]["weights"])}
    return load_checkpoint(path)


def plain_model(model: nn.Module, name: str, config: dict) -> tuple[nn.Module, str, dict]:
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
    rng = np.random.default_rng(seed)
    sizes = rng.integers(5, 3 * spec.n_points, clusters)
    pts = np.concatenate([rng.normal(size=(n, 4)).astype(np.float32) + [15, 3, -1, 0] for n in sizes])
    inputs = make_inputs(pts, np.r_[0, np.cumsum(sizes)], spec, backend="cpu")
    return [torch.from_numpy(a) for a in inputs.as_list()]


def _training(ckpt: dict) -> dict:
    """The card's ``training`` section: what the model was trained on (``data``: per source, clusters
    per class in the training and validation sets), from what (``finetuned_from``) and how."""
    out = {k: ckpt[k] for k in ("command", "finetuned_from", "train_config", "data_summary") if ckpt.get(k)}
    summary = ckpt.get("data_summary") or {}
    data = summary.get("sources")
    if data is None and summary:  # checkpoints from before per-source counts
        data = [{"source": (ckpt.get("train_config") or {}).get("data", "?"), "train": summary.get("train", {}),
                 "val": summary.get("val", {})}]
    if data is not None:
        out = {"data": data, **out}
    return out


def export_bundle(ckpt_path: str | Path, out_dir: str | Path, name: str, metrics: dict | None = None,
                  extra: dict | None = None) -> Path:
    """Write ``<out_dir>/<name>.{onnx,pt,json}`` from a checkpoint; returns the card path.

    The ONNX file is checked against torch on a synthetic batch (max |diff| recorded in the card).
    """
    from t3d_ros.offline.train.export import export_onnx, run_onnx

    ckpt = load_checkpoint(ckpt_path)
    model, spec, classes = model_from_checkpoint(ckpt)
    model, arch, config = plain_model(model, ckpt["model"], ckpt.get("model_config", {}))
    spec = dataclasses.replace(spec, levels=tuple(tuple(lv) for lv in model.levels))
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
        "training": _training(ckpt),
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        **(extra or {}),
    }
    path = out / f"{name}.json"
    path.write_text(json.dumps(card, indent=1) + "\n")
    return path
