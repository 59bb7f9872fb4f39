"""Pre-scan of Wolfram text before the grammar sees it.

One pass over the text finds string literals and ``(* nested (* comments *) *)`` (which a regular
lexer cannot match), blanks the comments out (keeping newlines, so every line and column the
grammar reports is still right), checks that brackets pair up, and stops nesting deeper than
`MAX_DEPTH` with a clear error instead of letting a later recursive step (equality, writing) fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wlbridge.syntax.errors import WLSyntaxError

#: Deepest bracket (or operator) nesting accepted. Expressions are compared, written and walked
#: recursively downstream; 256 levels is far beyond real nets and options and keeps all of
#: those well inside Python's default recursion limit.
MAX_DEPTH = 256

_INTEREST = re.compile(r'"|\(\*|\*\)|<\||\|>|[\[\]{}()]')
_STRING_BODY = re.compile(r'(?:[^"\\]|\\[\s\S])*"')
_COMMENT_MARK = re.compile(r"\(\*|\*\)")
_CLOSE_FOR = {"[": "]", "{": "}", "(": ")", "<|": "|>"}


@dataclass
class Scan:
    """What the pre-scan found: the text with comments blanked, and string literal spans."""

    text: str
    string_starts: list[int] = field(default_factory=list)
    string_ends: list[int] = field(default_factory=list)


def _blank(piece: str) -> str:
    return re.sub(r"[^\n]", " ", piece)


def prescan(source: str) -> Scan:
    """Blank comments, record strings, check bracket pairing and depth (see module notes)."""
    out: list[str] = []
    scan = Scan(source)
    stack: list[tuple[str, int]] = []
    pos = 0
    last = 0
    n = len(source)
    while True:
        m = _INTEREST.search(source, pos)
        if m is None:
            break
        tok, start = m.group(), m.start()
        if tok == '"':
            end = _STRING_BODY.match(source, start + 1)
            if end is None:
                raise WLSyntaxError("sntxi", "string not terminated: it has no closing \"",
                                    source, start, ('"',))
            scan.string_starts.append(start)
            scan.string_ends.append(end.end())
            pos = end.end()
            continue
        if tok == "(*":
            depth, p = 1, m.end()
            while depth:
                c = _COMMENT_MARK.search(source, p)
                if c is None:
                    raise WLSyntaxError("sntxi", "comment not terminated: it has no closing *)",
                                        source, start, ("*)",))
                depth += 1 if c.group() == "(*" else -1
                p = c.end()
            out.append(source[last:start])
            out.append(_blank(source[start:p]))
            last = pos = p
            continue
        if tok == "*)":
            raise WLSyntaxError("sntxf", "\"*)\" closes no comment", source, start)
        if tok == "|>" and (not stack or stack[-1][0] != "<|"):
            pos = start + 1  # "|" followed by ">": let the grammar judge it
            continue
        if tok in _CLOSE_FOR:
            stack.append((tok, start))
            if len(stack) > MAX_DEPTH:
                raise WLSyntaxError("depth", f"brackets nest deeper than {MAX_DEPTH} levels",
                                    source, start)
        else:
            if not stack:
                raise WLSyntaxError("bktmcp", f"\"{tok}\" has no opening bracket", source, start)
            opener, where = stack.pop()
            if _CLOSE_FOR[opener] != tok:
                raise WLSyntaxError(
                    "bktmcp", f"\"{opener}\" opened at offset {where} is closed by \"{tok}\"",
                    source, start, (f'"{_CLOSE_FOR[opener]}"',))
        pos = m.end()
    if stack:
        opener, where = stack[-1]
        raise WLSyntaxError("sntxi", f"\"{opener}\" is never closed", source, where,
                            (f'"{_CLOSE_FOR[opener]}"',))
    if out:
        out.append(source[last:n])
        scan.text = "".join(out)
    return scan
