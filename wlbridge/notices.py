"""Python warnings raised while NetTrain runs, shown as NetTrain messages: one line each.

The engine reports divergence and other training notices with `warnings.warn` (it is
Wolfram-free and a Python library, so callers can filter or catch them); at the wlbridge
boundary they must read as Mathematica's messages do, ``NetTrain::arrdiv: ...``, not as
Python's two-line ``file:line: Category: text`` plus a source line. Only the display changes:
`warnings.catch_warnings` and ``pytest.warns`` still see the warning objects themselves.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_MESSAGE = re.compile(r"^[A-Za-z$][\w$`]*::([A-Za-z$][\w$]*): ")


def message_line(message: Any, category: type | None = None) -> str:
    """The warning as one message line: its own ``Symbol::tag: text`` when it has one, else
    ``wlbridge::warning: Category: text`` (a third-party warning, named as such)."""
    text = " ".join(str(message).split())
    if _MESSAGE.match(text):
        return text
    name = category.__name__ if category is not None else type(message).__name__
    return f"wlbridge::warning: {name}: {text}"


def message_tag(line: str) -> str | None:
    """``arrdiv`` for ``NetTrain::arrdiv: ...``; None for a line without a message name."""
    m = _MESSAGE.match(line)
    return m.group(1) if m else None


def _format(message: Any, category: type, filename: str, lineno: int,
            line: str | None = None) -> str:
    return message_line(message, category) + "\n"


@contextmanager
def warnings_as_messages(always: tuple[type[Warning], ...] = ()) -> Iterator[None]:
    """While the block runs, a displayed warning is one message line (on stderr, as before).

    ``always``: categories shown every time they occur, as a message is on every NetTrain
    call, not once per Python process (the default action); a filter the user set for them
    still wins, since these come after it.
    """
    old = warnings.formatwarning
    with warnings.catch_warnings():
        for category in always:
            warnings.simplefilter("always", category, append=True)
        warnings.formatwarning = _format
        try:
            yield
        finally:
            warnings.formatwarning = old


class MessageWarnings:
    """For the command line: every warning becomes one message line on stderr at once, and
    the tags seen are kept (``arrdiv`` decides the exit code)."""

    def __init__(self) -> None:
        self.tags: set[str] = set()
        self._old: Any = None

    def __enter__(self) -> MessageWarnings:
        self._old = warnings.showwarning
        warnings.showwarning = self._show
        return self

    def _show(self, message: Any, category: type, filename: str, lineno: int,
              file: Any = None, line: str | None = None) -> None:
        text = message_line(message, category)
        tag = message_tag(text)
        if tag is not None:
            self.tags.add(tag)
        print(text, file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        warnings.showwarning = self._old
