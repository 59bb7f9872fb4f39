"""ElementwiseLayer: Wolfram's named activations and pure functions as torch functions.

Names follow Wolfram, formulas too: "HardSigmoid" is clip((x+1)/2, 0, 1), not torch's
relu6(x+3)/6; "GELU" is the exact erf form; "SELU" uses 1.0507 and 1.67326 (torch's constants).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from engine.layers import register
from engine.layers.base import SimpleLayer, check_args, fail, real_input
from engine.spec import LayerSpec, TensorType

# A pure function as an op tree (see the package docstring): number | ("Slot", k) | (op, *args).
ScalarFn = float | int | tuple

Fn = Callable[[torch.Tensor], torch.Tensor]


def _hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp((x + 1) * 0.5, 0.0, 1.0)


def _softsign(x: torch.Tensor) -> torch.Tensor:
    return x / (1 + x.abs())


UNARY: dict[str, Fn] = {
    "Ramp": torch.relu,
    "ReLU": torch.relu,
    "RectifiedLinearUnit": torch.relu,
    "Tanh": torch.tanh,
    "LogisticSigmoid": torch.sigmoid,
    "Sigmoid": torch.sigmoid,
    "ELU": F.elu,
    "ExponentialLinearUnit": F.elu,
    "SELU": F.selu,
    "ScaledExponentialLinearUnit": F.selu,
    "SoftPlus": F.softplus,
    "SoftReLU": F.softplus,
    "SoftRamp": F.softplus,
    "SoftSign": _softsign,
    "HardTanh": F.hardtanh,
    "HardSigmoid": _hard_sigmoid,
    "GELU": F.gelu,
    "GaussianErrorLinearUnit": F.gelu,
    "Swish": F.silu,
    "HardSwish": F.hardswish,
    "Mish": F.mish,
    "Sin": torch.sin,
    "Cos": torch.cos,
    "Tan": torch.tan,
    "ArcSin": torch.asin,
    "ArcCos": torch.acos,
    "ArcTan": torch.atan,
    "ArcSinh": torch.asinh,
    "ArcCosh": torch.acosh,
    "ArcTanh": torch.atanh,
    "Sinh": torch.sinh,
    "Cosh": torch.cosh,
    "Exp": torch.exp,
    "Log": torch.log,
    "Sqrt": torch.sqrt,
    "Square": torch.square,
    "Abs": torch.abs,
    "Round": torch.round,
    "Floor": torch.floor,
    "Ceiling": torch.ceil,
    "Sign": torch.sign,
    "Erf": torch.erf,
    "LogGamma": torch.lgamma,
    "Minus": torch.neg,
}

# Wolfram's Gamma: torch has only lgamma; Gamma(x) = exp(lgamma(x)) for x > 0 (sign lost below).
UNARY["Gamma"] = lambda x: torch.exp(torch.lgamma(x))


def _n_ary(op: str) -> Callable[..., Any] | None:
    return {
        "Plus": lambda *a: _fold(torch.add, a),
        "Times": lambda *a: _fold(torch.mul, a),
        "Subtract": lambda a, b: a - b,
        "Divide": lambda a, b: a / b,
        "Power": lambda a, b: a ** b,
        "Min": lambda *a: _fold(torch.minimum, a),
        "Max": lambda *a: _fold(torch.maximum, a),
        "Clip": lambda x, lo=-1.0, hi=1.0: torch.clamp(x, lo, hi),
        "Greater": lambda a, b: (a > b).to(_dtype(a, b)),
        "Less": lambda a, b: (a < b).to(_dtype(a, b)),
        "GreaterEqual": lambda a, b: (a >= b).to(_dtype(a, b)),
        "LessEqual": lambda a, b: (a <= b).to(_dtype(a, b)),
        "If": lambda c, a, b: torch.where(torch.as_tensor(c) != 0, a, b),
    }.get(op)


def _dtype(a: Any, b: Any) -> torch.dtype:
    for v in (a, b):
        if isinstance(v, torch.Tensor):
            return v.dtype
    return torch.get_default_dtype()


def _fold(f: Callable[[Any, Any], Any], args: tuple[Any, ...]) -> Any:
    out = args[0]
    for a in args[1:]:
        out = f(out, a) if isinstance(out, torch.Tensor) or isinstance(a, torch.Tensor) else _py(f, out, a)
    return out


def _py(f: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    return f(torch.as_tensor(a), torch.as_tensor(b)).item()


def check_fn(fn: ScalarFn, path: tuple[str, ...], max_slot: int = 1) -> int:
    """Validate a ScalarFn tree before training; return the highest slot used."""
    if isinstance(fn, bool):
        raise fail(path, f"{fn!r} is not a number or function.")
    if isinstance(fn, (int, float)):
        if not math.isfinite(fn):
            raise fail(path, f"the constant {fn!r} in the function is not finite.")
        return 0
    if isinstance(fn, str):
        if fn in UNARY:
            return 1
        raise fail(path, f"the function {fn!r} is not supported in ElementwiseLayer; "
                         f"supported names include {', '.join(sorted(UNARY)[:12])}, ...")
    if not isinstance(fn, tuple) or not fn or not isinstance(fn[0], str):
        raise fail(path, f"{fn!r} is not a valid function.")
    op, args = fn[0], fn[1:]
    if op == "Slot":
        k = args[0] if args else 1
        if not isinstance(k, int) or k < 1 or k > max_slot:
            raise fail(path, f"the slot #{k} is not valid for a function of {max_slot} argument(s).")
        return k
    if op in UNARY:
        if len(args) != 1:
            raise fail(path, f"{op} takes one argument, but {len(args)} were given.")
    elif _n_ary(op) is None:
        raise fail(path, f"the operation {op!r} is not supported in a pure function.")
    return max([check_fn(a, path, max_slot) for a in args] + [0])


def evaluate(fn: ScalarFn, slots: tuple[torch.Tensor, ...]) -> Any:
    """Evaluate a checked ScalarFn tree on tensors (slot k is ``slots[k-1]``)."""
    if isinstance(fn, (int, float)):
        return float(fn)
    if isinstance(fn, str):
        return UNARY[fn](slots[0])
    op, args = fn[0], fn[1:]
    if op == "Slot":
        return slots[(args[0] if args else 1) - 1]
    vals = [evaluate(a, slots) for a in args]
    if op in UNARY:
        v = vals[0]
        return UNARY[op](v if isinstance(v, torch.Tensor) else torch.as_tensor(v))
    return _n_ary(op)(*vals)  # type: ignore[misc]


def as_callable(fn: str | ScalarFn) -> Fn:
    """The torch function for a checked name or one-slot ScalarFn."""
    if isinstance(fn, str):
        return UNARY[fn]

    def f(x: torch.Tensor) -> torch.Tensor:
        out = evaluate(fn, (x,))
        return out if isinstance(out, torch.Tensor) else torch.full_like(x, out)

    return f


class ElementwiseLayer(SimpleLayer):
    """f applied to every element; ``function`` is the Wolfram name or the ScalarFn tree."""

    kind = "ElementwiseLayer"

    def __init__(self, function: str | ScalarFn):
        super().__init__()
        self.function = function
        self.apply = as_callable(function)  # type: ignore[method-assign]


@register("ElementwiseLayer")
def build(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Function"}, path)
    if "Function" not in args:
        raise fail(path, "ElementwiseLayer needs a function, e.g. ElementwiseLayer[Ramp].")
    fn = args["Function"]
    check_fn(fn, path, 1)
    t = real_input(in_types, "Input", path)
    m = ElementwiseLayer(fn)
    return m, {"Output": TensorType(t.dims)}
