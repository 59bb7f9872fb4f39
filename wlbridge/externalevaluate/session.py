"""One TorchNetTrain call in the ExternalEvaluate process: its training thread and the queues
the kernel drains with `step` (DESIGN rule 5).

The training thread pushes kernel-side log entries ``{k, {time, absBatch} -> value}`` and
kernel-function callbacks ``{k, info}`` in the order they happen, and keeps a progress snapshot
(taken at most every `SNAPSHOT_SECONDS`, so a fast loop pays almost nothing per batch). The
kernel's `step` waits a slice for something new and takes everything queued so far.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from engine.errors import EngineError
from wlbridge.externalevaluate.values import CALLBACK_KEYS

__all__ = ["SNAPSHOT_SECONDS", "TrainingSession", "forget", "get_session", "register",
           "sessions"]

#: How often the per-batch watcher refreshes the progress snapshot (the panel's rate).
SNAPSHOT_SECONDS = 0.1


class TrainingSession:
    """One TorchNetTrain call: the training thread, and what it queued for the kernel."""

    def __init__(self, sid: str, snapshot: Callable[..., dict[str, Any]]):
        self.id = sid
        self._snapshot = snapshot
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self.log: list[tuple[int, Any]] = []
        self.callbacks: list[tuple[int, Any]] = []
        self.progress: dict[str, Any] = {}
        self._last_snapshot = 0.0
        self.sinks: list[tuple[int, str, Any]] = []  # (index, option, original spec)
        self.functions: list[tuple[int, Any]] = []  # (index, original function)
        self.stop_request: str | None = None  # "StopTraining" or "AbortTraining"
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.model: Any = None  # the engine module being trained (net_arrays reads it)
        self.started = time.monotonic()

    # -- called from the training thread ------------------------------------------------------

    def push_log(self, index: int, item: Any) -> None:
        with self._wake:
            self.log.append((index, item))
            self._wake.notify_all()

    def push_callback(self, index: int, info: dict[str, Any]) -> None:
        snapshot = self._snapshot(info, callback=True)
        with self._wake:
            self.callbacks.append((index, snapshot))
            self.progress = {k: v for k, v in snapshot.items() if k not in CALLBACK_KEYS}
            self._last_snapshot = time.monotonic()
            self._wake.notify_all()

    def watch(self, info: dict[str, Any]) -> str | None:
        """The per-batch Python callback: refreshes the progress now and then, and answers a
        stop request with the loop's own ``"StopTraining"``/``"AbortTraining"`` protocol."""
        now = time.monotonic()
        if now - self._last_snapshot >= SNAPSHOT_SECONDS:
            snapshot = self._snapshot(info)
            with self._wake:
                self.progress = snapshot
                self._last_snapshot = now
        return self.stop_request

    def run(self, work: Callable[[], Any]) -> None:
        """Run ``work`` in the training thread; its value or error waits for `finish`."""
        def target() -> None:
            try:
                self.result = work()
            except BaseException as exc:  # reported by finish; the thread never dies silently
                self.error = exc
            finally:
                self.finished()

        self.thread = threading.Thread(target=target, name=f"TorchNetTrain-{self.id[:8]}",
                                       daemon=True)
        self.thread.start()

    def finished(self) -> None:
        with self._wake:
            self.done.set()
            self._wake.notify_all()

    # -- called from the kernel's side ---------------------------------------------------------

    def drain(self, seconds: float) -> dict[str, Any]:
        """Wait up to ``seconds`` for something new (or the end), then hand over the queues."""
        deadline = time.monotonic() + max(0.0, float(seconds))
        with self._wake:
            while not (self.log or self.callbacks or self.done.is_set()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
            log, self.log = self.log, []
            calls, self.callbacks = self.callbacks, []
            progress = dict(self.progress)
        return {"Done": self.done.is_set(),
                "Log": tuple((k, e) for k, e in log),
                "Progress": progress,
                "Callbacks": tuple((k, a) for k, a in calls)}


_SESSIONS: dict[str, Any] = {}
_LOCK = threading.Lock()


def register(sid: str, session: Any) -> None:
    with _LOCK:
        _SESSIONS[sid] = session


def forget(sid: str) -> Any:
    with _LOCK:
        return _SESSIONS.pop(sid, None)


def get_session(sid: Any) -> Any:
    """The session (or run) with id ``sid``; ``TorchNetTrain::nosession`` when there is none."""
    with _LOCK:
        s = _SESSIONS.get(sid) if isinstance(sid, str) else None
    if s is None:
        raise EngineError("nosession", f"{sid!r} is not a running TorchNetTrain session; "
                          "start one with wlbridge.externalevaluate.open_run.", "TorchNetTrain")
    return s


def sessions() -> tuple[str, ...]:
    """Ids of the sessions started and not yet finished or closed (``Abort[]`` recovery)."""
    with _LOCK:
        return tuple(_SESSIONS)
