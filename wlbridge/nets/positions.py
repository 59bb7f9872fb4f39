"""Arrays by position: ``Information[net, "ArraysPositionList"]`` <-> the engine's array paths.

A position is the list NetExtract takes to reach an array: node keys (integers for list-form
containers, strings for named ones; ``"Net"`` inside an operator) then the array's name, e.g.
``{1, "Weights"}``, ``{"lstm", "ForgetGateBiases"}``, ``{2, "Net", "Biases"}``. The engine keys
the same arrays by the same path with every key a string, so the mapping is one to one; the
kernel puts trained arrays back with ``NetReplacePart[net0, Thread[positions -> arrays]]``.
Every array is checked against the built net (the layer exists, has that array, and the
dimensions agree) before training, with a message naming the position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wlbridge.nets.exprs import invnet, short

__all__ = ["engine_path", "load_arrays", "position_text", "trained_arrays"]

Path = tuple[str, ...]


def position_text(position: Any) -> str:
    """``{1, "Weights"}`` as Wolfram writes it."""
    items = position if isinstance(position, (tuple, list)) else (position,)
    return "{" + ", ".join(f'"{p}"' if isinstance(p, str) else str(p) for p in items) + "}"


def engine_path(position: Any) -> Path:
    """``{2, "Net", "Weights"}`` -> ``("2", "Net", "Weights")``."""
    if not isinstance(position, (tuple, list)) or len(position) < 2:
        raise invnet(f"the array position {short(position)} should be a list of node keys "
                     "followed by an array name, like {1, \"Weights\"}")
    out = []
    for p in position:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer, str)):
            raise invnet(f"the array position {position_text(position)} holds {short(p)}, "
                         "which is neither a node key nor an array name")
        out.append(str(int(p)) if not isinstance(p, str) else p)
    if not isinstance(position[-1], str):
        raise invnet(f"the array position {position_text(position)} should end with an "
                     "array name")
    return tuple(out)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "a scalar"


def load_arrays(model: Any, positions: Any, arrays: Any) -> None:
    """Load each array into the built engine ``model`` at its position; a missing layer or
    array, a wrong rank or size, or a count mismatch is one ``NetTrain::invnet`` message."""
    positions = list(positions or ())
    arrays = list(arrays or ())
    if len(positions) != len(arrays):
        raise invnet(f"{len(positions)} array positions but {len(arrays)} arrays were given; "
                     "send Information[net, \"ArraysPositionList\"] and \"ArraysList\" together")
    layers = model.layer_paths()
    by_layer: dict[Path, dict[str, np.ndarray]] = {}
    for position, value in zip(positions, arrays, strict=True):
        path = engine_path(position)
        layer = layers.get(path[:-1])
        where = position_text(position)
        if layer is None or not hasattr(layer, "wolfram_arrays"):
            raise invnet(f"the array position {where} names no layer with arrays in the net")
        live = layer.wolfram_arrays()
        name = path[-1]
        if name not in live or live[name] is None:
            names = ", ".join(k for k, v in live.items() if v is not None) or "none"
            raise invnet(f"the array position {where}: the layer has no array {name!r} "
                         f"(its arrays: {names})")
        arr = np.array(value, dtype=np.float32)  # a copy: WXF arrays arrive read-only
        want = tuple(live[name].shape)
        if arr.shape != want:
            raise invnet(f"the array at position {where} has dimensions {_dims(arr.shape)}, but "
                         f"the net needs {_dims(want)}")
        if not np.isfinite(arr).all():
            raise invnet(f"the array at position {where} holds non-finite numbers")
        by_layer.setdefault(path[:-1], {})[name] = arr
    for layer_path, given in by_layer.items():
        layers[layer_path].set_arrays(given)


def trained_arrays(model: Any, positions: Any = ()) -> tuple[tuple[Any, ...], tuple[np.ndarray, ...]]:
    """(positions, float32 arrays) of the model now: the positions given first, in their order,
    then any other array the engine holds (node keys that are digits written as integers)."""
    exported = model.export_arrays()
    out_pos: list[Any] = []
    out_arr: list[np.ndarray] = []
    seen: set[Path] = set()
    for position in positions or ():
        path = engine_path(position)
        if path in exported and path not in seen:
            seen.add(path)
            out_pos.append(tuple(position))
            out_arr.append(np.ascontiguousarray(exported[path], dtype=np.float32))
    for path, arr in exported.items():
        if path not in seen:
            out_pos.append(tuple(int(k) if k.isdigit() else k for k in path[:-1]) + (path[-1],))
            out_arr.append(np.ascontiguousarray(arr, dtype=np.float32))
    return tuple(out_pos), tuple(out_arr)
