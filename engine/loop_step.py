"""The training step: one batch's forward, loss, backward and update, `UpdatesPerBatch` times,
under the WorkingPrecision policy (reference §8.1, §8.2).

`TrainingStep` is the unit the loop calls once per batch (DESIGN rule 7): it takes a batch
and returns device tensors without reading them, so the loop decides when to sync. The same
step is what a data-parallel process runs, and what a compiled step wraps.

Also here: the per-batch loss of a module's output (both module conventions) and
ExampleLosses (§9.10), which share the loss reading.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.columns import Columns
from engine.errors import EngineError
from engine.events import Events


def batch_loss(out: dict[str, Any], inputs: dict[str, torch.Tensor], meter: Any = None,
               lengths: dict[int, torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Total per-batch loss (sum over loss ports of the batch means) and the *sums* over the
    batch of its measurement statistics (`engine.measurements.Meter`, on the device; None
    without one). Sums, not means: float32 counts of 0/1 errors are exact, and the division
    by the batch size happens on the host in float64 when the values are read.

    Accepts both module conventions: a flat ``{port: loss, "$ErrorRate": errors}`` and
    `engine.losses.TrainingModule`'s ``{"losses": {...}, "outputs": {...}}``.
    """
    if isinstance(out.get("losses"), dict):
        losses = out["losses"]
    else:
        losses = {k: v for k, v in out.items() if k[:1] != "$"}
    stats = None
    if meter:
        per = meter.stats(out, inputs, lengths)
        stats = per.sum(0) if per is not None else None
    total = None
    for v in losses.values():
        m = v.mean()
        total = m if total is None else total + m
    if total is None:
        raise EngineError("noloss", "the training net has no loss output.")
    return total, stats


def loss_terms(out: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The per-example loss tensors of a module's output, by loss port."""
    losses = out["losses"] if isinstance(out.get("losses"), dict) else out
    return {k: v for k, v in losses.items() if k[:1] != "$"}


def per_example_total(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each example's loss: the sum over loss ports of its (position-averaged) loss."""
    total = None
    for v in terms.values():
        v = v.detach()
        v = v.reshape(v.shape[0], -1).mean(1).double()
        total = v if total is None else total + v
    if total is None:
        raise EngineError("noloss", "the training net has no loss output.")
    return total


@torch.no_grad()
def example_losses(module: torch.nn.Module, cols: Columns, batch_size: int
                   ) -> tuple[float, ...]:
    """ExampleLosses (§9.10): every example's loss under ``module`` in data order, in eval
    mode and in batches of ``batch_size``; the module's train/eval mode is restored."""
    was_training = module.training
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), None)
    parts: list[torch.Tensor] = []
    module.eval()
    try:
        with torch.inference_mode():
            for start in range(0, cols.n, batch_size):
                inputs, lengths = cols.gather(np.arange(start, min(start + batch_size, cols.n)))
                if dtype is not None:  # Real16 columns meet the float32 masters after training
                    inputs = {k: v.to(dtype) if v.is_floating_point() else v
                              for k, v in inputs.items()}
                parts.append(per_example_total(loss_terms(module(inputs, lengths))).cpu())
    finally:
        module.train(was_training)
    return tuple(torch.cat(parts).tolist()) if parts else ()


class TrainingStep:
    """``step(call, inputs, lengths) -> (loss, stats, out)`` for one batch.

    ``call`` is the module (or the bucket executor) that runs the batch; ``loss`` is the
    last pass's 0-d loss tensor and ``stats`` its measurement sums (`batch_loss`), both still
    on the device (not synced); ``out`` is the last pass's module output (ExampleLosses).
    The Trainer channel's update markers (§3.10) are emitted here when it is live.
    """

    __slots__ = ("module", "opt", "precision", "meter", "updates", "events", "_trainer",
                 "_policy", "loss_weight")

    def __init__(self, module: torch.nn.Module, opt: Any, precision: Any, meter: Any,
                 updates: int, events: Events):
        self.module, self.opt, self.precision = module, opt, precision
        self.meter = meter if meter else None
        self.updates = updates
        self.events = events
        self._trainer = events.active("Trainer")
        # Real16 and Mixed go through the policy (loss scaling, masters, autocast)
        self._policy = precision.name in ("Real16", "Mixed")
        # a data-parallel process's share of the global batch mean (engine.distributed)
        self.loss_weight = 1.0

    def __call__(self, call: Any, inputs: dict[str, torch.Tensor],
                 lengths: dict[int, torch.Tensor] | None
                 ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, Any]]:
        opt, meter = self.opt, self.meter
        trainer, ev, precision, w = self._trainer, self.events, self.precision, self.loss_weight
        if trainer:
            ev.emit("Trainer", "TrainerUpdateStarted")
        for _ in range(self.updates):
            if trainer:
                ev.emit("Trainer", "ForwardBackward")
            opt.zero_grad()
            if self._policy:
                precision.clear_module_grads()
                with precision.autocast():
                    out = call(inputs, lengths)
                    loss, stats = batch_loss(out, inputs, meter, lengths)
                precision.backward(loss if w == 1.0 else loss * w)  # Real16: loss x rescale (§8.2)
                if trainer:
                    ev.emit("Trainer", "CallOptimizer")
                precision.unscale_and_step(opt)  # masters step, float16 arrays synced
            else:
                out = call(inputs, lengths)
                loss, stats = batch_loss(out, inputs, meter, lengths)
                (loss if w == 1.0 else loss * w).backward()
                if trainer:
                    ev.emit("Trainer", "CallOptimizer")
                opt.step()
        if trainer:
            ev.emit("Trainer", "TrainerUpdateFinished")
        return loss, stats, out
