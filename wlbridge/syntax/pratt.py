"""Precedence climbing over the operator table: tokens -> model values, nothing evaluated.

Every operator's precedence and associativity comes from `optable` (Mathics3-Scanner's data); the
few forms that are not plain prefix/infix/postfix operators have a method of their own, written
to give what Mathematica's reader gives (and Mathics3's, harness README 2): ``a - b`` ->
``Plus[a, Times[-1, b]]``, ``a/b`` -> ``Times[a, Power[b, -1]]``, ``a < b <= c`` ->
``Inequality[...]``, ``x_:v`` -> ``Optional``, ``f'`` -> ``Derivative[1][f]``, ``e[[i]]`` ->
``Part``, ``a; b`` -> ``CompoundExpression``, ``a ~f~ b`` -> ``f[a, b]``, ``f /: l = r``
-> ``TagSet``, ``a;;b`` -> ``Span``, ``x >> file`` -> ``Put[x, "file"]``.

A flat operator (``+``, ``*``, ``&&``, ``<>``...) collects its operands in one list while the
same operator repeats, so a chain of n terms costs O(n); an operand with the same head is
spliced in unless it was parenthesised, which is what `_ops` remembers (by identity, holding
the objects so an id is never reused during one parse). Recursion is bounded by `MAX_DEPTH`.
"""

from __future__ import annotations

from typing import Any

from wolframclient.language.expression import WLFunction, WLSymbol

from wlbridge.syntax.errors import WLSyntaxError
from wlbridge.syntax.lexer import END, FILE, MAX_DEPTH, NUM, OP, OUT, PAT, SLOT, STR, SYM, VAL
from wlbridge.syntax.literals import STOP as _STOP
from wlbridge.syntax.literals import fn as _fn
from wlbridge.syntax.optable import INFIX, POSTFIX, PREFIX
from wlbridge.syntax.special import SPECIAL as _SPECIAL
from wlbridge.syntax.special import SpecialForms

_S = WLSymbol
_TIMES, _PLUS, _POWER, _LIST = _S("Times"), _S("Plus"), _S("Power"), _S("List")
_RELATIONS = {"Equal", "Unequal", "Less", "Greater", "LessEqual", "GreaterEqual"}
_STARTS = {"(", "{", "<|", "!!", ";;", *PREFIX}
_EXPECTED = ("an expression", "a symbol", "a number", "a string")
TIMES_PREC, PLUS_PREC = INFIX["*"][1], INFIX["+"][1]


class Parser(SpecialForms):
    """One parse of one token list (see the module notes)."""

    def __init__(self, tokens: list[tuple], source: str):
        super().__init__(source)
        self.toks = tokens
        self.i = 0
        self.depth = 0
        self._ops: dict[int, Any] = {}  # id -> unparenthesised operator result

    # ---- helpers -------------------------------------------------------------------------
    def error(self, tok: tuple, expected: tuple[str, ...] = _EXPECTED) -> WLSyntaxError:
        kind, value, start = tok
        if kind == END:
            return WLSyntaxError("sntxi", "incomplete expression; more input is needed",
                                 self.source, len(self.source.rstrip()), expected)
        shown = self.source[start:start + 20] if kind != OP else value
        return WLSyntaxError("sntxf", f"unexpected {shown!r}", self.source, start, expected)

    def expect(self, op: str) -> None:
        tok = self.toks[self.i]
        if tok[0] != OP or tok[1] != op:
            raise self.error(tok, (f'"{op}"',))
        self.i += 1

    def op(self, value: Any) -> Any:
        self._ops[id(value)] = value
        return value

    def splice(self, x: Any, head: WLSymbol) -> tuple:
        if isinstance(x, WLFunction) and id(x) in self._ops and x.head == head \
                and isinstance(x.head, WLSymbol):
            return x.args
        return (x,)

    def starts(self, tok: tuple) -> bool:
        kind = tok[0]
        return kind != END and (kind != OP or tok[1] in _STARTS) and kind != FILE

    # ---- expressions ---------------------------------------------------------------------
    def expr(self, p: int) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise WLSyntaxError("depth", f"operators nest deeper than {MAX_DEPTH} levels",
                                self.source, self.toks[self.i][2])
        try:
            left = self.prefix()
            while True:
                new = self.infix(left, p)
                if new is _STOP:
                    return left
                left = new
        finally:
            self.depth -= 1

    def prefix(self) -> Any:
        tok = self.toks[self.i]
        kind, value, start = tok
        if kind != OP:
            self.i += 1
            if kind == NUM:
                return self.number(value, start)
            if kind == SYM:
                return self.symbol(value)
            if kind in (STR, VAL):
                return value
            if kind == PAT:
                return self.pattern(value)
            if kind == SLOT:
                return self.slot(value, start)
            if kind == OUT:
                return self.out(value, start)
            self.i -= 1
            raise self.error(tok)
        if value == "(":
            self.i += 1
            inner = self.expr(0)
            self.expect(")")
            self._ops.pop(id(inner), None)
            return inner
        if value == "{":
            self.i += 1
            return tuple(self.seq("}"))
        if value == "<|":
            self.i += 1
            return self.association(self.seq("|>"))
        if value == ";;":
            return self.span(1, 0)
        if value == "!!":  # !!a is Not[Not[a]]
            self.i += 1
            return self.op(_fn("Not", _fn("Not", self.expr(PREFIX["!"][1]))))
        if value in PREFIX:
            self.i += 1
            return self.prefix_op(value)
        raise self.error(tok)

    def prefix_op(self, value: str) -> Any:
        name, prec = PREFIX[value]
        if name == "Get":
            return _fn("Get", self.filename())
        operand = self.expr(prec)
        if name == "Minus":
            if self.negatable(operand):
                return self.negate(operand)
            return self.op(WLFunction(_TIMES, -1, *self.splice(operand, _TIMES)))
        if name == "Plus":
            return self.op(WLFunction(_PLUS, *self.splice(operand, _PLUS)))
        return self.op(_fn(name, operand))

    def filename(self) -> str:
        kind, value, _ = self.toks[self.i]
        self.i += 1
        return value  # the lexer always puts a STR or FILE token after >>, >>> and <<

    def seq(self, closer: str) -> list[Any]:
        """Comma-separated items up to ``closer``; empty items are Null (``f[a, ]``)."""
        items: list[Any] = []
        toks = self.toks
        while True:
            kind, value, _ = toks[self.i]
            if kind == OP and value == ",":
                items.append(None)
                self.i += 1
                continue
            if kind == OP and value == closer:
                if items:
                    items.append(None)
                self.i += 1
                return items
            items.append(self.expr(0))
            kind, value, _ = toks[self.i]
            if kind == OP and value == ",":
                self.i += 1
                if toks[self.i][0] == OP and toks[self.i][1] == closer:
                    items.append(None)
                    self.i += 1
                    return items
                continue
            if kind == OP and value == closer:
                self.i += 1
                return items
            raise self.error(toks[self.i], ('","', f'"{closer}"'))

    # ---- infix and postfix -----------------------------------------------------------------
    def infix(self, left: Any, p: int) -> Any:
        tok = self.toks[self.i]
        kind, value, _ = tok
        if kind == OP:
            if value == "[":
                return self.call(left) if p <= 670 else _STOP
            if value == ":":
                return self.colon(left, p)
            if value in INFIX:
                return self.binary(left, value, p)
            if value in POSTFIX:
                return self.postfix(left, value, p)
            if value not in _STARTS:
                return _STOP
        if kind == END or kind == FILE or p > TIMES_PREC:
            return _STOP
        return self.times(left, p)

    def postfix(self, left: Any, value: str, p: int) -> Any:
        name, prec = POSTFIX[value]
        if name == "Unset":
            if p > 40:
                return _STOP
        elif prec < p:
            return _STOP
        self.i += 1
        if name == "Derivative":
            n = 1
            while self.toks[self.i][0] == OP and self.toks[self.i][1] == "'":
                n += 1
                self.i += 1
            return _fn("Derivative", n)(left)
        return self.op(_fn(name, left))

    def binary(self, left: Any, value: str, p: int) -> Any:
        name, prec, assoc = INFIX[value]
        if name == "MessageName":
            return self.message_name(left)
        if prec < p:
            return _STOP
        if name in ("Plus", "Subtract"):
            return self.plus(left, p)
        if name in ("Times", "Divide"):
            return self.times(left, p)
        if name in _RELATIONS:
            return self.relation(left, p)
        special = _SPECIAL.get(name)
        if special is not None:
            return special(self, left, prec)
        self.i += 1
        if assoc == "flat":
            return self.flat(left, name, value, prec)
        right = self.expr(prec if assoc == "right" else prec + 1)
        if assoc == "none" and isinstance(left, WLFunction) and id(left) in self._ops \
                and left.head == _S(name):
            raise self.error(self.toks[self.i - 1])
        return self.op(_fn(name, left, right))

    def flat(self, left: Any, name: str, value: str, prec: int) -> Any:
        head = _S(name)
        items = list(self.splice(left, head))
        while True:
            items.extend(self.splice(self.expr(prec + 1), head))
            tok = self.toks[self.i]
            if tok[0] != OP or INFIX.get(tok[1], ("",))[0] != name:
                return self.op(WLFunction(head, *items))
            self.i += 1

    def plus(self, left: Any, p: int) -> Any:
        items = list(self.splice(left, _PLUS))
        toks = self.toks
        while toks[self.i][0] == OP and INFIX.get(toks[self.i][1], ("",))[0] in (
                "Plus", "Subtract"):
            minus = INFIX[toks[self.i][1]][0] == "Subtract"
            self.i += 1
            term = self.expr(PLUS_PREC + 1)
            if minus:
                term = (self.negate(term) if self.negatable(term)
                        else self.op(WLFunction(_TIMES, -1, *self.splice(term, _TIMES))))
            items.extend(self.splice(term, _PLUS))
        return self.op(WLFunction(_PLUS, *items))

    def times(self, left: Any, p: int) -> Any:
        """``*``, ``/`` and juxtaposition into one flat Times (``a b/c`` -> Times[a, b, c^-1])."""
        items = list(self.splice(left, _TIMES))
        toks = self.toks
        while True:
            tok = toks[self.i]
            name = INFIX.get(tok[1], ("",))[0] if tok[0] == OP else ""
            if name == "Divide":
                self.i += 1
                items.append(WLFunction(_POWER, self.expr(INFIX["/"][1] + 1), -1))
            elif p > TIMES_PREC:
                break
            elif name == "Times":
                self.i += 1
                items.extend(self.splice(self.expr(TIMES_PREC + 1), _TIMES))
            elif self.starts(tok) and not (tok[0] == OP and tok[1] in INFIX):
                items.extend(self.splice(self.expr(TIMES_PREC + 1), _TIMES))
            else:
                break
        return self.op(WLFunction(_TIMES, *items))

    def relation(self, left: Any, p: int) -> Any:
        """Comparisons: one head repeated flattens, mixed ones make an Inequality."""
        head, items = None, [left]
        if isinstance(left, WLFunction) and id(left) in self._ops and \
                isinstance(left.head, WLSymbol) and (left.head.name in _RELATIONS
                                                     or left.head.name == "Inequality"):
            head, items = left.head.name, list(left.args)
        toks = self.toks
        while toks[self.i][0] == OP and INFIX.get(toks[self.i][1], ("",))[0] in _RELATIONS:
            name = INFIX[toks[self.i][1]][0]
            self.i += 1
            right = self.expr(INFIX["=="][1] + 1)
            if head == "Inequality":
                items += [_S(name), right]
            elif head is not None and head != name:
                mixed: list[Any] = [items[0]]
                for x in items[1:]:
                    mixed += [_S(head), x]
                items, head = mixed + [_S(name), right], "Inequality"
            else:
                items.append(right)
                head = name
        return self.op(_fn(head, *items))

