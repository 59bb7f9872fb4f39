"""`parse`: Wolfram InputForm text -> the expression model (DESIGN rule 1), never evaluated.

The result is exactly what wolframclient's WXF reader gives for the same expression:

* ``WLSymbol`` with the context as written (``x`` -> ``WLSymbol("x")``,
  ``Internal`Bag`` -> ``WLSymbol("Internal`Bag")``), except ``System``` which is dropped
  (``System`Print`` -> ``WLSymbol("Print")``) because Mathematica writes System` symbols without
  a context in WXF. ``True``/``False``/``Null`` -> ``True``/``False``/``None``; the symbol
  ``None`` stays ``WLSymbol("None")`` (wolframclient writes Python None as Null; its WXF
  reader would also turn the symbol None into Python None, the one place we differ from it,
  so that an option value None survives). ``Infinity`` is the symbol ``Infinity``.
* numbers: see `numbers`; operators: see `pratt` (every operator of Wolfram's table, with its
  precedence and associativity from `optable`): ``1/2`` -> ``Times[1, Power[2, -1]]``,
  ``a; b`` -> ``CompoundExpression[a, b]``, ``x[[1]]`` -> ``Part[x, 1]``, ``f /@ x`` ->
  ``Map[f, x]``, ``f @@@ x`` -> ``MapApply[f, x]`` (Mathematica 13.1+; Mathics3 gives
  ``Apply[f, x, {1}]``).
* ``{...}`` -> tuple; ``<|k -> v, ...|>`` -> dict (see `literals`); ``NumericArray[{...},
  "Real32"]`` -> a numpy array of that dtype, as the WXF reader gives for a NumericArray.
* a top-level comma sequence ``a -> 1, b -> 2`` -> a tuple of its items (`parse_sequence`
  always returns a tuple, even for one item).

Every input ends in a value or a `WLSyntaxError` with a position, in time and memory linear in
its length: numbers too big to build are errors (`numbers`), nesting is bounded (`MAX_DEPTH`).

Why not Lark (our first reader was a Lark LALR grammar, and Lark stays the right tool for
ordinary grammars): Wolfram's syntax is an operator table of about 320 tokens at some 70
precedence levels, with implicit multiplication, n-ary ``Inequality`` chains, the ternary
``;;`` and ``~f~``, and prefix/postfix forms sharing tokens with infix ones. Lark has no
operator-precedence declarations, so the table would become a 70-deep chain of unit rules that
every atom is reduced through (the options string cost 0.5 ms there against 0.07 ms here), and
the irregular forms would need grammar conflicts resolved by hand, rule by rule, instead of
read from the table. Precedence climbing over `optable` (generated from Mathics3-Scanner's data
by `gen_optable`) keeps "the grammar is data" and is linear by construction.
"""

from __future__ import annotations

import gc
import re
import sys
from typing import Any

from wolframclient.language.expression import WLFunction

from wlbridge.syntax.errors import WLSyntaxError
from wlbridge.syntax.fastpath import GROUP_CHARS, is_candidate, numeric_list
from wlbridge.syntax.lexer import END, MAX_DEPTH, OP, tokenize
from wlbridge.syntax.pratt import Parser

_RECURSION = 8 * MAX_DEPTH + 1000
_RUN = re.compile(rf"\{{[{GROUP_CHARS}]*+")
#: Brace groups shorter than this go through the parser; longer numeric ones take the fast path.
FAST_GROUP_CHARS = 512


def _depth_ok(value: Any, skip: set[int]) -> bool:
    """Iteratively check that ``value`` nests no deeper than MAX_DEPTH (left-associative
    operators build depth without recursion: a /. b /. c /. ...)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > MAX_DEPTH + 1:  # atoms at the bottom do not count as a level
            return False
        if id(v) in skip:
            continue
        if isinstance(v, WLFunction):
            stack.append((v.head, d + 1))
            stack.extend((a, d + 1) for a in v.args)
        elif isinstance(v, tuple):
            stack.extend((a, d + 1) for a in v)
        elif isinstance(v, dict):
            stack.extend((a, d + 1) for kv in v.items() for a in kv)
    return True


def _numeric_groups(text: str) -> dict[int, tuple[int, Any]]:
    """Big numeric brace groups: start offset -> (end offset, value). A match inside a string
    or comment is harmless: the lexer only looks a group up where it reads a "{" token.

    Each run of list characters is taken whole (possessively) and cut at its last "}", then the
    search goes on after the run: linear, where a backtracking regex was quadratic on
    "{1,{1,{1,..." without closing braces."""
    found: dict[int, tuple[int, Any]] = {}
    if len(text) < FAST_GROUP_CHARS:
        return found
    pos = 0
    while True:
        m = _RUN.search(text, pos)
        if m is None:
            return found
        start, run = m.start(), m.group()
        end = run.rfind("}") + 1
        if end >= FAST_GROUP_CHARS:
            value = numeric_list(run[:end], MAX_DEPTH)
            if value is not None:
                found[start] = (start + end, value)
        pos = m.end()


def parse_sequence(text: str) -> tuple[Any, ...]:
    """All items of a top-level comma sequence (``a -> 1, b -> 2``), always as a tuple."""
    # The reader builds no reference cycles: the cycle collector only adds time that grows
    # with everything else alive in the process (millions of new objects for a big text).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_sequence(text)
    finally:
        if enabled:
            gc.enable()


def _parse_sequence(text: str) -> tuple[Any, ...]:
    if not isinstance(text, str):
        raise TypeError(f"parse expects Wolfram text (str), not {type(text).__name__}")
    if not text.strip():
        raise WLSyntaxError("sntxi", "empty input: there is no expression", text, 0,
                            ("an expression",))
    if is_candidate(text):
        value = numeric_list(text, MAX_DEPTH)
        if value is not None:
            return (value,)
    fast = _numeric_groups(text)
    toks = tokenize(text, fast)
    if toks[0][0] == END:
        raise WLSyntaxError("sntxi", "empty input: there is only a comment", text, 0,
                            ("an expression",))
    p = Parser(toks, text)
    if sys.getrecursionlimit() < _RECURSION:
        sys.setrecursionlimit(_RECURSION)  # MAX_DEPTH levels take up to ~5 frames each
    try:
        items = [p.expr(0)]
        while toks[p.i][0] == OP and toks[p.i][1] == ",":
            p.i += 1
            items.append(p.expr(0))
    except RecursionError:  # a caller already deep in its own stack
        raise WLSyntaxError("depth", "the expression nests too deeply to read", text,
                            toks[min(p.i, len(toks) - 1)][2]) from None
    if toks[p.i][0] != END:
        raise p.error(toks[p.i], ('","', "the end of the input"))
    result = tuple(items)
    if not _depth_ok(result, {id(v) for _, v in fast.values()}):
        raise WLSyntaxError("depth", f"operators nest deeper than {MAX_DEPTH} levels", text, 0)
    return result


def parse(text: str) -> Any:
    """The expression for Wolfram text; a top-level comma sequence gives a tuple of its items."""
    items = parse_sequence(text)
    return items[0] if len(items) == 1 else items
