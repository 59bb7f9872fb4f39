"""The reporter base class and the forms that need no output of their own (reference §6).

`Reporter` keeps a form's §9.6 interval and the ``current`` accumulators; the print table
(`engine.report_table`), the panel (`engine.report_panel`) and report files
(`engine.report_files`) subclass it. `engine.reporting` (which imports them all, none of them
it) picks the reporter for TrainingProgressReporting; the interface the loop calls is
described there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.intervals import Trigger, normalise
from engine.spec import Interval

Clock = tuple[int, float, float]

# Default interval per form (§6.1): Print 2 s, Panel 0.33 s, ProgressIndicator 0.1 s,
# File and Function once per round (Function at least 0.05 s apart).
DEFAULT_INTERVALS: dict[str, Interval] = {
    "Print": Interval(batches=1, seconds=2.0),
    "Panel": Interval(batches=1, seconds=0.33),
    "ProgressIndicator": Interval(batches=1, seconds=0.1),
    "File": Interval(batches=1, rounds=1),
    "Function": Interval(batches=1, rounds=1, seconds=0.05),
}

FORMS = ("Print", "Panel", "ProgressIndicator", "None", "File", "Function")


class Reporter:
    """One reporting form. Subclasses fill `_start`, `_row`, `_finish`; this class keeps the
    interval and the ``current`` accumulators."""

    form = "None"

    def __init__(self, interval: Interval | None = None):
        self._interval = interval
        self._periodic: Trigger | None = None
        self._due = False
        self._acc_n = 0
        self._acc: dict[str, float] = {}
        self.setup: dict[str, Any] = {}

    # -- the interface the loop calls --------------------------------------------------------
    def start(self, setup: dict[str, Any]) -> None:
        """Prepare for training described by ``setup`` (see module docstring)."""
        self.setup = dict(setup)
        interval = self._interval or DEFAULT_INTERVALS.get(self.form, Interval(batches=1))
        total = setup.get("TotalBatches")
        self._periodic = Trigger(normalise(interval, setup.get("BatchesPerRound") or 1,
                                           math.inf if total is None else total))
        self._start()

    def wants_row(self, clock: Clock) -> bool:
        """True when a row is due at ``clock`` = (absBatch, rounds done, elapsed seconds)."""
        if self._periodic is None:
            return False
        self._due = self._periodic.due(clock)
        return self._due

    def add_batch_loss(self, loss: float, measurements: dict[str, float] | None = None) -> None:
        """Accumulate one batch's loss (and per-batch measurements) for the ``current`` column."""
        self._acc_n += 1
        self._acc["Loss"] = self._acc.get("Loss", 0.0) + float(loss)
        if measurements:
            for k, v in measurements.items():
                if isinstance(v, int | float):
                    self._acc[k] = self._acc.get(k, 0.0) + float(v)

    def row(self, progress: dict[str, Any]) -> None:
        """Write one row from ``progress`` and reset the ``current`` accumulator."""
        current = self._take_current(progress)
        self._row(progress, current)

    def finish(self, summary: dict[str, Any] | None = None) -> None:
        """Write the last row (if batches were seen since the previous one) and close."""
        summary = summary or {}
        final = summary.get("Progress")
        if final is not None and self._acc_n and self.final_row:
            self.row(final)
        self._finish(summary)

    # -- helpers ----------------------------------------------------------------------------
    final_row = True

    def _take_current(self, progress: dict[str, Any]) -> dict[str, float | None]:
        n = self._acc_n
        current: dict[str, float | None] = {k: v / n for k, v in self._acc.items()} if n else {}
        if progress.get("CurrentLossMean") is not None:
            current["Loss"] = float(progress["CurrentLossMean"])
        self._acc_n = 0
        self._acc = {}
        return current

    def _start(self) -> None:
        pass

    def _row(self, progress: dict[str, Any], current: dict[str, float | None]) -> None:
        pass

    def _finish(self, summary: dict[str, Any]) -> None:
        pass


class NoReporter(Reporter):
    """``TrainingProgressReporting -> None``: nothing is ever due."""

    form = "None"

    def wants_row(self, clock: Clock) -> bool:
        return False

    def add_batch_loss(self, loss: float, measurements: dict[str, float] | None = None) -> None:
        return None


class FunctionReporter(Reporter):
    """A Python callable, called with the progress association (plus "CurrentLoss")."""

    form = "Function"

    def __init__(self, fn: Callable[[dict[str, Any]], Any], interval: Interval | None = None):
        super().__init__(interval)
        self.fn = fn

    def _row(self, progress: dict[str, Any], current: dict[str, float | None]) -> None:
        info = dict(progress)
        info.setdefault("CurrentLossMean", current.get("Loss"))
        self.fn(info)


class MultiReporter(Reporter):
    """Several specs at once (current NetTrain accepts a list); each keeps its own interval."""

    form = "Multi"

    def __init__(self, parts: list[Reporter]):
        super().__init__(None)
        self.parts = parts
        self._due_parts: list[Reporter] = []

    def start(self, setup: dict[str, Any]) -> None:
        for p in self.parts:
            p.start(setup)

    def wants_row(self, clock: Clock) -> bool:
        self._due_parts = [p for p in self.parts if p.wants_row(clock)]
        return bool(self._due_parts)

    def add_batch_loss(self, loss: float, measurements: dict[str, float] | None = None) -> None:
        for p in self.parts:
            p.add_batch_loss(loss, measurements)

    def row(self, progress: dict[str, Any]) -> None:
        for p in self._due_parts or self.parts:
            p.row(progress)
        self._due_parts = []

    def finish(self, summary: dict[str, Any] | None = None) -> None:
        for p in self.parts:
            p.finish(summary)
