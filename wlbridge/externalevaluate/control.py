"""Polling, stopping and finishing a training session, for runs (`runs.open_run`) and for
first-generation sessions (`legacy.start`) alike."""

from __future__ import annotations

from typing import Any

from engine.errors import EngineError
from wlbridge.externalevaluate.legacy import finish_legacy, parse_property
from wlbridge.externalevaluate.runs import Run
from wlbridge.externalevaluate.session import forget, get_session
from wlbridge.externalevaluate.values import expr, failure, reply

__all__ = ["close", "finish", "net_arrays", "step", "stop"]

#: Properties that are nets: they come back as position-keyed arrays, never as expressions.
NET_PROPERTIES = ("TrainedNet", "FinalNet", "TrainingNet")


def step(session_id: str, seconds: float = 0.2) -> Any:
    """Wait up to ``seconds``; return ``<|"Done" -> bool, "Log" -> {{k, entry}, ...},
    "Progress" -> <|...|>, "Callbacks" -> {{k, assoc}, ...}|>`` with everything queued since
    the last step (``Failure`` for an unknown session)."""
    try:
        return get_session(session_id).drain(seconds)
    except EngineError as exc:
        return failure(exc)


def stop(session_id: str, abort: bool = False) -> bool:
    """Ask training to stop at the next batch, like NetTrain's stop button ("ManualStop"), or
    with ``abort=True`` like an abort ("Aborted"); the net so far comes from `finish`.
    False when the session is unknown or already done."""
    try:
        session = get_session(session_id)
    except EngineError:
        return False
    session.request_stop("AbortTraining" if abort else "StopTraining")
    return not session.done.is_set()


def net_arrays(session_id: str) -> Any:
    """``{positions, arrays}``: the run's arrays now (float32), for a kernel-side
    TrainingProgressFunction that uses #Net; the trained ones once training has ended."""
    from wlbridge.nets.positions import trained_arrays

    try:
        run = _run(session_id)
        if run.done.is_set() and run.result is not None:
            module = run.result["TrainedNet"].module
        elif run.latest_info is not None:
            module = run.latest_info["Net"].module  # a copy made now, in the kernel's thread
        else:
            module = run.net.module  # training has not reached its first batch
        return reply(trained_arrays(module, run.positions))
    except Exception as exc:
        return failure(exc)


def finish(session_id: str, prop: Any = None, timeout: float | None = None) -> Any:
    """Wait for training to end. A run gives ``<|"Positions" -> {...}, "Arrays" -> {...},
    "Results" -> <|prop -> value, ...|>|>`` (or ``<|"File" -> path|>`` over 100 MB); a `start`
    session gives the property as an expression. ``Failure["NetTrain", ...]`` when training
    failed."""
    try:
        session = get_session(session_id)
    except EngineError as exc:
        return failure(exc)
    session.release()  # no more steps will come: kernel callbacks must not wait for one
    if not session.done.wait(timeout):
        return failure(EngineError("timeout", f"training did not end within {timeout} s; call "
                                   "stop first or finish again.", "TorchNetTrain"))
    if not isinstance(session, Run):
        forget(session_id)
    if session.error is not None:
        return failure(session.error)
    try:
        if not isinstance(session, Run):
            return finish_legacy(session)
        return reply(_run_reply(session, session.prop if prop is None else parse_property(prop)))
    except Exception as exc:
        return failure(exc)


def _run_reply(run: Run, prop: Any) -> dict[str, Any]:
    from wlbridge.nets.positions import trained_arrays

    results = run.result
    which = prop if prop in ("FinalNet",) else "TrainedNet"
    positions, arrays = trained_arrays(results[which].module, run.positions)
    return {"Positions": positions, "Arrays": arrays, "Results": _results(results, prop)}


def _results(results: Any, prop: Any) -> dict[str, Any]:
    """Every property as plain data for "All" (nets excluded: they are the arrays; plots
    excluded: the paclet draws them from these lists), else just the ones asked for."""
    if prop == "All" or prop is None:
        names = [p for p in results.properties() if p not in NET_PROPERTIES]
        out = {p: expr(results[p]) for p in names}
        out["RoundLossQuartiles"] = expr(results["RoundLossQuartiles"])
        out["PlotLossQuartiles"] = bool(results.get("$PlotLossQuartiles"))
        return out
    names = list(prop) if isinstance(prop, tuple | list) else [prop]
    return {p: expr(results[p]) for p in names
            if p not in NET_PROPERTIES and not str(p).endswith("Plot")}


def close(session_id: str) -> bool:
    """Free the run (asking it to abort first if it still trains); False if unknown."""
    try:
        session = get_session(session_id)
    except EngineError:
        return False
    if session.thread is not None and not session.done.is_set():
        session.request_stop("AbortTraining")
        session.done.wait(30)
    forget(session_id)
    return True


def _run(session_id: Any) -> Run:
    run = get_session(session_id)
    if not isinstance(run, Run):
        raise EngineError("nosession", f"{session_id!r} was not opened with open_run.",
                          "TorchNetTrain")
    return run
