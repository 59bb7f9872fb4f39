"""Tokens of Wolfram InputForm, in one linear pass.

Strings and ``(* nested (* comments *) *)`` are found with ``str.find``-style scans (no regex
that keeps per-character state, so a 10 MB string literal costs its own size, not gigabytes),
brackets are paired here (a clear error at the bracket that does not match, and a nesting limit),
and every operator spelling comes from the generated table `optable`. Big numeric brace groups
found by the fast path arrive as ready values keyed by their start offset: nothing is ever
substituted into the text, so no marker can be confused with what the user wrote.

A token is ``(kind, value, start)``; kinds are the constants below.
"""

from __future__ import annotations

import re
from typing import Any

from wlbridge.syntax.errors import WLSyntaxError
from wlbridge.syntax.optable import CONSTANTS, INFIX, LETTERLIKE, POSTFIX, PREFIX
from wlbridge.syntax.strings import StringEscapeError, unescape

NUM, STR, SYM, PAT, SLOT, OUT, OP, VAL, FILE, END = range(10)

#: Deepest bracket nesting accepted (see `parser.MAX_DEPTH`, the same limit for operators).
MAX_DEPTH = 256

_PUNCT = ["(", ")", "[", "]", "{", "}", "<|", "|>", ",", ":", "??"]
_OPS = sorted(set(INFIX) | set(PREFIX) | set(POSTFIX) | set(_PUNCT), key=len, reverse=True)
_OPS_BY_CHAR: dict[str, list[str]] = {}
for _op in _OPS:
    _OPS_BY_CHAR.setdefault(_op[0], []).append(_op)  # longest first
_ESC = r"\\\[[A-Za-z0-9]+\]|\\:[0-9a-fA-F]{4}|\\\|[0-9a-fA-F]{6}"
_LL = re.escape(LETTERLIKE + "$")
#: Letters that are operators (the postfix transpose sign): never part of a name.
_OP_LETTERS = "".join(sorted(c for c in _OPS if len(c) == 1 and c.isalpha()
                             and c not in LETTERLIKE))
_NOT_OP = f"(?![{re.escape(_OP_LETTERS)}])" if _OP_LETTERS else ""
_LETTER = rf"(?:{_NOT_OP}[^\W\d_]|[{_LL}]|{_ESC})"
_NAME = rf"{_LETTER}(?:{_LETTER}|\d)*"
#: A symbol, escapes (\\[Alpha], \\:00e9) included; `_SYMBOL_PLAIN` is the fast common case.
SYMBOL_RE = re.compile(rf"`?{_NAME}(?:`{_NAME})*")
_PLAIN = rf"(?:{_NOT_OP}[^\W\d_]|[{_LL}])(?:{_NOT_OP}[^\W_]|[{_LL}])*"
_SYMBOL_PLAIN = re.compile(rf"`?{_PLAIN}(?:`{_PLAIN})*")
_BLANK_TAIL = re.compile(rf"_(?:\.|_{{0,2}}(?:`?{_NAME}(?:`{_NAME})*)?)")
_NUMBER = re.compile(r"(?:\d+\^\^[0-9a-zA-Z]+(?:\.(?!\.)[0-9a-zA-Z]*)?|\d+(?:\.(?!\.)\d*)?|\.\d+)"
                     r"(?:``?(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+))?)?(?:\*\^[+-]?\d+)?", re.ASCII)
_SLOT = re.compile(rf"##\d*|#(?:\d+|{_NAME})?")
_OUT = re.compile(r"%(?:%+|\d+)?")
_WS = re.compile(r"\s+")
_DIGITS = "0123456789"
_DIGITS1 = frozenset(_DIGITS)
_UNSET_TAIL = re.compile(r"\s+\.(?![\d.])")  # "x = ." is Unset[x], like "x =."
_FILENAME = re.compile(r"[a-zA-Z0-9`/.\\!\-:_$*~?]+")
_ESCAPE_ONE = re.compile(_ESC)
_COMMENT_MARK = re.compile(r"\(\*|\*\)")
_CLOSE_FOR = {"[": "]", "{": "}", "(": ")", "<|": "|>"}
_CLOSERS = {"]", "}", ")", "|>"}


def _letter(ch: str) -> bool:
    return (ch.isalpha() and ch not in _OP_LETTERS) or ch == "$" or ch in LETTERLIKE


def decode_name(text: str) -> str | None:
    """A symbol's characters with escapes decoded; None when an escape is not a letter."""
    if "\\" not in text:
        return text
    try:
        out = unescape(text)
    except StringEscapeError:
        return None
    for m in _ESCAPE_ONE.finditer(text):
        ch = unescape(m.group())
        if not (_letter(ch) or ch.isdigit()):
            return None
    return out


def _string_end(text: str, start: int) -> int:
    """Offset just past the closing quote of the literal opening at ``start``, or -1."""
    i = start + 1
    while True:
        q = text.find('"', i)
        if q < 0:
            return -1
        k = q - 1
        while text[k] == "\\":
            k -= 1
        if (q - 1 - k) % 2 == 0:
            return q + 1
        i = q + 1


def _comment_end(text: str, start: int) -> int:
    depth, p = 1, start + 2
    while depth:
        c = _COMMENT_MARK.search(text, p)
        if c is None:
            raise WLSyntaxError("sntxi", "comment not terminated: it has no closing *)",
                                text, start, ("*)",))
        depth += 1 if c.group() == "(*" else -1
        p = c.end()
    return p


class _Brackets:
    """Pairs brackets as they are read; an error names the one that does not match."""

    def __init__(self, text: str):
        self.text = text
        self.stack: list[tuple[str, int]] = []

    def see(self, tok: str, start: int) -> None:
        if tok in _CLOSE_FOR:
            self.stack.append((tok, start))
            if len(self.stack) > MAX_DEPTH:
                raise WLSyntaxError("depth", f"brackets nest deeper than {MAX_DEPTH} levels",
                                    self.text, start)
            return
        if not self.stack:
            raise WLSyntaxError("bktmcp", f'"{tok}" has no opening bracket', self.text, start)
        opener, where = self.stack.pop()
        if _CLOSE_FOR[opener] != tok:
            raise WLSyntaxError("bktmcp", f'"{opener}" opened at offset {where} is closed by '
                                f'"{tok}"', self.text, start, (f'"{_CLOSE_FOR[opener]}"',))

    def done(self) -> None:
        if self.stack:
            opener, where = self.stack[-1]
            raise WLSyntaxError("sntxi", f'"{opener}" is never closed', self.text, where,
                                (f'"{_CLOSE_FOR[opener]}"',))


def _string_token(text: str, pos: int) -> tuple[tuple[int, Any, int], int]:
    end = _string_end(text, pos)
    if end < 0:
        raise WLSyntaxError("sntxi", 'string not terminated: it has no closing "', text, pos,
                            ('"',))
    try:
        return (STR, unescape(text[pos + 1:end - 1]), pos), end
    except StringEscapeError as e:
        raise WLSyntaxError(e.tag, str(e), text, pos + 1 + e.offset) from None


def _filename(text: str, pos: int) -> tuple[tuple[int, Any, int], int]:
    """The file name after ``>>``, ``>>>`` or ``<<``: a string literal or bare file characters."""
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    if pos < n and text[pos] == '"':
        return _string_token(text, pos)
    m = _FILENAME.match(text, pos)
    if m is None:
        raise WLSyntaxError("sntxf", "a file name is needed here", text, pos, ("a file name",))
    return (FILE, m.group(), pos), m.end()


def _escaped_char(text: str, pos: int) -> tuple[tuple[int, Any, int], int]:
    """``\\[Name]``/``\\:xxxx`` outside a string: an operator character, or an error."""
    m = _ESCAPE_ONE.match(text, pos)
    if m is not None:
        try:
            ch = unescape(m.group())
        except StringEscapeError as e:
            raise WLSyntaxError(e.tag, str(e), text, pos) from None
        if ch in INFIX or ch in PREFIX or ch in POSTFIX:
            return (OP, ch, pos), m.end()
        if ch in CONSTANTS:
            return (SYM, CONSTANTS[ch], pos), m.end()
    if text.startswith("\\\n", pos):
        return (-1, None, pos), pos + 2  # a line continuation: whitespace
    raise WLSyntaxError("sntxf", f"character {text[pos:pos + 2]!r} cannot start or continue "
                        "an expression", text, pos)


def _special(text: str, pos: int, ch: str) -> tuple[tuple[int, Any, int] | None, int]:
    """Strings and comments; (None, end) for a comment."""
    if ch == '"':
        return _string_token(text, pos)
    return None, _comment_end(text, pos)


def _word(text: str, pos: int) -> tuple[tuple[int, Any, int], int]:
    """A symbol or a pattern (``x``, ``x_``, ``x__h``, ``_.``) starting at ``pos``."""
    m = _SYMBOL_PLAIN.match(text, pos)
    end = m.end() if m else pos
    if end < len(text) and text[end] in "\\`":
        m = SYMBOL_RE.match(text, pos)
        end = m.end() if m else pos
        name = decode_name(text[pos:end]) if m else ""
        if name is None:  # an escape that is no letter ends the name before it
            end = next(e.start() for e in _ESCAPE_ONE.finditer(text, pos, end)
                       if decode_name(e.group()) is None)
            if end == pos:
                return _escaped_char(text, pos)
    if end < len(text) and text[end] == "_":
        tail = _BLANK_TAIL.match(text, end)
        assert tail is not None
        return (PAT, text[pos:tail.end()], pos), tail.end()
    if end == pos:
        return _escaped_char(text, pos)
    name = text[pos:end]
    if "\\" in name:
        name = decode_name(name) or name
    return (SYM, name, pos), end


def _operator(text: str, pos: int, ch: str) -> str:
    for op in _OPS_BY_CHAR.get(ch, ()):
        if text.startswith(op, pos):
            if op == "=." and pos + 2 < len(text) and text[pos + 2] in "0123456789.":
                return "="  # x=.5 is Set[x, 0.5]
            if op == "*" and text.startswith("*)", pos):
                raise WLSyntaxError("sntxf", '"*)" closes no comment', text, pos)
            return op
    raise WLSyntaxError("sntxf", f"character {ch!r} cannot start or continue an expression",
                        text, pos)


def tokenize(text: str, fast: dict[int, tuple[int, Any]] | None = None) -> list[tuple]:
    """All tokens of ``text`` and a final END; ``fast`` maps group starts to (end, value)."""
    toks: list[tuple] = []
    append = toks.append
    brackets = _Brackets(text)
    fast = fast or {}
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        if ch.isspace():
            pos = _WS.match(text, pos).end()
        elif ch in _DIGITS or (ch == "." and text[pos + 1:pos + 2] in _DIGITS1):
            m = _NUMBER.match(text, pos)
            append((NUM, m.group(), pos))
            pos = m.end()
        elif (ch.isalpha() and ch not in _OP_LETTERS) or ch in "$`_\\" or ch in LETTERLIKE:
            tok, pos = _word(text, pos)
            if tok[0] >= 0:
                append(tok)
        elif ch == '"' or (ch == "(" and text.startswith("(*", pos)):
            tok, pos = _special(text, pos, ch)
            if tok is not None:
                append(tok)
        elif ch == "{" and pos in fast:
            end, value = fast[pos]
            brackets.see("{", pos)
            brackets.see("}", end - 1)
            append((VAL, value, pos))
            pos = end
        elif ch == "#" or ch == "%":
            m = (_SLOT if ch == "#" else _OUT).match(text, pos)
            append((SLOT if ch == "#" else OUT, m.group(), pos))
            pos = m.end()
        else:
            value = _operator(text, pos, ch)
            if value in _CLOSE_FOR or value in _CLOSERS:
                brackets.see(value, pos)
            append((OP, value, pos))
            pos += len(value)
            if value == "=":
                m = _UNSET_TAIL.match(text, pos)
                if m is not None:
                    toks[-1] = (OP, "=.", toks[-1][2])
                    pos = m.end()
            elif value in (">>", ">>>", "<<"):
                tok, pos = _filename(text, pos)
                append(tok)
    brackets.done()
    append((END, None, n))
    return toks
