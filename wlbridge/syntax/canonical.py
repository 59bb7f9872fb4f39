"""`fullform`: canonical FullForm text of a model expression (see `writer`'s notes): the
harness's ``wl_oracle.wlc_fullform`` conventions, for the CLI's ``parse`` command and tests."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from wolframclient.language.expression import WLFunction, WLSymbol

from wlbridge.syntax.arrays import NP_TYPES as _NP_TYPES
from wlbridge.syntax.numbers import format_real
from wlbridge.syntax.strings import ascii_name, quote


def _float_text(x: float) -> str:
    from wlbridge.syntax.writer import float_text

    return float_text(x)


def format_int(n: int) -> str:
    from wlbridge.syntax.writer import format_int as write

    return write(n)


def to_text(x: Any) -> str:
    from wlbridge.syntax.writer import to_text as write

    return write(x)


def canonical(expr: Any) -> str:
    """Canonical FullForm text of a model expression (see the module notes)."""
    out: list[str] = []
    # Iterative, so deep expressions cannot exhaust the Python stack.
    stack: list[Any] = [expr]
    while stack:
        o = stack.pop()
        if isinstance(o, _Text):
            out.append(o.text)
        elif o is True or o is False:
            out.append(str(o))
        elif o is None:
            out.append("Null")
        elif isinstance(o, int):
            out.append(format_int(o))
        elif isinstance(o, complex):
            _push_call(stack, WLSymbol("Complex"), [o.real, o.imag])
        elif isinstance(o, float):
            out.append(format_real(o, machine_mark=False) if math.isfinite(o)
                       else _float_text(o))
        elif isinstance(o, Decimal):
            out.append(to_text(o))
        elif isinstance(o, str):
            out.append(quote(o))
        elif isinstance(o, Fraction):
            out.append(f"Rational[{o.numerator}, {o.denominator}]")
        elif isinstance(o, WLSymbol):
            name = o.name
            for ctx in ("System`", "Global`"):
                if name.startswith(ctx) and "`" not in name[len(ctx):]:
                    name = name[len(ctx):]
            out.append(ascii_name(name))
        elif isinstance(o, WLFunction):
            _push_call(stack, o.head, o.args)
        elif isinstance(o, dict):
            _push_call(stack, WLSymbol("Association"),
                       [WLFunction(WLSymbol("Rule"), k, v) for k, v in o.items()])
        elif isinstance(o, (list, tuple)):
            _push_call(stack, WLSymbol("List"), o)
        elif isinstance(o, (bytes, bytearray)):
            out.append(to_text(bytes(o)))
        elif type(o).__module__ == "numpy":
            import numpy as np

            if isinstance(o, np.ndarray):
                kind = _NP_TYPES.get(o.dtype.name, o.dtype.name)
                _push_call(stack, WLSymbol("NumericArray"), [o.tolist(), kind])
            else:
                stack.append(o.item())
        else:
            raise TypeError(f"fullform: no Wolfram form for {type(o).__name__}")
    return "".join(out)


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _push_call(stack: list[Any], head: Any, args: Any) -> None:
    items: list[Any] = [head, _Text("[")]
    for i, a in enumerate(args):
        if i:
            items.append(_Text(", "))
        items.append(a)
    items.append(_Text("]"))
    stack.extend(reversed(items))
