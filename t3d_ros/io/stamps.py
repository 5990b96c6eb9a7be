"""Frames a sensor sent that never reached the node, estimated from the gaps between input stamps."""

from __future__ import annotations

from collections import deque

GAP_HISTORY = 200  # recent gaps the sensor period is taken from
MIN_GAPS = 10  # gaps needed before any frame is counted as skipped
PAUSE_NS = 10_000_000_000  # a gap longer than this is a pause or a restart (a bag looping), not lost frames


def low_percentile(values, q: float = 10.0) -> float:
    """The ``q``-th percentile of ``values`` with linear interpolation between the nearest ranks, as
    ``numpy.percentile`` computes it by default; in plain Python, which for a few hundred integers is
    several times faster than converting them to an array (the node does this for every cloud)."""
    s = sorted(values)
    if not s:
        raise ValueError("no values")
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


class SkippedFrames:
    """``update(stamp_ns)`` returns how many frames were not seen since the last cloud: the gap between
    input stamps in sensor periods, minus one. The period is the 10th percentile of the recent gaps
    (right whenever some consecutive frames arrive; jitter of a fraction of a period does not count). A
    stamp that goes back or jumps by more than 10 s is a restart or a pause, not lost frames; zero
    stamps (a driver that sets none) count nothing."""

    def __init__(self) -> None:
        self._last_ns = 0
        self._gaps: deque[int] = deque(maxlen=GAP_HISTORY)

    def update(self, stamp_ns: int) -> int:
        last, self._last_ns = self._last_ns, stamp_ns
        if stamp_ns <= 0 or last <= 0 or stamp_ns <= last or stamp_ns - last > PAUSE_NS:
            return 0
        gap = stamp_ns - last
        self._gaps.append(gap)
        if len(self._gaps) < MIN_GAPS:
            return 0
        return max(0, round(gap / low_percentile(self._gaps, 10.0)) - 1)
