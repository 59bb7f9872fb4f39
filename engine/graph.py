"""NetSpec -> torch module: NetChain and NetGraph with shape inference and Wolfram array paths.

Interfaces others rely on:

- ``build(spec: NetSpec, input_types=None, initialize=True) -> WolframModule``. Port types are
  inferred from the declared ports (``input_types`` overrides the net's declared inputs);
  inconsistencies raise ``EngineError("invnet", ...)`` naming the node, e.g.
  ``NetChain > "3" > ConvolutionLayer: ...``. Arrays not given in ``LayerSpec.arrays`` are
  initialised by `engine.init` (Wolfram's rules).
- ``WolframModule.forward(inputs: dict[str, Tensor], lengths: dict[int, Tensor] | None = None,
  pre_activation=frozenset()) -> dict[str, Tensor]``: tensors batch-first, keyed by the net's
  port names. For a port in ``pre_activation`` (see ``fusable``) the value is the input of
  the final layer producing it (the logits before SoftmaxLayer/LogisticSigmoid).
- ``input_types`` / ``output_types``: dict port -> `TensorType` (no batch dim).
- ``arrays() -> dict[tuple[str, ...], Tensor]``: the live arrays, keyed by path = node keys
  from the outermost container down to the layer, then the array name, e.g. ``("2",
  "Weights")``. Order: Wolfram's canonical order of the paths (element by element; strings in
  Wolfram's Sort order: character by character ignoring case, lowercase before uppercase on a
  tie, so "10" < "2" < "a" < "A" < "b"). Removed arrays (bias None) are left out.
  ``trainable_arrays()`` is the same without aux arrays (BatchNorm moving statistics);
  ``export_arrays()`` gives numpy copies in Wolfram layout and the working dtype.
- ``layer_paths() -> dict[tuple[str, ...], WolframLayer]``: every layer by node-key path, in
  node order (depth first). ``layer_specs`` maps the same paths to their `LayerSpec`.
- ``output_producer(port) -> (path, LayerSpec)``: the layer whose output is the net's ``port``
  (through nested containers); the loss rules of wl-nets.md §5 use it.
- ``lr_multipliers() -> dict[tuple[str, ...], float]``: the LearningRateMultipliers written on
  layers/containers in the spec, per array path (innermost wins), only where one was given.

Speed: a chain of single-port layers with fixed shapes runs as a flat list of ``apply``
functions (no dict per layer, no Module.__call__ hooks); graphs run a precomputed plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import EngineError
from engine.init import initialize_layer
from engine.layers import LayerKind, lookup, where
from engine.layers.base import format_dims
from engine.layers.sequence import NetMap
from engine.spec import LayerSpec, LengthVar, NetSpec, PortRef, TensorType

HEADS = {"chain": "NetChain", "graph": "NetGraph"}


def _err(path: tuple[str, ...], text: str) -> EngineError:
    return EngineError("invnet", f"{where(path)}: {text}" if path else text)


def wolfram_string_key(s: str) -> tuple[str, str]:
    """Sort key giving Wolfram's canonical string order (case-insensitive, lowercase first)."""
    return (s.casefold(), s.swapcase())


def path_key(path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(wolfram_string_key(p) for p in path)


# ---------------------------------------------------------------------------------------------
# Wiring: which source feeds each node input and each net output.


@dataclass
class Wiring:
    """The resolved connections of one container."""

    node_inputs: dict[str, tuple[str, ...]]
    node_outputs: dict[str, tuple[str, ...]]
    feeds: dict[tuple[str, str], PortRef]  # (node, input port) -> source
    outputs: dict[str, PortRef]  # net output -> source
    inputs: list[str]  # net input names, in order
    order: list[str]  # nodes in topological order
    consumers: dict[PortRef, int] = field(default_factory=dict)


def _kind(spec: LayerSpec, path: tuple[str, ...]) -> LayerKind:
    k = lookup(spec.kind)
    if k is None:
        raise _err(path, f"the layer {spec.kind} is not supported by the engine.")
    return k


def _node_path(path: tuple[str, ...], key: str, node: LayerSpec | NetSpec) -> tuple[str, ...]:
    head = HEADS.get(node.kind, node.kind) if isinstance(node, NetSpec) else node.kind
    return (*path, f'"{key}"', head)


def _ports(node: LayerSpec | NetSpec, key: str, multi: list[str],
           path: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(inputs, outputs, optional inputs, optional outputs) of a node."""
    if isinstance(node, NetSpec):
        w = wire(node, path)
        return tuple(w.inputs), tuple(w.outputs), (), ()
    k = _kind(node, path)
    if k.inputs is None:
        own = k.ports(node) if k.ports is not None else ()  # ports named by the layer (FunctionLayer)
        rest = (set(multi) | set(node.inputs)) - set(own)
        names = [*own, *sorted(rest, key=lambda p: int(p) if p.isdigit() else 1 << 30)]
        ins: tuple[str, ...] = tuple(names)
    else:
        ins = k.inputs
    return ins, k.outputs, k.optional_inputs, k.optional_outputs


def wire(spec: NetSpec, path: tuple[str, ...]) -> Wiring:
    """Resolve the edges of a NetChain or NetGraph (chains get their implicit edges)."""
    if not spec.nodes:
        raise _err(path, f"the {HEADS.get(spec.kind, spec.kind)} has no layers.")
    keys = list(spec.nodes)
    edges = list(spec.edges)
    multi: dict[str, list[str]] = {k: [] for k in keys}
    for _src, dst in edges:
        if dst is not None and dst[0] is not None and dst[0] in multi:
            multi[dst[0]].append(dst[1])
    ports: dict[str, tuple] = {}
    for k in keys:
        ports[k] = _ports(spec.nodes[k], k, multi[k], _node_path(path, k, spec.nodes[k]))
    if spec.kind == "chain" and not edges:
        edges = _chain_edges(spec, keys, ports, path)
    feeds: dict[tuple[str, str], PortRef] = {}
    outputs: dict[str, PortRef] = {}
    inputs: list[str] = list(spec.inputs)
    used: set[PortRef] = set()
    consumers: dict[PortRef, int] = {}
    for src, dst in edges:
        if src[0] is None:
            if src[1] not in inputs:
                inputs.append(src[1])
        else:
            _check_port(spec, ports, src, 1, "output", path)
        used.add(src)
        consumers[src] = consumers.get(src, 0) + 1
        if dst is None or dst[1] is None:  # muted output
            continue
        if dst[0] is None:
            if dst[1] in outputs:
                raise _err(path, f"the output port {dst[1]!r} is connected twice.")
            outputs[dst[1]] = src
            continue
        _check_port(spec, ports, dst, 0, "input", path)
        if (dst[0], dst[1]) in feeds:
            raise _err(_node_path(path, dst[0], spec.nodes[dst[0]]),
                       f"the input port {dst[1]!r} is connected more than once.")
        feeds[(dst[0], dst[1])] = src
    # unconnected inputs become net inputs, unconnected outputs net outputs (wl-nets.md §1.2)
    for k in keys:
        ins, outs, _opt_in, opt_out = ports[k]
        for p in ins:
            if (k, p) not in feeds:
                feeds[(k, p)] = (None, p)
                if p not in inputs:
                    inputs.append(p)
    loose: list[tuple[str, str]] = []
    for k in keys:
        _ins, outs, _opt_in, opt_out = ports[k]
        loose += [(k, p) for p in outs if (k, p) not in used and p not in opt_out]
    names = [p for _k, p in loose]
    counter: dict[str, int] = {}
    for k, p in loose:
        if names.count(p) == 1 and p not in outputs:
            name = p
        else:
            counter[p] = counter.get(p, 0) + 1
            name = f"{p}{counter[p]}"
        outputs[name] = (k, p)
        consumers[(k, p)] = consumers.get((k, p), 0) + 1
    order = _toposort(spec, keys, feeds, path)
    return Wiring({k: ports[k][0] for k in keys}, {k: ports[k][1] + ports[k][3] for k in keys},
                  feeds, outputs, inputs, order, consumers)


def _chain_edges(spec: NetSpec, keys: list[str], ports: dict[str, tuple],
                 path: tuple[str, ...]) -> list[tuple[PortRef, PortRef]]:
    edges: list[tuple[PortRef, PortRef]] = []
    for i, k in enumerate(keys):
        ins, outs = ports[k][0], ports[k][1]
        npath = _node_path(path, k, spec.nodes[k])
        if i > 0 and len(ins) != 1:
            raise _err(npath, f"a layer inside a NetChain must have exactly one input, "
                              f"but this one has {len(ins)} ({', '.join(ins)}).")
        if i < len(keys) - 1 and len(outs) != 1:
            raise _err(npath, f"a layer inside a NetChain must have exactly one output, "
                              f"but this one has {len(outs)}.")
        if i == 0:
            for p in ins:
                edges.append(((None, p), (k, p)))
        else:
            prev = keys[i - 1]
            edges.append(((prev, ports[prev][1][0]), (k, ins[0])))
    last = keys[-1]
    for p in ports[last][1]:
        edges.append(((last, p), (None, p)))
    for name in spec.inputs:
        if name not in ports[keys[0]][0]:
            raise EngineError("netinvcport", f"{where(path)}: {name!r} is not an input port of "
                                             f"the chain's first layer; its ports are "
                                             f"{', '.join(ports[keys[0]][0])}.", "NetChain")
    for name in spec.outputs:
        if name not in ports[last][1]:
            raise EngineError("netinvcport", f"{where(path)}: {name!r} is not an output port of "
                                             f"the chain's last layer; its ports are "
                                             f"{', '.join(ports[last][1])}.", "NetChain")
    return edges


def _check_port(spec: NetSpec, ports: dict[str, tuple], ref: PortRef, side: int, what: str,
                path: tuple[str, ...]) -> None:
    node, port = ref
    if node not in spec.nodes:
        raise _err(path, f"the edge refers to a node {node!r} that does not exist; the nodes are "
                         f"{', '.join(repr(k) for k in spec.nodes)}.")
    names = ports[node][side] + ports[node][2 + side]
    kind = lookup(spec.nodes[node].kind) if isinstance(spec.nodes[node], LayerSpec) else None
    if side == 0 and kind is not None and kind.inputs is None:
        return
    if port not in names:
        raise _err(_node_path(path, node, spec.nodes[node]),
                   f"there is no {what} port {port!r}; the {what} ports are "
                   f"{', '.join(repr(n) for n in names)}.")


def _toposort(spec: NetSpec, keys: list[str], feeds: dict[tuple[str, str], PortRef],
              path: tuple[str, ...]) -> list[str]:
    deps = {k: {src[0] for (n, _p), src in feeds.items() if n == k and src[0] is not None}
            for k in keys}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(keys):
        ready = [k for k in keys if k not in done and deps[k] <= done]
        if not ready:
            cyc = [k for k in keys if k not in done]
            raise _err(path, f"the graph has a cycle through the nodes {', '.join(repr(k) for k in cyc)}.")
        for k in ready:
            order.append(k)
            done.add(k)
    return order


# ---------------------------------------------------------------------------------------------
# Types


def _compatible(declared: TensorType, actual: TensorType) -> bool:
    if declared.dims is None or actual.dims is None:
        return True
    if len(declared.dims) != len(actual.dims):
        return False
    for a, b in zip(declared.dims, actual.dims, strict=True):
        if a is None or b is None:
            continue
        if isinstance(a, LengthVar) != isinstance(b, LengthVar):
            return False
        if not isinstance(a, LengthVar) and a != b:
            return False
    return True


def _merge(declared: TensorType | None, actual: TensorType | None) -> TensorType | None:
    """The more specific of two compatible types."""
    if declared is None:
        return actual
    if actual is None or actual.dims is None:
        return declared if actual is None else TensorType(declared.dims, actual.index_range or declared.index_range)
    if declared.dims is None:
        return TensorType(actual.dims, actual.index_range or declared.index_range)
    dims = tuple(b if a is None else a for a, b in zip(declared.dims, actual.dims, strict=True))
    return TensorType(dims, declared.index_range or actual.index_range)


def _known(t: TensorType | None) -> bool:
    return t is not None and t.dims is not None and all(d is not None for d in t.dims)


# ---------------------------------------------------------------------------------------------
# The module


class WolframModule(nn.Module):
    """A built NetChain/NetGraph: runs on dicts of batch-first tensors keyed by port name."""

    def __init__(self, spec: NetSpec, path: tuple[str, ...]):
        super().__init__()
        self.spec = spec
        self.path = path
        self.keys: list[str] = []
        self.nodes = nn.ModuleList()
        self.input_types: dict[str, TensorType] = {}
        self.output_types: dict[str, TensorType] = {}
        self.wiring: Wiring | None = None
        self._fast: list[Any] | None = None
        self._plan: list[tuple[int, str, list[tuple[str, PortRef]]]] = []
        self._in_name = self._out_name = ""

    # -- running --------------------------------------------------------------------------

    def forward(self, inputs: dict[str, torch.Tensor], lengths: dict[int, torch.Tensor] | None = None,
                pre_activation: frozenset[str] = frozenset()) -> dict[str, torch.Tensor]:
        if self._fast is not None:
            x = inputs[self._in_name]
            fns = self._fast[:-1] if pre_activation else self._fast
            for f in fns:
                x = f(x)
            return {self._out_name: x}
        lengths = lengths or {}
        env: dict[PortRef, torch.Tensor] = {(None, k): v for k, v in inputs.items()}
        skip = self._skipped(pre_activation)
        w = self.wiring
        assert w is not None
        for idx, key, feeds in self._plan:
            if key in skip:
                continue
            node = self.nodes[idx]
            ins = {p: env[src] for p, src in feeds}
            if not feeds and inputs:  # a layer without inputs (NetArrayLayer) sizes its output by the batch
                ins = {"$Batch": next(iter(inputs.values()))}
            if isinstance(node, WolframModule):
                pre = frozenset(p for o, (k, p) in w.outputs.items() if k == key and o in pre_activation)
                outs = node(ins, lengths, pre)
            else:
                outs = node(ins, lengths)
            for p, v in outs.items():
                env[(key, p)] = v
        result = {}
        for name, src in w.outputs.items():
            if name in pre_activation and src[0] in skip:
                result[name] = env[w.feeds[(src[0], "Input")]]
            else:
                result[name] = env[src]
        return result

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Single-tensor call for a fast-path chain nested inside another chain."""
        for f in self._fast:  # type: ignore[union-attr]
            x = f(x)
        return x

    def _skipped(self, pre_activation: frozenset[str]) -> set[str]:
        if not pre_activation:
            return set()
        w = self.wiring
        return {w.outputs[o][0] for o in pre_activation
                if w.outputs[o][0] is not None
                and not isinstance(self.node(w.outputs[o][0]), WolframModule)}

    def node(self, key: str) -> nn.Module:
        return self.nodes[self.keys.index(key)]

    # -- introspection --------------------------------------------------------------------

    def output_producer(self, port: str) -> tuple[tuple[str, ...], LayerSpec] | None:
        """The (path, spec) of the layer producing the net output ``port``, None for a passthrough."""
        src = self.wiring.outputs[port]  # type: ignore[union-attr]
        if src[0] is None:
            return None
        node = self.node(src[0])
        if isinstance(node, WolframModule):
            inner = node.output_producer(src[1])
            return None if inner is None else ((src[0], *inner[0]), inner[1])
        return (src[0],), self.spec.nodes[src[0]]  # type: ignore[return-value]

    def fusable(self, port: str) -> bool:
        """True when the producer of ``port`` feeds nothing but that port (so its input can be
        returned instead, see ``forward(pre_activation=...)``) and takes a single "Input"."""
        w = self.wiring
        src = w.outputs[port]  # type: ignore[union-attr]
        if src[0] is None or w.consumers.get(src, 0) != 1:  # type: ignore[union-attr]
            return False
        if any(s == src for (_n, _p), s in w.feeds.items()):  # type: ignore[union-attr]
            return False
        node = self.node(src[0])
        if isinstance(node, WolframModule):
            return node.fusable(src[1])
        return w.node_inputs[src[0]] == ("Input",) and len(w.node_outputs[src[0]]) == 1  # type: ignore[union-attr]

    def layer_paths(self) -> dict[tuple[str, ...], nn.Module]:
        out: dict[tuple[str, ...], nn.Module] = {}
        for key, node in zip(self.keys, self.nodes, strict=True):
            if isinstance(node, WolframModule):
                for p, m in node.layer_paths().items():
                    out[(key, *p)] = m
            elif hasattr(node, "inner_nets"):  # nets inside a layer (AttentionLayer's "ScoringNet", operators)
                for name, inner in node.inner_nets().items():
                    if isinstance(inner, WolframModule):
                        for p, m in inner.layer_paths().items():
                            out[(key, name, *p)] = m
                    else:
                        out[(key, name)] = inner
            elif isinstance(node, NetMap):
                # The mapped net's layers, under NetExtract's path {key, "Net", ...}.
                inner = node.net
                if isinstance(inner, WolframModule):
                    for p, m in inner.layer_paths().items():
                        out[(key, "Net", *p)] = m
                else:
                    out[(key, "Net")] = inner
            else:
                out[(key,)] = node
        return out

    @property
    def layer_specs(self) -> dict[tuple[str, ...], LayerSpec]:
        out: dict[tuple[str, ...], LayerSpec] = {}
        for key, node in zip(self.keys, self.nodes, strict=True):
            spec = self.spec.nodes[key]
            if isinstance(node, WolframModule):
                for p, s in node.layer_specs.items():
                    out[(key, *p)] = s
            elif hasattr(node, "inner_nets"):
                for name, inner in node.inner_nets().items():
                    if isinstance(inner, WolframModule):
                        for p, s in inner.layer_specs.items():
                            out[(key, name, *p)] = s
                    else:
                        out[(key, name)] = node.inner_specs[name]
            elif isinstance(node, NetMap):
                inner = spec.args["Net"]  # type: ignore[union-attr]
                if isinstance(node.net, WolframModule):
                    for p, s in node.net.layer_specs.items():
                        out[(key, "Net", *p)] = s
                else:
                    out[(key, "Net")] = inner
            else:
                out[(key,)] = spec  # type: ignore[assignment]
        return out

    def _all_arrays(self, trainable: bool) -> dict[tuple[str, ...], torch.Tensor]:
        found = []
        for p, layer in self.layer_paths().items():
            if not hasattr(layer, "wolfram_arrays"):
                continue
            aux = getattr(layer, "aux_arrays", frozenset())
            for name, t in layer.wolfram_arrays().items():
                if t is not None and not (trainable and name in aux):
                    found.append(((*p, name), t))
        found.sort(key=lambda item: path_key(item[0]))
        return dict(found)

    def arrays(self) -> dict[tuple[str, ...], torch.Tensor]:
        return self._all_arrays(False)

    def trainable_arrays(self) -> dict[tuple[str, ...], torch.Tensor]:
        return self._all_arrays(True)

    def export_arrays(self) -> dict[tuple[str, ...], np.ndarray]:
        out: dict[tuple[str, ...], np.ndarray] = {}
        for p, layer in self.layer_paths().items():
            if hasattr(layer, "get_arrays"):
                for name, a in layer.get_arrays().items():
                    out[(*p, name)] = a
        return dict(sorted(out.items(), key=lambda item: path_key(item[0])))

    def lr_multipliers(self) -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        for arr in self.arrays():
            m = _effective_multiplier(self.spec, arr[:-1])
            if m is not None:
                out[arr] = m
        return out


def _effective_multiplier(spec: NetSpec, layer_path: tuple[str, ...]) -> float | None:
    value = spec.lr_multiplier
    node: LayerSpec | NetSpec = spec
    for key in layer_path:
        if isinstance(node, LayerSpec):  # a net inside a layer: NetMapOperator's "Net", ...
            inner = node.args.get(key, node.args.get("Net"))
            if isinstance(inner, (LayerSpec, NetSpec)):
                node = inner
                continue
            return value
        node = node.nodes[key]  # type: ignore[union-attr]
        if node.lr_multiplier is not None:
            value = node.lr_multiplier
    return value


# ---------------------------------------------------------------------------------------------
# Building


def build(spec: NetSpec, input_types: dict[str, TensorType] | None = None,
          initialize: bool = True) -> WolframModule:
    """Build, type-check and (unless ``initialize=False``) Wolfram-initialise a net."""
    if not isinstance(spec, NetSpec):
        raise EngineError("invnet", f"expected a NetChain or NetGraph spec, not {type(spec).__name__}.")
    model = _build(spec, dict(input_types or {}), (HEADS.get(spec.kind, spec.kind),))
    for p, layer in model.layer_paths().items():
        if _effective_multiplier(spec, p) == 0 and hasattr(layer, "frozen"):
            layer.frozen = True
    if initialize:
        _initialize(model)
    return model


def _build(spec: NetSpec, input_types: dict[str, TensorType], path: tuple[str, ...]) -> WolframModule:
    w = wire(spec, path)
    m = WolframModule(spec, path)
    m.wiring = w
    types: dict[PortRef, TensorType | None] = {}
    for name in w.inputs:
        declared = spec.inputs.get(name)
        given = input_types.get(name)
        if given is not None and declared is not None and not _compatible(declared, given):
            raise _err(path, f"the input {name!r} is declared as {format_dims(declared.dims)} "
                             f"but data of shape {format_dims(given.dims)} was given.")
        types[(None, name)] = _merge(given, declared) if given is not None else declared
    hints = {src: spec.outputs[o] for o, src in w.outputs.items() if o in spec.outputs}
    for key in w.order:
        node = spec.nodes[key]
        npath = _node_path(path, key, node)
        in_ports = w.node_inputs[key]
        in_types: dict[str, TensorType | None] = {}
        for p in in_ports:
            src = w.feeds[(key, p)]
            t = types.get(src)
            declared = node.inputs.get(p)
            if declared is not None:
                if t is not None and not _compatible(declared, t):
                    raise _err(npath, f"the input port {p!r} expects shape "
                                      f"{format_dims(declared.dims)} but is fed shape "
                                      f"{format_dims(t.dims)}.")
                t = _merge(declared, t)
            if src[0] is None and t is not None and types.get(src) is None:
                types[src] = t
            in_types[p] = t
        if isinstance(node, NetSpec):
            module = _build(node, {p: t for p, t in in_types.items() if t is not None}, npath)
            out_types = module.output_types
            refined = module.input_types
        else:
            node_hints = {p: h for (k, p), h in hints.items() if k == key}
            lspec = replace(node, outputs={**node_hints, **node.outputs}) if node_hints else node
            kind = _kind(node, npath)
            module, out_types = kind.build(lspec, in_types, npath)
            if hasattr(module, "path"):
                module.path = npath
                if not getattr(module, "input_types", None):
                    module.input_types = {p: t for p, t in in_types.items() if t is not None}
                else:
                    module.input_types = {**{p: t for p, t in in_types.items() if t is not None},
                                          **module.input_types}
                module.output_types = dict(out_types)
                if hasattr(module, "load_spec_arrays"):
                    module.load_spec_arrays(node)
            refined = getattr(module, "input_types", {}) or {}
        for p in in_ports:
            src = w.feeds[(key, p)]
            if src[0] is None and p in refined:
                types[src] = _merge(types.get(src), refined[p]) if types.get(src) else refined[p]
        for p, t in out_types.items():
            declared = node.outputs.get(p)
            if declared is not None and not _compatible(declared, t):
                raise _err(npath, f"the output port {p!r} is declared as "
                                  f"{format_dims(declared.dims)} but the layer produces "
                                  f"{format_dims(t.dims)}.")
            types[(key, p)] = _merge(declared, t) if declared is not None else t
        m.keys.append(key)
        m.nodes.append(module)
    # keep node order as the user gave it for paths, but run in topological order
    order_index = {k: i for i, k in enumerate(m.keys)}
    for name in w.inputs:
        t = types.get((None, name))
        if not _known(t):
            raise _err(path, f"the shape of the input port {name!r} could not be inferred; "
                             f"declare it, e.g. \"{name}\" -> n.")
        m.input_types[name] = t  # type: ignore[assignment]
    for name, src in w.outputs.items():
        t = types.get(src)
        declared = spec.outputs.get(name)
        if declared is not None and t is not None and not _compatible(declared, t):
            raise _err(path, f"the output port {name!r} is declared as {format_dims(declared.dims)} "
                             f"but the net produces {format_dims(t.dims)}.")
        m.output_types[name] = _merge(declared, t) if declared is not None else t  # type: ignore[assignment]
    # reorder modules to the spec's node order for stable paths
    perm = [order_index[k] for k in spec.nodes]
    m.nodes = nn.ModuleList([m.nodes[i] for i in perm])
    m.keys = list(spec.nodes)
    idx = {k: i for i, k in enumerate(m.keys)}
    m._plan = [(idx[k], k, [(p, w.feeds[(k, p)]) for p in w.node_inputs[k]]) for k in w.order]
    _setup_fast_path(m)
    return m


def _setup_fast_path(m: WolframModule) -> None:
    """A chain of single-port layers on fixed shapes becomes a flat list of functions."""
    w = m.wiring
    assert w is not None
    if m.spec.kind != "chain" or len(w.inputs) != 1 or len(w.outputs) != 1:
        return
    if any(t.varying for t in (*m.input_types.values(), *m.output_types.values())):
        return
    fns = []
    for key, node in zip(m.keys, m.nodes, strict=True):
        if w.node_inputs[key] != ("Input",) or len(w.node_outputs[key]) != 1:
            return
        if isinstance(node, WolframModule):
            if node._fast is None:
                return
            fns.extend(node._fast)
            continue
        # nn.Module.apply(fn) is not a layer's apply(x): only layers defining their own qualify
        if getattr(type(node), "apply", nn.Module.apply) is nn.Module.apply or any(
                t.varying for t in node.output_types.values()):
            return
        fns.append(node.apply)
    m._in_name = w.inputs[0]
    m._out_name = next(iter(w.outputs))
    m._fast = fns


def _next_functions(model: WolframModule) -> dict[tuple[str, ...], str | None]:
    """For each layer path, the ElementwiseLayer function it alone feeds (None if any other)."""
    out: dict[tuple[str, ...], str | None] = {}

    def entry_layer(mod: WolframModule, port: str) -> tuple[WolframModule, str] | None:
        consumers = [k for (k, _p), s in mod.wiring.feeds.items() if s == (None, port)]
        if len(consumers) != 1:
            return None
        node = mod.node(consumers[0])
        if isinstance(node, WolframModule):
            sub = [p for (k, p), s in mod.wiring.feeds.items() if s == (None, port)]
            return entry_layer(node, sub[0])
        return mod, consumers[0]

    def walk(mod: WolframModule, prefix: tuple[str, ...]) -> None:
        w = mod.wiring
        for key, node in zip(mod.keys, mod.nodes, strict=True):
            if isinstance(node, WolframModule):
                walk(node, (*prefix, key))
                continue
            targets = [(k, p) for (k, p), s in w.feeds.items() if s[0] == key]
            fn = None
            if len(targets) == 1:
                tnode = mod.node(targets[0][0])
                found = (mod, targets[0][0])
                if isinstance(tnode, WolframModule):
                    found = entry_layer(tnode, targets[0][1])
                if found is not None:
                    spec = found[0].spec.nodes[found[1]]
                    if isinstance(spec, LayerSpec) and spec.kind == "ElementwiseLayer":
                        f = spec.args.get("Function")
                        fn = f if isinstance(f, str) else None
            out[(*prefix, key)] = fn

    walk(model, ())
    return out


def _initialize(model: WolframModule) -> None:
    nexts = _next_functions(model)
    for p, layer in model.layer_paths().items():
        custom = getattr(layer, "wolfram_initialize", None)
        if custom is not None:
            custom(nexts.get(p))
        else:
            initialize_layer(layer, nexts.get(p))
