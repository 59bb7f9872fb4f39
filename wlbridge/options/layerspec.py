"""Layer specs in ``layerspec -> value`` rules (LearningRateMultipliers, per-array Method
sub-options) -> array-path prefixes the engine can match.

Encoding of one path element (the engine matches a rule when its path is a prefix of an array's
path ``(node key, ..., array name)``; the first matching rule wins, reference §9.3):

* a string ``"key"`` -> ``"key"`` (a node key or an array name such as ``"Weights"``);
* an integer position ``n`` -> ``"#n"`` (``"#-1"`` = last node): the engine resolves positions
  against the container's node order, since a NetGraph's keys need not be ``"1", "2", ...``;
* ``All`` -> ``"*"`` (any one key); ``All`` as the whole spec -> ``()`` (every array);
* the pattern ``_`` as the whole spec -> ``()`` too: with first-match-wins it is "every other
  array", so ``{"layer" -> 1, _ -> None}`` trains "layer" alone (the documentation's
  transfer-learning idiom; ``_ -> 0`` freezes everything not named before it).
"""

from __future__ import annotations

from typing import Any

from wlbridge.options.exprs import (
    as_rule,
    fail,
    head_name,
    is_int,
    is_list,
    is_number,
    is_sym,
    show,
)

Path = tuple[str, ...]


def is_blank(x: Any) -> bool:
    """True for the pattern ``_`` (``Blank[]``), which matches any layer."""
    return head_name(x) == "Blank" and not x.args


def layer_path(spec: Any, option: str) -> Path:
    """One layer spec -> a path prefix (see the module docstring for the encoding)."""
    if is_sym(spec, "All") or is_blank(spec):
        return ()
    items = spec if is_list(spec) else (spec,)
    path = []
    for item in items:
        if isinstance(item, str):
            path.append(item)
        elif is_int(item) and item != 0:
            path.append(f"#{int(item)}")
        elif is_sym(item, "All"):
            path.append("*")
        else:
            raise fail("netinvopt", f"{show(spec)} is not a valid layer specification in {option}; "
                       "use a layer name, a position, a list of these, or All.")
    return tuple(path)


def path_rules(value: Any, option: str, none_is: float | None = 0.0) -> list[tuple[Path, float]]:
    """``{spec -> r, ...}`` (or one rule, or a dict) -> ``[(path, r), ...]`` in the order given.

    ``None`` as a value becomes ``none_is`` (0 for learning-rate multipliers: frozen).
    """
    if isinstance(value, dict):
        rules = list(value.items())
    else:
        rules = []
        for item in value if is_list(value) else (value,):
            rule = as_rule(item)
            if rule is None:
                raise fail("netinvopt", f"{show(item)} in {option} should be a rule "
                           "layerspec -> value.")
            rules.append(rule)
    out = []
    for spec, r in rules:
        if is_sym(r, "None") or r is None:
            if none_is is None:
                raise fail("netinvopt", f"None is not a valid value for {show(spec)} in {option}.")
            factor = none_is
        elif is_number(r):
            factor = float(r)
        else:
            raise fail("netinvopt", f"The value {show(r)} for {show(spec)} in {option} should be "
                       "a real number or None.")
        out.append((layer_path(spec, option), factor))
    return out
