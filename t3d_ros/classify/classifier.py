"""Run a model bundle on a frame's clusters: ONNX Runtime or torch, GPU or CPU.

A bundle is a JSON card (``<name>.json``) beside the network files it names: ``<name>.onnx`` (ONNX
Runtime) and ``<name>.pt`` (torch state dict). The card holds the class names, the input
representation (``InputSpec``: points per cluster, features, sampling levels), the architecture,
metrics and provenance. ``Classifier(path, device)`` loads it once, checks that card and network
agree, warms up, and then labels all clusters of a frame in one batched call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from t3d_ros.classify.inputs import InputSpec, make_inputs

# The card format written now, and those read. /2 added input.frame ("bearing": clusters turned to
# face the sensor); a reader of /1 would ignore it and feed such a model wrong inputs, so it refuses /2.
CARD_FORMAT = "t3d_ros.model/2"
CARD_FORMATS = ("t3d_ros.model/1", CARD_FORMAT)
SHIPPED_MODEL = "t3d_tiny.json"  # in models/ of the source tree and share/t3d_ros/models of an install
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "onnxruntime", "torch")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
CUDA_OPS_BUILD = "python -m t3d_ros.classify.ops.cuda"  # builds the CUDA sampling library ahead of time


class ModelError(RuntimeError):
    """A model bundle that cannot be used; the message says which file and why."""


def model_dirs() -> list[Path]:
    """Where bundles given by a bare name are looked up: the install's share folder, then the source tree."""
    dirs = []
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory("t3d_ros")) / "models")
    except Exception:  # not installed with colcon, or no ament_index: the source tree only
        pass
    dirs.append(Path(__file__).resolve().parents[2] / "models")
    return dirs


def resolve_model_path(path: str | Path = SHIPPED_MODEL) -> Path:
    """``path`` as given when it exists, else the first bundle of that name in ``model_dirs()``."""
    path = Path(path)
    if path.exists() or path.is_absolute():
        return path
    for d in model_dirs():
        if (d / path).exists():
            return d / path
    return path


def card_path(path: str | Path) -> Path:
    """The card of a bundle given as its .json, .onnx or .pt path (or the stem)."""
    path = resolve_model_path(path)
    card = path if path.suffix == ".json" else path.with_suffix(".json")
    if not card.is_file():
        raise ModelError(f"model card {card} not found (model_path={str(path)!r}); "
                         "export one with `python -m t3d_ros export`")
    return card


def load_card(path: str | Path) -> dict:
    """The parsed, checked card of a bundle."""
    card = card_path(path)
    try:
        doc = json.loads(card.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"model card {card} is not valid JSON: {e}") from None
    missing = [k for k in ("format", "classes", "input", "architecture", "files") if k not in doc]
    if missing or doc.get("format") not in CARD_FORMATS:
        raise ModelError(f"{card} is not a t3d_ros model card this version reads (format {doc.get('format')!r}, "
                         f"missing {missing}; reads {', '.join(CARD_FORMATS)})")
    if not doc["classes"] or len(set(doc["classes"])) != len(doc["classes"]):
        raise ModelError(f"{card}: 'classes' must be a non-empty list of distinct names")
    try:
        doc["input_spec"] = InputSpec.from_json(doc["input"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{card}: bad 'input' section: {e}") from None
    cal = doc.get("calibration", {})
    if not isinstance(cal, dict):
        raise ModelError(f"{card}: calibration={cal!r} must be a section (temperature, class_thresholds)")
    temperature, thresholds = cal.get("temperature", 1.0), cal.get("class_thresholds", {})
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0.05 <= temperature <= 20:
        raise ModelError(f"{card}: calibration.temperature={temperature!r} must be a number in [0.05, 20]")
    def bad(name, v) -> bool:
        return name not in doc["classes"] or isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1

    if not isinstance(thresholds, dict) or any(bad(k, v) for k, v in thresholds.items()):
        raise ModelError(f"{card}: calibration.class_thresholds must map class names to scores in [0, 1]")
    sparse = cal.get("sparse")
    if sparse is not None:
        below, st = (sparse.get("below_points"), sparse.get("class_thresholds")) if isinstance(sparse, dict) else (0, 0)
        if (isinstance(below, bool) or not isinstance(below, int) or below < 0 or not isinstance(st, dict)
                or any(bad(k, v) for k, v in st.items())):
            raise ModelError(f"{card}: calibration.sparse must hold below_points (an integer >= 0) and "
                             f"class_thresholds (class names to scores in [0, 1])")
    doc["path"] = card
    return doc


def onnx_session_options(threads: int = 1, spinning: bool = False):
    """ONNX Runtime session options of the node. ``threads``: intra-op threads (0: ORT's choice, one
    per physical core). One by default: the tiny network's ops are too small to split (on the idle
    2-core machine 1 thread took 4.3 ms for 64 clusters against 4.5 ms with 2), and it leaves the
    other cores to the sampling ops and the rest of the robot. ``spinning`` off: by default ORT's
    idle worker threads spin-wait for the next op, burning shared cores (under load a frame's network
    time doubled with spinning on). ``python -m t3d_ros bench`` measures these settings side by side."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # providers that are listed but cannot start are not errors here
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return opts


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Classifier:
    """Labels packed clusters: ``classifier(points (P, >=3), offsets (K+1,)) -> (labels, scores (K,))``.

    ``device``: "auto" (the GPU when there is one), "cuda" (falls back to the CPU with a warning when
    no GPU is usable) or "cpu". ``backend``: "auto" (ONNX Runtime when installed, else torch),
    "onnxruntime" or "torch". ``self.description`` says what was picked.

    When the network runs on the GPU (torch on CUDA, or ONNX Runtime's CUDA / TensorRT provider) and
    the CUDA sampling ops work (``ops.cuda.available()``), a frame's points are uploaded once, its
    inputs built there by the CUDA ops and handed to the network without leaving the GPU
    (``ops_backend`` "cuda"). Otherwise the inputs are built on the CPU (numba) and ``ops_backend``
    is "cpu"; a GPU network then says once why (``warn``).
    """

    def __init__(self, path: str | Path, device: str = "auto", backend: str = "auto",
                 warn: Callable[[str], None] = print) -> None:
        if device not in DEVICES:
            raise ModelError(f"device={device!r} is not one of {', '.join(DEVICES)}")
        if backend not in BACKENDS:
            raise ModelError(f"backend={backend!r} is not one of {', '.join(BACKENDS)}")
        self.card = load_card(path)
        self.classes: list[str] = list(self.card["classes"])
        self.spec: InputSpec = self.card["input_spec"]
        # Temperature scaling (fitted on held-out data at export): softmax(logits / T) are calibrated
        # probabilities; below its class threshold a label is not trusted (see t3d_ros/perception.py).
        cal = self.card.get("calibration", {})
        self.temperature = float(cal.get("temperature", 1.0))
        self.class_thresholds: dict[str, float] = {k: float(v) for k, v in cal.get("class_thresholds", {}).items()}
        # Clusters with fewer than sparse_points returns have their own thresholds (calibrate.py: why).
        sparse = cal.get("sparse") or {}
        self.sparse_points = int(sparse.get("below_points", 0))
        self.sparse_thresholds: dict[str, float] = {k: float(v) for k, v in sparse.get("class_thresholds", {}).items()}
        base = self.card["path"].parent
        files = self.card["files"]
        if backend == "auto":
            backend = "onnxruntime" if _has("onnxruntime") and "onnx" in files else "torch"
        self.ops_backend = "cpu"
        self.last_timings_ms: dict[str, float] = {}
        # The GPU path: the torch device the inputs are built on, and the network call that takes them
        # there (None: inputs built on the CPU as numpy, ``self._run``).
        self._inputs_device: Any = None
        self._run_on_device: Callable[[list[Any]], np.ndarray] | None = None
        if backend == "onnxruntime":
            self._load_onnx(base / files.get("onnx", ""), device, warn)
            if self.session.get_providers()[0] in GPU_PROVIDERS:
                self._use_cuda_ops(warn, self._run_bound, f"cuda:{self._ort_device_id}")
        else:
            self._load_torch(base / files.get("weights", ""), device, warn)
            if self._torch_device.type == "cuda":
                self._use_cuda_ops(warn, self._run, str(self._torch_device))
        self.warmup()

    # --- loading -------------------------------------------------------------------------------
    def _load_onnx(self, path: Path, device: str, warn: Callable[[str], None]) -> None:
        if not path.is_file():
            raise ModelError(f"ONNX file {path} named by {self.card['path']} not found")
        import onnxruntime as ort

        available = ort.get_available_providers()
        wanted = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and _cuda_usable():
            wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available] + wanted
        elif device == "cuda":
            warn("device 'cuda' requested but no usable GPU was found: running the classifier on the CPU")
        opts = onnx_session_options()
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=wanted)
        except Exception as e:
            raise ModelError(f"cannot load ONNX model {path}: {type(e).__name__}: {e}") from None
        names = [i.name for i in self.session.get_inputs()]
        expected = ["xyz", "feats", "globals"] + [f"{k}_{i}" for i in range(len(self.spec.levels))
                                                  for k in ("fps", "group")]
        if names != expected:
            raise ModelError(f"{path}: inputs {names} do not match the card's sampling levels (expected {expected})")
        shape = self.session.get_inputs()[0].shape
        if isinstance(shape[1], int) and shape[1] != self.spec.n_points:
            raise ModelError(f"{path}: network takes {shape[1]} points per cluster, card says {self.spec.n_points}")
        out = self.session.get_outputs()[0].shape[-1]
        if isinstance(out, int) and out != len(self.classes):
            raise ModelError(f"{path}: network has {out} outputs, card lists {len(self.classes)} classes")
        provider = self.session.get_providers()[0]
        self.description = f"onnxruntime {provider}"
        self._names = names
        self._output_name = self.session.get_outputs()[0].name
        self._ort_device_id = int(self.session.get_provider_options().get(provider, {}).get("device_id", 0))
        self._run = lambda arrays: self.session.run(None, dict(zip(self._names, arrays, strict=True)))[0]

    def _load_torch(self, path: Path, device: str, warn: Callable[[str], None]) -> None:
        if not path.is_file():
            raise ModelError(f"weights file {path} named by {self.card['path']} not found")
        import torch

        from t3d_ros.classify.models import build_model

        if device == "cuda" and not torch.cuda.is_available():
            warn("device 'cuda' requested but torch sees no GPU: running the classifier on the CPU")
        dev = torch.device("cuda" if device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
        arch = self.card["architecture"]
        try:
            model = build_model(arch["name"], len(self.classes), self.spec.in_feats, self.spec.global_feats,
                                **arch.get("config", {}))
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as e:
            raise ModelError(f"cannot load torch weights {path} as {arch.get('name')!r}: {type(e).__name__}: {e}") \
                from None
        if [tuple(lv) for lv in model.levels] != [tuple(lv) for lv in self.spec.levels]:
            raise ModelError(f"{path}: the network's sampling levels {model.levels} differ from the card's")
        self.model = model.eval().to(dev)
        self._torch_device = dev
        self.description = f"torch {dev.type}"

        def run(arrays: list[Any]) -> np.ndarray:  # numpy arrays, or tensors on dev already (GPU path)
            with torch.inference_mode():
                tensors = [torch.as_tensor(a, device=dev) for a in arrays]
                return self.model(*tensors).float().cpu().numpy()

        self._run = run

    def _use_cuda_ops(self, warn: Callable[[str], None], run: Callable[[list[Any]], np.ndarray], device: str) -> None:
        """The network is on GPU ``device``: build its inputs there with the CUDA sampling ops when they
        work (``run`` then takes them as tensors on the device); else say once why not and what to do."""
        if not _has("torch"):  # an ORT-only install: the CUDA ops take torch tensors
            reason = "torch is not installed (the CUDA sampling ops take torch CUDA tensors)"
        else:
            from t3d_ros.classify.ops import cuda

            reason = "" if cuda.available() else cuda.unavailable_reason()
        if reason:
            warn(f"the classifier's network runs on the GPU but the CUDA sampling ops cannot: {reason}. "
                 f"Sampling on the CPU instead; to use them, install torch with CUDA and build them ahead of "
                 f"time with `{CUDA_OPS_BUILD}`")
            return
        import torch

        self._inputs_device, self._run_on_device = torch.device(device), run
        self.ops_backend = "cuda"
        self.description += ", CUDA sampling ops"

    def _run_bound(self, tensors: list[Any]) -> np.ndarray:
        """ONNX Runtime on inputs that are torch tensors already on a device: bound by address
        (``io_binding``), not copied; the output comes back to the CPU."""
        import torch

        types = {torch.float32: np.float32, torch.int64: np.int64}
        binding = self.session.io_binding()
        alive = []  # contiguous copies (if any) must outlive the run
        for name, t in zip(self._names, tensors, strict=True):
            if t.numel() == 0:  # no buffer to point at (e.g. no point features): a tiny host copy
                binding.bind_cpu_input(name, np.zeros(tuple(t.shape), types[t.dtype]))
                continue
            t = t.contiguous()
            alive.append(t)
            binding.bind_input(name, t.device.type, t.device.index or 0, types[t.dtype], tuple(t.shape), t.data_ptr())
        binding.bind_output(self._output_name, "cpu")
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    # --- inference -----------------------------------------------------------------------------
    def _device_inputs(self, points: np.ndarray, offsets: np.ndarray) -> list[Any]:
        """The network inputs built on ``self._inputs_device``: the frame uploaded once, then one FPS
        launch for all clusters and one launch for all sampling levels (the CUDA ops)."""
        import torch

        dev = self._inputs_device
        pts = torch.from_numpy(np.ascontiguousarray(points, np.float32)).to(dev)
        inputs = make_inputs(pts, offsets, self.spec, backend="auto", host_points=points).as_list()
        if dev.type == "cuda":  # the kernels do not synchronise: ORT's stream must see finished inputs
            torch.cuda.current_stream(dev).synchronize()
        return inputs

    def logits(self, points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(K, num_classes) raw network outputs for K packed clusters: ``points`` (sum, C>=3) float32 x, y,
        z[, intensity] in the sensor's frame (z up), as the node's segmentation gives them; the network
        reads each cluster's range and the side the sensor sees it from, so object-centred clusters are
        out of its domain. Leaves the ms of its two parts in ``last_timings_ms`` ("sample_group": inputs
        and indices, "network")."""
        t0 = time.perf_counter()
        if self._run_on_device is None:
            inputs, run = make_inputs(points, offsets, self.spec, backend="cpu").as_list(), self._run
        else:
            inputs, run = self._device_inputs(points, offsets), self._run_on_device
        t1 = time.perf_counter()
        out = np.asarray(run(inputs), dtype=np.float32)
        self.last_timings_ms = {"sample_group": (t1 - t0) * 1e3, "network": (time.perf_counter() - t1) * 1e3}
        return out

    def probabilities(self, points: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(K, num_classes) calibrated class probabilities, softmax(logits / temperature)."""
        if len(offsets) < 2:
            return np.zeros((0, len(self.classes)), np.float32)
        return _softmax(self.logits(points, offsets) / self.temperature)

    def __call__(self, points: np.ndarray, offsets: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The best class of every cluster and its calibrated probability (K,)."""
        if len(offsets) < 2:
            return [], np.zeros(0, np.float32)
        probs = self.probabilities(points, offsets)
        best = probs.argmax(axis=1)
        return [self.classes[i] for i in best], probs[np.arange(len(best)), best].astype(np.float32)

    def warmup(self, clusters: int = 8) -> float:
        """One call on synthetic clusters (JIT, allocators, numba caches); returns its ms."""
        rng = np.random.default_rng(0)
        sizes = np.array([5, 40, 300, 1500, 20, 80, 600, 3000][:clusters])
        pts = np.concatenate([rng.normal(size=(n, 4)).astype(np.float32) + [10, 0, 0, 0] for n in sizes])
        t0 = time.perf_counter()
        labels, scores = self(pts, np.r_[0, np.cumsum(sizes)])
        if len(labels) != len(sizes) or not np.all(np.isfinite(scores)):
            raise ModelError(f"{self.card['path']}: warm-up produced invalid outputs")
        return (time.perf_counter() - t0) * 1e3


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _cuda_usable() -> bool:
    """A GPU that the CUDA driver can use. Asks the driver library directly (cuInit, cuDeviceGetCount)
    rather than importing torch, which would add ~400 MB to the node for a yes/no question."""
    import ctypes

    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        return lib.cuInit(0) == 0 and lib.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0
    return False
