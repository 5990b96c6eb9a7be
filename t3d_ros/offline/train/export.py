"""ONNX export of the classifiers (torch.export-based exporter, no custom operators).

The graph takes ``xyz, feats, globals, fps_0, group_0, fps_1, group_1, ...`` (the network's
``forward`` arguments) and returns ``logits``; the batch dimension (clusters in a frame) is
dynamic, the point and sample counts are fixed by the model bundle's sampling configuration.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

OPSET = 18


def input_names(model: nn.Module) -> list[str]:
    """``["xyz", "feats", "globals", "fps_0", "group_0", ...]``, one ``fps/group`` pair per level."""
    names = ["xyz", "feats", "globals"]
    for i in range(len(model.levels)):
        names += [f"fps_{i}", f"group_{i}"]
    return names


def export_onnx(
    model: nn.Module, example_inputs: Sequence[Tensor], path: str | os.PathLike, opset: int = OPSET
) -> list[str]:
    """Write ``model`` (in eval mode) to ``path`` as one self-contained ONNX file; return its input names.

    ``example_inputs`` is ``(xyz, feats, globals, *indices)`` as from ``model.example_inputs``;
    its batch size must be >= 2 (a batch of 1 would be specialised as a constant). The file is
    loaded back in ONNX Runtime (CPU) to check it before returning.
    """
    names = input_names(model)
    if len(example_inputs) != len(names):
        raise ValueError(f"expected {len(names)} inputs {names}, got {len(example_inputs)}")
    if example_inputs[0].shape[0] < 2:
        raise ValueError("export with a batch of at least 2 so the batch dimension stays dynamic")
    was_training = model.training
    model.eval()
    batch = torch.export.Dim("batch", min=1, max=65536)
    # forward(xyz, feats, globals, *indices): the varargs form one nested entry (absent if none).
    dynamic_shapes: tuple = ({0: batch},) * 3
    if len(example_inputs) > 3:
        dynamic_shapes += (tuple({0: batch} for _ in example_inputs[3:]),)
    try:
        with warnings.catch_warnings():
            # Every input shares the one batch Dim; the exporter warns that it renames only once.
            warnings.filterwarnings("ignore", message=r".*axis name.*will not be used")
            program = torch.onnx.export(
                model,
                tuple(example_inputs),
                dynamo=True,
                input_names=names,
                output_names=["logits"],
                dynamic_shapes=dynamic_shapes,
                opset_version=opset,
                verbose=False,
            )
    finally:
        model.train(was_training)
    program.save(os.fspath(path), external_data=False)
    session = _session(path)
    got = [i.name for i in session.get_inputs()]
    if got != names:
        raise RuntimeError(f"exported graph has inputs {got}, expected {names}")
    return names


def run_onnx(path: str | os.PathLike, inputs: Sequence[Tensor | np.ndarray]) -> np.ndarray:
    """Logits (B, K) of the ONNX model at ``path`` on ``inputs`` (in ``input_names`` order), ONNX Runtime CPU."""
    session = _session(path)
    feed = {i.name: np.asarray(x) for i, x in zip(session.get_inputs(), inputs, strict=True)}
    return session.run(None, feed)[0]


def _session(path: str | os.PathLike):
    import onnxruntime as ort  # inference-only dependency: imported when used

    return ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
