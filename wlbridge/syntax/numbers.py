"""Wolfram number literals <-> Python numbers, shared by the parser, the fast path and the writer.

Model decisions:

* integers -> ``int`` (any size); ``b^^digits`` in bases 2..36 -> ``int``.
* ``m*^e`` with an integer mantissa is exact, as in Mathematica: ``int`` for e >= 0, otherwise
  ``Rational[n, d]`` (a ``WLFunction``, what the WXF deserializer gives for a Rational), or an
  ``int`` when the fraction reduces to one.
* reals with a ``.`` -> ``float`` (correctly rounded from the decimal text), unless they carry a
  precision or accuracy mark with digits (``3.14`20``, ``1.5``3``) or have 17 or more significant
  digits (Mathematica then makes an arbitrary-precision number): those are ``decimal.Decimal``
  holding the digits as written (the mark itself is dropped, as wolframclient's WXF reader drops
  it). A bare backquote (``0.30000000000000004` ``) forces a machine real. Reals whose magnitude
  a double cannot hold (``1.0*^400``) are also ``Decimal``.
* limits (so no literal can hang the reader or fill memory): an exact number (integer, or the
  ``n*^e`` of an integer mantissa, or ``b^^digits``) may have at most `MAX_DIGITS` digits
  (``1*^999999999`` is an error at its position, not an attempt to build 10^999999999), and a
  real's decimal exponent at most `MAX_EXPONENT`, the exponent of Wolfram's ``$MaxNumber``
  (``1.5*^-31234567891234567890`` is an error, as in Mathematica). Integers longer than Python's
  4300-digit ``int(str)`` limit are converted piecewise.
* ``format_real`` writes the shortest text that reads back to the same double, with ``*^``
  exponents and a trailing backquote when the mantissa has 16 or more digits (leading zeros
  included), so Mathematica,
  Mathics3 and this parser all read a machine real. ``-0.0`` is written ``-0.``: this parser
  reads it back as ``-0.0``; Mathematica and Mathics3 read it as ``0.`` (the sign is lost there).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

NUMBER_RE = re.compile(
    r"(?:(?P<base>\d+)\^\^(?P<bdigits>[0-9a-zA-Z]+(?:\.[0-9a-zA-Z]*)?)"
    r"|(?P<mant>\d+(?:\.\d*)?|\.\d+))"
    r"(?P<mark>``?(?P<markval>[+-]?(?:\d+(?:\.\d*)?|\.\d+))?)?"
    r"(?:\*\^(?P<exp>[+-]?\d+))?"
)

#: Mantissas with this many significant digits are arbitrary precision unless marked with "`".
BIG_REAL_DIGITS = 17
#: Most digits of an exact number read or written (reading 10^5 digits takes ~0.1 s; the
#: conversion is quadratic, 10^6 digits would take half a minute).
MAX_DIGITS = 100_000
#: Largest decimal exponent of a real: Log10[$MaxNumber] in Mathematica is 1.3557*10^15.
MAX_EXPONENT = 1_355_718_576_299_609
_PIECE = 4000  # under Python's int <-> str digit limit (4300)


class NumberError(ValueError):
    """A number literal that matches the token shape but has no value (bad digit for its base)."""


def _rational(num: int, den: int) -> Any:
    from wolframclient.language.expression import WLFunction, WLSymbol

    f = Fraction(num, den)
    if f.denominator == 1:
        return f.numerator
    return WLFunction(WLSymbol("Rational"), f.numerator, f.denominator)


def to_int(digits: str, base: int = 10) -> int:
    """``int(digits, base)`` for any length (split in halves below Python's digit limit)."""
    if len(digits) <= _PIECE:
        return int(digits, base)
    half = len(digits) // 2
    return to_int(digits[:-half], base) * base ** half + to_int(digits[-half:], base)


def _too_many(count: int, what: str) -> NumberError:
    return NumberError(f"{what} has {count} digits, more than the {MAX_DIGITS} this reader "
                       "builds")


def _base_value(base: int, digits: str) -> Fraction:
    if not 2 <= base <= 36:
        raise NumberError(f"base {base} is not between 2 and 36")
    if len(digits) > MAX_DIGITS:
        raise _too_many(len(digits), "the number")
    whole, _, frac = digits.partition(".")
    try:
        n = to_int(whole + frac, base)
    except ValueError:
        raise NumberError(f"digits {digits!r} are not valid in base {base}") from None
    return Fraction(n, base ** len(frac))


def _exponent(text: str | None) -> int:
    if not text:
        return 0
    digits = text.lstrip("+-").lstrip("0") or "0"
    if len(digits) > 16 or int(digits) > MAX_EXPONENT:
        raise NumberError(f"the exponent {text[:20]}{'...' if len(text) > 20 else ''} is "
                          "beyond the range of Wolfram numbers ($MaxNumber)")
    return -int(digits) if text.startswith("-") else int(digits)


def number_value(token: str) -> Any:
    """The model value of one unsigned number token (see the module notes)."""
    m = NUMBER_RE.fullmatch(token)
    if m is None:
        raise NumberError(f"{token!r} is not a number")
    exp = _exponent(m["exp"])
    marked = m["mark"] is not None
    precise = marked and m["markval"] is not None
    if m["base"] is not None:
        if len(m["base"]) > 2:
            raise NumberError(f"base {m['base'][:20]}... is not between 2 and 36")
        base = int(m["base"])
        if abs(exp) * math.log10(max(base, 2)) > MAX_DIGITS:
            raise _too_many(int(abs(exp) * math.log10(max(base, 2))), "the number")
        value = _base_value(base, m["bdigits"]) * Fraction(base) ** exp
        if "." not in m["bdigits"] and not marked:
            return _rational(value.numerator, value.denominator)
        if not precise:
            try:
                x = float(value)
            except OverflowError:  # beyond a double: a big real, as for decimal digits
                x = 0.0
            if x or not value:
                return x
        return Decimal(value.numerator) / Decimal(value.denominator)
    mant = m["mant"]
    if "." not in mant and not marked:
        size = len(mant.lstrip("0")) + max(exp, 0) if exp >= 0 else max(len(mant), -exp)
        if size > MAX_DIGITS:
            raise _too_many(size, "the exact number")
        n = to_int(mant)
        return n * 10 ** exp if exp >= 0 else _rational(n, 10 ** -exp)
    text = f"{mant}e{exp}" if exp else mant
    if precise:
        return Decimal(text)
    if not marked and len(mant.replace(".", "").lstrip("0")) >= BIG_REAL_DIGITS:
        return Decimal(text)
    x = float(text)
    if math.isinf(x) or (x == 0.0 and mant.strip("0.")):
        return Decimal(text)  # beyond a double's range: Mathematica keeps it as a big real
    return x


def _split_repr(x: float) -> tuple[str, int]:
    """Shortest round-trip mantissa text (with a '.') and decimal exponent of ``x``."""
    r = repr(x)
    mant, _, exp = r.partition("e")
    if "." not in mant:
        mant += "."
    elif mant.endswith(".0") and not exp:
        mant = mant[:-1]
    return mant, int(exp) if exp else 0


def format_real(x: float, machine_mark: bool = True) -> str:
    """Shortest InputForm text for a finite double that reads back bit-exactly.

    ``machine_mark`` appends "`" when the mantissa has 16 or more digits (needed so that
    Mathematica reads a machine real); `fullform` leaves it off to match the oracle's printer.
    """
    mant, exp = _split_repr(x)
    # Digits are counted with leading zeros: Mathics3 does (README 2.3 item 4), and a mark on a
    # shorter number is harmless, so both readers see a machine real.
    if machine_mark and len(mant.lstrip("-").replace(".", "")) >= 16:
        mant += "`"
    return f"{mant}*^{exp}" if exp else mant


def format_decimal(d: Decimal) -> str:
    """An arbitrary-precision real: its digits and a precision mark (``3.14`3``, ``1.5`2*^400``)."""
    sign, digits, exp = d.as_tuple()
    if not isinstance(exp, int):  # NaN / Infinity are handled by the caller
        raise ValueError(f"{d} is not finite")
    s = "-" if sign else ""
    if not any(digits):
        return f"{s}0.``{max(-exp, 0)}"
    text = "".join(map(str, digits))
    e10 = exp + len(text) - 1
    out = f"{s}{text[0]}.{text[1:]}`{len(text)}"
    return f"{out}*^{e10}" if e10 else out
