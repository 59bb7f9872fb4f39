"""Generator data: ``NetTrain[net, f]`` with a Python function producing the batches.

``f`` is called as NetTrain calls it, once per batch while training runs, with an association
(a mapping) whose "BatchSize", "Round", "Batch" and "AbsoluteBatch" are those of the batch it
is to make (the other §9.11 progress keys, e.g. "Net" or "BatchLossList", are there too,
computed when read), and returns exactly BatchSize examples in any data form `wlbridge.data`
accepts (a list of ``input -> output`` rules or ``(x, y)`` pairs, a dict of columns, arrays).
So a generator that augments or synthesises data gives fresh data every batch and round.
``(f, {"RoundLength": m})`` (Wolfram ``{f, "RoundLength" -> m}``) makes a round
``ceil(m / BatchSize)`` batches; the default is one batch. From the terminal, DATA
``pkg.mod:function`` names ``f``; ``ValidationSet -> {f, "RoundLength" -> m}`` calls ``f``
afresh for each validation pass.

Batch 1 is made before training (NetTrain checks the first batch up front; here it also gives
the open port shapes; its association has only the four keys above) and is trained first, so
each batch is asked for once; the loop asks for every later batch in its "gen" phase
(`engine.generated`). A function that fails, returns a wrong form or a batch of another
size or shape stops training with one ``NetTrain::invgenout`` message naming the batch.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import numpy as np
from wolframclient.language.expression import WLFunction, WLSymbol

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


def _is_function(x: Any) -> bool:
    """A Python function; not a class, and not a Wolfram expression (wolframclient's symbols
    and expressions are callable too: a list of two rules is data, not a generator)."""
    return callable(x) and not isinstance(x, type | WLSymbol | WLFunction)


def generator_spec(data: Any) -> tuple[Any, int | None] | None:
    """``(f, round length or None)`` when ``data`` is a generator form, else None."""
    if _is_function(data):
        return data, None
    if isinstance(data, tuple | list) and len(data) == 2 and _is_function(data[0]):
        opts = data[1]
        if isinstance(opts, dict) and set(opts) <= {"RoundLength"}:
            n = opts.get("RoundLength")
            if isinstance(n, int) and not isinstance(n, bool) and n > 0:
                return data[0], n
        raise message("NetTrain", "invtdata", "a generator is given as f or {f, \"RoundLength\" "
                      "-> n} with n a positive integer.")
    return None


def first_batch(fn: Any, batch_size: int, ports: list[str], validation: bool = False) -> Any:
    """Batch 1, called before training (the open port shapes come from it), as raw columns."""
    from wlbridge.data import raw_columns

    info = {"BatchSize": batch_size, "Round": 1, "Batch": 1,
            "AbsoluteBatch": 0 if validation else 1}
    name = _name(info, validation)
    cols = raw_columns(call(fn, info, name), ports, _what(name))
    return {p: _stack(list(c)) for p, c in cols.items()}


def generated_data(fn: Any, round_length: int | None, batch_size: int, ports: Any,
                   first: Any, validation: bool = False) -> Any:
    """The engine's `GeneratedData` for ``fn``: ``first`` (batch 1's raw columns) checked
    against the training ports, and the maker of every later batch."""
    from engine.generated import GeneratedData, batches_per_round
    from wlbridge.data import to_dataset

    def make(info: Any) -> Any:
        name = _name(info, validation)
        return to_dataset(call(fn, info, name), ports, what=_what(name))

    first_ds = to_dataset(first, ports, what=_what(_name({"Batch": 1, "AbsoluteBatch": 1,
                                                          "Round": 1}, validation)))
    return GeneratedData(make, batch_size, batches_per_round(round_length, batch_size),
                         first_ds)


def call(fn: Any, info: Any, name: str) -> Any:
    """``fn(info)``; a failure or no value is ``NetTrain::invgenout`` naming the batch."""
    try:
        batch = fn(info)
    except WLMessage:
        raise
    except Exception as err:  # the user's function failed: say where, not a traceback
        raise _err(f"the generator failed on {name}: {type(err).__name__}: {err}.") from None
    if batch is None:
        raise _err(f"the generator returned nothing for {name}.")
    return batch


def _name(info: Any, validation: bool) -> str:
    from engine.generated import batch_name

    return batch_name(info, validation)


def _what(name: str) -> str:
    return f"output of the generator for {name}"


def _stack(col: list[Any]) -> Any:
    """A column as one numeric array when its examples are regular, else the list itself."""
    try:
        arr = np.asarray(col)
    except ValueError:
        return col
    return arr if arr.dtype != object else col
