"""The multi-object tracker (t3d_ros.track): ids, velocities, births and deaths, label voting, resets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from t3d_ros.detection import Detection
from t3d_ros.track import TrackedObject, Tracker, TrackerConfig
from t3d_ros.track.kalman import ConstantVelocityKF

DT = 0.1  # 10 Hz


def det(x: float, y: float, label: str = "car", score: float = 0.9, yaw: float = 0.0, guess: str = "") -> Detection:
    return Detection(label=label, score=score, center=np.array([x, y, 0.8]), size=np.array([4.5, 1.8, 1.5]),
                     yaw=yaw, num_points=100, guess=guess, unknown_reason="low score" if guess else "")


def run_one(tracker: Tracker, frames: list[Detection | None], t0: float = 0.0) -> list[TrackedObject | None]:
    """One object over frames (None: not detected); the tracker's view of it per frame."""
    out = []
    for k, d in enumerate(frames):
        res = tracker.update([] if d is None else [d], t0 + k * DT)
        out.append(res[0] if res else None)
    return out


@pytest.mark.parametrize("gate_m", [2.0, 4.0])  # 4 m: at the crossing both detections are inside both gates
def test_crossing_objects_keep_their_ids_and_velocities(gate_m: float) -> None:
    rng = np.random.default_rng(7)
    tracker = Tracker(TrackerConfig(gate_m=gate_m))
    truth_v = {"a": np.array([10.0, 0.0]), "b": np.array([-10.0, 0.0])}
    ids: dict[str, set[int]] = {"a": set(), "b": set()}
    for k in range(30):
        pos = {"a": np.array([-15.0, 0.0]) + truth_v["a"] * k * DT, "b": np.array([15.0, 3.0]) + truth_v["b"] * k * DT}
        names = list(rng.permutation(["a", "b"]))  # the input order changes from frame to frame
        dets = [det(*(pos[n] + rng.normal(0.0, 0.1, 2))) for n in names]
        res = tracker.update(dets, k * DT)
        assert len(res) == 2
        for n, r in zip(names, res, strict=True):
            assert r.velocity.shape == (2,) and 0.0 <= r.score <= 1.0
            assert r.hits == k + 1 and r.age == k
            if k >= 1:  # confirmed from the second frame (min_hits 2)
                ids[n].add(r.track_id)
            if k >= 10:
                assert np.linalg.norm(r.velocity - truth_v[n]) < 1.0, (k, n, r.velocity)
    assert len(ids["a"]) == 1 and len(ids["b"]) == 1 and ids["a"] != ids["b"], ids
    assert ids["a"] | ids["b"] == {1, 2} and len(tracker.tracks) == 2


def test_fast_object_is_confirmed_only_with_the_widened_birth_gate() -> None:
    frames = [det(25.0 * k * DT, 0.0) for k in range(6)]  # 2.5 m a frame: beyond gate_m of a standing prediction
    fast = run_one(Tracker(), frames)
    assert [r.track_id for r in fast] == [0, 1, 1, 1, 1, 1]
    assert abs(fast[-1].velocity[0] - 25.0) < 3.0
    off = run_one(Tracker(TrackerConfig(max_speed=0.0)), frames)
    assert all(r.track_id == 0 and r.hits == 1 for r in off)


def test_misses_keep_the_id_up_to_max_misses_then_a_new_id() -> None:
    v = 8.0  # m/s: after 3 missed frames the object is 3.2 m from where it was last seen (> gate)
    seen = [det(v * k * DT, 0.0) for k in range(5)]
    back = det(v * 8 * DT, 0.0)
    kept = run_one(Tracker(TrackerConfig(max_misses=3)), [*seen, None, None, None, back])
    assert kept[4].track_id == 1 and kept[-1].track_id == 1 and kept[-1].hits == 6

    tracker = Tracker(TrackerConfig(max_misses=3))
    res = run_one(tracker, [*seen, None, None, None])
    assert len(tracker.tracks) == 1 and tracker.tracks[0].track_id == 1 and tracker.tracks[0].misses == 3
    assert tracker.update([], 8 * DT) == [] and tracker.tracks == []  # the 4th missed frame ends it
    res = [tracker.update([det(v * k * DT, 0.0)], k * DT)[0] for k in (9, 10)]
    assert [r.track_id for r in res] == [0, 2]  # a new track, a new id


def test_tentative_tracks_have_id_zero_until_min_hits_and_die_at_their_first_miss() -> None:
    res = run_one(Tracker(TrackerConfig(min_hits=3)), [det(0, 0), det(0, 0), det(0, 0), det(0, 0)])
    assert [r.track_id for r in res] == [0, 0, 1, 1] and [r.hits for r in res] == [1, 2, 3, 4]
    tracker = Tracker(TrackerConfig(min_hits=3, max_misses=5))
    res = run_one(tracker, [det(0, 0), det(0, 0), None, det(0, 0), det(0, 0), det(0, 0)])
    assert [r.track_id if r else None for r in res] == [0, 0, None, 0, 0, 1]  # the miss restarted the count
    assert run_one(Tracker(TrackerConfig(min_hits=1)), [det(0, 0)])[0].track_id == 1


def test_label_votes_over_frames() -> None:
    labels = [("car", 0.9)] * 3 + [("pedestrian", 0.6), ("car", 0.9)]
    res = run_one(Tracker(), [det(0, 0, label=lab, score=s) for lab, s in labels])
    assert [r.label for r in res] == ["car"] * 5 and res[3].score < res[2].score

    flipping = [det(0, 0, label=("car", "pedestrian")[k % 2], score=0.8) for k in range(20)]
    res = run_one(Tracker(), flipping)
    changes = sum(a.label != b.label for a, b in zip(res, res[1:], strict=False))
    # the second detection takes the class of most evidence (no hysteresis yet), then it holds
    assert changes <= 2 and len({r.label for r in res[2:]}) == 1, [r.label for r in res]

    # Hysteresis is not deafness: a real change of class wins within a few frames.
    res = run_one(Tracker(), [det(0, 0, label="car")] * 5 + [det(0, 0, label="pedestrian")] * 10)
    assert res[4].label == "car" and res[-1].label == "pedestrian" and res[-1].score > 0.8


def test_unknown_detections_vote_unknown_never_for_their_guess() -> None:
    # The open-set decision of every frame stands: a track of frames the model did not trust says
    # unknown, whatever the network guessed.
    res = run_one(Tracker(), [det(0, 0, label="unknown", score=0.8, guess="truck")] * 3)
    assert res[-1].label == "unknown" and res[-1].score == pytest.approx(1.0)
    res = run_one(Tracker(), [det(0, 0, label="unknown", score=0.8)] * 3)
    assert res[-1].label == "unknown"
    # two trusted car frames outweigh three unknown ones (0.9 each against 0.5 each, decayed)
    frames = [det(0, 0, label="unknown", score=0.3, guess="car")] * 3 + [det(0, 0)] * 2
    assert run_one(Tracker(), frames)[-1].label == "car"
    # a car seen once as unknown-with-guess-pedestrian stays a car
    frames = [det(0, 0)] * 3 + [det(0, 0, label="unknown", score=0.9, guess="pedestrian"), det(0, 0)]
    assert {r.label for r in run_one(Tracker(), frames)} == {"car"}



def test_a_class_needs_min_label_hits_frames_before_it_is_published() -> None:
    from t3d_ros.perception import with_tracks

    cfg = TrackerConfig(min_label_hits=2)
    # one confident cyclist frame among unknown ones: the track never carries it
    frames = [det(0, 0, label="unknown", score=0.5)] + [det(0, 0, label="cyclist", score=0.99)] + \
        [det(0, 0, label="unknown", score=0.5)] * 2
    res = run_one(Tracker(cfg), frames)
    assert [r.label for r in res] == ["unknown"] * 4
    assert res[1].withheld == "cyclist" and res[0].withheld == ""
    assert run_one(Tracker(), frames)[1].label == "cyclist"  # the default (1): at once, as before
    # a car seen twice is a car from its second frame on, the first frame says unknown with the guess
    tracker = Tracker(cfg)
    outs = [with_tracks([d], tracker.update([d], k * DT))[0] for k, d in enumerate([det(0, 0)] * 3)]
    assert [o.label for o in outs] == ["unknown", "car", "car"]
    assert outs[0].guess == "car" and "track_min_label_hits" in outs[0].unknown_reason
    assert outs[0].frame_label == "car" and outs[0].track_id == 0  # tentative: the frame's own label kept beside
    assert outs[1].track_id > 0 and outs[1].unknown_reason == "" and outs[1].frame_label == ""
    # withheld on a confirmed track: its id, velocity and the frame's label stay
    tracker = Tracker(cfg)
    frames = [det(0, 0, label="unknown", score=0.5), det(0.1, 0, label="pedestrian", score=0.95)]
    outs = [with_tracks([d], tracker.update([d], k * DT))[0] for k, d in enumerate(frames)]
    assert outs[1].track_id > 0 and outs[1].label == "unknown" and outs[1].guess == "pedestrian"
    assert outs[1].frame_label == "pedestrian" and outs[1].velocity[0] > 0


@pytest.mark.parametrize("seed", range(6))
def test_the_vote_changes_only_where_the_frame_label_does(seed: int) -> None:
    """The bound the tracking bench reports (``track_label_changes``) holds for any label sequence:
    the vote switches only in a frame whose own label is the new one, so along a track it changes at
    most as often as the frame labels, plus one where its first confirmed vote differs from that
    frame's own label."""
    from t3d_ros.bench.tracking import track_label_changes
    from t3d_ros.perception import with_tracks

    rng = np.random.default_rng(seed)
    classes = ["car", "pedestrian", "cyclist", "unknown"]
    tracker = Tracker(TrackerConfig(max_misses=3))
    outputs = []
    for k in range(60):
        if rng.random() < 0.15:  # missed frames: the evidence decays, no detection adds to it
            tracker.update([], k * DT)
            continue
        d = det(0.0, 0.0, label=str(rng.choice(classes, p=[0.5, 0.25, 0.15, 0.1])), score=float(rng.uniform(0.3, 1)))
        out = with_tracks([d], tracker.update([d], k * DT))[0]
        if out.track_id:
            outputs.append(out)
    assert len({d.track_id for d in outputs}) == 1 and len(outputs) > 30
    counts = track_label_changes([outputs])
    assert counts["frame_label_changes"] > 5  # a noisy track, so the bound is tested
    assert counts["vote_changes"] <= counts["frame_label_changes"] + counts["first_vote_differs"], counts
    for a, b in zip(outputs, outputs[1:], strict=False):
        if a.label != b.label:
            assert (b.frame_label or b.label) == b.label  # switched in a frame labelled with the new class

def test_yaw_is_smoothed_across_the_wrap_and_the_box_flip() -> None:
    yaws = [math.pi - 0.05, -math.pi + 0.05, -0.05, 0.05 - math.pi, math.pi - 0.02]  # all about the same heading
    res = run_one(Tracker(), [det(0, 0, yaw=y) for y in yaws])
    for r in res:
        assert -math.pi <= r.yaw < math.pi
        assert abs(math.remainder(r.yaw - math.pi, 2 * math.pi)) < 0.1, r.yaw  # a naive mean would be near 0
    res = run_one(Tracker(TrackerConfig(yaw_gain=0.5)), [det(0, 0, yaw=0.0), det(0, 0, yaw=1.0)])
    assert res[1].yaw == pytest.approx(0.5)


def test_time_going_back_or_a_long_gap_resets_and_ids_are_not_reused() -> None:
    tracker = Tracker(TrackerConfig(reset_after_s=2.0))
    assert [r.track_id for r in run_one(tracker, [det(0, 0)] * 2, t0=10.0)] == [0, 1]
    assert tracker.update([det(0, 0)], 11.9)[0].track_id == 1  # a 1.8 s gap is within reset_after_s
    assert tracker.update([det(0, 0)], 14.0)[0].track_id == 0  # 2.1 s: a new tentative track
    assert tracker.update([det(0, 0)], 14.1)[0].track_id == 2
    assert tracker.update([det(0, 0)], 14.1)[0].track_id == 2  # the same stamp again: no reset
    assert tracker.update([det(0, 0)], 5.0)[0].track_id == 0  # time went back (a bag looping)
    assert len(tracker.tracks) == 1
    assert tracker.update([det(0, 0)], 5.1)[0].track_id == 3
    tracker.reset()
    assert tracker.tracks == []
    assert [r.track_id for r in run_one(tracker, [det(0, 0)] * 2, t0=5.2)] == [0, 4]
    with pytest.raises(ValueError, match="stamp_s"):
        tracker.update([], float("nan"))


def test_empty_frames_and_many_detections() -> None:
    tracker = Tracker()
    assert tracker.update([], 0.0) == [] and tracker.tracks == []
    grid = [(3.0 * (i % 20), 3.0 * (i // 20)) for i in range(200)]
    assert all(r.track_id == 0 for r in tracker.update([det(x, y) for x, y in grid], 0.1))
    res = tracker.update([det(x, y) for x, y in grid], 0.2)
    assert len(res) == 200 and sorted(r.track_id for r in res) == list(range(1, 201))
    res2 = tracker.update([det(x + 0.2, y) for x, y in reversed(grid)], 0.3)
    assert [r.track_id for r in res2] == [r.track_id for r in reversed(res)]
    assert tracker.update([], 0.4) == [] and len(tracker.tracks) == 200  # coasting
    bad = det(0, 0)
    bad.center = np.array([np.nan, 0.0, 0.0])
    assert tracker.update([bad], 0.5)[0].track_id == 0 and len(tracker.tracks) == 200


@pytest.mark.parametrize(("field", "value", "message"), [
    ("gate_m", 0.0, "gate_m=0.0: must be > 0"),
    ("min_hits", 0, "min_hits=0: must be >= 1"),
    ("min_hits", 2.5, "min_hits=2.5: must be an integer"),
    ("min_label_hits", 0, "min_label_hits=0: must be >= 1"),
    ("reset_share", 1.0, "reset_share=1.0: must be in [0, 1)"),
    ("max_misses", -1, "max_misses=-1: must be >= 0"),
    ("evidence_decay", 1.5, "evidence_decay=1.5: must be in (0, 1]"),
    ("meas_std", float("nan"), "meas_std=nan: must be a finite number"),
    ("reset_after_s", -2.0, "reset_after_s=-2.0: must be > 0"),
])
def test_config_validation_names_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as e:
        Tracker(TrackerConfig(**{field: value}))
    assert message in str(e.value) and "\n" not in str(e.value)
    TrackerConfig().validate()


def test_kalman_filter_converges_on_a_constant_velocity() -> None:
    rng = np.random.default_rng(3)
    kf = ConstantVelocityKF(np.zeros(2), accel_std=2.0, meas_std=0.3)
    for k in range(1, 30):
        kf.predict(DT)
        S = kf.innovation_cov()
        assert S.shape == (2, 2) and np.all(np.linalg.eigvalsh(S) > 0.3**2)
        kf.update(np.array([3.0, -4.0]) * k * DT + rng.normal(0.0, 0.1, 2))
    assert np.allclose(kf.velocity, [3.0, -4.0], atol=0.5) and np.allclose(kf.P, kf.P.T)


def _reference_step(x, P, dt, z, accel_std=2.0, meas_std=0.3):
    """The textbook 4 x 4 constant-velocity filter: predict by dt, then update with z (or not)."""
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    q = accel_std**2 * np.array([[dt**4 / 4, dt**3 / 2], [dt**3 / 2, dt**2]])
    Q = np.zeros((4, 4))
    Q[np.ix_([0, 2], [0, 2])] = Q[np.ix_([1, 3], [1, 3])] = q
    x, P = F @ x, F @ P @ F.T + Q
    if z is not None:
        H = np.eye(2, 4)
        R = np.eye(2) * meas_std**2
        K = P @ H.T @ np.linalg.inv(H @ P @ H.T + R)
        x = x + K @ (z - H @ x)
        A = np.eye(4) - K @ H
        P = A @ P @ A.T + K @ R @ K.T
    return x, P


def test_filter_equals_the_4x4_reference() -> None:
    """The per-axis closed form gives the same state and covariance as the full matrix filter."""
    rng = np.random.default_rng(1)
    kf = ConstantVelocityKF(np.array([1.0, 2.0]), accel_std=2.0, meas_std=0.3)
    x, P = kf.x, kf.P
    for k in range(40):
        dt = float(rng.uniform(0.0, 0.3))
        z = rng.normal(size=2) * 3 if k % 3 else None
        kf.predict(dt)
        if z is not None:
            kf.update(z)
        x, P = _reference_step(x, P, dt, z)
        assert np.allclose(kf.x, x, atol=1e-9) and np.allclose(kf.P, P, atol=1e-9)


def test_node_parameters_make_the_tracker_config() -> None:
    from t3d_ros.config import tracker_config

    assert tracker_config({}).min_label_hits == 1
    assert tracker_config({"track_min_label_hits": 2, "track_min_hits": 3}).min_label_hits == 2
    assert tracker_config({"tracking": False}) is None
    with pytest.raises(ValueError, match="min_label_hits=0"):
        tracker_config({"track_min_label_hits": 0})


def test_a_frame_of_another_scene_starts_the_tracks_over() -> None:
    grid = [(10.0 * i, 5.0 * j) for i in range(3) for j in range(2)]  # six objects, 10 and 5 m apart
    tracker = Tracker()
    for k in range(3):
        out = tracker.update([det(x, y) for x, y in grid], k * DT)
    assert all(o.track_id > 0 for o in out) and tracker.continuity == (6, 6)
    # five of six continue (one hidden): the same scene
    tracker.update([det(x, y) for x, y in grid[:5]], 3 * DT)
    assert tracker.scene_resets == 0 and tracker.continuity == (5, 6)
    # another street: one object lies near an old track by chance, the rest nowhere near
    other = [(0.5, 0.3, "vegetation"), (3.0, 40.0, "pedestrian"), (-20.0, -20.0, "structure"), (50.0, 3.0, "pole"),
             (-30.0, 10.0, "vegetation"), (25.0, -15.0, "structure")]
    out = tracker.update([det(x, y, label=lab) for x, y, lab in other], 4 * DT)
    assert tracker.scene_resets == 1 and tracker.continuity == (1, 6)
    assert [o.track_id for o in out] == [0] * 6  # every track new: tentative
    assert [o.label for o in out] == [lab for _, _, lab in other]  # no car vote lent to the bush at (0.5, 0.3)
    assert len(tracker.tracks) == 6
    # an empty or nearly empty cloud (a blocked sensor) lets the tracks coast
    tracker = Tracker()
    for k in range(3):
        tracker.update([det(x, y) for x, y in grid], k * DT)
    tracker.update([], 3 * DT)
    tracker.update([det(x, y) for x, y, _ in other[1:3]], 4 * DT)  # 2 detections for 6 tracks: not judged
    assert tracker.scene_resets == 0 and sum(t.track_id > 0 for t in tracker.tracks) == 6
    tracker.update([det(x, y) for x, y, _ in other[1:4]], 5 * DT)  # 3, all elsewhere: judged, another scene
    assert tracker.scene_resets == 1 and len(tracker.tracks) == 3
    # 0 = off: the bush continues the old car track and takes its label
    tracker = Tracker(TrackerConfig(reset_share=0.0))
    for k in range(3):
        tracker.update([det(x, y) for x, y in grid], k * DT)
    out = tracker.update([det(x, y, label=lab) for x, y, lab in other], 3 * DT)
    assert out[0].track_id > 0 and out[0].label == "car" and tracker.scene_resets == 0


def test_a_track_of_two_detections_takes_the_class_of_most_evidence() -> None:
    # No hysteresis before a track's third detection: an unrelated cluster that continues a track by chance
    # (a bush where a car stood) does not inherit the car's label from one frame of evidence.
    res = run_one(Tracker(), [det(0, 0, label="car", score=0.8), det(0, 0, label="vegetation", score=0.95)])
    assert [r.label for r in res] == ["car", "vegetation"]
    # from the third on, hysteresis: one frame of another class does not switch it
    res = run_one(Tracker(), [det(0, 0, label="car", score=0.8)] * 2 + [det(0, 0, label="vegetation", score=0.95)])
    assert [r.label for r in res] == ["car"] * 3


def test_after_a_scene_reset_the_next_frame_is_checked_once() -> None:
    rng = np.random.default_rng(5)
    scenes = [rng.uniform(-40, 40, (30, 2)) for _ in range(4)]  # four unrelated streets, 30 objects each
    tracker = Tracker()
    for k in range(3):
        tracker.update([det(x, y) for x, y in scenes[0]], k * DT)
    tracker.update([det(x, y) for x, y in scenes[1]], 3 * DT)  # another street: reset
    assert tracker.scene_resets == 1
    tracker.update([det(x, y) for x, y in scenes[2]], 4 * DT)  # a third: its chance matches do not confirm
    assert tracker.scene_resets == 2 and all(t.track_id == 0 for t in tracker.tracks)
    # A vehicle at 25 m/s without odometry: its standing objects move 2.5 m a frame, beyond the plain gate.
    # After a reset (and the one check that follows) its tracks are confirmed again, not reset every frame.
    fast = Tracker()
    street = scenes[3]
    for k in range(4):
        fast.update([det(x - 2.5 * k, y) for x, y in street], k * DT)
    fast.update([det(x, y) for x, y in scenes[0]], 4 * DT)  # a jump in the data
    outs = [fast.update([det(x - 2.5 * k, y) for x, y in street], k * DT) for k in range(5, 10)]
    assert fast.scene_resets <= 2
    assert sum(o.track_id > 0 for o in outs[-1]) > 20
