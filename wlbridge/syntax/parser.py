"""`parse`: Wolfram InputForm text -> the expression model (DESIGN rule 1), never evaluated.

The result is exactly what wolframclient's WXF reader gives for the same expression:

* ``WLSymbol`` with the context as written (``x`` -> ``WLSymbol("x")``,
  ``Internal`Bag`` -> ``WLSymbol("Internal`Bag")``), except ``System``` which is dropped
  (``System`Print`` -> ``WLSymbol("Print")``) because Mathematica writes System` symbols without
  a context in WXF. ``True``/``False``/``Null`` -> ``True``/``False``/``None``; the symbol
  ``None`` stays ``WLSymbol("None")`` (wolframclient writes Python None as Null; its WXF
  reader would also turn the symbol None into Python None, the one place we differ from it,
  so that an option value None survives).
  ``Infinity`` is the symbol ``Infinity``: held input shows it that way (it only becomes
  ``DirectedInfinity[1]`` when evaluated), and Mathics3 reads it the same.
* numbers: see `numbers`; ``-3`` -> ``-3``, ``-x`` -> ``Times[-1, x]``, ``a - b`` ->
  ``Plus[a, Times[-1, b]]``, ``1/2`` -> ``Times[1, Power[2, -1]]``; chains of ``*``, ``/``,
  juxtaposition and a leading minus flatten into one ``Times`` unless parenthesised, as
  Mathics3's reader does (``-a/b`` -> ``Times[-1, a, Power[b, -1]]``).
* ``{...}`` -> tuple; ``<|k -> v, ...|>`` -> dict (keys in order). An association that holds a
  ``:>``, a non-rule item, a repeated key or an unhashable key cannot be a dict and stays
  ``WLFunction(WLSymbol("Association"), ...)``, as written.
* ``NumericArray[{...}, "Real32"]`` with a literal rectangular numeric list and a known type
  -> a numpy array of that dtype, as the WXF reader gives for a NumericArray.
* a top-level comma sequence ``a -> 1, b -> 2`` -> a tuple of its items (`parse_sequence`
  always returns a tuple, even for one item).
"""

from __future__ import annotations

import bisect
import re
import threading
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from wolframclient.language.expression import WLFunction, WLSymbol

from wlbridge.syntax.errors import WLSyntaxError
from wlbridge.syntax.fastpath import GROUP_RE, is_candidate, numeric_list
from wlbridge.syntax.numbers import NumberError, number_value
from wlbridge.syntax.scan import MAX_DEPTH, prescan
from wlbridge.syntax.strings import StringEscapeError, unescape

#: Brace groups shorter than this go through the grammar; longer numeric ones take the fast path.
FAST_GROUP_CHARS = 512

_S = WLSymbol
_TIMES, _PLUS, _POWER = _S("Times"), _S("Plus"), _S("Power")
_CONSTANTS = {"True": True, "False": False, "Null": None}
_RELATIONS = {"==": "Equal", "!=": "Unequal", "<": "Less", ">": "Greater",
              "<=": "LessEqual", ">=": "GreaterEqual", "===": "SameQ", "=!=": "UnsameQ"}
_EMPTY = object()  # an empty argument slot: f[a, ] -> f[a, Null]
_NUMERIC_TYPES = {
    "Integer8": "int8", "Integer16": "int16", "Integer32": "int32", "Integer64": "int64",
    "UnsignedInteger8": "uint8", "UnsignedInteger16": "uint16",
    "UnsignedInteger32": "uint32", "UnsignedInteger64": "uint64",
    "Real32": "float32", "Real64": "float64",
}


class _State(threading.local):
    def __init__(self) -> None:
        self.source = ""
        self.flat: set[int] = set()   # ids of Times[...] a following * / or minus may extend
        self.fast: list[Any] = []      # values of numeric groups replaced by placeholders


_state = _State()


def _fn(head: str, *args: Any) -> WLFunction:
    return WLFunction(_S(head), *args)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _negate(x: Any) -> Any:
    if _is_number(x):
        return -x
    from decimal import Decimal

    if isinstance(x, Decimal):
        return -x
    flat = _state.flat
    if isinstance(x, WLFunction) and id(x) in flat:
        out = WLFunction(_TIMES, -1, *x.args)
    else:
        out = WLFunction(_TIMES, -1, x)
    flat.add(id(out))
    return out


def _symbol(name: str) -> Any:
    if name.startswith("System`") and name.count("`") == 1:
        name = name[7:]
    if name in _CONSTANTS:
        return _CONSTANTS[name]
    return _S(name)


def _numeric_array(data: Any, type_name: str) -> Any:
    """numpy array for a literal NumericArray, or None when the data does not fit the type."""
    import numpy as np

    dtype = np.dtype(_NUMERIC_TYPES[type_name])
    try:
        arr = np.array(data, dtype=object)
    except ValueError:
        return None
    flat = arr.reshape(-1).tolist() if arr.ndim else []
    if not arr.ndim or any(isinstance(v, tuple) for v in flat):
        return None  # ragged
    if dtype.kind in "iu":
        if not all(type(v) is int for v in flat):
            return None
        info = np.iinfo(dtype)
        if any(v < info.min or v > info.max for v in flat):
            return None
    elif not all(type(v) in (int, float) for v in flat):
        return None
    return np.array(data, dtype=dtype)


class _Build(Transformer):
    """Builds model values while LALR reduces (no tree is kept); method names are rule names."""

    def sequence(self, items: list[Any]) -> tuple[Any, ...]:
        return tuple(items)

    def postfix_apply(self, c: list[Any]) -> Any:
        return WLFunction(c[1], c[0])

    def pure_function(self, c: list[Any]) -> Any:
        return _fn("Function", c[0])

    def replace_all(self, c: list[Any]) -> Any:
        return _fn("ReplaceAll", *c)

    def rule(self, c: list[Any]) -> Any:
        return _fn("Rule", *c)

    def rule_delayed(self, c: list[Any]) -> Any:
        return _fn("RuleDelayed", *c)

    def two_way_rule(self, c: list[Any]) -> Any:
        return _fn("TwoWayRule", *c)

    def dot(self, c: list[Any]) -> Any:
        return _fn("Dot", *c)

    def alternatives(self, c: list[Any]) -> Any:
        return _fn("Alternatives", *c)

    def or_(self, c: list[Any]) -> Any:
        return _fn("Or", *c)

    def and_(self, c: list[Any]) -> Any:
        return _fn("And", *c)

    def not_(self, c: list[Any]) -> Any:
        return _fn("Not", *c)

    def relation(self, c: list[Any]) -> Any:
        ops = {str(op) for op in c[1::2]}
        if len(ops) == 1:
            return _fn(_RELATIONS[ops.pop()], *c[0::2])
        return _fn("Inequality", *[_S(_RELATIONS[str(x)]) if isinstance(x, Token) else x
                                   for x in c])

    def span_abc(self, c: list[Any]) -> Any:
        return _fn("Span", *c)

    span_ab = span_abc

    def span_a(self, c: list[Any]) -> Any:
        return _fn("Span", c[0], _S("All"))

    def span_b(self, c: list[Any]) -> Any:
        return _fn("Span", 1, c[0])

    def span_all(self, c: list[Any]) -> Any:
        return _fn("Span", 1, _S("All"))

    def plus(self, c: list[Any]) -> Any:
        terms = [c[0]]
        for op, term in zip(c[1::2], c[2::2], strict=True):
            terms.append(_negate(term) if op == "-" else term)
        return WLFunction(_PLUS, *terms)

    def mul(self, c: list[Any]) -> tuple[bool, Any]:
        return (False, c[0])

    def div(self, c: list[Any]) -> tuple[bool, Any]:
        return (True, c[0])

    def times(self, c: list[Any]) -> Any:
        flat = _state.flat
        factors: list[Any] = []
        for divide, x in [(False, c[0]), *c[1:]]:
            if divide:
                factors.append(WLFunction(_POWER, x, -1))
            elif isinstance(x, WLFunction) and id(x) in flat:
                factors.extend(x.args)
            else:
                factors.append(x)
        out = WLFunction(_TIMES, *factors)
        flat.add(id(out))
        return out

    def neg(self, c: list[Any]) -> Any:
        return _negate(c[1])

    def pos(self, c: list[Any]) -> Any:
        return c[1] if _is_number(c[1]) else _fn("Plus", c[1])

    def power(self, c: list[Any]) -> Any:
        return WLFunction(_POWER, *c)

    def string_join(self, c: list[Any]) -> Any:
        return _fn("StringJoin", *c)

    def map(self, c: list[Any]) -> Any:
        return _fn("Map", *c)

    def apply(self, c: list[Any]) -> Any:
        return _fn("Apply", *c)

    def right_composition(self, c: list[Any]) -> Any:
        return _fn("RightComposition", *c)

    def composition(self, c: list[Any]) -> Any:
        return _fn("Composition", *c)

    def prefix_apply(self, c: list[Any]) -> Any:
        return WLFunction(c[0], c[1])

    def call(self, c: list[Any]) -> Any:
        head, args = c
        if (head == _S("NumericArray") and isinstance(head, WLSymbol) and len(args) == 2
                and isinstance(args[0], tuple) and args[1] in _NUMERIC_TYPES):
            arr = _numeric_array(args[0], args[1])
            if arr is not None:
                return arr
        return WLFunction(head, *args)

    def args(self, c: list[Any]) -> tuple[Any, ...]:
        if len(c) == 1 and c[0] is _EMPTY:
            return ()
        return tuple(None if a is _EMPTY else a for a in c)

    def arg(self, c: list[Any]) -> Any:
        return c[0] if c else _EMPTY

    def number(self, c: list[Token]) -> Any:
        tok = c[0]
        try:
            return number_value(str(tok))
        except NumberError as e:
            raise WLSyntaxError("sntxb", str(e), _state.source, tok.start_pos) from None

    def string(self, c: list[Token]) -> str:
        tok = c[0]
        try:
            return unescape(tok[1:-1])
        except StringEscapeError as e:
            raise WLSyntaxError(e.tag, str(e), _state.source,
                                tok.start_pos + 1 + e.offset) from None

    def symbol(self, c: list[Token]) -> Any:
        return _symbol(str(c[0]))

    def slot(self, c: list[Token]) -> Any:
        text = str(c[0])
        if text.startswith("##"):
            return _fn("SlotSequence", int(text[2:] or 1))
        rest = text[1:]
        return _fn("Slot", int(rest) if rest.isdigit() else (rest or 1))

    def pattern(self, c: list[Token]) -> Any:
        text = str(c[0])
        optional = text.endswith(".")
        text = text.rstrip(".")
        m = re.fullmatch(r"([^_]*)(_{1,3})(.*)", text)
        assert m is not None
        name, blanks, head = m.groups()
        blank = _fn(("Blank", "BlankSequence", "BlankNullSequence")[len(blanks) - 1],
                    *([_symbol(head)] if head else []))
        out = _fn("Pattern", _symbol(name), blank) if name else blank
        return _fn("Optional", out) if optional else out

    def fastlist(self, c: list[Token]) -> Any:
        return _state.fast[int(str(c[0])[1:-1])]

    def paren(self, c: list[Any]) -> Any:
        _state.flat.discard(id(c[0]))
        return c[0]

    def list_(self, c: list[Any]) -> tuple[Any, ...]:
        return c[0]

    def association(self, c: list[Any]) -> Any:
        items = c[0]
        if all(isinstance(r, WLFunction) and r.head == _S("Rule") and len(r.args) == 2
               for r in items):
            try:
                d = {r.args[0]: r.args[1] for r in items}
            except TypeError:
                d = None
            if d is not None and len(d) == len(items):
                return d
        return _fn("Association", *items)


_GRAMMAR = (Path(__file__).with_name("wl.lark")).read_text(encoding="utf-8")
_parser: Lark | None = None
_lock = threading.Lock()


def _get_parser() -> Lark:
    global _parser
    if _parser is None:
        with _lock:
            if _parser is None:
                _parser = Lark(_GRAMMAR, parser="lalr", transformer=_Build(),
                               propagate_positions=False, maybe_placeholders=False,
                               cache=True)
    return _parser


def _describe(expected: set[str]) -> tuple[str, ...]:
    parser = _get_parser()
    names = []
    for name in sorted(expected):
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            names.append(name)
            continue
        if pattern.type == "str":
            names.append(f'"{pattern.value}"')
        else:
            names.append({"NUMBER": "a number", "STRING": "a string", "SYMBOL": "a symbol",
                          "RELOP": "a comparison", "SLOT": "#", "PATTERN": "a pattern"}
                         .get(name, name.lower()))
    names = sorted((n for n in names if "\ue000" not in n and n != "fastlist"),
                   key=lambda n: (n.startswith('"'), n))
    # A long list helps nobody: show the first few, the parser's own order is arbitrary.
    return tuple(names[:8] + ["..."] if len(names) > 8 else names)


def _syntax_error(e: UnexpectedInput, source: str) -> WLSyntaxError:
    if isinstance(e, UnexpectedEOF):
        return WLSyntaxError("sntxi", "incomplete expression; more input is needed",
                             source, len(source.rstrip()), _describe(e.expected))
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            return WLSyntaxError("sntxi", "incomplete expression; more input is needed",
                                 source, len(source.rstrip()), _describe(e.expected))
        shown = source[tok.start_pos:tok.end_pos] if tok.start_pos is not None else str(tok)
        if len(shown) > 20:
            shown = shown[:20] + "..."
        return WLSyntaxError("sntxf", f"unexpected {shown!r}", source, tok.start_pos or 0,
                             _describe(e.expected))
    if isinstance(e, UnexpectedCharacters):
        ch = source[e.pos_in_stream] if e.pos_in_stream < len(source) else ""
        return WLSyntaxError("sntxf", f"character {ch!r} cannot start or continue an expression",
                             source, e.pos_in_stream, _describe(e.allowed or set()))
    return WLSyntaxError("sntxf", str(e).splitlines()[0], source, 0)


def _depth_ok(value: Any, skip: set[int]) -> bool:
    """Iteratively check that ``value`` nests no deeper than MAX_DEPTH (operators can nest
    without brackets: a -> b -> c -> ...)."""
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


def _replace_numeric_groups(text: str, string_starts: list[int], string_ends: list[int],
                            fast: list[Any]) -> str:
    """Swap big numeric brace groups for same-length placeholders (positions stay right)."""
    pieces: list[str] = []
    last = 0
    for m in GROUP_RE.finditer(text):
        start, end = m.span()
        if end - start < FAST_GROUP_CHARS:
            continue
        i = bisect.bisect_right(string_starts, start) - 1
        if i >= 0 and string_ends[i] > start:
            continue  # inside a string literal
        value = numeric_list(m.group(), MAX_DEPTH)
        if value is None:
            continue
        marker = f"\ue000{len(fast)}\ue001"
        fast.append(value)
        pieces.append(text[last:start])
        pieces.append(marker + re.sub(r"[^\n]", " ", m.group()[len(marker):]))
        last = end
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def parse_sequence(text: str) -> tuple[Any, ...]:
    """All items of a top-level comma sequence (``a -> 1, b -> 2``), always as a tuple."""
    if not isinstance(text, str):
        raise TypeError(f"parse expects Wolfram text (str), not {type(text).__name__}")
    if not text.strip():
        raise WLSyntaxError("sntxi", "empty input: there is no expression", text, 0,
                            ("an expression",))
    if is_candidate(text):
        value = numeric_list(text, MAX_DEPTH)
        if value is not None:
            return (value,)
    scan = prescan(text)
    if not scan.text.strip():
        raise WLSyntaxError("sntxi", "empty input: there is only a comment", text, 0,
                            ("an expression",))
    fast: list[Any] = []
    body = _replace_numeric_groups(scan.text, scan.string_starts, scan.string_ends, fast)
    _state.source, _state.flat, _state.fast = text, set(), fast
    try:
        result = _get_parser().parse(body)
    except WLSyntaxError:
        raise
    except UnexpectedInput as e:
        raise _syntax_error(e, text) from None
    finally:
        _state.flat, _state.fast = set(), []
    if not _depth_ok(result, {id(v) for v in fast}):
        raise WLSyntaxError("depth", f"operators nest deeper than {MAX_DEPTH} levels", text, 0)
    return result


def parse(text: str) -> Any:
    """The expression for Wolfram text; a top-level comma sequence gives a tuple of its items."""
    items = parse_sequence(text)
    return items[0] if len(items) == 1 else items
