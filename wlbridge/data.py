"""NetTrain's data forms (reference §9.2) -> `engine.spec.Dataset` keyed by training ports.

Accepted: ``{in -> out, ...}``, ``{ins} -> {outs}``, ``<|"port" -> {...}, ...|>``, a list of
associations (also inside ``Dataset[...]``), Python forms (a dict of numpy columns ``{"Input": X, "Output": y}``, a tuple
``(X, y)``, a list of ``(x, y)`` pairs), Wolfram text, and files ``.wxf`` (wolframclient),
``.wl``/``.m`` (our parser), ``.npz`` (one array per port) and ``.json`` (a list of records
or an object of columns). Integers and booleans on a real port become reals; one-hot vectors
on a class-index target become indices. The ports are the training net's
inputs: the net's own inputs plus one target per output, named like the output (wl-nets.md §5).

Problems are reported before training with NetTrain's message names (``nodata``, ``invtdata``,
``invinlen``, ``missinslot``, ``contmiss``, ``invsimplein``), naming the port and the 1-based
example index. Class labels of ports with a "Class" coder become 1-based indices here (the
labels are Wolfram values, so this is the Wolfram side's job); "Boolean" becomes 0/1.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from wolframclient.language.expression import WLFunction, WLSymbol

from engine.spec import Dataset, DecoderSpec, EncoderSpec, LengthVar, NetSpec, TensorType
from wlbridge.messages import WLMessage, message
from wlbridge.options.exprs import show

FILE_SUFFIXES = (".wxf", ".wl", ".m", ".npz", ".json")


def _err(tag: str, text: str) -> WLMessage:
    return message("NetTrain", tag, text)


def _head(e: Any) -> str | None:
    if isinstance(e, WLFunction):
        h = e.head
        return h.name.split("`")[-1] if isinstance(h, WLSymbol) else None
    return None


def _is_rule(e: Any) -> bool:
    return _head(e) in ("Rule", "RuleDelayed") and len(e.args) == 2


def load(data: Any) -> Any:
    """The data as an expression/Python value: files read, Wolfram text parsed."""
    if isinstance(data, os.PathLike) or (isinstance(data, str) and
                                         data.lower().endswith(FILE_SUFFIXES)):
        return load_file(Path(data))
    if _head(data) == "File" and data.args and isinstance(data.args[0], str):
        return load_file(Path(data.args[0]))
    if isinstance(data, str):
        from wlbridge.syntax import parse

        return parse(data)
    return data


def load_file(path: Path) -> Any:
    """Read a data file: .wxf, .wl/.m (Wolfram text), .npz (columns by array name)."""
    if not path.exists():
        raise _err("invtdata", f"the data file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise _err("invtdata", f"the data file {str(path)!r} should be .wxf, .wl, .m, .npz or .json.")
    try:
        return _read_file(path, suffix)
    except Exception as err:  # noqa: BLE001 - any reader failure is the file's fault: say so
        lines = str(err).strip().splitlines()  # a syntax error's first line names the place
        reason = lines[0].strip().rstrip(".") if lines else type(err).__name__
        raise _err("invtdata", f"the data file {str(path)!r} cannot be read as "
                   f"{_FILE_KINDS[suffix]}: {reason}.") from None


_FILE_KINDS = {".npz": "a NumPy .npz archive", ".wxf": "WXF", ".wl": "Wolfram text",
               ".m": "Wolfram text", ".json": "JSON"}


def _read_file(path: Path, suffix: str) -> Any:
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if suffix == ".wxf":
        from wolframclient.deserializers import binary_deserialize

        return binary_deserialize(path.read_bytes())
    if suffix == ".json":  # a list of records (Dataset-style) or an object of columns
        import json

        return _from_json(json.loads(path.read_text(encoding="utf-8")))
    from wlbridge.syntax import parse

    return parse(path.read_text(encoding="utf-8"))


def _from_json(value: Any) -> Any:
    """JSON arrays as tuples, as wolframclient gives Wolfram lists (objects stay dicts)."""
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    if isinstance(value, dict):
        return {k: _from_json(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# Ports of the training net


def training_ports(net: NetSpec | Any) -> tuple[dict[str, TensorType], dict[str, Any]]:
    """Input types and coders of the training net: net inputs, then one target per output.

    ``net`` is a `NetSpec`, or anything with ``input_types`` (a training module). The coder of
    a target is the output's decoder (a "Class" decoder makes the target a class label).
    """
    if isinstance(net, NetSpec):
        types = dict(net.inputs) or {"Input": TensorType()}
        coders: dict[str, Any] = dict(net.encoders)
        for name, t in (net.outputs or {"Output": TensorType()}).items():
            dec = net.decoders.get(name)
            if dec is not None and dec.kind == "Class":
                dims = tuple(t.dims[:-1]) if t.dims else ()
                types[name] = TensorType(dims, index_range=len(dec.labels) or None)
            elif dec is None and t.dims and _softmax_output(net):
                types[name] = TensorType(tuple(t.dims[:-1]), index_range=t.dims[-1])
            else:
                types[name] = t
            if dec is not None:
                coders[name] = dec
        return types, coders
    types = dict(getattr(net, "input_types", {}) or {})
    return types, dict(getattr(net, "encoders", {}) or {})


def _softmax_output(net: NetSpec) -> bool:
    """A chain ending in SoftmaxLayer trains against class indices (wl-nets.md §5)."""
    if net.kind != "chain" or not net.nodes:
        return False
    last = list(net.nodes.values())[-1]
    return getattr(last, "kind", None) == "SoftmaxLayer"


# ---------------------------------------------------------------------------------------------
# Forms


def to_dataset(data: Any, net: NetSpec | Any, *, what: str = "training data") -> Dataset:
    """``data`` in any accepted form as a Dataset over the training net's ports.

    Raises `WLMessage` (``NetTrain::invtdata`` and friends) naming port and example index.
    """
    types, coders = training_ports(net)
    columns = _columns(load(data), list(types), what)
    if not columns or all(len(c) == 0 for c in columns.values()):
        raise _err("nodata", f"the {what} contains no examples.")
    missing = [p for p in types if p not in columns]
    if missing:
        raise _err("missinslot", f"the {what} gives no values for the port "
                   f"{missing[0]!r}; the net's training ports are {', '.join(types)}.")
    out: dict[str, Any] = {}
    lengths = {p: len(columns[p]) for p in types}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{p}: {n}" for p, n in lengths.items())
        raise _err("invinlen", f"the ports of the {what} have different numbers of examples "
                   f"({desc}).")
    for port, t in types.items():
        out[port] = _column(port, columns[port], t, coders.get(port), what)
    return Dataset(out)


def raw_columns(data: Any, ports: list[str], what: str = "training data") -> dict[str, Any]:
    """The data's columns by port name, not yet checked (for shape inference from data)."""
    return _columns(load(data), ports, what)


def _columns(data: Any, ports: list[str], what: str) -> dict[str, Any]:
    """Split any form into raw columns by port name."""
    if isinstance(data, Dataset):
        return dict(data.columns)
    if _head(data) == "Dataset" and len(data.args) >= 1:  # Dataset[{<|...|>, ...}]
        return _columns(data.args[0], ports, what)
    if isinstance(data, dict):
        return {str(k): v for k, v in data.items()}
    if _is_rule(data):  # {ins} -> {outs}
        return _simple(data.args[0], data.args[1], ports, what)
    if isinstance(data, tuple) and len(data) == 2 and not any(map(_is_rule, data)) and \
            isinstance(data[0], np.ndarray | list) and not isinstance(data[0], dict):
        return _simple(data[0], data[1], ports, what)  # Python (X, y)
    if isinstance(data, list | tuple):
        if not data:
            raise _err("nodata", f"the {what} contains no examples.")
        if all(_is_rule(e) for e in data):
            return _simple([e.args[0] for e in data], [e.args[1] for e in data], ports, what)
        if all(isinstance(e, dict) for e in data):
            keys = list(data[0])
            for i, e in enumerate(data):
                if list(e) != keys:
                    raise _err("invtdata", f"example {i + 1} of the {what} has keys "
                               f"{list(e)}, not {keys} as the first one.")
            return {str(k): [e[k] for e in data] for k in keys}
        if isinstance(data, list) and all(isinstance(e, tuple) and len(e) == 2 for e in data):
            return _simple([e[0] for e in data], [e[1] for e in data], ports, what)
        bad = next((i for i, e in enumerate(data) if not _is_rule(e)), 0)
        raise _err("invtdata", f"the {what} should be a list of rules input -> output; "
                   f"element {bad + 1} is {_short(data[bad])}.")
    raise _err("invtdata", f"the {what} {_short(data)} is not a list of rules, a rule of "
               "lists, an association of columns, arrays or a file.")


def _simple(ins: Any, outs: Any, ports: list[str], what: str) -> dict[str, Any]:
    """``in -> out`` forms need a net with one input named "Input" and one target."""
    if len(ports) != 2 or ports[0] != "Input":
        raise _err("invsimplein", f"the {what} is given as input -> output rules, which needs "
                   f"a net with one input named \"Input\" and one output; this net's training "
                   f"ports are {', '.join(ports)}. Give an association of columns instead.")
    return {"Input": ins, ports[1]: outs}


def _short(e: Any) -> str:
    """The value as the user wrote it, in Wolfram text, cut to one short line."""
    s = show(e)
    return s if len(s) < 60 else s[:57] + "..."


def _is_missing(e: Any) -> bool:
    return _head(e) == "Missing" or (isinstance(e, WLSymbol) and e.name == "Missing")


def _column(port: str, col: Any, t: TensorType, coder: Any, what: str) -> Any:
    """One port's values checked against its type and coder; numeric arrays where possible."""
    if isinstance(col, np.ndarray) and col.dtype != object:
        values: Sequence[Any] = col
    else:
        values = list(col) if not isinstance(col, np.ndarray) else col.tolist()
        for i, v in enumerate(values):
            if v is None or _is_missing(v):
                raise _err("contmiss", f"example {i + 1} of port {port!r} in the {what} is "
                           "missing.")
    if isinstance(coder, EncoderSpec | DecoderSpec) and coder.kind in ("Class", "Boolean"):
        return _labels(port, values, coder, what)
    if isinstance(coder, EncoderSpec):
        return list(values)  # Characters/Tokens/Scalar: encoded by the engine
    return _numeric(port, values, t, what)


def _labels(port: str, values: Sequence[Any], coder: Any, what: str) -> np.ndarray:
    if coder.kind == "Boolean":
        out = np.empty(len(values), dtype=np.float32)
        for i, v in enumerate(values):
            if not isinstance(v, bool | np.bool_):
                raise _err("invtdata", f"example {i + 1} of port {port!r} in the {what} should "
                           f"be True or False, not {_short(v)}.")
            out[i] = float(v)
        return out
    labels = coder.labels
    index: dict[Hashable, int] = {}
    for k, lab in enumerate(labels, start=1):
        index.setdefault(_key(lab), k)
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values.tolist() if isinstance(values, np.ndarray) else values):
        k = index.get(_key(v))
        if k is None:
            shown = ", ".join(map(str, labels[:10])) + (", ..." if len(labels) > 10 else "")
            raise _err("invtdata", f"example {i + 1} of port {port!r} in the {what} is the "
                       f"class {_short(v)}, which is not one of the labels {{{shown}}}.")
        out[i] = k
    return out


def _key(v: Any) -> Hashable:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, np.generic):
        return _key(v.item())
    return v


def _numeric(port: str, values: Any, t: TensorType, what: str) -> Any:
    """Numbers as a numpy array of the port's shape; variable-length ports stay lists."""
    if t.varying:
        out = [np.asarray(v) for v in values]
        for i, a in enumerate(out):
            if a.dtype.kind not in "biuf":
                raise _err("invtdata", f"example {i + 1} of port {port!r} in the {what} is "
                           f"not numeric: {_short(values[i])}.")
        if not t.is_index:  # integers and booleans on a real port are reals (NetTrain casts)
            out = [a.astype(np.float32) if a.dtype.kind in "biu" else a for a in out]
        return out
    try:
        arr = np.asarray(values)
    except ValueError:
        arr = np.empty(0, dtype=object)
        arr = None
    if arr is None or arr.dtype == object or arr.dtype.kind not in "biuf":
        bad = _first_bad(values, t)
        raise _err("invtdata", f"example {bad + 1} of port {port!r} in the {what} is not an "
                   f"array of numbers of the port's shape: {_short(values[bad])}.")
    if t.is_index and t.dims is not None and arr.ndim == len(t.dims) + 2 and \
            arr.shape[-1] == t.index_range:
        arr = _from_one_hot(port, arr, values, what)
    if t.is_index:
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
            bad = int(np.flatnonzero((arr != np.round(arr)).reshape(len(arr), -1).any(1))[0])
            raise _err("invtdata", f"example {bad + 1} of port {port!r} in the {what} should "
                       f"be integers in 1..{t.index_range}.")
        arr = arr.astype(np.int64)
        out_of_range = (arr < 1) | (arr > t.index_range) if t.index_range else arr < 1
        if out_of_range.any():
            bad = int(np.flatnonzero(out_of_range.reshape(len(arr), -1).any(1))[0])
            raise _err("invtdata", f"example {bad + 1} of port {port!r} in the {what} has a "
                       f"value outside 1..{t.index_range}: {_short(values[bad])}.")
    elif arr.dtype.kind in "biu":  # integers and booleans on a real port are reals
        arr = arr.astype(np.float32)
    want = _fixed_dims(t)
    if want is not None:
        got = arr.shape[1:]
        if got == () and want == (1,):
            arr = arr.reshape(-1, 1)
        elif got != want and not (want == () and got == (1,)):
            raise _err("invtdata", f"example 1 of port {port!r} in the {what} has dimensions "
                       f"{list(got)}, but the port expects {list(want)}.")
        elif want == () and got == (1,):
            arr = arr.reshape(-1)
    # WXF arrays are read-only views of the file's bytes; torch would warn (and must not write)
    return arr if arr.flags.writeable else arr.copy()


def _from_one_hot(port: str, arr: np.ndarray, values: Any, what: str) -> np.ndarray:
    """One-hot class targets (a unit vector per example) as the 1-based indices the
    cross-entropy "Index" target takes; anything but exact unit vectors is refused."""
    unit = np.isin(arr, (0, 1)).all(axis=-1) & (arr.sum(axis=-1) == 1)
    if not unit.all():
        bad = int(np.flatnonzero(~unit.reshape(len(arr), -1).all(1))[0])
        raise _err("invtdata", f"example {bad + 1} of port {port!r} in the {what} should be a "
                   f"class index or a one-hot vector, not {_short(values[bad])}; for "
                   "probability targets use LossFunction -> CrossEntropyLossLayer["
                   "\"Probabilities\"].")
    return arr.argmax(axis=-1) + 1


def _fixed_dims(t: TensorType) -> tuple[int, ...] | None:
    if t.dims is None or any(d is None or isinstance(d, LengthVar) for d in t.dims):
        return None
    return tuple(int(d) for d in t.dims)


def _first_bad(values: Sequence[Any], t: TensorType) -> int:
    """The index of the first example whose shape differs from the first one's (or non-numeric)."""
    first = None
    for i, v in enumerate(values):
        try:
            a = np.asarray(v)
        except ValueError:
            return i
        if a.dtype == object or a.dtype.kind not in "biuf":
            return i
        if first is None:
            first = a.shape
        elif a.shape != first:
            return i
    return 0
