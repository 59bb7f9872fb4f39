"""The functions the TorchNetTrain paclet calls through ExternalEvaluate: start / step / stop /
finish, and a one-shot `net_train`.

Training runs in a background thread of the ExternalEvaluate Python process, so the kernel can
poll it in short slices (`step`) and stay responsive: progress panels, kernel-side
TrainingProgressFunction calls and kernel-side log sinks run in the kernel between slices, and an
``Abort[]`` there becomes `stop`, which returns the net trained so far (DESIGN rule 5).

What lives where (DESIGN rule 5):

* ``File[...]`` loggers stay in Python and are written here.
* ``True`` (Print), ``Bag[...]``/``Internal`Bag[...]``, ``OutputStream[...]``,
  ``"StandardError"`` and the paclet's placeholder ``KernelSink[k]`` are kernel sinks: their
  entries are queued as ``{k, {time, absBatch} -> value}`` and handed over by `step`.
* Wolfram functions given as TrainingProgressFunction (or the paclet's ``KernelFunction[k]``)
  cannot run in Python: at their interval the progress association is queued as ``{k, assoc}``.

All functions take and return values that ExternalEvaluate can carry as WXF: Wolfram text or
expressions in, expressions out. Problems come back as ``Failure["NetTrain", <|...|>]`` carrying
the NetTrain message, not as Python tracebacks.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from wolframclient.language import wl
from wolframclient.language.expression import WLFunction, WLSymbol

from engine.errors import EngineError
from engine.threads import before_torch
from wlbridge.options.exprs import as_rule, head_name, is_list, is_wl, key_name

before_torch()  # the session starts before torch loads: its default thread count is known exactly

__all__ = ["describe", "finish", "net_train", "sessions", "start", "step", "stop"]

# Options whose value is a logger spec (reference §2.2); VerboseLogging binds several channels.
_KERNEL_SINK_HEADS = ("Bag", "Internal`Bag", "OutputStream")
# Progress keys that grow with training (lists) or cost work to build (nets): not sent per step.
_HEAVY_KEYS = ("Net", "BatchLossList", "RoundLossList", "ValidationLossList",
               "RoundMeasurementsLists", "ValidationMeasurementsLists", "Weights", "Gradients")


def _short(name: str | None) -> str | None:
    return None if name is None else name.rsplit("`", 1)[-1]


# ---------------------------------------------------------------------------------------------
# Sessions


class TrainingSession:
    """One TorchNetTrain call: the training thread, and what it queued for the kernel."""

    def __init__(self, sid: str):
        self.id = sid
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self.log: list[tuple[int, Any]] = []
        self.callbacks: list[tuple[int, Any]] = []
        self.progress: dict[str, Any] = {}
        self.sinks: list[tuple[int, str, Any]] = []  # (index, option, original spec)
        self.functions: list[tuple[int, Any]] = []  # (index, original function)
        self.stop_request: str | None = None  # "StopTraining" or "AbortTraining"
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.started = time.monotonic()

    # -- called from the training thread ------------------------------------------------------

    def push_log(self, index: int, item: Any) -> None:
        with self._wake:
            self.log.append((index, item))
            self._wake.notify_all()

    def push_callback(self, index: int, info: dict[str, Any]) -> None:
        snapshot = _progress_expr(info)
        with self._wake:
            self.callbacks.append((index, snapshot))
            self.progress = snapshot
            self._wake.notify_all()

    def watch(self, info: dict[str, Any]) -> str | None:
        """The per-batch Python callback: keeps the latest progress, and answers a stop request
        with the loop's own ``"StopTraining"``/``"AbortTraining"`` protocol."""
        snapshot = _progress_expr(info)
        with self._wake:
            self.progress = snapshot
        return self.stop_request

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

    def finished(self) -> None:
        with self._wake:
            self.done.set()
            self._wake.notify_all()


_SESSIONS: dict[str, TrainingSession] = {}
_SESSIONS_LOCK = threading.Lock()


def _session(sid: Any) -> TrainingSession:
    with _SESSIONS_LOCK:
        s = _SESSIONS.get(sid) if isinstance(sid, str) else None
    if s is None:
        raise EngineError("nosession", f"{sid!r} is not a running TorchNetTrain session; "
                          "start one with wlbridge.externalevaluate.start.", "TorchNetTrain")
    return s


def sessions() -> tuple[str, ...]:
    """Ids of the sessions started and not yet finished (the kernel's ``Abort[]`` recovery)."""
    with _SESSIONS_LOCK:
        return tuple(_SESSIONS)


# ---------------------------------------------------------------------------------------------
# Option rewriting: kernel-side sinks and functions -> Python callables that queue


class _QueueSink:
    """A listener that queues ``{time, absBatch} -> value`` for kernel sink ``index``."""

    def __init__(self, session: TrainingSession, index: int):
        self.session, self.index = session, index

    def __call__(self, time_: float, abs_batch: int, value: Any) -> None:
        from wlbridge.sinks import entry

        self.session.push_log(self.index, entry(time_, abs_batch, value))


class _QueueFunction:
    """A TrainingProgressFunction that queues the progress association for kernel function
    ``index``; the kernel's answer ("StopTraining", ...) comes back through `stop`."""

    def __init__(self, session: TrainingSession, index: int):
        self.session, self.index = session, index

    def __call__(self, info: dict[str, Any]) -> None:
        self.session.push_callback(self.index, info)


def _is_kernel_sink(spec: Any) -> bool:
    if spec is True or spec == "StandardError":
        return True
    name = head_name(spec)
    return name in _KERNEL_SINK_HEADS or _short(name) == "KernelSink"


def _placeholder_index(spec: Any, head: str) -> int | None:
    if _short(head_name(spec)) == head and len(spec.args) == 1 and isinstance(spec.args[0], int):
        return int(spec.args[0])
    return None


class _Rewriter:
    """Builds the option list `wlbridge.net_train` receives for one session."""

    def __init__(self, session: TrainingSession):
        self.session = session
        self.sinks: dict[int, _QueueSink] = {}
        self.functions: dict[int, _QueueFunction] = {}

    @staticmethod
    def _fresh(used: list[tuple[Any, ...]]) -> int:
        """Sinks and functions are numbered apart, from 1, after any placeholder index."""
        return max([0, *(item[0] for item in used)]) + 1

    def sink(self, spec: Any, option: str) -> Any:
        if not _is_kernel_sink(spec):
            return spec  # File[...], False, None, Python objects: Python's own
        k = _placeholder_index(spec, "KernelSink") or self._fresh(self.session.sinks)
        self.session.sinks.append((k, option, spec))
        # One index, one sink: VerboseLogging's channels then share it as NetTrain's do.
        return self.sinks.setdefault(k, _QueueSink(self.session, k))

    def function(self, f: Any) -> Any:
        if not is_wl(f):
            return f  # a Python callable runs here
        k = _placeholder_index(f, "KernelFunction") or self._fresh(self.session.functions)
        self.session.functions.append((k, f))
        return self.functions.setdefault(k, _QueueFunction(self.session, k))

    def internal(self, value: Any) -> Any:
        pairs = value.items() if isinstance(value, dict) else None
        if pairs is None:
            if not is_list(value):
                return value  # let resolve say what is wrong
            out = []
            for item in value:
                rule = as_rule(item)
                name = key_name(rule[0]) if rule else None
                if rule and name and name.endswith("Logging"):
                    item = wl.Rule(rule[0], self.sink(rule[1], name))
                out.append(item)
            return tuple(out)
        return {k: self.sink(v, key_name(k)) if (key_name(k) or "").endswith("Logging") else v
                for k, v in pairs}

    def progress_functions(self, value: Any) -> list[Any]:
        """TrainingProgressFunction's value -> a list of callback specs with kernel functions
        replaced (None gives no specs)."""
        if value is None or (isinstance(value, WLSymbol) and _short(value.name) == "None"):
            return []
        single = not is_list(value) or (bool(value) and not is_list(value[0])
                                        and all(as_rule(x) for x in value[1:]))
        specs = [value] if single else list(value)
        out = []
        for spec in specs:
            if is_list(spec) and spec:
                out.append((self.function(spec[0]), *spec[1:]))
            else:
                out.append(self.function(spec))
        return out

    def rewrite(self, options: Any) -> tuple[Any, ...]:
        rules = _flat_rules(options)
        seen: set[str] = set()
        out: list[Any] = []
        callbacks: list[Any] = []
        for rule in rules:
            pair = as_rule(rule)
            name = key_name(pair[0]) if pair else None
            if name in seen and name in ("TrainingProgressFunction", "TrainingProgressReporting",
                                         "InternalOptions"):
                continue  # the first occurrence of a public option wins, as in Wolfram
            if name is not None:
                seen.add(name)
            if name == "InternalOptions":
                out.append(wl.Rule(pair[0], self.internal(pair[1])))
            elif name == "TrainingProgressFunction":
                callbacks = self.progress_functions(pair[1])
            elif name == "TrainingProgressReporting":
                out.append(wl.Rule(pair[0], _python_reporting(pair[1])))
            else:
                out.append(rule)
        if "TrainingProgressReporting" not in seen:
            out.append(wl.Rule("TrainingProgressReporting", WLSymbol("None")))
        # The stop flag is read every batch through the loop's own callback protocol.
        callbacks.append((self.session.watch, wl.Rule("Interval", wl.Quantity(1, "Batches"))))
        out.append(wl.Rule("TrainingProgressFunction", tuple(callbacks)))
        return tuple(out)


def _python_reporting(value: Any) -> Any:
    """The kernel draws progress itself (from `step`'s "Progress"): Python-side panels and
    progress bars would only write terminal codes into the kernel's output, so they become
    None; "Print" rows and File[...] reports stay Python's."""
    def one(form: Any) -> Any:
        if is_list(form) and form:
            return (one(form[0]), *form[1:]) if one(form[0]) is not None else None
        if form in ("Panel", "ProgressIndicator") or (
                isinstance(form, WLSymbol) and _short(form.name) == "Automatic"):
            return None
        return form

    if is_list(value) and value and not (len(value) > 1 and all(as_rule(x) for x in value[1:])):
        kept = tuple(x for x in (one(v) for v in value) if x is not None)
        return kept if kept else WLSymbol("None")
    kept = one(value)
    return WLSymbol("None") if kept is None else kept


def _flat_rules(options: Any) -> list[Any]:
    """Options as text, a rule, a (nested) list of rules or a dict -> a flat list of rules."""
    if options is None:
        return []
    if isinstance(options, str):
        from wlbridge.syntax import parse

        if not options.strip():
            return []
        options = parse("{" + options + "}")
    if isinstance(options, dict):
        return [wl.Rule(k, v) for k, v in options.items()]
    if as_rule(options) is not None:
        return [options]
    if is_list(options):
        return [r for item in options for r in _flat_rules(item)]
    return [options]  # not an option: resolve names it in its message


# ---------------------------------------------------------------------------------------------
# Expressions out


def _progress_expr(info: dict[str, Any]) -> dict[str, Any]:
    """The progress association without the costly entries (nets, growing lists), as Wolfram
    values; lazy entries are never forced."""
    from wlbridge.payloads import to_wl

    out: dict[str, Any] = {}
    for key, value in dict.items(info):
        if key in _HEAVY_KEYS or callable(value) or type(value).__name__ == "_Lazy":
            continue
        try:
            out[key] = _expr(to_wl(value) if not isinstance(value, float | int | str) else value)
        except Exception:  # a value with no Wolfram form: leave it out rather than fail training
            continue
    return out


def _expr(value: Any) -> Any:
    """A result value as a WXF-able Wolfram expression (nets and results by their `to_wl`)."""
    if hasattr(value, "to_wl") and not is_wl(value):
        return value.to_wl()
    if isinstance(value, float) and math.isinf(value):
        return wl.DirectedInfinity(1 if value > 0 else -1)
    if isinstance(value, float) and math.isnan(value):
        return WLSymbol("Indeterminate")
    if isinstance(value, dict):
        return {_expr(k): _expr(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(_expr(x) for x in value)
    return value


def failure(exc: BaseException) -> WLFunction:
    """``Failure["NetTrain", <|...|>]`` for a NetTrain message (or any other Python error)."""
    if isinstance(exc, EngineError):
        symbol, tag, text = exc.symbol, exc.tag, exc.text
    else:
        symbol, tag, text = "NetTrain", "interr", f"{type(exc).__name__}: {exc}"
    return wl.Failure(symbol, {"MessageTemplate": text, "MessageParameters": (),
                               "Symbol": symbol, "Tag": tag,
                               "Message": f"{symbol}::{tag}: {text}"})


# ---------------------------------------------------------------------------------------------
# The entry points


def start(net: Any, data: Any, prop: Any = "TrainedNet", options: Any = None) -> Any:
    """Start training in a background thread; returns the session id (a string), or a
    ``Failure`` when the options are wrong (checked before anything runs)."""
    sid = uuid.uuid4().hex
    session = TrainingSession(sid)
    try:
        rewritten = _Rewriter(session).rewrite(options)
        from wlbridge.options import resolve

        config = resolve(rewritten)  # option messages now, from the kernel's call, not the thread
        prop = _property(prop)
        from wlbridge.results import check_property

        if not (isinstance(prop, tuple) and not prop):
            check_property(prop)
    except Exception as exc:
        return failure(exc)
    with _SESSIONS_LOCK:
        _SESSIONS[sid] = session

    def run() -> None:
        try:
            from wlbridge.api import net_train as train

            session.result = train(net, data, prop, options=config)
        except BaseException as exc:  # reported by finish; the thread must never die silently
            session.error = exc
        finally:
            session.finished()

    session.thread = threading.Thread(target=run, name=f"TorchNetTrain-{sid[:8]}", daemon=True)
    session.thread.start()
    return sid


def _property(prop: Any) -> Any:
    if isinstance(prop, str) and prop.strip().startswith(("{", '"')):
        from wlbridge.syntax import parse

        return parse(prop)
    if isinstance(prop, list):
        return tuple(prop)
    return prop


def step(session_id: str, seconds: float = 0.2) -> Any:
    """Wait up to ``seconds``; return ``<|"Done" -> bool, "Log" -> {{k, entry}, ...},
    "Progress" -> <|...|>, "Callbacks" -> {{k, assoc}, ...}|>`` with everything queued since
    the last step (``Failure`` for an unknown session)."""
    try:
        return _session(session_id).drain(seconds)
    except EngineError as exc:
        return failure(exc)


def stop(session_id: str, abort: bool = False) -> bool:
    """Ask training to stop at the next batch, like NetTrain's stop button ("ManualStop"), or
    with ``abort=True`` like an abort ("Aborted"); the net so far comes from `finish`.
    False when the session is unknown or already done."""
    try:
        session = _session(session_id)
    except EngineError:
        return False
    session.stop_request = "AbortTraining" if abort else "StopTraining"
    return not session.done.is_set()


def finish(session_id: str, timeout: float | None = None) -> Any:
    """Wait for training to end and return the property asked for as an expression
    (``TrainedNet`` as its constructor with NumericArray weights, ``"All"`` as the results
    association), or ``Failure["NetTrain", ...]`` with the message when training failed."""
    try:
        session = _session(session_id)
    except EngineError as exc:
        return failure(exc)
    if not session.done.wait(timeout):
        return failure(EngineError("timeout", f"training did not end within {timeout} s; call "
                                   "stop first or finish again.", "TorchNetTrain"))
    with _SESSIONS_LOCK:
        _SESSIONS.pop(session_id, None)
    if session.error is not None:
        return failure(session.error)
    try:
        return _expr(session.result)
    except Exception as exc:
        return failure(exc)


def describe(session_id: str) -> Any:
    """Which queue index is which kernel sink or function: ``<|"Sinks" -> {{k, option, spec}},
    "Functions" -> {{k, f}}|>`` (the paclet keeps its own table; this serves other clients)."""
    try:
        s = _session(session_id)
    except EngineError as exc:
        return failure(exc)
    return {"Sinks": tuple((k, o, _spec_expr(v)) for k, o, v in s.sinks),
            "Functions": tuple((k, f) for k, f in s.functions)}


def _spec_expr(spec: Any) -> Any:
    return spec if is_wl(spec) or isinstance(spec, str | bool) else repr(spec)


def net_train(net: Any, data: Any, prop: Any = "TrainedNet", options: Any = None,
              on_step: Callable[[Any], Any] | None = None) -> Any:
    """One-shot: start, wait, finish. Kernel-side log entries and callbacks cannot reach a
    kernel in one call, so they are dropped unless ``on_step`` consumes each `step` answer."""
    sid = start(net, data, prop, options)
    if not isinstance(sid, str):
        return sid
    while True:
        answer = step(sid, 0.5)
        if on_step is not None:
            on_step(answer)
        if not isinstance(answer, dict) or answer["Done"]:
            break
    return finish(sid)
