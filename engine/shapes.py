"""Shape inference for NetChain and NetGraph: every port's type from every constraint, both ways.

The builder (`engine.graph`) builds layers in topological order, each computing its output
types from its input types. That alone cannot size ``LinearLayer[]`` from the loss target it
feeds, or an input port from what follows it. So before building, `infer` propagates what is
known from everywhere (declared ports, the data's first example, the target's shape, layer
rules) forwards and backwards through the container, nested containers included, until
nothing changes; the builder then receives those types as hints (wl-nets.md §1.1 port specs).

**The per-layer shape-rule hook.** A layer takes part by registering a rule::

    from engine.shapes import shape_rule

    @shape_rule("MyLayer")
    def my_rule(spec: LayerSpec, ins: dict[str, TensorType | None],
                outs: dict[str, TensorType | None]) -> tuple[dict[str, TensorType],
                                                            dict[str, TensorType]]:
        ...

``ins``/``outs`` hold what is known now of each input and output port: None (nothing), or a
`TensorType` that may be partial (``dims=None``: rank unknown; a ``None`` entry: that size
unknown). The rule returns ``(inputs, outputs)``: the types it can deduce for any ports, partial
ones allowed; it returns ``{}, {}`` when it can say nothing yet (it is called again as more is
known). The engine unifies each with what it knows and reports a disagreement as one
``NetTrain::invnet`` naming the layer and the port. Rules need not be complete, since the
builder still does the forward direction; they matter where information flows against it.
`same_shape` is the rule of shape-preserving layers. Layers without a rule are left to their
builder. Rules for the layers that exist today live in `engine.shape_rules`; a new layer
registers its rule next to its builder.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.errors import EngineError
from engine.layers import load_all
from engine.layers.base import format_dims
from engine.spec import LayerSpec, LengthVar, NetSpec, PortRef, TensorType
from engine.wiring import HEADS, Wiring, err, node_path, wire

Types = dict[str, TensorType | None]
ShapeRule = Callable[[LayerSpec, Types, Types], tuple[dict[str, TensorType], dict[str, TensorType]]]

RULES: dict[str, ShapeRule] = {}
_PASSES = 8


def shape_rule(*names: str) -> Callable[[ShapeRule], ShapeRule]:
    """Decorator: register ``rule`` as the shape rule of the layers ``names``."""

    def deco(rule: ShapeRule) -> ShapeRule:
        for n in names:
            RULES[n] = rule
        return rule

    return deco


def rules() -> dict[str, ShapeRule]:
    """Every registered rule (layer modules and `engine.shape_rules` imported once)."""
    load_all()
    import engine.shape_rules  # noqa: F401  (registers the rules of today's layers)

    return RULES


# ---------------------------------------------------------------------------------------------
# The type algebra


class ShapeConflict(Exception):
    """Two constraints on one port disagree."""


def unify(a: TensorType | None, b: TensorType | None) -> TensorType | None:
    """The most specific type satisfying both ``a`` and ``b``; `ShapeConflict` if none does."""
    if a is None:
        return b
    if b is None:
        return a
    if a.index_range and b.index_range and a.index_range != b.index_range:
        raise ShapeConflict
    # a range n beats 0 ("Integer", range unknown), which beats None (real)
    ranges = [r for r in (a.index_range, b.index_range) if r is not None]
    index = max(ranges) if ranges else None
    if a.dims is None or b.dims is None:
        return TensorType(a.dims if b.dims is None else b.dims, index)
    if len(a.dims) != len(b.dims):
        raise ShapeConflict
    dims = []
    for x, y in zip(a.dims, b.dims, strict=True):
        if x is None or y is None:
            dims.append(y if x is None else x)
        elif isinstance(x, LengthVar) or isinstance(y, LengthVar):
            if not (isinstance(x, LengthVar) and isinstance(y, LengthVar)):
                raise ShapeConflict
            dims.append(x)
        elif x != y:
            raise ShapeConflict
        else:
            dims.append(x)
    return TensorType(tuple(dims), index)


def compatible(a: TensorType | None, b: TensorType | None) -> bool:
    """True when ``a`` and ``b`` can describe the same port."""
    try:
        unify(a, b)
    except ShapeConflict:
        return False
    return True


def known(t: TensorType | None) -> bool:
    """True when every dimension of ``t`` is fixed (an int) or a varying length."""
    return t is not None and t.dims is not None and all(d is not None for d in t.dims)


def show(t: TensorType | None) -> str:
    """A type the way Wolfram writes a port spec: ``{3, "Varying"}``, "Real", an integer port."""
    if t is None or t.dims is None:
        return "an array of unknown rank"
    if t.dims == ():
        if t.index_range:
            return f'Restricted["Integer", {t.index_range}]'
        return '"Integer"' if t.index_range is not None else '"Real"'
    return format_dims(tuple("?" if d is None else d for d in t.dims))


# ---------------------------------------------------------------------------------------------
# Propagation


class _Table:
    """The known type of every source port of one container, with located conflict messages."""

    def __init__(self, path: tuple[str, ...]):
        self.path = path
        self.types: dict[PortRef, TensorType | None] = {}

    def put(self, ref: PortRef, t: TensorType | None, where_: tuple[str, ...], port: str,
            side: str) -> bool:
        if t is None:
            return False
        old = self.types.get(ref)
        try:
            new = unify(old, t)
        except ShapeConflict:
            raise err(where_, f"the {side} port {port!r} would need to be {show(t)}, but the rest "
                              f"of the net makes it {show(old)}.") from None
        if new != old:
            self.types[ref] = new
            return True
        return False


def infer(spec: NetSpec, w: Wiring, given_in: Types, given_out: Types,
          path: tuple[str, ...]) -> dict[PortRef, TensorType | None]:
    """The type of every source port (net inputs ``(None, name)``, node outputs ``(key, port)``)
    from the declared ports, the layers' shape rules and ``given_in``/``given_out`` (what the
    data say). The net's own constraints are binding; a data type that contradicts them is
    left out (the data are then checked against the net, with the data's message)."""
    table = _Table(path)
    for name in w.inputs:
        table.put((None, name), spec.inputs.get(name), path, name, "input")
    for name, src in w.outputs.items():
        table.put(src, spec.outputs.get(name), path, name, "output")
    for key in w.order:
        node = spec.nodes[key]
        npath = node_path(path, key, node)
        for p, t in node.inputs.items():
            if (key, p) in w.feeds:
                table.put(w.feeds[(key, p)], t, npath, p, "input")
        for p, t in node.outputs.items():
            table.put((key, p), t, npath, p, "output")
    known_rules = rules()
    _propagate(spec, w, table, known_rules, path)
    weak = [((None, n), given_in.get(n), n, "input") for n in w.inputs] + \
           [(src, given_out.get(n), n, "output") for n, src in w.outputs.items()]
    for ref, t, name, side in weak:
        if t is None:
            continue
        saved = dict(table.types)
        try:
            if table.put(ref, t, path, name, side):
                _propagate(spec, w, table, known_rules, path)
        except EngineError:
            table.types = saved
    return table.types


def _propagate(spec: NetSpec, w: Wiring, table: _Table, known_rules: dict[str, ShapeRule],
               path: tuple[str, ...]) -> None:
    """Apply every node's rule, in order then in reverse, until nothing changes."""
    for _ in range(_PASSES):
        changed = False
        for key in [*w.order, *reversed(w.order)]:
            changed |= _apply(spec, w, key, table, known_rules, path)
        if not changed:
            break


def _apply(spec: NetSpec, w: Wiring, key: str, table: _Table, known_rules: dict[str, ShapeRule],
           path: tuple[str, ...]) -> bool:
    node = spec.nodes[key]
    npath = node_path(path, key, node)
    ins = {p: table.types.get(w.feeds[(key, p)]) for p in w.node_inputs[key]}
    outs = {p: table.types.get((key, p)) for p in w.node_outputs[key]}
    if isinstance(node, NetSpec):
        new_ins, new_outs = infer_ports(node, ins, outs, npath)
    else:
        rule = known_rules.get(node.kind)
        if rule is None:
            return False
        new_ins, new_outs = rule(node, ins, outs)
    changed = False
    for p, t in new_ins.items():
        if (key, p) in w.feeds:
            changed |= table.put(w.feeds[(key, p)], t, npath, p, "input")
    for p, t in new_outs.items():
        changed |= table.put((key, p), t, npath, p, "output")
    return changed


def infer_ports(spec: NetSpec, given_in: Types, given_out: Types,
                path: tuple[str, ...]) -> tuple[dict[str, TensorType], dict[str, TensorType]]:
    """A nested container's own rule: its port types given what surrounds it."""
    w = wire(spec, path)
    types = infer(spec, w, given_in, given_out, path)
    ins = {n: t for n in w.inputs if (t := types.get((None, n))) is not None}
    outs = {n: t for n, src in w.outputs.items() if (t := types.get(src)) is not None}
    return ins, outs


def container_path(spec: NetSpec) -> tuple[str, ...]:
    """The display path of a top-level container: ``("NetChain",)``."""
    return (HEADS.get(spec.kind, spec.kind),)


def same_shape(spec: LayerSpec, ins: Types, outs: Types) -> tuple[dict[str, TensorType],
                                                                 dict[str, TensorType]]:
    """The rule of layers whose "Output" has the shape of their "Input" (real-valued)."""
    t = ins.get("Input") or outs.get("Output")
    if t is None:
        return {}, {}
    real = TensorType(t.dims)
    return {"Input": real}, {"Output": real}

