"""The option table (public rows, the InternalOptions row and the internal rows) and `resolve`."""

from __future__ import annotations

import difflib
from typing import Any

from wolframclient.language.expression import WLSymbol

from engine.spec import TrainConfig
from wlbridge.options.exprs import as_rule, fail, is_call, is_list, key_name, quoted_list, show
from wlbridge.options.internal import INTERNAL_ROWS
from wlbridge.options.normfn import compile_norm
from wlbridge.options.public import PUBLIC_ROWS
from wlbridge.options.row import Option, Resolution


def _internal_pairs(value: Any) -> list[tuple[Any, Any]]:
    """InternalOptions' value -> ``[(key, value)]``, checked as NetTrain does (§1.1)."""
    if isinstance(value, dict):
        return list(value.items())
    if not is_list(value):
        raise _badintopt(value)
    pairs = []
    for item in value:
        rule = as_rule(item)
        if rule is None:
            raise _badintopt(item)
        pairs.append(rule)
    return pairs


INTERNAL_OPTIONS_ROW = Option(
    "InternalOptions", (), _internal_pairs, None,
    "hidden: {\"key\" -> value, ...} of the internal options below, applied in order",
)

PUBLIC: dict[str, Option] = {row.name: row for row in (*PUBLIC_ROWS, INTERNAL_OPTIONS_ROW)}
INTERNAL: dict[str, Option] = {
    name: row for row in INTERNAL_ROWS for name in (row.name, *row.aliases)
}
# The table: every public option, then every internal option, in their documented order.
OPTIONS: tuple[Option, ...] = (*PUBLIC.values(), *INTERNAL_ROWS)
INTERNAL_NAMES: tuple[str, ...] = tuple(INTERNAL)


def _badintopt(x: Any):
    hint = ""
    if is_call(x, "Function") and len(x.args) == 1 and as_rule(x.args[0]) is not None:
        # "key" -> f[#] & reads as ("key" -> f[#]) &, since & binds loosest
        key, body = as_rule(x.args[0])
        hint = (f" (& binds more loosely than ->: write {show(key)} -> ({show(body)} &))")
    return fail("badintopt", f"{show(x)} is not a valid internal option{hint}, valid options "
                f"are: {quoted_list(INTERNAL_NAMES)}.")


def public_row(name: Any, rule: Any = None) -> Option:
    """The public row for an option name (string or symbol); unknown names give ``optx``."""
    key = key_name(name)
    if key in PUBLIC:
        return PUBLIC[key]
    near = difflib.get_close_matches(str(key), list(PUBLIC), n=1)
    hint = f" Did you mean {near[0]}?" if near else ""
    shown = show(rule) if rule is not None else show(name)
    raise fail("optx", f"Unknown option {show(name)} in NetTrain[net, data, {shown}].{hint}")


def _option_rules(spec: Any) -> list[tuple[Any, Any, Any]]:
    """Options as ``[(name, value, rule)]`` from text, a rule, a (nested) list of rules or a
    dict; Wolfram flattens nested option lists, and so do we."""
    if spec is None:
        return []
    if isinstance(spec, str):
        from wlbridge.syntax import parse

        spec = parse(spec)
    if isinstance(spec, dict):
        return [(k, v, None) for k, v in spec.items()]
    rule = as_rule(spec)
    if rule is not None:
        return [(rule[0], rule[1], spec)]
    if is_list(spec):
        return [r for item in spec for r in _option_rules(item)]
    raise fail("nonopt", f"Options expected (instead of {show(spec)}) in NetTrain[net, data, ...]; "
               "give rules such as BatchSize -> 32.")


def resolve(text_or_expr: Any = None, /, **overrides: Any) -> TrainConfig:
    """NetTrain options -> a validated `TrainConfig`.

    ``text_or_expr`` is Wolfram option text (``'BatchSize -> 32, "InternalOptions" -> {...}'``),
    a parsed rule or list of rules, or a dict; names may be strings or symbols. ``overrides`` are
    keyed by option name, with Python or Wolfram values, and win over ``text_or_expr``. As in
    Wolfram, the first occurrence of a public option wins; internal options apply in order and
    the last occurrence wins (reference §1.1); ``InternalOptions`` given both ways are merged,
    the override's rules applied last. Internal options apply after the public ones, as
    NetTrain parses them after WorkingPrecision and TargetDevice (§9.5.1).
    """
    given: dict[str, Any] = {}
    for name, value, rule in _option_rules(text_or_expr):
        given.setdefault(public_row(name, rule).name, value)
    for name, value in overrides.items():
        row = public_row(name)
        if row is INTERNAL_OPTIONS_ROW and row.name in given:
            value = _as_rules([*_internal_pairs(given[row.name]), *_internal_pairs(value)])
        given[row.name] = value

    # Normalise everything before anything is applied, so a bad option late in the list does
    # not leave a log file deleted or half a config built.
    res = Resolution()
    public = [(row, row.read(given[row.name])) for row in PUBLIC_ROWS if row.name in given]
    internal = [(_internal_row(k, v), v) for k, v in
                _internal_pairs(given.get("InternalOptions", ()))]
    internal = [(row, row.read(v)) for row, v in internal]
    for row, py in (*public, *internal):
        row.write(res, py)
    return _finish(res)


def _as_rules(pairs: list[tuple[Any, Any]]) -> tuple[Any, ...]:
    from wolframclient.language import wl

    return tuple(wl.Rule(k, v) for k, v in pairs)


def _internal_row(key: Any, value: Any) -> Option:
    name = key_name(key)
    if name in INTERNAL:
        return INTERNAL[name]
    from wolframclient.language import wl

    raise _badintopt(wl.Rule(key, value))


def _finish(res: Resolution) -> TrainConfig:
    """Rules that need several options at once."""
    config = res.config
    if config.learning_rate is not None:  # LearningRate wins over Method's "LearningRate"
        config.method.learning_rate = config.learning_rate
    goals = config.performance_goal or ()
    if (res.working_precision_automatic and "TrainingSpeed" in goals
            and config.target_device.startswith("cuda")):
        config.working_precision = "Mixed"  # reference §8.3
    if config.gradient_norm_function is None:
        config.gradient_norm_function = compile_norm(INTERNAL["GradientNormFunction"].default)
    return config


def describe() -> str:
    """The table as text for ``wlbridge options``: name, Wolfram default, meaning."""
    lines = ["NetTrain options:"]
    lines += [_line(row) for row in PUBLIC.values()]
    lines += ["", "Internal options (\"InternalOptions\" -> {\"key\" -> value, ...}):"]
    for row in INTERNAL_ROWS:
        line = _line(row)
        if row.aliases:
            line += f" (also {', '.join(row.aliases)})"
        lines.append(line)
    return "\n".join(lines)


def _line(row: Option) -> str:
    default = row.default
    if default is None:
        default = WLSymbol("None")
    return f"  {row.name:<31} {show(default):<24} {row.meaning}"
