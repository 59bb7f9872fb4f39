"""A trained net back to Wolfram constructor syntax (wl-nets.md §7).

The user's expression is the template: containers, keys, edges and options stay as written;
each layer gets every array by name as a float32 numpy array, which is how the expression model
holds ``NumericArray[..., "Real32"]`` (text and WXF both write it as one), replacing any
array option it had), short forms with arrays are spelled out (``10`` -> ``LinearLayer[10,
"Weights" -> ..., "Biases" -> ...]``), and the outer net states its "Input"/"Output" ports
(shape or coder) so that every shape can be inferred on reading it back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from wolframclient.language import wl
from wolframclient.language.expression import WLFunction

from engine.spec import LayerSpec, LengthVar, NetSpec, TensorType
from wlbridge.coders import decoder_to_wl, encoder_to_wl
from wlbridge.nets.exprs import head_name, invnet, is_int, numeric_array, split_args
from wlbridge.nets.layers import LAYERS, WRITERS

Path = tuple[str, ...]


def net_to_wl(
    original: Any,
    spec: NetSpec,
    arrays: dict[Path, np.ndarray],
    input_types: dict[str, TensorType] | None = None,
    output_types: dict[str, TensorType] | None = None,
) -> WLFunction:
    """The constructor expression of ``original`` with ``arrays`` (paths as from
    ``export_arrays()``) written in, and the outer ports from ``spec`` and the given types."""
    head = head_name(original)
    if head in ("NetChain", "NetGraph"):
        body = _container(original, head, spec, (), arrays)
    else:  # a bare layer, held by the spec as the one-layer chain "1"
        node = spec.nodes["1"]
        body = _node(original, node, ("1",), arrays)
    return _with_ports(body, spec, input_types or {}, output_types or {})


def _container(expr: WLFunction, head: str, spec: NetSpec, path: Path, arrays: dict[Path, np.ndarray]) -> WLFunction:
    positional, options = split_args(expr.args)
    members = positional[0]
    if head == "NetGraph" and head_name(members) == "NetChain":  # NetGraph[chain, opts]
        inner = _container(members, "NetChain", spec, path, arrays)
        return WLFunction(expr.head, inner, *positional[1:], *_rules(options))
    rebuilt: Any
    if isinstance(members, dict):
        rebuilt = {k: _node(v, spec.nodes[k], (*path, k), arrays) for k, v in members.items()}
    elif head_name(members) in LAYERS:  # NetGraph[layer]
        rebuilt = _node(members, spec.nodes["1"], (*path, "1"), arrays)
    else:
        rebuilt = tuple(_node(v, spec.nodes[str(i)], (*path, str(i)), arrays) for i, v in enumerate(members, 1))
    return WLFunction(expr.head, rebuilt, *positional[1:], *_rules(options))


def _rules(options: list[tuple[Any, Any]]) -> list[WLFunction]:
    return [wl.Rule(_option_key(k), v) for k, v in options]


def _option_key(name: Any) -> Any:
    # wl-nets.md §1.3: the four System-symbol options are written as symbols
    if name in ("PaddingSize", "Interleaving", "LearningRateMultipliers", "Method", "Padding", "Resampling",
                "DistanceFunction"):
        return getattr(wl, name)
    return name


def _node(expr: Any, node: LayerSpec | NetSpec, path: Path, arrays: dict[Path, np.ndarray]) -> Any:
    if isinstance(node, NetSpec):
        if isinstance(expr, (tuple, list)):
            return tuple(_node(v, node.nodes[str(i)], (*path, str(i)), arrays) for i, v in enumerate(expr, 1))
        return _container(expr, head_name(expr), node, path, arrays)
    if node.kind == "NetMapOperator":
        positional, options = split_args(expr.args)
        inner_path = (*path, "Net") if any(p[: len(path) + 1] == (*path, "Net") for p in arrays) else path
        inner = _node(positional[0], node.args["Net"], inner_path, arrays)
        return WLFunction(expr.head, inner, *_rules(options))
    if node.kind in WRITERS:
        return WRITERS[node.kind](expr, node, path, arrays, _node, _rules)
    own = _arrays_at(path, arrays, node)
    if not own:
        return expr  # short forms without arrays (Ramp, Tanh, ...) stay as written
    if is_int(expr):
        return wl.LinearLayer(expr, *(wl.Rule(k, numeric_array(v)) for k, v in own.items()))
    positional, options = split_args(expr.args)
    d = LAYERS[node.kind]
    kept = [(k, v) for k, v in options if d.aliases.get(k, k) not in own]
    written = [wl.Rule(k, numeric_array(v)) for k, v in own.items()]
    return WLFunction(expr.head, *positional, *_rules(kept), *written)


def _arrays_at(path: Path, arrays: dict[Path, np.ndarray], node: LayerSpec) -> dict[str, np.ndarray]:
    """The layer's arrays in the layer's own order (the table's), others after."""
    found = {p[-1]: a for p, a in arrays.items() if len(p) == len(path) + 1 and p[: len(path)] == path}
    order = LAYERS[node.kind].arrays if node.kind in LAYERS else ()
    out = {n: found.pop(n) for n in order if n in found}
    out.update(found)
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------------------------------------
# outer ports


def _with_ports(expr: WLFunction, spec: NetSpec, ins: dict[str, TensorType], outs: dict[str, TensorType]) -> WLFunction:
    positional, options = split_args(expr.args)
    given = {k for k, _ in options}
    extra: list[WLFunction] = []
    for name, enc in spec.encoders.items():
        if name not in given:
            extra.append(wl.Rule(name, encoder_to_wl(enc)))
            given.add(name)
    for name, dec in spec.decoders.items():
        if name not in given:
            extra.append(wl.Rule(name, decoder_to_wl(dec)))
            given.add(name)
    for types in (ins or spec.inputs, outs or spec.outputs):
        for name, t in types.items():
            if name in given:
                continue
            value = type_to_wl(t)
            if value is not None:
                extra.append(wl.Rule(name, value))
                given.add(name)
    return WLFunction(expr.head, *positional, *_rules(options), *extra)


def type_to_wl(t: TensorType) -> Any:
    """A port spec for a type, or None when some dimension is still unknown."""
    if t.dims is None or any(d is None for d in t.dims):
        return None
    element: Any = None
    if t.index_range is not None:
        element = "Integer" if t.index_range == 0 else wl.Restricted("Integer", t.index_range)
    dims = ["Varying" if isinstance(d, LengthVar) else int(d) for d in t.dims]
    if any(isinstance(d, LengthVar) for d in t.dims[1:]):
        raise invnet("only the first dimension of a port can be varying")
    if not dims:
        return element if element is not None else "Real"
    if element is not None:
        return tuple(dims) + (element,)
    if len(dims) == 1:
        return dims[0]
    return tuple(dims)
