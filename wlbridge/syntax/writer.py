"""`to_text`: any model expression -> one line of InputForm that `parse` reads back exactly,
or a `ValueError`/`TypeError` naming what cannot be written. Never a different value in silence.

* floats: shortest round-trip digits with ``*^`` exponents and "`" on 16+ digit mantissas
  (`numbers.format_real`); ``inf``/``-inf`` -> ``DirectedInfinity[1]``/``DirectedInfinity[-1]``
  and ``nan`` -> ``Indeterminate`` (what wolframclient's WXF writer sends too, so the WXF round
  trip gives the same expressions). ``-0.0`` -> ``-0.``.
* integers of any size up to `numbers.MAX_DIGITS` digits (the reader's limit; beyond it, an
  error); ``Decimal`` -> all its digits and a precision mark, either sign (``-1.25`3``);
  ``Fraction`` -> ``Rational[n, d]``; ``complex`` -> ``Complex[re, im]``.
* strings and symbol names: pure ASCII, ``\\:xxxx`` escapes, never a raw newline; a symbol name
  that is no Wolfram symbol (``"a b"``, ``"1x"``) is an error.
* tuple/list -> ``{...}``; dict -> ``<|k -> v|>``; ``bytes`` -> ``ByteArray["base64"]``.
* ``WLFunction`` -> FullForm ``head[args]``; ``Rule``/``RuleDelayed`` -> ``a -> b``, in
  parentheses where that would change the reading (a rule as a left side or as a head:
  ``(a -> b)[x]``); a negative number as a head is parenthesised too (``(-82)[]``).
* numpy arrays -> ``NumericArray[{...}, "Real32"]`` for the types Wolfram has (integers,
  Real32/64, ComplexReal32/64; NaN and infinities as ``Indeterminate``/``DirectedInfinity``,
  each element in the shortest digits that read back to the same element); float16 and bool
  arrays, and arrays with an empty last dimension (Wolfram has no empty NumericArray), as exact
  nested lists; an empty dimension before another (shape (0, 3)) has no exact form: an error.
* an expression nested deeper than the reader's `MAX_DEPTH` is an error.

`fullform` is the canonical FullForm used by the ``wlbridge parse`` command and the oracle
tests: the same conventions as the harness's ``wl_oracle.wlc_fullform`` (``System```/
``Global``` stripped, reals without marks, lists as ``List[...]``), plus ``Decimal`` as
``digits`prec`` and numpy arrays as ``NumericArray[List[...], "type"]``.
"""

from __future__ import annotations

import base64
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from wolframclient.language.expression import WLFunction, WLSymbol
from wolframclient.serializers.serializable import WLSerializable

from wlbridge.syntax.arrays import array_text
from wlbridge.syntax.lexer import MAX_DEPTH, SYMBOL_RE, decode_name
from wlbridge.syntax.numbers import MAX_DIGITS, format_decimal, format_real
from wlbridge.syntax.optable import CONSTANTS
from wlbridge.syntax.strings import ascii_name, quote

_RULES = {"Rule": " -> ", "RuleDelayed": " :> "}
_LOG10_2 = math.log10(2)


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


_OPEN, _CLOSE, _COMMA, _LPAREN, _RPAREN = (_Text(t) for t in ("[", "]", ", ", "(", ")"))
_LBRACE, _RBRACE, _LASSOC, _RASSOC = (_Text(t) for t in ("{", "}", "<|", "|>"))
_ARROW = _Text(" -> ")


def _rule_sep(o: Any) -> str | None:
    if isinstance(o, WLFunction) and isinstance(o.head, WLSymbol) and len(o.args) == 2:
        return _RULES.get(o.head.name)
    return None


def _negative_number(o: Any) -> bool:
    if isinstance(o, bool):
        return False
    if isinstance(o, (int, Fraction)):
        return o < 0
    if isinstance(o, float):
        return math.copysign(1.0, o) < 0 and not math.isnan(o)
    if isinstance(o, Decimal):
        return o.is_signed()
    return False


def format_int(n: int) -> str:
    """All digits of ``n`` (Python's ``str`` stops at 4300 digits; Decimal has no limit)."""
    if n.bit_length() < 14000:
        return str(n)
    if n.bit_length() * _LOG10_2 > MAX_DIGITS + 1:
        raise ValueError(f"to_text: an integer of about {int(n.bit_length() * _LOG10_2)} "
                         f"digits is longer than the {MAX_DIGITS} digits parse reads back")
    return str(Decimal(n))


def float_text(x: float) -> str:
    if math.isinf(x):
        return "DirectedInfinity[-1]" if x < 0 else "DirectedInfinity[1]"
    if math.isnan(x):
        return "Indeterminate"
    return format_real(x)


def symbol_text(name: str) -> str:
    text = ascii_name(name)
    if not SYMBOL_RE.fullmatch(text) or decode_name(text) != name or name in CONSTANTS:
        raise ValueError(f"to_text: {name!r} is not a Wolfram symbol name")
    return text


def _atom(o: Any) -> str | None:
    """Text of an atom, or None for a compound."""
    if o is None:
        return "Null"
    if o is True or o is False:
        return str(o)
    t = type(o)
    if t is int:
        return format_int(o)
    if t is float:
        return float_text(o)
    if t is str:
        return quote(o)
    if isinstance(o, WLSymbol):
        return symbol_text(o.name)
    if isinstance(o, bool):
        return str(bool(o))
    if isinstance(o, int):
        return format_int(int(o))
    if isinstance(o, float):
        return float_text(float(o))
    if isinstance(o, str):
        return quote(str(o))
    if isinstance(o, Decimal):
        return format_decimal(o)
    if isinstance(o, Fraction):
        return f"Rational[{format_int(o.numerator)}, {format_int(o.denominator)}]"
    if isinstance(o, complex):
        return f"Complex[{float_text(o.real)}, {float_text(o.imag)}]"
    if isinstance(o, (bytes, bytearray, memoryview)):
        return f'ByteArray["{base64.b64encode(bytes(o)).decode("ascii")}"]'
    if type(o).__module__ == "numpy":
        import numpy as np

        if isinstance(o, np.ndarray):
            return array_text(o)
        if isinstance(o, np.generic):
            return _atom(o.item())
    return None


def _push(stack: list, items: list, depth: int) -> None:
    """Push ``items`` (texts and compounds) to be written in order; atoms are written here and
    runs of text merged, so a list of 10^5 numbers costs one join, not 10^5 stack entries."""
    merged: list[Any] = []
    run: list[str] = []
    for x in items:
        if type(x) is _Text:
            run.append(x.text)
            continue
        text = _atom(x)
        if text is not None:
            run.append(text)
            continue
        if run:
            merged.append(_Text("".join(run)))
            run = []
        merged.append(x)
    if run:
        merged.append(_Text("".join(run)))
    stack.extend((x, depth) for x in reversed(merged))


def _joined(items: Any, open_: _Text, close: _Text) -> list[Any]:
    out: list[Any] = [open_]
    for i, a in enumerate(items):
        if i:
            out.append(_COMMA)
        out.append(a)
    out.append(close)
    return out


def _expand(o: Any, depth: int, stack: list) -> None:
    """Push the pieces of compound ``o`` onto ``stack`` (in reverse, to pop in order)."""
    sep = _rule_sep(o)
    if sep is not None:
        lhs, rhs = o.args
        items = ([_LPAREN, lhs, _RPAREN] if _rule_sep(lhs) else [lhs]) + [_Text(sep), rhs]
    elif isinstance(o, WLFunction):
        head = o.head
        items = [_LPAREN, head, _RPAREN] if (_rule_sep(head) or _negative_number(head)) \
            else [head]
        items += _joined(o.args, _OPEN, _CLOSE)
    elif isinstance(o, (tuple, list)):
        items = _joined(o, _LBRACE, _RBRACE)
    elif isinstance(o, dict):
        items = [_LASSOC]
        for i, (k, v) in enumerate(o.items()):
            if i:
                items.append(_COMMA)
            items += ([_LPAREN, k, _RPAREN] if _rule_sep(k) else [k]) + [_ARROW, v]
        items.append(_RASSOC)
    elif isinstance(o, WLSerializable):  # a Net, NetTrainResults: its expression, written here
        _push(stack, [o.to_wl()], depth)
        return
    else:
        items = [_Text(_fallback(o))]
    _push(stack, items, depth + 1)


def _fallback(o: Any) -> str:
    """wolframclient's own encoders for other Python objects (dates, ...), with our atoms."""
    from wlbridge.syntax.legacy import wolframclient_text

    return wolframclient_text(o)


def to_text(expr: Any) -> str:
    """One line of InputForm for ``expr`` that `parse` (and Mathematica) read back exactly."""
    out: list[str] = []
    stack: list[tuple[Any, int]] = [(expr, 0)]
    while stack:
        o, depth = stack.pop()
        if type(o) is _Text:
            out.append(o.text)
            continue
        text = _atom(o)
        if text is not None:
            out.append(text)
            continue
        if depth >= MAX_DEPTH:
            raise ValueError(f"to_text: the expression nests deeper than the {MAX_DEPTH} "
                             "levels parse reads back")
        _expand(o, depth, stack)
    return "".join(out)


def fullform(expr: Any) -> str:
    """Canonical FullForm text of a model expression (see the module notes)."""
    from wlbridge.syntax.canonical import canonical

    return canonical(expr)
