"""Layers that rearrange an array: TransposeLayer, ReplicateLayer, PartLayer, AppendLayer,
PrependLayer.

Levels are Wolfram's (1-based, without the batch dim), so level k is torch dim k. Argument forms
(normalised by wlbridge):

* TransposeLayer "Specification": ``("swaps", ((m, n), ...))`` applied in order (the default is
  ``((1, 2),)``) or ``("perm", (n1, n2, ...))``: level k of the input is level n_k of the output.
* ReplicateLayer "Dimensions": a tuple of ints/None (None = infer from the declared output),
  "Level": where they appear in the output dims (1-based, negative from the end).
* PartLayer "Specification": a tuple with one entry per level: an int (negative from the end;
  drops the level), "All", ``slice(lo, hi, step)`` for a Span (inclusive, 1-based, negative
  allowed, hi None = to the end) or a tuple of ints (keeps the level).
* AppendLayer/PrependLayer: ports "Input" (rank n) and "Element" (rank n-1); on a "Varying"
  input the element goes right after each sequence's own last step (Append) or in front
  (Prepend), and the length grows by one.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.errors import EngineError
from engine.layers import register, where
from engine.layers.base import (
    SimpleLayer,
    WolframLayer,
    check_args,
    declared_output,
    fail,
    format_dims,
    real_input,
)
from engine.layers.sequence import derived_length_var
from engine.spec import LayerSpec, LengthVar, TensorType

# ---------------------------------------------------------------------------------------------
# TransposeLayer


def transpose_permutation(spec: Any, rank: int, path: tuple[str, ...]) -> tuple[int, ...]:
    """``src``: output level i (0-based) takes input level ``src[i]``."""
    kind, values = spec if spec is not None else ("swaps", ((1, 2),))
    src = list(range(rank))
    if kind == "swaps":
        for m, n in values:
            for lv in (m, n):
                if not 1 <= abs(lv) <= rank:
                    raise fail(path, f"cannot transpose level {lv} of an input of rank {rank}.")
            a, b = (m - 1) % rank, (n - 1) % rank
            src[a], src[b] = src[b], src[a]
        return tuple(src)
    perm = list(values)
    if len(perm) > rank or sorted(perm) != list(range(1, len(perm) + 1)):
        raise fail(path, f"{list(perm)} is not a permutation of the first levels of an input of rank {rank}.")
    perm += list(range(len(perm) + 1, rank + 1))
    for k, n in enumerate(perm):
        src[n - 1] = k
    return tuple(src)


class TransposeLayer(SimpleLayer):
    kind = "TransposeLayer"

    def __init__(self, src: tuple[int, ...]):
        super().__init__()
        self.order = (0, *(s + 1 for s in src))

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.order)


@register("TransposeLayer")
def build_transpose(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Specification"}, path)
    t = real_input(in_types, "Input", path, min_rank=2)
    src = transpose_permutation(args.get("Specification"), len(t.dims), path)
    if any(isinstance(t.dims[s], LengthVar) for i, s in enumerate(src) if s != i):
        raise fail(path, f"cannot move the varying dimension of {format_dims(t.dims)}.")
    out = tuple(t.dims[s] for s in src)
    return TransposeLayer(src), {"Output": TensorType(out, t.index_range)}


# ---------------------------------------------------------------------------------------------
# ReplicateLayer


class ReplicateLayer(SimpleLayer):
    kind = "ReplicateLayer"

    def __init__(self, at: int, dims: tuple[int, ...]):
        super().__init__()
        self.at, self.dims = at, dims

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        shape = list(x.shape)
        view = shape[: self.at + 1] + [1] * len(self.dims) + shape[self.at + 1:]
        full = shape[: self.at + 1] + list(self.dims) + shape[self.at + 1:]
        return x.reshape(view).expand(full)


@register("ReplicateLayer")
def build_replicate(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Dimensions", "Level"}, path)
    t = real_input(in_types, "Input", path)
    rank = len(t.dims)
    dims = tuple(args.get("Dimensions") or (None,))
    level = args.get("Level", 1)
    out_rank = rank + len(dims)
    at = level - 1 if level > 0 else out_rank + level - len(dims) + 1
    if not 0 <= at <= rank:
        raise fail(path, f"the level {level} is not a valid position for the replicated dimensions "
                         f"of an input of rank {rank}.")
    if any(d is None for d in dims):
        hint = declared_output(spec)
        if hint is None or hint.dims is None or len(hint.dims) != out_rank:
            raise fail(path, "the number of copies of ReplicateLayer could not be inferred; "
                             "give it as ReplicateLayer[n].")
        dims = tuple(h if d is None else d for d, h in zip(dims, hint.dims[at: at + len(dims)], strict=True))
        if any(not isinstance(d, int) for d in dims):
            raise fail(path, "ReplicateLayer cannot replicate into a varying dimension.")
    out = (*t.dims[:at], *dims, *t.dims[at:])
    return ReplicateLayer(at, dims), {"Output": TensorType(out, t.index_range)}


# ---------------------------------------------------------------------------------------------
# PartLayer


def _part_index(entry: Any, size: Any, path: tuple[str, ...]) -> Any:
    """One level's torch index: an int (level dropped), a slice, or a list of ints."""
    if isinstance(size, LengthVar):
        if entry == "All":
            return slice(None)
        if isinstance(entry, int) and entry > 0:
            return entry - 1
        raise fail(path, "on a varying dimension PartLayer takes All or a positive index.")

    def pos(i: int) -> int:
        if not (1 <= i <= size or -size <= i <= -1):
            raise fail(path, f"the part {i} does not exist in a dimension of size {size}.")
        return i - 1 if i > 0 else size + i

    if entry == "All":
        return slice(None)
    if isinstance(entry, int):
        return pos(entry)
    if isinstance(entry, slice):
        lo = pos(entry.start if entry.start is not None else 1)
        hi = pos(entry.stop) if entry.stop is not None else size - 1
        step = entry.step or 1
        if step < 1 or hi < lo:
            raise fail(path, f"the span {entry.start};;{entry.stop} selects nothing of a dimension of size {size}.")
        return slice(lo, hi + 1, step)
    return [pos(i) for i in entry]


class PartLayer(SimpleLayer):
    kind = "PartLayer"

    def __init__(self, index: tuple[Any, ...]):
        super().__init__()
        self.index = index

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        dim = 1
        for ix in self.index:
            if isinstance(ix, int):
                x = x.select(dim, ix)
                continue
            x = x[(slice(None),) * dim + (ix,)] if isinstance(ix, slice) else x.index_select(
                dim, torch.as_tensor(ix, device=x.device))
            dim += 1
        return x


@register("PartLayer")
def build_part(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Specification"}, path)
    t = real_input(in_types, "Input", path, min_rank=1)
    entries = tuple(args.get("Specification") or ())
    if not entries or len(entries) > len(t.dims):
        raise fail(path, f"the part specification has {len(entries)} levels but the input "
                         f"{format_dims(t.dims)} has {len(t.dims)}.")
    index = tuple(_part_index(e, d, path) for e, d in zip(entries, t.dims, strict=False))
    out: list[Any] = []
    for ix, d in zip(index, t.dims, strict=False):
        if isinstance(ix, int):
            continue
        out.append(d if ix == slice(None) else len(range(d)[ix]) if isinstance(ix, slice) else len(ix))
    out += list(t.dims[len(index):])
    return PartLayer(index), {"Output": TensorType(tuple(out), t.index_range)}


# ---------------------------------------------------------------------------------------------
# AppendLayer, PrependLayer


class JoinElementLayer(WolframLayer):
    """Append[in, elem] or Prepend[in, elem] along level 1, per example's own length."""

    def __init__(self, kind: str, source: int | None, target: int | None):
        super().__init__()
        self.kind, self.source, self.target = kind, source, target

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x, e = inputs["Input"], inputs["Element"].unsqueeze(1).to(inputs["Input"].dtype)
        if self.kind == "PrependLayer":
            out = torch.cat([e, x], 1)
        else:
            out = torch.cat([x, torch.zeros_like(e)], 1)
            lens = None if self.source is None or not lengths else lengths.get(self.source)
            if lens is None:
                out[:, -1:] = e
            else:
                at = lens.to(x.device).long().reshape(-1, 1, *([1] * (x.dim() - 2)))
                out = out.scatter(1, at.expand(e.shape), e)
        if self.source is not None and lengths is not None and self.source in lengths:
            lengths[self.target] = lengths[self.source] + 1
        return {"Output": out}


def _build_join(kind: str, spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    check_args(spec, set(), path)
    t = real_input(in_types, "Input", path, min_rank=1)
    e = in_types.get("Element")
    want = tuple(t.dims[1:])
    if e is None or e.dims is None:
        e = TensorType(want, t.index_range)
    elif tuple(e.dims) != want:
        raise fail(path, f"the \"Element\" port should have dimensions {format_dims(want)} to join "
                         f"an \"Input\" of dimensions {format_dims(t.dims)}, but has {format_dims(e.dims)}.")
    steps = t.dims[0]
    if isinstance(steps, LengthVar):
        grown: Any = derived_length_var(steps, 1)
        m = JoinElementLayer(kind, steps.id, grown.id)
    else:
        grown = steps + 1
        m = JoinElementLayer(kind, None, None)
    m.input_types = {"Input": t, "Element": e}
    return m, {"Output": TensorType((grown, *want), t.index_range)}


@register("AppendLayer", inputs=("Input", "Element"))
def build_append(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    return _build_join("AppendLayer", spec, in_types, path)


@register("PrependLayer", inputs=("Input", "Element"))
def build_prepend(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    return _build_join("PrependLayer", spec, in_types, path)


# ---------------------------------------------------------------------------------------------
# ExtractLayer, SequenceIndicesLayer


class ExtractLayer(WolframLayer):
    """Extract[input, position]: the last dim of "Position" indexes the first s input levels."""

    kind = "ExtractLayer"

    def __init__(self, sizes: tuple[int, ...], scalar_position: bool):
        super().__init__()
        self.sizes, self.scalar_position = sizes, scalar_position

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x, pos = inputs["Input"], inputs["Position"].long()
        if self.scalar_position:
            pos = pos.unsqueeze(-1)
        s = len(self.sizes)
        sizes = torch.as_tensor(self.sizes, device=pos.device)
        if bool(((pos == 0) | (pos.abs() > sizes)).any()):
            raise EngineError("invindata", f"{where(self.path)}: a position is outside the input's "
                                           f"dimensions {format_dims(self.sizes)}.")
        pos = torch.where(pos < 0, pos + sizes, pos - 1)
        strides = torch.ones(s, dtype=torch.long, device=pos.device)
        for k in range(s - 2, -1, -1):
            strides[k] = strides[k + 1] * self.sizes[k + 1]
        linear = (pos * strides).sum(-1)  # (B, m...)
        batch, m_shape = linear.shape[0], linear.shape[1:]
        flat = x.reshape(x.shape[0], -1, *x.shape[1 + s:])
        idx = linear.reshape(batch, -1)
        out = flat[torch.arange(batch, device=x.device)[:, None], idx]
        return {"Output": out.reshape(batch, *m_shape, *x.shape[1 + s:])}


@register("ExtractLayer", inputs=("Input", "Position"))
def build_extract(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    check_args(spec, set(), path)
    t = real_input(in_types, "Input", path, min_rank=1)
    p = in_types.get("Position")
    if p is None or p.dims is None or any(d is None for d in p.dims):
        raise fail(path, "the shape of port 'Position' could not be inferred; declare it, "
                         "e.g. \"Position\" -> 2 or \"Position\" -> \"Integer\".")
    scalar = len(p.dims) == 0
    s = 1 if scalar else p.dims[-1]
    if not isinstance(s, int) or not 1 <= s <= len(t.dims):
        raise fail(path, f"a position of length {s} cannot index an input of rank {len(t.dims)}.")
    if any(isinstance(d, LengthVar) for d in t.dims[:s]):
        raise fail(path, "ExtractLayer cannot index a varying dimension.")
    m = ExtractLayer(tuple(t.dims[:s]), scalar)
    m.input_types = {"Input": t, "Position": TensorType(tuple(p.dims), p.index_range or 0)}
    out = (*(() if scalar else p.dims[:-1]), *t.dims[s:])
    return m, {"Output": TensorType(tuple(out), t.index_range)}


class SequenceIndicesLayer(WolframLayer):
    """Min[max, Range[Length[seq]]]: the integers 1, 2, ... along level 1."""

    kind = "SequenceIndicesLayer"

    def __init__(self, maximum: int | None):
        super().__init__()
        self.maximum = maximum

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x = inputs["Input"]
        idx = torch.arange(1, x.shape[1] + 1, device=x.device)
        if self.maximum is not None:
            idx = idx.clamp_max(self.maximum)
        return {"Output": idx.unsqueeze(0).expand(x.shape[0], -1)}


@register("SequenceIndicesLayer")
def build_sequence_indices(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Maximum"}, path)
    t = in_types.get("Input")
    if t is None or not t.dims or t.dims[0] is None:
        raise fail(path, "the input should be a sequence (shape {\"Varying\", ...} or {n, ...}).")
    top = args.get("Maximum")
    n = t.dims[0]
    bound = top if top is not None else (n if isinstance(n, int) else None)
    m = SequenceIndicesLayer(top)
    m.input_types = {"Input": t}
    # integer output; the index range is only known for a fixed length or a given Maximum
    return m, {"Output": TensorType((n,), bound if bound is not None else 0)}


class SequenceReverseLayer(WolframLayer):
    """Reverse each sequence's own valid steps; padded steps stay past the end."""

    kind = "SequenceReverseLayer"

    def __init__(self, length_var: int | None):
        super().__init__()
        self.length_var = length_var

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x = inputs["Input"]
        lens = None if self.length_var is None or not lengths else lengths.get(self.length_var)
        if lens is None:
            return {"Output": x.flip(1)}
        steps = torch.arange(x.shape[1], device=x.device)[None, :]
        n = lens.to(x.device).long()[:, None]
        src = torch.where(steps < n, n - 1 - steps, steps)  # (batch, steps)
        index = src.reshape(*src.shape, *([1] * (x.dim() - 2))).expand_as(x)
        return {"Output": x.gather(1, index)}


@register("SequenceReverseLayer")
def build_sequence_reverse(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    check_args(spec, set(), path)
    t = in_types.get("Input")
    if t is None or not t.dims or any(d is None for d in t.dims):
        raise fail(path, "the input should be a sequence (shape {\"Varying\", ...} or {n, ...}).")
    steps = t.dims[0]
    m = SequenceReverseLayer(steps.id if isinstance(steps, LengthVar) else None)
    m.input_types = {"Input": t}
    return m, {"Output": TensorType(tuple(t.dims), t.index_range)}
