"""Numbers in the expression model (DESIGN rule 1), shared by options and nets.

Numbers reach us as Python ints/floats (parser, WXF), numpy scalars (WXF arrays, Python
callers), ``Decimal`` (arbitrary-precision reals from the parser) or, because the parser never
evaluates, as arithmetic the user wrote: ``10^-3`` is ``Power[10, -3]``, ``1/1000`` is
``Times[1, Power[1000, -1]]``, ``-2^5`` is ``Times[-1, Power[2, 5]]``, and WXF from the kernel
sends exact fractions as ``Rational[1, 1000]``. Wolfram would have evaluated all of these
before NetTrain saw them, so `number` does the same arithmetic, exactly, in one place; `fold`
applies it throughout an option or parameter value. `True`/`False` are Python bools and never
count as 1/0.

The arithmetic is bounded so hostile input cannot hang it: an exact result of more than
`MAX_BITS` bits, a nesting deeper than `MAX_DEPTH` or a machine real that overflows leaves the
expression unevaluated (and so refused by whoever needed a number), never computed.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal
from fractions import Fraction
from typing import Any

from wolframclient.language.expression import WLFunction, WLSymbol

#: Largest exact numerator or denominator `number` builds, in bits (2^4096 is far beyond any
#: count, seed or rate an option takes, and still instant to compute with).
MAX_BITS = 4096
#: Deepest expression `number` and `fold` look into.
MAX_DEPTH = 64

Exact = int | Fraction
Number = int | Fraction | float


def is_number(x: Any) -> bool:
    """A real number (int, float, Fraction, numpy scalars too), never a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def is_int(x: Any) -> bool:
    """A machine integer (numpy integers too), never a bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


class _Unevaluable(Exception):
    """Not a real number we will compute (symbolic, complex, infinite, or too large)."""


def number(x: Any) -> Number | None:
    """The real value of ``x`` as Wolfram evaluates it, or None.

    Exact input gives an exact result (an ``int`` when integral, else a ``Fraction``); any
    machine or arbitrary-precision real makes the result a ``float``, as in Wolfram.
    Understood: numbers, ``Rational``, ``Plus``, ``Times``, ``Power``, ``Subtract``,
    ``Divide``, ``Minus``, ``Sqrt``. Anything else, or a value beyond the bounds, is None.
    """
    try:
        value = _value(x, 0)
    except (_Unevaluable, OverflowError, ZeroDivisionError, ValueError):
        return None
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value.numerator)
    return value


def fold(x: Any, depth: int = 0) -> Any:
    """``x`` with every numeric subexpression replaced by its `number` (lists, rules,
    associations and calls are rebuilt; everything else, numpy arrays and Python objects
    included, is returned as it is). Unevaluable parts stay as written."""
    if depth > MAX_DEPTH or isinstance(x, (str, bool)) or x is None:
        return x
    if is_int(x) and not isinstance(x, int):
        return int(x)
    if isinstance(x, (WLFunction, Decimal)) or (is_number(x) and not isinstance(x, int | float)):
        n = number(x)
        if n is not None:
            return n
    if isinstance(x, WLFunction):
        args = tuple(fold(a, depth + 1) for a in x.args)
        if any(a is not b for a, b in zip(args, x.args, strict=True)):
            return WLFunction(x.head, *args)
        return x
    if type(x) in (tuple, list):  # not subclasses: a user's Bag stays the same object
        items = [fold(a, depth + 1) for a in x]
        if any(a is not b for a, b in zip(items, x, strict=True)):
            return type(x)(items)
        return x
    if type(x) is dict:
        return {fold(k, depth + 1): fold(v, depth + 1) for k, v in x.items()}
    return x


def _head(x: Any) -> str | None:
    if isinstance(x, WLFunction) and isinstance(x.head, WLSymbol):
        return x.head.name.rsplit("`", 1)[-1]
    return None


def _value(x: Any, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise _Unevaluable
    if isinstance(x, bool):
        raise _Unevaluable
    if is_int(x):
        return _checked(int(x))
    if isinstance(x, Fraction):
        return _checked(x)
    if isinstance(x, Decimal):
        return _float(x)
    if is_number(x):
        return _float(x)
    name = _head(x)
    if name not in _ARITHMETIC:
        raise _Unevaluable
    args = [_value(a, depth + 1) for a in x.args]
    if name == "Rational" and len(args) == 2 and all(isinstance(a, int) for a in args):
        return _checked(Fraction(args[0], args[1]))
    if name == "Times" and args:
        return _fold_args(args, lambda a, b: a * b)
    if name == "Plus" and args:
        return _fold_args(args, lambda a, b: a + b)
    if name == "Power" and len(args) == 2:
        return _power(*args)
    if name == "Sqrt" and len(args) == 1:
        return _power(args[0], Fraction(1, 2))
    if name == "Subtract" and len(args) == 2:
        return _fold_args(args, lambda a, b: a - b)
    if name == "Divide" and len(args) == 2:
        return _fold_args([args[0], _power(args[1], -1)], lambda a, b: a * b)
    if name == "Minus" and len(args) == 1:
        return -args[0]
    raise _Unevaluable


_ARITHMETIC = frozenset({"Rational", "Times", "Plus", "Power", "Sqrt", "Subtract", "Divide",
                         "Minus"})


def _float(x: Any) -> float:
    f = float(x)
    if not math.isfinite(f):
        raise _Unevaluable
    return f


def _checked(v: Exact) -> Exact:
    """``v`` if its numerator and denominator fit in `MAX_BITS`."""
    f = Fraction(v)
    if max(f.numerator.bit_length(), f.denominator.bit_length()) > MAX_BITS:
        raise _Unevaluable
    return v


def _fold_args(args: list[Number], op: Any) -> Number:
    acc = args[0]
    for a in args[1:]:
        acc = op(acc, a)
        acc = _float(acc) if isinstance(acc, float) else _checked(acc)
    return acc


def _power(base: Number, exp: Number) -> Number:
    if isinstance(base, float) or isinstance(exp, float):
        if base < 0 and not float(exp).is_integer():
            raise _Unevaluable  # a complex number
        if base == 0 and exp < 0:
            raise _Unevaluable  # ComplexInfinity
        return _float(float(base) ** float(exp))
    b, e = Fraction(base), Fraction(exp)
    if b == 0:
        if e <= 0:
            raise _Unevaluable  # ComplexInfinity / Indeterminate
        return 0
    if e.denominator == 1:
        bits = max(b.numerator.bit_length(), b.denominator.bit_length())
        if bits > 1 and abs(e.numerator) * (bits - 1) > MAX_BITS:
            raise _Unevaluable  # 10^999999999: refused before it is built
        return _checked(b ** e.numerator)
    if b < 0:
        raise _Unevaluable  # a complex number
    root = _exact_root(b, e.denominator)
    if root is not None:
        return _power(root, e.numerator)
    return _float(float(b) ** float(e))  # an irrational power, evaluated as N would


def _exact_root(b: Fraction, n: int) -> Fraction | None:
    """The exact ``n``-th root of ``b`` > 0 when it is rational, else None."""
    if n > MAX_BITS:
        return None
    parts = []
    for k in (b.numerator, b.denominator):
        r = _int_root(k, n)
        if r is None:
            return None
        parts.append(r)
    return Fraction(parts[0], parts[1])


def _int_root(k: int, n: int) -> int | None:
    if k < 2:
        return k
    guess = round(2 ** (math.log2(k) / n))
    for r in (guess - 1, guess, guess + 1):
        if r >= 0 and r ** n == k:
            return r
    return None
