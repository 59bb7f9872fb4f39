"""One NetTrain run: the live state that callbacks, reporters and results read, the setup
order of reference §9.5.1, and what happens after the loop (§9.5.2 "after the loop").

`Run` owns the state; the concerns live in their own modules and act on it:
`engine.loop_setup` (batches, arrays), `engine.loop_step` (the training step),
`engine.loop_schedule` (batches, rounds, periodic functions, stopping),
`engine.loop_validation` (validation, best net), `engine.loop_checkpoints`,
`engine.loop_listeners` (callbacks, reporting, memory) and `engine.loop_info` (§9.11).
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from engine import loop_setup as setup
from engine.columns import Columns
from engine.devices import torch_device
from engine.errors import EngineError
from engine.events import Events
from engine.generated import (
    GeneratedBatches,
    GeneratedData,
    prepare_generated,
    prepare_generated_validation,
)
from engine.intervals import Trigger, normalise
from engine.loop_checkpoints import final_checkpoints
from engine.loop_info import LazyInfo, progress_info
from engine.loop_listeners import (
    Callbacks,
    LoopListener,
    MemorySampling,
    Reporting,
    watches_batches,
)
from engine.loop_result import TrainingWarning, TrainResult
from engine.loop_schedule import read_batch_stats, run_batches
from engine.loop_signals import StopSignals
from engine.loop_step import TrainingStep, example_losses
from engine.loop_validation import validate
from engine.measurements import make_meter
from engine.optim import WolframOptimizer, resolve_method
from engine.resume import load_state, restore
from engine.spec import Dataset, EncoderSpec, TrainConfig
from engine.stopping import EarlyStopping
from engine.timings import PhaseTimer


class Run:
    """One NetTrain run; attributes are the live state callbacks and results read."""

    def __init__(self, module: torch.nn.Module, data: Dataset, config: TrainConfig,
                 encoders: dict[str, EncoderSpec] | None, events: Events | None,
                 net_factory: Callable[[torch.nn.Module], Any] | None, reporter: Any,
                 checkpoint_writer: Callable[[torch.nn.Module, str, str], None] | None = None,
                 listeners: Sequence[LoopListener] = (), timing_log_period: float = 10.0,
                 stops: StopSignals | None = None, dist: Any = None):
        self.cfg = config
        self.stops = stops
        self.dist = dist  # engine.distributed.Distributed of a data-parallel worker, or None
        self.checkpoint_writer = checkpoint_writer
        self.events = events or Events(config.listeners)
        self.net_factory = net_factory
        self.reporter = reporter
        self.extra_listeners = list(listeners)
        self.callbacks = Callbacks([], 1, math.inf)
        self.listeners: list[LoopListener] = []
        self.event_name: str | None = None
        self.device = dist.device if dist is not None else \
            torch_device(config.target_device)
        self.dtype = setup.dtype_for(config.working_precision)
        if config.working_precision == "Mixed" and self.device.type != "cuda":
            raise EngineError("nninvmixed", "WorkingPrecision -> \"Mixed\" needs a GPU "
                              "TargetDevice.", "General")
        from engine.precision import PrecisionPolicy

        # Real16: float16 module, float32 masters owned by the optimizer, loss x rescale (§8.2)
        self.precision = PrecisionPolicy(config.working_precision,
                                         config.low_precision_gradient_rescaling,
                                         str(self.device))
        if len(data) == 0:
            raise EngineError("nodata", "the training data contains no examples.")
        if config.random_seed is not None:
            torch.manual_seed(config.random_seed)
            self.rng = np.random.default_rng(config.random_seed)
        else:
            self.rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        # cast by the policy: for Real16 it keeps float32 masters of the exact initial values
        self.module = module.to(self.device)
        self.precision.prepare(self.module)
        self.module.train()
        encoders = encoders or {}
        gen = data if isinstance(data, GeneratedData) else None  # NetTrain[net, f]
        self.cols = Columns(gen.first if gen else data, self.module, encoders, self.device,
                            self.dtype, config)
        self.val_cols = None
        if isinstance(config.validation_set, Dataset):
            if len(config.validation_set) == 0:
                raise EngineError("nodata", "the ValidationSet contains no examples.")
            self.val_cols = Columns(config.validation_set, self.module, encoders,
                                    self.device, self.dtype, config)
        # ResumeFrom: the saved state is read now (its permutation replaces a new one) and
        # put into the run once it is set up (engine.resume)
        self.resume_state = load_state(config.resume_from, self.device) \
            if config.resume_from else None
        lengths = self.cols.lengths()
        bs = gen.batch_size if gen else config.batch_size or (32 if lengths else 64)
        self.batch_size = bs = max(1, min(bs, self.cols.n))
        self.events.emit("Trainer", lambda: ("ToNetTrainerStarted", bs, self.context(),
                                            setup.DTYPE_CODES[self.dtype],
                                            config.method.name))
        if gen:
            prepare_generated(self, gen, encoders)
        else:
            setup.prepare_batches(self, lengths)
        prepare_generated_validation(self, encoders)
        setup.prepare_arrays(self)
        if dist is not None:
            dist.attach(self)  # DistributedDataParallel: every batch calls the wrapper
        self.method = resolve_method(config.method, config.learning_rate)
        self.timer = PhaseTimer()
        # TimingLogging: every timing_log_period seconds of training (§3.7), the §9.6 rule
        self.timing_log = Trigger((0, 0, timing_log_period))
        self.memory = None
        if self.events.active("MemoryUsage") or config.report_memory_usage:
            from engine.memory import MemorySampler

            self.memory = MemorySampler(config.memory_reporting_interval,
                                        gpus=config.report_memory_usage and
                                        self.device.type == "cuda",
                                        buckets=self.bucket_count)

    # -- small views of the state ---------------------------------------------------------------

    def bucket_count(self) -> int:
        """The "Buckets" figure of memory reporting: executors cached for sequence buckets."""
        return self.buckets.bucket_count if self.buckets is not None else 0

    def context(self) -> int:
        return 1 if self.device.type == "cpu" else 2 + (self.device.index or 0)

    @property
    def val_batch_size(self) -> int:
        """The batch size validation runs with: the first validation batch's when the batches
        are prepared tensors; bucketed validation logs through its own executors."""
        vb = self.val_batches
        if not isinstance(vb, list) or not vb:
            return self.batch_size
        return next((int(t.shape[0]) for t in vb[0][1].values()), self.batch_size)

    def snapshot(self) -> dict[str, torch.Tensor]:
        """A copy of the module's state; in Real16 the trainable arrays are the float32
        masters, so a restored best/final net has the optimizer's exact weights."""
        state = setup.module_state(self.module)
        state.update(self.precision.master_state())
        return state

    def progress(self) -> LazyInfo:
        """The §9.11 association, shared by the callbacks and reporters of one batch."""
        if self.progress_cache is None:
            self.progress_cache = progress_info(self)
        return self.progress_cache

    def fresh_progress(self) -> LazyInfo:
        """A new §9.11 association (event callbacks each get their own)."""
        return progress_info(self)

    def fire(self, name: str, guard: bool = True) -> list[Any]:
        """Tell the listeners that event ``name`` happened; returns the callbacks' answers."""
        self.event_name = name
        outs = self.callbacks.event(self, name, guard)
        for listener in self.listeners:
            outs += listener.event(self, name, guard)
        return outs

    # -- one run --------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train to a stop; the module ends holding the TrainedNet weights."""
        self._plan()
        r = self.result
        if not self.arrays:
            warnings.warn(TrainingWarning("NetTrain::netfrozen: all arrays of the net are "
                                          "frozen; the net is returned unchanged."), stacklevel=3)
            r.reason = "MaxTrainingRounds"
            self.precision.write_back(self.module)
            r.final_state = setup.module_state(self.module)
            return r
        self._prepare_periodic()
        for listener in self.listeners:
            listener.started(self)
        self.t_start = time.perf_counter()
        resumed = self.resume_state is not None
        if resumed:
            restore(self, self.resume_state)  # also continues the elapsed time
            self.resume_state = None
        aborted = False
        backend = contextlib.nullcontext()
        ev = self.events
        if ev.active("Backend"):
            from engine.backend_trace import trace_backend

            backend = trace_backend(lambda v: ev.emit("Backend", v))
        if self.memory is not None:
            self.memory.reset()
        stops = self.stops
        outer_phase = stops.phase if stops is not None else None
        try:
            if stops is not None:
                stops.phase = "loop"
            ev.emit("CoreLoop", "StartOfLoop")
            self.fire("TrainingStarted")
            if resumed and self.abs_batch >= self.total:  # the saved run got this far already
                self.stop_reason = "MaxTrainingRounds"
            else:
                with backend:
                    run_batches(self)
        except KeyboardInterrupt:
            aborted = True
            self.stop_reason = "Aborted"
            self._drop_unfinished_batch()
        finally:
            if stops is not None:  # a run inside a callback hands the loop phase back
                stops.phase = "loop" if outer_phase == "loop" else "finishing"
        self._finish(time.perf_counter() - self.t_start, aborted)
        return r

    def _drop_unfinished_batch(self) -> None:
        """An interrupt inside a batch: that batch never finished (its loss was not read),
        so it is not counted; TotalBatches and ExamplesProcessed agree with the loss list."""
        done = len(self.result.batch_losses)
        if self.abs_batch > done:
            self.batch -= self.abs_batch - done
            self.abs_batch = self.events.abs_batch = done

    def _plan(self) -> None:
        """The round and batch limits, the optimizer, the step and the empty result."""
        cfg, ev = self.cfg, self.events
        if cfg.max_training_rounds is not None:
            max_rounds: float = cfg.max_training_rounds
        elif cfg.time_goal is not None:
            max_rounds = math.inf
        elif cfg.max_training_batches is not None:
            max_rounds = math.ceil(cfg.max_training_batches / self.bpr)
        else:
            max_rounds = setup.automatic_rounds(self)
            if self.dist is not None:  # timed in each process: rank 0's count for all
                max_rounds = self.dist.broadcast_int(max_rounds)
        total = max_rounds * self.bpr
        if cfg.max_training_batches is not None:
            total = min(total, cfg.max_training_batches)
        self.max_rounds, self.total = max_rounds, total
        ev.emit("Trainer", "CreatingOptimizer")
        self.opt = WolframOptimizer(self.method, self.opt_arrays, self.multipliers,
                                    total_steps=total)
        ev.emit("Trainer", "ToNetTrainerFinished")
        setup.log_executors(self)
        self.result = TrainResult(
            module=self.module, final_state={}, batch_size=self.batch_size,
            batches_per_round=self.bpr, training_examples=self.training_examples,
            validation_examples=self.validation_examples, method=self.method.name,
            target_device=cfg.target_device, initial_learning_rate=self.opt.current_rate(1),
            learning_rate_multipliers=dict(self.multipliers), permutation=self.train_perm,
            max_training_rounds=max_rounds, plot_loss_quartiles=cfg.plot_loss_quartiles)
        cols, module, bs = self.cols, self.module, self.batch_size  # not the whole run
        if not isinstance(self.batches, GeneratedBatches):  # a generator: noexloss
            self.result.example_losses = lambda: example_losses(module, cols, bs)

    def _prepare_periodic(self) -> None:
        """Triggers (§9.6), the measurements, checkpoints, stopping, listeners, the step."""
        cfg, ev, total = self.cfg, self.events, self.total
        self.val_trigger = Trigger(normalise(cfg.validation_interval, self.bpr, total)) \
            if self.val_batches else None
        self.callbacks = Callbacks(cfg.training_progress_function, self.bpr, total)
        self.best_key: tuple | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.finite_state = self.snapshot()
        self.grad_rec = self._gradient_recorder() if ev.active("Gradient") else None
        self.round, self.batch, self.abs_batch = 1, 0, 0
        self.order = np.arange(self.bpr)  # the visiting order of this round's batches (§7.5)
        self.stop_reason: str | None = None
        self.rate_ema: float | None = None
        self.round_batch_losses: list[float] = []
        self.round_stats: list[torch.Tensor] = []
        self.last_batch_stats: torch.Tensor | None = None
        self.last_loss_terms: dict[str, torch.Tensor] | None = None
        self.round_measurements: dict[str, float] = {}
        self.val_measurements: dict[str, float] = {}
        self.val_done_at = -1
        self.progress_cache: LazyInfo | None = None
        from engine.checkpoint import make_checkpointer

        crit = cfg.training_stopping_criterion
        self.meter = make_meter(cfg.training_progress_measurements, self.module,
                                cfg.disable_error_rate, crit.criterion if crit else None)
        if crit is not None and isinstance(crit.criterion, str) and \
                crit.criterion != "Loss" and crit.criterion not in self.meter.names:
            raise EngineError("invstopmetric", f"the TrainingStoppingCriterion measurement "
                              f"{crit.criterion!r} is not measured; measured are "
                              f"{', '.join(repr(n) for n in ['Loss', *self.meter.names])}.")
        self.checkpointer = make_checkpointer(cfg.training_progress_checkpointing,
                                              self.checkpoint_writer, self.bpr, total,
                                              self.max_rounds)
        self.stopper = EarlyStopping(crit) if crit else None
        if self.stopper and not self.val_batches:
            warnings.warn(TrainingWarning("NetTrain::novalidation: no ValidationSet is given; "
                                          "the stopping criterion uses round measurements."),
                          stacklevel=4)
        self.step = TrainingStep(self.module, self.opt, self.precision, self.meter,
                                 cfg.updates_per_batch, ev)
        if cfg.compile_training_step:
            from engine.compiled_step import CompiledStep

            self.step = CompiledStep(self.step, ev)
        if self.dist is not None:  # losses and sums reduced over the processes
            self.step = self.dist.wrap_step(self.step, self.batch_size)
        self.listeners = ([MemorySampling(self.memory)] if self.memory is not None else []) \
            + ([Reporting(self.reporter)] if self.reporter is not None else []) \
            + self.extra_listeners
        self.batch_listeners = [x for x in self.listeners if watches_batches(x)]

    def _finish(self, elapsed: float, aborted: bool) -> None:
        """After the loop (§9.5.2): last validation and checkpoints, the result's figures,
        TrainedNet / FinalNet weights, the listeners' last word."""
        cfg, ev, r = self.cfg, self.events, self.result
        ev.emit("CoreLoop", "TrainerFinalize")
        ev.emit("Trainer", "TrainerFinalize")
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        manual = self.stop_reason in ("ManualStop", "Aborted", "WeightsDiverged")
        if not manual and self.val_batches and self.val_done_at != self.abs_batch:
            validate(self)
        # a signal stopped cleanly at a batch's end: checkpoints are saved, to resume from
        if not manual or (self.stop_reason == "Aborted" and not aborted
                          and self.stops is not None and self.stops.requested):
            final_checkpoints(self)
        if self.round_stats:  # batches after the last round end: their batch measurements
            read_batch_stats(self)
        r.measurement_names = list(self.meter.names)
        ev.emit("CoreLoop", "EndOfLoop")
        self.fire("TrainingAborted" if self.stop_reason == "Aborted" else "TrainingComplete",
                  guard=not aborted)
        r.reason = self.stop_reason or "MaxTrainingRounds"
        r.total_time = elapsed
        r.total_batches = self.abs_batch
        r.total_rounds = int(min(self.round, self.max_rounds))
        r.examples_processed = self.abs_batch * self.batch_size
        r.optimizer_steps = self.opt.t
        r.final_learning_rate = self.opt.learning_rate
        r.mean_batches_per_second = self.abs_batch / elapsed if elapsed > 0 else 0.0
        r.mean_examples_per_second = (r.mean_batches_per_second * self.batch_size *
                                      cfg.updates_per_batch)
        r.timings = self.timer.as_callback_dict()
        # Real16: the module becomes float32 holding the masters; snapshots hold masters too
        self.precision.write_back(self.module)
        if r.reason == "WeightsDiverged":
            self.module.load_state_dict(self.best_state or self.finite_state)
        r.final_state = setup.module_state(self.module)
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        for listener in self.listeners:
            listener.finished(self)

    def _gradient_recorder(self) -> Any:
        """GradientLogging's recorder (§3.8): trainable arrays in the order of "Gradients",
        auxiliary arrays (BatchNorm statistics) first for the updates; the module's gradient
        is of the batch *mean* (times the Real16 rescale), so ``grad_scale`` = batch size
        gives NetTrain's gradient of the batch sum."""
        from engine.columns import inner_attr
        from engine.gradients import GradientRecorder

        all_fn = inner_attr(self.module, "arrays")
        if all_fn is not None:
            every = {(tuple(k) if not isinstance(k, str) else tuple(k.split("/"))): v
                     for k, v in all_fn().items()}
            trainable = set(setup.trainable_arrays(self.module))
            aux = [("/".join(p), t) for p, t in every.items() if p not in trainable]
        else:
            aux = [(n, b) for n, b in self.module.named_buffers() if b.is_floating_point()]
        return GradientRecorder([("/".join(p), a) for p, a in self.arrays.items()], aux,
                                self.cfg.gradient_norm_function, grad_scale=self.batch_size)

