"""Atoms and containers of the model: numbers, symbols, patterns, slots, associations,
NumericArray literals (DESIGN rule 1: what wolframclient's WXF reader gives for the same thing).

* ``System``` is dropped from symbols; ``True``/``False``/``Null`` are Python's; ``\\[Pi]`` is
  ``Pi`` (Wolfram's reader does the same for its few constant characters).
* a number literal's sign: ``-3`` is the integer -3, ``-(3)`` too (a number stays a number in
  parentheses), but ``- -3`` is ``Times[-1, -3]``; big reals keep every digit when negated.
* ``<|k -> v, ...|>`` is a dict unless a ``:>``, a non-rule, a repeated or unhashable key makes
  that impossible (then ``Association[...]`` as written).
* ``NumericArray[{...}, "Real32"]`` with a rectangular, non-empty literal that fits the type is a
  numpy array of that dtype (``Indeterminate`` and ``DirectedInfinity[+-1]`` are NaN and
  infinities, ``Complex[re, im]`` entries fill complex types); anything else stays as written.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from wolframclient.language.expression import WLFunction, WLSymbol

from wlbridge.syntax.errors import WLSyntaxError
from wlbridge.syntax.lexer import decode_name
from wlbridge.syntax.numbers import MAX_DIGITS, NumberError, number_value, to_int
from wlbridge.syntax.optable import CONSTANTS

_S = WLSymbol
_CONSTANTS = {"True": True, "False": False, "Null": None}
_RATIONAL, _RULE = _S("Rational"), _S("Rule")
NUMERIC_TYPES = {
    "Integer8": "int8", "Integer16": "int16", "Integer32": "int32", "Integer64": "int64",
    "UnsignedInteger8": "uint8", "UnsignedInteger16": "uint16",
    "UnsignedInteger32": "uint32", "UnsignedInteger64": "uint64",
    "Real32": "float32", "Real64": "float64",
    "ComplexReal32": "complex64", "ComplexReal64": "complex128",
}
_PATTERN = re.compile(r"([^_]*)(_{1,3})(.*)")
_BLANK = ("Blank", "BlankSequence", "BlankNullSequence")


class _Stop:
    """Marks 'this operator does not continue the expression' (None is a value: Null)."""


STOP = _Stop()


def fn(head: str, *args: Any) -> WLFunction:
    return WLFunction(_S(head), *args)


def symbol(name: str) -> Any:
    if name.startswith("System`") and name.count("`") == 1:
        name = name[7:]
    if name in _CONSTANTS:
        return _CONSTANTS[name]
    return _S(CONSTANTS.get(name, name))


def _special_real(v: Any) -> float | None:
    if isinstance(v, WLSymbol) and v.name == "Indeterminate":
        return float("nan")
    if isinstance(v, WLFunction) and v.head == _S("DirectedInfinity") and \
            isinstance(v.head, WLSymbol) and len(v.args) == 1 and v.args[0] in (1, -1) and \
            type(v.args[0]) is int:
        return float("inf") * v.args[0]
    return None


def _entry(v: Any, kind: str) -> Any:
    """The numpy-ready element for ``v`` in an array of dtype kind, or raise ValueError."""
    t = type(v)
    if kind in "iu":
        if t is int:
            return v
    elif t is int or t is float:
        return v
    else:
        special = _special_real(v)
        if special is not None:
            return special
        if kind == "c" and isinstance(v, WLFunction) and isinstance(v.head, WLSymbol) and \
                v.head.name == "Complex" and len(v.args) == 2:
            re_, im = (_entry(a, "f") for a in v.args)
            return complex(re_, im)
    raise ValueError("not an element")


def _shape_and_values(data: tuple) -> tuple[list[int], list[Any]] | None:
    """Shape and flat items of a rectangular nest of tuples, or None."""
    shape: list[int] = []
    level: list[Any] = [data]
    while level and isinstance(level[0], tuple):
        n = len(level[0])
        if n == 0 or any(not isinstance(x, tuple) or len(x) != n for x in level):
            return None
        shape.append(n)
        level = [y for x in level for y in x]
    if any(isinstance(x, tuple) for x in level):
        return None
    return shape, level


def numeric_array(data: Any, type_name: str) -> Any:
    """numpy array for a literal NumericArray, or None when the data does not fit the type."""
    import numpy as np

    found = _shape_and_values(data) if isinstance(data, tuple) else None
    if found is None:
        return None
    shape, flat = found
    dtype = np.dtype(NUMERIC_TYPES[type_name])
    try:
        values = [_entry(v, dtype.kind) for v in flat]
    except ValueError:
        return None
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if any(v < info.min or v > info.max for v in values):
            return None
    elif dtype.kind == "f" and dtype != np.float64:
        with np.errstate(over="ignore"):
            arr = np.array(values, dtype=np.float64)
            if np.any(np.isfinite(arr) & ~np.isfinite(arr.astype(dtype))):
                return None  # beyond the type's range
    return np.array(values, dtype=dtype).reshape(shape)


def association(items: list[Any]) -> Any:
    if all(isinstance(r, WLFunction) and r.head == _RULE and isinstance(r.head, WLSymbol)
           and len(r.args) == 2 for r in items):
        try:
            d = {r.args[0]: r.args[1] for r in items}
        except TypeError:
            d = None
        if d is not None and len(d) == len(items):
            return d
    return fn("Association", *items)


class Literals:
    """Atom builders shared by the parser; ``_lits`` holds Rational literals (negatable)."""

    def __init__(self, source: str):
        self.source = source
        self._lits: dict[int, Any] = {}

    def number(self, text: str, start: int) -> Any:
        try:
            value = number_value(text)
        except NumberError as e:
            raise WLSyntaxError("sntxb", str(e), self.source, start) from None
        if isinstance(value, WLFunction):
            self._lits[id(value)] = value
        return value

    def negatable(self, x: Any) -> bool:
        """A number literal without a sign (``a - 3`` -> Plus[a, -3], not Times[-1, 3])."""
        t = type(x)
        if t is int:
            return x >= 0
        if t is float:
            return math.copysign(1.0, x) > 0
        if t is Decimal:
            return not x.is_signed()
        return t is WLFunction and id(x) in self._lits

    def negate(self, x: Any) -> Any:
        t = type(x)
        if t is Decimal:
            return x.copy_negate()  # no rounding to the context's 28 digits
        if t is WLFunction:
            out = WLFunction(_RATIONAL, -x.args[0], x.args[1])
            self._lits[id(out)] = out
            return out
        return -x

    symbol = staticmethod(symbol)
    association = staticmethod(association)

    def count(self, digits: str, start: int) -> int:
        """The n of ``#n``, ``##n``, ``%n`` (as long as any integer literal may be)."""
        if len(digits) > MAX_DIGITS:
            raise WLSyntaxError("sntxb", f"{len(digits)} digits are more than the {MAX_DIGITS} "
                                "this reader builds", self.source, start)
        return to_int(digits)

    def slot(self, text: str, start: int) -> Any:
        if text.startswith("##"):
            return fn("SlotSequence", self.count(text[2:], start) if text[2:] else 1)
        rest = text[1:]
        if rest.isdigit():
            return fn("Slot", self.count(rest, start))
        return fn("Slot", rest or 1)

    def out(self, text: str, start: int) -> Any:
        if text == "%":
            return fn("Out")
        if text.endswith("%"):
            return fn("Out", -len(text))
        return fn("Out", self.count(text[1:], start))

    def pattern(self, text: str) -> Any:
        if "\\" in text:
            text = decode_name(text) or text
        if text.endswith("_."):
            name = text[:-2]
            blank = fn("Blank")
            return fn("Optional", fn("Pattern", symbol(name), blank) if name else blank)
        m = _PATTERN.fullmatch(text)
        assert m is not None
        name, blanks, head = m.groups()
        blank = fn(_BLANK[len(blanks) - 1], *([symbol(head)] if head else []))
        return fn("Pattern", symbol(name), blank) if name else blank
