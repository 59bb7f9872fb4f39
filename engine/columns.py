"""Training data as batches for the loop: columns, sequence lengths, padding, bucket executors.

`Columns` holds one data set's columns on the device: fixed-shape columns as one tensor each
(gathered per batch), sequence and per-batch-encoded columns through the encoding plan of
`engine.preencode` (§8.5), padded to their bucket key and written into the executor of
`engine.buckets` (§7.4). `LazyBatches` makes a batch when the loop reads it (the "gen" phase).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from engine import batching
from engine.errors import EngineError
from engine.events import Events
from engine.spec import Dataset, EncoderSpec, LengthVar, TrainConfig


def inner_attr(module: torch.nn.Module, attr: str) -> Any:
    """``attr`` of the training module or of the net it wraps (``.net`` / ``.module``)."""
    for m in (module, getattr(module, "net", None), getattr(module, "module", None)):
        if m is not None and hasattr(m, attr):
            return getattr(m, attr)
    return None


def length_ids(module: torch.nn.Module) -> dict[str, int]:
    """LengthVar id of every sequence port: the net's inputs and the loss targets."""
    types = dict(inner_attr(module, "input_types") or {})
    for port, t in (getattr(module, "target_types", None) or {}).items():
        types.setdefault(port, t)
    out = {}
    for port, t in types.items():
        dims = getattr(t, "dims", None) or ()
        for d in dims[:1]:
            if isinstance(d, LengthVar):
                out[port] = d.id
    return out


class Columns:
    """A data set's columns as the loop reads them (reference §7.2, §8.5).

    `engine.preencode.plan_encoding` runs first: encoders run once for the whole column when
    pre-encoding is on and the column fits in memory, else per batch; sequence lengths are
    always measured up front. Fixed-shape columns that are kept are moved to the device as one
    tensor each, so their batches are an ``index_select`` and can all be gathered before the
    loop. Everything else ("streamed" ports: sequences, columns encoded per batch) is produced
    per batch by `load` inside the "gen" phase, written into a bucket executor's buffers
    (`engine.buckets`), padded to the batch's RoundBucket length (§7.4).
    """

    def __init__(self, data: Dataset, module: torch.nn.Module, encoders: dict[str, EncoderSpec],
                 device: torch.device, dtype: torch.dtype, config: TrainConfig):
        from engine.preencode import plan_encoding

        self.length_ids = length_ids(module)
        self.plan = plan_encoding(data.columns, encoders, config)
        self.fixed: dict[str, torch.Tensor] = {}
        self.streamed: list[str] = []
        for port, col in self.plan.columns.items():
            arr = None if port in self.length_ids else as_array(col)
            if arr is None:
                self.streamed.append(port)
                continue
            t = torch.from_numpy(arr)
            t = t.to(dtype) if t.is_floating_point() else t.long()
            self.fixed[port] = t.to(device)
        self.streamed += list(self.plan.per_batch)
        for port in self.streamed:
            if port not in self.length_ids and port in self.plan.lengths:
                raise EngineError("seqlens", f"the input {port!r} has examples of different "
                                  "lengths, but the net expects a fixed size.")
        self.device = device
        self.dtype = dtype
        self.n = self.plan.n

    @property
    def dynamic(self) -> bool:
        """Whether batches are made per batch (sequences, or per-batch encoding)."""
        return bool(self.streamed)

    def lengths(self) -> dict[int, np.ndarray] | None:
        """Per-example lengths by LengthVar id, for bucketing (None for fixed-size data)."""
        by_port = dict(self.plan.lengths)
        for port in self.length_ids:
            col = self.plan.columns.get(port)
            if port not in by_port and isinstance(col, np.ndarray) and col.ndim >= 2:
                by_port[port] = np.full(self.n, col.shape[1], dtype=np.int64)
        by_port = {p: v for p, v in by_port.items() if p in self.length_ids}
        if not by_port:
            return None
        return self.plan.lengths_by_var({p: self.length_ids[p] for p in by_port})

    def executors(self, module: torch.nn.Module, events: Events | None,
                  compile_buckets: bool = False) -> Any:
        """A `BucketExecutors` for the streamed ports (None when every port is pre-gathered)."""
        if not self.dynamic:
            return None
        from engine.buckets import BucketExecutors, infer_layouts
        from engine.plan import execution_plan

        sample = self.plan.batch(np.zeros(1, dtype=np.int64), ports=self.streamed)
        ids = {p: self.length_ids[p] for p in self.streamed if p in self.length_ids}
        layouts = infer_layouts(sample, ids, self.dtype)
        def plan(ex: Any) -> dict:
            # the whole training module sees the streamed ports of the bucket and the
            # pre-gathered ones (targets, fixed inputs) of as many examples, and the lengths
            inputs = {**{p: t[: ex.batch_size] for p, t in self.fixed.items()}, **ex.inputs}
            return execution_plan(module, (inputs, ex.lengths))

        return BucketExecutors(module, layouts, events, device=self.device, dtype=self.dtype,
                               compile_buckets=compile_buckets, plan=plan)

    def gather(self, idx: np.ndarray) -> tuple[dict[str, torch.Tensor], dict[int, torch.Tensor]]:
        """Inputs and lengths of the examples ``idx`` (0-based) in tensors of their own."""
        ti = torch.from_numpy(np.ascontiguousarray(idx)).to(self.device)
        inputs = {p: t.index_select(0, ti) for p, t in self.fixed.items()}
        lengths: dict[int, torch.Tensor] = {}
        for port, col in self.plan.batch(idx, ports=self.streamed).items():
            if port not in self.length_ids:
                t = torch.from_numpy(np.ascontiguousarray(np.asarray(col)))
            else:
                key = batching.bucket_key([len(s) for s in col])[0]
                t, lens = batching.pad_batch(list(col), key)
                lengths[self.length_ids[port]] = lens.to(self.device)
            t = t.to(self.dtype) if t.is_floating_point() else t.long()
            inputs[port] = t.to(self.device)
        return inputs, lengths

    def load(self, idx: np.ndarray, buckets: Any) -> tuple[Callable, dict[str, torch.Tensor],
                                                          dict[int, torch.Tensor]]:
        """The "gen" work for one batch: encode what is encoded per batch, pad to the bucket
        length and fill the bucket executor's buffers. Returns (executor, inputs, lengths); the
        tensors are the executor's reused buffers, valid until its next `load`."""
        ex, ins, lens = buckets.load(self.plan.batch(idx, ports=self.streamed))
        inputs = dict(ins)
        if self.fixed:
            ti = torch.from_numpy(np.ascontiguousarray(idx)).to(self.device)
            for p, t in self.fixed.items():
                inputs[p] = t.index_select(0, ti)
        return ex, inputs, dict(lens)


class LazyBatches:
    """Batches made when read (the "gen" phase): row ``j`` of ``rows`` -> (executor, inputs,
    lengths), plus the validity mask of row ``j`` when ``masks`` is given (validation)."""

    def __init__(self, cols: Columns, rows: np.ndarray, buckets: Any,
                 masks: torch.Tensor | None = None):
        self.cols, self.rows, self.buckets, self.masks = cols, rows, buckets, masks

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, j: int) -> tuple:
        out = self.cols.load(self.rows[j], self.buckets)
        return out if self.masks is None else (*out, self.masks[j])

    def __iter__(self) -> Any:
        return (self[j] for j in range(len(self.rows)))


def as_array(col: Any) -> np.ndarray | None:
    """A numeric numpy array for a fixed-shape column, None for ragged/sequence columns."""
    if isinstance(col, np.ndarray) and col.dtype != object:
        return np.ascontiguousarray(col)
    if isinstance(col, torch.Tensor):
        return col.detach().cpu().numpy()
    try:
        arr = np.asarray(col)
    except ValueError:
        return None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        return None
    if arr.dtype.kind == "b":
        arr = arr.astype(np.float32)
    return arr
