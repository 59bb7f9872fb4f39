"""Normalisers for the public NetTrain options (reference §9.3) and their table rows."""

from __future__ import annotations

import hashlib
from typing import Any

from wolframclient.language import wl
from wolframclient.language.expression import WLSymbol

from engine.spec import LossSpec
from wlbridge.exprs import fold
from wlbridge.options.exprs import (
    as_rule,
    fail,
    head_name,
    is_call,
    is_int,
    is_list,
    is_number,
    is_sym,
    key_name,
    quoted_list,
    show,
    sub_options,
)
from wlbridge.options.interval import parse_interval, seconds
from wlbridge.options.layerspec import path_rules
from wlbridge.options.method import parse_method
from wlbridge.options.progress import (
    normalise_checkpointing,
    normalise_measurements,
    normalise_progress_function,
    normalise_progress_reporting,
    normalise_stopping_criterion,
)
from wlbridge.options.row import Option, Resolution

# ---------------------------------------------------------------------------------------------
# Counts and durations


def _positive_int(option: str):
    def normalise(v: Any) -> int | None:
        if is_sym(v, "Automatic") or v is None:
            return None
        if is_int(v) and 0 < v < 2**63:
            return int(v)
        raise fail("optpi", f"The value of option {option} -> {show(v)} should be a positive "
                   "machine-sized integer.")

    normalise.__doc__ = f"{option}: a positive machine integer, or Automatic -> None."
    return normalise


def normalise_max_training_rounds(v: Any) -> int | tuple[str, float] | None:
    """A positive integer, Automatic, or (legacy) a duration Quantity meaning TimeGoal."""
    if is_call(v, "Quantity"):
        s = seconds(v)
        if s is not None:
            return ("TimeGoal", s)
    return _positive_int("MaxTrainingRounds")(v)


def _apply_max_training_rounds(res: Resolution, v: Any) -> None:
    if isinstance(v, tuple):
        res.config.time_goal = v[1]
    else:
        res.config.max_training_rounds = v


def normalise_time_goal(v: Any) -> float | None:
    """Seconds as a positive number or a time Quantity; Automatic -> None (no goal)."""
    if is_sym(v, "Automatic", "None") or v is None:
        return None
    s = seconds(v)
    if s is None:
        raise fail("optpi", f"The value of option TimeGoal -> {show(v)} should be a positive "
                   "number of seconds or a Quantity of time.")
    return s


def normalise_learning_rate(v: Any) -> float | None:
    """A positive number, or Automatic (the method's default) -> None."""
    if is_sym(v, "Automatic") or v is None:
        return None
    if is_number(v) and v > 0:
        return float(v)
    raise fail("netinvopt", f"The value of LearningRate -> {show(v)} should be a positive number "
               "or Automatic.")


def normalise_lr_multipliers(v: Any) -> list[tuple[tuple[str, ...], float]]:
    """``{layerspec -> r, ...}`` -> ``[(path prefix, r)]`` (None -> 0; encoding in layerspec)."""
    if is_sym(v, "Automatic") or v is None:
        return []
    return path_rules(v, "LearningRateMultipliers", none_is=0.0)


# ---------------------------------------------------------------------------------------------
# Losses and validation


def normalise_loss_function(v: Any) -> list[LossSpec]:
    """``"port"``, a loss layer, ``"port" -> layer``, ``spec -> Scaled[r]`` or a list of these."""
    if is_sym(v, "Automatic") or v is None:
        return []
    items = v if is_list(v) else (v,)
    return [_loss(item, i) for i, item in enumerate(items, 1)]


def _loss(item: Any, position: int) -> LossSpec:
    rule = as_rule(item)
    scale = 1.0
    if rule is not None and is_call(rule[1], "Scaled"):
        r = rule[1].args[0] if len(rule[1].args) == 1 else None
        if not is_number(r):
            raise fail("netinvopt", f"{show(rule[1])} in LossFunction should be Scaled[r] with "
                       "r a real number.")
        scale, item = float(r), rule[0]
        rule = as_rule(item)
    if rule is not None:
        inner = as_rule(rule[1])  # "port" -> layer -> Scaled[r] parses right-nested
        if inner is not None and is_call(inner[1], "Scaled"):
            spec = _loss(wl.Rule(wl.Rule(rule[0], inner[0]), inner[1]), position)
            return spec
        if not isinstance(rule[0], str):
            raise _bad_loss(item)
        return LossSpec(port=rule[0], layer=_loss_layer(rule[1], position), scale=scale)
    if isinstance(item, str):
        return LossSpec(port=item, scale=scale)
    if head_name(item):
        return LossSpec(layer=_loss_layer(item, position), scale=scale)
    raise _bad_loss(item)


def _loss_layer(expr: Any, position: int) -> Any:
    if not head_name(expr):
        raise _bad_loss(expr)
    from wlbridge.nets import to_layer_spec  # lazy: nets pulls in layer tables

    return to_layer_spec(expr, f"LossFunction spec {position}")


def _bad_loss(item: Any):
    return fail("netinvopt", f"{show(item)} is not a valid LossFunction spec; use \"port\", a "
                "loss layer, \"port\" -> layer, spec -> Scaled[r], or a list of these.")


def normalise_validation_set(v: Any) -> tuple[Any, Any]:
    """-> (validation_set, interval or None). ``Scaled[f]`` -> f; None -> None; data kept raw
    for `wlbridge.data`; ``{spec, "Interval" -> i}`` sets the validation interval (rounds)."""
    interval = None
    if is_list(v) and len(v) >= 2 and all(_interval_rule(x) for x in v[1:]):
        opts = sub_options(v[1:], "ValidationSet", ("Interval",))
        interval = parse_interval(fold(opts["Interval"]), "Rounds", "ValidationSet")
        v = v[0]
    if is_sym(v, "None", "Automatic") or v is None:
        return None, interval
    if is_call(v, "Scaled"):  # the row does not fold (data is read by wlbridge.data): do it here
        v = fold(v)
        f = v.args[0] if len(v.args) == 1 else None
        if not (is_number(f) and 0 < f < 1):
            raise fail("invvsfrac", f"The fraction in ValidationSet -> {show(v)} should be a "
                       "number strictly between 0 and 1.")
        return float(f), interval
    return v, interval


def _interval_rule(x: Any) -> bool:
    rule = as_rule(x)
    return rule is not None and key_name(rule[0]) == "Interval"


def _apply_validation_set(res: Resolution, v: tuple[Any, Any]) -> None:
    res.config.validation_set = v[0]
    if v[1] is not None:
        res.config.validation_interval = v[1]


# ---------------------------------------------------------------------------------------------
# Device, precision, seeding, goals


def normalise_target_device(v: Any) -> str:
    """"CPU" -> "cpu"; "GPU" / {"GPU", n} -> CUDA device n-1 when torch has CUDA, else "mps"
    (Apple) for the first; "CUDA" / {"CUDA", n} -> "cuda:{n-1}"; "MPS" -> "mps". Whether the
    device exists is the engine's check (engine.devices), when training starts. Several
    devices, one process each (engine.distributed): {"CPU", n} -> "cpu*n", {"GPU", All} ->
    "cuda:all", {"GPU", {i, j, ...}} -> "cuda:i-1,j-1,..." (CUDA only)."""
    if is_sym(v, "Automatic") or v == "CPU":
        return "cpu"
    if v == "MPS":
        return "mps"
    if isinstance(v, str) and v in ("GPU", "CUDA"):
        v = (v, 1)
    if is_list(v) and len(v) == 2 and v[0] == "CPU":
        if is_int(v[1]) and v[1] >= 1:
            return "cpu" if v[1] == 1 else f"cpu*{int(v[1])}"
        raise fail("invtrgdev", f"TargetDevice -> {show(v)} is invalid; {{\"CPU\", n}} needs n "
                   "a positive integer (the number of processes).")
    if is_list(v) and len(v) == 2 and v[0] in ("GPU", "CUDA"):
        if is_int(v[1]) and v[1] >= 1:
            if v[0] == "CUDA":
                return f"cuda:{int(v[1]) - 1}"
            from engine.devices import gpu_name

            return gpu_name(int(v[1]) - 1)
        if is_sym(v[1], "All"):
            return "cuda:all"
        if is_list(v[1]) and v[1] and all(is_int(i) and i >= 1 for i in v[1]) \
                and len(set(v[1])) == len(v[1]):
            ids = [int(i) - 1 for i in v[1]]
            return f"cuda:{ids[0]}" if len(ids) == 1 else "cuda:" + ",".join(map(str, ids))
        raise fail("invtrgdev", f"TargetDevice -> {show(v)} is invalid; the GPUs should be All or "
                   "a list of distinct positive integers.")
    raise fail("invtrgdev", f"TargetDevice -> {show(v)} is invalid; use \"CPU\", \"GPU\", "
               "\"CUDA\", \"MPS\", {\"GPU\", n}, {\"GPU\", {n1, n2, ...}}, {\"GPU\", All} or "
               "{\"CPU\", n}.")


PRECISIONS = ("Real32", "Real64", "Real16", "Mixed")


def normalise_working_precision(v: Any) -> str | None:
    """"Real32"/"Real64"/"Real16"/"Mixed"; Automatic -> None (resolved to Real32, or Mixed for
    PerformanceGoal "TrainingSpeed" on a GPU, once all options are known; reference §8.3)."""
    if is_sym(v, "Automatic"):
        return None
    if v in PRECISIONS:
        return v
    raise fail("badwp", f"Setting of WorkingPrecision -> {show(v)} should be either Automatic, "
               "\"Real32\", \"Mixed\", or \"Real64\" (\"Real16\" is also accepted).")


def apply_working_precision(res: Resolution, v: str | None) -> None:
    res.working_precision_automatic = v is None
    res.config.working_precision = v or "Real32"


def normalise_random_seeding(v: Any) -> int | None:
    """Automatic/Inherited -> None; an integer -> itself; a string -> a stable integer hash."""
    if is_sym(v, "Automatic", "Inherited") or v is None:
        return None
    if is_int(v) and -(2**63) <= v < 2**64:
        return int(v)
    if is_int(v) or isinstance(v, str):  # an integer torch cannot take (2^100) hashes too
        text = v if isinstance(v, str) else str(int(v))
        return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little") >> 1
    raise fail("seeding", f"RandomSeeding -> {show(v)} is invalid; the value should be Automatic, "
               "Inherited, an integer or a string.")


PERFORMANCE_GOALS = ("TrainingSpeed", "TrainingMemory")


def normalise_performance_goal(v: Any) -> tuple[str, ...] | None:
    """Automatic -> None; a goal name or a list of them -> a tuple of names."""
    if is_sym(v, "Automatic", "None") or v is None:
        return None
    goals = tuple(v) if is_list(v) else (v,)
    for g in goals:
        if g not in PERFORMANCE_GOALS:
            raise fail("perfgoal", f"PerformanceGoal -> {show(v)} is invalid; use Automatic, "
                       f"one of {quoted_list(PERFORMANCE_GOALS)} or a list of these.")
    return goals


# ---------------------------------------------------------------------------------------------
# The public rows, in the order of reference §9.3. InternalOptions is added by the table module.

A = wl.Automatic
NONE = WLSymbol("None")

PUBLIC_ROWS: tuple[Option, ...] = (
    Option("BatchSize", A, _positive_int("BatchSize"), "batch_size",
           "examples per batch; Automatic picks one from memory and speed"),
    Option("MaxTrainingRounds", A, normalise_max_training_rounds, "max_training_rounds",
           "rounds (epochs) to train; Automatic times the first batches",
           apply=_apply_max_training_rounds),
    Option("Method", A, parse_method, "method",
           "optimizer \"ADAM\", \"SGD\", \"SignSGD\" or \"RMSProp\" with its sub-options"),
    Option("LearningRate", A, normalise_learning_rate, "learning_rate",
           "base learning rate; overrides the Method's own"),
    Option("LearningRateMultipliers", A, normalise_lr_multipliers, "learning_rate_multipliers",
           "layerspec -> factor rules, first match wins; None freezes"),
    Option("LossFunction", A, normalise_loss_function, "loss_function",
           "which outputs are losses, with which loss layers and Scaled weights"),
    Option("TargetDevice", "CPU", normalise_target_device, "target_device",
           "\"CPU\", \"GPU\" or {\"GPU\", n}"),
    Option("ValidationSet", NONE, normalise_validation_set,
           "validation_set", "held-out data or Scaled[f] of the training data, checked each round",
           apply=_apply_validation_set, fold=False),
    Option("TimeGoal", A, normalise_time_goal, "time_goal",
           "stop once a batch starts after this many seconds"),
    Option("TrainingProgressCheckpointing", NONE, normalise_checkpointing,
           "training_progress_checkpointing", "save the net to a file or directory periodically"),
    Option("TrainingProgressFunction", NONE, normalise_progress_function,
           "training_progress_function", "Python callbacks run periodically or on events"),
    Option("TrainingProgressMeasurements", A, normalise_measurements,
           "training_progress_measurements", "measurements computed during training"),
    Option("TrainingProgressReporting", A, normalise_progress_reporting,
           "training_progress_reporting", "\"Print\", \"Panel\", File[...], a function or None"),
    Option("TrainingStoppingCriterion", NONE, normalise_stopping_criterion,
           "training_stopping_criterion", "early stopping on a measurement, with patience"),
    Option("WorkingPrecision", A, normalise_working_precision, "working_precision",
           "\"Real32\", \"Real64\", \"Real16\" or \"Mixed\" arithmetic",
           apply=apply_working_precision),
    Option("RandomSeeding", wl.Inherited, normalise_random_seeding, "random_seed",
           "seed for initialisation and shuffling: an integer or a string"),
    Option("PerformanceGoal", A, normalise_performance_goal, "performance_goal",
           "\"TrainingSpeed\" (Mixed precision on GPU) or \"TrainingMemory\""),
    Option("MaxTrainingBatches", A, _positive_int("MaxTrainingBatches"), "max_training_batches",
           "hidden: cap on the total number of batches"),
)
