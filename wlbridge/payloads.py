"""Engine event payloads -> Wolfram expressions, as NetTrain's loggers would have written them.

The engine emits Python natives, numpy arrays, `engine.events.Symbol` and
`engine.events.Compressed` (reference §3); this module is the one place that turns them into the
expression model (DESIGN rule 1). Mappings and why:

* `Symbol(name)` -> ``WLSymbol(name)``: executor events name a symbol (``NetExecutorCreate``).
* Python ``None`` -> the symbol ``None``: NetTrain payloads say ``None`` (timings never measured,
  the identity permutation), never ``Null``.
* numpy arrays -> nested tuples (Wolfram lists): NetTrain logs packed arrays, whose InputForm is a
  plain list, not ``NumericArray[...]``; numpy scalars -> Python numbers.
* `Compressed(v)` -> ``bytes`` of compressed WXF (a ``ByteArray``; reference §3.11): numeric
  rectangular lists and arrays inside are written as packed arrays, as ``ToPackedArray`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from wolframclient.language.expression import WLSymbol

from engine.events import Compressed, Symbol


def to_wl(value: Any) -> Any:
    """An engine payload as a Wolfram expression (see the module docstring for the mapping)."""
    if value is None:
        return WLSymbol("None")
    if isinstance(value, Symbol):
        return WLSymbol(value.name)
    if isinstance(value, Compressed):
        return compressed_bytes(value.value)
    if isinstance(value, np.ndarray):
        return _nested(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {to_wl(k): to_wl(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(to_wl(v) for v in value)
    return value


def compressed_bytes(value: Any) -> bytes:
    """``ToCompressedBytes[value]``: compressed WXF (``8C:`` header) with arrays packed."""
    from wolframclient.serializers import export

    return export(_packed(value), target_format="wxf", compress=True)


def _nested(x: Any) -> Any:
    return tuple(_nested(v) for v in x) if isinstance(x, list) else x


def _packed(value: Any) -> Any:
    """Like ``ToPackedArray``: numeric rectangular data becomes a packed array."""
    from wolframclient.utils.packedarray import PackedArray

    if isinstance(value, np.ndarray):
        return value.view(PackedArray) if value.dtype.kind in "iuf" and value.ndim else value
    if isinstance(value, (list, tuple)) and value:
        try:
            arr = np.asarray(value)
        except ValueError:  # ragged
            arr = None
        if arr is not None and arr.dtype.kind in "iuf" and not _has_bool(value):
            return arr.view(PackedArray)
        return tuple(_packed(v) for v in value)
    if isinstance(value, dict):
        return {_packed(k): _packed(v) for k, v in value.items()}
    return to_wl(value)


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_bool(v) for v in value)
    return False
