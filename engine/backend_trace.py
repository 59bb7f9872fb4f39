"""MXNetLogging on PyTorch: every operator call during training, logged before it runs (§3.5).

NetTrain logs each MXNet library call as ``name[args]`` with large data elided. Here the
backend is PyTorch's dispatcher: a `TorchDispatchMode` sees every ATen operator of the forward
pass, the backward pass and the optimizer step. Each call becomes one Wolfram-free payload, a
tuple whose first element is the operator name (the head of NetTrain's form)::

    ("aten::addmm", ("Tensor", (8,), "float32"), ("Tensor", (64, 4), "float32"),
                    ("Tensor", (4, 8), "float32"))

Argument encoding (small on purpose; this channel is "extremely verbose" already):

* a tensor -> ``("Tensor", dims, dtype)``: the data itself is never copied, only its shape
  (NetTrain's ``"NumericArray"[AngleBracket[dims], type]``) and torch's dtype name;
* a list/tuple of at most ``SMALL`` plain numbers (sizes, strides, dims) -> a tuple of them;
  a longer one -> ``("AngleBracket", n)``, the elision NetTrain writes as ``AngleBracket[n]``;
  a list of tensors -> a tuple of tensor descriptions (elided the same way when long);
* int/float/bool/str/None -> themselves; anything else (dtype, device, layout, memory
  format, generator) -> its ``str``;
* keyword arguments, when present, come last as one dict ``{name: encoded value}``.

The operator name is ``namespace::name`` with the overload appended unless it is ``default``
(``"aten::add.Tensor"``), so the same name always means the same kernel.

Enter `trace_backend` only when the ``Backend`` channel is live: the mode adds a Python call to
every operator. ``emit`` runs with the mode suspended, so a listener may use torch freely::

    ctx = contextlib.nullcontext()
    if events.active("Backend"):
        ctx = trace_backend(lambda v: events.emit("Backend", v))
    with ctx:
        ...training loop...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Longest list of plain numbers kept verbatim (NetTrain keeps small integer arrays, < 20 leaves).
SMALL = 19


def op_name(func: Any) -> str:
    """``"aten::addmm"`` for an OpOverload; the overload is appended unless it is ``default``."""
    schema = getattr(func, "_schema", None)
    if schema is None:
        return str(func)
    overload = schema.overload_name
    return f"{schema.name}.{overload}" if overload and overload != "default" else schema.name


def describe_tensor(t: torch.Tensor) -> tuple[str, tuple[int, ...], str]:
    """``("Tensor", dims, dtype)`` for one tensor."""
    return ("Tensor", tuple(t.shape), str(t.dtype).removeprefix("torch."))


def encode_arg(a: Any) -> Any:
    """One call argument in the payload encoding of the module docstring."""
    if isinstance(a, torch.Tensor):
        return describe_tensor(a)
    if a is None or isinstance(a, bool | int | float | str):
        return a
    if isinstance(a, list | tuple):
        if len(a) > SMALL:
            return ("AngleBracket", len(a))
        return tuple(encode_arg(x) for x in a)
    return str(a)


def call_payload(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None) -> tuple:
    """The logged form of one operator call: ``(name, *encoded_args[, {kwargs}])``."""
    payload = (op_name(func), *(encode_arg(a) for a in args))
    if kwargs:
        payload += ({k: encode_arg(v) for k, v in kwargs.items()},)
    return payload


class BackendTraceMode(TorchDispatchMode):
    """A dispatch mode that hands each operator call to ``emit`` before running it."""

    def __init__(self, emit: Callable[[Any], None]):
        super().__init__()
        self._emit = emit
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        self._emit(call_payload(func, args, kwargs))
        return func(*args, **(kwargs or {}))


@contextmanager
def trace_backend(emit: Callable[[Any], None]) -> Iterator[BackendTraceMode]:
    """Trace every PyTorch operator call inside the block to ``emit`` (one payload per call)."""
    with BackendTraceMode(emit) as mode:
        yield mode
