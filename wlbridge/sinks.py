"""Logger specs (reference §2) -> listeners that write ``{time, absBatch} -> value`` entries.

A listener is `engine.spec.Listener`: ``f(time, abs_batch, payload)``. The time is read once per
entry by the event bus (`engine.events.session_time`: seconds since this Python process started,
the analogue of the kernel's ``SessionTime[]``); payloads become Wolfram expressions here, only
when an entry is actually written (`wlbridge.payloads.to_wl`).

Specs: ``False``/``None`` (off), ``True`` (print the bare value), a `Bag` or ``Bag[...]`` /
``Internal`Bag[...]``, ``File["x.wl"]``, ``OutputStream[name, n]`` or any Python object with
``write``, ``"StandardError"``, or a Python callable (used as the listener itself, receiving the
raw engine payload: the Python-side escape hatch).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from wolframclient.language import wl

from engine.spec import Listener
from wlbridge.options.exprs import fail, head_name, is_call, is_list, is_sym, is_wl, show
from wlbridge.paths import file_problem
from wlbridge.payloads import to_wl

__all__ = ["Bag", "bag", "check_spec", "entry", "to_sink"]


class Bag(list):
    """``Internal`Bag`` in Python: a list of entries, appended in order, read with `contents`."""

    def contents(self) -> tuple[Any, ...]:
        """``BagContents``: the entries so far, as a Wolfram list (a tuple)."""
        return tuple(self)

    def __repr__(self) -> str:
        return f"Bag[<{len(self)} entries>]"


# ``Bag["name"]`` in option text names a bag the caller can fetch with `bag(name)`; an anonymous
# ``Bag[]`` is registered under the option that created it (e.g. ``bag("VerboseLogging")``),
# the latest one winning, because Wolfram text has no other way to hand a Python object back.
_BAGS: dict[str, Bag] = {}
_BAGS_LOCK = threading.Lock()


def bag(name: str) -> Bag:
    """The bag registered under ``name`` (created empty on first use)."""
    with _BAGS_LOCK:
        return _BAGS.setdefault(name, Bag())


def entry(time: float, abs_batch: int, value: Any) -> Any:
    """The logged rule ``{time, absBatch} -> value`` with ``value`` converted to Wolfram."""
    return wl.Rule((float(time), int(abs_batch)), to_wl(value))


def _text(expr: Any) -> str:
    from wlbridge.syntax import to_text

    return to_text(expr)


def _line(time: float, abs_batch: int, value: Any) -> str:
    text = _text(entry(time, abs_batch, value))
    # One entry must stay one line whatever a payload's strings hold.
    return text.replace("\n", " ") + "\n"


# ---------------------------------------------------------------------------------------------
# The sinks


class PrintSink:
    """``True``: print the bare value (no ``{time, batch} ->``) to stdout, as ``Print`` does."""

    def __call__(self, time: float, abs_batch: int, value: Any) -> None:
        text = value if isinstance(value, str) else _text(to_wl(value))
        print(text, file=sys.stdout, flush=True)


class BagSink:
    """Append each entry to a `Bag`."""

    def __init__(self, target: Bag):
        self.bag = target

    def __call__(self, time: float, abs_batch: int, value: Any) -> None:
        self.bag.append(entry(time, abs_batch, value))


class FileSink:
    """``File["x.wl"]``: one InputForm line per entry, appended with a single write.

    The file is deleted when the sink is set up (NetTrain does the same). Each entry opens the
    file for appending, writes its whole line with one ``os.write`` on an ``O_APPEND`` descriptor
    and closes it, so a crash never leaves a torn line and the file can be read while training.
    """

    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))
        self._lock = threading.Lock()
        if os.path.lexists(self.path):
            os.remove(self.path)

    def __call__(self, time: float, abs_batch: int, value: Any) -> None:
        data = _line(time, abs_batch, value).encode("utf-8")
        with self._lock:
            _append(self.path, data)


def _append(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)
        while written < len(data):  # never for regular files, but never lose the tail either
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


class StreamSink:
    """``OutputStream[...]``, ``"StandardError"`` or a Python file-like: one line per entry.

    ``stream`` is a function returning the stream at write time, so ``sys.stderr`` replaced by a
    test harness (or a notebook) is honoured.
    """

    def __init__(self, stream: Callable[[], Any]):
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, time: float, abs_batch: int, value: Any) -> None:
        line = _line(time, abs_batch, value)
        with self._lock:
            out = self.stream()
            out.write(line)
            flush = getattr(out, "flush", None)
            if flush is not None:
                flush()


class AppendPathSink:
    """``OutputStream["path", n]`` naming a file: append to it (without deleting it first)."""

    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))
        self._lock = threading.Lock()

    def __call__(self, time: float, abs_batch: int, value: Any) -> None:
        data = _line(time, abs_batch, value).encode("utf-8")
        with self._lock:
            _append(self.path, data)


# ---------------------------------------------------------------------------------------------
# Specs


_STD_STREAMS = {"stdout": lambda: sys.stdout, "stderr": lambda: sys.stderr}


def check_spec(spec: Any, option: str) -> Any:
    """Validate a logger spec without side effects; returns it, or raises
    ``NetTrain::badnetlogspec`` / ``NetTrain::badnetlogft`` naming ``option``."""
    if spec is None or spec is False or spec is True or is_sym(spec, "None"):
        return spec
    if isinstance(spec, Bag) or spec == "StandardError":
        return spec
    if is_call(spec, "Bag", "Internal`Bag"):
        args = spec.args
        if len(args) == 0 or (len(args) == 1 and (isinstance(args[0], str) or is_list(args[0]))):
            return spec
    elif is_call(spec, "File"):
        if len(spec.args) == 1 and isinstance(spec.args[0], str):
            if spec.args[0].lower().endswith(".wl"):
                return _writable(spec, spec.args[0], option)
            raise fail("badnetlogft", f"Logging file {show(spec.args[0])} given for "
                       f"\"{option}\" is of an unsupported type. Supported types include "
                       "'.wl' files.")
    elif is_call(spec, "OutputStream"):
        if 1 <= len(spec.args) <= 2 and isinstance(spec.args[0], str):
            if spec.args[0] in _STD_STREAMS:
                return spec
            return _writable(spec, spec.args[0], option)
    elif not is_wl(spec) and (hasattr(spec, "write") or callable(spec)):
        return spec
    raise fail("badnetlogspec", f"{show(spec)} given for \"{option}\" is not a supported spec for "
               "a logger, which should be one of True, False, File[...], OutputStream[...], "
               "\"StandardError\", or Internal`Bag[...].")


def _writable(spec: Any, path: str, option: str) -> Any:
    """``spec`` if its file can be written now (checked before training, not at its first
    entry); else ``NetTrain::badnetlogfile`` naming the file, the option and why."""
    problem = file_problem(path)
    if problem is not None:
        raise fail("badnetlogfile", f"Logging file {show(path)} given for \"{option}\" cannot "
                   f"be written: {problem}.")
    return spec


def to_sink(spec: Any, option: str, cache: dict[Any, Listener | None] | None = None
            ) -> Listener | None:
    """A logger spec -> a listener, or None for ``False``/``None``.

    ``cache`` maps specs to sinks already built for this NetTrain call, so one spec given to
    several channels (``VerboseLogging``) shares one sink: one bag, one file deleted once.
    """
    check_spec(spec, option)
    key = _cache_key(spec)
    if cache is not None and key in cache:
        return cache[key]
    sink = _build(spec, option)
    if cache is not None:
        cache[key] = sink
    return sink


def _cache_key(spec: Any) -> Any:
    if spec is None or isinstance(spec, (bool, str)) or is_wl(spec):
        return ("spec", spec)
    # Python objects by identity; the cached sink holds the object, so its id is not reused.
    return ("object", id(spec))


def _build(spec: Any, option: str) -> Listener | None:
    if spec is None or spec is False or is_sym(spec, "None"):
        return None
    if spec is True:
        return PrintSink()
    if isinstance(spec, Bag):
        return BagSink(spec)
    if spec == "StandardError":
        return StreamSink(_STD_STREAMS["stderr"])
    name = head_name(spec)
    if name in ("Bag", "Internal`Bag"):
        return BagSink(_new_bag(spec.args, option))
    if name == "File":
        return FileSink(spec.args[0])
    if name == "OutputStream":
        stream = spec.args[0]
        if stream in _STD_STREAMS:
            return StreamSink(_STD_STREAMS[stream])
        return AppendPathSink(stream)
    if hasattr(spec, "write"):
        return StreamSink(lambda: spec)
    return spec  # a Python callable: the listener itself


def _new_bag(args: tuple[Any, ...], option: str) -> Bag:
    if args and isinstance(args[0], str):
        return bag(args[0])
    fresh = Bag(args[0]) if args else Bag()
    with _BAGS_LOCK:
        _BAGS[option] = fresh
    return fresh
