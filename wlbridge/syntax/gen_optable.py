"""Build `optable.py` (the operator table the parser ships) from Mathics3-Scanner's data.

Run by hand when the data changes (needs the optional ``mathics-scanner`` package, which is not
a runtime dependency): ``python -m wlbridge.syntax.gen_optable``. The precedences and
associativities are Mathics3-Scanner's (`operators.json`), except where its `operators.yml`
records a different ``Precedence[]`` from Mathematica itself for an operator it lists as
diverging (``/*``): there the Wolfram value wins. Only the ASCII spellings are chosen here
(the data's ``operator-to-string`` also lists spellings Mathematica does not read, such as
``-|``); every single-character non-ASCII spelling in the data is kept.
"""

from __future__ import annotations

import json
import pprint
from pathlib import Path

#: Operator name -> its ASCII token(s) in Wolfram InputForm.
ASCII = {
    "CompoundExpression": ";", "Put": ">>", "PutAppend": ">>>", "Set": "=", "SetDelayed": ":=",
    "UpSet": "^=", "UpSetDelayed": "^:=", "Postfix": "//", "ApplyTo": "//=", "AddTo": "+=",
    "SubtractFrom": "-=", "TimesBy": "*=", "DivideBy": "/=", "ReplaceAll": "/.",
    "ReplaceRepeated": "//.", "Rule": "->", "RuleDelayed": ":>", "TwoWayRule": "<->",
    "Condition": "/;", "StringExpression": "~~", "Alternatives": "|", "Or": "||", "And": "&&",
    "Equal": "==", "Unequal": "!=", "Less": "<", "Greater": ">", "LessEqual": "<=",
    "GreaterEqual": ">=", "SameQ": "===", "UnsameQ": "=!=", "Plus": "+", "Times": "*",
    "Divide": "/", "Dot": ".", "NonCommutativeMultiply": "**", "Power": "^", "StringJoin": "<>",
    "Map": "/@", "MapAll": "//@", "Apply": "@@", "MapApply": "@@@", "Composition": "@*",
    "RightComposition": "/*", "Prefix": "@", "PatternTest": "?", "MessageName": "::",
    "Minus": "-", "Not": "!", "PreIncrement": "++", "PreDecrement": "--", "Get": "<<",
    "Increment": "++", "Decrement": "--", "Factorial": "!", "Factorial2": "!!",
    "Repeated": "..", "RepeatedNull": "...", "Derivative": "'", "Unset": "=.", "Function": "&",
    "Infix": "~", "Span": ";;", "TagSet": "/:", "Subtract": "-",
}
#: Wolfram's own precedence where Mathics3's parse table differs (harness README 2.3 item 2).
WOLFRAM_PRECEDENCE = {"RightComposition": 624}
#: TwoWayRule is missing from Mathics3's groups (it reads <-> as UndirectedEdge).
EXTRA_INFIX = {"TwoWayRule": (125, "right")}
#: Spellings the data lists under another group: x |-> body is Function[x, body].
EXTRA_TOKENS = {"|->": ("Function", 90, "right")}
#: Names the parser handles itself, or whose non-ASCII form needs a grammar of its own.
NO_UNICODE = {"Integrate", "Sum", "Product", "Limit", "MaxLimit", "MinLimit", "DifferentialD",
              "CapitalDifferentialD", "InvisiblePrefixScriptBase", "InvisiblePostfixScriptBase",
              "InterpretedBox", "Piecewise", "Colon", "Proportion", "VerticalBar",
              "QuestionQuestion", "Definition", "Information"}


def _unicode_tokens(name: str, spellings: dict, named: dict, private: dict) -> list[str]:
    out = []
    for s in spellings.get(name, []) + [named.get(name, ""), private.get(name, "")]:
        if len(s) == 1 and not s.isascii() and s not in out:
            out.append(s)
    return out


def build() -> dict:
    """The table as plain data: {kind: {token: (name, precedence[, associativity])}}."""
    import mathics_scanner
    from mathics_scanner.characters import LETTERLIKES, NAME_TO_WL_UNICODE, NAMED_CHARACTERS

    data = json.loads((Path(mathics_scanner.__file__).parent / "data" / "operators.json")
                      .read_text(encoding="utf-8"))
    spellings = data["operator-to-string"]
    infix: dict[str, tuple] = {}
    groups = [("flat-binary-operators", "flat"), ("left-binary-operators", "left"),
              ("right-binary-operators", "right"), ("non-associative-binary-operators", "none")]
    infix_names = {}
    for group, assoc in groups:
        for name, prec in data[group].items():
            infix_names[name] = (WOLFRAM_PRECEDENCE.get(name, prec), assoc)
    infix_names.update(EXTRA_INFIX)
    for name, (prec, assoc) in sorted(infix_names.items()):
        tokens = [ASCII[name]] if name in ASCII else []
        if name not in NO_UNICODE:
            tokens += _unicode_tokens(name, spellings, NAMED_CHARACTERS, NAME_TO_WL_UNICODE)
        for tok in tokens:
            infix.setdefault(tok, (name, prec, assoc))
    infix.update(EXTRA_TOKENS)
    for name, prec in data["ternary-operators"].items():
        if name in ASCII:
            infix.setdefault(ASCII[name], (name, prec, "ternary"))
    prefix: dict[str, tuple] = {}
    for name, prec in sorted(data["prefix-operators"].items()):
        tokens = [ASCII[name]] if name in ASCII else []
        if name not in NO_UNICODE:
            tokens += _unicode_tokens(name, spellings, NAMED_CHARACTERS, NAME_TO_WL_UNICODE)
        for tok in tokens:
            prefix.setdefault(tok, (name, prec))
    prefix.setdefault("+", ("Plus", data["prefix-operators"]["UnaryPlus"]))
    postfix: dict[str, tuple] = {}
    for name, prec in sorted(data["postfix-operators"].items()):
        tokens = [ASCII[name]] if name in ASCII else []
        if name not in NO_UNICODE:
            tokens += _unicode_tokens(name, spellings, NAMED_CHARACTERS, NAME_TO_WL_UNICODE)
        for tok in tokens:
            if tok not in infix:
                postfix.setdefault(tok, (name, prec))
    precedences = {name: prec for name, prec in data["operator-precedences"].items()}
    precedences.update({k: v[0] for k, v in infix_names.items()})
    return {"INFIX": infix, "PREFIX": prefix, "POSTFIX": postfix,
            "PRECEDENCE": {k: precedences[k] for k in sorted(precedences)},
            "LETTERLIKE": "".join(sorted(set(LETTERLIKES) - set("$"))),
            "CONSTANTS": {"\u00b0": "Degree", "\u2147": "E", "\u2148": "I", "\u2149": "I",
                          "\u221e": "Infinity", "\u03c0": "Pi"}}


def main() -> None:
    table = build()
    lines = ['"""Wolfram operators: token -> (name, precedence, associativity). GENERATED by',
             "gen_optable.py from Mathics3-Scanner's operators.json (do not edit by hand).",
             '"""', "", "# ruff: noqa: E501", ""]
    for key, value in table.items():
        lines.append(f"{key} = {pprint.pformat(value, width=100, sort_dicts=True)}")
        lines.append("")
    out = Path(__file__).with_name("optable.py")
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out} ({len(table['INFIX'])} infix, {len(table['PREFIX'])} prefix, "
          f"{len(table['POSTFIX'])} postfix tokens)")


if __name__ == "__main__":
    main()
