"""NetSpec -> torch module: NetChain and NetGraph with shape inference and Wolfram array paths.

Interfaces others rely on:

- ``build(spec: NetSpec, input_types=None, initialize=True, output_types=None) ->
  WolframModule``. Port types are inferred forwards and backwards (`engine.shapes`: declared
  ports, the layers' shape rules, and ``input_types``/``output_types``, what the data say of
  open ports); each layer is then built in topological order with those types as hints.
  Inconsistencies raise ``EngineError("invnet", ...)`` naming the node and the port, e.g.
  ``NetChain > "3" > ConvolutionLayer: ...``. Connections come from `engine.wiring`; arrays
  not given in ``LayerSpec.arrays`` are initialised by `engine.graph_init` (Wolfram's rules).
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

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import EngineError
from engine.graph_init import initialize_model
from engine.layers.sequence import NetMap
from engine.shapes import compatible, infer, known, show, unify
from engine.spec import LayerSpec, NetSpec, PortRef, TensorType
from engine.wiring import HEADS, Wiring, err, layer_kind, node_path, wire


def wolfram_string_key(s: str) -> tuple[str, str]:
    """Sort key giving Wolfram's canonical string order (case-insensitive, lowercase first)."""
    return (s.casefold(), s.swapcase())


def path_key(path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(wolfram_string_key(p) for p in path)


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
        if isinstance(node, LayerSpec):  # NetMapOperator: "Net" is the mapped net
            node = node.args["Net"]
            continue
        node = node.nodes[key]  # type: ignore[union-attr]
        if node.lr_multiplier is not None:
            value = node.lr_multiplier
    return value


# ---------------------------------------------------------------------------------------------
# Building


def build(spec: NetSpec, input_types: dict[str, TensorType] | None = None,
          initialize: bool = True,
          output_types: dict[str, TensorType] | None = None) -> WolframModule:
    """Build, type-check and (unless ``initialize=False``) Wolfram-initialise a net.

    ``input_types``/``output_types`` are what the data say of the net's ports (the first
    example, the target's shape); they join the declared ports in shape inference.
    """
    if not isinstance(spec, NetSpec):
        raise EngineError("invnet", f"expected a NetChain or NetGraph spec, not {type(spec).__name__}.")
    model = _build(spec, dict(input_types or {}), (HEADS.get(spec.kind, spec.kind),),
                   dict(output_types or {}))
    for p, layer in model.layer_paths().items():
        if _effective_multiplier(spec, p) == 0 and hasattr(layer, "frozen"):
            layer.frozen = True
    if initialize:
        initialize_model(model)
    return model


def build_net(spec: NetSpec, input_types: dict[str, TensorType],
              path: tuple[str, ...]) -> tuple[WolframModule, dict[str, TensorType]]:
    """A nested container built at ``path`` (NetMapOperator's mapped net), and its output types."""
    module = _build(spec, input_types, path, {})
    return module, module.output_types


def _build(spec: NetSpec, input_types: dict[str, TensorType], path: tuple[str, ...],
           output_types: dict[str, TensorType]) -> WolframModule:
    w = wire(spec, path)
    m = WolframModule(spec, path)
    m.wiring = w
    for name, given in input_types.items():
        declared = spec.inputs.get(name)
        if given is not None and declared is not None and not compatible(declared, given):
            raise err(path, f"the input port {name!r} is declared as {show(declared)} but the "
                            f"data give {show(given)}.")
    inferred = infer(spec, w, input_types, output_types, path)
    types: dict[PortRef, TensorType | None] = {(None, n): inferred.get((None, n)) for n in w.inputs}
    for key in w.order:
        module, out_types, refined = _build_node(spec, w, key, types, inferred, path)
        node = spec.nodes[key]
        npath = node_path(path, key, node)
        for p in w.node_inputs[key]:
            src = w.feeds[(key, p)]
            if src[0] is None and p in refined:
                types[src] = _unify_at(types.get(src), refined[p], npath, p, "input")
        for p, t in out_types.items():
            types[(key, p)] = _unify_at(inferred.get((key, p)), t, npath, p, "output")
        m.keys.append(key)
        m.nodes.append(module)
    order_index = {k: i for i, k in enumerate(m.keys)}
    for name in w.inputs:
        t = types.get((None, name))
        if not known(t):
            users = [node_path(path, k, spec.nodes[k]) for (k, _p), s in w.feeds.items()
                     if s == (None, name)]
            at = f" (it feeds {' > '.join(users[0])})" if users else ""
            raise err(path, f"the shape of the input port {name!r}{at} could not be inferred; "
                            f"declare it, e.g. \"{name}\" -> n, or train on data.")
        m.input_types[name] = t  # type: ignore[assignment]
    for name, src in w.outputs.items():
        m.output_types[name] = _unify_at(types.get(src), spec.outputs.get(name), path, name,
                                         "output")  # type: ignore[assignment]
    # keep node order as the user gave it for paths, but run in topological order
    perm = [order_index[k] for k in spec.nodes]
    m.nodes = nn.ModuleList([m.nodes[i] for i in perm])
    m.keys = list(spec.nodes)
    idx = {k: i for i, k in enumerate(m.keys)}
    m._plan = [(idx[k], k, [(p, w.feeds[(k, p)]) for p in w.node_inputs[k]]) for k in w.order]
    _setup_fast_path(m)
    return m


def _unify_at(a: TensorType | None, b: TensorType | None, path: tuple[str, ...], port: str,
              side: str) -> TensorType | None:
    """``unify`` with a message naming the layer and the port when the two disagree."""
    if a is None or b is None or compatible(a, b):
        return unify(a, b)
    raise err(path, f"the {side} port {port!r} is {show(b)} here, but the rest of the net "
                    f"makes it {show(a)}.")


def _build_node(spec: NetSpec, w: Wiring, key: str, types: dict[PortRef, TensorType | None],
                inferred: dict[PortRef, TensorType | None],
                path: tuple[str, ...]) -> tuple[nn.Module, dict[str, TensorType], dict[str, TensorType]]:
    """One node built from its input types, with the inferred types of its ports as hints;
    gives (module, output types, input types the node refined)."""
    node = spec.nodes[key]
    npath = node_path(path, key, node)
    in_types: dict[str, TensorType | None] = {}
    for p in w.node_inputs[key]:
        src = w.feeds[(key, p)]
        t = _unify_at(types.get(src), node.inputs.get(p), npath, p, "input")
        t = t if known(t) else (inferred.get(src) if known(inferred.get(src)) else t)
        if src[0] is None and t is not None and types.get(src) is None:
            types[src] = t
        in_types[p] = t
    hints = {p: t for p in w.node_outputs[key] if known(t := inferred.get((key, p)))}
    if isinstance(node, NetSpec):
        module = _build(node, {p: t for p, t in in_types.items() if t is not None}, npath, hints)
        return module, module.output_types, module.input_types
    lspec = replace(node, outputs={**hints, **node.outputs}) if hints else node
    module, out_types = layer_kind(node, npath).build(lspec, in_types, npath)
    if hasattr(module, "path"):
        module.path = npath
        given = {p: t for p, t in in_types.items() if t is not None}
        module.input_types = {**given, **(getattr(module, "input_types", None) or {})}
        module.output_types = dict(out_types)
        if hasattr(module, "load_spec_arrays"):
            module.load_spec_arrays(node)
    return module, out_types, getattr(module, "input_types", {}) or {}


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
        if not hasattr(node, "apply") or any(t.varying for t in node.output_types.values()):
            return
        fns.append(node.apply)
    m._in_name = w.inputs[0]
    m._out_name = next(iter(w.outputs))
    m._fast = fns
