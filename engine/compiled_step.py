"""The compiled training step (``"InternalOptions" -> {"CompileTrainingStep" -> True}``): the
whole step of `engine.loop_step.TrainingStep` — forward, loss, backward and the optimizer
update, `UpdatesPerBatch` times — under ``torch.compile``.

One graph per input shape (``dynamic=False``): a sequence bucket key or batch size is compiled
the first time it runs and reused after; each compilation is logged on the Executor channel as
``(Symbol("CompiledStepCompile"), dims, seconds)`` and its time kept apart
(`CompiledStep.compile_seconds`), so throughput after warm-up can be read without it.
The step is compiled in two graphs around the backward call (which dynamo cannot trace):
forward and loss, whose backward AOT autograd compiles with it, and the optimizer update,
whose ``_foreach`` arithmetic becomes one fused graph for every step.

A compilation that fails (no C++ compiler, an operation inductor lacks) warns once with
``NetTrain::stepcompile`` and the run continues with the eager step; an error the eager step
raises too is the net's own and propagates. Real16 and Mixed (loss scaling, masters) keep the
eager step. ``WLBRIDGE_COMPILE_BACKEND`` picks the backend ("inductor" by default; tests use
"aot_eager", which captures the same graphs without inductor's C++ build).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any

import torch

from engine.events import Events, Symbol
from engine.loop_step import TrainingStep, batch_loss

#: graphs one step may keep (bucket keys x batch sizes); dynamo's default is 8
COMPILED_SHAPES_LIMIT = 256


class StepCompileWarning(UserWarning):
    """``NetTrain::stepcompile``: the step runs eagerly because compiling it failed."""


def default_backend() -> str:
    return os.environ.get("WLBRIDGE_COMPILE_BACKEND", "inductor")


def _quiet_dynamo() -> None:
    """Dynamo's graph-break notes (a data-dependent branch in a recurrent layer) are for
    torch developers; the user sees them only when asking with TORCH_LOGS."""
    if "TORCH_LOGS" not in os.environ:
        logging.getLogger("torch._dynamo").setLevel(logging.ERROR)


def _raise_recompile_limit() -> None:
    import torch._dynamo as dynamo

    cfg = dynamo.config
    name = "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit"
    setattr(cfg, name, max(getattr(cfg, name), COMPILED_SHAPES_LIMIT))


class CompiledStep:
    """``step(call, inputs, lengths) -> (loss, stats, out)`` like `TrainingStep`, compiled."""

    def __init__(self, step: TrainingStep, events: Events, backend: str | None = None):
        self.step = step
        self.events = events
        self.backend = backend or default_backend()
        self.shapes: dict[tuple, float] = {}  # compiled input shapes -> compile seconds
        self.failed = step._policy  # Real16 / Mixed stay eager
        _raise_recompile_limit()
        _quiet_dynamo()
        try:
            self._forward_c = torch.compile(self._forward, backend=self.backend, dynamic=False)
            self._update_c = torch.compile(self._update, backend=self.backend)
        except Exception as err:  # noqa: BLE001 - an unknown backend: eager, with a message
            self._fail(err)

    @property
    def compile_seconds(self) -> float:
        """Seconds spent in first calls of new shapes (compilation and one step)."""
        return sum(self.shapes.values())

    def _fail(self, err: BaseException) -> None:
        self.failed = True
        text = str(err).strip()
        first = text.splitlines()[0][:200] if text else ""
        warnings.warn(StepCompileWarning(
            f"NetTrain::stepcompile: the training step could not be compiled "
            f"({type(err).__name__}: {first}); training continues with the uncompiled "
            "step."), stacklevel=3)

    def _forward(self, call: Any, inputs: dict[str, torch.Tensor],
                 lengths: dict[int, torch.Tensor] | None) -> tuple[Any, Any, Any]:
        """Forward and loss, one graph per shape; AOT autograd compiles its backward too."""
        out = call(inputs, lengths)
        loss, stats = batch_loss(out, inputs, self.step.meter, lengths)
        w = self.step.loss_weight
        return (loss if w == 1.0 else loss * w), loss, stats, out

    def _update(self, t: int) -> None:
        """The optimizer update; ``t`` (the step count) becomes a symbolic int after the
        second call, so one graph serves every step of the schedule."""
        opt = self.step.opt
        opt.t = t
        opt.step()

    def _run(self, call: Any, inputs: dict[str, torch.Tensor],
             lengths: dict[int, torch.Tensor] | None) -> tuple[Any, Any, Any]:
        step = self.step
        opt, ev, trainer = step.opt, self.events, step._trainer
        for _ in range(step.updates):
            if trainer:
                ev.emit("Trainer", "ForwardBackward")
            opt.zero_grad()
            scaled, loss, stats, out = self._forward_c(call, inputs, lengths)
            scaled.backward()
            if trainer:
                ev.emit("Trainer", "CallOptimizer")
            self._update_c(opt.t)
        return loss, stats, out

    def __call__(self, call: Any, inputs: dict[str, torch.Tensor],
                 lengths: dict[int, torch.Tensor] | None) -> tuple[Any, Any, Any]:
        if self.failed:
            return self.step(call, inputs, lengths)
        key = (id(call), *((p, tuple(t.shape)) for p, t in inputs.items()))
        new = key not in self.shapes
        ev, trainer = self.events, self.step._trainer
        if trainer:
            ev.emit("Trainer", "TrainerUpdateStarted")
        t0 = time.perf_counter()
        try:
            res = self._run(call, inputs, lengths)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
            if not new:
                raise
            self._fail(err)
            return self.step(call, inputs, lengths)
        if new:
            seconds = time.perf_counter() - t0
            self.shapes[key] = seconds
            ev.emit("Executor", lambda: (Symbol("CompiledStepCompile"),
                                         {p: tuple(t.shape) for p, t in inputs.items()},
                                         round(seconds, 6)))
        if trainer:
            ev.emit("Trainer", "TrainerUpdateFinished")
        return res
