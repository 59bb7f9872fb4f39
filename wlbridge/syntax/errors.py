"""`WLSyntaxError`: where Wolfram text went wrong, with a caret under the spot.

It is a `WLMessage` (``Syntax::tag: text``) so callers that catch NetTrain-style messages catch
syntax errors too; ``line`` and ``column`` are 1-based, ``excerpt`` is the offending line with a
caret line under it, ``expected`` lists what the parser would have accepted (may be empty).
"""

from __future__ import annotations

from wlbridge.messages import WLMessage

_EXCERPT_WIDTH = 60


def position_of(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of character ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


def caret_excerpt(text: str, line: int, column: int) -> str:
    """The ``line``-th line of ``text`` (clipped around ``column``) and a caret line under it."""
    lines = text.split("\n")
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    start = max(0, column - 1 - _EXCERPT_WIDTH // 2)
    piece = src[start:start + _EXCERPT_WIDTH]
    # Keep the excerpt printable on any terminal: control characters and non-ASCII become '?'
    # one for one, so the caret still lines up.
    piece = "".join(ch if " " <= ch <= "~" else "?" for ch in piece)
    prefix = "..." if start else ""
    return f"  {prefix}{piece}\n  {' ' * (len(prefix) + column - 1 - start)}^"


class WLSyntaxError(WLMessage):
    """Wolfram text that cannot be read; ``str()`` names the spot and shows it."""

    def __init__(self, tag: str, text: str, source: str, offset: int,
                 expected: tuple[str, ...] = ()):
        self.line, self.column = position_of(source, offset)
        self.excerpt = caret_excerpt(source, self.line, self.column)
        self.expected = tuple(expected)
        more = f" (expected {', '.join(self.expected)})" if self.expected else ""
        super().__init__(tag, f"{text}{more} at line {self.line}, column {self.column}:\n"
                              f"{self.excerpt}", "Syntax")
