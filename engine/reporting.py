"""TrainingProgressReporting: the reporter the training loop drives (reference §6, §9.6).

How the loop uses it (engine/loop.py)::

    reporter = make_reporter(config.training_progress_reporting,
                             report_timings=config.report_timings,
                             report_memory=config.report_memory_usage)
    reporter.start(setup)                       # once, before the first batch
    for each batch:
        ...                                     # exec / sync / coll
        reporter.add_batch_loss(loss, {"ErrorRate": err})   # every batch, cheap
        if reporter.wants_row((abs_batch, rounds_done, elapsed)):    # §9.6 firing rule
            reporter.row(progress)              # inside the "rep" timer
    reporter.finish(summary)                    # once, also after an abort

``setup`` (dict; missing keys are shown as blanks):
    "Method" (str, "ADAM"), "Device" (str, "CPU" / "GPU 1"), "BatchSize" (int),
    "BatchesPerRound" (int), "TrainingExamples" (int), "MaxTrainingRounds" (int or None when
    there is no round limit, e.g. TimeGoal), "TotalBatches" (int or None; resolves
    ``"Percent"`` intervals), "Measurements" (measurement names besides the loss, e.g.
    ``["ErrorRate"]``; a multi-loss net's per-port keys such as "Out1Loss" come first),
    "ShortNames" (column headers of measurements outside the built-in table, by name, e.g.
    ``{"Out1Loss": "Out1 loss"}``), "HasValidation" (bool), "UpdatesPerBatch" (int, default 1),
    "MemoryUsage" (the memory dict of engine.memory, for the initial column width).

``clock`` for `wants_row`: ``(absBatch, rounds, elapsed_seconds)`` where ``rounds`` is
NetTrain's *virtual round*: the number of rounds completed (bumped at a round's last batch).

``progress`` for `row` (keys of §9.11; missing keys print as ``—``):
    "Round", "Batch", "AbsoluteBatch", "ProgressFraction", "TimeElapsed", "TimeRemaining",
    "ExamplesPerSecond" (or "BatchesPerSecond"), "LearningRate", "RoundLoss",
    "ValidationLoss", "BatchLoss", "RoundMeasurements" / "ValidationMeasurements" /
    "BatchMeasurements" ({"ErrorRate": ..}), "$Timings" (engine.timings
    ``PhaseTimer.as_callback_dict()``), "$MemoryUsage" (memory dict or preformatted string).
    The ``current`` columns are the mean of the batch values given to `add_batch_loss` since
    the reporter's previous row (each reporter keeps its own accumulator), so the loop does
    not compute "CurrentLossMean"; if it passes "CurrentLossMean" anyway, that wins.

``summary`` for `finish`: "Aborted" (bool) picks ``Training aborted.`` over
``Training complete.``; "Progress" (optional, the final progress dict) lets a reporter write
a last row for batches seen since its previous row, so short runs still show their losses.

Wolfram text in ``.wl`` report files is written by `engine.report_files` with exact numbers
(shortest repr, ``e`` → ``*^``); wlbridge may pass ``formatter`` (value -> InputForm text)
to `make_reporter` to write other values its own way.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import IO, Any

from engine.errors import EngineError
from engine.intervals import Trigger, normalise
from engine.spec import Interval, ReportingSpec

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


def is_interactive(stream: IO[str] | None = None) -> bool:
    """True in a Jupyter kernel or when ``stream`` (default stdout) is a terminal."""
    if "ipykernel" in sys.modules:
        return True
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def make_reporter(
    specs: list[ReportingSpec] | None,
    *,
    report_timings: bool = False,
    report_memory: bool = False,
    stream: IO[str] | None = None,
    interactive: bool | None = None,
    formatter: Callable[[Any], str] | None = None,
) -> Reporter:
    """The reporter for TrainingProgressReporting ``specs`` (None = Automatic).

    Automatic is a live panel when ``interactive`` (default: a terminal or Jupyter, and rich
    installed) and the print table otherwise. "Panel" / "ProgressIndicator" fall back to the
    table where rich is missing. ``stream`` receives printed output (default stdout).
    """
    if interactive is None:
        interactive = is_interactive(stream)
    if specs is None:
        specs = [ReportingSpec(form="Panel" if interactive else "Print")]
    parts = [_one(s, report_timings, report_memory, stream, interactive, formatter)
             for s in specs]
    parts = [p for p in parts if not isinstance(p, NoReporter)]
    if not parts:
        return NoReporter()
    return parts[0] if len(parts) == 1 else MultiReporter(parts)


def _one(spec: ReportingSpec, timings: bool, memory: bool, stream: IO[str] | None,
         interactive: bool, formatter: Callable[[Any], str] | None) -> Reporter:
    form = spec.form
    if form == "None":
        return NoReporter()
    if form in ("Panel", "ProgressIndicator") and not _rich_available():
        form = "Print"
    if form == "Print":
        from engine.report_table import PrintReporter

        return PrintReporter(stream=stream, report_timings=timings, report_memory=memory,
                             interval=spec.interval)
    if form in ("Panel", "ProgressIndicator"):
        from engine.report_panel import PanelReporter

        return PanelReporter(stream=stream, report_timings=timings, report_memory=memory,
                             interval=spec.interval, indicator=form == "ProgressIndicator",
                             live=interactive)
    if form == "File":
        from engine.report_files import FileReporter

        if not spec.path:
            raise EngineError("badrepfile", "File reporting needs a file name.")
        return FileReporter(spec.path, interval=spec.interval, formatter=formatter)
    if form == "Function":
        if spec.fn is None or not callable(spec.fn):
            raise EngineError("netinvopt", "TrainingProgressReporting function is not callable.",
                              "General")
        return FunctionReporter(spec.fn, interval=spec.interval)
    raise EngineError(
        "netinvopt",
        f"The value of TrainingProgressReporting should be Automatic, \"Print\", \"Panel\", "
        f"\"ProgressIndicator\", None, File[...] or a function, not {form!r}.",
        "General",
    )
