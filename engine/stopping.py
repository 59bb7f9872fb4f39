"""TrainingStoppingCriterion (reference §9.8): when a measurement stops improving, stop."""

from __future__ import annotations

import math
from typing import Any

from engine.errors import EngineError
from engine.spec import StoppingCriterion

#: Measurements that improve by increasing; everything else improves by decreasing.
INCREASING = {"Accuracy", "Precision", "Recall", "F1Score", "FScore", "AreaUnderROCCurve"}


class EarlyStopping:
    """Keeps the running best of one measurement and counts checks without improvement."""

    def __init__(self, criterion: StoppingCriterion):
        self.c = criterion
        self.best: float | None = None
        self.bad = 0

    def should_stop(self, round_: int, values: dict[str, Any]) -> bool:
        """Decide at a check; ``values`` holds ValidationLoss, RoundLoss and the measurements."""
        c = self.c
        if round_ < c.initial_patience:
            return False
        if callable(c.criterion):
            out = c.criterion(values)
            if not isinstance(out, bool):
                raise EngineError("invtscres", "the TrainingStoppingCriterion function should "
                                  f"return True or False, not {out!r}.")
            hit = out
        else:
            value = _lookup(c.criterion, values)
            if value is None or not math.isfinite(value):
                return False
            sign = -1.0 if c.criterion in INCREASING else 1.0
            v = sign * value
            if self.best is None:
                self.best = v
                return False
            if c.relative_change is not None:
                hit = v >= self.best - abs(self.best) * c.relative_change
            else:
                hit = v >= self.best - (c.absolute_change or 0.0)
            self.best = min(self.best, v)
        self.bad = self.bad + 1 if hit else 0
        return self.bad > c.patience


def _lookup(name: str, values: dict[str, Any]) -> float | None:
    """The named measurement: validation values first, then round values (§9.8)."""
    for prefix in ("Validation", "Round"):
        if name == "Loss" and values.get(prefix + "Loss") is not None:
            return float(values[prefix + "Loss"])
        meas = values.get(prefix + "Measurements") or {}
        if name in meas and meas[name] is not None:
            return float(meas[name])
    return None
