"""Fuzzing the reader (issue 12, "What it must show"): 100,000 hostile inputs per run end only
in a value or a WLSyntaxError, each within 1 s; what parses and can be written reads back the
same. The seed changes every run (set WLBRIDGE_FUZZ_SEED to replay one); the longer run is
benchmarks/fuzz_parse.py."""

from __future__ import annotations

import gc
import os
import random
import signal
import sys
import time

import pytest
from syntax_fuzzgen import inputs
from test_syntax_parse import same

from wlbridge.syntax import WLSyntaxError, parse, to_text

COUNT = 100_000
LIMIT_S = 1.0


class _Hung(Exception):
    pass


def _alarm(signum, frame):
    raise _Hung


def test_hundred_thousand_hostile_inputs_end_in_a_value_or_a_syntax_error():
    seed = int(os.environ.get("WLBRIDGE_FUZZ_SEED", random.randrange(2 ** 32)))
    old = signal.signal(signal.SIGALRM, _alarm)
    old_digits = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(4300)  # Python's default (Mathics3, if imported, sets 7000)
    # Time the reader, not full cycle collections of everything else this test run holds.
    gc.disable()
    slow, crashed, not_exact = [], [], []
    values = 0
    try:
        for i, text in enumerate(inputs(seed, COUNT)):
            signal.setitimer(signal.ITIMER_REAL, 5 * LIMIT_S)
            t = time.perf_counter()
            try:
                value = parse(text)
                values += 1
            except WLSyntaxError as e:
                value = e
                assert e.line >= 1 and e.column >= 1 and "^" in e.excerpt
            except _Hung:
                value = None
                slow.append((text[:200], "> 5 s"))
            except Exception as e:  # noqa: BLE001 - the point of the test
                value = None
                crashed.append((text[:200], repr(e)[:200]))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            dt = time.perf_counter() - t
            if dt > LIMIT_S:
                slow.append((text[:200], f"{dt:.2f} s"))
            if i % 7 == 0 and not isinstance(value, WLSyntaxError) and value is not None:
                try:
                    written = to_text(value)
                except (ValueError, TypeError):
                    continue  # refused with a reason: allowed
                if not same(parse(written), value):
                    not_exact.append((text[:200], written[:200]))
    finally:
        signal.signal(signal.SIGALRM, old)
        sys.set_int_max_str_digits(old_digits)
        gc.enable()
    replay = f"(replay with WLBRIDGE_FUZZ_SEED={seed})"
    assert not crashed, f"{len(crashed)} inputs raised something else {replay}: {crashed[:5]}"
    assert not slow, f"{len(slow)} inputs ran past {LIMIT_S} s {replay}: {slow[:5]}"
    assert not not_exact, f"written values read back differently {replay}: {not_exact[:5]}"
    assert values > COUNT // 50, f"too few inputs parsed to be a useful fuzz {replay}"


@pytest.mark.parametrize("seed", [0, 1])
def test_generator_is_deterministic_and_hostile(seed):
    a, b = list(inputs(seed, 300)), list(inputs(seed, 300))
    assert a == b and len(set(a)) > 250
    assert any(len(x) > 500 for x in a)  # deep chains are in the mix
