"""Differential tests against Mathics3's reader (harness README 2 and 6.1; skipped without it)."""

from __future__ import annotations

import math
import os
import random
import sys

import pytest
from conftest import shared_dir
from syntax_corpus import BAD_INPUTS, CORPUS, KNOWN_DIVERGENCES, ORACLE_SKIP

from wlbridge.syntax import WLSyntaxError, fullform, parse, to_text

_shared = shared_dir()
if _shared is None:
    pytest.skip("wlharness (shared/tools/wlharness) not found", allow_module_level=True)
_folder = _shared / "tools" / "wlharness"
os.environ.setdefault("MATHICS_CHARACTER_ENCODING", "ASCII")
pytest.importorskip("mathics")
sys.path.insert(0, str(_folder))
oracle = pytest.importorskip("wl_oracle")
pytestmark = pytest.mark.usefixtures("pristine_mathics_operators")  # conftest.py


@pytest.mark.parametrize("src", [s for s, _ in CORPUS
                                 if s not in ORACLE_SKIP and s not in KNOWN_DIVERGENCES])
def test_same_fullform_as_mathics(src):
    value = parse(src)
    if "NumericArray" not in src:  # wlc_fullform prints a numpy array as a bare List
        assert oracle.wlc_fullform(value) == oracle.fullform(src)
    assert fullform(value) == oracle.fullform(src)


@pytest.mark.parametrize("src", sorted(KNOWN_DIVERGENCES))
def test_known_divergences_are_still_what_we_say(src):
    """harness README 2.3: each listed difference is real (a Mathics3 fix would show here)."""
    ours, theirs = KNOWN_DIVERGENCES[src]
    assert fullform(parse(src)) == ours
    if theirs is None:
        with pytest.raises(oracle.ParseError):
            oracle.fullform(src)
    else:
        assert oracle.fullform(src) == theirs


@pytest.mark.parametrize("src", sorted(ORACLE_SKIP))
def test_precision_numbers_agree_numerically(src):
    """README 2.3 items 4 and 6: Mathics3 keeps precision in bits and pads digits."""
    ours = parse(src)
    theirs = oracle.to_wlclient(oracle.parse_expr(src))
    assert math.isclose(float(ours), float(theirs), rel_tol=1e-15)


@pytest.mark.parametrize("src", BAD_INPUTS)
def test_both_reject(src):
    with pytest.raises(WLSyntaxError):
        parse(src)
    with pytest.raises(oracle.ParseError):
        oracle.parse_expr(src)


def test_written_lines_read_back_exactly_in_mathics(tmp_path):
    """Lines written by to_text (one log entry per line) come back from Mathics3 bit-exact.

    -0.0 is left out: Mathics3 (like Mathematica) reads ``-0.`` as ``0.`` (README 2.3 item 5).
    """
    rng = random.Random(7)
    floats = [rng.uniform(-1e3, 1e3) for _ in range(300)]
    floats += [0.1 + 0.2, 1 / 3, 1e-30, 1.5e-20, 1.7976931348623157e308, 2.2250738585072014e-308]
    floats += [math.ldexp(rng.random(), rng.randint(-1000, 1000)) for _ in range(300)]
    strings = ['q " b \\ n \n t \t', "\x01 α β 😀", "(* not a comment *)", "\\[Alpha]"]
    entries = [{"Step": i, "Values": tuple(floats[i:i + 40])} for i in range(0, len(floats), 40)]
    entries.append({"Strings": tuple(strings)})
    path = tmp_path / "log.wl"
    path.write_text("\n".join(to_text(e) for e in entries) + "\n", encoding="ascii")
    back = oracle.parse_all(path.read_text(encoding="ascii"))
    assert len(back) == len(entries)
    got_floats = []
    for expr in back[:-1]:
        assoc = oracle.to_wlclient(expr)
        values = assoc.args[1].args[1]
        assert all(type(v) is float for v in values)
        got_floats.extend(values)
    assert got_floats == floats
    assert tuple(oracle.to_wlclient(back[-1]).args[0].args[1]) == tuple(strings)


@pytest.mark.parametrize("x", [1 / 3, 0.30000000000000004, 0.000595985189984322, -2 / 3,
                               1.234567890123456e-20, 123456789012345.6])
def test_sixteen_digit_mark_makes_mathics_read_a_machine_real(x):
    """The 16-digit backquote rule (numbers.format_real), checked on the other reader:
    Mathics3 reads an unmarked mantissa this long as an arbitrary-precision number."""
    from mathics.core.atoms import MachineReal, PrecisionReal

    from wlbridge.syntax.numbers import format_real

    marked = oracle.parse_expr(to_text(x))
    assert to_text(x).split("*^")[0].endswith("`")
    assert isinstance(marked, MachineReal) and marked.value == x
    unmarked = format_real(x, machine_mark=False)
    if len(unmarked.split("*^")[0].lstrip("-")) - 2 >= 17:  # Mathics3's own threshold
        assert isinstance(oracle.parse_expr(unmarked), PrecisionReal)  # why the mark is there
