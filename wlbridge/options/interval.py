"""NetTrain's periodic intervals (reference §9.6) -> `engine.spec.Interval`.

Shared by every option that runs something periodically (TrainingProgressFunction,
TrainingProgressReporting, ValidationSet, checkpointing, property histories).
"""

from __future__ import annotations

from typing import Any

from engine.spec import Interval
from wlbridge.options.exprs import fail, is_call, is_int, is_number, show

# Time units a user may write, in seconds.
_SECONDS = {"Seconds": 1.0, "Minutes": 60.0, "Hours": 3600.0, "Days": 86400.0}
_UNITS = ("Batches", "Rounds", "Percent", *_SECONDS)
# Wolfram accepts singular units in Quantity; so do we.
_ALIASES = {u.rstrip("s"): u for u in _UNITS} | {u: u for u in _UNITS}


def parse_interval(expr: Any, default_unit: str = "Rounds", option: str = "Interval") -> Interval:
    """An interval spec -> `Interval`.

    ``expr`` is a positive number in ``default_unit`` ("Rounds" for callbacks, validation and
    checkpoints; "Seconds" for reporting and memory sampling), ``Quantity[n, unit]`` with unit
    Batches, Rounds, Percent, Seconds, Minutes, Hours (or Days), ``Quantity[unit]`` (one unit), or
    an `Interval` already. Non-integer rounds stay fractional (the engine turns them into
    ``ceil(n * batchesPerRound)`` batches once that is known); percent likewise.
    Anything else raises ``NetTrain::invtint`` naming ``option``.
    """
    if isinstance(expr, Interval):
        return expr
    if is_number(expr):
        return _interval(expr, default_unit, expr, option)
    if is_call(expr, "Quantity"):
        args = expr.args
        if len(args) == 1 and isinstance(args[0], str):
            return _interval(1, args[0], expr, option)
        if len(args) == 2 and is_number(args[0]) and isinstance(args[1], str):
            return _interval(args[0], args[1], expr, option)
    raise _bad(expr, option)


def _interval(n: Any, unit: str, expr: Any, option: str) -> Interval:
    unit = _ALIASES.get(unit, "")
    if not unit or not n > 0:
        raise _bad(expr, option)
    if unit == "Batches":
        if not is_int(n) and not float(n).is_integer():
            raise _bad(expr, option)
        return Interval(batches=int(n))
    if unit == "Rounds":
        return Interval(rounds=int(n) if float(n).is_integer() else float(n))
    if unit == "Percent":
        if n > 100:
            raise _bad(expr, option)
        return Interval(percent=float(n))
    return Interval(seconds=float(n) * _SECONDS[unit])


def _bad(expr: Any, option: str):
    return fail("invtint", f"The interval {show(expr)} given for {option} is invalid; use a "
                "positive number or Quantity[n, unit] with unit \"Batches\", \"Rounds\", "
                "\"Percent\", \"Seconds\", \"Minutes\" or \"Hours\".")


def seconds(expr: Any) -> float | None:
    """A positive duration in seconds: a number or ``Quantity[n, time unit]``; None if neither."""
    if is_number(expr):
        return float(expr) if expr > 0 else None
    if is_call(expr, "Quantity") and len(expr.args) == 2 and is_number(expr.args[0]):
        unit = _ALIASES.get(expr.args[1]) if isinstance(expr.args[1], str) else None
        if unit in _SECONDS and expr.args[0] > 0:
            return float(expr.args[0]) * _SECONDS[unit]
    return None
