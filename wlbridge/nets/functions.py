"""Elementwise functions: symbols, named activations and pure functions -> the engine's form.

The engine receives either a name (a Wolfram symbol name such as ``"Ramp"`` or one of the
named activations such as ``"SELU"``) or an *op tree* built from pure functions:
a float constant, ``("Slot", k)`` for the k-th argument (1-based), or ``(op, *children)`` with
``op`` a Wolfram function name (``"Plus"``, ``"Times"``, ``"Power"``, ``"LogisticSigmoid"``, ...).
``Function[x, body]`` and ``Function[{x, y}, body]`` are rewritten to slots.
"""

from __future__ import annotations

from typing import Any

from wolframclient.language import wl
from wolframclient.language.expression import WLFunction, WLSymbol

from wlbridge.nets.exprs import head_name, is_number, short, symbol_name, to_number

# Unary symbols accepted as ElementwiseLayer[f] and as bare short forms (wl-nets.md §2.2).
UNARY = frozenset({
    "Ramp", "LogisticSigmoid", "Tanh", "Sin", "Cos", "Tan", "Log", "Exp", "Sqrt", "Abs", "Round",
    "Floor", "Ceiling", "Sign", "ArcTan", "ArcCos", "ArcCosh", "ArcSin", "ArcSinh", "ArcTanh",
    "Sinh", "Cosh", "Gamma", "LogGamma", "Erf", "Erfc", "SoftRamp", "Square",
})
# Named activations of ElementwiseLayer["name"] (wl-nets.md §2.2 table, aliases included).
NAMED = frozenset({
    "RectifiedLinearUnit", "ReLU", "ExponentialLinearUnit", "ELU", "ScaledExponentialLinearUnit",
    "SELU", "SoftSign", "SoftPlus", "SoftReLU", "HardTanh", "HardSigmoid", "Sigmoid",
    "GaussianErrorLinearUnit", "GELU", "Swish", "HardSwish", "Mish",
})
# Functions of several arguments for ThreadingLayer and inside pure functions.
NARY = frozenset({"Plus", "Times", "Subtract", "Divide", "Power", "Min", "Max"})
# Everything else a pure-function body may call.
_BODY_OPS = UNARY | NARY | frozenset({
    "Clip", "Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "Unequal", "If", "Minus",
    "ArcTan",
})


class BadFunction(ValueError):
    """A function the engine cannot compute; the message names the offending part."""


def elementwise_function(f: Any) -> str | tuple[Any, ...]:
    """The engine's form of ``ElementwiseLayer[f]``'s argument."""
    name = symbol_name(f)
    if name is not None:
        if name in UNARY:
            return name
        raise BadFunction(f"unsupported elementwise function {name}")
    if isinstance(f, str):
        if f in NAMED:
            return f
        raise BadFunction(f'unknown elementwise function name "{f}"')
    if head_name(f) == "Function":
        return function_tree(f, max_slots=1)
    raise BadFunction(f"cannot use {short(f)} as an elementwise function")


def threading_function(f: Any) -> str | tuple[Any, ...]:
    """The engine's form of ``ThreadingLayer[f]``'s argument."""
    name = symbol_name(f)
    if name is not None:
        if name in NARY:
            return name
        raise BadFunction(f"unsupported threading function {name}")
    if head_name(f) == "Function":
        return function_tree(f, max_slots=None)
    raise BadFunction(f"cannot use {short(f)} as a threading function")


def function_tree(f: WLFunction, max_slots: int | None) -> tuple[Any, ...]:
    """An op tree from ``Function[body]``, ``Function[x, body]`` or ``Function[{x, ...}, body]``."""
    params: dict[str, int] = {}
    if len(f.args) == 1:
        body = f.args[0]
    elif len(f.args) == 2:
        names = f.args[0] if isinstance(f.args[0], (tuple, list)) else (f.args[0],)
        for i, n in enumerate(names, 1):
            if not isinstance(n, WLSymbol):
                raise BadFunction(f"bad function parameter {short(n)}")
            params[n.name] = i
        body = f.args[1]
    else:
        raise BadFunction(f"cannot read the pure function {short(f)}")
    tree = _tree(body, params)
    if max_slots is not None and _max_slot(tree) > max_slots:
        raise BadFunction(f"the function {short(f)} uses more than {max_slots} argument(s)")
    if not isinstance(tree, tuple):
        tree = ("Plus", tree)  # a constant function still goes through the engine as an op
    return tree


def _tree(e: Any, params: dict[str, int]) -> Any:
    num = to_number(e)
    if num is not None:
        return float(num)
    if isinstance(e, WLSymbol):
        if e.name in params:
            return ("Slot", params[e.name])
        raise BadFunction(f"unknown symbol {short(e)} in a pure function")
    head = head_name(e)
    if head == "Slot":
        k = e.args[0] if e.args else 1
        if not isinstance(k, int) or k < 1:
            raise BadFunction(f"named or invalid slot {short(e)}")
        return ("Slot", k)
    if head is None or head not in _BODY_OPS:
        raise BadFunction(f"unsupported operation {head or short(e)} in a pure function")
    children = []
    for a in e.args:
        if head == "Clip" and isinstance(a, (tuple, list)):
            children.extend(_tree(x, params) for x in a)
        else:
            children.append(_tree(a, params))
    return (head, *children)


def _max_slot(tree: Any) -> int:
    if isinstance(tree, tuple):
        if tree[0] == "Slot":
            return tree[1]
        return max((_max_slot(c) for c in tree[1:]), default=0)
    return 0


def function_to_wl(value: str | tuple[Any, ...], named: bool) -> Any:
    """Write an engine function back: a name as a symbol or string, an op tree as ``Function``."""
    if isinstance(value, str):
        return value if named and value in NAMED else getattr(wl, value)
    return wl.Function(_tree_to_wl(value))


def _tree_to_wl(t: Any) -> Any:
    if is_number(t):
        return t
    if t[0] == "Slot":
        return wl.Slot(t[1])
    if t[0] == "Clip" and len(t) == 4:
        return wl.Clip(_tree_to_wl(t[1]), (_tree_to_wl(t[2]), _tree_to_wl(t[3])))
    return getattr(wl, t[0])(*(_tree_to_wl(c) for c in t[1:]))
