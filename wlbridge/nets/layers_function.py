"""The table row for FunctionLayer (engine.layers.function): a Wolfram function -> an array op tree.

Forms as on the FunctionLayer page: ``FunctionLayer[f]`` with ``f`` a pure function of one
array (``Sin[#] &``, ``Function[x, x . x]``) or a symbol (``Total``): one port "Input";
named slots (``#Foo + #Bar &``): a port per slot; ``FunctionLayer[Apply[#1 + #2 &]]``: ports
"1", "2", ... (this project's multiport names). The body may use the operations listed in
engine.layers.function; lists of numbers are constant arrays, other lists build arrays.
Functions returning an association (several outputs) are not supported yet.
"""

from __future__ import annotations

from typing import Any

from wolframclient.language.expression import WLSymbol

from wlbridge.nets.exprs import head_name, is_int, short, symbol_name, to_number
from wlbridge.nets.layers import BadParam, LayerDef
from wlbridge.nets.layers_arrange import _part_entry


def _const(e: Any) -> Any:
    """A nested tuple of floats when ``e`` is a numeric list, else None."""
    if isinstance(e, (tuple, list)):
        items = [_const(x) for x in e]
        return None if any(i is None for i in items) else tuple(items)
    n = to_number(e)
    return None if n is None or isinstance(e, bool) else float(n)


def _tree(e: Any, slot: Any) -> Any:
    n = to_number(e)
    if n is not None and not isinstance(e, bool):
        return float(n)
    if isinstance(e, (tuple, list)):
        c = _const(e)
        return ("Const", c) if c is not None else ("List", *(_tree(x, slot) for x in e))
    if isinstance(e, WLSymbol):
        if e.name in slot.names:
            return ("Slot", slot.names[e.name])
        raise BadParam(f"unknown symbol {short(e)} in the function")
    head = head_name(e)
    if head == "Slot":
        return ("Slot", slot(e.args[0] if e.args else 1))
    if head is None:
        raise BadParam(f"cannot compile {short(e)}")
    if head == "Part":
        return ("Part", _tree(e.args[0], slot), tuple(_part_entry(p) for p in e.args[1:]))
    if head == "Total":
        level = e.args[1] if len(e.args) > 1 else 1
        level = "Infinity" if to_number(level) == float("inf") else level
        if not (level == "Infinity" or (is_int(level) and level > 0)):
            raise BadParam(f"Total takes a positive level or Infinity, not {short(level)}")
        return ("Total", _tree(e.args[0], slot), level)
    if head == "Transpose":
        if len(e.args) == 1:
            return ("Transpose", _tree(e.args[0], slot))
        perm = e.args[1]
        if not (isinstance(perm, (tuple, list)) and sorted(perm) == list(range(1, len(perm) + 1))):
            raise BadParam(f"Transpose takes a permutation {{n1, n2, ...}}, not {short(perm)}")
        src = [0] * len(perm)
        for k, n in enumerate(perm):
            src[n - 1] = k
        return ("Transpose", _tree(e.args[0], slot), tuple(src))
    if head == "Clip" and len(e.args) == 2 and _const(e.args[1]) is not None and len(e.args[1]) == 2:
        return ("Clip", _tree(e.args[0], slot), *_const(e.args[1]))
    if head == "Minus":
        return ("Times", -1.0, _tree(e.args[0], slot))
    return (head, *(_tree(a, slot) for a in e.args))


class _Slots:
    """Slot numbers or names -> port names."""

    def __init__(self, numbered: bool, names: dict[str, str] | None = None):
        self.numbered, self.names = numbered, names or {}

    def __call__(self, k: Any) -> str:
        if isinstance(k, str):
            return k
        if self.numbered:
            return str(k)
        if k != 1:
            raise BadParam(f"the function uses #{k}; a FunctionLayer function takes one argument "
                           "(use named slots #name or Apply[f] for several inputs)")
        return "Input"


def function(v: Any) -> Any:
    """The engine's op tree of ``FunctionLayer``'s function."""
    slot = _Slots(False)
    if head_name(v) == "Apply" and len(v.args) == 1:
        v, slot = v.args[0], _Slots(True)
    name = symbol_name(v)
    if name is not None:
        return (name, ("Slot", "Input"))
    if head_name(v) != "Function":
        raise BadParam(f"expected a pure function, a symbol or Apply[f], not {short(v)}")
    if len(v.args) == 2:
        params = v.args[0] if isinstance(v.args[0], (tuple, list)) else (v.args[0],)
        if not all(isinstance(p, WLSymbol) for p in params):
            raise BadParam(f"bad function parameters {short(v.args[0])}")
        ports = ["Input"] if len(params) == 1 else [str(i) for i in range(1, len(params) + 1)]
        slot = _Slots(slot.numbered, {p.name: q for p, q in zip(params, ports, strict=True)})
        body = v.args[1]
    else:
        body = v.args[0]
    if isinstance(body, dict):
        raise BadParam("functions returning an association (several outputs) are not supported yet")
    tree = _tree(body, slot)
    return tree if isinstance(tree, tuple) else ("Plus", tree)


def slots(tree: Any) -> list[str]:
    """The port names an op tree reads, in first-use order."""
    if not isinstance(tree, tuple) or not tree or tree[0] == "Const":
        return []
    if tree[0] == "Slot":
        return [tree[1]]
    out: list[str] = []
    for a in tree[1:]:
        out += [s for s in slots(a) if s not in out]
    return out


def ports(spec: Any) -> tuple[str, ...]:
    return tuple(slots(spec.args.get("Function"))) or ("Input",)


ROWS = [LayerDef("FunctionLayer", (("Function", function),), required=1, ports=ports)]
