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

import math
import re
from collections.abc import Iterator
from typing import Any

from wlbridge.syntax.numbers import NumberError, number_value

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:``?(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+))?)?(?:\*\^[+-]?\d+)?"
_TOKEN = re.compile(rf"-?{_NUM}")
#: Characters of brace groups inside a bigger text that may be numeric lists (no letters,
#: quotes, operators), as a regex character class body.
GROUP_CHARS = r"\s\d.,{}\-*^`"
_ALLOWED = b"0123456789.,-{} \t\n\r`*^"
# Digits -> "d", everything else -> " ": a token with 17 significant digits has a run of at
# least 9 digits on one side of its '.', found by a C-speed `bytes.find` (a regex scans at
# ~25 MB/s here, the translate-and-find at ~250 MB/s).
_DIGIT_MAP = bytes(ord("d") if 48 <= i <= 57 else ord(" ") for i in range(256))
_NINE_DIGITS = b"d" * 9


def _may_hold_17_digits(run: str) -> bool:
    return run.encode("ascii").translate(_DIGIT_MAP).find(_NINE_DIGITS) >= 0


_BAD_MARK = re.compile(r"`[\d`+\-.]")  # a precision/accuracy mark with digits: not a machine real


def is_candidate(text: str) -> bool:
    """True when ``text`` has only characters a numeric list can contain (checked in C)."""
    return text.isascii() and not text.encode("ascii").translate(None, _ALLOWED)


def _mantissa_digits(token: str) -> int:
    return len(token.split("*", 1)[0].strip().lstrip("-").replace(".", "").lstrip("0"))


def _general(parts: list[str]) -> list[Any] | None:
    out = []
    for part in parts:
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


def _convert_run(run: str) -> list[Any] | None:
    """Values of ``n, n, ...`` (no braces, no empty items); ``None`` if any is not a number.

    Runs of machine reals (one '.' per item, at most 16 significant digits unless marked with a
    bare "`", optional ``*^`` exponents) are converted by numpy's C text reader in one call
    (correctly rounded, as ``float`` is: both give the nearest double), runs of plain integers
    with ``int``, after cheap whole-run checks; anything else goes token by token through
    `number_value`, the grammar's own rule.
    """
    n = run.count(",") + 1
    original = run  # the fallbacks read the items as written
    has_mark = "`" in run
    has_exp = "*" in run or "^" in run
    dots = run.count(".")
    if dots == n:
        if _may_hold_17_digits(run):
            parts = run.split(",")
            for p in parts:
                if len(p) > 17 and not p.rstrip().endswith("`") and "`" not in p.split("*")[0][-1:]:
                    if _mantissa_digits(p.replace("`", "")) >= 17:
                        return _general(parts)
        if has_mark:
            if _BAD_MARK.search(run):
                return _general(run.split(","))
            run = run.replace("`", "")
        if has_exp:
            if run.count("*^") != run.count("*") or run.count("*^") != run.count("^"):
                return None
            run = run.replace("*^", "e")
        vals = _floats(run, n)
        if vals is None:
            return _general(original.split(","))
        if has_exp and any(v == 0.0 or v in (math.inf, -math.inf) for v in vals):
            return _general(original.split(","))  # under/overflow: arbitrary-precision in Wolfram terms
        return vals
    if dots == 0 and not has_mark and not has_exp:
        try:
            return list(map(int, run.split(",")))
        except ValueError:
            return None
    return _general(run.split(","))


def _floats(run: str, n: int) -> list[float] | None:
    """The ``n`` comma-separated reals of ``run``, or ``None`` if any item is malformed."""
    import warnings

    import numpy as np

    # numpy stops at the first item it cannot read and warns or raises ("could not be read to
    # its end"): any warning or error, or a count that differs from the commas, means a malformed item.
    # Every item has a '.' (checked by the caller) and an item with two dots stops the reader,
    # so an integer item can never slip through as a float.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            arr = np.fromstring(run, sep=",")
        except ValueError:  # numpy >= 2.3 raises instead of warning
            return None
    if caught or arr.size != n:
        return None
    return arr.tolist()


def _ends_with_comma(piece: str) -> bool:
    """``piece.rstrip().endswith(",")`` without copying a many-megabyte run."""
    i = len(piece) - 1
    while i >= 0 and piece[i] in " \t\r\n":
        i -= 1
    return i >= 0 and piece[i] == ","


def _pieces(text: str) -> Iterator[str]:
    """Each "{", each "}" and each run between them, in order.

    ``str.find`` (memchr) over the text, remembering the next position of each brace, so every
    character is scanned once: a regex ``[{}]|[^{}]+`` reads ~100 MB/s here, this ~1 GB/s.
    """
    n = len(text)
    nxt_open = nxt_close = -1
    i = 0
    while i < n:
        if nxt_open < i:
            nxt_open = text.find("{", i)
            if nxt_open < 0:
                nxt_open = n
        if nxt_close < i:
            nxt_close = text.find("}", i)
            if nxt_close < 0:
                nxt_close = n
        j = min(nxt_open, nxt_close)
        if j > i:
            yield text[i:j]
        if j < n:
            yield text[j]
        i = j + 1


def numeric_list(text: str, max_depth: int) -> Any | None:
    """The nested tuples for a text that is exactly one numeric list, or ``None``."""
    stack: list[list[Any]] = []
    need_comma = False  # the last thing in the open list was an item
    result: Any = None
    for piece in _pieces(text):
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
            if not piece.isspace():
                return None
        elif not need_comma and not piece.isspace() and not _ends_with_comma(piece):
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
