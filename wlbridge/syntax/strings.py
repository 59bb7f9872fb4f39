"""Wolfram string literals: reading escapes and writing ASCII-only text.

Read: ``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\r``, ``\\b``, ``\\f``, ``\\:xxxx``, ``\\|xxxxxx``,
``\\.xx``, three octal digits, ``\\[Name]`` and a backslash-newline (a line continuation,
dropped). Anything else after a backslash is an error, as in Mathematica.
Write: printable ASCII as is; the escapes above for quote, backslash and the common controls;
every other character as ``\\:xxxx`` (or ``\\|xxxxxx`` beyond the BMP), so a written line is pure
ASCII, one line, and reads back identically in Mathematica, Mathics3 and here.
"""

from __future__ import annotations

import re

from wlbridge.syntax.named_chars import NAMED_CHARACTERS

_SIMPLE = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\n": ""}
_ESCAPE_RE = re.compile(
    r"\\(?:(?P<simple>[\"\\ntrbf\n])|:(?P<h4>[0-9a-fA-F]{4})|\|(?P<h6>[0-9a-fA-F]{6})"
    r"|\.(?P<h2>[0-9a-fA-F]{2})|(?P<oct>[0-7]{3})|\[(?P<name>[A-Za-z0-9]*)\]|(?P<bad>.?))",
    re.S,
)


class StringEscapeError(ValueError):
    """A bad escape inside a string literal; ``offset`` is its index in the literal's body."""

    def __init__(self, text: str, offset: int, tag: str):
        super().__init__(text)
        self.offset = offset
        self.tag = tag


def _replace(m: re.Match[str]) -> str:
    if m["simple"] is not None:
        return _SIMPLE[m["simple"]]
    code = m["h4"] or m["h6"] or m["h2"]
    if code is not None:
        value = int(code, 16)
        if value > 0x10FFFF:
            raise StringEscapeError(f"character code {code} is beyond Unicode", m.start(), "stresc")
        return chr(value)
    if m["oct"] is not None:
        return chr(int(m["oct"], 8))
    if m["name"] is not None:
        ch = NAMED_CHARACTERS.get(m["name"])
        if ch is None:
            raise StringEscapeError(f"unknown character name \\[{m['name']}]", m.start(), "sntufn")
        return ch
    bad = m["bad"]
    what = f"\\{bad}" if bad else "a backslash at the end"
    raise StringEscapeError(f"unknown string escape {what}", m.start(), "stresc")


def unescape(body: str) -> str:
    """The characters of a string literal's body (the text between the quotes)."""
    return _ESCAPE_RE.sub(_replace, body) if "\\" in body else body


_WRITE = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b",
          "\f": "\\f"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f-\U0010ffff]')


def _write_char(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _WRITE:
        return _WRITE[ch]
    code = ord(ch)
    return f"\\:{code:04x}" if code <= 0xFFFF else f"\\|{code:06x}"


def quote(s: str) -> str:
    """``s`` as a Wolfram string literal in pure ASCII."""
    return '"' + _NEEDS_ESCAPE.sub(_write_char, s) + '"'


def ascii_name(name: str) -> str:
    """A symbol name with any non-ASCII letter written as ``\\:xxxx`` (still one symbol)."""
    return name if name.isascii() else _NEEDS_ESCAPE.sub(_write_char, name)
