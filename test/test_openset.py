"""Open-set training and adaptation on small generated data: outlier exposure, several data sources
with weights, fine-tuning from a bundle, calibration, AdaBN and pseudo-labels."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from t3d_ros.classes import CLASSES
from t3d_ros.classify.classifier import Classifier
from t3d_ros.cli import main as cli_main
from t3d_ros.offline import data as data_module
from t3d_ros.offline.data import ClusterSet, load_data
from t3d_ros.offline.train.bundle import (
    export_bundle,
    load_checkpoint,
    load_model_source,
    load_weights,
    model_from_checkpoint,
)
from t3d_ros.offline.train.loader import EpochSampler
from t3d_ros.offline.train.loop import TrainConfig, predict, train

TOY = ("pole", "structure", "vegetation")  # the classes of the toy clusters, in CLASSES


def _shape(kind: str, rng: np.random.Generator, n: int, user: bool = False) -> np.ndarray:
    """(n, 4) points of one toy cluster; ``user``: how another sensor would see it (sparser
    along z, tilted, squashed)."""
    u = rng.uniform(size=(n, 3))
    e = rng.normal(scale=0.03, size=(n, 3))
    if kind == "pole":  # a thin vertical line
        p = np.c_[e[:, 0], e[:, 1], 3 * u[:, 2]]
        if user:
            p[:, 0] += 0.4 * p[:, 2]
    elif kind == "structure":  # a vertical wall
        p = np.c_[4 * u[:, 0], e[:, 1], 2 * u[:, 2]]
        if user:
            p = p[:, [1, 0, 2]]
    elif kind == "vegetation":  # a round blob
        v = rng.normal(size=(n, 3))
        p = 1.2 * v / np.linalg.norm(v, axis=1, keepdims=True) * u[:, :1] ** (1 / 3)
        p[:, 2] += 1.5 * (0.5 if user else 1.0)
    else:  # outlier: a flat patch of ground and a few returns of something on it
        p = np.c_[3 * u[:, 0], 3 * u[:, 1], e[:, 2]]
        p[: n // 8, 2] += rng.uniform(0.2, 1.0, n // 8)
    # anywhere from 4 to 25 m: the global features (range, size) spread, so that BatchNorm's running
    # statistics are right after a few dozen steps
    r, a = rng.uniform(4, 25), rng.uniform(-np.pi, np.pi)
    p += [r * np.cos(a), r * np.sin(a), -1.5]
    return np.c_[p, rng.uniform(size=n)].astype(np.float32)


def toy_set(n: int, seed: int, outliers: int = 0, user: bool = False) -> ClusterSet:
    """``n`` clusters of the TOY classes (labels in CLASSES) and ``outliers`` flat ground patches."""
    rng = np.random.default_rng(seed)
    kinds = [TOY[i % 3] for i in range(n)] + ["outlier"] * outliers
    clusters = [_shape(k, rng, int(rng.integers(20, 200)), user) for k in kinds]
    labels = [CLASSES.index(k) if k != "outlier" else CLASSES.index("misc") for k in kinds]
    cs = ClusterSet.from_list(clusters, labels, CLASSES, source="toy", sensor="toy",
                              frame=np.arange(len(kinds)) + 1000 * seed)
    cs.meta["outlier"] = np.array([k == "outlier" for k in kinds])
    return cs


# an even tinier network: the tests judge the training, not the model
SMALL = {"sa_config": [[8, 0.5, 8, [16, 16, 32]], [0, None, None, [32, 64]]], "head": [32]}


def _cfg(out, **kw) -> TrainConfig:
    base = dict(model="tiny", model_config=SMALL, n_points=16, global_features=(), epochs=1, batch_size=16,
                epoch_clusters=16 * 40, lr=3e-3, lr_step=100, augment_strength=0.5, out=str(out), progress=False,
                seed=0)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def toy():
    return toy_set(300, seed=1, outliers=60), toy_set(60, seed=2, outliers=30)


@pytest.fixture(scope="module")
def runs(toy, tmp_path_factory):
    """The same 40 steps with and without outlier exposure (enough for BatchNorm's running statistics)."""
    out = tmp_path_factory.mktemp("oe")
    return {w: train(_cfg(out / f"oe{w}", oe_weight=w), *toy) for w in (0.5, 0.0)}


@pytest.fixture(scope="module")
def bundle(runs, tmp_path_factory):
    return export_bundle(runs[0.5], tmp_path_factory.mktemp("bundle"), "toy")


def test_outlier_exposure_lowers_the_score_of_outliers(runs, toy):
    val = toy[1]
    held_out = toy_set(0, seed=3, outliers=40)
    top = {}
    for w, ckpt in runs.items():
        ck = load_checkpoint(ckpt)
        model, spec, _ = model_from_checkpoint(ck)
        top[w] = F.softmax(torch.from_numpy(predict(model, held_out, spec)), 1).max(1).values.mean().item()
        assert ck["metrics"]["val_accuracy"] > 0.8, ck["metrics"]  # the classes are learnt either way
        # validation judges the clusters with a class only; the summary counts outliers apart
        assert sum(ck["data_summary"]["val"].values()) == (~val.outlier).sum()
        assert ck["data_summary"]["train_outliers"] == 60
    assert top[0.5] < top[0.0] - 0.2, top


def test_sampler_draws_a_fixed_share_of_outliers_and_weights_sources():
    labels = np.r_[np.zeros(500, np.int64), np.ones(100, np.int64), np.zeros(100, np.int64)]
    outlier = np.r_[np.zeros(600, bool), np.ones(100, bool)]
    weight = np.r_[np.ones(400), np.full(100, 5.0), np.ones(200)]  # clusters 400..499: a weighted source
    s = EpochSampler(labels, 2, 1.0, batch_size=40, steps=50, seed=0, outlier=outlier, oe_share=0.15, weight=weight)
    idx = np.stack([i for _, _, i in s])
    assert idx.shape == (50, 40) and (outlier[idx].sum(axis=1) == 6).all()  # round(0.15 * 40) in every batch
    known = idx[~outlier[idx]]
    # balance 1: each class weighs 1, times the source weights: class 0 (400 + 5 * 100) / 500 = 1.8
    assert 0.32 < (labels[known] == 1).mean() < 0.4  # 1 / 2.8
    per_cluster = np.bincount(known, minlength=700)
    assert 3.5 < per_cluster[400:500].mean() / per_cluster[:400].mean() < 7  # weight 5
    # no outliers drawn without outlier exposure, and none counted as a class
    s0 = EpochSampler(labels, 2, 1.0, batch_size=40, steps=5, seed=0, outlier=outlier)
    assert not outlier[np.concatenate([i for _, _, i in s0])].any()


def _folder(root, sets: dict[str, list[np.ndarray]]) -> None:
    for name, clusters in sets.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, c in enumerate(clusters):
            np.save(root / name / f"{i:03d}.npy", c)


def _user_clusters(n: int, seed: int) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {k: [_shape(k, rng, int(rng.integers(20, 200)), user=True) for _ in range(n)] for k in TOY}


def test_finetune_from_a_bundle_lowers_the_loss_on_a_labelled_folder(bundle, tmp_path):
    _folder(tmp_path / "user", _user_clusters(20, seed=4))
    user = data_module.load_folder(tmp_path / "user")
    user = data_module.with_classes(user, CLASSES)
    card = json.loads(bundle.read_text())

    def loss(model, spec) -> float:
        logits = torch.from_numpy(predict(model, user, spec))
        return F.cross_entropy(logits, torch.from_numpy(user.labels)).item()

    before = loss(*model_from_checkpoint(load_model_source(bundle))[:2])
    run = tmp_path / "run"
    assert cli_main(["train", "--finetune", str(bundle.with_suffix(".pt")), "--data", f"folder:{tmp_path / 'user'}",
                     "--batch-size", "16", "--epoch-clusters", "160", "--max-steps", "20", "--out", str(run),
                     "--quiet", "--workers", "0"]) == 0
    ck = load_checkpoint(run / "ckpt_last.pt")
    assert ck["finetuned_from"] == str(bundle.with_suffix(".pt")) and ck["classes"] == card["classes"]
    cfg = ck["train_config"]
    assert (cfg["lr"], cfg["epochs"], cfg["lr_step"], cfg["n_points"]) == (2e-4, 10, 5, card["input"]["n_points"])
    after = loss(*model_from_checkpoint(ck)[:2])
    assert after < 0.8 * before, (before, after)
    # the card says what the model was trained on and where it started
    tuned = json.loads(export_bundle(run / "ckpt_last.pt", tmp_path / "m", "tuned").read_text())
    assert tuned["training"]["finetuned_from"] == str(bundle.with_suffix(".pt"))
    [src] = tuned["training"]["data"]
    assert src["source"] == f"folder:{tmp_path / 'user'}" and set(src["train"]) == set(CLASSES)


def test_finetune_distils_from_a_teacher_while_it_tunes(bundle, runs, tmp_path):
    _folder(tmp_path / "user", _user_clusters(20, seed=5))
    run = tmp_path / "run"
    assert cli_main(["train", "--finetune", str(bundle), "--teacher", str(runs[0.0]), "--kd-mode", "offline",
                     "--data", f"folder:{tmp_path / 'user'}", "--batch-size", "16", "--epoch-clusters", "160",
                     "--max-steps", "10", "--out", str(run), "--quiet", "--workers", "0", "--balance", "1"]) == 0
    ck = load_checkpoint(run / "ckpt_last.pt")
    assert ck["train_config"]["teacher"] == str(runs[0.0]) and ck["finetuned_from"] == str(bundle)
    assert ck["train_config"]["balance"] == 1.0
    model, _, classes = model_from_checkpoint(ck)
    assert classes == json.loads(bundle.read_text())["classes"] and not hasattr(model, "sample_width")


def test_stage_two_turns_the_inputs_to_the_bearing(runs, toy, tmp_path):
    """`train --init <sensor-frame run> --frame bearing` (how the shipped stage 2 starts from stage 1):
    the checkpoint and the card say "bearing", and the node's classifier builds those inputs."""
    run = tmp_path / "run"
    train(_cfg(run, init=str(runs[0.0]), frame="bearing", max_steps=5), *toy)
    ck = load_checkpoint(run / "ckpt_last.pt")
    assert ck["input"]["frame"] == "bearing" and ck["train_config"]["frame"] == "bearing"
    card = export_bundle(run / "ckpt_last.pt", tmp_path / "m", "turned")
    assert json.loads(card.read_text())["input"]["frame"] == "bearing"
    model, spec, _ = model_from_checkpoint(ck)
    val = toy[1]
    with torch.no_grad():
        ref = predict(model, val, spec)
    got = Classifier(card, device="cpu", backend="onnxruntime").logits(val.points, val.offsets)
    np.testing.assert_allclose(got, ref, atol=1e-4)
    sensor = predict(model, val, dataclasses.replace(spec, frame="sensor"))
    assert np.abs(sensor - ref).max() > 1e-3  # the frame reached the network's inputs


def test_calibrate_lowers_the_ece_and_writes_thresholds(runs, toy, tmp_path, capsys):
    # a fifth of the labels wrong: the model, sure of them, is overconfident on this set
    val = toy[1].subset(np.arange(len(toy[1])))
    flip = np.flatnonzero(~val.outlier)[::5]
    val.labels[flip] = [CLASSES.index(TOY[(TOY.index(CLASSES[c]) + 1) % 3]) for c in val.labels[flip]]
    val.save(tmp_path / "val.npz")
    card = tmp_path / "m" / "plain.json"
    assert cli_main(["export", str(runs[0.0]), "--out", str(tmp_path / "m"), "--name", "plain", "--calibrate-on",
                     str(tmp_path / "val.npz"), "--min-support", "5"]) == 0
    assert json.loads(card.read_text())["calibration"]["target_precision"] == 0.9
    assert cli_main(["calibrate", str(card), "--data", str(tmp_path / "val.npz"), "--min-support", "5",
                     "--target-precision", "0.8"]) == 0
    text = capsys.readouterr().out
    assert "ECE" in text and "pole" in text
    cal = json.loads(card.read_text())["calibration"]
    assert cal["target_precision"] == 0.8
    assert cal["ece_after"] < cal["ece_before"], cal
    assert cal["outliers"] == toy[1].outlier.sum() and cal["clusters"] == (~toy[1].outlier).sum()
    clf = Classifier(card, device="cpu")
    assert clf.temperature == cal["temperature"] != 1.0
    assert set(clf.class_thresholds) == set(CLASSES) and min(clf.class_thresholds.values()) < 1.0


def test_multi_source_data_with_source_weights(toy, tmp_path, monkeypatch):
    # "sim" stands for the toy set here: simulating frames takes minutes on a small machine
    monkeypatch.setattr(data_module, "load_or_make_sim_clusters",
                        lambda cache, seeds, workers=1: toy_set(30, seed=seeds[0], outliers=5))
    _folder(tmp_path / "user", {k: v[:10] for k, v in _user_clusters(10, seed=5).items() if k != "vegetation"})
    spec = f"sim,folder:{tmp_path / 'user'}"
    both = load_data(spec, "train", sim_seeds=2)
    assert both.class_names == CLASSES and set(both.meta["data_source"]) == {"sim", f"folder:{tmp_path / 'user'}"}
    assert both.outlier.sum() == 5 and [s["clusters"] for s in both.info["sources"]] == [35, 16]
    run = tmp_path / "run"
    assert cli_main(["train", "--data", spec, "--source-weight", "folder=5", "--sim-seeds", "2", "--n-points", "32",
                     "--batch-size", "16", "--epochs", "1", "--epoch-clusters", "64", "--out", str(run),
                     "--quiet"]) == 0
    ck = load_checkpoint(run / "ckpt_last.pt")
    assert ck["train_config"]["source_weights"] == {"folder": 5.0}
    sources = {s["source"]: s for s in ck["data_summary"]["sources"]}
    assert sources["sim"]["train_outliers"] == 5 and sum(sources["sim"]["train"].values()) == 30
    assert sum(sources[f"folder:{tmp_path / 'user'}"]["train"].values()) == 16
    # a source weight for no source, and a class the first source lacks, are errors that name them
    with pytest.raises(ValueError, match="kitti"):
        train(_cfg(tmp_path / "bad", source_weights={"kitti": 2.0}, max_steps=1), both)
    _folder(tmp_path / "odd", {"spaceship": [toy[0].cluster(0)] * 3, "pole": [toy[0].cluster(1)] * 3})
    with pytest.raises(ValueError, match="spaceship"):
        load_data(f"sim,folder:{tmp_path / 'odd'}", "train", sim_seeds=2)


def test_adapt_re_estimates_batchnorm_and_exports_a_bundle(bundle, toy, tmp_path):
    target = tmp_path / "target"
    user = _user_clusters(12, seed=6)
    _folder(target, {"unsorted": user["pole"] + user["structure"], "vegetation": user["vegetation"]})
    out = tmp_path / "adapted"
    assert cli_main(["adapt", str(bundle), "--data", f"folder:{target}", "--out", str(out), "--name", "ad"]) == 0
    card = json.loads((out / "ad.json").read_text())
    assert card["adapted_from"] == str(bundle)
    assert card["adaptation"] == {"method": "adabn", "target": f"folder:{target}", "target_clusters": 36}
    before, after = load_weights(bundle.with_suffix(".pt")), load_weights(out / "ad.pt")
    stats = [k for k in before if k.endswith("running_mean") or k.endswith("running_var")]
    assert stats and all(not torch.equal(before[k], after[k]) for k in stats)
    weights = [k for k in before if k.endswith(".weight")]
    assert all(torch.equal(before[k], after[k]) for k in weights)  # AdaBN changes no weight
    labels, scores = Classifier(out / "ad.json", device="cpu")(toy[1].points, toy[1].offsets)
    assert len(labels) == len(toy[1])
    # pseudo-labels: fine-tuned on the confident target clusters mixed with labelled data
    toy[0].save(tmp_path / "mix.npz")
    assert cli_main(["adapt", str(bundle), "--data", f"folder:{target}", "--out", str(out), "--name", "pl",
                     "--pseudo-labels", "0.5", "--mix", str(tmp_path / "mix.npz"), "--max-steps", "3",
                     "--batch-size", "16", "--quiet"]) == 0
    card = json.loads((out / "pl.json").read_text())
    assert card["adaptation"]["method"] == "adabn+pseudo-labels" and card["adaptation"]["target_clusters"] == 36
    assert 0 < sum(card["adaptation"]["pseudo_labelled"].values()) <= 36
    Classifier(out / "pl.json", device="cpu")


def test_adapt_takes_the_clusters_of_frames_as_the_node_cuts_them(tmp_path):
    from t3d_ros.offline.train.adapt import target_clusters

    rng = np.random.default_rng(0)
    ground = np.c_[np.mgrid[-20:20:0.25, -20:20:0.25].reshape(2, -1).T, np.full(160 * 160, -1.73)]
    boxes = [np.c_[rng.uniform(x, x + 2, 400), rng.uniform(y, y + 1.5, 400), rng.uniform(-1.5, 0, 400)]
             for x, y in [(8, 2), (12, -4), (6, 6)]]
    frame = np.concatenate([ground, *boxes])
    frame = np.c_[frame, rng.uniform(0, 255, len(frame))].astype(np.float32)  # driver intensities
    (tmp_path / "frames").mkdir()
    np.save(tmp_path / "frames" / "000.npy", frame)
    np.save(tmp_path / "frames" / "001.npy", frame[::2])
    cs = target_clusters(f"frames:{tmp_path / 'frames'}", CLASSES)
    assert sorted(cs.sizes.tolist()) == [200] * 3 + [400] * 3 and set(cs.meta["frame"]) == {0, 1}
    assert cs.points[:, 3].max() <= 1.0  # scaled to [0, 1] like the training data
    with pytest.raises(ValueError, match="folder:DIR or frames:PATH"):
        target_clusters("sim", CLASSES)


def test_far_start_trains_on_random_starts(toy, tmp_path):
    """``fps_start="far"``: the checkpoint samples from the farthest point at run time and learns the
    toy classes as well as the first-point start does (it trains on random starts: a fixed start, the
    same sample every epoch, learnt them to 0.65 in these steps)."""
    ck = load_checkpoint(train(_cfg(tmp_path / "far", fps_start="far", oe_weight=0.0), *toy))
    assert ck["input"]["start"] == "far"
    assert ck["metrics"]["val_accuracy"] > 0.8, ck["metrics"]
    _, spec, _ = model_from_checkpoint(ck)
    assert spec.start == "far"
