"""Frames the sensor sent that the node never saw, from the gaps between stamps (``t3d_ros/io/stamps.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from t3d_ros.io.stamps import SkippedFrames, low_percentile

PERIOD = 100_000_000  # 10 Hz, ns


def test_low_percentile_is_numpys_linear_percentile():
    rng = np.random.default_rng(3)
    for n in (1, 2, 9, 10, 57, 200):
        v = [int(x) for x in rng.integers(50_000_000, 300_000_000, n)]
        for q in (0.0, 10.0, 37.5, 50.0, 100.0):
            assert low_percentile(v, q) == pytest.approx(float(np.percentile(v, q)), rel=0, abs=1e-3)
    with pytest.raises(ValueError):
        low_percentile([], 10.0)


def _stream(skipped: SkippedFrames, stamps) -> list[int]:
    return [skipped.update(int(s)) for s in stamps]


def test_skipped_frames_counts_the_periods_a_gap_spans():
    rng = np.random.default_rng(4)
    s = SkippedFrames()
    t = 1_000_000_000 + np.cumsum(PERIOD * (1 + rng.uniform(-0.2, 0.2, 30)))  # jitter: nothing lost
    assert sum(_stream(s, t)) == 0
    assert s.update(int(t[-1] + 3 * PERIOD)) == 2  # two frames never arrived
    assert s.update(int(t[-1] + 4 * PERIOD)) == 0


def test_skipped_frames_ignores_restarts_pauses_missing_stamps_and_the_first_gaps():
    s = SkippedFrames()
    assert _stream(s, [1e9, 1e9 + 3 * PERIOD]) == [0, 0]  # too few gaps to know the period
    t = 2e9 + PERIOD * np.arange(20)
    assert sum(_stream(s, t)) == 0
    assert s.update(int(t[-1] + 20e9)) == 0  # a 20 s pause (a bag paused, a driver restarted)
    assert s.update(int(t[0])) == 0  # the stamp went back (a bag looping)
    assert s.update(0) == 0 and s.update(int(t[-1])) == 0  # a cloud without a stamp, and the one after
