"""Small predicates over the expression model (DESIGN rule 1) used by every option normaliser.

Option values arrive as wolframclient objects (`WLFunction`, `WLSymbol`) and Python natives, from
our parser, from WXF, or straight from Python callers (who may use lists where Wolfram has tuples),
so every test here accepts both spellings.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from wolframclient.language.expression import WLFunction, WLSymbol

from wlbridge.exprs import is_int, is_number  # noqa: F401 - re-exported to the normalisers
from wlbridge.messages import WLMessage, message

# Contexts a user never writes: `System`Automatic` and `Automatic` are the same symbol to them.
_QUIET_CONTEXTS = ("System`", "Global`")


def short_name(name: str) -> str:
    """``System`Foo`` / ``Global`Foo`` -> ``Foo``; other contexts are kept (``Internal`Bag``)."""
    for ctx in _QUIET_CONTEXTS:
        if name.startswith(ctx):
            return name[len(ctx):]
    return name


def sym_name(x: Any) -> str | None:
    """The symbol's name without System`/Global`, or None when ``x`` is not a symbol."""
    return short_name(x.name) if isinstance(x, WLSymbol) else None


def is_sym(x: Any, *names: str) -> bool:
    """True when ``x`` is one of the named symbols."""
    return sym_name(x) in names


def head_name(x: Any) -> str | None:
    """The head's symbol name of a normal expression ``h[...]``, else None."""
    if isinstance(x, WLFunction) and isinstance(x.head, WLSymbol):
        return short_name(x.head.name)
    return None


def is_call(x: Any, *names: str) -> bool:
    """True when ``x`` is ``h[...]`` with ``h`` one of ``names``."""
    return head_name(x) in names


def is_list(x: Any) -> bool:
    """A Wolfram List as Python sees it (tuple from the parser / WXF, list from Python callers)."""
    return isinstance(x, (tuple, list))


def as_rule(x: Any) -> tuple[Any, Any] | None:
    """``(key, value)`` for ``Rule``/``RuleDelayed`` (or a Python 2-tuple is *not* a rule), else None."""
    if is_call(x, "Rule", "RuleDelayed") and len(x.args) == 2:
        return x.args[0], x.args[1]
    return None


def key_name(k: Any) -> str | None:
    """Option / sub-option names may be strings or symbols: ``"BatchSize"`` or ``BatchSize``."""
    if isinstance(k, str):
        return k
    name = sym_name(k)
    if name is None:
        return None
    return name.rsplit("`", 1)[-1]


def is_wl(x: Any) -> bool:
    """True for wolframclient expression objects (which are Python-callable, so test this first)."""
    return isinstance(x, (WLFunction, WLSymbol))


def show(x: Any) -> str:
    """``x`` as one line of Wolfram InputForm, for messages; Python objects fall back to repr.
    An exact fraction shows as ``-1/1000``, as Wolfram prints an evaluated ``-10^-3``."""
    if isinstance(x, Fraction):
        return f"{x.numerator}/{x.denominator}"
    try:
        from wlbridge.syntax import to_text

        return to_text(x)
    except Exception:  # a Python callable or a value no writer knows: still say what it was
        return repr(x)


def fail(tag: str, text: str) -> WLMessage:
    """A ``NetTrain::tag`` message (General messages show under the calling symbol, as in Wolfram)."""
    return message("NetTrain", tag, text)


def sub_options(items: Any, option: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    """Rules (or a dict) of sub-options -> ``{name: value}``; unknown names give ``invsubopts``."""
    pairs = items.items() if isinstance(items, dict) else None
    if pairs is None:
        pairs = []
        for item in items:
            rule = as_rule(item)
            if rule is None:
                raise fail("invsubopts", f"{show(item)} is not a valid sub-option of {option}; "
                           f"expected rules with keys among {_names(allowed)}.")
            pairs.append(rule)
    out: dict[str, Any] = {}
    for k, v in pairs:
        name = key_name(k)
        if name not in allowed:
            raise fail("invsubopts", f"{show(k)} is not a valid sub-option of {option}; "
                       f"valid sub-options are {_names(allowed)}.")
        out[name] = v
    return out


def _names(names: tuple[str, ...]) -> str:
    return "{" + ", ".join(f'"{n}"' for n in names) + "}"


quoted_list = _names
