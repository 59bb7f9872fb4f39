"""Options for a run under ExternalEvaluate: kernel-side sinks and functions become Python
callables that queue for the kernel (DESIGN rule 5).

* ``File[...]`` loggers stay in Python and are written here.
* ``True`` (Print), ``Bag[...]``/``Internal`Bag[...]``, ``OutputStream[...]``,
  ``"StandardError"`` and the paclet's placeholder ``KernelSink[k]`` are kernel sinks: their
  entries are queued as ``{k, {time, absBatch} -> value}`` and handed over by `step`.
* Wolfram functions given as TrainingProgressFunction (or the paclet's ``KernelFunction[k]``)
  cannot run in Python: at their interval the progress association is queued as ``{k, assoc}``.
* The kernel draws progress itself, so Python-side panels and bars become None; "Print" rows
  and File[...] reports stay Python's.
"""

from __future__ import annotations

from typing import Any

from wolframclient.language import wl
from wolframclient.language.expression import WLSymbol

from wlbridge.externalevaluate.session import TrainingSession
from wlbridge.options.exprs import as_rule, head_name, is_list, is_wl, key_name

__all__ = ["flat_rules", "rewrite_options"]

# Kernel sink heads besides True and "StandardError".
_KERNEL_SINK_HEADS = ("Bag", "Internal`Bag", "OutputStream")


def _short(name: str | None) -> str | None:
    return None if name is None else name.rsplit("`", 1)[-1]


def rewrite_options(session: TrainingSession, options: Any) -> tuple[Any, ...]:
    """The option list `wlbridge.net_train` receives for ``session``: kernel sinks and
    functions replaced by queueing callables, and the session's stop watcher added."""
    return _Rewriter(session).rewrite(options)


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
        rules = flat_rules(options)
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


def flat_rules(options: Any) -> list[Any]:
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
        return [r for item in options for r in flat_rules(item)]
    return [options]  # not an option: resolve names it in its message
