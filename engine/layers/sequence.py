"""Sequence layers over "Varying" dimensions, and the masking helpers every sequence consumer uses.

Wolfram runs each example only up to its own length (wl-nets.md §8.10). Here a varying
dimension arrives padded to the batch's bucket length, with the true lengths in the
``lengths`` dict of the call convention (keyed by ``LengthVar.id``). Helpers:

* `sequence_mask(lengths, steps)`: which steps are real;
* `masked_sequence_mean(per_step, lengths)`: the per-example mean over valid steps (a sequence
  loss, e.g. CrossEntropyLoss on a sequence of classes);
* `masked_aggregate(x, lengths, function, axis)`: Max/Min/Mean/Total over a varying axis
  with padded steps excluded (for AggregationLayer on sequences);
* `last_valid(x, lengths)`: each example's last real step.

Layers: SequenceLastLayer, SequenceMostLayer, SequenceRestLayer (§2.15) and NetMapOperator
(§2.19). Most/Rest shorten the sequence by one: their output has a derived length variable
(`derived_length_var`, the same for every "one shorter than LengthVar[i]"), whose lengths they
add to the ``lengths`` dict they are called with, so later layers and the loss mask correctly.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from engine.errors import EngineError
from engine.layers import lookup, register, where
from engine.layers.base import WolframLayer, check_args, fail, format_dims
from engine.spec import LayerSpec, LengthVar, NetSpec, TensorType

# ---------------------------------------------------------------------------------------------
# Masking helpers


def sequence_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """A ``batch × steps`` bool tensor, True on each example's first ``lengths[i]`` steps."""
    return torch.arange(steps, device=lengths.device) < lengths.unsqueeze(1)


def masked_sequence_mean(per_step: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Per-example mean of ``per_step`` (``batch × steps × ...``) over its valid steps and any
    further dims; padded steps contribute nothing. ``lengths`` None means all steps are valid."""
    if lengths is None:
        return per_step.reshape(per_step.shape[0], -1).mean(dim=1)
    mask = sequence_mask(lengths, per_step.shape[1]).to(per_step.dtype)
    extra = per_step.shape[2:].numel()
    total = (per_step.reshape(*per_step.shape[:2], -1).sum(dim=2) * mask).sum(dim=1)
    return total / (lengths.to(per_step.dtype) * extra)


def masked_aggregate(x: torch.Tensor, lengths: torch.Tensor | None, function: str,
                     axis: int = 1) -> torch.Tensor:
    """``function`` ("Max", "Min", "Mean", "Total") of ``x`` over the varying ``axis`` (a torch
    axis, batch included; default 1), ignoring each example's padded steps."""
    if function not in ("Max", "Min", "Mean", "Total"):
        raise EngineError("invnet", f"AggregationLayer: unknown function {function!r}; "
                                    "use Max, Min, Mean or Total.")
    if lengths is None:
        ops = {"Max": lambda t: t.amax(dim=axis), "Min": lambda t: t.amin(dim=axis),
               "Mean": lambda t: t.mean(dim=axis), "Total": lambda t: t.sum(dim=axis)}
        return ops[function](x)
    mask = sequence_mask(lengths, x.shape[axis])
    shape = [1] * x.dim()
    shape[0], shape[axis] = mask.shape
    mask = mask.reshape(shape)
    if function == "Max":
        return x.masked_fill(~mask, float("-inf")).amax(dim=axis)
    if function == "Min":
        return x.masked_fill(~mask, float("inf")).amin(dim=axis)
    total = x.masked_fill(~mask, 0).sum(dim=axis)
    if function == "Total":
        return total
    count = lengths.to(x.dtype).reshape([-1] + [1] * (total.dim() - 1))
    return total / count


def last_valid(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Each example's step at index ``lengths − 1`` (the last step when ``lengths`` is None)."""
    if lengths is None:
        return x[:, -1]
    index = (lengths.to(x.device, torch.int64) - 1).clamp_min(0)
    return x[torch.arange(x.shape[0], device=x.device), index]


_DERIVED: dict[tuple[int, int], int] = {}
_FRESH = itertools.count(1 << 20)


def derived_length_var(source: LengthVar, delta: int) -> LengthVar:
    """The length variable ``source + delta`` (the same object for the same pair, process-wide).

    Ids start at 2**20, clear of the ids users write (``LengthVar[0]``, ``LengthVar[1]``, ...).
    """
    key = (source.id, delta)
    if key not in _DERIVED:
        _DERIVED[key] = next(_FRESH)
    return LengthVar(_DERIVED[key])


# ---------------------------------------------------------------------------------------------
# Layers


def _sequence_input(in_types: dict[str, TensorType | None], path: tuple[str, ...],
                    min_steps: int = 1) -> TensorType:
    t = in_types.get("Input")
    if t is None or not t.dims or any(d is None for d in t.dims):
        raise fail(path, "the input should be a sequence (shape {\"Varying\", ...}), but its shape "
                         f"is {format_dims(None if t is None else t.dims)}.")
    steps = t.dims[0]
    if isinstance(steps, int) and steps < min_steps:
        raise fail(path, f"the input sequence needs at least {min_steps} elements, "
                         f"but has {steps}.")
    return t


class SequenceLast(WolframLayer):
    """The last valid element of each sequence."""

    kind = "SequenceLastLayer"

    def __init__(self, length_var: int | None) -> None:
        super().__init__()
        self.length_var = length_var

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        lens = None if self.length_var is None else (lengths or {}).get(self.length_var)
        return {"Output": last_valid(inputs["Input"], lens)}


class SequenceDrop(WolframLayer):
    """Drops the last (SequenceMost) or the first (SequenceRest) element of each sequence."""

    def __init__(self, kind: str, source: int | None, target: int | None) -> None:
        super().__init__()
        self.kind, self.source, self.target = kind, source, target

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x = inputs["Input"]
        if self.source is not None and lengths is not None and self.source in lengths:
            lens = lengths[self.source]
            short = torch.nonzero(lens < 2)
            if len(short):
                i = int(short[0, 0])
                raise EngineError("netseqlen", f"{where(self.path)}: {self.kind} needs sequences of "
                                               f"length at least 2, but batch element {i + 1} has "
                                               f"length {int(lens[i])}.")
            lengths[self.target] = lens - 1
        return {"Output": x[:, :-1] if self.kind == "SequenceMostLayer" else x[:, 1:]}


@register("SequenceLastLayer")
def build_last(spec: LayerSpec, in_types: dict[str, TensorType | None],
               path: tuple[str, ...]) -> tuple[nn.Module, dict[str, TensorType]]:
    """``SequenceLastLayer[]``: sequence {n, ...} -> its last valid element {...}."""
    check_args(spec, set(), path)
    t = _sequence_input(in_types, path)
    steps = t.dims[0]
    m = SequenceLast(steps.id if isinstance(steps, LengthVar) else None)
    m.path, m.input_types = path, {"Input": t}
    m.output_types = {"Output": TensorType(tuple(t.dims[1:]), t.index_range)}
    return m, m.output_types


def _build_drop(kind: str, spec: LayerSpec, in_types: dict[str, TensorType | None],
                path: tuple[str, ...]) -> tuple[nn.Module, dict[str, TensorType]]:
    check_args(spec, set(), path)
    t = _sequence_input(in_types, path, min_steps=2)
    steps = t.dims[0]
    if isinstance(steps, LengthVar):
        out_steps: Any = derived_length_var(steps, -1)
        m = SequenceDrop(kind, steps.id, out_steps.id)
    else:
        out_steps = steps - 1
        m = SequenceDrop(kind, None, None)
    m.path, m.input_types = path, {"Input": t}
    m.output_types = {"Output": TensorType((out_steps, *t.dims[1:]), t.index_range)}
    return m, m.output_types


@register("SequenceMostLayer")
def build_most(spec: LayerSpec, in_types: dict[str, TensorType | None],
               path: tuple[str, ...]) -> tuple[nn.Module, dict[str, TensorType]]:
    """``SequenceMostLayer[]``: drop the last element (sequences of length ≥ 2)."""
    return _build_drop("SequenceMostLayer", spec, in_types, path)


@register("SequenceRestLayer")
def build_rest(spec: LayerSpec, in_types: dict[str, TensorType | None],
               path: tuple[str, ...]) -> tuple[nn.Module, dict[str, TensorType]]:
    """``SequenceRestLayer[]``: drop the first element (sequences of length ≥ 2)."""
    return _build_drop("SequenceRestLayer", spec, in_types, path)


class NetMap(WolframLayer):
    """Applies ``net`` (one input, one output) to every step, weights shared across steps.

    Steps are folded into the batch, so padded steps are computed too; their results sit past
    each example's length and are masked by whatever consumes the sequence.
    """

    kind = "NetMapOperator"

    def __init__(self, net: nn.Module, in_port: str, out_port: str) -> None:
        super().__init__()
        self.net, self.in_port, self.out_port = net, in_port, out_port

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x = inputs["Input"]
        batch, steps = x.shape[:2]
        y = self.net({self.in_port: x.reshape(batch * steps, *x.shape[2:])}, {})[self.out_port]
        return {"Output": y.reshape(batch, steps, *y.shape[1:])}


def _build_inner(inner: LayerSpec | NetSpec, elem: TensorType,
                 path: tuple[str, ...]) -> tuple[nn.Module, str, str, TensorType]:
    """Build the mapped net for one element of type ``elem``; returns (module, in, out, out type)."""
    if isinstance(inner, LayerSpec):
        kind = lookup(inner.kind)
        if kind is None:
            raise fail(path, f"the layer {inner.kind} inside NetMapOperator is not supported.")
        if kind.inputs is None or len(kind.inputs) != 1 or len(kind.outputs) != 1:
            raise fail(path, f"NetMapOperator needs a net with one input and one output; "
                             f"{inner.kind} has ports {kind.inputs or 'multiport'} -> {kind.outputs}.")
        module, outs = kind.build(inner, {kind.inputs[0]: elem}, (*path, "Net"))
        if hasattr(module, "load_spec_arrays"):
            module.load_spec_arrays(inner)  # arrays written back after training
        return module, kind.inputs[0], kind.outputs[0], outs[kind.outputs[0]]
    if isinstance(inner, NetSpec):
        from engine import graph  # the container builder; imported late (it imports the layers)

        if len(inner.inputs) > 1 or len(inner.outputs) != 1:
            raise fail(path, "NetMapOperator needs a net with one input and one output.")
        in_port = next(iter(inner.inputs), "Input")
        module, outs = graph.build_net(inner, {in_port: elem}, path)
        out_port = next(iter(outs))
        return module, in_port, out_port, outs[out_port]
    raise fail(path, f"NetMapOperator needs a layer or a net, not {type(inner).__name__}.")


@register("NetMapOperator")
def build_netmap(spec: LayerSpec, in_types: dict[str, TensorType | None],
                 path: tuple[str, ...]) -> tuple[nn.Module, dict[str, TensorType]]:
    """``NetMapOperator[net]``: args "Net" = the inner `LayerSpec` or `NetSpec`."""
    check_args(spec, {"Net"}, path)
    if "Net" not in spec.args:
        raise fail(path, "NetMapOperator needs the net to map (args[\"Net\"]).")
    t = _sequence_input(in_types, path)
    elem = TensorType(tuple(t.dims[1:]), t.index_range)
    if elem.varying:
        raise fail(path, f"the mapped elements must have fixed dimensions, not {format_dims(elem.dims)}.")
    inner, in_port, out_port, out_elem = _build_inner(spec.args["Net"], elem, path)
    m = NetMap(inner, in_port, out_port)
    m.path, m.input_types = path, {"Input": t}
    m.output_types = {"Output": TensorType((t.dims[0], *(out_elem.dims or ())), out_elem.index_range)}
    return m, m.output_types
