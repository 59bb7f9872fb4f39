"""Differential test against Mathics3's reader on real Wolfram code (issue 12, "What it must
show"): the documentation examples in Mathics3's own builtin docs, the statements of the Wolfram
packages it ships (Combinatorica, VectorAnalysis, ...), this project's paclet, and an operator
corpus, read by both parsers and compared FullForm for FullForm. Skipped without Mathics3
(an optional extra) and the harness (harness README 6.1).

Compared after the documented differences of harness README 2.3: ``@@@`` is MapApply and
``<->`` TwoWayRule here (Mathematica 13.1+; Mathics3 gives Apply[f, x, {1}] and
UndirectedEdge); inputs Mathics3 reads as arbitrary-precision numbers (their printed precision
differs, item 6), inputs mixing ``/*`` with ``@``/``@*`` (item 2), box syntax ``\\(...\\)``
(not InputForm), and strings with a backslash-newline (Mathics3 keeps the newline, Mathematica
drops it) are counted but not compared.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest
from conftest import shared_dir
from syntax_corpus import KNOWN_DIVERGENCES, OPERATOR_CORPUS
from wolframclient.language.expression import WLFunction, WLSymbol

from wlbridge.syntax import WLSyntaxError, fullform, parse
from wlbridge.syntax.lexer import OP, tokenize
from wlbridge.syntax.optable import INFIX, POSTFIX, PREFIX

_shared = shared_dir()
if _shared is None:
    pytest.skip("wlharness (shared/tools/wlharness) not found", allow_module_level=True)
_folder = _shared / "tools" / "wlharness"
os.environ.setdefault("MATHICS_CHARACTER_ENCODING", "ASCII")
mathics = pytest.importorskip("mathics")
sys.path.insert(0, str(_folder))
oracle = pytest.importorskip("wl_oracle")
pytestmark = pytest.mark.usefixtures("pristine_mathics_operators")  # conftest.py

#: ASCII operators Mathics3 10 reads otherwise or not at all (see syntax_corpus.KNOWN_DIVERGENCES).
UNREAD_BY_MATHICS = {"<->": "a <-> b", "//=": "x //= f", "|->": "x |-> x^2"}
#: Samples (fixed seed) of Mathics3's ~3700 documentation examples and ~4000 package
#: statements: a few seconds' run. benchmarks/fuzz_parse.py --differential reads them all.
DOC_SAMPLE = 1500
PACKAGE_SAMPLE = 1500
ROOT = Path(mathics.__file__).parent
PACLET = Path(__file__).resolve().parents[1] / "wl_package"


def doc_examples() -> list[str]:
    """One-line ``>> input`` examples of Mathics3's builtin documentation."""
    out = []
    for path in sorted((ROOT / "builtin").rglob("*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            s = line.strip()
            if s.startswith(">> ") and len(s) > 3:
                out.append(s[3:].strip())
    return out


def statements(path: Path) -> list[str]:
    """Top-level statements of a .m/.wl file: lines joined until they read as a whole."""
    out, buf, depth = [], [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        buf.append(line)
        depth += sum(map(line.count, "[({")) - sum(map(line.count, "])}"))
        if depth > 0 and len(buf) < 80:
            continue  # brackets still open (a cheap guess; the parse below decides)
        text = "\n".join(buf)
        if not text.strip() or len(buf) > 80:
            buf, depth = [], 0
            continue
        try:
            parse(text)
        except WLSyntaxError as e:
            if e.tag == "sntxi" and "only a comment" not in str(e):
                continue  # incomplete: read on
        out.append(text.strip())
        buf, depth = [], 0
    return out


def corpus() -> list[tuple[str, str]]:
    files, seen = [], set()
    for f in sorted(ROOT.rglob("*.m")) + sorted(PACLET.rglob("*.wl")):
        body = f.read_bytes()
        if body not in seen and "CombinatoricaV0" not in f.name:  # copies and old versions
            seen.add(body)
            files.append(f)
    package = [s for f in files for s in statements(f) if "(*" not in s or s.count("\n") < 40]
    rng = random.Random(12)
    sample = rng.sample(package, min(PACKAGE_SAMPLE, len(package)))
    docs = rng.sample(doc_examples(), DOC_SAMPLE)
    return ([("doc", s) for s in docs] + [("package", s) for s in sample]
            + [("operators", s) for s in OPERATOR_CORPUS])


_TO_MATHICS = {"MapApply": lambda f, x: WLFunction(WLSymbol("Apply"), f, x, (1,)),
               "TwoWayRule": lambda a, b: WLFunction(WLSymbol("UndirectedEdge"), a, b)}


def as_mathics_reads(x):
    """Our value with the two documented spellings changed to Mathics3's."""
    if isinstance(x, WLFunction):
        args = [as_mathics_reads(a) for a in x.args]
        head = x.head
        if isinstance(head, WLSymbol) and head.name in _TO_MATHICS and len(args) == 2:
            return _TO_MATHICS[head.name](*args)
        return WLFunction(as_mathics_reads(head), *args)
    if isinstance(x, tuple):
        return tuple(as_mathics_reads(a) for a in x)
    if isinstance(x, dict):
        return {as_mathics_reads(k): as_mathics_reads(v) for k, v in x.items()}
    return x


def _not_compared(src: str, theirs: str) -> str | None:
    if "\\(" in src or "\\!" in src:
        return "box syntax"
    if "\\\n" in src:
        return "backslash-newline in a string"
    if "/*" in src and "@" in src:
        return "/* mixed with @"
    if "`" in theirs and any(ch.isdigit() for ch in src):
        return "arbitrary-precision number"
    return None


@pytest.fixture(scope="module")
def results():
    return compare()


def compare() -> dict:
    """Both readers on the corpus: agreeing, differing, refused only here, and not compared."""
    out = {"same": [], "differ": [], "ours_only_fails": [], "skipped": {}, "theirs_fail": 0}
    for origin, src in corpus():
        try:
            theirs = oracle.parse_expr(src)
        except Exception:  # noqa: BLE001 - Mathics3 raises assorted errors on what it cannot read
            out["theirs_fail"] += 1
            continue
        if theirs is None:
            continue
        theirs = oracle.fullform(theirs)
        reason = _not_compared(src, theirs)
        if reason:
            out["skipped"][reason] = out["skipped"].get(reason, 0) + 1
            continue
        try:
            ours = parse(src)
        except WLSyntaxError as e:
            out["ours_only_fails"].append((origin, src[:200], str(e).splitlines()[0]))
            continue
        if fullform(as_mathics_reads(ours)) == theirs:
            out["same"].append((origin, src))
        else:
            out["differ"].append((origin, src[:200], fullform(ours)[:200], theirs[:200]))
    return out


def test_at_least_500_real_inputs_agree(results):
    by_origin = {o: sum(1 for x, _ in results["same"] if x == o)
                 for o in ("doc", "package", "operators")}
    assert len(results["same"]) >= 500, by_origin
    assert by_origin["package"] >= 500 and by_origin["doc"] >= 500, by_origin


def test_no_input_reads_differently(results):
    assert results["differ"] == [], results["differ"][:10]


def test_nothing_mathics_reads_is_refused_here(results):
    assert results["ours_only_fails"] == [], results["ours_only_fails"][:10]


def test_the_agreeing_inputs_cover_the_whole_ascii_operator_table(results):
    seen = set()
    for _, src in results["same"]:
        seen.update(v for k, v, _ in tokenize(src) if k == OP)
    ops = {o for o in set(INFIX) | set(PREFIX) | set(POSTFIX) if o.isascii()}
    # -> and <-> are read the same but compared after the documented renaming; ;; and ~
    # take part in ternary forms: all of them must still have been seen in agreeing inputs.
    missing = sorted(ops - seen - set(UNREAD_BY_MATHICS))
    assert missing == [], missing


@pytest.mark.parametrize("op", sorted(UNREAD_BY_MATHICS))
def test_operators_mathics_does_not_read_are_listed_divergences(op):
    assert UNREAD_BY_MATHICS[op] in KNOWN_DIVERGENCES


def test_every_non_ascii_operator_agrees_or_mathics_cannot_read_it():
    """a op b op c (and a op b for operators that are not flat) / op a / a op for every
    non-ASCII token of the table.

    Chains of left/right-associative ones are compared too: Mathics3 reads those flat once its
    builtins are loaded (as test_paclet_mathics does), so this module reads with the scanner's
    shipped tables (the pristine_mathics_operators fixture of conftest.py)."""
    agree, unreadable, differ = 0, 0, []
    for table, forms in ((INFIX, ("a {0} b {0} c", "a {0} b")), (PREFIX, ("{0}a",)),
                         (POSTFIX, ("a{0}",))):
        for tok, form in ((t, f) for t in table for f in forms):
            if tok.isascii() or (form == "a {0} b" and INFIX[tok][2] == "flat"):
                continue
            src = form.format(tok)
            try:
                theirs = oracle.fullform(src)
            except Exception:  # noqa: BLE001
                unreadable += 1
                continue
            try:
                ours = fullform(parse(src))
            except WLSyntaxError:
                ours = "error"
            if ours == theirs or oracle.wlc_fullform(parse(src)) == theirs:
                agree += 1
            else:
                differ.append((hex(ord(tok)), src.encode("ascii", "backslashreplace"), ours, theirs))
    assert differ == [], differ
    assert agree >= 200, (agree, unreadable)
