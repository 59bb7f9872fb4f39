"""Normalisers for NetTrain's progress options (reference §9.3): TrainingProgressFunction,
TrainingProgressReporting, TrainingStoppingCriterion, TrainingProgressCheckpointing and
TrainingProgressMeasurements; their rows are in `public`."""

from __future__ import annotations

from typing import Any

from engine.spec import Callback, ReportingSpec, StoppingCriterion
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
from wlbridge.paths import file_problem, folder_problem

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
        problem = file_problem(path)
        if problem is not None:
            raise fail("badrepfile", f"The reporting file {show(path)} cannot be written: "
                       f"{problem}.")
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
    _check_checkpoint_place(kind, path)
    interval = parse_interval(opts.get("Interval", 1), "Rounds", option)
    if "MinimumInterval" in opts:
        s = seconds(opts["MinimumInterval"]) or _bad_minimum(opts["MinimumInterval"])
        interval = type(interval)(interval.batches, interval.rounds, max(interval.seconds, s),
                                  interval.percent)
    return {"kind": kind, "path": path, "format": fmt, "interval": interval}


def _check_checkpoint_place(kind: str, path: str) -> None:
    """The place is checked now, before any training (the engine checks again, for callers
    that bypass the options): a file's folder must exist, a directory is made if missing."""
    if kind == "File":
        problem = file_problem(path)
        if problem is not None:
            raise fail("invchkfile", f"The checkpoint file {show(path)} cannot be written: "
                       f"{problem}.")
    else:
        problem = folder_problem(path)
        if problem is not None:
            raise fail("invchkdir", f"The checkpoint directory {show(path)} cannot be used: "
                       f"{problem}.")


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
