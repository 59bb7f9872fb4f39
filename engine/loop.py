"""NetTrain's training loop on a torch module: rounds, batches, validation, stopping, results.

`train(module, data, config)` runs the setup of reference §9.5.1 and the per-batch order of
§9.5.2, times the phases of §4.3 with `engine.timings.PhaseTimer`, emits the channels of §3
through `engine.events.Events`, and returns a `TrainResult` of plain Python values that
`wlbridge.results` turns into NetTrain's properties. This module is the loop's door; its
rooms are described in engine/README.md.

The *training module* is any ``torch.nn.Module`` called as ``module(inputs, lengths)`` with
``inputs: dict[port, Tensor]`` (batch first) and ``lengths: dict[int, Tensor]`` (LengthVar id ->
true lengths); it returns a dict of **per-example** losses by loss port (shape ``[B]`` or
``[B, ...]``, averaged over the extra axes) and, optionally, measurement tensors whose key
starts with ``"$"`` — ``"$ErrorRate"`` holds per-example 0/1 errors (cross-entropy "Index").
`engine.losses.attach_losses` builds such a module from a net; tests may pass any module.

Why the loop is shaped as it is (the ≤ 3 % overhead target): the §7.1 permutation is fixed for
the run, so every batch is gathered once before the loop and "gen" is a list lookup; the only
per-batch host sync is the one loss read; error counts stay on the device until a round ends.

Divergence (NaN/Inf loss or weights) is reported with `warnings.warn` of `TrainingWarning`
whose text is ``NetTrain::arrdiv: ...``. SIGINT and SIGTERM (and a KeyboardInterrupt raised
otherwise) stop like NetTrain's first abort: reason ``"Aborted"``, the result of the batches
completed so far returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from engine import distributed
from engine.denormal import flush_denormals
from engine.errors import EngineError
from engine.events import Events
from engine.loop_listeners import LoopListener
from engine.loop_result import SKIPPED_TRAINING_DATA, TrainingWarning, TrainResult
from engine.loop_run import Run
from engine.loop_signals import catching_stop_signals
from engine.loop_step import TrainingStep, example_losses
from engine.spec import Dataset, EncoderSpec, TrainConfig
from engine.threads import ThreadGovernor, governed_threads

#: TimingLogging's period in seconds (§3.7: every 10 s); a module constant so tests can shorten it
TIMING_LOG_PERIOD = 10.0

__all__ = ["SKIPPED_TRAINING_DATA", "TIMING_LOG_PERIOD", "LoopListener", "TrainResult",
           "TrainingStep", "TrainingWarning", "example_losses", "train"]


class _Governed(LoopListener):
    """ThreadPolicy's hook: the governor sees every batch's wall time and notes its moves on
    the run's events (engine.threads)."""

    def __init__(self, governor: ThreadGovernor):
        self.governor = governor

    def started(self, run: Any) -> None:
        self.governor.attach(run.events)

    def batch_done(self, run: Any, loss: float, stats: torch.Tensor | None,
                   seconds: float) -> None:
        self.governor.observe(seconds)


def train(module: torch.nn.Module, data: Dataset, config: TrainConfig, *,
          encoders: dict[str, EncoderSpec] | None = None, events: Events | None = None,
          net_factory: Callable[[torch.nn.Module], Any] | None = None,
          reporter: Any = None,
          checkpoint_writer: Callable[[torch.nn.Module, str, str], None] | None = None,
          listeners: Sequence[LoopListener] = ()) -> TrainResult:
    """Train ``module`` (a training module, see the module docstring) on ``data``.

    ``encoders`` maps ports whose columns hold raw values to their `EncoderSpec` (run once,
    before training). ``net_factory(module)`` builds the user-facing net for the ``"Net"`` key
    of TrainingProgressFunction (the engine never imports wlbridge). ``reporter`` is an
    `engine.reporting.Reporter` or None. ``checkpoint_writer(module, path, format)`` writes
    TrainingProgressCheckpointing files ("wl", "wxf", "wlnet", "params"; `engine.checkpoint`
    picks when and where, and writes "params" itself without one). ``listeners`` are
    `engine.loop_listeners.LoopListener` objects that watch the run (each batch's loss and
    time, the periodic point, named events). On return the module holds the TrainedNet
    weights (best validation net if validating); ``final_state`` holds the last weights
    (FinalNet).
    """
    if config.updates_per_batch < 1:
        raise EngineError("badintopt", "\"UpdatesPerBatch\" should be a positive integer.")
    # Subnormal floats (ADAM's second moments, long backward chains) take a slow microcode
    # path on x86; MXNet flushes them, and so do we while training on the CPU. SIGINT and
    # SIGTERM stop at the end of a batch (engine.loop_signals). ThreadPolicy moves torch's
    # CPU thread count with the machine's load (engine.threads).
    dist = distributed.current(config)  # a data-parallel worker joins its group
    if dist is not None:
        config, events, reporter, checkpoint_writer, listeners = _worker_view(
            dist, config, events, reporter, checkpoint_writer, listeners)
    try:
        with flush_denormals(True), catching_stop_signals() as stops, \
                governed_threads(config.thread_policy, config.target_device) as governor:
            if governor is not None:
                listeners = [*listeners, _Governed(governor)]
            run = Run(module, data, config, encoders, events, net_factory, reporter,
                      checkpoint_writer, listeners, TIMING_LOG_PERIOD, stops, dist)
            return run.run()
    except RuntimeError as err:
        if dist is None or not (type(err).__name__ == "DistBackendError"
                                or _peer_failure(err)):
            raise
        raise EngineError("ddpfail", f"process {dist.rank} of {dist.world} lost its peers "
                          f"({str(err).splitlines()[0][:200]}); training stopped.") from err
    finally:
        if dist is not None:
            dist.close()


def _peer_failure(err: BaseException) -> bool:
    """A collective failed because another process died or timed out."""
    text = str(err).lower()
    return any(w in text for w in ("gloo", "nccl", "connection", "timed out", "peer"))


def _worker_view(dist: Any, config: TrainConfig, events: Events | None, reporter: Any,
                 checkpoint_writer: Any, listeners: Sequence[LoopListener]) -> tuple:
    """What one data-parallel process trains with: the seed of rank 0 (one permutation for
    all), the checkpoint to resume from after a launcher restart, and on ranks other than 0
    no reporting, callbacks, logging channels or checkpoints (rank 0 writes them once)."""
    import dataclasses

    from engine.distributed import restart_state

    changes: dict[str, Any] = {}
    seed = config.random_seed
    if seed is None:
        seed = int(torch.randint(0, 2**62, ()).item()) if dist.rank == 0 else 0
    changes["random_seed"] = dist.broadcast_int(seed)
    if config.resume_from is None:
        changes["resume_from"] = restart_state(config)
    if dist.rank != 0:
        changes.update(listeners={}, training_progress_function=[],
                       training_progress_checkpointing=None, report_memory_usage=False)
        events, reporter, checkpoint_writer, listeners = None, None, None, ()
    return dataclasses.replace(config, **changes), events, reporter, checkpoint_writer, \
        listeners
