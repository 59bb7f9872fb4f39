"""NetTrain's training loop on a torch module: rounds, batches, validation, stopping, results.

`train(module, data, config)` runs the setup of reference §9.5.1 and the per-batch order of
§9.5.2, times the phases of §4.3 with `engine.timings.PhaseTimer`, emits the channels of §3
through `engine.events.Events`, and returns a `TrainResult` of plain Python values that
`wlbridge.results` turns into NetTrain's properties.

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
whose text is ``NetTrain::arrdiv: ...``; KeyboardInterrupt stops like NetTrain's first abort
(reason ``"Aborted"``, the result so far returned).
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine import batching, executor_log
from engine.columns import Columns, LazyBatches, inner_attr
from engine.errors import EngineError
from engine.events import Events
from engine.intervals import Trigger, normalise
from engine.measurements import make_meter, measurement_lists
from engine.memory import memory_sample
from engine.optim import WolframOptimizer, resolve_method
from engine.spec import Dataset, EncoderSpec, Interval, TrainConfig
from engine.stopping import EarlyStopping
from engine.timings import PhaseTimer

Path = tuple[str, ...]
PRECISIONS = {"Real32": torch.float32, "Real64": torch.float64, "Real16": torch.float16,
              "Mixed": torch.float32}
DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.float16: 2}
AUTOMATIC_ROUND_SECONDS = 20.0
#: TimingLogging's period in seconds (§3.7: every 10 s); a module constant so tests can shorten it
TIMING_LOG_PERIOD = 10.0
#: SkippedTrainingData (§9.10): always empty, because examples NetTrain would skip mid-training
#: (ones that fail to encode) are refused with a message before the first batch here.
SKIPPED_TRAINING_DATA: dict[str, tuple] = {"SkippedExampleIndices": (),
                                           "SkippedBatchIndices": (), "SkippedExamples": ()}


class TrainingWarning(UserWarning):
    """A NetTrain message during training (``NetTrain::arrdiv: ...``); training goes on or
    stops, but no exception is raised."""


@dataclass
class TrainResult:
    """Everything NetTrain's properties (reference §9.10) are computed from, Wolfram-free."""

    module: torch.nn.Module
    final_state: dict[str, torch.Tensor]
    batch_losses: list[float] = field(default_factory=list)
    round_losses: list[float] = field(default_factory=list)
    round_measurements: list[dict[str, float]] = field(default_factory=list)
    round_loss_quartiles: list[tuple[float, float, float]] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    validation_measurements: list[dict[str, float]] = field(default_factory=list)
    batch_measurements: list[dict[str, float]] = field(default_factory=list)
    measurement_names: list[str] = field(default_factory=list)
    checkpoint_files: list[str] = field(default_factory=list)
    validation_positions: list[int] = field(default_factory=list)
    round_positions: list[int] = field(default_factory=list)
    best_validation_round: int | None = None
    reason: str = "MaxTrainingRounds"
    total_rounds: int = 0
    total_batches: int = 0
    batch_size: int = 0
    batches_per_round: int = 0
    examples_processed: int = 0
    training_examples: int = 0
    validation_examples: int = 0
    total_time: float = 0.0
    mean_batches_per_second: float = 0.0
    mean_examples_per_second: float = 0.0
    initial_learning_rate: float = 0.0
    final_learning_rate: float = 0.0
    method: str = "ADAM"
    target_device: str = "cpu"
    learning_rate_multipliers: dict[Path, float] = field(default_factory=dict)
    optimizer_steps: int = 0
    timings: dict[str, Any] = field(default_factory=dict)
    permutation: np.ndarray | None = None
    max_training_rounds: float = 0
    plot_loss_quartiles: bool = False  # the "PlotLossQuartiles" internal option, for plots
    #: the ExampleLosses property: per-example losses of the training data under the trained
    #: net, computed when called (None where the data are not a list of examples: noexloss)
    example_losses: Callable[[], tuple[float, ...]] | None = None


class _LazyInfo(dict):
    """The TrainingProgressFunction association; zero-argument `_Lazy` values (the net, the
    weights) are computed on first access only, so an unused key costs nothing."""

    def __getitem__(self, key: str) -> Any:
        v = dict.__getitem__(self, key)
        if isinstance(v, _Lazy):
            v = v.fn()
            self[key] = v
        return v

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default


@dataclass
class _Lazy:
    fn: Callable[[], Any]


# ---------------------------------------------------------------------------------------------
# Setup helpers


def _device(name: str) -> torch.device:
    """TargetDevice → torch device; ``invtrgdev`` when CUDA is asked for but absent."""
    key = (name or "cpu").lower()
    if key == "cpu":
        return torch.device("cpu")
    if key in ("gpu", "cuda") or key.startswith("cuda:") or key.startswith("gpu"):
        if not torch.cuda.is_available():
            raise EngineError("invtrgdev", f"TargetDevice -> {name!r} is not available: no CUDA "
                              "GPU was found; use TargetDevice -> \"CPU\".", "General")
        index = int(key.split(":")[1]) if ":" in key else 0
        if index >= torch.cuda.device_count():
            raise EngineError("invtrgdev", f"TargetDevice -> {name!r}: there are only "
                              f"{torch.cuda.device_count()} CUDA devices.", "General")
        return torch.device("cuda", index)
    raise EngineError("invtrgdev", f"TargetDevice -> {name!r} should be \"CPU\" or a GPU.",
                      "General")


def _dtype(precision: str) -> torch.dtype:
    if precision not in PRECISIONS:
        raise EngineError("badwp", "Setting of WorkingPrecision should be either Automatic, "
                          f"\"Real32\", \"Mixed\", \"Real64\" or \"Real16\", not "
                          f"{precision!r}.", "General")
    return PRECISIONS[precision]


def _arrays(module: torch.nn.Module) -> dict[Path, torch.Tensor]:
    """The module's trainable arrays by path, in Wolfram's canonical order when it knows it."""
    trainable = inner_attr(module, "trainable_arrays")
    if trainable is not None:
        return {(tuple(k) if not isinstance(k, str) else tuple(k.split("/"))): v
                for k, v in trainable().items()}
    return {tuple(n.split(".")): p for n, p in module.named_parameters()}


def _multiplier(rules: list[tuple[Path, float]], own: dict[Path, float], path: Path) -> float:
    """LearningRateMultipliers: the first option rule whose path is a prefix of ``path`` wins;
    then the multiplier written on the layer or container in the net; default 1."""
    for prefix, r in rules:
        if path[: len(prefix)] == tuple(prefix):
            return float(r)
    return float(own.get(path, 1.0))


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _losses(module: torch.nn.Module, out: dict[str, Any], inputs: dict[str, torch.Tensor],
            meter: Any = None, lengths: dict[int, torch.Tensor] | None = None
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


def _loss_terms(out: dict[str, Any]) -> dict[str, torch.Tensor]:
    losses = out["losses"] if isinstance(out.get("losses"), dict) else out
    return {k: v for k, v in losses.items() if k[:1] != "$"}


def _per_example_total(terms: dict[str, torch.Tensor]) -> torch.Tensor:
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
                parts.append(_per_example_total(_loss_terms(module(inputs, lengths))).cpu())
    finally:
        module.train(was_training)
    return tuple(torch.cat(parts).tolist()) if parts else ()


# ---------------------------------------------------------------------------------------------
# The loop


class _Loop:
    """One NetTrain run; attributes are the live state callbacks and results read."""

    def __init__(self, module: torch.nn.Module, data: Dataset, config: TrainConfig,
                 encoders: dict[str, EncoderSpec] | None, events: Events | None,
                 net_factory: Callable[[torch.nn.Module], Any] | None, reporter: Any,
                 checkpoint_writer: Callable[[torch.nn.Module, str, str], None] | None = None):
        self.cfg = config
        self.checkpoint_writer = checkpoint_writer
        self.events = events or Events(config.listeners)
        self.net_factory = net_factory
        self.reporter = reporter
        self.device = _device(config.target_device)
        self.dtype = _dtype(config.working_precision)
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
        self.cols = Columns(data, self.module, encoders, self.device, self.dtype, config)
        self.val_cols = None
        if isinstance(config.validation_set, Dataset):
            if len(config.validation_set) == 0:
                raise EngineError("nodata", "the ValidationSet contains no examples.")
            self.val_cols = Columns(config.validation_set, self.module, encoders,
                                     self.device, self.dtype, config)
        lengths = self.cols.lengths()
        n = self.cols.n
        bs = config.batch_size or (32 if lengths else 64)
        self.batch_size = bs = max(1, min(bs, n))
        self.events.emit("Trainer", lambda: ("ToNetTrainerStarted", bs,
                                            self._context(), DTYPE_CODES[self.dtype],
                                            config.method.name))
        if lengths:
            perm = batching.make_permutation(np.stack([lengths[k] for k in sorted(lengths)], 1),
                                             bs, config.sequence_bucketing_partitions, self.rng)
        else:
            perm = batching.plain_permutation(n, bs, self.rng)
        self.events.emit("Permutation", "Training")
        if self.events.active("Permutation"):
            for p in batching.permutation_log_payloads("Training", lengths, perm)[1:]:
                self.events.emit("Permutation", p)
        self.permutation = perm
        # Buckets as executors (§3.3, §7.4): training's log its events; validation has its own
        # (NetTrain's separate test-mode executor), so the two never share buffers.
        self.buckets = self.cols.executors(self.module, self.events, config.compile_buckets)
        self.val_batches: Any = None
        self.validation_examples = 0
        vs = config.validation_set
        if isinstance(vs, float):
            k = math.floor(vs * len(perm))
            if not 0 < vs < 1 or k < 1 or k >= len(perm):
                raise EngineError("invvsfrac", f"ValidationSet -> Scaled[{vs}] should leave at "
                                  f"least one whole batch for training and take at least one "
                                  f"for validation; there are {len(perm)} batches of {bs}.")
            val_idx = perm[len(perm) - k:].reshape(-1)
            perm = perm[: len(perm) - k]
            self.validation_examples = len(np.unique(val_idx))
            if self.cols.dynamic:
                # Validation data is fully sorted by length, front-padded (§7.3).
                ex_idx = np.unique(val_idx)
                sub = {v: ls[ex_idx] for v, ls in lengths.items()} if lengths else None
                self.val_batches = self._validation_batches(self.cols, sub, len(ex_idx), ex_idx)
            else:
                self.val_batches = [(self.module, *self.cols.gather(val_idx[i:i + bs]), None)
                                    for i in range(0, len(val_idx), bs)]
        elif self.val_cols is not None:
            self.validation_examples = self.val_cols.n
            self.val_batches = self._validation_batches(self.val_cols, self.val_cols.lengths(),
                                                        self.val_cols.n, None)
        self.train_perm = perm
        self.bpr = len(perm)
        self.training_examples = len(np.unique(perm)) if self.val_batches is not None and \
            isinstance(vs, float) else n
        if self.buckets is None:
            # Every batch gathered once: the assignment of examples to batches is fixed (§7.1).
            self.batches: Any = [(self.module, *self.cols.gather(row)) for row in perm]
            self.events.emit("Plan", lambda: _plan_payload(self.module, self.batches[0][1],
                                                           lengths))
        else:
            # Made per batch in "gen": encoded (unless pre-encoded), padded to the bucket
            # length and written into the bucket executor's buffers; Plan and NetExecutorCreate
            # are emitted by the executors (engine.buckets).
            self.batches = LazyBatches(self.cols, perm, self.buckets)
        # Arrays, multipliers, freezing.
        all_arrays = _arrays(self.module)
        own_fn = inner_attr(self.module, "lr_multipliers")
        own = own_fn() if own_fn is not None else {}
        self.multipliers = {p: _multiplier(config.learning_rate_multipliers, own, p)
                            for p in all_arrays}
        self.arrays = {p: a for p, a in all_arrays.items() if self.multipliers[p] != 0}
        for p, a in all_arrays.items():
            if self.multipliers[p] == 0:
                a.requires_grad_(False)
        # what the optimizer steps: the float32 masters in Real16, the arrays themselves else
        self.opt_arrays = self.precision.owned(self.arrays)
        self.method = resolve_method(config.method, config.learning_rate)
        self.timer = PhaseTimer()
        # TimingLogging: every TIMING_LOG_PERIOD seconds of training (§3.7), the §9.6 rule
        self.timing_log = Trigger((0, 0, TIMING_LOG_PERIOD))
        self.memory = None
        if self.events.active("MemoryUsage") or config.report_memory_usage:
            from engine.memory import MemorySampler

            self.memory = MemorySampler(config.memory_reporting_interval,
                                        gpus=config.report_memory_usage and
                                        self.device.type == "cuda",
                                        buckets=self._bucket_count)

    def _bucket_count(self) -> int:
        """The "Buckets" figure of memory reporting: executors cached for sequence buckets."""
        return self.buckets.bucket_count if self.buckets is not None else 0

    def _context(self) -> int:
        return 1 if self.device.type == "cpu" else 2 + (self.device.index or 0)

    def _validation_batches(self, cols: Columns, lengths: dict[int, np.ndarray] | None,
                            n: int, subset: np.ndarray | None) -> Any:
        """Validation batches in the §7.3 order (sorted by length when there are lengths,
        else identity; the front padded, masked out of the totals) and their Permutation log.
        ``subset`` maps positions to example indices of ``cols`` (Scaled validation)."""
        bs = min(self.batch_size, n)
        matrix = np.stack([lengths[k] for k in sorted(lengths)], 1) if lengths else None
        order, valid = batching.validation_order(matrix, bs, n)
        rows = order if subset is None else subset[order]
        if self.events.active("Permutation"):
            logged = rows if lengths else None
            for p in batching.permutation_log_payloads("Validation", lengths, logged):
                self.events.emit("Permutation", p)
        masks = torch.from_numpy(valid).to(self.device)
        if cols.dynamic:
            return LazyBatches(cols, rows, cols.executors(self.module, None), masks)
        return [(self.module, *cols.gather(o), m) for o, m in zip(rows, masks, strict=True)]

    # -- setup that needs the optimizer ---------------------------------------------------------

    def _automatic_rounds(self) -> int:
        """MaxTrainingRounds -> Automatic: about 20 s of training, 10…10,000 rounds (§9.5.1).

        The steps are timed on a deep copy of the module with its own optimizer, so the
        weights that training starts from are untouched (NetTrain's timing steps change them).
        """
        clone = copy.deepcopy(self.module)
        arrays = {p: a for p, a in _arrays(clone).items() if self.multipliers.get(p, 1) != 0}
        opt = WolframOptimizer(self.method, arrays, self.multipliers)
        _, inputs, lengths = self.batches[0]
        best = math.inf
        repeats = 1
        i = 0
        while i < repeats:
            t0 = time.perf_counter()
            opt.zero_grad()
            loss, _ = _losses(clone, clone(inputs, lengths), inputs)
            loss.backward()
            opt.step()
            loss.item()
            t = time.perf_counter() - t0
            if i == 0:  # NetTrain's repeats: more when a step is very short
                repeats = 1 + (50 if t < 1e-3 else 10 if t < 1e-2 else 3 if t < 5e-2 else
                               1 if t < 0.25 else 0)
            best = min(best, t)
            i += 1
        round_time = max(best, 1e-9) * self.bpr
        return int(min(max(math.ceil(AUTOMATIC_ROUND_SECONDS / round_time), 10), 10000))

    # -- one run --------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        cfg, ev = self.cfg, self.events
        if cfg.max_training_rounds is not None:
            max_rounds: float = cfg.max_training_rounds
        elif cfg.time_goal is not None:
            max_rounds = math.inf
        elif cfg.max_training_batches is not None:
            max_rounds = math.ceil(cfg.max_training_batches / self.bpr)
        else:
            max_rounds = self._automatic_rounds()
        total = max_rounds * self.bpr
        if cfg.max_training_batches is not None:
            total = min(total, cfg.max_training_batches)
        self.max_rounds, self.total = max_rounds, total
        ev.emit("Trainer", "CreatingOptimizer")
        self.opt = WolframOptimizer(self.method, self.opt_arrays, self.multipliers,
                                    total_steps=total)
        ev.emit("Trainer", "ToNetTrainerFinished")
        self._log_executors()
        r = self.result = TrainResult(
            module=self.module, final_state={}, batch_size=self.batch_size,
            batches_per_round=self.bpr, training_examples=self.training_examples,
            validation_examples=self.validation_examples, method=self.method.name,
            target_device=cfg.target_device, initial_learning_rate=self.opt.current_rate(1),
            learning_rate_multipliers=dict(self.multipliers), permutation=self.train_perm,
            max_training_rounds=max_rounds, plot_loss_quartiles=cfg.plot_loss_quartiles)
        cols, module, bs = self.cols, self.module, self.batch_size  # not the whole loop
        r.example_losses = lambda: example_losses(module, cols, bs)
        if not self.arrays:
            warnings.warn(TrainingWarning("NetTrain::netfrozen: all arrays of the net are "
                                          "frozen; the net is returned unchanged."), stacklevel=3)
            r.reason = "MaxTrainingRounds"
            self.precision.write_back(self.module)
            r.final_state = _state(self.module)
            return r
        # Periodic functions (§9.6)
        iv = lambda i: normalise(i, self.bpr, total)  # noqa: E731
        self.val_trigger = Trigger(iv(cfg.validation_interval)) if self.val_batches else None
        self.callbacks = [(c, Trigger(normalise(c.interval or Interval(rounds=1), self.bpr, total,
                                                c.minimum_interval)) if not c.events
                           else None) for c in cfg.training_progress_function]
        self.best_key: tuple | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.finite_state = self._snapshot()
        self.grad_rec = self._gradient_recorder() if ev.active("Gradient") else None
        self._rep_pending: list[tuple[float, torch.Tensor | None]] = []
        self.event_name: str | None = None
        self.round, self.batch, self.abs_batch = 1, 0, 0
        self.stop_reason: str | None = None
        self.rate_ema: float | None = None
        self.round_batch_losses: list[float] = []
        self.round_stats: list[torch.Tensor] = []
        self.last_batch_stats: torch.Tensor | None = None
        self.last_loss_terms: dict[str, torch.Tensor] | None = None
        self.round_measurements: dict[str, float] = {}
        self.val_measurements: dict[str, float] = {}
        self.val_done_at = -1
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
                                              max_rounds)
        self.stopper = (EarlyStopping(cfg.training_stopping_criterion)
                        if cfg.training_stopping_criterion else None)
        if self.stopper and not self.val_batches:
            warnings.warn(TrainingWarning("NetTrain::novalidation: no ValidationSet is given; "
                                          "the stopping criterion uses round measurements."),
                          stacklevel=3)
        rep = self.reporter
        if rep is not None:
            rep.start({"Method": self.method.name, "Device": cfg.target_device.upper(),
                       "BatchSize": self.batch_size, "BatchesPerRound": self.bpr,
                       "TrainingExamples": self.training_examples,
                       "MaxTrainingRounds": None if math.isinf(max_rounds) else max_rounds,
                       "TotalBatches": None if math.isinf(total) else int(total),
                       "Measurements": list(self.meter.names),
                       "ShortNames": self.meter.short_names,
                       "HasValidation": self.val_batches is not None,
                       "UpdatesPerBatch": cfg.updates_per_batch})
        self.t_start = time.perf_counter()
        aborted = False
        backend = contextlib.nullcontext()
        if ev.active("Backend"):
            from engine.backend_trace import trace_backend

            backend = trace_backend(lambda v: ev.emit("Backend", v))
        if self.memory is not None:
            self.memory.reset()
        try:
            ev.emit("CoreLoop", "StartOfLoop")
            self._fire_event("TrainingStarted")
            with backend:
                self._loop()
        except KeyboardInterrupt:
            aborted = True
            self.stop_reason = "Aborted"
        elapsed = time.perf_counter() - self.t_start
        ev.emit("CoreLoop", "TrainerFinalize")
        ev.emit("Trainer", "TrainerFinalize")
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        manual = self.stop_reason in ("ManualStop", "Aborted", "WeightsDiverged")
        if not manual and self.val_batches and self.val_done_at != self.abs_batch:
            self._validate()
        if not manual and self.checkpointer is not None and self.abs_batch > 0:
            # §9.5.2 "after the loop": once more, unless this spec just ran at the last batch
            for spec in self.checkpointer.specs:
                if spec.last_at != self.abs_batch:
                    self._checkpoint(spec)
        if self.round_stats:  # batches after the last round end: their batch measurements
            self._read_batch_stats()
        r.measurement_names = list(self.meter.names)
        ev.emit("CoreLoop", "EndOfLoop")
        self._fire_event("TrainingAborted" if self.stop_reason == "Aborted"
                         else "TrainingComplete", guard=not aborted)
        r.reason = self.stop_reason or "MaxTrainingRounds"
        r.total_time = elapsed
        r.total_batches = self.abs_batch
        r.total_rounds = int(min(self.round, max_rounds))
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
        r.final_state = _state(self.module)
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        if rep is not None:
            self._flush_reporter()
            rep.finish({"Aborted": r.reason == "Aborted", "Progress": self._info()})
        return r

    def _loop(self) -> None:
        cfg, ev, timer, r = self.cfg, self.events, self.timer, self.result
        module, opt = self.module, self.opt
        upb = cfg.updates_per_batch
        sync_cuda = cfg.force_synchronization and self.device.type == "cuda"
        order = np.arange(self.bpr)
        batches = self.batches
        lazy = isinstance(batches, LazyBatches)
        nxt = None
        perf = time.perf_counter
        t_start = self.t_start
        time_goal = cfg.time_goal
        total = self.total
        grad_rec = self.grad_rec
        precision = self.precision
        half = precision.name == "Real16"
        amp = precision.name == "Mixed"
        core = ev.active("CoreLoop")
        trainer = ev.active("Trainer")
        rep = self.reporter
        pending = self._rep_pending
        meter = self.meter if self.meter else None
        pos = 0
        while True:
            t0 = perf()
            self.abs_batch += 1
            self.batch += 1
            ev.abs_batch = self.abs_batch
            if core:
                ev.emit("CoreLoop", "StartOfBatch")
            if time_goal is not None and t0 - t_start > time_goal:
                self.abs_batch -= 1
                self.batch -= 1
                self.stop_reason = "TimeGoal"
                return
            call, inputs, lengths = nxt if nxt is not None else batches[order[pos]]
            nxt = None
            # exec: UpdatesPerBatch forward/backward/update passes on the same batch (§8.1)
            if grad_rec is not None:
                grad_rec.before_update()
            if trainer:
                ev.emit("Trainer", "TrainerUpdateStarted")
            for _ in range(upb):
                if trainer:
                    ev.emit("Trainer", "ForwardBackward")
                opt.zero_grad()
                if half or amp:
                    precision.clear_module_grads()
                    with precision.autocast():
                        out = call(inputs, lengths)
                        loss, err = _losses(module, out, inputs, meter, lengths)
                    precision.backward(loss)  # Real16: loss x rescale (§8.2)
                    if trainer:
                        ev.emit("Trainer", "CallOptimizer")
                    precision.unscale_and_step(opt)  # masters step, float16 arrays synced
                else:
                    out = call(inputs, lengths)
                    loss, err = _losses(module, out, inputs, meter, lengths)
                    loss.backward()
                    if trainer:
                        ev.emit("Trainer", "CallOptimizer")
                    opt.step()
            # ExampleLosses: the last pass's per-example losses, detached only when read
            self.last_loss_terms = _loss_terms(out)
            if trainer:
                ev.emit("Trainer", "TrainerUpdateFinished")
            if core:
                ev.emit("CoreLoop", "TrainerUpdate")
            t1 = perf()
            timer.record("exec", t1 - t0)
            if grad_rec is not None:
                ev.emit("Gradient", grad_rec.after_update)
            # gen: the next batch (pre-gathered; the visiting order reshuffles per round, §7.5)
            pos += 1
            last_of_round = pos == self.bpr
            if last_of_round:
                pos = 0
                order = batching.reshuffle_round(order, self.rng)
            if lazy and self.abs_batch < total:
                nxt = batches[order[pos]]  # encode, pad, fill the bucket executor (§7.4, §8.5)
            if core:
                ev.emit("CoreLoop", "FetchDataFromGenerator")
            t2 = perf()
            if self.abs_batch < total:
                timer.record("gen", t2 - t1)
            # sync: the one host read per batch
            if sync_cuda:
                torch.cuda.synchronize(self.device)
            value = loss.item()
            if trainer:
                ev.emit("Trainer", "TrainerCurrentLoss")
            if core:
                ev.emit("CoreLoop", "ObtainingLoss")
            t3 = perf()
            timer.record("sync", t3 - t2)
            # coll
            r.batch_losses.append(value)
            self.round_batch_losses.append(value)
            if err is not None:
                # stays on the device: read once per round (or per report row), never here
                err = err.detach()
                self.round_stats.append(err)
                self.last_batch_stats = err
            if rep is not None:
                pending.append((value, err))
            if core:
                ev.emit("CoreLoop", "BatchCollectors")
            t4 = perf()
            timer.record("coll", t4 - t3)
            timer.record("batch", t4 - t0)
            bt = t4 - t0
            if self.governor is not None:  # ThreadPolicy hook: one observation per batch
                self.governor.observe(bt)
            if bt > 0:
                self.rate_ema = 1 / bt if self.rate_ema is None else \
                    0.9 * self.rate_ema + 0.1 / bt
            if not math.isfinite(value):
                self._diverged("the loss became " + ("NaN" if math.isnan(value) else "infinite"))
                return
            if last_of_round:
                self._end_of_round()
                if self.stop_reason:
                    return
            # periodic functions (§9.5.2 step 8)
            if core:
                ev.emit("CoreLoop", "CallPeriodicFunctions")
            self._periodic(last_of_round)
            if self.stop_reason:
                return
            if self.abs_batch >= total:
                self.stop_reason = "MaxTrainingRounds" if last_of_round else "MaxTrainingBatches"
                if last_of_round:
                    self._fire_event("RoundComplete")
                return
            if last_of_round:
                self._fire_event("RoundComplete")
                if self.round >= self.max_rounds:
                    self.stop_reason = "MaxTrainingRounds"
                    return
                self.round += 1
                self.batch = 0
                self._fire_event("RoundStarted")
                if self.stop_reason:
                    return

    # -- per round ------------------------------------------------------------------------------

    def _end_of_round(self) -> None:
        r = self.result
        losses = self.round_batch_losses
        r.round_losses.append(float(np.mean(losses)))
        r.round_loss_quartiles.append(batching.quartiles(losses))
        r.round_positions.append(self.abs_batch)
        meas = self._read_batch_stats()
        r.round_measurements.append(meas)
        self.round_measurements = meas
        self.round_batch_losses = []
        with torch.no_grad():
            norms = torch._foreach_norm(list(self.arrays.values()))
            finite = bool(torch.isfinite(torch.stack(norms)).all())
        if not finite:
            self._diverged("a trainable array contains NaN or Inf")
            return
        if not self.val_batches:
            self.finite_state = self._snapshot()

    def _periodic(self, last_of_round: bool) -> None:
        clock = (self.abs_batch, self.round if last_of_round else self.round - 1,
                 time.perf_counter() - self.t_start)
        if self.val_trigger is not None and self.val_trigger.due(clock):
            self._validate()
            if self.stop_reason:
                return
        if self.checkpointer is not None:
            for spec in self.checkpointer.due(clock):
                self._checkpoint(spec)
                if self.stop_reason:
                    return
        if self.stopper is not None and (last_of_round and not self.val_batches or
                                         self.val_done_at == self.abs_batch):
            self.events.emit("CoreLoop", "CheckingEarlyStopping")
            vals = {"ValidationLoss": self.result.validation_losses[-1]
                    if self.result.validation_losses else None,
                    "ValidationMeasurements": self.val_measurements,
                    "RoundLoss": self.result.round_losses[-1] if self.result.round_losses
                    else None, "RoundMeasurements": self.round_measurements}
            if self.stopper.should_stop(self.round, vals):
                self.stop_reason = "StoppingCriterion"
                self.events.emit("CoreLoop", "TrainingStoppedEarly")
                self._fire_event("TrainingStoppedEarly")
                return
        t0 = time.perf_counter()
        info = None
        for cb, trig in self.callbacks:
            if trig is not None and trig.due(clock):
                info = info or self._info()
                self._call(cb, info)
                if self.stop_reason:
                    break
        t1 = time.perf_counter()
        self.timer.record("calls", t1 - t0)
        if self.memory is not None:
            sample = self.memory.sample()
            if sample is not None:
                self.events.emit("MemoryUsage", sample)
        rep = self.reporter
        if rep is not None and rep.wants_row(clock):
            self._flush_reporter()
            rep.row(info or self._info())
        self.timer.record("rep", time.perf_counter() - t1)
        if self.timing_log.due(clock):
            self.events.emit("Timing", self.timer.as_log_value)

    def _call(self, cb: Any, info: dict) -> Any:
        out = cb.fn(info)
        if out == "StopTraining":
            self.stop_reason = "ManualStop"
        elif out == "AbortTraining":
            self.stop_reason = "Aborted"
        return out

    def _fire_event(self, name: str, guard: bool = True) -> list[Any]:
        """Call the callbacks registered for event ``name``; returns what they returned."""
        self.event_name = name
        outs = []
        for cb, _ in self.callbacks if hasattr(self, "callbacks") else ():
            if name in cb.events or "All" in cb.events:
                info = self._info()
                info["Event"] = name
                outs.append(self._call(cb, info) if guard else cb.fn(info))
        return outs

    # -- checkpoints (§9.9) --------------------------------------------------------------------

    def _checkpoint(self, spec: Any) -> None:
        """Save the net for one checkpoint spec, unless a "CheckpointStarted" callback
        returns "SkipCheckpoint" (§9.6); events, CoreLoop markers and the Trainer entry as
        in §3.9/§3.10."""
        ev, r, ck = self.events, self.result, self.checkpointer
        spec.last_at = self.abs_batch  # a skipped one counts as run: no final repeat
        ev.emit("CoreLoop", "CheckpointStarted")
        if "SkipCheckpoint" in self._fire_event("CheckpointStarted"):
            return
        path = ck.path(spec, self.round, self.abs_batch,
                       r.round_losses[-1] if r.round_losses else None,
                       r.validation_losses[-1] if r.validation_losses else None,
                       self.val_batches is not None)
        ev.emit("Trainer", ("TrainerSaveCheckpoint", path))
        module = self.module
        if self.precision.name == "Real16":  # save the float32 masters, not their float16 copies
            module = copy.deepcopy(module)
            self.precision.write_back(module)
        ck.write(spec, module, path, self.abs_batch)
        r.checkpoint_files.append(path)
        ev.emit("CoreLoop", "CheckpointComplete")
        self._fire_event("CheckpointComplete")

    # -- measurements ---------------------------------------------------------------------------

    def _read_batch_stats(self) -> dict[str, float]:
        """The round's measurements from the batch statistics kept on the device since the
        last read (one transfer); the per-batch values go to ``batch_measurements``."""
        stats, meter = self.round_stats, self.meter
        if not stats:
            return {}
        host = torch.stack(stats).double() / self.batch_size
        rows = host.tolist()
        self.result.batch_measurements.extend(meter.values(row) for row in rows)
        self.round_stats = []
        return meter.values(host.mean(0).tolist())

    # -- validation ----------------------------------------------------------------------------

    @torch.no_grad()
    def _validate(self) -> None:
        """Validation loss = mean over the validation examples (padding excluded, §9.7).

        Default: the module in eval mode under inference mode (NetTrain's separate test-mode
        executor). DisableValidationExecutor: the training module itself is used under
        ``no_grad`` without switching modes, as the paclet's training executor is reused.
        """
        ev, r = self.events, self.result
        ev.emit("CoreLoop", "ValidationStarted")
        ev.emit("Trainer", "TrainerDoValidation")
        self._fire_event("ValidationStarted")
        separate = not self.cfg.disable_validation_executor
        reshape = not separate and self.val_batch_size != self.batch_size
        if reshape:  # the training executor runs the validation batch size, then back
            ev.emit("Executor", lambda: executor_log.executor_reshape(int(self.val_batch_size), self.device))
        if separate:
            self.module.eval()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        stat_sum: torch.Tensor | None = None
        count = 0
        meter = self.meter
        ctx = torch.inference_mode() if separate else torch.no_grad()
        with ctx, self.precision.autocast():
            for call, inputs, lengths, mask in self.val_batches:
                out = call(inputs, lengths)
                per = None
                for v in _loss_terms(out).values():
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
            self.module.train()
        if reshape:
            ev.emit("Executor", lambda: executor_log.executor_reshape(int(self.batch_size), self.device))
        loss = float(loss_sum) / count
        meas = meter.values((stat_sum / count).tolist()) if stat_sum is not None else {}
        r.validation_losses.append(loss)
        r.validation_measurements.append(meas)
        r.validation_positions.append(self.abs_batch)
        self.val_measurements = meas
        self.val_done_at = self.abs_batch
        ev.emit("CoreLoop", "ValidationComplete")
        self._fire_event("ValidationComplete")
        if not math.isfinite(loss):
            return
        # Best net (§8.7): lowest error rate, then loss; by loss only when told so.
        err = meas.get("ErrorRate", 1 - meas["Accuracy"] if "Accuracy" in meas else None)
        key = (err, loss) if err is not None and self.cfg.select_lowest_validation_error \
            else (loss,)
        if self.best_key is None or key < self.best_key:
            self.best_key = key
            self.best_state = self._snapshot()
            r.best_validation_round = self.round
            ev.emit("Trainer", ("TrainerSaveCheckpoint", "InMemory"))
            self._fire_event("NetValidationImprovement")

    # -- divergence, instruments, callbacks -----------------------------------------------------

    def _diverged(self, what: str) -> None:
        with_val = self.best_state is not None
        text = (f"training was stopped early because {what} at batch {self.abs_batch}. "
                + ("The net with the lowest validation loss is returned. " if with_val else
                   "The most recent net with finite weights is returned. ")
                + f"Consider normalizing the data, lowering the learning rate (Method -> "
                f"\"{self.method.name}\" used LearningRate -> {self.method.learning_rate}), or "
                f"using the \"GradientClipping\" sub-option of Method.")
        warnings.warn(TrainingWarning(f"NetTrain::arrdiv: {text}"), stacklevel=4)
        self.stop_reason = "WeightsDiverged"
        self._fire_event("WeightsDiverged")
        self.stop_reason = "WeightsDiverged"

    def _snapshot(self) -> dict[str, torch.Tensor]:
        """A copy of the module's state; in Real16 the trainable arrays are the float32
        masters, so a restored best/final net has the optimizer's exact weights."""
        state = _state(self.module)
        state.update(self.precision.master_state())
        return state

    def _gradient_recorder(self) -> Any:
        """GradientLogging's recorder (§3.8): trainable arrays in the order of "Gradients",
        auxiliary arrays (BatchNorm statistics) first for the updates; the module's gradient
        is of the batch *mean* (times the Real16 rescale), so ``grad_scale`` = batch size
        gives NetTrain's gradient of the batch sum."""
        from engine.gradients import GradientRecorder

        all_fn = inner_attr(self.module, "arrays")
        if all_fn is not None:
            every = {(tuple(k) if not isinstance(k, str) else tuple(k.split("/"))): v
                     for k, v in all_fn().items()}
            trainable = set(_arrays(self.module))
            aux = [("/".join(p), t) for p, t in every.items() if p not in trainable]
        else:
            aux = [(n, b) for n, b in self.module.named_buffers() if b.is_floating_point()]
        return GradientRecorder([("/".join(p), a) for p, a in self.arrays.items()], aux,
                                self.cfg.gradient_norm_function, grad_scale=self.batch_size)

    def _flush_reporter(self) -> None:
        """Hand the batches since the last row to the reporter, reading their error rates
        from the device in one transfer (not one sync per batch)."""
        pending, rep = self._rep_pending, self.reporter
        if not pending or rep is None:
            return
        errs = [e for _, e in pending if e is not None]
        host = iter((torch.stack(errs).double() / self.batch_size).tolist()) if errs \
            else iter(())
        meter = self.meter
        for value, e in pending:
            rep.add_batch_loss(value, meter.values(next(host)) if e is not None else None)
        pending.clear()

    @property
    def val_batch_size(self) -> int:
        """The batch size validation runs with: the first validation batch's when the batches
        are prepared tensors; bucketed validation logs through its own executors."""
        vb = self.val_batches
        if not isinstance(vb, list) or not vb:
            return self.batch_size
        return next((int(t.shape[0]) for t in vb[0][1].values()), self.batch_size)

    def _log_executors(self) -> None:
        """ExecutorLogging at setup (§3.2) for prepared (non-bucketed) batches: one Create for
        the training executor and, when validation runs in a separate test-mode executor, one
        for it with its batch size. Bucket executors (engine.buckets) log their own Create."""
        ev = self.events
        if not ev.active("Executor") or self.buckets is not None:
            return
        ev.emit("Executor", _executor_create(self.batches[0][1], self.device, self.dtype))
        if isinstance(self.val_batches, list) and self.val_batches \
                and not self.cfg.disable_validation_executor:
            ev.emit("Executor", _executor_create(self.val_batches[0][1], self.device,
                                                 self.dtype))

    def _example_losses(self) -> tuple[float, ...] | None:
        """The ExampleLosses key: the most recent batch's per-example losses (None before
        the first batch)."""
        terms = self.last_loss_terms
        return None if terms is None else tuple(_per_example_total(terms).tolist())

    def _info(self) -> _LazyInfo:
        """The §9.11 association for TrainingProgressFunction and reporters."""
        r = self.result
        elapsed = time.perf_counter() - self.t_start
        frac = min(self.abs_batch / self.total, 1.0) if math.isfinite(self.total) else \
            (min(elapsed / self.cfg.time_goal, 1.0) if self.cfg.time_goal else 0.0)
        rate = self.rate_ema or 0.0
        upb = self.cfg.updates_per_batch
        module = self.module
        factory = self.net_factory
        info = _LazyInfo({
            "Net": _Lazy(lambda: factory(module) if factory else copy.deepcopy(module)),
            "BatchLoss": r.batch_losses[-1] if r.batch_losses else None,
            "RoundLoss": r.round_losses[-1] if r.round_losses else None,
            "ValidationLoss": r.validation_losses[-1] if r.validation_losses else None,
            "BatchLossList": tuple(r.batch_losses),
            "RoundLossList": tuple(r.round_losses),
            "ValidationLossList": tuple(r.validation_losses),
            "BatchMeasurements": _Lazy(lambda: {"Loss": r.batch_losses[-1], **(
                self.meter.values((self.last_batch_stats.double() / self.batch_size)
                                  .tolist())
                if self.last_batch_stats is not None else {})} if r.batch_losses else {}),
            "ExampleLosses": _Lazy(self._example_losses),
            "SkippedTrainingData": dict(SKIPPED_TRAINING_DATA),
            "CheckpointingFiles": tuple(r.checkpoint_files),
            "RoundMeasurements": {"Loss": r.round_losses[-1], **self.round_measurements}
            if r.round_losses else {},
            "ValidationMeasurements": {"Loss": r.validation_losses[-1],
                                       **self.val_measurements} if r.validation_losses else {},
            "RoundMeasurementsLists": _Lazy(lambda: measurement_lists(r.round_losses,
                                                           r.round_measurements)),
            "ValidationMeasurementsLists": _Lazy(lambda: measurement_lists(r.validation_losses,
                                                                r.validation_measurements)),
            "Round": self.round, "Batch": self.batch, "AbsoluteBatch": self.abs_batch,
            "BatchSize": self.batch_size, "BatchesPerRound": self.bpr,
            "TotalRounds": self.max_rounds, "TotalBatches": self.total,
            "ProgressFraction": frac,
            "ExamplesProcessed": self.abs_batch * self.batch_size,
            "TrainingExamples": self.training_examples,
            "ValidationExamples": self.validation_examples,
            "TimeElapsed": elapsed,
            "TimeRemaining": elapsed * (1 - frac) / frac if frac > 0 else None,
            "Event": self.event_name,
            "BatchesPerSecond": rate, "ExamplesPerSecond": rate * self.batch_size * upb,
            "MeanBatchesPerSecond": self.abs_batch / elapsed if elapsed > 0 else 0.0,
            "MeanExamplesPerSecond": self.abs_batch * self.batch_size * upb / elapsed
            if elapsed > 0 else 0.0,
            "LearningRate": self.opt.learning_rate,
            "InitialLearningRate": r.initial_learning_rate,
            "OptimizationMethod": self.method.name,
            "TargetDevice": self.cfg.target_device,
            "BestValidationRound": r.best_validation_round,
            "RoundPositions": tuple(r.round_positions),
            "ValidationPositions": tuple(r.validation_positions),
            "Weights": _Lazy(lambda: {p: a.detach().cpu().numpy().copy()
                                      for p, a in self.arrays.items()}),
            "Gradients": _Lazy(lambda: {p: a.grad.detach().cpu().numpy().copy()
                                        for p, a in self.arrays.items()
                                        if a.grad is not None}),
            "$MemoryUsage": _Lazy(lambda: (self.memory.latest if self.memory is not None
                                           and self.memory.latest else
                                           memory_sample(buckets=self._bucket_count()))),
        })
        timings = self.timer.as_callback_dict()
        info["$Timings"] = info["$InternalTimings"] = timings
        return info


def _plan_payload(module: torch.nn.Module, inputs: dict[str, torch.Tensor],
                  lengths: dict[int, np.ndarray] | None) -> Any:
    from engine.plan import execution_plan, plan_event

    return plan_event({k: int(v.max()) for k, v in (lengths or {}).items()},
                      execution_plan(module, inputs))


def _executor_create(inputs: dict[str, torch.Tensor], device: torch.device,
                     dtype: torch.dtype) -> Any:
    return executor_log.executor_create({p: tuple(t.shape) for p, t in inputs.items()}, device,
                                        dtype, executor_log.device_memory_limit(device))


def train(module: torch.nn.Module, data: Dataset, config: TrainConfig, *,
          encoders: dict[str, EncoderSpec] | None = None, events: Events | None = None,
          net_factory: Callable[[torch.nn.Module], Any] | None = None,
          reporter: Any = None,
          checkpoint_writer: Callable[[torch.nn.Module, str, str], None] | None = None
          ) -> TrainResult:
    """Train ``module`` (a training module, see the module docstring) on ``data``.

    ``encoders`` maps ports whose columns hold raw values to their `EncoderSpec` (run once,
    before training). ``net_factory(module)`` builds the user-facing net for the ``"Net"`` key
    of TrainingProgressFunction (the engine never imports wlbridge). ``reporter`` is an
    `engine.reporting.Reporter` or None. ``checkpoint_writer(module, path, format)`` writes
    TrainingProgressCheckpointing files ("wl", "wxf", "wlnet", "params"; `engine.checkpoint`
    picks when and where, and writes "params" itself without one). On return the module
    holds the TrainedNet weights (best validation net if validating); ``final_state`` holds
    the last weights (FinalNet).
    """
    if config.updates_per_batch < 1:
        raise EngineError("badintopt", "\"UpdatesPerBatch\" should be a positive integer.")
    from engine.denormal import flush_denormals
    from engine.threads import governed_threads  # ThreadPolicy hook (engine/threads.py)

    # Subnormal floats (ADAM's second moments, long backward chains) take a slow microcode
    # path on x86; MXNet flushes them, and so do we while training on the CPU.
    with flush_denormals(True), governed_threads(config.thread_policy,
                                                 config.target_device) as governor:
        loop = _Loop(module, data, config, encoders, events, net_factory, reporter,
                     checkpoint_writer)
        loop.governor = governor and governor.attach(loop.events)  # ThreadPolicy hook
        return loop.run()
