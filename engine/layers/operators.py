"""Net operators that run an inner net: NetBidirectionalOperator, NetFoldOperator,
NetNestOperator, NetMapThreadOperator and NetPairEmbeddingOperator, as their pages define them.

args (the inner nets are `LayerSpec` or `NetSpec`):

* NetBidirectionalOperator "Net": (forward, backward); "Aggregation": "Catenate" (default; per
  element, along the last level) | "Total" | "Mean". The backward net sees each sequence
  reversed (its own valid steps) and its output, when a sequence, is reversed back. Inner nets
  at ("ForwardNet", ...) and ("BackwardNet", ...).
* NetFoldOperator: see engine.layers.fold.
* NetNestOperator "Net", "Times" n: the net applied n times (same weights each time).
* NetMapThreadOperator "Net": the net mapped over the steps of all its inputs at once.
* NetPairEmbeddingOperator "Net", "DistanceFunction": "EuclideanDistance" (default) |
  "CosineDistance": "Input" is a pair of arrays {2, ...}; the scalar "Output" is the distance
  between their two embeddings.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from engine.layers import lookup, register
from engine.layers.arrange import SequenceReverseLayer
from engine.layers.base import WolframLayer, check_args, fail, format_dims
from engine.spec import LayerSpec, LengthVar, NetSpec, TensorType


class Inner(nn.Module):
    """One inner net (a layer or a container) behind one call: dict of tensors in and out."""

    def __init__(self, spec: LayerSpec | NetSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
        super().__init__()
        if isinstance(spec, NetSpec):
            from engine import graph  # the container builder imports the layers: import late

            self.net, outs = graph.build_net(spec, in_types, path)
            self.outputs = dict(outs)
        else:
            kind = lookup(spec.kind)
            if kind is None:
                raise fail(path, f"the layer {spec.kind} is not supported by the engine.")
            self.net, outs = kind.build(spec, in_types, path)
            self.outputs = {k: v for k, v in outs.items() if k not in kind.optional_outputs}
            self.net.path = path
            if hasattr(self.net, "load_spec_arrays"):
                self.net.load_spec_arrays(spec)
        self.spec = spec

    def forward(self, inputs: dict[str, torch.Tensor], lengths: dict[int, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.net(inputs, lengths)


def inner_ports(spec: LayerSpec | NetSpec, path: tuple[str, ...]) -> tuple[str, ...]:
    """The input port names of an inner net."""
    if isinstance(spec, NetSpec):
        from engine import graph

        return tuple(graph.wire(spec, path).inputs)
    kind = lookup(spec.kind)
    if kind is None:
        raise fail(path, f"the layer {spec.kind} is not supported by the engine.")
    if kind.ports is not None:
        return kind.ports(spec)
    return kind.inputs if kind.inputs is not None else tuple(spec.inputs)


class Operator(WolframLayer):
    """Base: inner nets by parameter name, for array paths and initialisation."""

    def __init__(self, nets: dict[str, Inner]):
        super().__init__()
        self.nets = nn.ModuleDict(nets)
        self.inner_specs = {k: v.spec for k, v in nets.items()}

    def inner_nets(self) -> dict[str, nn.Module]:
        return {k: v.net for k, v in self.nets.items()}


def _one_output(net: Inner, path: tuple[str, ...]) -> str:
    if len(net.outputs) != 1:
        raise fail(path, f"the inner net should have one output, not {len(net.outputs)}.")
    return next(iter(net.outputs))


# ---------------------------------------------------------------------------------------------


class Bidirectional(Operator):
    kind = "NetBidirectionalOperator"

    def __init__(self, nets: dict[str, Inner], aggregation: str, var: int | None, out_seq: bool):
        super().__init__(nets)
        self.aggregation, self.out_seq = aggregation, out_seq
        self.reverse = SequenceReverseLayer(var)
        self.port = {k: _one_output(v, ()) for k, v in nets.items()}

    def forward(self, inputs, lengths=None):
        lengths = lengths if lengths is not None else {}
        x = inputs["Input"]
        f = self.nets["ForwardNet"]({"Input": x}, lengths)[self.port["ForwardNet"]]
        rx = self.reverse({"Input": x}, lengths)["Output"]
        b = self.nets["BackwardNet"]({"Input": rx}, lengths)[self.port["BackwardNet"]]
        if self.out_seq:
            b = self.reverse({"Input": b}, lengths)["Output"]
        if self.aggregation == "Catenate":
            return {"Output": torch.cat([f, b], -1)}
        return {"Output": f + b if self.aggregation == "Total" else (f + b) / 2}


@register("NetBidirectionalOperator")
def build_bidirectional(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Net", "Aggregation"}, path)
    t = in_types.get("Input")
    if t is None or not t.dims or any(d is None for d in t.dims):
        raise fail(path, "the input should be a sequence (shape {\"Varying\", ...} or {n, ...}).")
    fwd, bwd = args["Net"]
    nets = {name: Inner(s, {"Input": t}, (*path, f'"{name}"')) for name, s in (("ForwardNet", fwd), ("BackwardNet", bwd))}
    outs = [next(iter(n.outputs.values())) for n in nets.values()]
    if outs[0].dims != outs[1].dims:
        raise fail(path, f"the forward and backward nets give different shapes, {format_dims(outs[0].dims)} "
                         f"and {format_dims(outs[1].dims)}.")
    agg = args.get("Aggregation", "Catenate")
    dims = tuple(outs[0].dims)
    out_seq = bool(dims) and dims[0] == t.dims[0]
    if agg == "Catenate":
        if not dims:
            raise fail(path, "Catenate needs the inner nets to give arrays, not scalars.")
        dims = (*dims[:-1], 2 * dims[-1])
    steps = t.dims[0]
    m = Bidirectional(nets, agg, steps.id if isinstance(steps, LengthVar) else None, out_seq)
    m.input_types = {"Input": t}
    return m, {"Output": TensorType(dims)}


# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------


class Nest(Operator):
    kind = "NetNestOperator"

    def __init__(self, nets: dict[str, Inner], times: int, ports: tuple[str, str]):
        super().__init__(nets)
        self.times, self.ports = times, ports

    def forward(self, inputs, lengths=None):
        x = inputs["Input"]
        for _ in range(self.times):
            x = self.nets["Net"]({self.ports[0]: x}, lengths or {})[self.ports[1]]
        return {"Output": x}


@register("NetNestOperator")
def build_nest(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Net", "Times"}, path)
    t = in_types.get("Input")
    if t is None or t.dims is None:
        raise fail(path, "the shape of port 'Input' could not be inferred; declare it.")
    inner = args["Net"]
    ins = inner_ports(inner, path)
    if len(ins) != 1:
        raise fail(path, "the nested net should take exactly one input.")
    net = Inner(inner, {ins[0]: t}, (*path, '"Net"'))
    out_port = _one_output(net, path)
    if tuple(net.outputs[out_port].dims) != tuple(t.dims):
        raise fail(path, f"the nested net's output {format_dims(net.outputs[out_port].dims)} should have the "
                         f"input's dimensions {format_dims(t.dims)}.")
    m = Nest({"Net": net}, int(args["Times"]), (ins[0], out_port))
    m.input_types = {"Input": t}
    return m, {"Output": t}


# ---------------------------------------------------------------------------------------------


class MapThread(Operator):
    kind = "NetMapThreadOperator"

    def __init__(self, nets: dict[str, Inner], ports: tuple[str, ...]):
        super().__init__(nets)
        self.ports = ports

    def forward(self, inputs, lengths=None):
        batch, steps = next(iter(inputs.values())).shape[:2]
        flat = {p: inputs[p].reshape(batch * steps, *inputs[p].shape[2:]) for p in self.ports}
        outs = self.nets["Net"](flat, {})
        return {k: v.reshape(batch, steps, *v.shape[1:]) for k, v in outs.items()}


def _map_thread_ports(spec: LayerSpec) -> tuple[str, ...]:
    return inner_ports(spec.args["Net"], ())


@register("NetMapThreadOperator", inputs=None, ports=_map_thread_ports)
def build_map_thread(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Net"}, path)
    inner = args["Net"]
    ports = inner_ports(inner, path)
    steps: Any = None
    elems = {}
    for p in ports:
        t = in_types.get(p)
        if t is None or not t.dims or any(d is None for d in t.dims):
            raise fail(path, f"the port {p!r} should be a sequence with a known shape.")
        if steps is not None and t.dims[0] != steps and not (isinstance(steps, LengthVar) and isinstance(t.dims[0], LengthVar)):
            raise fail(path, "all the mapped sequences should have the same length.")
        steps = t.dims[0]
        elems[p] = TensorType(tuple(t.dims[1:]), t.index_range)
    net = Inner(inner, elems, (*path, '"Net"'))
    m = MapThread({"Net": net}, ports)
    m.input_types = {p: in_types[p] for p in ports}
    if set(net.outputs) != {"Output"}:
        raise fail(path, "NetMapThreadOperator supports inner nets with one output called \"Output\".")
    out = net.outputs["Output"]
    return m, {"Output": TensorType((steps, *out.dims), out.index_range)}


# ---------------------------------------------------------------------------------------------

_DISTANCES = ("EuclideanDistance", "CosineDistance")


class PairEmbedding(Operator):
    kind = "NetPairEmbeddingOperator"

    def __init__(self, nets: dict[str, Inner], ports: tuple[str, str], distance: str):
        super().__init__(nets)
        self.ports, self.distance = ports, distance

    def forward(self, inputs, lengths=None):
        net, (i, o) = self.nets["Net"], self.ports
        x = inputs["Input"]  # the pair along level 1: {2, ...}
        batch = x.shape[0]
        both = net({i: x.reshape(2 * batch, *x.shape[2:])}, {})[o].reshape(batch, 2, -1)
        a, b = both[:, 0], both[:, 1]
        if self.distance == "CosineDistance":
            return {"Output": 1 - torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-12)}
        return {"Output": (a - b).square().sum(1).clamp_min(1e-24).sqrt()}


@register("NetPairEmbeddingOperator")
def build_pair_embedding(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Net", "DistanceFunction"}, path)
    t = in_types.get("Input")
    if t is None or t.dims is None or any(d is None for d in t.dims) or not t.dims or t.dims[0] != 2:
        raise fail(path, "the \"Input\" should be a pair of arrays (dimensions {2, ...}), not "
                         f"{format_dims(None if t is None else t.dims)}.")
    inner = args["Net"]
    ins = inner_ports(inner, path)
    if len(ins) != 1:
        raise fail(path, "the embedding net should take exactly one input.")
    net = Inner(inner, {ins[0]: TensorType(tuple(t.dims[1:]), t.index_range)}, (*path, '"Net"'))
    distance = args.get("DistanceFunction", "EuclideanDistance")
    if distance not in _DISTANCES:
        raise fail(path, f"the DistanceFunction {distance!r} is not supported; use {', '.join(_DISTANCES)}.")
    m = PairEmbedding({"Net": net}, (ins[0], _one_output(net, path)), distance)
    m.input_types = {"Input": t}
    return m, {"Output": TensorType(())}
