"""What the training data say about a net's open ports (NetTrain infers them from the data).

NetTrain fixes "any input port of the net that does not have a fixed shape" from the shape of
the training data, and a size left open, such as ``LinearLayer[]``'s, from the target it is
trained against (wl-nets.md §1.1, §5). `data_port_types` reads the first examples: a number is
"Real", a list or array its dimensions, a column whose examples differ in length a "Varying"
first dimension. A target becomes the output's type only where the automatic loss compares
the output with it elementwise (mean squared): not for outputs with a decoder, nor for those
ending in SoftmaxLayer (their target is a class index, not a probability vector).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.spec import LengthVar, NetSpec, TensorType

# Ids for the varying dims found in data, apart from the converter's (which count from 1).
_DATA_LENGTH_IDS = 1 << 20


def data_port_types(data: Any, spec: NetSpec, explicit_loss: bool = False
                    ) -> tuple[dict[str, TensorType], dict[str, TensorType]]:
    """(input types, output types) the data give for the net's ports that are left open."""
    from engine.wiring import HEADS, wire
    from wlbridge.data import raw_columns

    w = wire(spec, (HEADS.get(spec.kind, spec.kind),))
    outputs = list(w.outputs)
    try:
        columns = raw_columns(data, [*w.inputs, *outputs])
    except Exception:  # the data's own problem is reported, with its message, by to_dataset
        return {}, {}
    ins: dict[str, TensorType] = {}
    for i, name in enumerate(w.inputs):
        declared = spec.inputs.get(name)
        if name in spec.encoders or (declared is not None and _fixed(declared)):
            continue
        t = column_type(columns.get(name), _DATA_LENGTH_IDS + i)
        if t is not None:
            ins[name] = t
    outs: dict[str, TensorType] = {}
    if explicit_loss:
        return ins, outs
    for name in outputs:
        declared = spec.outputs.get(name)
        if name in spec.decoders or (declared is not None and _fixed(declared)):
            continue
        if producer_kind(spec, name) in ("SoftmaxLayer",) or _is_loss_port(spec, name):
            continue
        t = column_type(columns.get(name), _DATA_LENGTH_IDS + 100 + len(outs))
        if t is not None:
            outs[name] = TensorType(t.dims)
    return ins, outs


def _fixed(t: TensorType) -> bool:
    return t.dims is not None and all(d is not None for d in t.dims)


def _is_loss_port(spec: NetSpec, name: str) -> bool:
    kind = producer_kind(spec, name)
    return name == "Loss" or (kind is not None and kind.endswith("LossLayer"))


def producer_kind(spec: NetSpec, port: str) -> str | None:
    """The Wolfram head of the layer producing the net output ``port`` (through containers)."""
    from engine.wiring import wire

    try:
        w = wire(spec, ("net",))
    except Exception:
        return None
    src = w.outputs.get(port)
    if src is None or src[0] is None:
        return None
    node = spec.nodes[src[0]]
    if isinstance(node, NetSpec):
        return producer_kind(node, src[1])
    return node.kind


def column_type(column: Any, length_id: int) -> TensorType | None:
    """The port type a column of examples implies, or None when it says nothing (strings...)."""
    if column is None:
        return None
    if isinstance(column, np.ndarray) and column.dtype != object:
        if column.dtype.kind not in "biuf" or column.ndim == 0:
            return None
        return TensorType(tuple(int(d) for d in column.shape[1:]))
    values = list(column) if not isinstance(column, np.ndarray) else column.tolist()
    shapes = []
    for v in values[:256]:
        if isinstance(v, bool | int | float | np.number | np.bool_):
            shapes.append(())
            continue
        try:
            a = np.asarray(v)
        except ValueError:
            return None
        if a.dtype == object or a.dtype.kind not in "biuf":
            return None
        shapes.append(tuple(int(d) for d in a.shape))
    if not shapes:
        return None
    first = shapes[0]
    if all(s == first for s in shapes):
        return TensorType(first)
    if all(len(s) == len(first) and len(s) >= 1 and s[1:] == first[1:] for s in shapes):
        return TensorType((LengthVar(length_id), *first[1:]))
    return None
