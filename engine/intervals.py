"""The periodic firing rule of NetTrain's callbacks, validation and reporting (reference §9.6).

An interval is a (batches, rounds, seconds) triple. A trigger keeps a threshold triple, first
equal to the interval, and fires when every component of the clock has reached it; the next
threshold is then clock + interval. So nothing fires before one whole interval has passed.
"""

from __future__ import annotations

import math

from engine.spec import Interval


def normalise(interval: Interval, batches_per_round: int, total_batches: float,
              minimum_seconds: float = 0.0) -> tuple:
    """The (batches, rounds, seconds) triple of ``interval`` once the round size is known.

    Fractional rounds become batches (``ceil(r·bpr)``), ``percent`` becomes batches of the
    planned total; a triple that is all zero fires every batch. ``minimum_seconds`` is the
    ``"MinimumInterval"`` sub-option: it raises the seconds component to at least that.
    """
    if interval.percent is not None:
        total = total_batches if math.isfinite(total_batches) else batches_per_round
        return (max(1, math.ceil(interval.percent / 100 * total)), 0, float(minimum_seconds))
    b, r, s = interval.batches, interval.rounds, interval.seconds
    if r and r != int(r):
        b, r = max(b, math.ceil(r * batches_per_round)), 0
    return (max(int(b), 1), int(r), max(float(s), float(minimum_seconds)))


class Trigger:
    """Fires when the clock (absBatch, round, elapsed seconds) reaches the threshold triple."""

    __slots__ = ("interval", "threshold")

    def __init__(self, interval: tuple):
        self.interval = interval
        self.threshold = interval

    def due(self, clock: tuple) -> bool:
        """True (and the threshold advanced) when every clock component has reached it."""
        th = self.threshold
        if clock[0] >= th[0] and clock[1] >= th[1] and clock[2] >= th[2]:
            iv = self.interval
            self.threshold = (clock[0] + iv[0], clock[1] + iv[1], clock[2] + iv[2])
            return True
        return False
