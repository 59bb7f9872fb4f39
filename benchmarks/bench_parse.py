"""Parse and write speed by hand (not a test): import time, an options string, big numeric
lists, to_text of arrays and log entries.

Targets (issue 2): options string under 1 ms; a 10 MB numeric list at 30 MB/s or more.
Run: python benchmarks/bench_parse.py [MB]
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

OPTIONS = ('BatchSize -> 32, MaxTrainingRounds -> 10, LearningRate -> 0.001, '
           '"InternalOptions" -> {"PlanLogging" -> File["plan.wl"], '
           '"GradientNormFunction" -> Abs /* Max}, TrainingProgressReporting -> None')


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    mb = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    code = "import time; t = time.perf_counter(); import wlbridge; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    print(f"import wlbridge: {float(out.stdout) * 1000:.0f} ms")

    from wlbridge.syntax import parse, to_text
    per = _best(lambda: parse(OPTIONS), 50)
    print(f"options string ({len(OPTIONS)} chars): {per * 1000:.3f} ms  (target < 1 ms)")

    rng = random.Random(0)
    n = int(mb * 1e6 / 10)
    cases = {
        "flat {0.123456, ...}": "{" + ", ".join(f"{rng.random():.6f}" for _ in range(n)) + "}",
        "flat to_text reals": "{" + ", ".join(to_text(rng.gauss(0, 1)) for _ in range(n // 2)) + "}",
        "matrix 1000 x k": "{" + ", ".join(
            "{" + ", ".join(f"{rng.random():.6f}" for _ in range(n // 1000)) + "}"
            for _ in range(1000)) + "}",
        "integers": "{" + ", ".join(str(rng.randrange(10**8)) for _ in range(n)) + "}",
    }
    for name, text in cases.items():
        dt = _best(lambda text=text: parse(text), 2)
        print(f"{name}: {len(text) / 1e6:.1f} MB in {dt:.2f} s = {len(text) / 1e6 / dt:.1f} MB/s")
    inner = cases["matrix 1000 x k"]
    net = 'NetChain[{LinearLayer[1000, "Weights" -> NumericArray[' + inner + ', "Real32"]]}]'
    dt = _best(lambda: parse(net), 2)
    print(f"NumericArray inside a net: {len(net) / 1e6:.1f} MB = {len(net) / 1e6 / dt:.1f} MB/s")
    import numpy as np
    from wolframclient.language import wl

    arr = np.random.default_rng(0).standard_normal((500, 1000)).astype(np.float32)
    floats = [rng.gauss(0, 1) for _ in range(100_000)]
    entries = [wl.Rule((i, 3), {"Loss": rng.random(), "Grad": (rng.random(), 2.5)})
               for i in range(20000)]
    for name, x in [("float32 500 x 1000 array", arr), ("100k floats", floats),
                    ("20k log entries", entries)]:
        dt = _best(lambda x=x: to_text(x), 2)
        print(f"to_text {name}: {dt:.2f} s = {len(to_text(x)) / 1e6 / dt:.1f} MB/s")
    small = "{" + ", ".join(f"{rng.random():.6f}" for _ in range(20000)) + "}"
    from wlbridge.syntax import parser

    parser.FAST_GROUP_CHARS = 10**12  # switch the in-text fast path off: the parser reads it all
    dt = _best(lambda: parse("f[" + small + "]"), 1)
    print(f"grammar only (fast path off, {len(small) / 1e6:.2f} MB): "
          f"{len(small) / 1e6 / dt:.2f} MB/s")


if __name__ == "__main__":
    main()
