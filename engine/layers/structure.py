"""Shape and combining layers: Flatten, Reshape, Catenate, Threading, Total, Aggregation, Summation.

Levels are Wolfram's (1-based, without the batch dim), so level k is torch dim k.
Multiport layers (Catenate, Threading, Total) take their inputs on ports "1", "2", ... in order.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.layers import register
from engine.layers.base import (
    SimpleLayer,
    WolframLayer,
    check_args,
    fail,
    fixed_dims,
    format_dims,
    real_input,
    resolve_level,
    resolve_levels,
)
from engine.layers.elementwise import ScalarFn, check_fn, evaluate
from engine.spec import LayerSpec, LengthVar, TensorType


class FlattenLayer(SimpleLayer):
    """Merge consecutive dims, row-major (torch's flatten order is Wolfram's)."""

    kind = "FlattenLayer"

    def __init__(self, start: int, end: int):
        super().__init__()
        self.start, self.end = start, end

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, self.start, self.end)


@register("FlattenLayer")
def build_flatten(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Level"}, path)
    t = real_input(in_types, "Input", path, min_rank=1)
    dims = t.dims
    rank = len(dims)
    level = args.get("Level")
    if level in (None, "Infinity", "All"):
        a, b = 0, rank - 1
    elif isinstance(level, int) and not isinstance(level, bool) and level != 0 and abs(level) < rank:
        a, b = (0, level) if level > 0 else (rank - 1 + level, rank - 1)
    else:
        raise fail(path, f"the flatten level {level!r} is not valid for an input of rank {rank}; "
                         f"use Infinity or an integer n with 1 <= |n| <= {rank - 1}.")
    merged = dims[a:b + 1]
    if any(isinstance(d, LengthVar) for d in merged):
        raise fail(path, f"cannot flatten a varying dimension of {format_dims(dims)}.")
    out = (*dims[:a], math.prod(merged), *dims[b + 1:])
    return FlattenLayer(a + 1, b + 1), {"Output": TensorType(out, t.index_range)}


class ReshapeLayer(SimpleLayer):
    """x.reshape(batch, *dims), row-major."""

    kind = "ReshapeLayer"

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = dims

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape((x.shape[0], *self.dims))


@register("ReshapeLayer")
def build_reshape(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Dimensions"}, path)
    t = real_input(in_types, "Input", path)
    dims = fixed_dims(t, path, "ReshapeLayer")
    want = args.get("Dimensions")
    if isinstance(want, int) and not isinstance(want, bool):
        want = (want,)
    if not isinstance(want, (tuple, list)):
        raise fail(path, f"ReshapeLayer needs a list of dimensions, not {want!r}.")
    out: list[Any] = []
    for i, d in enumerate(want):
        if d == "Inherited":
            if i >= len(dims):
                raise fail(path, f"Inherited at position {i + 1} has no matching input dimension.")
            out.append(dims[i])
        elif d in ("Automatic", None):
            out.append(None)
        elif isinstance(d, int) and not isinstance(d, bool) and d >= 1:
            out.append(d)
        else:
            raise fail(path, f"{d!r} is not a valid dimension for ReshapeLayer.")
    total = math.prod(dims)
    if out.count(None) > 1:
        raise fail(path, "at most one dimension can be Automatic.")
    if None in out:
        known = math.prod(d for d in out if d is not None)
        if total % known:
            raise fail(path, f"cannot reshape {format_dims(dims)} ({total} elements) into {want!r}.")
        out[out.index(None)] = total // known
    if math.prod(out) != total:
        raise fail(path, f"cannot reshape {format_dims(dims)} ({total} elements) into "
                         f"{format_dims(tuple(out))} ({math.prod(out)} elements).")
    return ReshapeLayer(tuple(out)), {"Output": TensorType(tuple(out), t.index_range)}


def _multiport(in_types: dict[str, TensorType], path: tuple[str, ...], what: str) -> list[TensorType]:
    names = sorted(in_types, key=lambda p: int(p) if p.isdigit() else 1 << 30)
    if not names or [int(n) if n.isdigit() else None for n in names] != list(range(1, len(names) + 1)):
        raise fail(path, f"{what} needs its inputs on ports \"1\", \"2\", ...; got "
                         f"{', '.join(repr(n) for n in names) or 'none'}.")
    return [real_input(in_types, n, path) for n in names]


class MultiportLayer(WolframLayer):
    """A layer over ports "1".."k" producing "Output"; ``combine`` does the work."""

    def __init__(self, n: int):
        super().__init__()
        self.ports = tuple(str(i) for i in range(1, n + 1))

    def combine(self, xs: list[torch.Tensor]) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        return {"Output": self.combine([inputs[p] for p in self.ports])}


class CatenateLayer(MultiportLayer):
    kind = "CatenateLayer"

    def __init__(self, n: int, dim: int):
        super().__init__(n)
        self.dim = dim

    def combine(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, self.dim)


@register("CatenateLayer", inputs=None)
def build_catenate(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Level"}, path)
    ts = _multiport(in_types, path, "CatenateLayer")
    ranks = {len(t.dims) for t in ts}
    if len(ranks) != 1:
        raise fail(path, "the inputs of CatenateLayer have different ranks: "
                         f"{', '.join(format_dims(t.dims) for t in ts)}.")
    rank = ranks.pop()
    if rank == 0:
        raise fail(path, "CatenateLayer cannot join scalars; give its inputs rank 1 or more.")
    axis = resolve_level(args.get("Level", 1), rank, path, "catenate level")
    out = list(ts[0].dims)
    for t in ts[1:]:
        for i, (a, b) in enumerate(zip(out, t.dims, strict=True)):
            if i != axis and a != b:
                raise fail(path, f"the inputs' shapes {', '.join(format_dims(t.dims) for t in ts)} "
                                 f"differ at level {i + 1}, which is not the catenation level.")
    if any(isinstance(t.dims[axis], LengthVar) for t in ts):
        raise fail(path, "cannot catenate along a varying dimension.")
    out[axis] = sum(t.dims[axis] for t in ts)
    return CatenateLayer(len(ts), axis + 1), {"Output": TensorType(tuple(out))}


_THREAD_NAMES: dict[str, ScalarFn] = {
    "Plus": ("Plus", ("Slot", 1), ("Slot", 2)),
    "Times": ("Times", ("Slot", 1), ("Slot", 2)),
    "Subtract": ("Subtract", ("Slot", 1), ("Slot", 2)),
    "Divide": ("Divide", ("Slot", 1), ("Slot", 2)),
    "Power": ("Power", ("Slot", 1), ("Slot", 2)),
    "Min": ("Min", ("Slot", 1), ("Slot", 2)),
    "Max": ("Max", ("Slot", 1), ("Slot", 2)),
}


class ThreadingLayer(MultiportLayer):
    """f threaded over its inputs elementwise; Plus/Times/Min/Max fold over any number of inputs."""

    kind = "ThreadingLayer"

    def __init__(self, n: int, function: str | ScalarFn):
        super().__init__(n)
        self.function = function

    def combine(self, xs: list[torch.Tensor]) -> torch.Tensor:
        f = self.function
        if isinstance(f, str):
            out = xs[0]
            for x in xs[1:]:
                out = evaluate(_THREAD_NAMES[f], (out, x))
            return out
        return evaluate(f, tuple(xs))


class TotalLayer(MultiportLayer):
    kind = "TotalLayer"

    def combine(self, xs: list[torch.Tensor]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


def _broadcast(ts: list[TensorType], path: tuple[str, ...], what: str) -> tuple[Any, ...]:
    ranks = {len(t.dims) for t in ts}
    if len(ranks) != 1:
        raise fail(path, f"the inputs of {what} have different ranks: "
                         f"{', '.join(format_dims(t.dims) for t in ts)}.")
    out = []
    for level, ds in enumerate(zip(*(t.dims for t in ts), strict=True), 1):
        sizes = {d for d in ds if d != 1}
        if len(sizes) > 1:
            raise fail(path, f"the inputs of {what} have incompatible sizes at level {level}: "
                             f"{', '.join(format_dims(t.dims) for t in ts)}.")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


@register("ThreadingLayer", inputs=None)
def build_threading(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Function"}, path)
    ts = _multiport(in_types, path, "ThreadingLayer")
    f = args.get("Function")
    if isinstance(f, str):
        if f not in _THREAD_NAMES:
            raise fail(path, f"the function {f!r} is not supported by ThreadingLayer; use one of "
                             f"{', '.join(_THREAD_NAMES)} or a pure function.")
        if f in ("Subtract", "Divide", "Power") and len(ts) != 2:
            raise fail(path, f"{f} threads over exactly 2 inputs, but {len(ts)} are connected.")
    else:
        check_fn(f, path, max_slot=len(ts))
    out = _broadcast(ts, path, "ThreadingLayer")
    return ThreadingLayer(len(ts), f), {"Output": TensorType(out)}


@register("TotalLayer", inputs=None)
def build_total(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    check_args(spec, set(), path)
    ts = _multiport(in_types, path, "TotalLayer")
    out = _broadcast(ts, path, "TotalLayer")
    return TotalLayer(len(ts)), {"Output": TensorType(out)}


class AggregationLayer(WolframLayer):
    """Max/Min/Mean/Total over levels; a varying level is reduced over the valid steps only."""

    kind = "AggregationLayer"

    def __init__(self, function: str, axes: tuple[int, ...], varying: tuple[int, int] | None):
        super().__init__()
        self.function = function
        self.dims = tuple(a + 1 for a in axes)
        self.varying = varying  # (torch dim, LengthVar id) of a varying aggregated level

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        f = self.function
        if f == "Max":
            return x.amax(self.dims)
        if f == "Min":
            return x.amin(self.dims)
        if f == "Mean":
            return x.mean(self.dims)
        return x.sum(self.dims)

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x = inputs["Input"]
        if self.varying is None or not lengths or self.varying[1] not in lengths:
            return {"Output": self.apply(x)}
        dim, var = self.varying
        n = lengths[var].to(x.device)
        shape = [1] * x.dim()
        shape[0], shape[dim] = x.shape[0], x.shape[dim]
        mask = (torch.arange(x.shape[dim], device=x.device)[None, :] < n[:, None]).reshape(shape)
        f = self.function
        if f in ("Max", "Min"):
            fill = -torch.inf if f == "Max" else torch.inf
            return {"Output": self.apply(x.masked_fill(~mask, fill))}
        total = (x * mask).sum(self.dims)
        if f == "Total":
            return {"Output": total}
        count = mask.expand_as(x).sum(self.dims).clamp_min(1)
        return {"Output": total / count}


@register("AggregationLayer")
def build_aggregation(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Function", "Levels"}, path)
    f = args.get("Function", "Max")
    if f not in ("Max", "Min", "Mean", "Total"):
        raise fail(path, f"the aggregation Function {f!r} is not supported; use Max, Min, Mean or Total.")
    t = real_input(in_types, "Input", path, min_rank=1)
    axes = resolve_levels(args.get("Levels", slice(2, None)), len(t.dims), path, "aggregation levels")
    varying = [a for a in axes if isinstance(t.dims[a], LengthVar)]
    if len(varying) > 1:
        raise fail(path, "cannot aggregate over more than one varying level.")
    v = (varying[0] + 1, t.dims[varying[0]].id) if varying else None
    out = tuple(d for i, d in enumerate(t.dims) if i not in axes)
    return AggregationLayer(f, axes, v), {"Output": TensorType(out)}


class SummationLayer(SimpleLayer):
    """The sum of all elements of each example."""

    kind = "SummationLayer"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1).sum(1)


@register("SummationLayer")
def build_summation(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    check_args(spec, set(), path)
    t = real_input(in_types, "Input", path)
    if t.varying:
        raise fail(path, "SummationLayer of a varying-length input is not supported.")
    return SummationLayer(), {"Output": TensorType(())}
