"""NetTrain-style messages: ``Symbol::tag: text``, one line, raised as `WLMessage`."""

from __future__ import annotations

from engine.errors import EngineError


class WLMessage(EngineError):
    """A Wolfram-style message raised for bad input (``NetTrain::badintopt: ...``).

    It is an `EngineError`, so callers catch one type whichever side found the problem.
    """


def message(symbol: str, tag: str, text: str) -> WLMessage:
    """Build the message ``symbol::tag: text``."""
    return WLMessage(tag, text, symbol)
