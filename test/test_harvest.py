"""``python -m t3d_ros harvest``: every cluster of a recording as a file, contact sheets, then sorted by hand
into ``<class>/`` folders that ``load_folder`` and ``load_data("folder:...")`` read (``unsorted`` and
``ignore`` left out)."""

from __future__ import annotations

import csv
import math
import shutil

import numpy as np
import pytest

from t3d_ros.classes import CLASSES, UNKNOWN

SEEDS = (201, 202)


def _sim_bins(folder, sensor: str = "vlp16", seeds=SEEDS) -> list:
    from t3d_ros.offline.sim import simulate

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in seeds:
        _, f = simulate(s, sensor)
        path = folder / f"{s:06d}.bin"
        np.c_[f.xyz, f.intensity / 255.0].astype("<f4").tofile(path)  # KITTI: reflectance in [0, 1]
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def harvested(tmp_path_factory):
    """The harvest command run on two simulated frames with the shipped model: (frames, out, csv rows)."""
    from t3d_ros.cli import main

    base = tmp_path_factory.mktemp("harvest")
    frames = _sim_bins(base / "rec")
    out = base / "out"
    assert main(["harvest", str(base / "rec"), "--out", str(out)]) == 0
    with open(out / "clusters.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return frames, out, rows


def test_harvest_writes_one_file_per_csv_row(harvested):
    frames, out, rows = harvested
    files = sorted((out / "unsorted").glob("*.npy"))
    assert len(rows) == len(files) > 20
    assert sorted(out / r["file"] for r in rows) == files
    assert list(rows[0]) == ["file", "frame", "points", "range_m", "length_m", "width_m", "height_m", "label",
                             "guess", "score", "why_unknown"]
    assert {r["frame"] for r in rows} == {f"rec_{p.stem}" for p in frames}
    for r in rows:
        pts = np.load(out / r["file"])
        assert pts.dtype == np.float32 and pts.shape == (int(r["points"]), 4), r
        assert int(r["points"]) >= 10 and float(r["range_m"]) <= 80.0
        assert np.isfinite(pts).all() and 0 <= pts[:, 3].min() and pts[:, 3].max() <= 1
        # the points lie around the box whose range the row gives, with the size it gives
        centroid = np.hypot(*pts[:, :2].mean(axis=0))
        assert abs(centroid - float(r["range_m"])) <= float(r["length_m"]) / 2 + 0.2, r
        assert np.ptp(pts[:, 2]) == pytest.approx(float(r["height_m"]), abs=0.01), r
        assert r["label"] in (*CLASSES, UNKNOWN) and r["guess"] in CLASSES and 0 <= float(r["score"]) <= 1
        assert r["label"] in (UNKNOWN, r["guess"])
        assert bool(r["why_unknown"]) == (r["label"] == UNKNOWN), r  # every unknown says why, no other
    assert any(r["label"] != UNKNOWN for r in rows)  # the shipped model labelled them


def test_harvest_keeps_what_the_node_sees(harvested):
    """Per frame the files hold the clusters, labels and scores that Perception gives the node."""
    from t3d_ros.classify.classifier import SHIPPED_MODEL
    from t3d_ros.io.frames import read_points
    from t3d_ros.perception import Perception

    frames, out, rows = harvested
    per = Perception.from_params({}, model=SHIPPED_MODEL, device="cpu")
    for path in frames:
        res = per.process(read_points(path))
        kept = [(k, d) for k, d in enumerate(res.detections)
                if d.num_points >= 10 and np.hypot(*d.center[:2]) <= 80.0]
        mine = [r for r in rows if r["frame"] == f"rec_{path.stem}"]
        assert len(mine) == len(kept)
        for r, (k, d) in zip(mine, kept, strict=True):
            assert r["file"] == f"unsorted/rec_{path.stem}_{k:04d}.npy"
            assert (r["label"], int(r["points"])) == (d.label, d.num_points)
            assert r["guess"] == (d.guess or d.label) and float(r["score"]) == pytest.approx(d.score, abs=1e-3)
            np.testing.assert_array_equal(np.load(out / r["file"])[:, :3], res.segmentation.cluster(k)[:, :3])


def test_contact_sheets_are_real_pictures(harvested):
    import matplotlib.image as mpimg

    _, out, rows = harvested
    sheets = sorted(out.glob("sheet_*.png"))
    assert len(sheets) == math.ceil(len(rows) / 48)  # 48 clusters a sheet by default
    for path in sheets:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
        img = mpimg.imread(path)[..., :3]
        assert img.shape[0] > 250 and img.shape[1] > 800  # at least one row of 8 cells
        dark = (img.max(axis=2) < 0.1).mean()  # the cells' dark background
        assert 0.05 < dark < 0.9, f"{path.name}: {dark:.2f} dark"
        rgb = (img * 255).astype(np.int64)
        colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
        assert len(colours) > 20  # class colours, text, points: not one flat colour


def test_sorted_files_are_what_load_folder_and_load_data_read(harvested, tmp_path):
    from t3d_ros.offline.data import load_data
    from t3d_ros.offline.data.folder import load_folder

    _, out, _ = harvested
    root = tmp_path / "labelled"
    shutil.copytree(out, root)  # the module's harvest stays as it was for the other tests
    files = sorted((root / "unsorted").glob("*.npy"))
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        load_folder(root)  # only unsorted/ so far: nothing labelled
    picked = {"car": files[0:6], "pedestrian": files[10:14], "ignore": files[20:22]}
    moved = {}
    for cls, group in picked.items():
        (root / cls).mkdir()
        for f in group:
            dest = root / cls / f.name
            f.rename(dest)
            moved[dest.name] = (cls, np.load(dest))
    assert len(list((root / "unsorted").glob("*.npy"))) == len(files) - 12

    cs = load_folder(root)
    assert cs.class_names == ("car", "pedestrian") and len(cs) == 10
    assert cs.class_counts() == {"car": 6, "pedestrian": 4} and not cs.outlier.any()
    expected = [moved[f.name][1] for cls in ("car", "pedestrian") for f in picked[cls]]
    for i, pts in enumerate(expected):
        np.testing.assert_allclose(cs.cluster(i), pts, atol=1e-6)

    parts = [load_data(f"folder:{root}", split) for split in ("train", "val", "test")]
    assert [len(p) for p in parts] == [8, 1, 1]  # by file: 80 / 10 / 10 %
    loaded = sorted(np.round(p.cluster(i)[:, :3].sum(), 3) for p in parts for i in range(len(p)))
    assert loaded == sorted(np.round(a[:, :3].sum(), 3) for a in expected)
    assert all(p.class_names == ("car", "pedestrian") for p in parts)
    assert set(np.concatenate([p.meta["data_source"] for p in parts])) == {f"folder:{root}"}


def test_harvest_every_nth_frame_min_points_and_range(tmp_path):
    from t3d_ros.offline.harvest import contact_sheets, harvest
    from t3d_ros.perception import Perception
    from t3d_ros.segment.pipeline import PipelineConfig

    frames = [(f"f{i}", np.fromfile(p, "<f4").reshape(-1, 4))
              for i, p in enumerate(_sim_bins(tmp_path / "rec", seeds=(301, 302, 303)))]
    tilts = []
    got = harvest(iter(frames), Perception(PipelineConfig()), tmp_path / "out", min_points=50, max_range=30.0,
                  every=2, tilts=tilts)
    assert got and {h.frame for h in got} == {"f0", "f2"}
    assert len(tilts) == 2 and np.all(np.abs(tilts) < 3.0)  # the ground's lean in each harvested frame: level
    assert all(len(h.points) >= 50 and h.range_m <= 30.0 for h in got)
    assert all(h.label == UNKNOWN and h.guess == UNKNOWN and h.score == 1.0 for h in got)  # clustering only
    assert sorted((tmp_path / "out" / "unsorted").glob("*.npy")) == sorted(h.file for h in got)
    with open(tmp_path / "out" / "clusters.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(got)
    assert contact_sheets([], tmp_path / "out") == []
    plain = contact_sheets(got[:3], tmp_path / "new" / "dir", labels=False)  # made if missing; no labels
    assert len(plain) == 1 and plain[0].stat().st_size > 5_000


def test_harvest_only_the_labels_asked_for(harvested, tmp_path):
    """``--labels car,pedestrian``: only the clusters the node labels so (the same rows as the full
    harvest's of those labels); a word that is no label is refused with a clear line."""
    from t3d_ros.cli import main

    frames, _, rows = harvested
    wanted = ("car", "pedestrian")
    expected = sorted(r["file"] for r in rows if r["label"] in wanted)
    assert expected, "the two simulated frames should hold cars or pedestrians"
    out = tmp_path / "ru"
    assert main(["harvest", str(frames[0].parent), "--out", str(out), "--labels", " car, pedestrian"]) == 0
    with open(out / "clusters.csv", newline="") as f:
        got = list(csv.DictReader(f))
    assert sorted(r["file"] for r in got) == expected
    assert len(list((out / "unsorted").glob("*.npy"))) == len(expected) and list(out.glob("sheet_*.png"))
    assert main(["harvest", str(frames[0].parent), "--out", str(tmp_path / "bad"), "--labels", "car,bus"]) == 2


def test_real_neighbours_script_draws_each_cluster_with_its_nearest_simulated_ones(harvested, tmp_path, capsys):
    """scripts/real_neighbours.py on a harvest folder: one row per cluster (itself, then its nearest
    simulated clusters), printed neighbour classes, and a picture."""
    import importlib.util

    from conftest import REPO
    from PIL import Image

    frames, out, rows = harvested
    spec = importlib.util.spec_from_file_location("real_neighbours", REPO / "scripts" / "real_neighbours.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    png = tmp_path / "nn.png"
    code = mod.main([str(out), "--labels", ",".join(CLASSES), "--sim-seeds", "20", "--cache", str(tmp_path / "cache"),
                     "--rows", "2", "--show", "2", "--k", "5", "--out", str(png)])
    assert code == 0
    with Image.open(png) as im:
        w, h = im.size
    assert w > h / 3 > 100  # 3 columns, 2 rows of (top, side) views
    assert mod.main([str(out), "--labels", "car", "--min-range", "1000", "--out", str(png)]) == 1  # nothing that far
    # the census: every harvested cluster, by range, against the simulated ones of a sensor
    capsys.readouterr()
    assert mod.main([str(out), "--census", "vegetation", "--census-sensor", "vlp16", "--sim-seeds", "20",
                     "--cache", str(tmp_path / "cache"), "--k", "5"]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| range | real clusters a frame | vegetation-like a frame") and len(table) == 3
    assert table[1].startswith("| 5-20 m | ") and table[2].startswith("| 20-45 m | ")
    assert mod.main([str(out), "--census", "bicycle"]) == 2
