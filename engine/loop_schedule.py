"""The schedule of a run (reference §9.5.2): batches in rounds, the per-round reshuffle of
the fixed §7.1 batches (§7.5), the phases of §4.3 timed around the training step, the round
ends, the periodic functions of step 8 in their order, and every reason to stop.

`run_batches(run)` is the hot path: the only per-batch host sync is the one loss read; error
statistics stay on the device until a round ends; listeners that watch batches get the
batch's loss and time.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch

from engine import batching
from engine.columns import LazyBatches
from engine.loop_checkpoints import save_checkpoint
from engine.loop_result import TrainingWarning
from engine.loop_step import loss_terms
from engine.loop_validation import validate

if TYPE_CHECKING:
    from engine.loop_run import Run


def run_batches(run: Run) -> None:
    """Train batch after batch until a stop reason is set (``run.stop_reason``)."""
    cfg, ev, timer, step, batches = run.cfg, run.events, run.timer, run.step, run.batches
    sync_cuda = cfg.force_synchronization and run.device.type == "cuda"
    order, pos, nxt, lazy = run.order, run.batch, None, isinstance(batches, LazyBatches)
    perf, t_start, total = time.perf_counter, run.t_start, run.total
    time_goal = cfg.time_goal if run.dist is None else None  # DDP: agreed after the batch
    grad_rec, watchers, batch_losses = run.grad_rec, run.batch_listeners, run.result.batch_losses
    core, trainer = ev.active("CoreLoop"), ev.active("Trainer")
    while True:
        t0 = perf()
        run.abs_batch += 1
        run.batch += 1
        ev.abs_batch = run.abs_batch
        if core:
            ev.emit("CoreLoop", "StartOfBatch")
        if time_goal is not None and t0 - t_start > time_goal:
            run.abs_batch, run.batch, run.stop_reason = run.abs_batch - 1, run.batch - 1, \
                "TimeGoal"
            return
        call, inputs, lengths = nxt if nxt is not None else batches[order[pos]]
        nxt = None
        # exec: UpdatesPerBatch forward/backward/update passes on the same batch (§8.1)
        if grad_rec is not None:
            grad_rec.before_update()
        loss, err, out = step(call, inputs, lengths)
        # ExampleLosses: the last pass's per-example losses, detached only when read
        run.last_loss_terms = loss_terms(out)
        if core:
            ev.emit("CoreLoop", "TrainerUpdate")
        t1 = perf()
        timer.record("exec", t1 - t0)
        if grad_rec is not None:
            ev.emit("Gradient", grad_rec.after_update)
        # gen: the next batch (pre-gathered; the visiting order reshuffles per round, §7.5)
        pos += 1
        last_of_round = pos == run.bpr
        if last_of_round:
            pos = 0
            order = run.order = batching.reshuffle_round(order, run.rng)
        if lazy and run.abs_batch < total:
            nxt = batches[order[pos]]  # encode, pad, fill the bucket executor (§7.4, §8.5)
        if core:
            ev.emit("CoreLoop", "FetchDataFromGenerator")
        t2 = perf()
        if run.abs_batch < total:
            timer.record("gen", t2 - t1)
        # sync: the one host read per batch
        if sync_cuda:
            torch.cuda.synchronize(run.device)
        value = loss.item()
        if trainer:
            ev.emit("Trainer", "TrainerCurrentLoss")
        if core:
            ev.emit("CoreLoop", "ObtainingLoss")
        t3 = perf()
        timer.record("sync", t3 - t2)
        # coll
        batch_losses.append(value)
        run.round_batch_losses.append(value)
        if err is not None:
            # stays on the device: read once per round (or per report row), never here
            err = err.detach()
            run.round_stats.append(err)
            run.last_batch_stats = err
        if core:
            ev.emit("CoreLoop", "BatchCollectors")
        t4 = perf()
        timer.record("coll", t4 - t3)
        bt = t4 - t0
        timer.record("batch", bt)
        if bt > 0:
            run.rate_ema = 1 / bt if run.rate_ema is None else 0.9 * run.rate_ema + 0.1 / bt
        for w in watchers:
            w.batch_done(run, value, err, bt)
        if not math.isfinite(value):
            diverged(run, "the loss became " + ("NaN" if math.isnan(value) else "infinite"))
            return
        if _after_batch(run, last_of_round, core):
            return


def _after_batch(run: Run, last_of_round: bool, core: bool) -> bool:
    """Round end, a stop signal, periodic functions, the batch and round limits; True to
    stop."""
    if last_of_round:
        end_of_round(run)
        if run.stop_reason:
            return True
    if run.dist is None and run.stops is not None and run.stops.requested:  # SIGINT/SIGTERM
        run.stop_reason = "Aborted"
        return True
    # periodic functions (§9.5.2 step 8)
    if core:
        run.events.emit("CoreLoop", "CallPeriodicFunctions")
    periodic(run, last_of_round)
    if run.dist is not None:  # a signal anywhere, rank 0's callbacks and clock: all stop
        run.dist.agree(run, run.cfg.time_goal, time.perf_counter() - run.t_start)
    if run.stop_reason:
        return True
    if run.abs_batch >= run.total:
        run.stop_reason = "MaxTrainingRounds" if last_of_round else "MaxTrainingBatches"
        if last_of_round:
            run.fire("RoundComplete")
        return True
    if last_of_round:
        run.fire("RoundComplete")
        if run.round >= run.max_rounds:
            run.stop_reason = "MaxTrainingRounds"
            return True
        run.round += 1
        run.batch = 0
        run.fire("RoundStarted")
        if run.stop_reason:
            return True
    return False


def end_of_round(run: Run) -> None:
    """The round's loss, quartiles and measurements; the finite-weights check."""
    r = run.result
    losses = run.round_batch_losses
    r.round_losses.append(float(np.mean(losses)))
    r.round_loss_quartiles.append(batching.quartiles(losses))
    r.round_positions.append(run.abs_batch)
    meas = read_batch_stats(run)
    r.round_measurements.append(meas)
    run.round_measurements = meas
    run.round_batch_losses = []
    with torch.no_grad():
        norms = torch._foreach_norm(list(run.arrays.values()))
        finite = bool(torch.isfinite(torch.stack(norms)).all())
    if not finite:
        diverged(run, "a trainable array contains NaN or Inf")
        return
    if not run.val_batches:
        run.finite_state = run.snapshot()


def read_batch_stats(run: Run) -> dict[str, float]:
    """The round's measurements from the batch statistics kept on the device since the
    last read (one transfer); the per-batch values go to ``batch_measurements``."""
    stats, meter = run.round_stats, run.meter
    if not stats:
        return {}
    host = torch.stack(stats).double() / run.batch_size
    rows = host.tolist()
    run.result.batch_measurements.extend(meter.values(row) for row in rows)
    run.round_stats = []
    return meter.values(host.mean(0).tolist())


def periodic(run: Run, last_of_round: bool) -> None:
    """§9.5.2 step 8: validation, checkpoints, the stopping criterion, callbacks ("calls"),
    then instruments and reporting ("rep"), then TimingLogging."""
    clock = (run.abs_batch, run.round if last_of_round else run.round - 1,
             time.perf_counter() - run.t_start)
    if run.val_trigger is not None and run.val_trigger.due(clock):
        validate(run)
        if run.stop_reason:
            return
    if run.checkpointer is not None:
        for spec in run.checkpointer.due(clock):
            save_checkpoint(run, spec)
            if run.stop_reason:
                return
    if _criterion_stops(run, last_of_round):
        return
    run.progress_cache = None  # callbacks and reporters of this batch share one association
    t0 = time.perf_counter()
    run.callbacks.periodic(run, clock)
    t1 = time.perf_counter()
    run.timer.record("calls", t1 - t0)
    for listener in run.listeners:
        listener.periodic(run, clock)
    run.timer.record("rep", time.perf_counter() - t1)
    if run.timing_log.due(clock):
        run.events.emit("Timing", run.timer.as_log_value)


def _criterion_stops(run: Run, last_of_round: bool) -> bool:
    """TrainingStoppingCriterion (§9.8), checked after each validation (or each round
    without validation); True when it stops the run."""
    if run.stopper is None or not (last_of_round and not run.val_batches or
                                   run.val_done_at == run.abs_batch):
        return False
    r = run.result
    run.events.emit("CoreLoop", "CheckingEarlyStopping")
    vals = {"ValidationLoss": r.validation_losses[-1] if r.validation_losses else None,
            "ValidationMeasurements": run.val_measurements,
            "RoundLoss": r.round_losses[-1] if r.round_losses else None,
            "RoundMeasurements": run.round_measurements}
    if run.stopper.should_stop(run.round, vals):
        run.stop_reason = "StoppingCriterion"
        run.events.emit("CoreLoop", "TrainingStoppedEarly")
        run.fire("TrainingStoppedEarly")
        return True
    return False


def diverged(run: Run, what: str) -> None:
    """NaN or Inf (§8.6): warn with ``NetTrain::arrdiv`` and stop with "WeightsDiverged"."""
    with_val = run.best_state is not None
    text = (f"training was stopped early because {what} at batch {run.abs_batch}. "
            + ("The net with the lowest validation loss is returned. " if with_val else
               "The most recent net with finite weights is returned. ")
            + f"Consider normalizing the data, lowering the learning rate (Method -> "
            f"\"{run.method.name}\" used LearningRate -> {run.method.learning_rate}), or "
            f"using the \"GradientClipping\" sub-option of Method.")
    warnings.warn(TrainingWarning(f"NetTrain::arrdiv: {text}"), stacklevel=4)
    run.stop_reason = "WeightsDiverged"
    run.fire("WeightsDiverged")
    run.stop_reason = "WeightsDiverged"
