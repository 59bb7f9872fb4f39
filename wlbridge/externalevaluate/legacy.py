"""The first-generation entry points: the net and data as Wolfram text or expressions.

`start` trains a net given as its constructor (text or expression) on data in any form
`wlbridge.net_train` reads; `finish` then returns the property as an expression. The paclet no
longer uses this path (an evaluated net is not its constructor, and data text is slow: DESIGN
rule 6); Python clients of the loop and the tests of the queueing machinery do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from wlbridge.externalevaluate.rewrite import rewrite_options
from wlbridge.externalevaluate.session import TrainingSession, get_session, register
from wlbridge.externalevaluate.values import expr, failure, snapshot

__all__ = ["describe", "net_train", "parse_property", "start"]


def parse_property(prop: Any) -> Any:
    """A property as sent: a name, a list of names, or their Wolfram text."""
    if isinstance(prop, str) and prop.strip().startswith(("{", '"')):
        from wlbridge.syntax import parse

        return parse(prop)
    if isinstance(prop, list):
        return tuple(prop)
    return prop


def start(net: Any, data: Any, prop: Any = "TrainedNet", options: Any = None) -> Any:
    """Start training in a background thread; returns the session id (a string), or a
    ``Failure`` when the options are wrong (checked before anything runs)."""
    sid = uuid.uuid4().hex
    session = TrainingSession(sid, snapshot)
    try:
        from wlbridge.options import resolve
        from wlbridge.results import check_property

        config = resolve(rewrite_options(session, options))  # messages now, not in the thread
        prop = parse_property(prop)
        if not (isinstance(prop, tuple) and not prop):
            check_property(prop)
    except Exception as exc:
        return failure(exc)
    register(sid, session)

    def work() -> Any:
        from wlbridge.api import net_train as train

        return train(net, data, prop, options=config)

    session.run(work)
    return sid


def describe(session_id: str) -> Any:
    """Which queue index is which kernel sink or function: ``<|"Sinks" -> {{k, option, spec}},
    "Functions" -> {{k, f}}|>`` (the paclet keeps its own table; this serves other clients)."""
    try:
        s = get_session(session_id)
    except Exception as exc:
        return failure(exc)
    return {"Sinks": tuple((k, o, _spec_expr(v)) for k, o, v in s.sinks),
            "Functions": tuple((k, f) for k, f in s.functions)}


def _spec_expr(spec: Any) -> Any:
    from wlbridge.options.exprs import is_wl

    return spec if is_wl(spec) or isinstance(spec, str | bool) else repr(spec)


def finish_legacy(session: TrainingSession) -> Any:
    """The property a `start` session trained for, as an expression."""
    return expr(session.result)


def net_train(net: Any, data: Any, prop: Any = "TrainedNet", options: Any = None,
              on_step: Callable[[Any], Any] | None = None) -> Any:
    """One-shot: start, wait, finish. Kernel-side log entries and callbacks cannot reach a
    kernel in one call, so they are dropped unless ``on_step`` consumes each `step` answer."""
    from wlbridge.externalevaluate.control import finish, step

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
