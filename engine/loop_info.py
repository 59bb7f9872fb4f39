"""The progress association of reference §9.11, which TrainingProgressFunction callbacks and
reporters read: one `progress_info(run)` built from the run's live state.

Costly keys (the net, the weights, gradients, memory) are zero-argument functions computed on
first access only, so an unused key costs nothing.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.loop_result import SKIPPED_TRAINING_DATA
from engine.loop_step import per_example_total
from engine.measurements import measurement_lists
from engine.memory import memory_sample

if TYPE_CHECKING:
    from engine.loop_run import Run


class LazyInfo(dict):
    """The TrainingProgressFunction association; zero-argument `Lazy` values (the net, the
    weights) are computed on first access only, so an unused key costs nothing."""

    def __getitem__(self, key: str) -> Any:
        v = dict.__getitem__(self, key)
        if isinstance(v, Lazy):
            v = v.fn()
            self[key] = v
        return v

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default


@dataclass
class Lazy:
    fn: Callable[[], Any]


def _example_losses(run: Run) -> tuple[float, ...] | None:
    """The ExampleLosses key: the most recent batch's per-example losses (None before
    the first batch)."""
    terms = run.last_loss_terms
    return None if terms is None else tuple(per_example_total(terms).tolist())


def _batch_measurements(run: Run) -> dict[str, Any]:
    r = run.result
    if not r.batch_losses:
        return {}
    stats = run.last_batch_stats
    extra = run.meter.values((stats.double() / run.batch_size).tolist()) \
        if stats is not None else {}
    return {"Loss": r.batch_losses[-1], **extra}


def _memory(run: Run) -> Any:
    m = run.memory
    return m.latest if m is not None and m.latest else memory_sample(buckets=run.bucket_count())


def progress_info(run: Run) -> LazyInfo:
    """The §9.11 association for TrainingProgressFunction and reporters."""
    r = run.result
    elapsed = time.perf_counter() - run.t_start
    frac = min(run.abs_batch / run.total, 1.0) if math.isfinite(run.total) else \
        (min(elapsed / run.cfg.time_goal, 1.0) if run.cfg.time_goal else 0.0)
    rate = run.rate_ema or 0.0
    upb = run.cfg.updates_per_batch
    module, factory, arrays = run.module, run.net_factory, run.arrays
    info = LazyInfo({
        "Net": Lazy(lambda: factory(module) if factory else copy.deepcopy(module)),
        "BatchLoss": r.batch_losses[-1] if r.batch_losses else None,
        "RoundLoss": r.round_losses[-1] if r.round_losses else None,
        "ValidationLoss": r.validation_losses[-1] if r.validation_losses else None,
        "BatchLossList": tuple(r.batch_losses),
        "RoundLossList": tuple(r.round_losses),
        "ValidationLossList": tuple(r.validation_losses),
        "BatchMeasurements": Lazy(lambda: _batch_measurements(run)),
        "ExampleLosses": Lazy(lambda: _example_losses(run)),
        "SkippedTrainingData": dict(SKIPPED_TRAINING_DATA),
        "CheckpointingFiles": tuple(r.checkpoint_files),
        "RoundMeasurements": {"Loss": r.round_losses[-1], **run.round_measurements}
        if r.round_losses else {},
        "ValidationMeasurements": {"Loss": r.validation_losses[-1],
                                   **run.val_measurements} if r.validation_losses else {},
        "RoundMeasurementsLists": Lazy(lambda: measurement_lists(r.round_losses,
                                                                 r.round_measurements)),
        "ValidationMeasurementsLists": Lazy(lambda: measurement_lists(
            r.validation_losses, r.validation_measurements)),
        "Round": run.round, "Batch": run.batch, "AbsoluteBatch": run.abs_batch,
        "BatchSize": run.batch_size, "BatchesPerRound": run.bpr,
        "TotalRounds": run.max_rounds, "TotalBatches": run.total,
        "ProgressFraction": frac,
        "ExamplesProcessed": run.abs_batch * run.batch_size,
        "TrainingExamples": run.training_examples,
        "ValidationExamples": run.validation_examples,
        "TimeElapsed": elapsed,
        "TimeRemaining": elapsed * (1 - frac) / frac if frac > 0 else None,
        "Event": run.event_name,
        "BatchesPerSecond": rate, "ExamplesPerSecond": rate * run.batch_size * upb,
        "MeanBatchesPerSecond": run.abs_batch / elapsed if elapsed > 0 else 0.0,
        "MeanExamplesPerSecond": run.abs_batch * run.batch_size * upb / elapsed
        if elapsed > 0 else 0.0,
        "LearningRate": run.opt.learning_rate,
        "InitialLearningRate": r.initial_learning_rate,
        "OptimizationMethod": run.method.name,
        "TargetDevice": run.cfg.target_device,
        "BestValidationRound": r.best_validation_round,
        "RoundPositions": tuple(r.round_positions),
        "ValidationPositions": tuple(r.validation_positions),
        "Weights": Lazy(lambda: {p: a.detach().cpu().numpy().copy()
                                 for p, a in arrays.items()}),
        "Gradients": Lazy(lambda: {p: a.grad.detach().cpu().numpy().copy()
                                   for p, a in arrays.items() if a.grad is not None}),
        "$MemoryUsage": Lazy(lambda: _memory(run)),
    })
    timings = run.timer.as_callback_dict()
    info["$Timings"] = info["$InternalTimings"] = timings
    return info
