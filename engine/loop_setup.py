"""Setting up a run (reference §9.5.1): the device and dtype, the batches of the fixed §7.1
permutation, the validation batches (§7.3, §9.7), trainable arrays with their
LearningRateMultipliers, and MaxTrainingRounds -> Automatic.

Functions of the `engine.loop_run.Run` whose attributes they fill; nothing here runs per batch.
"""

from __future__ import annotations

import copy
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine import batching, executor_log
from engine.columns import Columns, LazyBatches, inner_attr
from engine.errors import EngineError
from engine.loop_step import batch_loss
from engine.optim import WolframOptimizer

if TYPE_CHECKING:
    from engine.loop_run import Run

Path = tuple[str, ...]
PRECISIONS = {"Real32": torch.float32, "Real64": torch.float64, "Real16": torch.float16,
              "Mixed": torch.float32}
DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.float16: 2}
AUTOMATIC_ROUND_SECONDS = 20.0


def dtype_for(precision: str) -> torch.dtype:
    """The module dtype of a WorkingPrecision; ``badwp`` for an unknown one."""
    if precision not in PRECISIONS:
        raise EngineError("badwp", "Setting of WorkingPrecision should be either Automatic, "
                          "\"Real32\", \"Mixed\", \"Real64\" or \"Real16\", not "
                          f"{precision!r}.", "General")
    return PRECISIONS[precision]


def trainable_arrays(module: torch.nn.Module) -> dict[Path, torch.Tensor]:
    """The module's trainable arrays by path, in Wolfram's canonical order when it knows it."""
    trainable = inner_attr(module, "trainable_arrays")
    if trainable is not None:
        return {(tuple(k) if not isinstance(k, str) else tuple(k.split("/"))): v
                for k, v in trainable().items()}
    return {tuple(n.split(".")): p for n, p in module.named_parameters()}


def multiplier(rules: list[tuple[Path, float]], own: dict[Path, float], path: Path) -> float:
    """LearningRateMultipliers: the first option rule whose path is a prefix of ``path`` wins;
    then the multiplier written on the layer or container in the net; default 1."""
    for prefix, r in rules:
        if path[: len(prefix)] == tuple(prefix):
            return float(r)
    return float(own.get(path, 1.0))


def module_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the module's state dict."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def prepare_batches(run: Run, lengths: dict[int, np.ndarray] | None) -> None:
    """The §7.1 permutation, the validation split or set, and the training batches."""
    cfg, ev, bs, n = run.cfg, run.events, run.batch_size, run.cols.n
    if run.resume_state is not None:
        from engine.resume import check_permutation

        perm = check_permutation(run.resume_state, bs, n)
    elif lengths:
        perm = batching.make_permutation(np.stack([lengths[k] for k in sorted(lengths)], 1),
                                         bs, cfg.sequence_bucketing_partitions, run.rng)
    else:
        perm = batching.plain_permutation(n, bs, run.rng)
    ev.emit("Permutation", "Training")
    if ev.active("Permutation"):
        for p in batching.permutation_log_payloads("Training", lengths, perm)[1:]:
            ev.emit("Permutation", p)
    run.permutation = perm
    # Buckets as executors (§3.3, §7.4): training's log its events; validation has its own
    # (NetTrain's separate test-mode executor), so the two never share buffers.
    run.buckets = run.cols.executors(run.module, ev, cfg.compile_buckets)
    run.val_batches = None
    run.validation_examples = 0
    vs = cfg.validation_set
    if isinstance(vs, float):
        k = math.floor(vs * len(perm))
        if not 0 < vs < 1 or k < 1 or k >= len(perm):
            raise EngineError("invvsfrac", f"ValidationSet -> Scaled[{vs}] should leave at "
                              f"least one whole batch for training and take at least one "
                              f"for validation; there are {len(perm)} batches of {bs}.")
        val_idx = perm[len(perm) - k:].reshape(-1)
        perm = perm[: len(perm) - k]
        run.validation_examples = len(np.unique(val_idx))
        if run.cols.dynamic:
            # Validation data is fully sorted by length, front-padded (§7.3).
            ex_idx = np.unique(val_idx)
            sub = {v: ls[ex_idx] for v, ls in lengths.items()} if lengths else None
            run.val_batches = validation_batches(run, run.cols, sub, len(ex_idx), ex_idx)
        else:
            run.val_batches = [(run.module, *run.cols.gather(val_idx[i:i + bs]), None)
                               for i in range(0, len(val_idx), bs)]
    elif run.val_cols is not None:
        run.validation_examples = run.val_cols.n
        run.val_batches = validation_batches(run, run.val_cols, run.val_cols.lengths(),
                                             run.val_cols.n, None)
    run.train_perm = perm
    run.bpr = len(perm)
    run.training_examples = len(np.unique(perm)) if run.val_batches is not None and \
        isinstance(vs, float) else n
    if run.buckets is None:
        # Every batch gathered once: the assignment of examples to batches is fixed (§7.1).
        rows = perm if run.dist is None else run.dist.shard_rows(perm)
        run.batches = [(run.module, *run.cols.gather(row)) for row in rows]
        ev.emit("Plan", lambda: plan_payload(run.module, run.batches[0][1], lengths))
    else:
        # Made per batch in "gen": encoded (unless pre-encoded), padded to the bucket
        # length and written into the bucket executor's buffers; Plan and NetExecutorCreate
        # are emitted by the executors (engine.buckets).
        run.batches = LazyBatches(run.cols, perm if run.dist is None else
                                  run.dist.shard_rows(perm), run.buckets)


def validation_batches(run: Run, cols: Columns, lengths: dict[int, np.ndarray] | None,
                       n: int, subset: np.ndarray | None) -> Any:
    """Validation batches in the §7.3 order (sorted by length when there are lengths,
    else identity; the front padded, masked out of the totals) and their Permutation log.
    ``subset`` maps positions to example indices of ``cols`` (Scaled validation)."""
    bs = min(run.batch_size, n)
    matrix = np.stack([lengths[k] for k in sorted(lengths)], 1) if lengths else None
    order, valid = batching.validation_order(matrix, bs, n)
    rows = order if subset is None else subset[order]
    if run.events.active("Permutation"):
        logged = rows if lengths else None
        for p in batching.permutation_log_payloads("Validation", lengths, logged):
            run.events.emit("Permutation", p)
    masks = torch.from_numpy(valid).to(run.device)
    if cols.dynamic:
        return LazyBatches(cols, rows, cols.executors(run.module, None), masks)
    return [(run.module, *cols.gather(o), m) for o, m in zip(rows, masks, strict=True)]


def prepare_arrays(run: Run) -> None:
    """Multipliers of every array; arrays with multiplier 0 are frozen (no gradient)."""
    all_arrays = trainable_arrays(run.module)
    own_fn = inner_attr(run.module, "lr_multipliers")
    own = own_fn() if own_fn is not None else {}
    run.multipliers = {p: multiplier(run.cfg.learning_rate_multipliers, own, p)
                       for p in all_arrays}
    run.arrays = {p: a for p, a in all_arrays.items() if run.multipliers[p] != 0}
    for p, a in all_arrays.items():
        if run.multipliers[p] == 0:
            a.requires_grad_(False)
    # what the optimizer steps: the float32 masters in Real16, the arrays themselves else
    run.opt_arrays = run.precision.owned(run.arrays)


def automatic_rounds(run: Run) -> int:
    """MaxTrainingRounds -> Automatic: about 20 s of training, 10…10,000 rounds (§9.5.1).

    The steps are timed on a deep copy of the module with its own optimizer, so the
    weights that training starts from are untouched (NetTrain's timing steps change them).
    """
    clone = copy.deepcopy(run.module)
    arrays = {p: a for p, a in trainable_arrays(clone).items()
              if run.multipliers.get(p, 1) != 0}
    opt = WolframOptimizer(run.method, arrays, run.multipliers)
    _, inputs, lengths = run.batches[0]
    best = math.inf
    repeats = 1
    i = 0
    while i < repeats:
        t0 = time.perf_counter()
        opt.zero_grad()
        loss, _ = batch_loss(clone(inputs, lengths), inputs)
        loss.backward()
        opt.step()
        loss.item()
        t = time.perf_counter() - t0
        if i == 0:  # NetTrain's repeats: more when a step is very short
            repeats = 1 + (50 if t < 1e-3 else 10 if t < 1e-2 else 3 if t < 5e-2 else
                           1 if t < 0.25 else 0)
        best = min(best, t)
        i += 1
    round_time = max(best, 1e-9) * run.bpr
    return int(min(max(math.ceil(AUTOMATIC_ROUND_SECONDS / round_time), 10), 10000))


def log_executors(run: Run) -> None:
    """ExecutorLogging at setup (§3.2) for prepared (non-bucketed) batches: one Create for
    the training executor and, when validation runs in a separate test-mode executor, one
    for it with its batch size. Bucket executors (engine.buckets) log their own Create."""
    ev = run.events
    if not ev.active("Executor") or run.buckets is not None:
        return
    ev.emit("Executor", executor_create(run.batches[0][1], run.device, run.dtype))
    if isinstance(run.val_batches, list) and run.val_batches \
            and not run.cfg.disable_validation_executor:
        ev.emit("Executor", executor_create(run.val_batches[0][1], run.device, run.dtype))


def plan_payload(module: torch.nn.Module, inputs: dict[str, torch.Tensor],
                 lengths: dict[int, np.ndarray] | None) -> Any:
    """The PlanLogging entry (§3.1) of the training module on one batch."""
    from engine.plan import execution_plan, plan_event

    return plan_event({k: int(v.max()) for k, v in (lengths or {}).items()},
                      execution_plan(module, inputs))


def executor_create(inputs: dict[str, torch.Tensor], device: torch.device,
                    dtype: torch.dtype) -> Any:
    """A NetExecutorCreate entry for an executor of these input shapes."""
    return executor_log.executor_create({p: tuple(t.shape) for p, t in inputs.items()}, device,
                                        dtype, executor_log.device_memory_limit(device))
