"""The Method option (reference §9.4) -> `engine.spec.MethodSpec`."""

from __future__ import annotations

import math
from typing import Any

from engine.spec import MethodSpec
from wlbridge.options.exprs import (
    fail,
    is_list,
    is_number,
    is_sym,
    is_wl,
    quoted_list,
    show,
    sub_options,
)
from wlbridge.options.layerspec import path_rules

_COMMON = ("LearningRate", "LearningRateSchedule", "L2Regularization", "GradientClipping",
           "WeightClipping")
# Specific sub-options per method, in the order of reference §9.4.
METHODS: dict[str, tuple[str, ...]] = {
    "ADAM": ("Beta1", "Beta2", "Epsilon"),
    "SGD": ("Momentum",),
    "SignSGD": ("Momentum",),
    "RMSProp": ("Beta", "Momentum", "Epsilon"),
}
_FIELDS = {"LearningRate": "learning_rate", "Beta1": "beta1", "Beta2": "beta2",
           "Epsilon": "epsilon", "Beta": "beta", "Momentum": "momentum"}
_PER_ARRAY = {"L2Regularization": "l2_regularization", "GradientClipping": "gradient_clipping",
              "WeightClipping": "weight_clipping"}


def parse_method(value: Any) -> MethodSpec:
    """``"name"`` or ``{"name", "sub" -> v, ...}`` (Automatic = ADAM) -> `MethodSpec`.

    Beta/Momentum/Epsilon must lie in [0, 1); regularisers and clipping take a number, None, or
    per-array ``{layerspec -> v}`` rules. ``"LearningRateSchedule"`` is None, ``"Polynomial"``,
    Automatic (the method's default) or a Python callable ``f(t, T) -> factor``.
    """
    if is_sym(value, "Automatic"):
        value = "ADAM"
    if isinstance(value, MethodSpec):
        return value
    name, rest = (value[0], value[1:]) if is_list(value) and len(value) else (value, ())
    if name not in METHODS:
        raise fail("netinvopt", f"The value of Method -> {show(value)} should be one of "
                   f"{quoted_list(tuple(METHODS))}, or {{name, \"sub\" -> value, ...}}.")
    allowed = METHODS[name] + _COMMON
    spec = MethodSpec(name=name)
    schedule: Any = _AUTOMATIC
    for sub, v in sub_options(rest, f"Method \"{name}\"", allowed).items():
        if sub in _PER_ARRAY:
            setattr(spec, _PER_ARRAY[sub], _per_array(sub, v))
        elif sub == "LearningRateSchedule":
            schedule = _schedule(v)
        elif is_sym(v, "Automatic"):
            continue
        elif sub == "LearningRate":
            if not (is_number(v) and v > 0):
                raise fail("netinvopt", f"\"LearningRate\" -> {show(v)} in Method should be a "
                           "positive number.")
            spec.learning_rate = float(v)
        elif sub == "Momentum" and is_sym(v, "None"):
            spec.momentum = 0.0
        else:
            if not (is_number(v) and 0 <= v < 1):
                raise fail("netinvopt", f"\"{sub}\" -> {show(v)} in Method should be a number "
                           "in the range [0, 1).")
            setattr(spec, _FIELDS[sub], float(v))
    # The schedule is always explicit, so the engine reads None as "no schedule" for every
    # method; Automatic is the method's default (Polynomial for SGD only).
    if schedule is _AUTOMATIC:
        schedule = "Polynomial" if name == "SGD" else None
    spec.learning_rate_schedule = schedule
    return spec


def _per_array(sub: str, v: Any) -> float | list | None:
    if is_sym(v, "None", "Automatic") or v is None:
        return None
    if is_number(v):
        if v < 0:
            raise fail("netinvopt", f"\"{sub}\" -> {show(v)} in Method should be non-negative.")
        return float(v)
    # Per array, None means "no regularisation" (0) but "no clipping" (an infinite bound).
    return path_rules(v, f"Method \"{sub}\"",
                      none_is=0.0 if sub == "L2Regularization" else math.inf)


_AUTOMATIC = object()


def _schedule(v: Any) -> Any:
    if is_sym(v, "Automatic"):
        return _AUTOMATIC
    if is_sym(v, "None") or v is None:
        return None
    if v == "Polynomial":
        return "Polynomial"
    if callable(v) and not is_wl(v):
        return v
    raise fail("badlrs", f"\"LearningRateSchedule\" -> {show(v)} is not supported: use None, "
               "\"Polynomial\" or a Python callable f(t, T) returning a factor in (0, 1] "
               "(a Wolfram function runs only in the kernel).")
