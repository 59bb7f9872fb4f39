"""ExecutorLogging payloads: executor create / inherit / reshape events (reference §3.2).

The first element is a *symbol* (`engine.events.Symbol`), the rest plain data::

    (Symbol("NetExecutorCreate"), {"Input": (64, 4), "Target": (64,)}, 1, 0, 8123456789)
    (Symbol("NetExecutorInherit"), {"Input": (64, 12, 4)}, 1, 0)
    (Symbol("NetExecutorReshape"), 32, 1)            # new batch size, or a dims dict

Codes follow MXNet, which NetTrain logs verbatim:

* context (device type): CPU = 1, GPU = 2 (MXNet's ``cpu``/``gpu`` dev-type ids; 3 would be
  pinned CPU memory, never used here). ``"cuda"``, ``"cuda:1"``, ``"GPU"`` are GPUs.
* data type: Real32 = 0, Real64 = 1, Real16 = 2 (MXNet's float32/float64/float16 type flags).
  ``"Mixed"`` keeps float32 arrays, so it logs 0.

For PyTorch an "executor" is the module bound to a batch shape: the loop logs Create when it
first runs a batch shape (with the batch dimension filled in), Inherit when a new bucket
reuses the module for another sequence length, and Reshape when only the batch size changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psutil

from engine.events import Symbol

CONTEXT_CODES = {"cpu": 1, "gpu": 2}
DTYPE_CODES = {"Real32": 0, "Real64": 1, "Real16": 2, "Mixed": 0}
_TORCH_DTYPE_NAMES = {"float32": "Real32", "float64": "Real64", "float16": "Real16"}


def context_code(device: Any) -> int:
    """MXNet device-type code of ``device`` (a string or ``torch.device``): CPU 1, GPU 2."""
    kind = str(getattr(device, "type", device)).split(":")[0].lower()
    if kind in ("cuda", "gpu"):
        return CONTEXT_CODES["gpu"]
    return CONTEXT_CODES["cpu"]


def dtype_code(dtype: Any) -> int:
    """MXNet type flag of a WorkingPrecision name or torch dtype: Real32 0, Real64 1, Real16 2."""
    name = str(dtype).removeprefix("torch.")
    name = _TORCH_DTYPE_NAMES.get(name, name)
    if name not in DTYPE_CODES:
        raise ValueError(f"no executor data-type code for {dtype!r}")
    return DTYPE_CODES[name]


def device_memory_limit(device: Any) -> int:
    """Bytes a new executor may use on ``device``: available RAM for the CPU, free device
    memory (torch's view of the driver) for a GPU."""
    if context_code(device) == CONTEXT_CODES["gpu"]:
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device if ":" in str(device) else "cuda"))
        return int(free)
    return int(psutil.virtual_memory().available)


def _dims(input_dims: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {str(k): tuple(int(d) for d in v) for k, v in input_dims.items()}


def executor_create(
    input_dims: Mapping[str, Any], device: Any, dtype: Any, memory_limit: int
) -> tuple[Any, ...]:
    """``{NetExecutorCreate, inputDims, context, dataType, memoryLimit}``: full dims per input,
    batch dimension included."""
    return (Symbol("NetExecutorCreate"), _dims(input_dims), context_code(device),
            dtype_code(dtype), int(memory_limit))


def executor_inherit(input_dims: Mapping[str, Any], device: Any, dtype: Any) -> tuple[Any, ...]:
    """``{NetExecutorInherit, inputDims, context, dataType}``: a bucket sharing the master's
    memory."""
    return (Symbol("NetExecutorInherit"), _dims(input_dims), context_code(device), dtype_code(dtype))


def executor_reshape(dims_or_batch_size: int | Mapping[str, Any], device: Any) -> tuple[Any, ...]:
    """``{NetExecutorReshape, dims, context}``: ``dims`` is the new batch size (an int) or the
    new input dims; no data type, as in NetTrain."""
    dims = (int(dims_or_batch_size) if isinstance(dims_or_batch_size, int)
            else _dims(dims_or_batch_size))
    return (Symbol("NetExecutorReshape"), dims, context_code(device))
