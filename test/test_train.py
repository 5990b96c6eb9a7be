"""The offline companion for real, at small scale: train, NetAug, distil, export, load, classify."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO

from t3d_ros.classify.classifier import Classifier, ModelError
from t3d_ros.cli import main as cli_main
from t3d_ros.offline.data import make_sim_clusters
from t3d_ros.offline.train.bundle import export_bundle, load_checkpoint, model_from_checkpoint, save_checkpoint
from t3d_ros.offline.train.loader import EpochSampler
from t3d_ros.offline.train.loop import (
    TrainConfig,
    _load_teacher,
    _loss,
    accuracy,
    kd_loss,
    mirror_consistency_loss,
    mirrored_inputs,
    predict,
    teacher_logits,
    train,
)


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


@pytest.mark.parametrize("frame, start", [("bearing", "far"), ("sensor", "first")])
def test_mirrored_inputs_are_the_inputs_of_the_mirrored_clusters(tiny_run, data, frame, start):
    """The consistency term's mirrored batch (xyz with y negated, the same indices) is exactly what the
    clusters mirrored in the sensor frame give."""
    from t3d_ros.classify.inputs import make_inputs

    val = data[1]
    _, tiny_spec, _ = model_from_checkpoint(load_checkpoint(tiny_run[1]))  # with its sampling levels
    spec = dataclasses.replace(tiny_spec, frame=frame, start=start)
    pts, offsets = val.points[: val.offsets[40]], val.offsets[:41]
    plain = [torch.from_numpy(a) for a in make_inputs(pts, offsets, spec, backend="cpu").as_list()]
    flipped = pts * np.array([1, -1, 1, 1], np.float32)
    want = [torch.from_numpy(a) for a in make_inputs(flipped, offsets, spec, backend="cpu").as_list()]
    got = mirrored_inputs(plain)
    assert len(got) == len(want) > 3
    for g, w in zip(got, want, strict=True):
        assert torch.equal(g, w)
    assert not torch.equal(got[0], plain[0])


def test_mirror_consistency_makes_labels_agree_with_the_mirror_image(tiny_run, data, tmp_path):
    """A short fine-tune with the consistency term leaves the class distributions of the validation
    clusters and of their mirror images closer (symmetric KL) than the same fine-tune without it."""
    out, best = tiny_run
    val = data[1]
    mirrored = dataclasses.replace(val, points=val.points * np.array([1, -1, 1, 1], np.float32))
    gaps = {}
    for weight in (0.0, 5.0):
        ck = train(_cfg(tmp_path / f"w{weight}", epochs=3, finetune=str(best), lr=1e-3, mirror_consistency=weight),
                   *data)
        model, spec, _ = model_from_checkpoint(load_checkpoint(ck))
        a, b = (torch.from_numpy(predict(model, cs, spec)) for cs in (val, mirrored))
        gaps[weight] = float(mirror_consistency_loss(a, b))
    assert gaps[5.0] < 0.7 * gaps[0.0], gaps
    assert float(mirror_consistency_loss(torch.randn(4, 3), torch.randn(4, 3))) > 0
    x = torch.randn(4, 3)
    assert float(mirror_consistency_loss(x, x)) == pytest.approx(0.0, abs=1e-7)


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


def test_an_ensemble_teaches_with_its_members_mean_logits(tiny_run, data, tmp_path):
    _, a = tiny_run
    b = train(_cfg(tmp_path / "other", seed=1, epochs=1), *data)  # a second member, other weights
    train_set = data[0]
    cfg = _cfg(tmp_path / "kd", teacher=f"{a},{b}", kd_mode="offline")
    teacher = _load_teacher(cfg, list(train_set.class_names), train_set, torch.device("cpu"))
    members = []
    for path in (a, b):
        model, spec, _ = model_from_checkpoint(load_checkpoint(path))
        members.append(predict(model, train_set, spec))
    assert not np.allclose(members[0], members[1], atol=1e-3)
    np.testing.assert_allclose(teacher.logits.numpy(), np.mean(members, axis=0), atol=1e-5)
    # the offline logits are cached beside each checkpoint and read back, not recomputed
    cached = {p: sorted(Path(p).parent.glob("logits_*.npy")) for p in (a, b)}
    assert all(len(v) >= 1 for v in cached.values())
    for path, member in zip((a, b), members, strict=True):
        model, spec, _ = model_from_checkpoint(load_checkpoint(path))
        np.testing.assert_allclose(teacher_logits(model, path, train_set, spec), member, atol=1e-5)
    marked = np.full_like(members[1], 7.0)  # a file with other values is what the next call returns
    for f in cached[b]:
        np.save(f, marked)
    again = _load_teacher(cfg, list(train_set.class_names), train_set, torch.device("cpu"))
    np.testing.assert_allclose(again.logits.numpy(), (members[0] + marked) / 2, atol=1e-5)
    smaller = train_set.subset(np.arange(len(train_set) // 2))  # other clusters: another file
    model, spec, _ = model_from_checkpoint(load_checkpoint(b))
    np.testing.assert_allclose(teacher_logits(model, b, smaller, spec), members[1][: len(smaller)], atol=1e-5)
    # a cached logits file stands for its teacher (one trained elsewhere), offline only, on its own data
    file_cfg = _cfg(tmp_path / "kd", teacher=f"{a},{cached[b][0]}", kd_mode="offline")
    from_file = _load_teacher(file_cfg, list(train_set.class_names), train_set, torch.device("cpu"))
    np.testing.assert_allclose(from_file.logits.numpy(), (members[0] + marked) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="offline only"):
        _load_teacher(_cfg(tmp_path / "kd", teacher=str(cached[b][0])), list(train_set.class_names), train_set,
                      torch.device("cpu"))
    with pytest.raises(ValueError, match="other data"):
        _load_teacher(_cfg(tmp_path / "kd", teacher=str(cached[b][0]), kd_mode="offline"),
                      list(train_set.class_names), smaller, torch.device("cpu"))
    for f in cached[b]:
        f.unlink()  # the student below learns from the real logits
    # and a student distils from it
    student = train(_cfg(tmp_path / "kd", teacher=f"{a},{b}", kd_mode="offline", epochs=1), *data)
    assert np.isfinite(load_checkpoint(student)["metrics"]["train_loss"])


def test_distillation_can_leave_out_the_clusters_the_teacher_gets_wrong():
    g = torch.Generator().manual_seed(0)
    s, y = torch.randn(6, 4, generator=g), torch.tensor([0, 1, 2, 3, 0, 1])
    t = 3 * torch.randn(6, 4, generator=g)
    t[torch.arange(3), y[:3]] = 20.0  # the teacher is right on the first three clusters
    t[torch.arange(3, 6), y[3:]] = -20.0  # and wrong on the last three
    known = torch.zeros(6, dtype=torch.bool)
    ce = torch.nn.functional.cross_entropy(s, y, reduction="none")
    kd = kd_loss(s, t, 4.0, reduce=False)
    plain = _loss(TrainConfig(kd_alpha=0.7, oe_weight=0), s, y, known, t)
    torch.testing.assert_close(plain, 0.3 * ce.mean() + 0.7 * kd_loss(s, t, 4.0))
    right_only = _loss(TrainConfig(kd_alpha=0.7, kd_teacher_right=True, oe_weight=0), s, y, known, t)
    torch.testing.assert_close(right_only, torch.cat([0.3 * ce[:3] + 0.7 * kd[:3], ce[3:]]).mean())


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


def test_card_formats_old_read_newer_refused(tiny_run, tmp_path):
    """A /1 card (written before input.frame) still loads, in the sensor frame; a format from a newer
    version is refused with the formats this one reads, not run on inputs it may not build right."""
    _, best = tiny_run
    card_path = export_bundle(best, tmp_path, "m")
    card = json.loads(card_path.read_text())
    assert card["format"] == "t3d_ros.model/2" and card["input"]["frame"] == "sensor"
    card["format"] = "t3d_ros.model/1"
    del card["input"]["frame"]
    card_path.write_text(json.dumps(card))
    assert Classifier(card_path, backend="torch").spec.frame == "sensor"
    card["format"] = "t3d_ros.model/3"
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="model/3.*reads t3d_ros.model/1, t3d_ros.model/2"):
        Classifier(card_path)


def test_eval_and_classify_commands(tiny_run, data, tmp_path):
    _, best = tiny_run
    card = export_bundle(best, tmp_path / "m", "t3d_test")
    val = data[1]
    val.save(tmp_path / "val.npz")
    run = lambda *a: subprocess.run([sys.executable, "-m", "t3d_ros", *a], cwd=REPO,  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    proc = run("eval", str(card), "--data", str(tmp_path / "val.npz"), "--json", str(tmp_path / "e.json"),
               "--png", str(tmp_path / "conf.png"), "--latency-batch", "16", "--mirror")
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((tmp_path / "e.json").read_text())
    res = rep["data"][str(tmp_path / "val.npz")]
    # --mirror: the same clusters mirrored (y -> -y), judged as a set mirrored on disk is judged
    mirrored = dataclasses.replace(val, points=val.points * np.array([1, -1, 1, 1], np.float32))
    mirrored.save(tmp_path / "val_mirrored.npz")
    proc = run("eval", str(card), "--data", str(tmp_path / "val_mirrored.npz"), "--json", str(tmp_path / "m.json"),
               "--latency-batch", "16")
    assert proc.returncode == 0, proc.stderr
    on_disk = json.loads((tmp_path / "m.json").read_text())["data"][str(tmp_path / "val_mirrored.npz")]
    assert res["mirrored"]["accuracy"] == on_disk["accuracy"]
    assert res["mirrored"]["mean_class_accuracy"] == on_disk["mean_class_accuracy"]
    assert 0 < res["mirrored"]["same_label"] <= 1
    assert 0 <= res["accuracy"] <= 1 and res["clusters"] == len(val) - val.outlier.sum()
    assert res["left_out_outliers"] == val.outlier.sum() > 0  # no class fits them: not judged
    assert rep["params"] > 1000 and rep["mflops_per_cluster"] > 0 and rep["cpu_ms_network_batch16"] > 0
    assert (tmp_path / "conf.png").stat().st_size > 5000
    for key in ("by_range", "by_returns"):  # every judged cluster in exactly one bin
        assert sum(b["clusters"] for b in res[key].values()) == res["clusters"], key
        assert sum(sum(b["per_class_clusters"].values()) for b in res[key].values()) == res["clusters"]
    files = []
    for i in range(3):
        path = tmp_path / f"obj{i}.npy"
        np.save(path, val.cluster(i))
        files.append(str(path))
    expected, expected_scores = Classifier(card, device="cpu")(val.points[: val.offsets[3]], val.offsets[:4])
    # --raw: the network's best class, as the Classifier gives it
    proc = run("classify", *files, "--json", "--model", str(card), "--raw")
    assert proc.returncode == 0, proc.stderr
    assert "object-centred" not in proc.stderr  # clusters of simulated scans, in the sensor's frame
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["file"] for x in lines] == files
    assert [x["label"] for x in lines] == expected
    assert [x["num_points"] for x in lines] == np.diff(val.offsets[:4]).tolist()
    # default: the node's decision, the guess or 'unknown' with the guess and the reason
    proc = run("classify", *files, "--json", "--model", str(card))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    for x, guess, score in zip(lines, expected, expected_scores, strict=True):
        assert x["label"] == guess or (x["label"] == "unknown" and x["guess"] == guess and x["unknown_reason"])
        assert x["score"] == pytest.approx(float(score), abs=1e-3)
    # a params file's score floor is the node's: no label reaches 1.0
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters:\n    score_threshold: 1.0\n    size_check: false\n")
    proc = run("classify", *files, "--json", "--model", str(card), "--params", str(params))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["label"] for x in lines] == ["unknown"] * 3
    assert [x["guess"] for x in lines] == expected
    assert all("below the" in x["unknown_reason"] for x in lines)
    # an object-centred file is labelled, with a warning that names it
    centred = val.cluster(0).copy()
    centred[:, :3] -= centred[:, :3].mean(axis=0)
    np.save(tmp_path / "centred.npy", centred)
    proc = run("classify", str(tmp_path / "centred.npy"), files[1], "--json", "--model", str(card))
    assert proc.returncode == 0, proc.stderr
    assert "1 of 2 file(s) lie within 1 m of the sensor" in proc.stderr and "centred.npy" in proc.stderr
    assert len(proc.stdout.splitlines()) == 2


def test_accuracy_by_range_and_returns():
    from t3d_ros.offline.data import ClusterSet
    from t3d_ros.offline.eval.classifier import RANGE_BINS_M, RETURN_BINS, accuracy_by

    # three clusters: 4 returns centred at 3 m, 40 at (30, 40) = 50 m, 200 at 12 m
    pts = np.concatenate([np.tile([3.0, 0, 0, 0], (4, 1)), np.tile([30.0, 40, 0, 0], (40, 1)),
                          np.tile([0, -12.0, 0, 0], (200, 1))]).astype(np.float32)
    pts[:4, 0] += [-1, 1, -0.5, 0.5]  # a spread that keeps the centroid
    offsets = np.array([0, 4, 44, 244])
    bare = ClusterSet(pts, offsets, [0, 1, 0], ("car", "pedestrian"))  # no meta: computed from the points
    loaded = ClusterSet.from_list([bare.cluster(i) for i in range(3)], [0, 1, 0], bare.class_names,
                                  source="t", sensor="t", frame=0)  # meta["range_m"], as loaders write it
    for cs in (bare, loaded):
        assert np.allclose(cs.ranges, [3, 50, 12]) and cs.sizes.tolist() == [4, 40, 200]
    ranges, returns = bare.ranges, bare.sizes
    classes = ["car", "pedestrian"]
    logits = np.array([[2.0, 0], [0, 1.0], [0, 1.0]])  # right, right, wrong
    labels = np.array([0, 1, 0])
    by_range = accuracy_by(logits, labels, classes, ranges, RANGE_BINS_M, "m")
    assert list(by_range) == ["0-10 m", "10-20 m", "50+ m"]  # empty bins left out
    assert by_range["10-20 m"]["accuracy"] == 0 and by_range["50+ m"]["per_class"] == {"pedestrian": 1.0}
    by_returns = accuracy_by(logits, labels, classes, returns, RETURN_BINS, "returns")
    assert list(by_returns) == ["0-30 returns", "30-100 returns", "100+ returns"]
    assert by_returns["100+ returns"]["per_class_clusters"] == {"car": 1}


def _torchrun(tmp_path, out: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m t3d_ros train`` in two processes under torchrun (gloo on the CPU), on val.npz; on a
    timeout the whole process group is killed (a hung rank must not outlive the test)."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not installed")
    cmd = [torchrun, "--nproc_per_node", "2", "-m", "t3d_ros", "train", "--model", "tiny", "--data",
           str(tmp_path / "val.npz"), "--batch-size", "16", "--epoch-clusters", "128", "--n-points", "64",
           "--out", str(tmp_path / out), "--quiet", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"torchrun {' '.join(args)} still running after {timeout} s: a process hangs")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def test_torchrun_ddp_on_cpu(data, tmp_path):
    """Two processes under torchrun (gloo on the CPU; NCCL on GPUs) train one short epoch together."""
    data[1].save(tmp_path / "val.npz")
    proc = _torchrun(tmp_path, "ddp", "--epochs", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "ddp" / "log.csv")))
    assert len(rows) == 1 and int(rows[0]["step"]) == 4  # 128 clusters / (2 processes x 16)
    assert (tmp_path / "ddp" / "ckpt_best.pt").is_file()


@pytest.mark.parametrize("max_steps, workers", [(3, 0), (4, 1)], ids=["inside_epoch", "at_epoch_end_1_worker"])
def test_torchrun_ddp_stops_every_process_at_max_steps(data, tmp_path, max_steps, workers):
    """All processes stop after ``max_steps``, inside the first epoch or exactly at its end (4 steps);
    they used to go on into epoch 1 and wait there for process 0, for ever."""
    data[1].save(tmp_path / "val.npz")
    proc = _torchrun(tmp_path, "ddp", "--epochs", "3", "--max-steps", str(max_steps), "--workers", str(workers),
                     timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "ddp" / "log.csv")))
    assert [(int(r["epoch"]), int(r["step"])) for r in rows] == [(0, max_steps)]
    assert load_checkpoint(tmp_path / "ddp" / "ckpt_last.pt")["step"] == max_steps


def test_batches_do_not_depend_on_the_worker_count(data, tmp_path):
    """Batch b of an epoch is augmented from its own seed: 0 (in-process) and 2 workers train alike."""
    runs = [train(_cfg(tmp_path / f"w{w}", epochs=2, epoch_clusters=128, workers=w), *data) for w in (0, 2)]
    # the last checkpoints: which epoch is best depends on the data, the last one is step 8 in both
    a, b = (load_checkpoint(r.parent / "ckpt_last.pt") for r in runs)
    assert a["metrics"] == b["metrics"] and a["step"] == b["step"] == 8
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k


def test_sampler_balances_classes_and_shards_the_global_batch():
    labels = np.r_[np.zeros(900, np.int64), np.ones(100, np.int64)]
    ranks = [EpochSampler(labels, 2, 1.0, batch_size=50, steps=40, seed=3, rank=r, world=2) for r in (0, 1)]
    for s in ranks:
        s.set_epoch(5)
    keys = [list(s) for s in ranks]
    assert [len(k) for k in keys] == [40, 40] and all(len(idx) == 50 for k in keys for _, _, idx in k)
    assert [(e, b) for e, b, _ in keys[0]] == [(5, b) for b in range(40)]
    # Rank r takes every other cluster of one draw, the same in every process.
    merged = np.empty(4000, np.int64)
    merged[0::2], merged[1::2] = (np.concatenate([idx for _, _, idx in k]) for k in keys)
    draw = np.random.default_rng(3 + 5).choice(1000, size=4000, p=ranks[0].weights)
    np.testing.assert_array_equal(merged, draw)
    assert 0.45 < labels[merged].mean() < 0.55  # balance 1: both classes alike despite 9:1
    ranks[0].set_epoch(6)
    assert not np.array_equal(next(iter(ranks[0]))[2], keys[0][0][2])


def test_checkpoints_load_without_running_code(tiny_run, data, tmp_path, capsys):
    _, best = tiny_run
    ck = torch.load(best, map_location="cpu", weights_only=True)  # what train writes: plain values only
    assert {"model", "classes", "input", "state_dict", "optimizer", "scheduler", "train_config"} <= set(ck)
    # numpy values (a config from a sweep script) become plain ones; a set is refused when saving.
    save_checkpoint({"lr": np.float64(1e-3), "betas": (np.float32(0.9), 0.99), "n": np.int64(3),
                     "a": np.arange(3)}, tmp_path / "np.pt")
    back = torch.load(tmp_path / "np.pt", weights_only=True)
    assert type(back["lr"]) is float and type(back["betas"][0]) is float and type(back["n"]) is int
    assert torch.equal(back["a"], torch.arange(3))
    with pytest.raises(TypeError, match=r"ckpt\['s'\] is a builtins.set"):
        save_checkpoint({"s": {1, 2}}, tmp_path / "set.pt")

    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    torch.save({**ck, "payload": _RunsCode(marker)}, evil)
    with pytest.raises(ValueError, match=r"evil\.pt: refused to load it: it calls for exec") as err:
        load_checkpoint(evil)
    assert "\n" not in str(err.value) and not marker.exists()
    assert cli_main(["export", str(evil), "--out", str(tmp_path / "m")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {evil}: refused") and not marker.exists()
    with pytest.raises(ValueError, match="refused"):
        train(_cfg(tmp_path / "run", init=str(evil), epochs=1), *data)
    assert not marker.exists()
    # Not checkpoints at all: one clear line too.
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"notes\.pt: not a readable torch file"):
        load_checkpoint(tmp_path / "notes.pt")
    torch.save(ck["state_dict"], tmp_path / "weights.pt")
    with pytest.raises(ValueError, match=r"weights\.pt: not a t3d_ros training checkpoint"):
        load_checkpoint(tmp_path / "weights.pt")
    torch.load(evil, weights_only=False)  # the file really runs code when loaded the unsafe way
    assert marker.read_text() == "ran"


class _RunsCode:
    """Unpickling this writes ``marker``: the kind of payload a shared checkpoint could carry."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def _documented(command: str) -> list[str]:
    """The ``python -m t3d_ros <command>`` lines of docs/cli.md's training block, as argument lists
    (continuation lines joined, comments dropped)."""
    text = (REPO / "docs" / "cli.md").read_text().replace("\\\n", " ")
    found = [shlex.split(line.split("#", 1)[0]) for line in text.splitlines()
             if line.startswith(f".venv/bin/python -m t3d_ros {command} ")]
    assert found, f"docs/cli.md lost its `t3d_ros {command}` example"
    return [args[1:] for args in found]  # without the interpreter


def test_documented_training_commands_run(tmp_path):
    """The docs' `train --model tiny --netaug ...` and `export ... --calibrate-on sim` run as written,
    with tiny settings appended (argparse: the last value wins)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    small = ["--sim-seeds", "2", "--epochs", "1", "--epoch-clusters", "64", "--max-steps", "2", "--quiet"]
    train_cmd = next(a for a in _documented("train") if "--netaug" in a)
    proc = subprocess.run([sys.executable, *train_cmd, *small], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    best = tmp_path / "out" / "runs" / "mine" / "ckpt_best.pt"
    assert load_checkpoint(best)["model"] == "tiny_netaug"
    export_cmd = next(a for a in _documented("export") if "--calibrate-on" in a)
    proc = subprocess.run([sys.executable, *export_cmd, "--sim-seeds", "2"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    card = json.loads((tmp_path / "my_models" / "mine.json").read_text())
    assert card["architecture"]["name"] == "tiny" and "temperature" in card["calibration"]
    assert card["calibration"]["road_user_precision"] == 0.97  # the CLI's default rule
    Classifier(tmp_path / "my_models" / "mine.json", device="cpu")


def test_netaug_needs_a_model_with_a_supernet(data, tmp_path):
    with pytest.raises(ValueError, match="no NetAug supernet of 'dgcnn'"):
        train(_cfg(tmp_path, model="dgcnn", netaug=True, epochs=1), *data)
