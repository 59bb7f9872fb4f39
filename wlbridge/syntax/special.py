"""The operators that are more than "name[left, right]": calls and Part, ``:``, ``::``,
``;``, ``;;``, ``//``, ``@``, ``~f~``, ``/:``, ``>>`` (see `pratt` for the plain ones)."""

from __future__ import annotations

from typing import Any

from wolframclient.language.expression import WLFunction, WLSymbol

from wlbridge.syntax.lexer import OP, STR, SYM
from wlbridge.syntax.literals import NUMERIC_TYPES, STOP, Literals, fn, numeric_array
from wlbridge.syntax.optable import PRECEDENCE

_BLANKS = {"Blank", "BlankSequence", "BlankNullSequence", "Pattern", "Optional"}


def _is_symbol(x: Any, name: str) -> bool:
    return isinstance(x, WLSymbol) and x.name == name


class SpecialForms(Literals):
    """Methods of `pratt.Parser` for the forms in the module notes."""

    def call(self, head: Any) -> Any:
        self.i += 1  # "["
        tok = self.toks[self.i]
        if tok[0] == OP and tok[1] == "[":
            self.i += 1
            args = self.seq("]")
            self.expect("]")
            return fn("Part", head, *args)
        args = self.seq("]")
        if isinstance(head, WLSymbol):
            if head.name == "NumericArray" and len(args) == 2 and isinstance(args[1], str) \
                    and args[1] in NUMERIC_TYPES:
                arr = numeric_array(args[0], args[1])
                if arr is not None:
                    return arr
        return WLFunction(head, *args)

    def colon(self, left: Any, p: int) -> Any:
        """``x:pat`` -> Pattern, ``pat:v`` -> Optional (a bare ``:`` elsewhere ends the
        expression)."""
        if isinstance(left, (WLSymbol, bool)) or left is None:
            head = "Pattern"
        elif isinstance(left, WLFunction) and isinstance(left.head, WLSymbol) and \
                left.head.name in _BLANKS:
            head = "Optional"
        else:
            return STOP
        if p == PRECEDENCE["Pattern"] + 1:
            return STOP
        self.i += 1
        return fn(head, left, self.expr(PRECEDENCE[head] + 1))

    def message_name(self, left: Any) -> Any:
        items = [left]
        toks = self.toks
        while toks[self.i][0] == OP and toks[self.i][1] == "::":
            self.i += 1
            kind, value, _ = toks[self.i]
            if kind == SYM:
                items.append(value)
            elif kind == STR:
                items.append(value)
            else:
                raise self.error(toks[self.i], ("a symbol", "a string"))
            self.i += 1
        return fn("MessageName", *items)

    def compound(self, left: Any, prec: int) -> Any:
        head = WLSymbol("CompoundExpression")
        items = list(self.splice(left, head))
        toks = self.toks
        while toks[self.i][0] == OP and toks[self.i][1] == ";":
            self.i += 1
            if self.starts(toks[self.i]):
                items.extend(self.splice(self.expr(prec + 1), head))
            else:
                items.append(None)
        return self.op(WLFunction(head, *items))

    def span(self, left: Any, prec: int) -> Any:
        """``a;;b;;c`` and its short forms; a missing end is All, a missing start 1."""
        if isinstance(left, WLFunction) and id(left) in self._ops and _is_symbol(left.head,
                                                                                "Span"):
            return STOP
        self.i += 1  # ";;"
        q = PRECEDENCE["Span"]
        toks = self.toks
        nxt = toks[self.i]
        if nxt[0] == OP and nxt[1] == ";;":
            end = WLSymbol("All")
        elif self.starts(nxt):
            end = self.expr(q + 1)
        else:
            return self.op(fn("Span", left, WLSymbol("All")))
        nxt = toks[self.i]
        if nxt[0] == OP and nxt[1] == ";;" and self.starts(toks[self.i + 1]):
            self.i += 1
            return self.op(fn("Span", left, end, self.expr(q + 1)))
        return self.op(fn("Span", left, end))

    def postfix_apply(self, left: Any, prec: int) -> Any:
        self.i += 1
        return WLFunction(self.expr(prec + 1), left)

    def prefix_apply(self, left: Any, prec: int) -> Any:
        self.i += 1
        return WLFunction(left, self.expr(prec))

    def infix_apply(self, left: Any, prec: int) -> Any:
        self.i += 1
        middle = self.expr(prec + 1)
        self.expect("~")
        return WLFunction(middle, left, self.expr(prec + 1))

    def tag_set(self, left: Any, prec: int) -> Any:
        self.i += 1
        lhs = self.expr(prec + 1)
        kind, value, _ = self.toks[self.i]
        heads = {"=": "TagSet", ":=": "TagSetDelayed", "=.": "TagUnset"}
        if kind != OP or value not in heads:
            raise self.error(self.toks[self.i], ('"="', '":="', '"=."'))
        self.i += 1
        if value == "=.":
            return fn("TagUnset", left, lhs)
        return fn(heads[value], left, lhs, self.expr(prec + 1))

    def put(self, left: Any, prec: int) -> Any:
        name = "Put" if self.toks[self.i][1] == ">>" else "PutAppend"
        self.i += 1
        return self.op(fn(name, left, self.filename()))


SPECIAL = {
    "CompoundExpression": SpecialForms.compound, "Span": SpecialForms.span,
    "Postfix": SpecialForms.postfix_apply, "Prefix": SpecialForms.prefix_apply,
    "Infix": SpecialForms.infix_apply, "TagSet": SpecialForms.tag_set,
    "Put": SpecialForms.put, "PutAppend": SpecialForms.put,
}
