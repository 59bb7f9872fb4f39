"""PlanLogging: a JSON description of the net as PyTorch will run it (reference §3.1).

NetTrain logs ``{"ToNetPlan", maxSeqLens, bytes}`` where ``bytes`` is the MXNet symbol JSON,
compressed. Our counterpart of the symbol JSON is `execution_plan`: one example forward pass
with hooks on every leaf module and a dispatch mode for the operators that run outside them,
recording, in execution order, what ran, on which shapes, with which arrays::

    {"format": "wlbridge-plan-1",
     "inputs":  {"Input": [64, 4]},              # example input shapes (batch dim included)
     "outputs": {"Output": [64, 2]},
     "nodes": [
        {"name": "0", "op": "Linear", "inputs": [[64, 4]], "outputs": [[64, 8]],
         "arrays": {"weight": [8, 4], "bias": [8]}, "ops": ["aten::t", "aten::addmm"]},
        {"name": null, "op": "aten::relu", "inputs": [[64, 8]], "outputs": [[64, 8]]},  # a
        ...                                                                              # functional op
     ],
     "arrays": {"0.weight": {"shape": [8, 4], "dtype": "float32", "trainable": true}, ...}}

``arrays`` lists every parameter and buffer of the module (buffers with ``"trainable": false``),
whether or not the example pass touched it. Shapes are lists (JSON arrays); a leaf module called
twice appears twice. The pass runs in eval mode under ``no_grad`` and restores the training
mode, so running statistics and the autograd graph are untouched; it costs one forward pass,
so build a plan only when the ``Plan`` channel is live.

`plan_event` wraps the plan into the logged payload, ``("ToNetPlan", maxSeqLens,
Compressed(json_text))``; wlbridge writes the compressed part as a ByteArray of compressed WXF.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from engine.backend_trace import op_name
from engine.events import Compressed

PLAN_FORMAT = "wlbridge-plan-1"


def _shapes(x: Any) -> list[Any]:
    """Flat list of tensor shapes found in ``x`` (tensors, tuples/lists, dict values)."""
    if isinstance(x, torch.Tensor):
        return [list(x.shape)]
    if isinstance(x, Mapping):
        return [s for v in x.values() for s in _shapes(v)]
    if isinstance(x, list | tuple):
        return [s for v in x for s in _shapes(v)]
    return []


def _named_shapes(x: Any, default: str) -> dict[str, Any]:
    """Port name -> shape for a dict of tensors; ``{default: shape}`` for a lone tensor."""
    if isinstance(x, Mapping):
        return {str(k): list(v.shape) for k, v in x.items() if isinstance(v, torch.Tensor)}
    if isinstance(x, torch.Tensor):
        return {default: list(x.shape)}
    if isinstance(x, list | tuple):
        return {f"{default}{i + 1}": s for i, s in enumerate(_shapes(x))}
    return {}


class _Recorder(TorchDispatchMode):
    """Collects the plan's nodes: leaf modules (via hooks) and stray operators."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = op_name(func)
        if self.current is not None:
            self.current["ops"].append(name)
        elif not name.startswith(("aten::detach", "profiler::")):
            self.nodes.append({
                "name": None,
                "op": name,
                "inputs": _shapes(args),
                "outputs": _shapes(out),
            })
        return out


def execution_plan(module: nn.Module, example_inputs: Any) -> dict[str, Any]:
    """The JSON-able plan of ``module`` run on ``example_inputs`` (see the module docstring).

    ``example_inputs``: a dict of tensors (passed as the single argument, the engine's
    convention for nets with named ports), a tuple (passed as positional arguments) or a tensor.
    """
    rec = _Recorder()
    leaves = [(n, m) for n, m in module.named_modules() if not any(True for _ in m.children())]
    handles = []

    def pre_hook(name: str, mod: nn.Module):
        def hook(_m: nn.Module, args: tuple[Any, ...]) -> None:
            rec.current = {
                "name": name,
                "op": type(mod).__name__,
                "inputs": _shapes(args),
                "outputs": [],
                "arrays": {k: list(v.shape) for k, v in mod.named_parameters(recurse=False)},
                "ops": [],
            }

        return hook

    def post_hook(_m: nn.Module, _args: tuple[Any, ...], out: Any) -> None:
        node = rec.current
        if node is not None:
            node["outputs"] = _shapes(out)
            rec.nodes.append(node)
        rec.current = None

    if module in (m for _, m in leaves):
        leaves = [("", module)]
    for name, mod in leaves:
        handles.append(mod.register_forward_pre_hook(pre_hook(name, mod)))
        handles.append(mod.register_forward_hook(post_hook))
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad(), rec:
            if isinstance(example_inputs, Mapping):
                out = module(example_inputs)
            elif isinstance(example_inputs, tuple):
                out = module(*example_inputs)
            else:
                out = module(example_inputs)
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()

    arrays: dict[str, Any] = {}
    for n, p in module.named_parameters():
        arrays[n] = {"shape": list(p.shape), "dtype": _dtype(p), "trainable": p.requires_grad}
    for n, b in module.named_buffers():
        arrays[n] = {"shape": list(b.shape), "dtype": _dtype(b), "trainable": False}
    return {
        "format": PLAN_FORMAT,
        "inputs": _named_shapes(example_inputs, "Input"),
        "outputs": _named_shapes(out, "Output"),
        "nodes": rec.nodes,
        "arrays": arrays,
    }


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def plan_json(plan: dict[str, Any]) -> str:
    """The plan as compact JSON text (the string NetTrain compresses)."""
    return json.dumps(plan, separators=(",", ":"))


def plan_event(max_seq_lens: Mapping[int, int], plan: dict[str, Any]) -> tuple[Any, ...]:
    """The PlanLogging payload ``("ToNetPlan", maxSeqLens, Compressed(json))`` (§3.1).

    ``max_seq_lens`` maps each LengthVar id to the longest length the plan was built for
    (``{}`` for nets without sequences).
    """
    return ("ToNetPlan", {int(k): int(v) for k, v in max_seq_lens.items()},
            Compressed(plan_json(plan)))
