"""The long fuzz run of the reader (not a test; tests/test_syntax_fuzz.py runs 100,000 inputs).

Every input must end in a value or a WLSyntaxError within --limit seconds (each one runs under
a SIGALRM of 5x that, so a hang is reported, not waited for), and a value that can be written
must read back the same. Prints the counts, the slowest inputs and every failure.

Run: python benchmarks/fuzz_parse.py [--count 2000000] [--seed N] [--limit 1.0]
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


class _Hung(Exception):
    pass


def _alarm(signum, frame):
    raise _Hung


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--limit", type=float, default=1.0)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2 ** 32)

    from syntax_fuzzgen import inputs
    from test_syntax_parse import same

    from wlbridge.syntax import WLSyntaxError, parse, to_text

    signal.signal(signal.SIGALRM, _alarm)
    counts = {"value": 0, "syntax error": 0, "refused to write": 0}
    failures: list[tuple[str, str]] = []
    slowest: list[tuple[float, str]] = []
    start = time.perf_counter()
    for i, text in enumerate(inputs(seed, args.count)):
        signal.setitimer(signal.ITIMER_REAL, 5 * args.limit)
        t = time.perf_counter()
        value = None
        try:
            value = parse(text)
            counts["value"] += 1
        except WLSyntaxError:
            counts["syntax error"] += 1
        except _Hung:
            failures.append(("hung", text[:300]))
        except Exception as e:  # noqa: BLE001 - reported, the point of the run
            failures.append((repr(e)[:200], text[:300]))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        dt = time.perf_counter() - t
        slowest = sorted(slowest + [(dt, text[:80])], reverse=True)[:5]
        if dt > args.limit:
            failures.append((f"{dt:.2f} s", text[:300]))
        if value is not None:
            try:
                written = to_text(value)
            except (ValueError, TypeError):
                counts["refused to write"] += 1
                continue
            if not same(parse(written), value):
                failures.append(("written differently", written[:300]))
        if (i + 1) % 200_000 == 0:
            print(f"  {i + 1} inputs, {time.perf_counter() - start:.0f} s", flush=True)
    total = time.perf_counter() - start
    print(f"seed {seed}: {args.count} inputs in {total:.1f} s "
          f"({args.count / total:.0f}/s): {counts}")
    print("slowest:", [(round(d, 4), s) for d, s in slowest])
    for what, text in failures[:50]:
        print("FAIL", what, repr(text))
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
