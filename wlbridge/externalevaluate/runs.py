"""A run opened by the paclet under the issue-9 protocol (docs/externalevaluate-protocol.md).

``open_run`` receives the net as its held constructor plus position-keyed arrays and a port
table, checks the options, builds the engine net and loads every array (refusing an unsupported
layer or a wrong array before any data moves). ``add_data`` then receives each port's data as
NumericArray chunks already encoded by the kernel (class targets as 1-based indices, sequences
as a flat array plus lengths); nothing on this path parses data text. ``begin`` assembles the
columns and starts training in a thread; `control` polls, stops and finishes it.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from engine.errors import EngineError
from wlbridge.externalevaluate.rewrite import rewrite_options
from wlbridge.externalevaluate.session import TrainingSession, get_session, register
from wlbridge.externalevaluate.values import failure, snapshot
from wlbridge.messages import message

__all__ = ["ROLES", "Run", "add_data", "begin", "open_run"]

ROLES = ("Training", "Validation")


class Run(TrainingSession):
    """A session whose net came as structure + arrays and whose data comes in chunks."""

    def __init__(self, sid: str):
        super().__init__(sid, lambda info, callback=False: snapshot(info, self.memory, callback))
        self.memory = False  # ReportMemoryUsage: the snapshot carries the memory sample
        self.net: Any = None  # the wlbridge.Net with the kernel's arrays loaded
        self.positions: tuple[Any, ...] = ()
        self.ports: dict[str, Any] = {}
        self.training_ports: tuple[str, ...] = ()
        self.varying: set[str] = set()
        self.index_ports: set[str] = set()  # integer-valued ports (class or token indices)
        self.boolean_targets: set[str] = set()  # outputs with a Boolean decoder
        self.config: Any = None
        self.prop: Any = "TrainedNet"
        self.chunks: dict[tuple[str, str], list[np.ndarray]] = {}
        self.lengths: dict[tuple[str, str], list[np.ndarray]] = {}
        self.counts: dict[tuple[str, str], int] = {}


def _err(tag: str, text: str) -> EngineError:
    return message("NetTrain", tag, text)


def open_run(structure: Any, positions: Any, arrays: Any, ports: Any = None,
             options_text: Any = None, prop: Any = "TrainedNet") -> Any:
    """Check the options and the net, load the arrays by position; the run's id, or a
    ``Failure["NetTrain", ...]`` (bad option, unsupported layer, wrong array) before any data."""
    from wlbridge.externalevaluate.legacy import parse_property

    sid = uuid.uuid4().hex
    try:
        from wlbridge.options import resolve
        from wlbridge.results import check_property

        run = Run(sid)
        run.config = resolve(rewrite_options(run, options_text))
        run.memory = bool(run.config.report_memory_usage)
        run.prop = parse_property(prop)
        if not (isinstance(run.prop, tuple) and not run.prop):
            check_property(run.prop)
        run.ports = {str(k): v for k, v in dict(ports or {}).items()}
        _build(run, structure, positions, arrays)
    except Exception as exc:
        return failure(exc)
    register(sid, run)
    return sid


def _build(run: Run, structure: Any, positions: Any, arrays: Any) -> None:
    from wlbridge.data import training_ports
    from wlbridge.nets.heldform import held_net
    from wlbridge.nets.net import Net
    from wlbridge.nets.positions import load_arrays

    expr = held_net(structure, run.ports)
    net = Net(expr, seed=run.config.random_seed)
    load_arrays(net.module, positions, arrays)
    run.net, run.positions = net, tuple(tuple(p) for p in positions or ())
    types, _ = training_ports(net.spec)
    run.training_ports = tuple(types)
    run.varying = {p for p, t in types.items() if t.varying}
    run.index_ports = {p for p, t in types.items() if t.is_index}
    run.boolean_targets = {p for p, d in net.spec.decoders.items() if d.kind == "Boolean"}


def add_data(sid: str, role: str, port: str, chunk: Any, lengths: Any = None) -> Any:
    """Append one chunk (copied: WXF arrays arrive read-only) for ``role`` and ``port``;
    the number of examples received so far for them, or a ``Failure``."""
    try:
        run = _run(sid)
        if run.thread is not None:
            raise _err("interr", "this run has begun: data must all be sent before begin.")
        key = (_role(role), _port(run, port))
        arr = np.array(chunk)  # a copy, writable
        if arr.dtype == object or arr.ndim == 0:
            raise _err("invtdata", f"the {role} data for port {port!r} should be a numeric "
                       "array with one row per example.")
        if not _absent(lengths):
            lens = np.array(lengths, dtype=np.int64).reshape(-1)
            if (lens < 0).any() or int(lens.sum()) != arr.shape[0]:
                raise _err("invtdata", f"the sequence lengths of a {role} chunk for port "
                           f"{port!r} add up to {int(lens.sum())}, but the flat array has "
                           f"{arr.shape[0]} rows.")
            run.lengths.setdefault(key, []).append(lens)
            n = len(lens)
        else:
            if key in run.lengths:
                raise _err("invtdata", f"port {port!r} got sequence lengths with an earlier "
                           "chunk; send lengths with every chunk of a variable-length port.")
            n = arr.shape[0]
        run.chunks.setdefault(key, []).append(arr)
        run.counts[key] = run.counts.get(key, 0) + n
        return run.counts[key]
    except Exception as exc:
        return failure(exc)


def _absent(x: Any) -> bool:
    """No lengths: Python None, or the symbols None/Null as the kernel may send them."""
    name = getattr(x, "name", None)
    return x is None or (isinstance(name, str) and name.rsplit("`", 1)[-1] in ("None", "Null"))


def _run(sid: Any) -> Run:
    run = get_session(sid)
    if not isinstance(run, Run):
        raise EngineError("nosession", f"{sid!r} was not opened with open_run.", "TorchNetTrain")
    return run


def _role(role: Any) -> str:
    if role not in ROLES:
        raise _err("invtdata", f"the data role {role!r} should be \"Training\" or "
                   "\"Validation\".")
    return role


def _port(run: Run, port: Any) -> str:
    if port not in run.training_ports:
        raise _err("missinslot", f"the net has no training port {port!r}; its training ports "
                   f"are {', '.join(run.training_ports)}.")
    return port


def begin(sid: str) -> Any:
    """Assemble the columns and start training in a thread; True, or a ``Failure`` when a
    port has no data or the ports' example counts differ."""
    try:
        run = _run(sid)
        if run.thread is not None:
            raise _err("interr", "this run has already begun.")
        training = _columns(run, "Training")
        validation = _columns(run, "Validation") if any(
            r == "Validation" for r, _ in run.chunks) else None
    except Exception as exc:
        return failure(exc)
    config = run.config
    if validation is not None:
        config.validation_set = validation
    run.chunks.clear()
    run.lengths.clear()

    def work() -> Any:
        from wlbridge.api import net_train

        return net_train(run.net, training, "All", options=config)

    run.run(work)
    return True


def _columns(run: Run, role: str) -> dict[str, Any]:
    """One role's columns: chunks joined, sequences split by their lengths, class targets and
    index ports as integers, Boolean ones as True/False, every other port as float32 (an
    UnsignedInteger8 image chunk means its real values)."""
    missing = [p for p in run.training_ports if (role, p) not in run.chunks]
    if missing:
        raise _err("missinslot", f"the {role.lower()} data gives no values for the port "
                   f"{missing[0]!r}; the net's training ports are "
                   f"{', '.join(run.training_ports)}.")
    counts = {p: run.counts[(role, p)] for p in run.training_ports}
    if len(set(counts.values())) > 1:
        desc = ", ".join(f"{p}: {n}" for p, n in counts.items())
        raise _err("invinlen", f"the ports of the {role.lower()} data have different numbers "
                   f"of examples ({desc}).")
    out: dict[str, Any] = {}
    for port in run.training_ports:
        chunks = run.chunks[(role, port)]
        flat = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        if port in run.boolean_targets:
            flat = flat.astype(bool)
        elif port in run.index_ports:
            flat = flat.astype(np.int64, copy=False)
        else:  # bytes of an image, integers of a tensor: reals, as the kernel's encoder meant
            flat = flat.astype(np.float32, copy=False)
        lens = run.lengths.get((role, port))
        if lens is not None:
            ends = np.cumsum(np.concatenate(lens))[:-1]
            out[port] = np.split(flat, ends)
        else:
            out[port] = flat
    return out
