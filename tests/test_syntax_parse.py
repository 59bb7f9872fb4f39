"""wlbridge.parse: Wolfram InputForm -> the expression model (issue 2, item 2; DESIGN rule 1)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from syntax_corpus import BAD_INPUTS, CORPUS
from wolframclient.deserializers import binary_deserialize
from wolframclient.language import wl
from wolframclient.language.expression import WLFunction, WLSymbol
from wolframclient.serializers import export

from wlbridge.syntax import WLSyntaxError, fullform, parse, parse_sequence, to_text
from wlbridge.syntax.fastpath import numeric_list
from wlbridge.syntax.lexer import MAX_DEPTH


def same(a, b) -> bool:
    """Equality that also checks types (1 == 1.0 == True in Python, not in Wolfram)."""
    if isinstance(a, WLSymbol) or isinstance(b, WLSymbol):
        return isinstance(a, WLSymbol) and isinstance(b, WLSymbol) and a.name == b.name
    if isinstance(a, WLFunction) or isinstance(b, WLFunction):
        if not (isinstance(a, WLFunction) and isinstance(b, WLFunction)):
            return False
        return same(a.head, b.head) and len(a.args) == len(b.args) and all(
            map(same, a.args, b.args))
    if type(a) is not type(b) and not (isinstance(a, dict) and isinstance(b, dict)):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and str(a) == str(b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(
            a, b, equal_nan=a.dtype.kind in "fc")
    return a == b


def wxf_roundtrip(x):
    return binary_deserialize(export(x, target_format="wxf"))


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 150


@pytest.mark.parametrize("src, expected", CORPUS)
def test_corpus_fullform(src, expected):
    assert fullform(parse(src)) == expected


@pytest.mark.parametrize("src", [s for s, _ in CORPUS if s != "None"])
def test_parse_agrees_with_wxf_reader(src):
    """DESIGN rule 1: parse(text) == binary_deserialize(export(parse(text), "wxf")).

    The one exception is the symbol None: wolframclient's WXF reader turns it into Python None
    (the same as Null), which would lose it; the brief keeps it as WLSymbol("None").
    """
    value = parse(src)
    assert same(value, wxf_roundtrip(value)) or fullform(value) == fullform(wxf_roundtrip(value))


def test_model_atoms():
    assert same(parse("-3"), -3)
    assert same(parse("-1.5"), -1.5)
    assert same(parse("1."), 1.0)
    assert same(parse(".5"), 0.5)
    assert same(parse("1.5*^-3"), 0.0015)
    assert same(parse("2^^1011"), 11)
    assert same(parse("3.14`20"), Decimal("3.14"))
    assert same(parse("0.30000000000000004`"), 0.30000000000000004)
    assert isinstance(parse("1.23456789012345678"), Decimal)  # 17 digits: arbitrary precision
    assert isinstance(parse("1.0*^400"), Decimal)  # beyond a double
    assert same(parse("1*^-3"), wl.Rational(1, 1000))
    assert same(parse('"\\[Alpha]\\n\\"q\\""'), 'α\n"q"')


def test_symbols_and_constants():
    assert same(parse("x"), WLSymbol("x"))
    assert same(parse("Internal`Bag"), WLSymbol("Internal`Bag"))
    assert same(parse("System`Print"), WLSymbol("Print"))
    assert parse("True") is True and parse("False") is False and parse("Null") is None
    assert same(parse("None"), WLSymbol("None"))
    assert same(parse("Infinity"), WLSymbol("Infinity"))


def test_arithmetic_forms():
    """Forms as FullForm[Hold[...]] shows them (harness README 2.2)."""
    x, a, b = WLSymbol("x"), WLSymbol("a"), WLSymbol("b")
    assert same(parse("-x"), wl.Times(-1, x))
    assert same(parse("a - b"), wl.Plus(a, wl.Times(-1, b)))
    assert same(parse("1/2"), wl.Times(1, wl.Power(2, -1)))
    assert same(parse("a -> b -> c"), wl.Rule(a, wl.Rule(b, WLSymbol("c"))))
    assert same(parse('"f" -> #^2 &'), wl.Function(wl.Rule("f", wl.Power(wl.Slot(1), 2))))


def test_containers():
    assert same(parse("{1, {2.5, x}}"), (1, (2.5, WLSymbol("x"))))
    assert same(parse('<|"a" -> 1, "b" -> 2|>'), {"a": 1, "b": 2})
    delayed = parse('<|"a" -> 1, "b" :> 2|>')
    assert same(delayed, wl.Association(wl.Rule("a", 1), wl.RuleDelayed("b", 2)))
    arr = parse('NumericArray[{{1., 2.}, {3., 4.}}, "Real32"]')
    assert arr.dtype == np.float32 and arr.shape == (2, 2)
    ragged = parse('NumericArray[{{1., 2.}, {3.}}, "Real32"]')
    assert isinstance(ragged, WLFunction)


def test_sequences():
    seq = parse("a -> 1, b -> 2")
    assert isinstance(seq, tuple) and len(seq) == 2
    assert same(parse_sequence("a -> 1"), (wl.Rule(WLSymbol("a"), 1),))


def test_comments_nested_and_in_strings():
    assert same(parse("(* a (* nested *) comment *) {1, (* x *) 2}"), (1, 2))
    assert parse('"(* kept *)"') == "(* kept *)"


@pytest.mark.parametrize("src", BAD_INPUTS)
def test_bad_input_has_position(src):
    with pytest.raises(WLSyntaxError) as info:
        parse(src)
    err = info.value
    assert err.line >= 1 and err.column >= 1
    assert "^" in err.excerpt and str(err).startswith("Syntax::")


def test_error_names_position_and_expectation():
    with pytest.raises(WLSyntaxError) as info:
        parse("{a,\n b ->  }")
    err = info.value
    assert (err.line, err.column) == (2, 8)
    assert err.expected and "a symbol" in err.expected
    assert "line 2, column 8" in str(err)


@pytest.mark.parametrize("src, line, column", [
    ('"unterminated', 1, 1), ('"\\[NoSuchName]"', 1, 2), ('"ab\\q"', 1, 4),
    ("f[x}", 1, 4), ("", 1, 1), ("(* only a comment *)", 1, 1),
])
def test_specific_errors(src, line, column):
    with pytest.raises(WLSyntaxError) as info:
        parse(src)
    assert (info.value.line, info.value.column) == (line, column)


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(WLSyntaxError, match="deeper"):
        parse("[" * 100_000)
    with pytest.raises(WLSyntaxError, match="deeper"):
        parse("{" * 100_000 + "}" * 100_000)
    with pytest.raises(WLSyntaxError, match="deeper"):
        parse("a -> " * 5000 + "b")
    ok = "{" * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1)
    assert parse(ok) is not None


@pytest.mark.parametrize("junk", [b"\x00\x01\x02", bytes(range(256)), b"\xff\xfe junk \x07"])
def test_binary_junk(junk):
    with pytest.raises(WLSyntaxError):
        parse(junk.decode("latin-1"))


def test_not_text_is_a_type_error():
    with pytest.raises(TypeError):
        parse(b"{1}")  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [
    "1.5, -2.25, 3., .5, -0.", "1, -2, 30000000000000000000", "1.5*^-3, 2.5*^10, 1.*^3",
    "0.30000000000000004`, 1.2345678901234567`*^-5", "1*^-3, 2, 1.5", "3.14`20, 1.",
    "1.23456789012345678, 0.5", "1.0*^400, 1.0*^-400, 2.",
])
def test_fast_path_equals_grammar(body):
    text = "{" + body + ", {" + body + "}}"
    fast = numeric_list(text, MAX_DEPTH)
    assert fast is not None
    via_grammar = parse("f[" + text + "]").args[0]  # short group: read by the grammar
    assert same(fast, via_grammar)


@pytest.mark.parametrize("text", ["{1 2}", "{1,}", "{,1}", "{- 1}", "{1}{2}", "{1, {2}, }",
                                  "{1.2.3}", "{1*^}", "{--1}",
                                  # one '.' per item on average, but an integer item beside a
                                  # two-dot item: numpy's reader must not take "2" as 2.
                                  "{1.5, 2, 3.5.}", "{1..5, 2}", "{1.5, 2.5 3.5, 4}"])
def test_fast_path_declines_what_it_cannot_read(text):
    assert numeric_list(text, MAX_DEPTH) is None


def test_big_numeric_groups_inside_text():
    values = tuple(float(i) / 7 for i in range(400))
    inner = "{" + ", ".join(to_text(v) for v in values) + "}"
    net = parse('NetChain[{LinearLayer[2, "Weights" -> ' + inner + ', "Biases" -> {0., 0.}]}]')
    assert same(net.args[0][0].args[1].args[1], values)
    arr = parse("NumericArray[{" + inner + ", " + inner + '}, "Real64"]')
    assert arr.dtype == np.float64 and arr.shape == (2, 400) and tuple(arr[1]) == values
    # an error after a replaced group still points at the right place
    with pytest.raises(WLSyntaxError) as info:
        parse("f[" + inner + ",\n  ]]")
    assert info.value.line == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=30))
def test_fast_path_matches_grammar_on_random_floats(xs):
    from wlbridge.syntax import to_text

    body = ", ".join(to_text(x) for x in xs)
    assert same(numeric_list("{" + body + "}", MAX_DEPTH), parse("f[{" + body + "}]").args[0])


def test_import_does_not_import_torch():
    code = "import sys, wlbridge; wlbridge.parse('{1}'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
