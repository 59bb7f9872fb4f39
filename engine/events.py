"""Event channels: the loop emits, listeners (wlbridge sinks) receive `{time, absBatch} -> value`.

A channel nobody listens to costs one dict lookup: `emit` takes the payload or a zero-argument
function that builds it, and calls that function only when the channel is live (DESIGN.md rule 4,
like the paclet's `Hold` logger that never evaluates its argument).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from engine.spec import Listener

# The kernel analogue of SessionTime[]: seconds since this Python process started.
_PROCESS_START = psutil.Process().create_time()


def session_time() -> float:
    """Seconds since the Python process started (Wolfram's `SessionTime[]` for the kernel)."""
    return time.time() - _PROCESS_START


@dataclass(frozen=True)
class Symbol:
    """A Wolfram symbol in an event payload (e.g. `NetExecutorCreate`), kept Wolfram-free."""

    name: str


@dataclass(frozen=True)
class Compressed:
    """A payload NetTrain logs compressed (reference §3.11): wlbridge writes ``value`` as a
    ``ByteArray`` of compressed WXF; the engine only marks it."""

    value: Any


class Events:
    """The loop's event bus; ``abs_batch`` is the 1-based absolute batch, 0 during setup."""

    def __init__(self, listeners: dict[str, Listener] | None = None):
        self.listeners: dict[str, Listener] = dict(listeners or {})
        self.abs_batch = 0

    def active(self, channel: str) -> bool:
        return channel in self.listeners

    def emit(self, channel: str, value: Any | Callable[[], Any]) -> None:
        """Deliver ``value`` (or ``value()`` when callable) to ``channel``'s listener, if any."""
        listener = self.listeners.get(channel)
        if listener is None:
            return
        if callable(value):
            value = value()
        listener(session_time(), self.abs_batch, value)
