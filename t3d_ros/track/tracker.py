"""Multi-object tracking of detections over frames: stable ids, velocities, labels that do not flicker.

Each track has a constant-velocity Kalman filter on its box centre (``kalman.py``: state x, y [m],
vx, vy [m/s]), a smoothed heading [rad], and class evidence. Per frame (``Tracker.update``):

1. Time: dt = stamp - previous stamp [s]. dt < 0 (time went back: a bag looping) or dt >
   ``reset_after_s`` (a pause) drops every track first; ids are never reused, also not after that.
   dt == 0 (the same stamp again: a cloud sent twice) is a frame without motion.
2. Predict every track by dt; its class evidence decays by ``evidence_decay``.
3. Associate: cost = xy distance from a track's predicted centre to a detection's centre; pairs
   beyond the gate are forbidden; the assignment (Hungarian, scipy) minimises the total cost. The
   gate is ``gate_m``, and ``gate_m + max_speed * dt`` for a track with one detection (its velocity
   is not known yet, so it is predicted standing still): else nothing faster than gate_m / dt
   (20 m/s at 10 Hz; also static objects seen from a vehicle that fast) would ever be confirmed.
   Scene change: when fewer than ``reset_share`` of the confirmed tracks (at least ``RESET_MIN_TRACKS``)
   find a detection in a frame of at least half as many detections (an empty or half-blocked cloud
   lets the tracks coast), the frame shows another scene (independent frames fed as a sequence, a bag that
   jumps; consecutive frames continue 0.5-0.9 of them, also turning at 30 deg/s without odometry, unrelated
   ones 0-0.3): every track is dropped and the frame starts new ones, so that no track lends its label to
   an unrelated object it met by chance. The next frame checks those new, tentative tracks the same way,
   with their first gate not widened; once, so that a fast vehicle without odometry is not reset every
   frame.
4. A matched track takes the detection (filter update, evidence, heading); after ``min_hits``
   detections it is confirmed and gets the next id (1, 2, ...). An unmatched tentative track is
   deleted at once, a confirmed one after more than ``max_misses`` missed frames in a row. Every
   unmatched detection starts a tentative track (id 0 until confirmed).

Class evidence: a dict class -> weight. A detection adds its ``score`` to its label; an ``unknown``
detection adds 0.5 to ``unknown`` (never to the network's ``guess``: the frame's open-set decision,
a score below its class threshold or an implausible size, is kept, and a track of untrusted frames
stays ``unknown``). The track's label
is the class of most evidence, with hysteresis from its third detection on: the current label stays
until another class has more than ``label_switch_ratio`` times its evidence (a label alternating every
frame between two classes of equal score gives a ratio of only 1 / evidence_decay, so the track keeps
one of them). A track of two detections takes the class of most evidence: one confident frame does not
hold a label against the next (a cluster that continued a track by chance, after a jump in the data).
Its score is the label's share of the total evidence, in [0, 1].

Heading: a box's yaw is defined modulo pi (it has no front), so a measured yaw within 90 degrees of
the track's yaw + pi is flipped by pi first; then the track's yaw moves ``yaw_gain`` of the way to it
along the shorter arc (wrapped to [-pi, pi)). The heading is not tied to the direction of motion.

Ego motion (``ego.py``): given the sensor's pose in a fixed frame at each frame (``update(...,
ego=pose)``, from the vehicle's odometry), the tracks live in that fixed frame: the detections' centres
and headings are moved into it before the association and the filter, so standing objects stand still
also in turns, and the velocities are over the ground; the outputs (velocity, yaw) are turned back into
the sensor's axes of that frame. Without it (``ego=None``) the tracks live in the cloud's frame: on a
moving vehicle standing objects move at minus the ego velocity, which the constant-velocity model
follows on a straight road and badly in a turn. A tracker switched from one to the other (odometry
starts or stops) drops its tracks: they are in the other frame.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
from scipy.optimize import linear_sum_assignment

from t3d_ros.classes import UNKNOWN
from t3d_ros.detection import Detection
from t3d_ros.track.ego import Pose2D, wrap_angle
from t3d_ros.track.kalman import ConstantVelocityKF

_FORBIDDEN = 1e9  # cost of a pair beyond the gate: the assignment takes it only when it must, then drops it
_UNKNOWN_WEIGHT = 0.5  # the vote of an "unknown" detection (for "unknown")
RESET_MIN_TRACKS = 5  # confirmed tracks needed before a frame that continues few of them resets the tracker


@dataclass
class TrackerConfig:
    """Parameters of ``Tracker``; ``validate`` checks them."""

    gate_m: float = 2.0  # largest centre distance [m] at which a detection can continue a track
    min_hits: int = 2  # detections before a track is confirmed (gets an id that is published)
    max_misses: int = 3  # frames in a row without a detection before a track is deleted
    accel_std: float = 2.0  # process noise of the constant-velocity model [m/s^2]
    meas_std: float = 0.3  # measurement noise of a box centre [m]
    evidence_decay: float = 0.9  # per frame; how fast old class evidence fades
    reset_after_s: float = 2.0  # a time gap larger than this (or time going back) clears all tracks
    label_switch_ratio: float = 1.5  # another class needs this times the label's evidence to take over
    max_speed: float = 30.0  # [m/s] widens the gate of one-detection tracks by max_speed * dt; 0 = off
    yaw_gain: float = 0.5  # share of the (wrapped, flip-corrected) yaw difference taken per detection
    min_label_hits: int = 1  # detections with a class before the track may carry it; before, "unknown"
    reset_share: float = 0.2  # fewer of the confirmed tracks than this share find a detection: start over; 0 = off

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field, its value and the allowed range."""
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(f.default, int) and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
                raise ValueError(f"{f.name}={v!r}: must be an integer")
            if isinstance(f.default, float) and (isinstance(v, bool) or not isinstance(v, numbers.Real)
                                                 or not math.isfinite(v)):
                raise ValueError(f"{f.name}={v!r}: must be a finite number")
        checks = (("gate_m", self.gate_m > 0, "> 0 m"), ("min_hits", self.min_hits >= 1, ">= 1"),
                  ("min_label_hits", self.min_label_hits >= 1, ">= 1"),
                  ("max_misses", self.max_misses >= 0, ">= 0"), ("accel_std", self.accel_std > 0, "> 0 m/s^2"),
                  ("meas_std", self.meas_std > 0, "> 0 m"),
                  ("evidence_decay", 0 < self.evidence_decay <= 1, "in (0, 1]"),
                  ("reset_after_s", self.reset_after_s > 0, "> 0 s"),
                  ("max_speed", self.max_speed >= 0, ">= 0 m/s"),
                  ("label_switch_ratio", self.label_switch_ratio >= 1, ">= 1"),
                  ("yaw_gain", 0 < self.yaw_gain <= 1, "in (0, 1]"),
                  ("reset_share", 0 <= self.reset_share < 1, "in [0, 1)"))
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r}: must be {allowed}")


@dataclass
class TrackedObject:
    """What the tracker says about one input detection."""

    track_id: int  # > 0 for a confirmed track; 0 while the track is tentative (not yet min_hits)
    label: str  # the track's class from its accumulated evidence (or "unknown")
    score: float  # share of the evidence of that class, in [0, 1]
    velocity: np.ndarray  # (2,) m/s in the cloud frame's axes, from the filter; over the ground with ego poses
    yaw: float  # smoothed heading [rad], cloud frame
    hits: int  # detections the track has had
    age: int  # frames since the track was born
    withheld: str = ""  # the class the evidence names but too few detections carried (label is then "unknown")


@dataclass
class Track:
    """One live track (internal state; read it through ``Tracker.tracks``)."""

    kf: ConstantVelocityKF
    yaw: float
    label: str = UNKNOWN
    evidence: dict[str, float] = field(default_factory=dict)
    label_hits: dict[str, int] = field(default_factory=dict)  # detections per class (their frame label)
    track_id: int = 0
    hits: int = 0
    misses: int = 0
    age: int = 0

    @property
    def score(self) -> float:
        total = sum(self.evidence.values())
        return self.evidence.get(self.label, 0.0) / total if total > 0 else 0.0

    def add_evidence(self, det: Detection, switch_ratio: float) -> None:
        if det.label != UNKNOWN:
            cls, w = det.label, float(det.score)
        else:
            cls, w = UNKNOWN, _UNKNOWN_WEIGHT
        self.evidence[cls] = self.evidence.get(cls, 0.0) + max(w, 0.0)
        self.label_hits[cls] = self.label_hits.get(cls, 0) + 1
        best = max(self.evidence, key=self.evidence.__getitem__)
        current = self.evidence.get(self.label, 0.0)
        # Hysteresis from the third detection: an alternating detection label must not make the track's
        # label alternate; before, one confident frame must not hold a label against the next.
        if self.hits < 2 or self.evidence[best] > switch_ratio * current:
            self.label = best

    def add_yaw(self, yaw: float, gain: float) -> None:
        if not math.isfinite(yaw):
            return
        d = wrap_angle(yaw - self.yaw)
        if abs(d) > math.pi / 2:  # nearer yaw + pi: the box's other end was taken as its front
            d = wrap_angle(d + math.pi)
        self.yaw = wrap_angle(self.yaw + gain * d)


class Tracker:
    """Tracks detections over frames; see the module docstring. One ``update`` per frame, in time order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config if config is not None else TrackerConfig()
        self.config.validate()
        self._tracks: list[Track] = []
        self._stamp: float | None = None
        self._next_id = 1  # survives reset: an id is never given to two tracks
        self._fixed: bool | None = None  # whether the tracks live in a fixed frame (ego poses given)
        self.continuity = (0, 0)  # last update: confirmed tracks that found a detection, confirmed tracks
        self.scene_resets = 0  # updates whose frame continued too few tracks (reset_share): tracks started over
        self._after_reset = False  # the last update was a scene reset

    @property
    def tracks(self) -> list[Track]:
        """The live tracks, tentative and confirmed (coasting ones included)."""
        return list(self._tracks)

    def reset(self) -> None:
        """Drop every track (ids already given are not reused)."""
        self._tracks = []
        self._stamp = None
        self._fixed = None

    def update(self, detections: Sequence[Detection], stamp_s: float,
               ego: Pose2D | None = None) -> list[TrackedObject]:
        """Take one frame's detections (stamped ``stamp_s`` seconds, in the cloud's frame); return one
        ``TrackedObject`` per detection, in their order. ``ego``: the sensor's pose in a fixed frame at
        ``stamp_s`` (tracks in that frame, velocities over the ground), or None (tracks in the cloud's
        frame)."""
        if not math.isfinite(stamp_s):
            raise ValueError(f"stamp_s={stamp_s!r}: must be a finite time [s]")
        cfg = self.config
        if self._stamp is not None and not 0 <= stamp_s - self._stamp <= cfg.reset_after_s:
            self.reset()
        if self._fixed is not None and self._fixed != (ego is not None):
            self.reset()  # the tracks are in the other frame
        self._fixed = ego is not None
        dt = 0.0 if self._stamp is None else stamp_s - self._stamp
        self._stamp = stamp_s
        for t in self._tracks:
            t.kf.predict(dt)
            t.age += 1
            for cls in t.evidence:
                t.evidence[cls] *= cfg.evidence_decay

        centers = np.array([np.asarray(d.center, dtype=np.float64)[:2] for d in detections]).reshape(-1, 2)
        turn, back_c, back_s = 0.0, 1.0, 0.0
        if ego is not None:  # into the fixed frame; outputs are turned back by -turn
            centers, turn = ego.apply(centers), ego.yaw
            back_c, back_s = math.cos(turn), -math.sin(turn)
        valid = np.isfinite(centers).all(axis=1)  # a broken box never continues nor starts a track
        det_track: list[Track | None] = [None] * len(detections)
        matched: set[int] = set()
        if self._tracks and len(detections):
            pred = np.array([t.kf.x[:2] for t in self._tracks])
            dist = np.linalg.norm(pred[:, None, :] - np.where(valid[:, None], centers, 0.0)[None], axis=2)
            # the first gate is not widened right after a scene reset: a new scene's one-detection tracks
            # would otherwise be confirmed by whatever lies within ~5 m in the next frame
            widen = 0.0 if self._after_reset else cfg.max_speed * dt
            gate = np.array([cfg.gate_m + (widen if t.hits == 1 else 0.0) for t in self._tracks])
            allowed = (dist <= gate[:, None]) & valid[None, :]
            rows, cols = linear_sum_assignment(np.where(allowed, dist, _FORBIDDEN))
            for r, c in zip(rows, cols, strict=True):
                if allowed[r, c]:
                    det_track[c] = self._tracks[r]
                    matched.add(r)

        # the confirmed tracks; right after a scene reset, the new scene's tracks (all tentative), so that
        # a third unrelated frame is caught as well
        confirmed = [i for i, t in enumerate(self._tracks) if t.track_id > 0 or self._after_reset]
        continuity = (sum(i in matched for i in confirmed), len(confirmed))
        # judged only when the frame holds at least half as many detections as there are confirmed tracks:
        # an empty or half-blocked cloud is no other scene
        judged = continuity[1] >= RESET_MIN_TRACKS and 2 * int(valid.sum()) >= continuity[1]
        if judged and continuity[0] < cfg.reset_share * continuity[1]:
            # Another scene (independent frames fed as a sequence, a jump in a bag): a track that matched
            # here matched by chance, and its votes would label an unrelated object.
            # The next frame checks the new scene's tracks too, with the first gate not widened; not after
            # a reset that check made itself (a fast vehicle without odometry moves its standing objects
            # more than the plain gate a frame: at most one more reset, never one every frame).
            check_next = not self._after_reset
            self.reset()
            self.scene_resets += 1
            out = self.update(detections, stamp_s, ego)
            self.continuity, self._after_reset = continuity, check_next
            return out
        self.continuity, self._after_reset = continuity, False
        survivors = []
        for i, t in enumerate(self._tracks):
            if i in matched:
                survivors.append(t)
                continue
            t.misses += 1
            if t.track_id > 0 and t.misses <= cfg.max_misses:  # coast; tentative tracks die at once
                survivors.append(t)
        self._tracks = survivors

        out = []
        for j, det in enumerate(detections):
            t = det_track[j]
            det_yaw = float(det.yaw) + turn
            if t is None and valid[j]:
                yaw = wrap_angle(det_yaw) if math.isfinite(det_yaw) else 0.0
                t = Track(ConstantVelocityKF(centers[j], cfg.accel_std, cfg.meas_std), yaw=yaw)
                self._tracks.append(t)
            elif t is not None:
                t.kf.update(centers[j])
                t.add_yaw(det_yaw, cfg.yaw_gain)
            if t is None:
                out.append(TrackedObject(0, det.label, float(det.score), np.zeros(2), float(det.yaw), 0, 0))
                continue
            t.add_evidence(det, cfg.label_switch_ratio)
            t.hits += 1
            t.misses = 0
            if t.track_id == 0 and t.hits >= cfg.min_hits:
                t.track_id, self._next_id = self._next_id, self._next_id + 1
            velocity, yaw = t.kf.velocity, t.yaw
            if ego is not None:  # back into the cloud frame's axes (plain floats: ~100 tracks a frame)
                vx, vy = float(velocity[0]), float(velocity[1])
                velocity = np.array([back_c * vx - back_s * vy, back_s * vx + back_c * vy])
                yaw = wrap_angle(yaw - turn)
            label, withheld = t.label, ""
            if label != UNKNOWN and t.label_hits.get(label, 0) < cfg.min_label_hits:
                label, withheld = UNKNOWN, t.label  # one confident frame is not yet a class
            out.append(TrackedObject(t.track_id, label, t.score, velocity, yaw, t.hits, t.age, withheld))
        return out
