"""Tracking quality against ground-truth tracks, CLEAR-MOT style (Bernardin & Stiefelhagen 2008).

Input: one ``(ground_truth, outputs)`` pair per frame, in time order. Items may be the dataclasses
:class:`GtObject` / :class:`TrackOut`, dicts, or any objects with the same attributes; the names
accepted for each field:

- ground truth: id ``gt_id`` (or ``instance_id``, ``id``), ``label``, ``center`` ((2,) or (3,), only x, y
  used, m), optional ``num_points`` (returns of the object in the frame; missing: always counted).
  ``sequence.SequenceObject`` fits as it is.
- outputs: id ``track_id`` (or ``id``), ``label``, ``center``. ``detection.Detection`` fits as it is;
  outputs with a track id <= 0 (untracked or tentative) are left out.

Ids must be unique within a frame (``ValueError`` otherwise). Example::

    car = {"gt_id": 1, "label": "car"}
    frames = [
        ([{**car, "center": (10.0, 2.0)}], [{"track_id": 7, "label": "car", "center": (10.3, 2.1)}]),
        ([{**car, "center": (11.0, 2.0)}], [{"track_id": 7, "label": "truck", "center": (11.2, 2.0)}]),
    ]
    evaluate_tracking(frames)  # mota 1.0, id_switches 0, label_accuracy 0.5, label_flip_rate 1.0

Conventions (what counts where):

- A ground-truth object is *counted* in a frame (must be found) when it has at least ``min_points``
  returns and, if ``labels`` is given, its label is one of them. Not counted objects still take part
  in the matching, so an output on a sparse or unevaluated object is no false positive; it is simply
  dropped (neither match nor false positive), as distractors are in the MOT benchmarks.
- Matching per frame, by centre distance in x, y: first, each ground-truth object keeps the track it
  was matched to in the previous frame (the frame just before; counted or not) if that track is
  still within ``match_m`` (the CLEAR-MOT rule); the rest are assigned by the Hungarian method
  (``scipy.optimize.linear_sum_assignment``) on the distances, pairs further apart than ``match_m``
  discarded.
- ``matches``, ``misses`` (counted objects without a match), ``false_positives`` (outputs matched to
  nothing), ``gt_objects`` (counted object-frames): sums over frames.
- ``id_switches``: a counted object matched to another track than at its last counted match (however
  many frames ago). ``fragmentations``: a counted object's run of matches interrupted by a miss and
  taken up again later.
- ``mota = 1 - (misses + false_positives + id_switches) / gt_objects``; ``motp_m``: mean centre
  distance of the matches, m.
- ``label_accuracy``: share of the matches whose output label equals the object's label.
  ``label_flip_rate``: over the pairs of consecutive frames in which a counted object is matched in
  both, the share in which the output's label differs from the previous frame's (``label_flips``
  counts them).
- ``gt_tracks``: distinct counted objects; ``mostly_tracked`` / ``mostly_lost``: those matched in
  >= 80 % / < 20 % of their counted frames.

Rates are NaN when undefined (no counted objects, no matches, no pairs). Pure numpy / scipy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

_GT_ID = ("gt_id", "instance_id", "id")
_TRACK_ID = ("track_id", "id")


@dataclass(frozen=True)
class GtObject:
    """A ground-truth object in one frame: ``gt_id`` (the same in every frame), ``label``, ``center``
    ((2,) or (3,) m) and ``num_points`` (None: always counted)."""

    gt_id: int
    label: str
    center: Sequence[float] | np.ndarray
    num_points: int | None = None


@dataclass(frozen=True)
class TrackOut:
    """A tracker output in one frame: ``track_id`` (> 0), ``label``, ``center`` ((2,) or (3,) m)."""

    track_id: int
    label: str
    center: Sequence[float] | np.ndarray


def _field(item: Any, names: tuple[str, ...], default: Any = KeyError) -> Any:
    for name in names:
        if isinstance(item, Mapping):
            if name in item:
                return item[name]
        elif hasattr(item, name):
            return getattr(item, name)
    if default is KeyError:
        raise KeyError(f"{type(item).__name__} has none of the fields {', '.join(names)}")
    return default


def _parse(items: Sequence[Any], ids: tuple[str, ...], what: str) -> tuple[list[int], list[str], np.ndarray, list]:
    """(ids, labels, centres (n, 2), items) of one frame's ground truth or outputs."""
    out_ids, labels, centers, kept = [], [], [], []
    for item in items:
        i = int(_field(item, ids))
        if what == "output" and i <= 0:
            continue
        out_ids.append(i)
        labels.append(str(_field(item, ("label",))))
        centers.append(np.asarray(_field(item, ("center",)), dtype=np.float64).reshape(-1)[:2])
        kept.append(item)
    if len(set(out_ids)) != len(out_ids):
        raise ValueError(f"a {what} id occurs twice in one frame: {sorted(out_ids)}")
    return out_ids, labels, np.array(centers, dtype=np.float64).reshape(-1, 2), kept


def _match(gt_xy: np.ndarray, gt_ids: list[int], tr_xy: np.ndarray, tr_ids: list[int], prev: dict[int, int],
           match_m: float) -> list[tuple[int, int, float]]:
    """Pairs (gt index, output index, distance m) of one frame: kept correspondences, then Hungarian."""
    dist = np.linalg.norm(gt_xy[:, None, :] - tr_xy[None, :, :], axis=2) if len(gt_ids) and len(tr_ids) else \
        np.zeros((len(gt_ids), len(tr_ids)))
    pairs = []
    used_g, used_t = set(), set()
    tr_index = {t: j for j, t in enumerate(tr_ids)}
    for g, gid in enumerate(gt_ids):
        j = tr_index.get(prev.get(gid, 0))
        if j is not None and j not in used_t and dist[g, j] <= match_m:
            pairs.append((g, j, float(dist[g, j])))
            used_g.add(g)
            used_t.add(j)
    free_g = [g for g in range(len(gt_ids)) if g not in used_g]
    free_t = [j for j in range(len(tr_ids)) if j not in used_t]
    if free_g and free_t:
        sub = dist[np.ix_(free_g, free_t)]
        big = 1e6 + sub.max(initial=0.0)  # infeasible pairs: never better than leaving both unmatched
        rows, cols = linear_sum_assignment(np.where(sub <= match_m, sub, big))
        pairs += [(free_g[r], free_t[c], float(sub[r, c])) for r, c in zip(rows, cols, strict=True)
                  if sub[r, c] <= match_m]
    return pairs


def evaluate_tracking(
    frames: Sequence[tuple[Sequence[Any], Sequence[Any]]],
    match_m: float = 1.5,
    min_points: int = 10,
    labels: Sequence[str] | None = None,
) -> dict:
    """CLEAR-MOT scores of tracker outputs against ground-truth tracks; see the module docstring for the
    input format and for what counts where.

    Args:
        frames: per frame, in time order, ``(ground_truth, outputs)``.
        match_m: largest centre distance (x, y, m) of a match.
        min_points: a ground-truth object with fewer returns (``num_points``) is not counted.
        labels: count only ground truth with these labels (None: all).

    Returns:
        dict with ``frames``, ``gt_objects``, ``gt_tracks``, ``matches``, ``misses``, ``false_positives``,
        ``id_switches``, ``fragmentations``, ``mota``, ``motp_m``, ``label_accuracy``, ``label_flips``,
        ``label_flip_rate``, ``mostly_tracked``, ``mostly_lost``.
    """
    if match_m <= 0:
        raise ValueError("match_m must be > 0")
    keep_labels = None if labels is None else set(labels)
    prev: dict[int, int] = {}  # gt id -> track id matched in the previous frame (counted or not)
    last_track: dict[int, int] = {}  # gt id -> track id of its last counted match: id switches
    last_label: dict[int, tuple[int, str]] = {}  # gt id -> (frame, output label) of its last counted match
    history: dict[int, list[bool]] = {}  # gt id -> matched? in each counted frame
    n_gt = n_match = n_fp = n_switch = n_correct = n_flips = n_pairs = 0
    dist_sum = 0.0
    for k, (gt_items, out_items) in enumerate(frames):
        gt_ids, gt_labels, gt_xy, gt_raw = _parse(gt_items, _GT_ID, "ground-truth")
        tr_ids, tr_labels, tr_xy, _ = _parse(out_items, _TRACK_ID, "output")
        counted = []
        for item, lab in zip(gt_raw, gt_labels, strict=True):
            pts = _field(item, ("num_points",), None)
            counted.append((pts is None or int(pts) >= min_points) and (keep_labels is None or lab in keep_labels))
        pairs = _match(gt_xy, gt_ids, tr_xy, tr_ids, prev, match_m)
        matched_gt = {g: (j, d) for g, j, d in pairs}
        n_fp += len(tr_ids) - len(pairs)  # outputs matched to nothing; those on not counted objects are neither
        prev = {gt_ids[g]: tr_ids[j] for g, j, _ in pairs}
        for g, gid in enumerate(gt_ids):
            hit = matched_gt.get(g)
            if not counted[g]:
                continue
            n_gt += 1
            history.setdefault(gid, []).append(hit is not None)
            if hit is None:
                continue
            j, d = hit
            n_match += 1
            dist_sum += d
            tid, lab = tr_ids[j], tr_labels[j]
            if gid in last_track and last_track[gid] != tid:
                n_switch += 1
            last_track[gid] = tid
            n_correct += lab == gt_labels[g]
            if gid in last_label and last_label[gid][0] == k - 1:
                n_pairs += 1
                n_flips += lab != last_label[gid][1]
            last_label[gid] = (k, lab)
    nan = float("nan")
    n_miss = n_gt - n_match
    frag = 0
    for runs in history.values():
        seen = [i for i, m in enumerate(runs) if m]
        frag += sum(1 for a, b in zip(seen[:-1], seen[1:], strict=True) if b > a + 1)
    ratios = [sum(r) / len(r) for r in history.values()]
    return {
        "frames": len(frames),
        "gt_objects": n_gt,
        "gt_tracks": len(history),
        "matches": n_match,
        "misses": n_miss,
        "false_positives": n_fp,
        "id_switches": n_switch,
        "fragmentations": frag,
        "mota": 1.0 - (n_miss + n_fp + n_switch) / n_gt if n_gt else nan,
        "motp_m": dist_sum / n_match if n_match else nan,
        "label_accuracy": n_correct / n_match if n_match else nan,
        "label_flips": n_flips,
        "label_flip_rate": n_flips / n_pairs if n_pairs else nan,
        "mostly_tracked": sum(r >= 0.8 for r in ratios),
        "mostly_lost": sum(r < 0.2 for r in ratios),
    }
