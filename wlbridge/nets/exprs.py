"""Small readers for the expression model (DESIGN rule 1) that the net converters share.

Heads and symbols are compared by base name (contexts stripped, wl-nets.md §3.3), so
``System`Ramp``, ``Ramp`` and ``NeuralNetworks`TensorT`` read the way a user means them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from wolframclient.language.expression import WLFunction, WLSymbol

from wlbridge.exprs import is_int as is_int  # re-exported: the net readers take it from here
from wlbridge.exprs import is_number, number
from wlbridge.messages import WLMessage, message


def invnet(text: str) -> WLMessage:
    """The one message every malformed net gives: ``NetTrain::invnet: text``."""
    return message("NetTrain", "invnet", text)


def base_name(name: str) -> str:
    """``NeuralNetworks`TensorT`` -> ``TensorT``."""
    return name.rsplit("`", 1)[-1]


def symbol_name(expr: Any) -> str | None:
    """The base name of a symbol, or None for anything else."""
    return base_name(expr.name) if isinstance(expr, WLSymbol) else None


def head_name(expr: Any) -> str | None:
    """The base name of a call's head (``LinearLayer[3]`` -> ``"LinearLayer"``), else None."""
    if isinstance(expr, WLFunction) and isinstance(expr.head, WLSymbol):
        return base_name(expr.head.name)
    return None


def is_call(expr: Any, name: str) -> bool:
    return head_name(expr) == name


def is_rule(expr: Any) -> bool:
    return head_name(expr) in ("Rule", "RuleDelayed") and len(expr.args) == 2


def split_args(args: tuple[Any, ...]) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """Positional arguments, then trailing options as (name, value) pairs.

    Option names are returned as strings whether written as a symbol or a string
    (wl-nets.md §1.3: ``PaddingSize`` and ``"PaddingSize"`` mean the same).
    """
    positional: list[Any] = []
    options: list[tuple[Any, Any]] = []
    for a in args:
        if is_rule(a):
            k, v = a.args
            name = symbol_name(k) if isinstance(k, WLSymbol) else k
            options.append((name, v))
        elif options:
            raise invnet(f"positional argument {_short(a)} after an option")
        else:
            positional.append(a)
    return positional, options


def option_name(name: Any) -> str:
    return name if isinstance(name, str) else _short(name)


def to_number(x: Any) -> float | int | None:
    """A real or integer as Wolfram evaluates it (`wlbridge.exprs.number`: ``Rational``,
    ``10^-3``, ``-2``, ... exactly, then as a Python number), or one of the constants ``Pi``,
    ``E``, ``Infinity`` (also negated); None if not."""
    n = number(x)
    if n is not None:
        return n if isinstance(n, int) else float(n)
    if is_number(x):  # the infinities and NaN, which `number` leaves alone
        return float(x)
    name = symbol_name(x)
    if name in ("Pi", "E", "Infinity"):
        return {"Pi": np.pi, "E": np.e, "Infinity": float("inf")}[name]
    if head_name(x) == "Times" and len(x.args) == 2 and x.args[0] == -1:
        inner = to_number(x.args[1])
        return None if inner is None else -inner
    if head_name(x) == "DirectedInfinity" and x.args in ((1,), (-1,)):
        return float("inf") * x.args[0]
    return None


def to_array(value: Any, what: str) -> np.ndarray:
    """A float32 array from nested lists, numpy, or ``NumericArray``/``RawArray`` in either
    the text form (a call holding lists) or the WXF form (a numpy array)."""
    if head_name(value) == "NumericArray" and value.args:
        value = value.args[0]
    elif head_name(value) == "RawArray" and len(value.args) == 2:
        value = value.args[1]  # 11.x order: RawArray[type, data]
    try:
        arr = np.asarray(_plain(value), dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise invnet(f"{what} is not a numeric array") from err
    if arr.dtype == object:
        raise invnet(f"{what} is not a rectangular numeric array")
    return arr


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    n = to_number(value)
    if n is None:
        raise TypeError(value)
    return n


def numeric_array(arr: np.ndarray) -> np.ndarray:
    """An array as ``NumericArray[..., "Real32"]``: in the expression model (DESIGN rule 1) that
    *is* a float32 numpy array. The text writer prints it as ``NumericArray[{...}, "Real32"]``
    with shortest round-trip digits and WXF writes a Real32 numeric array; wrapping it in
    ``wl.NumericArray`` would nest the head twice."""
    return np.ascontiguousarray(arr, dtype=np.float32)


def _short(expr: Any) -> str:
    """A compact human rendering for messages (no dependency on the text writer)."""
    if isinstance(expr, str):
        return '"' + expr + '"'
    if isinstance(expr, WLSymbol):
        return base_name(expr.name)
    if isinstance(expr, WLFunction):
        head = _short(expr.head)
        inner = ", ".join(_short(a) for a in expr.args[:4])
        return f"{head}[{inner}{', ...' if len(expr.args) > 4 else ''}]"
    if isinstance(expr, (tuple, list)):
        inner = ", ".join(_short(a) for a in expr[:4])
        return "{" + inner + (", ..." if len(expr) > 4 else "") + "}"
    if isinstance(expr, dict):
        return "<|" + ", ".join(f"{_short(k)} -> {_short(v)}" for k, v in list(expr.items())[:4]) + "|>"
    if isinstance(expr, np.ndarray):
        return f"array of shape {tuple(expr.shape)}"
    if expr is None:
        return "None"
    if expr is True or expr is False:
        return str(expr)
    return str(expr)


short = _short
