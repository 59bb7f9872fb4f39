"""Values that cross back to the kernel: WXF-able expressions, NetTrain failures, progress
snapshots, and replies too large for one message (a temporary WXF file instead)."""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

import numpy as np
from wolframclient.language import wl
from wolframclient.language.expression import WLFunction, WLSymbol

from engine.errors import EngineError
from wlbridge.options.exprs import is_wl

__all__ = ["CALLBACK_KEYS", "REPLY_FILE_BYTES", "expr", "failure", "reply", "snapshot"]

#: Replies larger than this go through a temporary WXF file (the paclet Imports and deletes it).
REPLY_FILE_BYTES = 100 * 2**20
#: Progress keys that grow with training or cost work to build: not sent per step.
_HEAVY_KEYS = ("Net", "BatchLossList", "RoundLossList", "ValidationLossList",
               "RoundMeasurementsLists", "ValidationMeasurementsLists", "Weights", "Gradients",
               "ExampleLosses", "BatchMeasurements", "$MemoryUsage",
               "$InternalTimings")  # the same object as "$Timings": sent once
#: What a kernel TrainingProgressFunction gets besides (NetTrain's association, §9.11; its
#: "Net" is fetched with net_arrays only when the function uses it).
CALLBACK_KEYS = ("BatchLossList", "RoundLossList", "ValidationLossList",
                  "RoundMeasurementsLists", "ValidationMeasurementsLists", "$InternalTimings")
#: How many of the latest batch losses the live loss plot gets with each snapshot.
RECENT_LOSSES = 200


def snapshot(info: dict[str, Any], memory: bool = False,
             callback: bool = False) -> dict[str, Any]:
    """The progress association for the kernel's panel or print table, as Wolfram values:
    costly entries left out, lazy ones not forced (the memory sample only when
    ReportMemoryUsage asked for it), the last `RECENT_LOSSES` batch losses as
    ``"RecentBatchLosses"``. For a kernel TrainingProgressFunction (``callback``) the loss and
    measurement lists come too. Runs in the training thread."""
    from wlbridge.payloads import to_wl

    out: dict[str, Any] = {}
    for key, value in dict.items(info):
        if key in _HEAVY_KEYS or callable(value) or type(value).__name__ == "_Lazy":
            continue
        try:
            out[key] = expr(to_wl(value) if not isinstance(value, float | int | str) else value)
        except Exception:  # a value with no Wolfram form: leave it out rather than fail training
            continue
    losses = dict.get(info, "BatchLossList") or ()
    out["RecentBatchLosses"] = tuple(float(x) for x in losses[-RECENT_LOSSES:])
    if callback:
        for key in CALLBACK_KEYS:
            try:
                out[key] = expr(to_wl(info[key]))
            except Exception:  # e.g. no validation: the key stays out
                continue
    if memory:
        try:
            out["$MemoryUsage"] = expr(to_wl(info["$MemoryUsage"]))
        except Exception:
            pass
    return out


def expr(value: Any) -> Any:
    """A result value as a WXF-able Wolfram expression (nets and results by their `to_wl`)."""
    if hasattr(value, "to_wl") and not is_wl(value):
        return value.to_wl()
    if isinstance(value, float) and math.isinf(value):
        return wl.DirectedInfinity(1 if value > 0 else -1)
    if isinstance(value, float) and math.isnan(value):
        return WLSymbol("Indeterminate")
    if isinstance(value, dict):
        return {expr(k): expr(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return tuple(expr(x) for x in value)
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


def _nbytes(value: Any) -> int:
    """A cheap upper estimate of the WXF size: arrays by their bytes, lists item by item."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_nbytes(k) + _nbytes(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(_nbytes(v) for v in value) + 8
    if isinstance(value, str):
        return len(value) + 8
    if isinstance(value, WLFunction):
        return _nbytes(value.args) + 16
    return 16


def reply(value: Any, limit: int | None = None) -> Any:
    """``value`` itself, or ``<|"File" -> path|>`` of a temporary WXF file holding it when the
    reply would exceed ``limit`` bytes (`REPLY_FILE_BYTES` unless given; one ZMQ message that
    size would stall the kernel)."""
    if _nbytes(value) <= (REPLY_FILE_BYTES if limit is None else limit):
        return value
    from wolframclient.serializers import export

    fd, path = tempfile.mkstemp(prefix="wlbridge-reply-", suffix=".wxf")
    os.close(fd)
    export(value, path, target_format="wxf")
    return {"File": path}
