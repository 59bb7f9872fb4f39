"""One TorchNetTrain call in the ExternalEvaluate process: its training thread and the queues
the kernel drains with `step` (DESIGN rule 5).

The training thread pushes kernel-side log entries ``{k, {time, absBatch} -> value}`` and
kernel-function callbacks ``{k, info}`` in the order they happen, and keeps a progress snapshot
(taken at most every `SNAPSHOT_SECONDS`, so a fast loop pays almost nothing per batch, and once
more when training ends). The kernel's `step` waits a slice for something new and takes
everything queued so far.

A kernel function is called synchronously, as NetTrain calls TrainingProgressFunction: the
training thread waits after queueing its call until the kernel has taken it and come back (the
next `step`), so a "StopTraining" the function returns (sent as `stop`) ends training at the
next batch, and #Net (`net_arrays`) sees the arrays of that very batch. `stop`, `finish` and
`close` release a waiting thread, so a kernel that stops polling never deadlocks it.
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
        self.latest_info: Any = None  # the last batch's info (net_arrays, the final snapshot)
        self.released = False  # set by finish/close: kernel callbacks no longer wait
        self._arrivals = 0  # step calls so far
        self._pushed = 0  # kernel callbacks queued so far
        self._taken = 0  # kernel callbacks handed over so far
        self._handover = -1  # the step call that handed over the latest callbacks
        self.started = time.monotonic()

    # -- called from the training thread ------------------------------------------------------

    def push_log(self, index: int, item: Any) -> None:
        with self._wake:
            self.log.append((index, item))
            self._wake.notify_all()

    def push_callback(self, index: int, info: dict[str, Any]) -> None:
        """Queue a kernel function's call, then wait until the kernel has taken it and come
        back for more (or stopped training, or finished/closed the session)."""
        snapshot = self._snapshot(info, callback=True)
        with self._wake:
            self.callbacks.append((index, snapshot))
            self.progress = {k: v for k, v in snapshot.items() if k not in CALLBACK_KEYS}
            self._last_snapshot = time.monotonic()
            self._pushed += 1
            mine = self._pushed
            self._wake.notify_all()
            while not (self.released or self.stop_request is not None
                       or (self._taken >= mine and self._arrivals > self._handover)):
                self._wake.wait(0.5)

    def release(self) -> None:
        """No more waiting for the kernel (finish/close): training runs to its end."""
        with self._wake:
            self.released = True
            self._wake.notify_all()

    def request_stop(self, how: str) -> None:
        with self._wake:
            self.stop_request = how
            self._wake.notify_all()

    def watch(self, info: dict[str, Any]) -> str | None:
        """The per-batch Python callback: refreshes the progress now and then, and answers a
        stop request with the loop's own ``"StopTraining"``/``"AbortTraining"`` protocol."""
        self.latest_info = info
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
        final = None
        if self.latest_info is not None:
            try:  # the last batch's progress, so the kernel's last row shows the end
                final = self._snapshot(self.latest_info)
            except Exception:
                final = None
        with self._wake:
            if final is not None:
                self.progress = final
            self.done.set()
            self._wake.notify_all()

    # -- called from the kernel's side ---------------------------------------------------------

    def drain(self, seconds: float) -> dict[str, Any]:
        """Wait up to ``seconds`` for something new (or the end), then hand over the queues."""
        deadline = time.monotonic() + max(0.0, float(seconds))
        with self._wake:
            self._arrivals += 1  # a kernel callback handed over earlier may now resume
            arrival = self._arrivals
            self._wake.notify_all()
            while not (self.log or self.callbacks or self.done.is_set()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
            log, self.log = self.log, []
            calls, self.callbacks = self.callbacks, []
            if calls:
                self._taken += len(calls)
                self._handover = arrival
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
