"""``bench --baseline``: the old tree extracted from git, the timing driver run on it in its own process."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import KITTI, REPO, needs_kitti

from t3d_ros.bench import baseline
from t3d_ros.bench.data import street_with_objects


def _in_git_checkout() -> bool:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _in_git_checkout(), reason="not a git checkout: nothing to extract")


@pytest.fixture(scope="module")
def head_tree(tmp_path_factory):
    """HEAD's tree, extracted as ``--baseline HEAD`` would (the driver's own layout and model)."""
    return baseline.extract_tree("HEAD", cache=tmp_path_factory.mktemp("baseline"))


def test_extract_tree_is_the_commit_and_is_reused(head_tree, tmp_path):
    sha = baseline.resolve("HEAD")
    assert head_tree.name == sha
    assert (head_tree / "t3d_ros" / "perception.py").is_file() and (head_tree / "models" / "t3d_tiny.json").is_file()
    again = baseline.extract_tree(sha, cache=head_tree.parent)
    assert again == head_tree
    with pytest.raises(ValueError, match="not a commit"):
        baseline.resolve("no-such-ref-0123")


def test_driver_runs_one_frame_on_the_extracted_tree(head_tree, tmp_path):
    """The driver imports the tree's own code (not this checkout's) and reports times, stages,
    clusters, detections and per-point segments; the clusters equal this checkout's on that frame."""
    pts = street_with_objects(12, total=30_000)
    np.save(tmp_path / "f.npy", pts)
    res = baseline.run_driver(head_tree, [tmp_path / "f.npy"], tmp_path / "o.json", reps=2, warmup=1,
                              segments=tmp_path / "seg")
    assert res["t3d_ros"] == str(head_tree.resolve())
    row = res["rows"][0]
    assert len(row["ms"]) == 2 and all(m > 0 for m in row["ms"])
    seg_ms, cls_ms = baseline._stage_split(row["stages"][0])
    assert seg_ms > 0 and cls_ms > 0  # the shipped model labels the clusters
    assert row["clusters"] == len(row["detections"]) == 12
    seg = np.load(tmp_path / "seg" / "0.npz")
    assert seg["cluster_id"].shape == (len(pts),) and seg["cluster_id"].max() == 11
    summary = baseline.timing_summary([res], [0])
    assert summary["calls"] == 2 and summary["clusters_per_frame"] == 12


def test_driver_never_takes_a_module_the_tree_lacks_from_the_checkout(head_tree, tmp_path):
    """The editable install serves t3d_ros's subpackages from this checkout when a tree lacks them (an
    old flat tree has no cli/): the driver must fail to import them, not silently run this checkout's."""
    tree = tmp_path / "tree"
    shutil.copytree(head_tree / "t3d_ros", tree / "t3d_ros")
    shutil.rmtree(tree / "t3d_ros" / "cli")
    np.save(tmp_path / "f.npy", np.zeros((10, 4), np.float32))
    p = subprocess.run([sys.executable, str(baseline.DRIVER), str(tmp_path / "f.npy"), "--params", "none.yaml",
                        "--model", "", "--out", str(tmp_path / "o.json")], cwd=tree, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(tree)))
    assert p.returncode != 0 and "ModuleNotFoundError" in p.stderr, p.stderr[-2000:]
    assert not (tmp_path / "o.json").exists()


@needs_kitti
def test_baseline_command_on_a_kitti_frame_against_head(head_tree, tmp_path, monkeypatch):
    """The whole command, tiny settings: HEAD against this checkout on the KITTI frames, one round."""
    monkeypatch.setattr(baseline, "CACHE", head_tree.parent)
    args = argparse.Namespace(baseline="HEAD", kitti=KITTI, odometry=None, sim_frames=0, rounds=1, reps=1,
                              quick=True, out=tmp_path)
    assert baseline.run(args) == 0
    res = json.loads((tmp_path / "baseline.json").read_text())
    row = res["sets"]["kitti"]
    assert row["frames"] == 3 and row["ratio_old_new"] > 0
    for side in ("old", "new"):
        assert row[side]["quality"]["kitti"]["objects"] > 0
        assert row[side]["quality"]["segmentation"]["n_objects"] > 0
    assert "KITTI odometry frames: skipped" in (tmp_path / "baseline.md").read_text()
    assert res["machine"]["cores"] and res["machine"]["cpu"]


def test_card_at_names_a_card_in_a_file_or_in_a_commit(tmp_path):
    card = tmp_path / "m.json"
    card.write_text("{}")
    assert baseline.card_at(str(card)) == ("m", card)
    assert baseline.card_at(f"mine={card}") == ("mine", card)
    name, path = baseline.card_at("shipped=HEAD:models/t3d_tiny.json")
    assert name == "shipped" and path == baseline.extract_tree("HEAD") / "models" / "t3d_tiny.json"
    assert json.loads(path.read_text())["classes"]
    assert baseline.card_at("REF:models/t3d_tiny.json", "HEAD")[1] == path


def test_old_test_set_is_built_by_the_commits_own_code(tmp_path):
    """bench.old_test: the test split built in a process that imports only the extracted tree (its
    snippet asserts where load_data comes from), saved as a ClusterSet; eval reads it as a source."""
    from t3d_ros.bench.old_test import build_old_test
    from t3d_ros.offline.data import ClusterSet, load_data

    path = build_old_test("HEAD", sim_seeds=1, workers=1, cache=tmp_path)  # max(1 // 5, 8) = 8 scenes
    assert path.parent == tmp_path and path.name.endswith("_seeds1.npz")
    cs = ClusterSet.load(path)
    assert len(cs) > 100 and set(np.unique(cs.meta["frame"])) == set(range(200_000, 200_008))
    again = load_data("sim", "test", sim_seeds=1, cache=str(tmp_path / "now"), workers=1)
    np.testing.assert_array_equal(cs.offsets, again.offsets)  # HEAD's simulator: the same clusters
    assert build_old_test("HEAD", sim_seeds=1, workers=1, cache=tmp_path) == path  # built once
