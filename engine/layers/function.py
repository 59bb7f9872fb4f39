"""FunctionLayer: a Wolfram function of arrays, evaluated per example with Wolfram's array rules.

args "Function": an *array op tree*, Wolfram-free like `elementwise.ScalarFn` but over whole
arrays: a number; ``("Slot", port)``; ``("Const", nested tuple)`` a constant array;
``("List", *items)`` an array built from items; ``("Part", x, entries)`` with PartLayer's
entries; or ``(op, *args)`` with op one of

* elementwise: Plus, Times, Subtract, Divide, Power, Minus, Clip, comparisons, and every unary
  name of `elementwise.UNARY` (Exp, Log, Sqrt, Tanh, LogisticSigmoid, Ramp, ...);
* Min, Max: of one array, over all its elements; of several, elementwise;
* Dot (last level of each with the first of the next), Transpose (x) or (x, perm), Total (x)
  (level 1), (x, n) (levels 1..n) or (x, "Infinity"), Mean (level 1), Reverse (level 1),
  Flatten (all levels), Norm (a vector's 2-norm).

Wolfram lists thread over each other from the *first* level: a matrix plus a vector adds the
vector's i-th element to the matrix's i-th row ({{a, b}, {c, d}} + {x, y} = {{a+x, b+x},
{c+y, d+y}}), unlike numpy's trailing alignment. Ports: the slots the function uses (see
`ports`). Output types are found by evaluating the function once on a dummy example.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.layers import register
from engine.layers.arrange import PartLayer, _part_index
from engine.layers.base import WolframLayer, check_args, fail, format_dims, real_input
from engine.layers.elementwise import UNARY
from engine.spec import LayerSpec, LengthVar, TensorType

_ELEMENTWISE = {"Plus", "Times", "Subtract", "Divide", "Power", "Clip", "Greater", "Less",
                "GreaterEqual", "LessEqual"}
_REDUCING = {"Dot", "Total", "Mean", "Reverse", "Flatten", "Norm", "Transpose", "Part"}


def slots(tree: Any) -> list[str]:
    """The port names a tree reads, in first-use order."""
    if not isinstance(tree, tuple) or not tree:
        return []
    if tree[0] == "Slot":
        return [tree[1]]
    if tree[0] == "Const":
        return []
    out: list[str] = []
    for a in tree[1:]:
        out += [s for s in slots(a) if s not in out]
    return out


def ports(spec: LayerSpec) -> tuple[str, ...]:
    """The input ports of a FunctionLayer spec: its function's slots."""
    return tuple(slots(spec.args.get("Function"))) or ("Input",)


def _align(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Wolfram threading: pad the lower-rank operand with trailing unit dims."""
    if a.dim() < b.dim():
        a = a.reshape(*a.shape, *([1] * (b.dim() - a.dim())))
    elif b.dim() < a.dim():
        b = b.reshape(*b.shape, *([1] * (a.dim() - b.dim())))
    return a, b


def _binary(op: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = _align(a, b)
    return {"Plus": torch.add, "Times": torch.mul, "Subtract": torch.sub, "Divide": torch.div,
            "Power": torch.pow, "Min": torch.minimum, "Max": torch.maximum,
            "Greater": lambda x, y: (x > y).to(x.dtype), "Less": lambda x, y: (x < y).to(x.dtype),
            "GreaterEqual": lambda x, y: (x >= y).to(x.dtype),
            "LessEqual": lambda x, y: (x <= y).to(x.dtype)}[op](a, b)


def _fold(op: str, vals: list[torch.Tensor]) -> torch.Tensor:
    out = vals[0]
    for v in vals[1:]:
        out = _binary(op, out, v)
    return out


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    batch = max(a.shape[0], b.shape[0])
    a, b = a.expand(batch, *a.shape[1:]), b.expand(batch, *b.shape[1:])
    n = a.shape[-1]
    y = torch.bmm(a.reshape(batch, -1, n), b.reshape(batch, n, -1))
    return y.reshape(batch, *a.shape[1:-1], *b.shape[2:])


def _reduce(op: str, x: torch.Tensor, args: list[Any]) -> torch.Tensor:
    if op == "Total":
        levels = args[0] if args else 1
        dims = tuple(range(1, x.dim())) if levels == "Infinity" else tuple(range(1, 1 + int(levels)))
        return x.sum(dims)
    if op == "Mean":
        return x.mean(1)
    if op == "Reverse":
        return x.flip(1)
    if op == "Flatten":
        return x.reshape(x.shape[0], -1)
    if op == "Norm":
        return x.reshape(x.shape[0], -1).norm(dim=1)
    if op in ("Min", "Max"):
        flat = x.reshape(x.shape[0], -1)
        return flat.amin(1) if op == "Min" else flat.amax(1)
    raise KeyError(op)


def _device(env: dict[str, torch.Tensor]) -> torch.device | None:
    """Where the inputs live, so constants join them there."""
    return next(iter(env.values())).device if env else None


def evaluate(tree: Any, env: dict[str, torch.Tensor]) -> torch.Tensor:
    """Evaluate a tree on batch-first tensors; constants get a batch dim of 1."""
    if isinstance(tree, (int, float)):
        return torch.tensor([float(tree)], device=_device(env))
    op = tree[0]
    if op == "Slot":
        return env[tree[1]]
    if op == "Const":
        return torch.tensor(tree[1], dtype=torch.float32, device=_device(env)).unsqueeze(0)
    if op in _RAW_ARGS:  # one array, then plain parameters (levels, bounds, a permutation)
        return _with_parameters(op, evaluate(tree[1], env), tree[2:])
    vals = [evaluate(a, env) for a in tree[1:]]
    if op == "List":
        batch = max(v.shape[0] for v in vals)
        return torch.stack([v.expand(batch, *v.shape[1:]) for v in vals], 1)
    if op in UNARY and len(vals) == 1:
        return UNARY[op](vals[0])
    if (op in ("Min", "Max") and len(vals) == 1) or op in ("Total", "Mean", "Reverse", "Flatten", "Norm"):
        return _reduce(op, vals[0], vals[1:])
    if op in _ELEMENTWISE or op in ("Min", "Max"):
        return _fold(op, vals) if op in ("Plus", "Times", "Min", "Max") else _binary(op, vals[0], vals[1])
    if op == "Dot":
        out = vals[0]
        for v in vals[1:]:
            out = _dot(out, v)
        return out
    raise KeyError(op)


_RAW_ARGS = {"Total", "Transpose", "Clip", "Part"}


def _with_parameters(op: str, x: torch.Tensor, params: tuple[Any, ...]) -> torch.Tensor:
    if op == "Total":
        return _reduce(op, x, list(params))
    if op == "Clip":
        lo, hi = params if len(params) == 2 else (-1.0, 1.0)
        return torch.clamp(x, float(lo), float(hi))
    if op == "Transpose":
        src = params[0] if params else (1, 0)
        return x.permute(0, *(s + 1 for s in src), *range(len(src) + 1, x.dim()))
    entries = params[0]
    index = tuple(_part_index(e, n, ()) for e, n in zip(entries, x.shape[1:], strict=False))
    return PartLayer(index).apply(x)


class FunctionLayer(WolframLayer):
    kind = "FunctionLayer"

    def __init__(self, tree: Any, in_ports: tuple[str, ...]):
        super().__init__()
        self.tree, self.in_ports = tree, in_ports

    def apply(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """The chain fast path's single-tensor call (one "Input" port)."""
        return self.forward({"Input": x})["Output"]

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x = next(iter(inputs.values()))
        y = evaluate(self.tree, {p: inputs[p].to(torch.get_default_dtype()) if not inputs[p].is_floating_point()
                                 else inputs[p] for p in self.in_ports})
        return {"Output": y.to(x.device).expand(x.shape[0], *y.shape[1:]) if y.shape[0] == 1 else y}


def _check(tree: Any, path: tuple[str, ...]) -> set[str]:
    """The ops used, refusing unknown ones with a message."""
    if isinstance(tree, (int, float)) or not isinstance(tree, tuple):
        return set()
    op = tree[0]
    if op in ("Slot", "Const"):
        return set()
    if op not in UNARY and op not in _ELEMENTWISE | _REDUCING | {"Min", "Max", "List", "Minus"}:
        raise fail(path, f"the function {op} is not supported in FunctionLayer.")
    used = {op}
    for a in tree[1:2] if op in _RAW_ARGS else tree[1:]:
        used |= _check(a, path)
    return used


def _dummy(t: TensorType, steps: int) -> torch.Tensor:
    dims = [steps if isinstance(d, LengthVar) else d for d in t.dims]
    return torch.rand(1, *dims) + 0.5


@register("FunctionLayer", inputs=None, ports=ports)
def build_function(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Function"}, path)
    tree = args.get("Function")
    used = _check(tree, path)
    names = ports(spec)
    types = {p: real_input(in_types, p, path) for p in names}
    var = next((d for t in types.values() for d in t.dims if isinstance(d, LengthVar)), None)
    if var is not None and used & (_REDUCING | {"Min", "Max", "List"}):
        raise fail(path, "on \"Varying\" inputs FunctionLayer supports elementwise functions only.")
    try:
        with torch.no_grad():
            outs = [evaluate(tree, {p: _dummy(t, n) for p, t in types.items()}) for n in (3, 4)]
    except (RuntimeError, IndexError, KeyError, ValueError, TypeError) as err:
        shapes = ", ".join(f"{p}: {format_dims(t.dims)}" for p, t in types.items())
        raise fail(path, f"the function cannot be applied to inputs of dimensions {shapes} "
                         f"({str(err).splitlines()[0]}).") from None
    dims = tuple(var if a != b else a for a, b in zip(outs[0].shape[1:], outs[1].shape[1:], strict=True))
    m = FunctionLayer(tree, names)
    m.input_types = types
    return m, {"Output": TensorType(dims)}
