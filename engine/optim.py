"""Wolfram's optimizers (reference §9.4) on torch tensors, with MXNet 1.x update formulas.

Why not `torch.optim`: NetTrain folds ADAM's bias correction into the learning rate and adds
epsilon to ``sqrt(v)`` uncorrected, uses a centred RMSProp ("rmspropalex") with epsilon inside
the root, SGD momentum in MXNet's ``mom = μ·mom − lr·g`` form, and a Polynomial schedule by
default for SGD. The numbers differ from torch's optimizers, so the steps are written here,
with `torch._foreach_*` kernels so one step costs a handful of launches whatever the array count.

Gradients arrive as PyTorch leaves them for the *mean* batch loss, which is MXNet's
``rescale_grad · Σ_batch`` (§8.2), so no further rescale is applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from engine.errors import EngineError
from engine.spec import MethodSpec

#: Wolfram defaults per method (reference §9.4).
DEFAULTS: dict[str, dict[str, Any]] = {
    "ADAM": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-5,
             "learning_rate_schedule": None},
    "SGD": {"learning_rate": 0.01, "momentum": 0.93, "learning_rate_schedule": "Polynomial"},
    "SignSGD": {"learning_rate": 0.01, "momentum": 0.93, "learning_rate_schedule": None},
    "RMSProp": {"learning_rate": 0.001, "beta": 0.95, "momentum": 0.9, "epsilon": 1e-6,
                "learning_rate_schedule": None},
}

Path = tuple[str, ...]
_WL_NAMES = {"beta1": "Beta1", "beta2": "Beta2", "beta": "Beta", "momentum": "Momentum",
             "epsilon": "Epsilon"}


def resolve_method(method: MethodSpec, learning_rate: float | None = None) -> MethodSpec:
    """The method with every Automatic (None) sub-option replaced by its Wolfram default.

    ``learning_rate`` is the public LearningRate option, which overrides Method's own (§9.3).
    """
    if method.name not in DEFAULTS:
        raise EngineError("invmethod", f"Method {method.name!r} is not one of "
                          f"{', '.join(DEFAULTS)}.")
    values = dict(method.__dict__)
    for key, default in DEFAULTS[method.name].items():
        # A schedule of None means "none" (Method -> {"SGD", "LearningRateSchedule" -> None});
        # only "Automatic" takes the method's default.
        unset = (values.get(key) == "Automatic" if key == "learning_rate_schedule"
                 else values.get(key) is None)
        if unset:
            values[key] = default
    if learning_rate is not None:
        values["learning_rate"] = learning_rate
    for key in ("beta1", "beta2", "beta", "momentum", "epsilon"):
        v = values.get(key)
        if v is not None and not 0 <= v < 1:
            name = _WL_NAMES[key]
            raise EngineError("invmethodopt", f"the Method sub-option \"{name}\" should be a "
                              f"number in [0, 1), not {v}.")
    if values["learning_rate"] is None or values["learning_rate"] < 0:
        raise EngineError("invlr", f"LearningRate should be a non-negative number, not "
                          f"{values['learning_rate']}.")
    return MethodSpec(**values)


def per_array(value: float | list[tuple[Path, float]] | None, path: Path) -> float | None:
    """The value that applies to the array at ``path``: a scalar, or the first matching prefix."""
    if value is None or isinstance(value, int | float):
        return value
    for prefix, v in value:
        if path[: len(prefix)] == tuple(prefix):
            return v
    return None


def schedule_factor(schedule: Any, t: int, total: float) -> float:
    """The LearningRateSchedule factor at optimizer step ``t`` (1-based) of ``total`` (§9.4)."""
    if schedule is None:
        return 1.0
    if schedule == "Polynomial":
        if not math.isfinite(total):
            return 1.0
        return math.sqrt(1.0 - min(t, total) / (total + 1.0))
    if callable(schedule):
        f = float(schedule(min(t - 1, total), total))
        if not (0 < f <= 1) or math.isnan(f):
            raise EngineError("badlrs", f"the LearningRateSchedule function returned {f} at "
                              f"step {t}; it should return a number in (0, 1].", "General")
        return f
    raise EngineError("badlrs", f"LearningRateSchedule {schedule!r} is not None, "
                      "\"Polynomial\" or a function f(t, T).", "General")


@dataclass
class _Group:
    """Arrays sharing regularisation settings, stepped together with foreach kernels."""

    params: list[torch.Tensor]
    multipliers: list[float]
    wd: float
    clip: float | None
    wclip: float | None
    state: dict[str, list[torch.Tensor]]


class WolframOptimizer:
    """One of NetTrain's methods over named arrays.

    ``arrays`` maps each array path to its tensor, ``multipliers`` gives the per-array learning
    rate factor (arrays with factor 0 must not be passed: they are frozen). ``total_steps`` is
    the schedules' T (total planned batches; ``math.inf`` when unknown).
    """

    def __init__(self, method: MethodSpec, arrays: dict[Path, torch.Tensor],
                 multipliers: dict[Path, float] | None = None, total_steps: float = math.inf):
        self.method = method
        self.t = 0
        self.total_steps = total_steps
        self.learning_rate = method.learning_rate  # the live "LearningRate" (lr_t)
        multipliers = multipliers or {}
        groups: dict[tuple, _Group] = {}
        for path, p in arrays.items():
            key = (per_array(method.l2_regularization, path) or 0.0,
                   per_array(method.gradient_clipping, path),
                   per_array(method.weight_clipping, path))
            g = groups.get(key)
            if g is None:
                g = groups[key] = _Group([], [], key[0], key[1], key[2], {})
            g.params.append(p)
            g.multipliers.append(float(multipliers.get(path, 1.0)))
        self.groups = list(groups.values())
        for g in self.groups:
            for name in self._state_names():
                g.state[name] = [torch.zeros_like(p) for p in g.params]

    def _state_names(self) -> Sequence[str]:
        m = self.method
        if m.name == "ADAM":
            return ("mean", "var")
        if m.name == "RMSProp":
            return ("n", "g", "delta")
        return ("mom",) if m.momentum else ()

    def current_rate(self, t: int) -> float:
        """lr_t for step ``t``: LR · schedule, with ADAM's bias correction folded in."""
        m = self.method
        lr = m.learning_rate * schedule_factor(m.learning_rate_schedule, t, self.total_steps)
        if m.name == "ADAM":
            lr *= math.sqrt(1.0 - m.beta2**t) / (1.0 - m.beta1**t)
        return lr

    def zero_grad(self) -> None:
        for g in self.groups:
            for p in g.params:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Apply one update to every array with a gradient."""
        self.t += 1
        lr = self.learning_rate = self.current_rate(self.t)
        for g in self.groups:
            idx = [i for i, p in enumerate(g.params) if p.grad is not None]
            if not idx:
                continue
            full = len(idx) == len(g.params)
            params = g.params if full else [g.params[i] for i in idx]
            grads = [p.grad for p in params]
            state = {k: (v if full else [v[i] for i in idx]) for k, v in g.state.items()}
            lrs = [lr * mu for mu in (g.multipliers if full else [g.multipliers[i] for i in idx])]
            getattr(self, "_" + self.method.name.lower())(params, grads, state, lrs, g)
            if g.wclip is not None:
                torch._foreach_clamp_min_(params, -g.wclip)
                torch._foreach_clamp_max_(params, g.wclip)

    @staticmethod
    def _regularised(params, grads, g: _Group, wd_inside: bool):
        if wd_inside and g.wd:
            grads = torch._foreach_add(grads, params, alpha=g.wd)
        if g.clip is not None:
            grads = torch._foreach_clamp_min(grads, -g.clip)
            torch._foreach_clamp_max_(grads, g.clip)
        return grads

    def _adam(self, params, grads, state, lrs, g: _Group) -> None:
        m = self.method
        grads = self._regularised(params, grads, g, wd_inside=True)
        mean, var = state["mean"], state["var"]
        torch._foreach_lerp_(mean, grads, 1.0 - m.beta1)
        torch._foreach_mul_(var, m.beta2)
        torch._foreach_addcmul_(var, grads, grads, value=1.0 - m.beta2)
        denom = torch._foreach_sqrt(var)
        torch._foreach_add_(denom, m.epsilon)
        torch._foreach_addcdiv_(params, mean, denom, [-lr for lr in lrs])

    def _sgd(self, params, grads, state, lrs, g: _Group) -> None:
        grads = self._regularised(params, grads, g, wd_inside=False)
        if self.method.momentum:
            mom = state["mom"]
            torch._foreach_mul_(mom, self.method.momentum)
            if g.wd:
                torch._foreach_add_(mom, torch._foreach_mul(params, [-lr * g.wd for lr in lrs]))
            torch._foreach_add_(mom, torch._foreach_mul(grads, [-lr for lr in lrs]))
            torch._foreach_add_(params, mom)
        else:
            if g.wd:
                torch._foreach_mul_(params, [1.0 - lr * g.wd for lr in lrs])
            torch._foreach_add_(params, torch._foreach_mul(grads, [-lr for lr in lrs]))

    def _signsgd(self, params, grads, state, lrs, g: _Group) -> None:
        if self.method.momentum:
            grads = self._regularised(params, grads, g, wd_inside=True)
            mom = state["mom"]
            torch._foreach_mul_(mom, self.method.momentum)
            torch._foreach_add_(mom, torch._foreach_mul(grads, -(1.0 - self.method.momentum)))
            torch._foreach_add_(params, torch._foreach_mul(torch._foreach_sign(mom), lrs))
        else:
            grads = self._regularised(params, grads, g, wd_inside=False)
            if g.wd:
                torch._foreach_mul_(params, [1.0 - lr * g.wd for lr in lrs])
            torch._foreach_add_(params, torch._foreach_mul(torch._foreach_sign(grads),
                                                           [-lr for lr in lrs]))

    def _rmsprop(self, params, grads, state, lrs, g: _Group) -> None:
        m = self.method
        grads = self._regularised(params, grads, g, wd_inside=True)
        n, gm, delta = state["n"], state["g"], state["delta"]
        torch._foreach_lerp_(n, torch._foreach_mul(grads, grads), 1.0 - m.beta)
        torch._foreach_lerp_(gm, grads, 1.0 - m.beta)
        denom = torch._foreach_sub(n, torch._foreach_mul(gm, gm))
        torch._foreach_add_(denom, m.epsilon)
        torch._foreach_sqrt_(denom)
        torch._foreach_mul_(delta, m.momentum)
        torch._foreach_addcdiv_(delta, grads, denom, [-lr for lr in lrs])
        torch._foreach_add_(params, delta)

    def state_dict(self) -> dict[str, Any]:
        return {"t": self.t, "state": [{k: [x.clone() for x in v] for k, v in g.state.items()}
                                       for g in self.groups]}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.t = sd["t"]
        for g, s in zip(self.groups, sd["state"], strict=True):
            for k, v in s.items():
                for dst, src in zip(g.state[k], v, strict=True):
                    dst.copy_(src)


def method_description(method: MethodSpec) -> str:
    """The OptimizationMethod property value: the method's name."""
    return method.name


ScheduleFn = Callable[[float, float], float]
