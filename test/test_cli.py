"""``python -m t3d_ros sim`` and ``detect`` as a user runs them."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import KITTI_ROOT, REPO, needs_kitti

from t3d_ros.classes import CLASSES, UNKNOWN


def _run(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "t3d_ros", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _check_frame_doc(doc: dict, frame: str) -> None:
    assert doc["frame"] == frame
    assert set(doc) == {"frame", "detections", "timing_ms"}
    assert doc["detections"], "no detections"
    for d in doc["detections"]:
        base = {"label", "score", "center", "size", "yaw", "num_points"}
        # a label lowered to unknown (threshold, size check) also says what the network guessed and why
        keys = set(d) - {"clearance"}  # the lowest return above the ground, where ground was seen near it
        assert keys == base or (keys == base | {"guess", "unknown_reason"} and d["label"] == "unknown"), d
        assert "clearance" not in d or -1.0 < d["clearance"] < 10.0, d
        assert isinstance(d["label"], str) and 0.0 <= d["score"] <= 1.0
        assert len(d["center"]) == 3 and len(d["size"]) == 3 and all(s >= 0 for s in d["size"])
        assert isinstance(d["num_points"], int) and d["num_points"] > 0
    assert all(isinstance(v, float) and v >= 0 for v in doc["timing_ms"].values())


def test_sim_then_detect_on_its_files(tmp_path):
    proc = _run("sim", "--sensor", "vlp16", "--frames", "2", "--seed", "7", "--out", str(tmp_path / "sim"))
    assert proc.returncode == 0, proc.stderr
    bins = sorted((tmp_path / "sim").glob("*.bin"))
    assert len(bins) == 2
    objects = json.loads(bins[0].with_name(bins[0].name.replace(".bin", ".objects.json")).read_text())
    assert objects and {"label", "center", "size", "yaw"} <= set(objects[0])
    out = tmp_path / "det.json"
    proc = _run("detect", *map(str, bins), "--json", str(out), "--png", str(tmp_path / "png"))
    assert proc.returncode == 0, proc.stderr
    # No --params, no --model: the shipped model, as the node uses it, and a line that says so.
    assert "labels: classifier t3d_tiny" in proc.stderr and "params: the defaults" in proc.stderr
    docs = json.loads(out.read_text())
    assert isinstance(docs, list) and len(docs) == 2
    for doc, path in zip(docs, bins, strict=True):
        _check_frame_doc(doc, str(path))
    dets = [d for doc in docs for d in doc["detections"]]
    assert all(d["label"] != UNKNOWN or "guess" in d for d in dets)  # the network saw every cluster
    assert any(d["label"] != UNKNOWN for d in dets)
    assert len(list((tmp_path / "png").glob("*.png"))) == 2
    assert "leans" not in proc.stderr  # a level sensor: no word on its mounting


def test_detect_tracks_a_sequence_as_the_node_does(tmp_path):
    proc = _run("sim", "--sensor", "vlp16", "--sequence", "4", "--seed", "3", "--ego-speed", "0",
                "--out", str(tmp_path / "seq"))
    assert proc.returncode == 0, proc.stderr
    bins = sorted((tmp_path / "seq").glob("*.bin"))
    assert len(bins) == 4
    out = tmp_path / "det.json"
    assert _run("detect", *map(str, bins), "--json", str(out), "--track").returncode == 0
    docs = json.loads(out.read_text())
    first, later = docs[0]["detections"], [d for doc in docs[1:] for d in doc["detections"]]
    assert not any("track_id" in d for d in first)  # every track is tentative in the first frame
    tracked = [d for d in later if "track_id" in d]
    assert len(tracked) > 0.5 * len(later) and all(len(d["velocity"]) == 2 for d in tracked)
    # a standing sensor: the ids carry on from frame to frame
    ids = [{d["track_id"] for d in doc["detections"] if "track_id" in d} for doc in docs[1:]]
    assert len(ids[0] & ids[-1]) > 0.5 * len(ids[0])
    # the params' track_min_label_hits: no class is published from a single frame
    params = tmp_path / "p.yaml"
    params.write_text((REPO / "config" / "perception.yaml").read_text().replace(
        "track_min_label_hits: 1", "track_min_label_hits: 2"))
    out2 = tmp_path / "det2.json"
    proc = _run("detect", *map(str, bins), "--json", str(out2), "--track", "--params", str(params))
    assert proc.returncode == 0, proc.stderr
    docs2 = json.loads(out2.read_text())
    assert all(d["label"] == UNKNOWN for d in docs2[0]["detections"])
    assert any(d["label"] != UNKNOWN and "too few frames" not in d.get("unknown_reason", "") for d in first)
    held = [d for d in docs2[0]["detections"] if d.get("guess") and "track_min_label_hits" in d["unknown_reason"]]
    assert len(held) == sum(d["label"] != UNKNOWN for d in first)
    assert any(d["label"] != UNKNOWN for d in docs2[1]["detections"])


def test_detect_names_the_angles_of_a_tilted_sensor_and_takes_them(tmp_path):
    """A frame from a sensor pitched 8 degrees down: detect with the level params says which angles to
    set; with them in --params it says nothing, and every detection carries its box's orientation in
    the cloud's frame."""
    from t3d_ros.offline.sim import simulate
    from t3d_ros.segment.level import mount_rotation, turn_points

    _, frame = simulate(300_001, "hdl64")
    tilted = turn_points(np.c_[frame.xyz, frame.intensity].astype(np.float32), mount_rotation(0.0, 8.0).T)
    tilted.tofile(tmp_path / "000000.bin")
    proc = _run("detect", str(tmp_path / "000000.bin"), "--json", str(tmp_path / "level.json"))
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"set sensor_roll_deg: (\S+) and sensor_pitch_deg: (\S+) ", proc.stderr)
    assert found, proc.stderr
    assert abs(float(found.group(1))) < 2.5 and abs(float(found.group(2)) - 8.0) < 2.5, found.group(0)
    params = (REPO / "config" / "perception.yaml").read_text().replace("sensor_pitch_deg: 0.0", "sensor_pitch_deg: 8.0")
    (tmp_path / "tilted.yaml").write_text(params)
    proc = _run("detect", str(tmp_path / "000000.bin"), "--json", str(tmp_path / "told.json"),
                "--params", str(tmp_path / "tilted.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert "leans" not in proc.stderr, proc.stderr
    dets = json.loads((tmp_path / "told.json").read_text())["detections"]
    assert len(dets) > 10 and all(len(d["orientation"]) == 4 for d in dets)


@needs_kitti
def test_detect_on_a_kitti_frame_writes_json_and_png(tmp_path):
    frame = str(KITTI_ROOT / "velodyne" / "000000.bin")
    proc = _run("detect", frame, "--json", str(tmp_path / "d.json"), "--png", str(tmp_path / "bev.png"),
                "--params", str(REPO / "config" / "perception.yaml"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "d.json").read_text())
    _check_frame_doc(doc, frame)
    assert (tmp_path / "bev.png").stat().st_size > 10_000
    assert {d["label"] for d in doc["detections"]} <= set(CLASSES) | {UNKNOWN}
    proc = _run("detect", frame, "--json", str(tmp_path / "u.json"), "--model", "")  # clustering only
    assert proc.returncode == 0, proc.stderr
    assert "labels: clustering only" in proc.stderr
    doc = json.loads((tmp_path / "u.json").read_text())
    assert doc["detections"] and all(d["label"] == UNKNOWN and d["score"] == 1.0 for d in doc["detections"])


def test_detect_reports_a_bad_file_clearly(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(np.zeros(3, np.float32).tobytes())
    proc = _run("detect", str(bad))
    assert proc.returncode != 0
    assert "16-byte" in proc.stderr and "Traceback" not in proc.stderr


def _documented_commands() -> list[tuple[str, list[str]]]:
    """(where, arguments) of every `python -m t3d_ros <command> ...` line that starts a line of a
    shell code block in the README and docs/ (continuation lines joined, comments and optional
    `[...]` parts dropped; lines with `...` or `<...>` placeholders left out)."""
    import re
    import shlex

    found = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        block, lang = None, ""
        for line in path.read_text().splitlines():
            if line.startswith("```"):
                if block is None:
                    block, lang = [], line[3:].strip()
                    continue
                if lang in ("", "bash", "sh", "shell", "console"):
                    for cmd in "\n".join(block).replace("\\\n", " ").splitlines():
                        m = re.match(r"\s*(?:\.venv/bin/)?python -m t3d_ros (\S.*)", cmd)
                        if m and "..." not in cmd and "<" not in cmd:
                            text = re.sub(r"\[[^\]]*\]", "", m.group(1).split(" #", 1)[0])
                            found.append((f"{path.name}: {cmd.strip()}", shlex.split(text)))
                block = None
            elif block is not None:
                block.append(line)
    return found


def test_every_documented_command_line_parses():
    """Each command line the README and docs/ show is accepted by the real parser: no documented option
    that does not exist (the training command of the README once crashed; docs/cli.md's training
    commands also run, in test_train.py)."""
    from t3d_ros.cli import build_parser

    parser, commands, _ = build_parser()
    found = _documented_commands()
    assert len(found) >= 15, found
    for where, args in found:
        try:
            parsed = parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"documented command does not parse: {where}")
        assert parsed.command in commands, where
