"""Normalisers for the public NetTrain options (reference §9.3) and their table rows."""

from __future__ import annotations

import hashlib
from typing import Any

from wolframclient.language import wl
from wolframclient.language.expression import WLSymbol

from engine.spec import Callback, LossSpec, ReportingSpec, StoppingCriterion
from wlbridge.options.exprs import (
    as_rule,
    fail,
    head_name,
    is_call,
    is_int,
    is_list,
    is_number,
    is_sym,
    is_wl,
    key_name,
    quoted_list,
    show,
    sub_options,
)
from wlbridge.options.interval import parse_interval, seconds
from wlbridge.options.layerspec import path_rules
from wlbridge.options.method import parse_method
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
        interval = parse_interval(opts["Interval"], "Rounds", "ValidationSet")
        v = v[0]
    if is_sym(v, "None", "Automatic") or v is None:
        return None, interval
    if is_call(v, "Scaled"):
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
    """"CPU" -> "cpu", "GPU" -> "cuda:0", {"GPU", n} -> "cuda:{n-1}" (availability: engine)."""
    if is_sym(v, "Automatic") or v == "CPU":
        return "cpu"
    if v == "GPU":
        return "cuda:0"
    if is_list(v) and len(v) == 2 and v[0] == "GPU":
        if is_int(v[1]) and v[1] >= 1:
            return f"cuda:{int(v[1]) - 1}"
        if is_sym(v[1], "All") or is_list(v[1]):
            raise fail("invtrgdev", f"TargetDevice -> {show(v)}: training on several GPUs is not "
                       "supported; use \"GPU\" or {\"GPU\", n}.")
    raise fail("invtrgdev", f"TargetDevice -> {show(v)} is invalid; use \"CPU\", \"GPU\" or "
               "{\"GPU\", n} with n a positive integer.")


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
    if is_int(v):
        return int(v)
    if isinstance(v, str):
        return int.from_bytes(hashlib.sha256(v.encode("utf-8")).digest()[:8], "little") >> 1
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
# Callbacks, reporting, stopping, checkpointing, measurements

EVENTS = ("TrainingStarted", "TrainingComplete", "RoundStarted", "RoundComplete",
          "CheckpointStarted", "CheckpointComplete", "NetValidationImprovement",
          "ValidationStarted", "ValidationComplete", "TrainingStoppedEarly", "TrainingAborted",
          "WeightsDiverged")


def _python_function(f: Any, option: str) -> bool:
    """True for a Python callable; a Wolfram function is refused (it runs only in the kernel:
    TorchNetTrain passes it to the kernel side instead of to `resolve`)."""
    if callable(f) and not is_wl(f):
        return True
    if is_wl(f):
        raise fail("netinvopt", f"{option}: the Wolfram function {show(f)} cannot run in "
                   "Python; pass a Python callable (from Mathematica use TorchNetTrain, which "
                   "runs it in the kernel).")
    return False


def normalise_progress_function(v: Any) -> list[Callback]:
    """f, ``{f, "Interval" -> i, "MinimumInterval" -> s}``, ``{f, "Event" -> ev}`` or a list."""
    if is_sym(v, "None") or v is None:
        return []
    if is_list(v) and v and not _is_callback_spec(v):
        return [_callback(item) for item in v]
    return [_callback(v)]


def _is_callback_spec(v: Any) -> bool:
    return is_list(v) and bool(v) and not is_list(v[0]) and all(as_rule(x) for x in v[1:])


def _callback(spec: Any) -> Callback:
    option = "TrainingProgressFunction"
    f, rest = (spec[0], spec[1:]) if is_list(spec) and spec else (spec, ())
    if not _python_function(f, option):
        raise fail("netinvopt", f"{show(spec)} is not a valid {option}; use a function f, "
                   "{f, \"Interval\" -> i}, {f, \"Event\" -> ev} or a list of these.")
    opts = sub_options(rest, option, ("Interval", "MinimumInterval", "Event"))
    minimum = 0.0
    if "MinimumInterval" in opts:
        minimum = seconds(opts["MinimumInterval"]) or _bad_minimum(opts["MinimumInterval"])
    if "Event" in opts:
        return Callback(fn=f, events=_events(opts["Event"]), minimum_interval=minimum)
    interval = parse_interval(opts.get("Interval", 1), "Rounds", option)
    return Callback(fn=f, interval=interval, minimum_interval=minimum)


def _bad_minimum(v: Any) -> float:
    raise fail("invtint", f"\"MinimumInterval\" -> {show(v)} should be a positive number of "
               "seconds.")


def _events(ev: Any) -> tuple[str, ...]:
    if is_sym(ev, "All"):
        return EVENTS
    names = tuple(ev) if is_list(ev) else (ev,)
    for name in names:
        if name not in EVENTS:
            raise fail("inveventspec", f"{show(ev)} is not a valid event specification; events "
                       f"are All or among {quoted_list(EVENTS)}.")
    return names


REPORT_FORMS = ("Print", "Panel", "ProgressIndicator")
REPORT_FILE_TYPES = (".csv", ".tsv", ".json", ".wl", ".m")


def normalise_progress_reporting(v: Any) -> list[ReportingSpec] | None:
    """Automatic -> None; a form, ``{form, "Interval" -> i}`` or a list -> `ReportingSpec` list.

    A bare-number interval is in seconds here (reference §6.1); ``"MinimumInterval" -> s``
    raises the interval's seconds component to at least ``s``.
    """
    if is_sym(v, "Automatic"):
        return None
    if is_list(v) and v and not (len(v) > 1 and all(as_rule(x) for x in v[1:])):
        return [_report(item) for item in v]
    return [_report(v)]


def _report(spec: Any) -> ReportingSpec:
    option = "TrainingProgressReporting"
    form, rest = (spec[0], spec[1:]) if is_list(spec) and spec else (spec, ())
    opts = sub_options(rest, option, ("Interval", "MinimumInterval"))
    interval = parse_interval(opts["Interval"], "Seconds", option) if "Interval" in opts else None
    if "MinimumInterval" in opts:
        s = seconds(opts["MinimumInterval"]) or _bad_minimum(opts["MinimumInterval"])
        base = interval or parse_interval(s, "Seconds", option)
        interval = type(base)(base.batches, base.rounds, max(base.seconds, s), base.percent)
    if is_sym(form, "None") or form is None:
        return ReportingSpec(form="None", interval=interval)
    if form in REPORT_FORMS:
        return ReportingSpec(form=form, interval=interval)
    if is_call(form, "File"):
        path = form.args[0] if len(form.args) == 1 else None
        if not isinstance(path, str):
            raise fail("badrepfile", f"Cannot use {show(form)} as a reporting file; give "
                       "File[\"path\"].")
        if not path.lower().endswith(REPORT_FILE_TYPES):
            raise fail("repfileext", f"The reporting file {show(path)} has an unsupported "
                       f"extension; use one of {', '.join(REPORT_FILE_TYPES)}.")
        return ReportingSpec(form="File", path=path, interval=interval)
    if _python_function(form, option):
        return ReportingSpec(form="Function", fn=form, interval=interval)
    raise fail("netinvopt", f"The value of {option} -> {show(spec)} should be Automatic, None, "
               "\"Print\", \"Panel\", \"ProgressIndicator\", File[...], a function, "
               "{form, \"Interval\" -> i}, or a list of these.")


_STOP_KEYS = ("Criterion", "Patience", "InitialPatience", "AbsoluteChange", "RelativeChange")


def normalise_stopping_criterion(v: Any) -> StoppingCriterion | None:
    """None/Automatic -> None (no early stopping, as the stored source does; reference §9.8);
    a measurement name, a Python predicate, or an association of the criterion's keys."""
    if is_sym(v, "None", "Automatic") or v is None:
        return None
    if isinstance(v, str) or (callable(v) and not is_wl(v)):
        return StoppingCriterion(criterion=v)
    if not isinstance(v, dict):
        if is_wl(v) and head_name(v) == "Function":
            _python_function(v, "TrainingStoppingCriterion")
        raise fail("invstopusage", f"TrainingStoppingCriterion -> {show(v)} is invalid; use None, "
                   "a measurement name, a function, or <|\"Criterion\" -> ..., ...|>.")
    opts = {}
    for k, val in v.items():
        name = key_name(k)
        if name not in _STOP_KEYS:
            raise fail("invstopusage", f"{show(k)} is not a valid key of TrainingStoppingCriterion; "
                       f"valid keys are {quoted_list(_STOP_KEYS)}.")
        opts[name] = val
    crit = opts.get("Criterion")
    if not (isinstance(crit, str) or (callable(crit) and not is_wl(crit))):
        raise fail("invstopusage", f"TrainingStoppingCriterion needs \"Criterion\" -> a measurement "
                   f"name or a function, not {show(crit)}.")
    if "AbsoluteChange" in opts and "RelativeChange" in opts:
        raise fail("invstopnumopts", "TrainingStoppingCriterion may give \"AbsoluteChange\" or "
                   "\"RelativeChange\", not both.")
    out = StoppingCriterion(criterion=crit)
    for key, attr in (("Patience", "patience"), ("InitialPatience", "initial_patience")):
        if key in opts:
            if not (is_int(opts[key]) and opts[key] >= 0):
                raise fail("invstopusage", f"\"{key}\" -> {show(opts[key])} in "
                           "TrainingStoppingCriterion should be a non-negative integer.")
            setattr(out, attr, int(opts[key]))
    if "AbsoluteChange" in opts:
        a = opts["AbsoluteChange"]
        if not (is_number(a) and a >= 0):
            raise fail("invstopusage", f"\"AbsoluteChange\" -> {show(a)} in "
                       "TrainingStoppingCriterion should be a non-negative number.")
        out.absolute_change = float(a)
    if "RelativeChange" in opts:
        r = opts["RelativeChange"]
        if not (is_number(r) and 0 <= r < 1):
            raise fail("invrelchange", f"\"RelativeChange\" -> {show(r)} in "
                       "TrainingStoppingCriterion should be a number in [0, 1).")
        out.relative_change = float(r)
    return out


#: File extensions a {"File", path} checkpoint may have -> the format written. ".wl" and ".wxf"
#: hold the net's constructor expression (Wolfram text / WXF); ".wlnet" is accepted as an alias
#: of ".wxf" (the same WXF bytes, not Mathematica's binary WLNet); ".pt" and ".params" hold a
#: torch state_dict of the arrays by Wolfram path (not MXNet's params format).
_CHECKPOINT_EXTENSIONS = {".wl": "wl", ".wxf": "wxf", ".wlnet": "wlnet", ".pt": "params",
                          ".params": "params"}
#: "Format" values of a {"Directory", dir} checkpoint (files .wl, .wxf, .wlnet, .pt).
_CHECKPOINT_FORMATS = ("wl", "wxf", "wlnet", "params")


def normalise_checkpointing(v: Any) -> list[dict[str, Any]] | None:
    """None -> None; ``{"File", path, opts}`` / ``{"Directory", dir, opts}`` or a list of these
    -> ``[{"kind", "path", "format", "interval"}]`` (interval default: 1 round;
    ``"MinimumInterval" -> s`` raises its seconds to at least s). Directory format default
    "wxf"."""
    if is_sym(v, "None") or v is None:
        return None
    if is_list(v) and v and all(is_list(x) for x in v):
        return [_checkpoint(x) for x in v]
    return [_checkpoint(v)]


def _checkpoint(spec: Any) -> dict[str, Any]:
    option = "TrainingProgressCheckpointing"
    if not (is_list(spec) and len(spec) >= 2 and spec[0] in ("File", "Directory")
            and isinstance(spec[1], str)):
        raise fail("invchkspec", f"{show(spec)} is not a valid {option} spec; use "
                   "{\"File\", path}, {\"Directory\", dir} or a list of these.")
    kind, path = spec[0], spec[1]
    opts = sub_options(spec[2:], option, ("Interval", "Format", "MinimumInterval"))
    fmt = opts.get("Format", "wxf")
    if kind == "File":
        ext = next((e for e in _CHECKPOINT_EXTENSIONS if path.lower().endswith(e)), None)
        if ext is None:
            raise fail("invchkext", f"The checkpoint file {show(path)} should end in .wl, .wxf "
                       "or .pt (the net as Wolfram text, as WXF, or its arrays for torch); "
                       ".wlnet is written as WXF and .params as .pt.")
        fmt = _CHECKPOINT_EXTENSIONS[ext]
    elif fmt not in _CHECKPOINT_FORMATS:
        raise fail("invchkspec", f"\"Format\" -> {show(fmt)} in {option} should be "
                   f"{quoted_list(_CHECKPOINT_FORMATS)}.")
    interval = parse_interval(opts.get("Interval", 1), "Rounds", option)
    if "MinimumInterval" in opts:
        s = seconds(opts["MinimumInterval"]) or _bad_minimum(opts["MinimumInterval"])
        interval = type(interval)(interval.batches, interval.rounds, max(interval.seconds, s),
                                  interval.percent)
    return {"kind": kind, "path": path, "format": fmt, "interval": interval}


def normalise_measurements(v: Any) -> tuple[Any, ...] | None:
    """Automatic -> None; None -> (); a spec or a list of specs -> a tuple. A spec is a name,
    ``{"Accuracy", k}`` / ``{"FScore", b}``, or ``<|"Measurement" -> ..., "Port" -> ...,
    "Key" -> ..., "ClassAveraging" -> ...|>`` (`engine.measurements.parse_item`); anything
    else (NetPort specs, functions) is refused with ``netinvopt`` naming it."""
    from engine.errors import EngineError
    from engine.measurements import measurement_names

    if is_sym(v, "Automatic"):
        return None
    if is_sym(v, "None") or v is None or (is_list(v) and len(v) == 0):
        return ()
    items = (v,) if _parametrised(v) or not is_list(v) else tuple(v)
    out = []
    for item in items:
        if isinstance(item, dict):
            item = {key_name(k): (tuple(x) if is_list(x) else x) for k, x in item.items()}
        elif _parametrised(item):
            item = tuple(item)
        elif not isinstance(item, str):
            raise fail("netinvopt", f"{show(item)} is not a valid TrainingProgressMeasurements "
                       "spec here; use a measurement name, {\"Accuracy\", k}, "
                       "<|\"Measurement\" -> name, ...|>, a list of these, or None.")
        try:
            measurement_names([item])
        except EngineError as exc:
            raise fail("netinvopt", f"TrainingProgressMeasurements: {exc.text}") from None
        out.append(item)
    return tuple(out)


def _parametrised(v: Any) -> bool:
    """``{"Accuracy", 3}``: a name with a number, one spec rather than a list of two."""
    return is_list(v) and len(v) == 2 and isinstance(v[0], str) and is_number(v[1])


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
           apply=_apply_validation_set),
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
