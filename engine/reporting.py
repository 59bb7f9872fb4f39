"""TrainingProgressReporting: the reporter the training loop drives (reference §6, §9.6).

How the loop uses it (the `Reporting` listener of engine/loop_listeners.py)::

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

import os
import sys
from collections.abc import Callable
from typing import IO, Any

from engine.errors import EngineError
from engine.report_base import (
    DEFAULT_INTERVALS,
    FORMS,
    Clock,
    FunctionReporter,
    MultiReporter,
    NoReporter,
    Reporter,
)
from engine.report_files import FileReporter
from engine.report_panel import PanelReporter
from engine.report_table import PrintReporter
from engine.spec import ReportingSpec

__all__ = ["DEFAULT_INTERVALS", "FORMS", "Clock", "FileReporter", "FunctionReporter",
           "MultiReporter", "NoReporter", "PanelReporter", "PrintReporter", "Reporter",
           "is_interactive", "make_reporter"]

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
        return PrintReporter(stream=stream, report_timings=timings, report_memory=memory,
                             interval=spec.interval)
    if form in ("Panel", "ProgressIndicator"):
        return PanelReporter(stream=stream, report_timings=timings, report_memory=memory,
                             interval=spec.interval, indicator=form == "ProgressIndicator",
                             live=interactive)
    if form == "File":
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
