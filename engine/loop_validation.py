"""Validation (reference §9.7) and keeping the best net (§8.7).

`validate(run)` measures the validation batches, records the result, and keeps a snapshot of
the weights when they are the best so far (lowest error rate, then loss; loss only when
told so).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from engine import executor_log
from engine.loop_step import loss_terms

if TYPE_CHECKING:
    from engine.loop_run import Run


@torch.no_grad()
def _measure(run: Run) -> tuple[float, dict[str, float]]:
    """Validation loss = mean over the validation examples (padding excluded, §9.7), and the
    measurements.

    Default: the module in eval mode under inference mode (NetTrain's separate test-mode
    executor). DisableValidationExecutor: the training module itself is used under
    ``no_grad`` without switching modes, as the paclet's training executor is reused.
    """
    ev = run.events
    separate = not run.cfg.disable_validation_executor
    reshape = not separate and run.val_batch_size != run.batch_size
    if reshape:  # the training executor runs the validation batch size, then back
        ev.emit("Executor", lambda: executor_log.executor_reshape(int(run.val_batch_size),
                                                                  run.device))
    if separate:
        run.module.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=run.device)
    stat_sum: torch.Tensor | None = None
    count = 0
    meter = run.meter
    ctx = torch.inference_mode() if separate else torch.no_grad()
    with ctx, run.precision.autocast():
        for call, inputs, lengths, mask in run.val_batches:
            out = call(inputs, lengths)
            per = None
            for v in loss_terms(out).values():
                v = v.reshape(v.shape[0], -1).mean(1).double()
                per = v if per is None else per + v
            e = meter.stats(out, inputs, lengths) if meter else None
            if mask is not None:
                per = per[mask]
                e = e[mask] if e is not None else None
            loss_sum += per.sum()
            count += per.shape[0]
            if e is not None:
                e = e.double().sum(0)
                stat_sum = e if stat_sum is None else stat_sum + e
    if separate:
        run.module.train()
    if reshape:
        ev.emit("Executor", lambda: executor_log.executor_reshape(int(run.batch_size),
                                                                  run.device))
    loss = float(loss_sum) / count
    meas = meter.values((stat_sum / count).tolist()) if stat_sum is not None else {}
    return loss, meas


def validate(run: Run) -> None:
    """One validation pass: events, the recorded loss and measurements, the best net."""
    ev, r = run.events, run.result
    ev.emit("CoreLoop", "ValidationStarted")
    ev.emit("Trainer", "TrainerDoValidation")
    run.fire("ValidationStarted")
    loss, meas = _measure(run)
    r.validation_losses.append(loss)
    r.validation_measurements.append(meas)
    r.validation_positions.append(run.abs_batch)
    run.val_measurements = meas
    run.val_done_at = run.abs_batch
    ev.emit("CoreLoop", "ValidationComplete")
    run.fire("ValidationComplete")
    if math.isfinite(loss):
        _keep_best(run, loss, meas)


def _keep_best(run: Run, loss: float, meas: dict[str, float]) -> None:
    """Best net (§8.7): lowest error rate, then loss; by loss only when told so."""
    err = meas.get("ErrorRate", 1 - meas["Accuracy"] if "Accuracy" in meas else None)
    key = (err, loss) if err is not None and run.cfg.select_lowest_validation_error \
        else (loss,)
    if run.best_key is None or key < run.best_key:
        run.best_key = key
        run.best_state = run.snapshot()
        run.result.best_validation_round = run.round
        run.events.emit("Trainer", ("TrainerSaveCheckpoint", "InMemory"))
        run.fire("NetValidationImprovement")
