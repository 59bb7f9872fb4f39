"""Generator data: ``NetTrain[net, f]`` with a Python function producing the batches.

``f`` is called as NetTrain calls it, with an association (a dict) ``{"BatchSize": n, "Round":
r, "Batch": b, "AbsoluteBatch": b}``, and returns one batch in any data form `wlbridge.data`
accepts (a list of ``input -> output`` rules or ``(x, y)`` pairs, a dict of columns, arrays).
``(f, {"RoundLength": m})`` (Wolfram ``{f, "RoundLength" -> m}``) asks for m examples per
round; the default is one batch. From the terminal, DATA ``pkg.mod:function`` names ``f``.

Limitation (the loop takes a fixed `engine.spec.Dataset`): the calls for one round are made
before training and their examples are reused in every round, so ``"Round"`` is always 1.
"""

from __future__ import annotations

import importlib
import math
import re
from typing import Any

import numpy as np

from wlbridge.messages import WLMessage, message

_MODULE_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _err(text: str) -> WLMessage:
    return message("NetTrain", "invgenout", text)


def is_module_path(text: str) -> bool:
    """True for ``pkg.mod:function`` (a generator named from the terminal)."""
    return bool(_MODULE_PATH.match(text))


def import_generator(text: str) -> Any:
    """The function ``pkg.mod:function`` names, or ``NetTrain::invtdata`` saying why not."""
    mod_name, _, fn_name = text.partition(":")
    try:
        fn = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as err:
        raise message("NetTrain", "invtdata", f"the generator {text!r} cannot be imported "
                      f"({err}).") from None
    if not callable(fn):
        raise message("NetTrain", "invtdata", f"{text!r} is not a function.")
    return fn


def generator_spec(data: Any) -> tuple[Any, int | None] | None:
    """``(f, round length or None)`` when ``data`` is a generator form, else None."""
    if callable(data) and not isinstance(data, type):
        return data, None
    if isinstance(data, tuple | list) and len(data) == 2 and callable(data[0]):
        opts = data[1]
        if isinstance(opts, dict) and set(opts) <= {"RoundLength"}:
            n = opts.get("RoundLength")
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                return data[0], n
        raise message("NetTrain", "invtdata", "a generator is given as f or {f, \"RoundLength\" "
                      "-> n} with n a positive integer.")
    return None


def generate(fn: Any, batch_size: int, round_length: int | None, ports: list[str]) -> dict[str, Any]:
    """One round of batches from ``fn``, as columns by port name."""
    from wlbridge.data import raw_columns

    calls = max(1, math.ceil((round_length or batch_size) / batch_size))
    columns: dict[str, list[Any]] = {}
    for b in range(1, calls + 1):
        info = {"BatchSize": batch_size, "Round": 1, "Batch": b, "AbsoluteBatch": b}
        try:
            batch = fn(info)
        except WLMessage:
            raise
        except Exception as err:  # the user's function failed: say where, not a traceback
            raise _err(f"the generator failed on batch {b}: {type(err).__name__}: {err}.") from None
        if batch is None:
            raise _err(f"the generator returned nothing for batch {b}.")
        cols = raw_columns(batch, ports)
        for port, col in cols.items():
            columns.setdefault(port, []).extend(list(col))
    if round_length is not None:
        columns = {p: c[:round_length] for p, c in columns.items()}
    return {p: _stack(c) for p, c in columns.items()}


def _stack(col: list[Any]) -> Any:
    """A column as one numeric array when its examples are regular, else the list itself."""
    try:
        arr = np.asarray(col)
    except ValueError:
        return col
    return arr if arr.dtype != object else col
