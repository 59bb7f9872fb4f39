"""GradientNormFunction (reference §3.8): a Wolfram function -> a Python ``tensor -> float``.

NetTrain applies the function to each whole gradient/update array and packs the numbers into a
vector, so the compiled function must reduce any array to one number. Wolfram text cannot run
here, so a small, closed set of functions is compiled to torch operations:

* elementwise: ``Abs``, ``Sqrt``, ``Square`` (and ``#^p &``), ``Identity``, ``Flatten``;
* reductions over **all** elements: ``Max``, ``Min``, ``Total``, ``Mean``, ``RootMeanSquare``,
  ``Norm``, ``Norm[#, p] &``, ``Norm[#, Infinity] &``;
* composition: ``f /* g``, ``f @* g``, ``RightComposition[...]``, ``Composition[...]``,
  ``f[g[#]] &``, ``Function[x, f[g[x]]]``.

Choices (documented because Wolfram differs on arrays of rank > 1): ``Norm`` and ``Norm[#, p]``
are the p-norm of the *flattened* array (Frobenius for p = 2), which is what "gradient norm"
means to users, not Wolfram's matrix 2-norm / induced norms; ``Total`` and ``Mean`` reduce over
all elements (``Total[#, Infinity]``), not only the first level, so the result is a number.
torch is imported only when the returned function runs (``import wlbridge`` stays light).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wlbridge.options.exprs import (
    fail,
    head_name,
    is_call,
    is_number,
    is_sym,
    is_wl,
    show,
    sym_name,
)

NormFunction = Callable[[Any], float]
# A compiled step: (torch module, tensor) -> tensor, plus whether it reduces to a number.
_Step = Callable[[Any, Any], Any]

_ELEMENTWISE: dict[str, _Step] = {
    "Abs": lambda torch, x: x.abs(),
    "Sqrt": lambda torch, x: x.sqrt(),
    "Square": lambda torch, x: x * x,
    "Identity": lambda torch, x: x,
    "Flatten": lambda torch, x: x.reshape(-1),
}
_REDUCTIONS: dict[str, _Step] = {
    "Max": lambda torch, x: x.max(),
    "Min": lambda torch, x: x.min(),
    "Total": lambda torch, x: x.sum(),
    "Mean": lambda torch, x: x.mean(),
    "RootMeanSquare": lambda torch, x: (x * x).mean().sqrt(),
    "Norm": lambda torch, x: torch.linalg.vector_norm(x.reshape(-1), ord=2),
}
SUPPORTED = tuple(_ELEMENTWISE) + tuple(_REDUCTIONS)


def compile_norm(value: Any, option: str = "GradientNormFunction") -> NormFunction:
    """A Wolfram function (expression or text) or a Python callable -> ``f(tensor) -> float``.

    Functions that do not reduce an array to a number, or use heads outside `SUPPORTED`, raise
    ``NetTrain::badintopt`` naming ``option``.
    """
    if isinstance(value, str):
        from wlbridge.syntax import parse

        value = parse(value)
    if callable(value) and not is_wl(value):
        return _python_norm(value)
    step, reduces = _compile(value, option)
    if not reduces:
        raise fail("badintopt", f"{option} -> {show(value)} does not reduce an array to a "
                   "number; compose it with a reduction such as Max, Total or Norm.")

    def norm(array: Any) -> float:
        import torch

        x = torch.as_tensor(array).detach().to(torch.float64)
        if x.numel() == 0:
            return 0.0
        return float(step(torch, x))

    norm.wolfram = value  # type: ignore[attr-defined]  # kept for messages and round trips
    return norm


def _python_norm(fn: Callable[[Any], Any]) -> NormFunction:
    def norm(array: Any) -> float:
        return float(fn(array))

    return norm


def _compile(f: Any, option: str) -> tuple[_Step, bool]:
    """Compile a *function* expression: returns its step and whether its result is a number."""
    name = head_name(f)
    symbol = sym_name(f)
    if symbol in _ELEMENTWISE:
        return _ELEMENTWISE[symbol], False
    if symbol in _REDUCTIONS:
        return _REDUCTIONS[symbol], True
    if name in ("RightComposition", "Composition") and f.args:
        parts = [_compile(g, option) for g in f.args]
        if name == "Composition":
            parts.reverse()
        return _chain(parts)
    if name == "Function" and f.args:
        if len(f.args) == 1:
            return _body(f.args[0], option, var=None)
        if len(f.args) == 2:
            params = f.args[0]
            var = params[0] if isinstance(params, (tuple, list)) and len(params) == 1 else params
            return _body(f.args[1], option, var=var)
    raise _unsupported(f, option)


def _chain(parts: list[tuple[_Step, bool]]) -> tuple[_Step, bool]:
    steps = [s for s, _ in parts]
    reduces = False
    for _, r in parts:
        reduces = reduces or r

    def step(torch: Any, x: Any) -> Any:
        for s in steps:
            x = s(torch, x)
        return x

    return step, reduces


def _is_var(e: Any, var: Any) -> bool:
    if var is None:
        return is_call(e, "Slot") and tuple(e.args) in ((), (1,))
    return e == var


def _body(e: Any, option: str, var: Any) -> tuple[_Step, bool]:
    """Compile the body of a pure function, where ``var`` (or ``#``) is the array."""
    if _is_var(e, var):
        return (lambda torch, x: x), False
    name = head_name(e)
    if name is None:
        raise _unsupported(e, option)
    args = e.args
    if name == "Norm" and len(args) == 2:
        inner, r = _body(args[0], option, var)
        p = args[1]
        if is_sym(p, "Infinity") or is_call(p, "DirectedInfinity"):
            order: float = float("inf")
        elif is_number(p) and p >= 1:
            order = float(p)
        else:
            raise _unsupported(e, option)
        return _chain([(inner, r), (lambda torch, x: torch.linalg.vector_norm(
            x.reshape(-1), ord=order), True)])
    if name == "Power" and len(args) == 2 and is_number(args[1]):
        inner, r = _body(args[0], option, var)
        p = float(args[1])
        return _chain([(inner, r), (lambda torch, x: x ** p, False)])
    if name == "Total" and len(args) == 2 and is_sym(args[1], "Infinity"):
        inner, r = _body(args[0], option, var)
        return _chain([(inner, r), (_REDUCTIONS["Total"], True)])
    if len(args) == 1 and (name in _ELEMENTWISE or name in _REDUCTIONS):
        inner, r = _body(args[0], option, var)
        outer = (_ELEMENTWISE.get(name) or _REDUCTIONS[name], name in _REDUCTIONS)
        return _chain([(inner, r), outer])
    raise _unsupported(e, option)


def _unsupported(e: Any, option: str):
    return fail("badintopt", f"{option}: {show(e)} cannot be computed in Python; use a Python "
                f"callable or a composition of {', '.join(SUPPORTED)}, Norm[#, p] & and #^p &.")
