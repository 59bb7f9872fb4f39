"""Listeners of the loop's events: TrainingProgressFunction callbacks (§9.6), the
TrainingProgressReporting reporter (§6) and the MemoryUsage sampler (§3.5).

A `LoopListener` overrides the hooks it needs; the run calls them in this order:

* ``started(run)`` — after setup, just before the first batch;
* ``batch_done(run, loss, stats, seconds)`` — after every batch (the hot path: keep it
  cheap; ``loss`` is the host float, ``stats`` the device tensor of measurement sums or
  None, ``seconds`` the batch's wall time). Only listeners that override it are called;
* ``periodic(run, clock)`` — at §9.5.2 step 8, ``clock = (absBatch, rounds done, seconds)``;
* ``event(run, name, guard)`` — a named event (``"RoundComplete"`` …); returns a list of
  answers (a callback may answer ``"SkipCheckpoint"``);
* ``finished(run)`` — once at the end, also after an abort.

``train(..., listeners=[...])`` adds listeners of its own (after the built-in ones; their
`periodic` time counts as "rep").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from engine.intervals import Trigger, normalise
from engine.spec import Interval

if TYPE_CHECKING:
    from engine.loop_run import Run

Clock = tuple[int, int, float]


class LoopListener:
    """Base class: every hook does nothing."""

    def started(self, run: Run) -> None:
        """Training is about to start (setup done, the reporter's header may be written)."""

    def batch_done(self, run: Run, loss: float, stats: torch.Tensor | None,
                   seconds: float) -> None:
        """One batch is done (its loss read); ``seconds`` is its wall time."""

    def periodic(self, run: Run, clock: Clock) -> None:
        """The periodic-functions point of a batch (§9.5.2 step 8)."""

    def event(self, run: Run, name: str, guard: bool = True) -> list[Any]:
        """A named event of the run; the answers of whatever it called."""
        return []

    def finished(self, run: Run) -> None:
        """The run is over (result filled in, best net restored)."""


def watches_batches(listener: LoopListener) -> bool:
    """True when ``listener`` overrides `batch_done` (only those are called per batch)."""
    return type(listener).batch_done is not LoopListener.batch_done


class Callbacks(LoopListener):
    """TrainingProgressFunction: periodic callbacks on their §9.6 triggers and event
    callbacks (``"Event" -> name``); an answer of "StopTraining" or "AbortTraining" stops."""

    def __init__(self, specs: list[Any], batches_per_round: int, total: float):
        self.entries = [(c, Trigger(normalise(c.interval or Interval(rounds=1),
                                              batches_per_round, total, c.minimum_interval))
                         if not c.events else None) for c in specs]

    def periodic(self, run: Run, clock: Clock) -> None:
        for cb, trig in self.entries:
            if trig is not None and trig.due(clock):
                self.call(run, cb, run.progress())
                if run.stop_reason:
                    break

    def event(self, run: Run, name: str, guard: bool = True) -> list[Any]:
        outs = []
        for cb, _ in self.entries:
            if name in cb.events or "All" in cb.events:
                info = run.fresh_progress()
                info["Event"] = name
                outs.append(self.call(run, cb, info) if guard else cb.fn(info))
        return outs

    @staticmethod
    def call(run: Run, cb: Any, info: dict) -> Any:
        out = cb.fn(info)
        if out == "StopTraining":
            run.stop_reason = "ManualStop"
        elif out == "AbortTraining":
            run.stop_reason = "Aborted"
        return out


class MemorySampling(LoopListener):
    """MemoryUsageLogging and ReportMemoryUsage (§3.5): a sample every interval."""

    def __init__(self, sampler: Any):
        self.sampler = sampler  # reset by the run when its clock starts

    def periodic(self, run: Run, clock: Clock) -> None:
        sample = self.sampler.sample()
        if sample is not None:
            run.events.emit("MemoryUsage", sample)


class Reporting(LoopListener):
    """Drives an `engine.reporting.Reporter`: header, rows when due, the final row."""

    def __init__(self, reporter: Any):
        self.reporter = reporter
        self.pending: list[tuple[float, torch.Tensor | None]] = []

    def started(self, run: Run) -> None:
        cfg = run.cfg
        self.reporter.start({
            "Method": run.method.name, "Device": cfg.target_device.upper(),
            "BatchSize": run.batch_size, "BatchesPerRound": run.bpr,
            "TrainingExamples": run.training_examples,
            "MaxTrainingRounds": None if math.isinf(run.max_rounds) else run.max_rounds,
            "TotalBatches": None if math.isinf(run.total) else int(run.total),
            "Measurements": list(run.meter.names), "ShortNames": run.meter.short_names,
            "HasValidation": run.val_batches is not None,
            "UpdatesPerBatch": cfg.updates_per_batch})

    def batch_done(self, run: Run, loss: float, stats: torch.Tensor | None,
                   seconds: float) -> None:
        self.pending.append((loss, stats))

    def periodic(self, run: Run, clock: Clock) -> None:
        if self.reporter.wants_row(clock):
            self.flush(run)
            self.reporter.row(run.progress())

    def finished(self, run: Run) -> None:
        self.flush(run)
        self.reporter.finish({"Aborted": run.result.reason == "Aborted",
                              "Progress": run.fresh_progress()})

    def flush(self, run: Run) -> None:
        """Hand the batches since the last row to the reporter, reading their error rates
        from the device in one transfer (not one sync per batch)."""
        pending, rep = self.pending, self.reporter
        if not pending:
            return
        errs = [e for _, e in pending if e is not None]
        host = iter((torch.stack(errs).double() / run.batch_size).tolist()) if errs \
            else iter(())
        meter = run.meter
        for value, e in pending:
            rep.add_batch_loss(value, meter.values(next(host)) if e is not None else None)
        pending.clear()
