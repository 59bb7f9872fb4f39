"""Sequence buckets as executors: one prepared executor per bucket key (reference §3.3, §7.4).

In MXNet an executor is a net bound to fixed input shapes; NetTrain keeps one per bucket key
(the rounded length of every length variable, `engine.batching.bucket_key`). In PyTorch the
module itself runs any shape, so what must change per shape is:

* the padded input buffers: `Executor` holds preallocated, reused tensors of the bucket's shape
  (``batch × keylen × ...`` for sequence ports, ``batch × ...`` for fixed ports, and the true
  lengths per LengthVar), so the "gen" phase writes into them instead of allocating;
* with ``compile_buckets=True`` ("CompileBuckets" -> True), a ``torch.compile(module,
  dynamic=False)`` callable per key, compiled lazily on the first call. One compiled graph per
  key is exactly what bucketing exists for: few distinct keys, each a static shape.

`BucketExecutors.get(key, batch_size)` returns the executor and emits the events NetTrain logs:

* first key: Bucketing ``("NewMasterBucket", key)``, Executor ``NetExecutorCreate`` (and Plan
  ``ToNetPlan`` when that channel is live);
* a key that dominates the current maximum (every component ≥): ``("ClearBuckets", newKey,
  oldMaxKey)``, the cached buckets are dropped, then the new bucket as below;
* a new key, eager module (shape-polymorphic): ``("NewReshapedBucket", key, sizes)`` and Executor
  ``NetExecutorReshape`` with the new input dims;
* a new key, compiled: ``("NewBucket", key)``, Plan ``ToNetPlan`` and Executor
  ``NetExecutorInherit``;
* a known key with another batch size (a short last batch): Executor ``NetExecutorReshape``
  with the integer batch size.

Keys are tuples of ints (Wolfram lists, DESIGN rule 1). Nets without length variables have the
key ``()`` and log no Bucketing events, only Create and batch-size reshapes. Every payload is
built inside a thunk, so a channel nobody listens to costs nothing (DESIGN rule 4).

Loop use (inside the "gen" timer)::

    buckets = BucketExecutors(module, layouts, events, device=dev, dtype=dt,
                              compile_buckets=config.compile_buckets)
    executor, inputs, lengths = buckets.load(plan.batch(idx))    # plan: engine.preencode
    out = executor(inputs, lengths)                              # in "exec"
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine import executor_log
from engine.batching import round_bucket
from engine.errors import EngineError
from engine.events import Events

# Dynamo keeps one cache entry per static shape; bucketing has tens of keys, not 8.
_COMPILED_KEYS_LIMIT = 64


class CompileWarning(UserWarning):
    """``NetTrain::bucketcompile``: torch.compile failed; training goes on with the eager net."""


@dataclass(frozen=True)
class InputLayout:
    """How one input port is laid out in a batch.

    ``length_var`` is the LengthVar id of the port's first (sequence) axis, None for a
    fixed-shape port; ``shape`` the per-example dims after that axis (the whole example shape
    for a fixed port); ``dtype`` the tensor type (int64 for indices, the working precision for
    reals).
    """

    length_var: int | None
    shape: tuple[int, ...]
    dtype: torch.dtype


def infer_layouts(
    batch: Mapping[str, Any], length_ids: Mapping[str, int], float_dtype: torch.dtype = torch.float32
) -> dict[str, InputLayout]:
    """Layouts of the ports in a sample ``batch`` (port -> array, or list of per-example arrays).

    Ports in ``length_ids`` are sequences (their first axis varies); integer data stays int64,
    real data takes ``float_dtype``. Lists of equal-shape arrays not in ``length_ids`` are fixed.
    """
    out: dict[str, InputLayout] = {}
    for port, col in batch.items():
        if port in length_ids:
            first = np.asarray(col[0])
            out[port] = InputLayout(int(length_ids[port]), tuple(first.shape[1:]), _dtype_of(first, float_dtype))
        else:
            try:
                arr = np.asarray(col)
            except ValueError:
                arr = np.empty(0, dtype=object)
            if arr.dtype == object:
                raise EngineError("seqlens", f"the input {port!r} has examples of different shapes "
                                             "but no length variable.")
            out[port] = InputLayout(None, tuple(arr.shape[1:]), _dtype_of(arr, float_dtype))
    return out


def _dtype_of(arr: np.ndarray, float_dtype: torch.dtype) -> torch.dtype:
    return torch.int64 if np.issubdtype(arr.dtype, np.integer) else float_dtype


@dataclass
class Executor:
    """The prepared executor of one (bucket key, batch size): reusable buffers and the callable.

    ``inputs``/``lengths`` are the device tensors handed to the module; `fill` overwrites them
    in place. ``host_inputs`` are the CPU staging tensors (the same objects on a CPU device).
    """

    key: tuple[int, ...]
    batch_size: int
    inputs: dict[str, torch.Tensor]
    lengths: dict[int, torch.Tensor]
    host_inputs: dict[str, torch.Tensor]
    host_lengths: dict[int, torch.Tensor]
    owner: BucketExecutors = field(repr=False)
    compiled: Callable[..., Any] | None = field(default=None, repr=False)
    copied: Any = field(default=None, repr=False)  # CUDA event after the last host->device copy

    def dims(self) -> dict[str, tuple[int, ...]]:
        """Full input dims by port, batch dimension included (the Executor payload form)."""
        return {p: tuple(t.shape) for p, t in self.inputs.items()}

    def fill(self, batch: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[int, torch.Tensor]]:
        """Write a batch (port -> array, or list of per-example sequences) into the buffers.

        Sequences are zero-padded to the bucket length; the true lengths go in ``lengths``
        (the masked layers use them, so the pad value never matters). Returns the buffers.
        """
        layouts = self.owner.layouts
        if self.copied is not None:
            # The previous asynchronous copy may still read the pinned host buffers.
            self.copied.synchronize()
        for port, col in batch.items():
            lay = layouts.get(port)
            if lay is None:
                raise EngineError("invindata", f"the batch has an input {port!r} the net does not have.")
            host = self.host_inputs[port]
            if lay.length_var is None:
                src = col if isinstance(col, torch.Tensor) else torch.from_numpy(np.asarray(col))
                if tuple(src.shape) != tuple(host.shape):
                    raise EngineError("invindata", f"the input {port!r} has batch shape {tuple(src.shape)}; "
                                                   f"the executor expects {tuple(host.shape)}.")
                host.copy_(src)
            else:
                self._fill_sequences(port, lay, host, col)
        if self.inputs is not self.host_inputs:
            for port, t in self.inputs.items():
                t.copy_(self.host_inputs[port], non_blocking=True)
            for lid, t in self.lengths.items():
                t.copy_(self.host_lengths[lid], non_blocking=True)
            if self.copied is None and torch.cuda.is_available():
                self.copied = torch.cuda.Event()
            if self.copied is not None:
                self.copied.record()
        return self.inputs, self.lengths

    def _fill_sequences(self, port: str, lay: InputLayout, host: torch.Tensor, seqs: Sequence[Any]) -> None:
        if len(seqs) != self.batch_size:
            raise EngineError("invindata", f"the input {port!r} has {len(seqs)} examples; the executor "
                                           f"expects a batch of {self.batch_size}.")
        keylen = host.shape[1]
        view = host.numpy()
        # Padding is masked, but index ports (embeddings, class targets) must still hold a
        # valid index there: 1 for integers, 0 for reals.
        view.fill(1 if lay.dtype == torch.int64 else 0)
        lens = self.host_lengths[lay.length_var].numpy()
        for i, s in enumerate(seqs):
            a = np.asarray(s)
            n = len(a)
            if n > keylen:
                raise EngineError("seqlens", f"a sequence of length {n} does not fit the bucket length {keylen}.")
            view[i, :n] = a
            lens[i] = n

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the net (compiled for this key when "CompileBuckets" is on, else eager)."""
        return self.owner.run(self, *args, **kwargs)


class BucketExecutors:
    """The bucket cache: one `Executor` per (key, batch size), with NetTrain's bucket events.

    ``layouts`` describes every input port (`InputLayout`, see `infer_layouts`); the key has one
    entry per distinct LengthVar id, in increasing id order. ``compile_backend`` is passed to
    ``torch.compile`` ("inductor" by default; "aot_eager" captures the same per-key graphs without
    the C++ build).
    ``plan`` builds the Plan payload's plan from an executor (default: `engine.plan`'s
    example forward pass on the executor's buffers); it runs only when "Plan" is live.
    """

    def __init__(
        self,
        module: torch.nn.Module,
        layouts: Mapping[str, InputLayout],
        events: Events | None = None,
        device: Any = "cpu",
        dtype: torch.dtype = torch.float32,
        compile_buckets: bool = False,
        compile_backend: str | Callable[..., Any] = "inductor",
        plan: Callable[[Executor], dict[str, Any]] | None = None,
    ):
        self.module = module
        self.layouts = dict(layouts)
        self.events = events or Events()
        self.device = torch.device(device)
        self.dtype = dtype
        self.compile_buckets = compile_buckets
        self.compile_backend = compile_backend
        self._plan = plan
        self.length_vars: tuple[int, ...] = tuple(sorted({
            lay.length_var for lay in self.layouts.values() if lay.length_var is not None}))
        self._buckets: dict[tuple[int, ...], dict[int, Executor]] = {}
        self.master_key: tuple[int, ...] | None = None
        self.max_key: tuple[int, ...] | None = None
        self.compile_failed = False
        self._compiled_keys: set[tuple[int, ...]] = set()
        if compile_buckets:
            import torch._dynamo as dynamo

            cfg = dynamo.config
            name = "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit"
            setattr(cfg, name, max(getattr(cfg, name), _COMPILED_KEYS_LIMIT))

    # -- the cache --------------------------------------------------------------------------

    @property
    def bucket_count(self) -> int:
        """Cached buckets (distinct keys); the "Buckets" figure of memory reporting (§5.1)."""
        return len(self._buckets)

    @property
    def compiled_count(self) -> int:
        """Keys whose compiled graph has been built (first call done) without failing."""
        return len(self._compiled_keys)

    def key_of(self, batch: Mapping[str, Any]) -> tuple[int, ...]:
        """The bucket key of a batch: per LengthVar id, `round_bucket` of its longest sequence."""
        longest: dict[int, int] = {}
        for port, lay in self.layouts.items():
            if lay.length_var is not None and port in batch:
                m = max((len(s) for s in batch[port]), default=0)
                longest[lay.length_var] = max(longest.get(lay.length_var, 0), m)
        return tuple(round_bucket(longest.get(v, 0)) for v in self.length_vars)

    def load(self, batch: Mapping[str, Any]) -> tuple[Executor, dict[str, torch.Tensor], dict[int, torch.Tensor]]:
        """The executor for ``batch`` (created if new, with its events) and the filled buffers."""
        first = next(iter(batch.values()))
        ex = self.get(self.key_of(batch), len(first))
        inputs, lengths = ex.fill(batch)
        return ex, inputs, lengths

    def get(self, key: Sequence[int], batch_size: int) -> Executor:
        """The executor of ``key`` at ``batch_size``; a new one logs the events of §3.3."""
        key = tuple(int(k) for k in key)
        if len(key) != len(self.length_vars):
            raise EngineError("seqlens", f"the bucket key {list(key)} should have one length per "
                                         f"length variable ({len(self.length_vars)}).")
        sizes = self._buckets.get(key)
        if sizes is not None:
            ex = sizes.get(batch_size)
            if ex is None:
                ex = sizes[batch_size] = self._new(key, batch_size)
                self._emit_reshape(batch_size)
            return ex
        if self.master_key is None:
            return self._new_master(key, batch_size)
        bucketing = bool(self.length_vars)
        if bucketing and self.max_key is not None and all(a >= b for a, b in zip(key, self.max_key, strict=True)):
            old = self.max_key
            self.events.emit("Bucketing", lambda: ("ClearBuckets", key, old))
            self._buckets.clear()
            self.max_key = key
        ex = self._new(key, batch_size)
        self._buckets[key] = {batch_size: ex}
        if self.compile_buckets:
            if bucketing:
                self.events.emit("Bucketing", lambda: ("NewBucket", key))
            self._emit_plan(ex)
            self.events.emit("Executor", lambda: executor_log.executor_inherit(ex.dims(), self.device, self.dtype))
        else:
            if bucketing:
                self.events.emit("Bucketing", lambda: ("NewReshapedBucket", key, ex.dims()))
            self.events.emit("Executor", lambda: executor_log.executor_reshape(ex.dims(), self.device))
        return ex

    def clear(self) -> None:
        """Drop every bucket (buffers and compiled callables); the next key becomes a new master."""
        self._buckets.clear()
        self.master_key = self.max_key = None

    # -- creation ---------------------------------------------------------------------------

    def _new_master(self, key: tuple[int, ...], batch_size: int) -> Executor:
        self.master_key = self.max_key = key
        ex = self._new(key, batch_size)
        self._buckets[key] = {batch_size: ex}
        if self.length_vars:
            self.events.emit("Bucketing", lambda: ("NewMasterBucket", key))
        self._emit_plan(ex)
        self.events.emit("Executor", lambda: executor_log.executor_create(
            ex.dims(), self.device, self.dtype, executor_log.device_memory_limit(self.device)))
        return ex

    def _new(self, key: tuple[int, ...], batch_size: int) -> Executor:
        keylen = dict(zip(self.length_vars, key, strict=True))
        host: dict[str, torch.Tensor] = {}
        for port, lay in self.layouts.items():
            seq = () if lay.length_var is None else (keylen[lay.length_var],)
            fill = 1 if lay.dtype == torch.int64 else 0  # a valid index before the first fill
            host[port] = torch.full((batch_size, *seq, *lay.shape), fill, dtype=lay.dtype)
        # Lengths start full so an unfilled executor (the plan's example pass) is consistent.
        host_lens = {v: torch.full((batch_size,), keylen[v], dtype=torch.int64) for v in self.length_vars}
        if self.device.type == "cpu":
            inputs, lengths = host, host_lens
        else:
            host = {p: t.pin_memory() for p, t in host.items()}
            host_lens = {v: t.pin_memory() for v, t in host_lens.items()}
            inputs = {p: t.to(self.device) for p, t in host.items()}
            lengths = {v: t.to(self.device) for v, t in host_lens.items()}
        return Executor(key, batch_size, inputs, lengths, host, host_lens, self)

    def _emit_reshape(self, batch_size: int) -> None:
        self.events.emit("Executor", lambda: executor_log.executor_reshape(int(batch_size), self.device))

    def _emit_plan(self, ex: Executor) -> None:
        if not self.events.active("Plan"):
            return

        def payload() -> tuple[Any, ...]:
            from engine.plan import execution_plan, plan_event

            if self._plan is not None:
                plan = self._plan(ex)
            else:
                plan = execution_plan(self.module, (ex.inputs, ex.lengths))
                plan["inputs"] = {p: list(t.shape) for p, t in ex.inputs.items()}
            return plan_event(dict(zip(self.length_vars, ex.key, strict=True)), plan)

        self.events.emit("Plan", payload)

    # -- running ----------------------------------------------------------------------------

    def run(self, ex: Executor, *args: Any, **kwargs: Any) -> Any:
        """Call the module for ``ex``: its compiled graph when compiling, else the eager module.

        A failing compilation (no C++ compiler, an unsupported op) warns once
        (``NetTrain::bucketcompile``) and every bucket falls back to the eager module; an error
        the eager module also raises is the net's own and propagates unchanged.
        """
        if not self.compile_buckets or self.compile_failed:
            return self.module(*args, **kwargs)
        first = ex.compiled is None
        if first:
            ex.compiled = torch.compile(self.module, dynamic=False, backend=self.compile_backend)
        try:
            out = ex.compiled(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
            out = self.module(*args, **kwargs)
            self.compile_failed = True
            warnings.warn(CompileWarning(
                f"NetTrain::bucketcompile: torch.compile failed for the bucket {list(ex.key)} "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                "training continues with the uncompiled net."), stacklevel=2)
            return out
        if first:
            self._compiled_keys.add(ex.key)
        return out
