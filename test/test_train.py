"""The offline companion for real, at small scale: train, NetAug, distil, export, load, classify."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO

from t3d_ros.classify.classifier import Classifier, ModelError
from t3d_ros.offline.data import make_sim_clusters
from t3d_ros.offline.train.bundle import export_bundle, load_checkpoint, model_from_checkpoint
from t3d_ros.offline.train.loop import TrainConfig, accuracy, predict, train


@pytest.fixture(scope="module")
def data():
    train_set = make_sim_clusters(range(1, 5), sensors=("hdl64", "os1-128"))
    val_set = make_sim_clusters(range(50, 52), sensors=("hdl64",))
    return train_set, val_set


def _cfg(tmp, **kw) -> TrainConfig:
    base = dict(model="tiny", n_points=64, epochs=6, batch_size=32, epoch_clusters=640, lr=3e-3, lr_step=100,
                augment_strength=0.5, out=str(tmp), progress=False, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def tiny_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    best = train(_cfg(out), *data)
    return out, best


def test_tiny_model_learns(tiny_run, data):
    out, best = tiny_run
    rows = list(csv.DictReader(open(out / "log.csv")))
    losses = [float(r["loss"]) for r in rows]
    assert len(rows) == 6
    assert losses[-1] < 0.8 * losses[0], losses
    model, spec, classes = model_from_checkpoint(load_checkpoint(best))
    val = data[1]
    acc = accuracy(predict(model, val, spec), val.labels, len(classes))
    present = np.unique(val.labels)
    assert acc["mean_class_accuracy"] > 2.0 / len(present), acc  # well above chance


def test_resume_continues_from_the_last_epoch(tiny_run, data, tmp_path):
    out, _ = tiny_run
    run = tmp_path / "resumed"
    shutil.copytree(out, run)
    train(_cfg(run, epochs=7), *data)
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(7))


def test_netaug_then_distillation_export_a_plain_tiny_model(tiny_run, data, tmp_path):
    _, teacher = tiny_run  # any checkpoint can teach; a real run uses PointNet++ (see README)
    stage1 = train(_cfg(tmp_path / "s1", model="tiny_netaug", netaug=True, epochs=2), *data)
    stage2 = train(_cfg(tmp_path / "s2", init=str(stage1), teacher=str(teacher), epochs=2), *data)
    ck = load_checkpoint(stage2)
    assert ck["model"] == "tiny" and np.isfinite(ck["metrics"]["train_loss"])
    # Offline distillation: the teacher's logits on the clean clusters, computed once.
    offline = train(_cfg(tmp_path / "s2_offline", init=str(stage1), teacher=str(teacher), kd_mode="offline",
                         epochs=1), *data)
    assert np.isfinite(load_checkpoint(offline)["metrics"]["train_loss"])
    with pytest.raises(ValueError, match="kd_mode"):
        train(_cfg(tmp_path / "bad", teacher=str(teacher), kd_mode="sometimes", epochs=1), *data)
    card = json.loads(export_bundle(stage1, tmp_path / "bundle", "netaug").read_text())
    assert card["architecture"]["name"] == "tiny"  # the supernet's base slice


def test_exported_onnx_agrees_with_torch(tiny_run, data, tmp_path):
    _, best = tiny_run
    card_path = export_bundle(best, tmp_path, "t3d_test")
    card = json.loads(card_path.read_text())
    assert card["onnx_max_abs_diff"] < 1e-4
    assert set(card) >= {"classes", "input", "architecture", "files", "params", "mflops_per_cluster", "metrics"}
    val = data[1]
    onnx = Classifier(card_path, device="cpu", backend="onnxruntime")
    torch_clf = Classifier(card_path, device="cpu", backend="torch")
    assert onnx.description.startswith("onnxruntime") and torch_clf.description == "torch cpu"
    a = onnx.logits(val.points, val.offsets)
    b = torch_clf.logits(val.points, val.offsets)
    np.testing.assert_allclose(a, b, atol=1e-4)
    labels, scores = onnx(val.points, val.offsets)
    assert len(labels) == len(val) and set(labels) <= set(card["classes"]) and (scores <= 1).all()
    model, spec, _ = model_from_checkpoint(load_checkpoint(best))
    with torch.no_grad():
        ref = predict(model, val, spec)
    np.testing.assert_array_equal(ref.argmax(1), a.argmax(1))


def test_bad_bundles_give_clear_errors(tiny_run, tmp_path):
    _, best = tiny_run
    card_path = export_bundle(best, tmp_path, "m")
    with pytest.raises(ModelError, match="not found"):
        Classifier(tmp_path / "missing.json")
    (tmp_path / "m.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        Classifier(card_path, backend="onnxruntime")
    card = json.loads(card_path.read_text())
    card["classes"] = card["classes"][:-1]
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="classes|cannot load"):
        Classifier(card_path, backend="torch")
    card_path.write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        Classifier(card_path)


def test_eval_and_classify_commands(tiny_run, data, tmp_path):
    _, best = tiny_run
    card = export_bundle(best, tmp_path / "m", "t3d_test")
    val = data[1]
    val.save(tmp_path / "val.npz")
    run = lambda *a: subprocess.run([sys.executable, "-m", "t3d_ros", *a], cwd=REPO,  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    proc = run("eval", str(card), "--data", str(tmp_path / "val.npz"), "--json", str(tmp_path / "e.json"),
               "--png", str(tmp_path / "conf.png"), "--latency-batch", "16")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((tmp_path / "e.json").read_text())
    res = rep["data"][str(tmp_path / "val.npz")]
    assert 0 <= res["accuracy"] <= 1 and res["clusters"] == len(val)
    assert rep["params"] > 1000 and rep["mflops_per_cluster"] > 0 and rep["cpu_ms_network_batch16"] > 0
    assert (tmp_path / "conf.png").stat().st_size > 5000
    files = []
    for i in range(3):
        path = tmp_path / f"obj{i}.npy"
        np.save(path, val.cluster(i))
        files.append(str(path))
    proc = run("classify", *files, "--json", "--model", str(card))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["file"] for x in lines] == files
    expected, _ = Classifier(card, device="cpu")(val.points[: val.offsets[3]], val.offsets[:4])
    assert [x["label"] for x in lines] == expected


def test_torchrun_ddp_on_cpu(data, tmp_path):
    """Two processes under torchrun (gloo on the CPU; NCCL on GPUs) train one short epoch together."""
    data[1].save(tmp_path / "val.npz")
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not installed")
    proc = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "t3d_ros", "train", "--model", "tiny", "--data",
         str(tmp_path / "val.npz"), "--epochs", "1", "--batch-size", "16", "--epoch-clusters", "128",
         "--n-points", "64", "--out", str(tmp_path / "ddp"), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "ddp" / "log.csv")))
    assert len(rows) == 1 and int(rows[0]["step"]) == 4  # 128 clusters / (2 processes x 16)
    assert (tmp_path / "ddp" / "ckpt_best.pt").is_file()
