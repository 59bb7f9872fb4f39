"""Fast path for big numeric lists: ``{0.1, 2, {3.5*^-3, ...}}`` without the grammar.

Plain LALR reads about 1 MB/s; weights and data sets are megabytes of numbers. A text (or a
brace group inside a larger text) made only of braces, commas, whitespace and number tokens is
converted here with ``str.split`` and ``float``/``int`` over whole runs, and any shape the fast
path is unsure of (``{1 2}``, ``{1,}``, ``{- 1}``, ``2^^101``...) makes it give up (return
``None``) so the grammar reads it instead. Every number goes through the same rules as the
grammar (`numbers.number_value`), so both paths give identical values.

Result type: nested tuples of Python numbers, exactly what wolframclient's WXF reader returns
for a list of numbers written by ``export`` (it exports tuples as plain WXF lists, not packed
arrays). numpy arrays only come from ``NumericArray[...]`` (see `parser`).
"""

from __future__ import annotations

import re
from typing import Any

from wlbridge.syntax.numbers import NumberError, number_value

_NUM = r"(?:\d+\.?\d*|\.\d+)(?:``?(?:[+-]?(?:\d+\.?\d*|\.\d+))?)?(?:\*\^[+-]?\d+)?"
_SIGNED = rf"-?{_NUM}"
#: Candidates: only characters a numeric list can contain (no letters, quotes or operators
#: other than the sign and the pieces of a number).
CANDIDATE_RE = re.compile(r"[\s\d.,{}\-*^`+]+")
GROUP_RE = re.compile(r"\{[\s\d.,{}\-*^`+]*\}")
_PIECES = re.compile(r"[{}]|[^{}]+")
_TOKEN = re.compile(_SIGNED)
# A run of machine reals (each with a '.' and at most 16 significant digits plus sign/zeros,
# no marks or exponents): float() reads those exactly as number_value would.
_SIMPLE_FLOATS = re.compile(r"\s*-?\d{1,16}\.\d*\s*(?:,\s*-?\d{1,16}\.\d*\s*)*")
_SIMPLE_INTS = re.compile(r"\s*-?\d{1,18}\s*(?:,\s*-?\d{1,18}\s*)*")


def _long_mantissa(run: str) -> bool:
    # A mantissa with 17+ significant digits is an arbitrary-precision real (a Decimal), which
    # float() would silently round: look closer only where a long digit run exists.
    for m in _DIGIT_RUN.finditer(run):
        if len(m.group().replace(".", "").lstrip("0")) >= 17:
            return True
    return False


_DIGIT_RUN = re.compile(r"[\d.]{18,}")


def _convert_run(run: str) -> list[Any] | None:
    """Values of ``n, n, ...`` (no braces, no empty items); ``None`` if any is not a number."""
    if _SIMPLE_FLOATS.fullmatch(run) and not _long_mantissa(run):
        return list(map(float, run.split(",")))
    if _SIMPLE_INTS.fullmatch(run):
        return list(map(int, run.split(",")))
    out = []
    for part in run.split(","):
        tok = part.strip()
        if not _TOKEN.fullmatch(tok):
            return None
        neg = tok.startswith("-")
        try:
            v = number_value(tok[1:] if neg else tok)
        except NumberError:
            return None
        if neg:
            if not isinstance(v, (int, float)):
                return None  # signed Rational or Decimal: leave it to the grammar
            v = -v
        out.append(v)
    return out


def numeric_list(text: str, max_depth: int) -> Any | None:
    """The nested tuples for a text that is exactly one numeric list, or ``None``."""
    stack: list[list[Any]] = []
    need_comma = False  # the last thing in the open list was an item
    result: Any = None
    for m in _PIECES.finditer(text):
        piece = m.group()
        if piece == "{":
            if need_comma or result is not None:
                return None
            stack.append([])
            if len(stack) > max_depth:
                return None
        elif piece == "}":
            if not stack or (not need_comma and stack[-1]):
                return None  # "{1,}" has a Null item: the grammar's business
            done = tuple(stack.pop())
            if stack:
                stack[-1].append(done)
                need_comma = True
            else:
                result = done
        elif not stack:
            if piece.strip():
                return None
        elif not need_comma and piece.strip() and not piece.rstrip().endswith(","):
            vals = _convert_run(piece)  # the common case: "n, n, ..., n" filling a list
            if vals is None:
                return None
            stack[-1].extend(vals)
            need_comma = True
        else:
            parts = piece.split(",")
            if len(parts) == 1:
                if piece.strip():
                    return None
                continue
            if parts[0].strip():
                if need_comma:
                    return None
                items = parts
            elif need_comma:
                items = parts[1:]
            else:
                return None
            last_empty = not items[-1].strip()
            if last_empty:
                items = items[:-1]
            if items:
                vals = _convert_run(",".join(items))
                if vals is None:
                    return None
                stack[-1].extend(vals)
            need_comma = not last_empty
    if stack or result is None:
        return None
    return result
