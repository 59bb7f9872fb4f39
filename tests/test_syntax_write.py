"""wlbridge.to_text: exact one-line InputForm (issue 2, item 3; harness README 3 on the writer)."""

from __future__ import annotations

import math
import sys
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_syntax_parse import same
from wolframclient.deserializers import binary_deserialize
from wolframclient.language import wl
from wolframclient.language.expression import WLFunction, WLSymbol
from wolframclient.serializers import export

from wlbridge.syntax import fullform, parse, to_text


@pytest.mark.parametrize("x, text", [
    (1e-30, "1.*^-30"), (1 / 3, "0.3333333333333333`"), (0.30000000000000004,
                                                        "0.30000000000000004`"),
    (1.0, "1."), (-2.5, "-2.5"), (5e-324, "5.*^-324"),
    (1.7976931348623157e308, "1.7976931348623157`*^308"), (1e22, "1.*^22"), (-0.0, "-0."),
    (math.inf, "DirectedInfinity[1]"), (-math.inf, "DirectedInfinity[-1]"),
    (math.nan, "Indeterminate"),
])
def test_reals(x, text):
    assert to_text(x) == text


def test_reals_read_back_bit_exactly():
    for x in [1e-30, 1 / 3, 0.1 + 0.2, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
              -0.0, 123456789.125, 1e16, 9007199254740993.0]:
        back = parse(to_text(x))
        assert isinstance(back, float) and back == x and math.copysign(1, back) == math.copysign(1, x)


def test_non_finite_floats_read_back_as_what_wxf_gives():
    assert same(parse(to_text(math.inf)), binary_deserialize(export(math.inf, target_format="wxf")))
    assert same(parse(to_text(-math.inf)), wl.DirectedInfinity(-1))
    assert same(parse(to_text(math.nan)), WLSymbol("Indeterminate"))


def test_strings_are_ascii_one_line():
    s = 'quote " backslash \\ newline \n tab \t \x01 α 😀 (* c *) \\[Alpha]'
    text = to_text(s)
    assert text.isascii() and "\n" not in text
    assert parse(text) == s
    assert to_text("α") == '"\\:03b1"'


def test_containers_and_atoms():
    assert to_text([1, (2, 3)]) == "{1, {2, 3}}"
    assert to_text({"a": 1, "b": [1.5]}) == '<|"a" -> 1, "b" -> {1.5}|>'
    assert to_text(None) == "Null" and to_text(True) == "True"
    assert to_text(b"\x01\x02\x03") == 'ByteArray["AQID"]'
    assert to_text(Fraction(1, 3)) == "Rational[1, 3]"
    assert to_text(Decimal("3.14")) == "3.14`3"
    assert to_text(Decimal("1.5E+400")) == "1.5`2*^400"
    assert to_text(wl.Rule(wl.Rule(1, 2), 3)) == "(1 -> 2) -> 3"
    assert to_text(wl.f(wl.Rule("a", 1))) == 'f["a" -> 1]'
    assert to_text(complex(1, 2)) == "Complex[1., 2.]"
    assert to_text(WLSymbol("Internal`Bag")) == "Internal`Bag"


def test_numpy_arrays_become_numeric_arrays():
    a = np.array([[0.1, 2.0], [3.5, -1e-30]], dtype=np.float32)
    text = to_text(a)
    assert text == 'NumericArray[{{0.1, 2.}, {3.5, -1.*^-30}}, "Real32"]'
    back = parse(text)
    assert back.dtype == np.float32 and np.array_equal(back, a)
    for dtype in ["float64", "int8", "int64", "uint16"]:
        arr = np.arange(6, dtype=dtype).reshape(2, 3)
        back = parse(to_text(arr))
        assert back.dtype == arr.dtype and np.array_equal(back, arr)
    assert to_text(np.float32(0.5)) == "0.5" and to_text(np.int64(3)) == "3"


def test_round_trip_of_a_log_entry():
    entry = wl.Rule((12.5, 3), {"GradientMagnitudes": (0.1, 0.2), "Net": wl.LinearLayer(2)})
    text = to_text(entry)
    assert "\n" not in text and same(parse(text), entry)


# ---- properties ---------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
extreme = st.sampled_from([5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                           -1.7976931348623157e308, 0.0, -0.0, 1e-30, 0.1, 1 / 3])
names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}(`[A-Za-z][A-Za-z0-9]{0,4})?", fullmatch=True)
symbols = names.filter(lambda n: n not in ("True", "False", "Null", "None")).map(WLSymbol)
atoms = st.one_of(st.integers(), st.integers(min_value=-2**200, max_value=2**200), finite, extreme,
                  st.text(max_size=12), symbols, st.booleans(), st.none())


def _exprs():
    return st.recursive(
        atoms,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4).map(tuple),
            st.dictionaries(st.text(max_size=5), kids, max_size=3),
            st.builds(lambda h, a: WLFunction(h, *a), symbols, st.lists(kids, max_size=3)),
            st.builds(lambda a, b: wl.Rule(a, b), kids, kids),
            st.builds(lambda a, b: wl.RuleDelayed(a, b), kids, kids),
        ),
        max_leaves=25,
    )


@settings(max_examples=150, deadline=None)
@given(_exprs())
def test_parse_of_to_text_is_identity(e):
    """parse(to_text(e)) == e for every finite expression (NaN/Inf read back as expressions)."""
    text = to_text(e)
    assert text.isascii() and "\n" not in text
    assert same(parse(text), e)


@settings(max_examples=100, deadline=None)
@given(_exprs())
def test_parse_agrees_with_wxf_for_written_text(e):
    value = parse(to_text(e))
    assert fullform(value) == fullform(binary_deserialize(export(value, target_format="wxf")))


@settings(max_examples=100, deadline=None)
@given(finite)
def test_every_finite_float_round_trips(x):
    back = parse(to_text(x))
    assert type(back) is float and back == x and math.copysign(1, back) == math.copysign(1, x)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=sys.maxunicode,
                                      blacklist_categories=("Cs",)), max_size=40))
def test_unicode_strings_round_trip(s):
    assert parse(to_text(s)) == s


@pytest.mark.parametrize("depth", [1, 50, 250])
def test_deep_nesting_round_trips(depth):
    e: object = 1.5
    for i in range(depth):
        e = (e,) if i % 2 else wl.f(e)
    assert same(parse(to_text(e)), e)


def test_objects_with_an_expression_are_written_exactly():
    """A Net (wolframclient's WLSerializable) is written as its constructor expression by this
    writer: rules as ``->`` and arrays as NumericArray, not wolframclient's FullForm Rule[...]."""
    import wlbridge

    net = wlbridge.Net('NetChain[{LinearLayer[2, "Weights" -> {{1., 2.}, {3., 4.}}, '
                       '"Biases" -> {0.5, -1.}]}, "Input" -> 2]')
    text = to_text(net)
    assert text.startswith('NetChain[{LinearLayer[2, "Weights" -> NumericArray[{{1., 2.}, '
                           '{3., 4.}}, "Real32"], "Biases" -> NumericArray[{0.5, -1.}, "Real32"]')
    assert "Rule[" not in text and '"Input" -> 2' in text
    assert to_text(wlbridge.Net(parse(text))) == text
