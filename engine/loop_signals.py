"""SIGINT and SIGTERM while training: stop at the end of the current batch, keep the result.

NetTrain's first abort returns the net trained so far; schedulers and container runtimes
send SIGTERM for the same purpose. A signal handler that raised at once would land anywhere
— mid-update, mid-checkpoint — and leave counts that disagree and files half written. So
while batches run a signal only *asks* the loop to stop; the loop looks at the request at
each batch's end. Further signals within `GRACE_SECONDS` of the first are absorbed (the stop
is under way); a signal after that, while a batch is still running, aborts that batch
(KeyboardInterrupt, the loop drops its counts). Before the loop starts nothing is there to
keep, and a signal interrupts as Python's own SIGINT does; after the loop, signals are
only counted, so the result can be written whole.

`catching_stop_signals()` installs the handlers (main thread only; a nested use shares the
outer one, so the CLI can cover result writing too) and restores the previous ones. A run
stopped this way ends with reason "Aborted" and, when checkpointing, saves its checkpoints
(with the training state, to resume from). In a Python program `net_train` then returns
normally, SIGTERM included: the program sees ``ReasonTrainingStopped`` and decides; the CLI
writes the result and exits 0.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

#: seconds after the first signal during which further signals do not abort the batch
GRACE_SECONDS = 5.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """The signals received and what they ask for; ``phase`` is "setup", "loop" or
    "finishing" (set by the loop)."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.count = 0
        self.first_at: float | None = None
        self.name: str | None = None  # "SIGINT" or "SIGTERM": the first signal of the loop
        self.requested = False

    def handle(self, signum: int, frame: Any) -> None:
        """The signal handler (see the module docstring for what each phase does)."""
        self.count += 1
        now = time.monotonic()
        if self.phase == "loop":
            if not self.requested:
                self.requested, self.first_at = True, now
                self.name = signal.Signals(signum).name
            elif now - self.first_at > GRACE_SECONDS:
                raise KeyboardInterrupt
            return
        if self.phase == "finishing":
            return
        raise KeyboardInterrupt


_ACTIVE: StopSignals | None = None


@contextlib.contextmanager
def catching_stop_signals(restore: bool = True) -> Iterator[StopSignals | None]:
    """Handle SIGINT and SIGTERM with a `StopSignals` for the duration; yields it, or the
    outer one when already installed, or None off the main thread (signals go elsewhere).

    ``restore=False`` (a command about to exit) ignores both signals afterwards, so a late
    signal cannot turn a finished run into a killed one, not even while the interpreter shuts
    down (when Python would reset a handler of its own to the default, killing)."""
    global _ACTIVE
    if _ACTIVE is not None:
        yield _ACTIVE
        return
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    stops = StopSignals()
    old = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, stops.handle)
    _ACTIVE = stops
    try:
        yield stops
    finally:
        _ACTIVE = None
        stops.phase = "finishing"
        if restore:
            for s, h in old.items():
                signal.signal(s, h if h is not None else signal.SIG_DFL)
        else:  # Python's finalisation puts a Python handler back to SIG_DFL, never SIG_IGN
            for s in SIGNALS:
                signal.signal(s, signal.SIG_IGN)
