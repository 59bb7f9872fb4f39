"""The "Print" reporting table (reference §6.2, timings §4.4, memory §5.2) and its formats."""

from __future__ import annotations

import math
import sys
from typing import IO, Any

from engine.report_base import Reporter
from engine.spec import Interval

DASH = " \u2014 "
# Measurements NetTrain shows as percentages rather than in scientific form.
PERCENT_MEASUREMENTS = frozenset({
    "ErrorRate", "Accuracy", "Precision", "Recall", "F1Score", "FScore",
    "AreaUnderROCCurve", "CohenKappa", "MatthewsCorrelationCoefficient", "IntersectionOverUnion",
})


def is_percent(name: object) -> bool:
    """Whether a measurement is shown as a percentage (``{"Accuracy", k}`` like "Accuracy")."""
    base = name[0] if isinstance(name, tuple) and name else name
    return base in PERCENT_MEASUREMENTS


SHORT_NAMES = {"Loss": "loss", "ErrorRate": "error", "Accuracy": "accuracy",
               "MeanSquare": "mse", "MeanDeviation": "mae", "RSquared": "r2"}
# Timer keys in the Print column order (§4.1) and the header they sit under.
TIMER_KEYS = ("Batch", "Executor", "Synchronize", "Generator", "Collector", "Reporting",
              "Callbacks")
TIMINGS_HEADER = "Batch  Exec  Sync   Gen   Col   Rep   Funcs"
HEADER_EVERY = 50


def sci(x: float | None) -> str:
    """3-significant-digit scientific form with Wolfram exponents: ``3.79*^-2``, ``-3.7*^-1``.

    §6.2: the mantissa gets 3 decimals and is then cut to 4 characters, so a negative
    mantissa keeps one decimal; exponent 0 is written ``*^+0``.
    """
    if x is None or not isinstance(x, int | float):  # per-class associations, matrices
        return DASH
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    e = math.floor(math.log10(abs(x)))
    m = x / 10.0**e
    mant = f"{m:.3f}"
    if abs(float(mant)) >= 10:  # 9.9996 rounds up a decade
        e += 1
        mant = f"{x / 10.0**e:.3f}"
    exp = "+0" if e == 0 else str(e)
    return f"{mant[:4]}*^{exp}"


def percent(x: float | None) -> str:
    """A rate as NetTrain prints it: ``100%``, ``55.0%``, ``5.50%``, ``0.123%``, ``0%``."""
    if x is None or not isinstance(x, int | float):  # per-class associations, matrices
        return DASH
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if x == 1:
        return "100%"
    if x == 0:
        return "0%"
    p = 100 * x
    for bound, digits in ((0.999, 4), (0.99, 3), (0.9, 2), (0.1, 1), (0.01, 2), (0.001, 3)):
        if x >= bound:
            return f"{p:.{digits}f}%"
    return f"{p:.3g}%"


def time_string(seconds: float | None) -> str:
    """Rounded seconds as ``5s``, ``2m 5s``, ``1h 0m 5s`` (NetTrain's TimeString)."""
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return DASH
    s = int(round(max(0.0, float(seconds))))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h {m}m {s}s"
    if m:
        return f"{m}m {s}s"
    return f"{s}s"


def timing_token(t: float | None) -> str:
    """One 5-character timing token (§4.4): ``5.3ms``, ``123ms``, ``870µs``, ` 1.2s`."""
    if t is None:
        return "     "
    t = max(0.0, float(t))
    units = (("\u00b5s", 1e-6), ("ms", 1e-3), ("s", 1.0))
    i = 0 if t < 1e-3 else 1 if t < 1.0 else 2
    while True:
        unit, scale = units[i]
        v = t / scale
        text = f"{round(v, 1):.1f}" if round(v, 1) < 10 else str(round(v))
        if len(text) > 3 and i < 2 and float(text) >= 1000:
            i += 1  # 999.7 µs rounds to 1000 µs: show 1.0ms instead
            continue
        return (text + unit).rjust(5)


def col_size(n: int | None) -> int:
    """§6.2 ``colSize``: 2 + digits, at least 6; 6 for no limit."""
    if n is None:
        return 6
    return max(2 + len(str(int(n))), 6)


def memory_string(mem: Any) -> str:
    """The §5.2 memory string from engine.memory's dict (or a string passed through)."""
    if mem is None:
        return ""
    if isinstance(mem, str):
        return mem
    from engine.memory import format_memory

    return format_memory(mem)


def sample_memory(setup: dict[str, Any]) -> dict[str, int]:
    """A fresh §5.1 sample (GPU keys when the device is a GPU), via engine.memory."""
    from engine.memory import memory_sample

    return memory_sample(gpus=str(setup.get("Device", "")).upper().startswith("GPU"))


def timings_of(timings: dict[str, Any] | None, which: str) -> list[float | None]:
    """The seven ``which`` ("Last" or "Max") values of a ``$Timings`` dict, None if unmeasured."""
    out: list[float | None] = []
    for k in TIMER_KEYS:
        entry = (timings or {}).get(k)
        out.append(entry.get(which) if isinstance(entry, dict) else None)
    return out


class PrintReporter(Reporter):
    """The printed table: setup lines, header rows every 50 data rows, right-aligned columns."""

    form = "Print"

    def __init__(self, stream: IO[str] | None = None, *, report_timings: bool = False,
                 report_memory: bool = False, interval: Interval | None = None):
        super().__init__(interval)
        self.stream = stream
        self.report_timings = report_timings
        self.report_memory = report_memory
        self.rows_written = 0
        self.columns: list[tuple[str, str, int]] = []

    # -- output ------------------------------------------------------------------------------
    def _print(self, line: str) -> None:
        out = self.stream if self.stream is not None else sys.stdout
        out.write(line.rstrip() + "\n")
        out.flush()

    def _start(self) -> None:
        s = self.setup
        for label, key in (("Optimization Method", "Method"), ("Device", "Device"),
                           ("Batch Size", "BatchSize"), ("Batches Per Round", "BatchesPerRound"),
                           ("Training Examples", "TrainingExamples")):
            if key == "Method":
                self._print("Starting training.")
            self._print(f"{label}: {s.get(key, '')}")
        if self.report_memory and s.get("MemoryUsage") is None:
            s["MemoryUsage"] = sample_memory(s)
        self.columns = self._layout()

    def _layout(self) -> list[tuple[str, str, int]]:
        """(header 1, header 2, width) per column, in §6.2 order."""
        s = self.setup
        rounds = s.get("MaxTrainingRounds")
        bpr = s.get("BatchesPerRound") or 1
        bs = s.get("BatchSize") or 1
        cols = [
            ("%", "", 3),
            ("round", f"/{rounds}" if rounds else "", col_size(rounds)),
            ("batch", f"/{bpr}", col_size(bpr)),
            ("examples", "processed", max(col_size(bs * bpr * rounds) if rounds else 6, 10)),
            ("inputs", "/second", 10),
            ("learning", "rate", 10),
            ("time", "elapsed", 10),
            ("time", "left", 10),
        ]
        shorts = {**SHORT_NAMES, **(s.get("ShortNames") or {})}
        for name in ["Loss", *s.get("Measurements", ())]:
            short = shorts[name] if name in shorts else str(name).lower()
            width = max(10, len(short))  # "Output loss" must not push the row out of line
            cols.append(("current", short, width))
            cols.append(("round", short, width))
            if s.get("HasValidation"):
                cols.append(("test", short, width))
        if self.report_memory:
            width = len(memory_string(s.get("MemoryUsage"))) + 2
            cols.append(("memory", "usage", max(width, 7)))
        if self.report_timings:
            cols.append(("timings", TIMINGS_HEADER, 50))
        return cols

    def _line(self, cells: list[str]) -> str:
        return " ".join(c.rjust(w) for c, (_, _, w) in zip(cells, self.columns, strict=True))

    def _row(self, progress: dict[str, Any], current: dict[str, float | None]) -> None:
        if self.rows_written % HEADER_EVERY == 0:
            self._print(self._line([c[0] for c in self.columns]))
            self._print(self._line([c[1] for c in self.columns]))
        self.rows_written += 1
        self._print(self._line(self._cells(progress, current)))
        if self.report_timings:
            blanks = [""] * (len(self.columns) - 1)
            maxes = timings_of(progress.get("$Timings"), "Max")
            self._print(self._line([*blanks, " max: " + " ".join(map(timing_token, maxes))]))

    def _cells(self, p: dict[str, Any], current: dict[str, float | None]) -> list[str]:
        s = self.setup
        bs = s.get("BatchSize") or 0
        ups = s.get("UpdatesPerBatch") or 1
        pf = p.get("ProgressFraction")
        rate = p.get("ExamplesPerSecond")
        if rate is None and p.get("BatchesPerSecond") is not None:
            rate = p["BatchesPerSecond"] * ups * bs
        abs_batch = p.get("AbsoluteBatch")
        cells = [
            DASH if pf is None else str(round(100 * pf)),
            _int(p.get("Round")),
            _int(p.get("Batch")),
            DASH if abs_batch is None else str(bs * abs_batch),
            DASH if rate is None else str(round(rate)),
            sci(p.get("LearningRate")),
            time_string(p.get("TimeElapsed")),
            time_string(p.get("TimeRemaining")),
        ]
        fmt_of = {}
        for name in ["Loss", *s.get("Measurements", ())]:
            fmt = percent if is_percent(name) else sci
            fmt_of[name] = fmt
            if name == "Loss":
                rnd, val = p.get("RoundLoss"), p.get("ValidationLoss")
            else:
                rnd = (p.get("RoundMeasurements") or {}).get(name)
                val = (p.get("ValidationMeasurements") or {}).get(name)
            cells.append(fmt(current.get(name)))
            cells.append(fmt(rnd))
            if s.get("HasValidation"):
                cells.append(fmt(val))
        if self.report_memory:
            # The loop's "$MemoryUsage" is its MemorySampler's latest sample (§5.3's cache,
            # with the bucket count); sample here only when a caller gave none.
            mem = p.get("$MemoryUsage")
            cells.append(memory_string(mem if mem is not None else sample_memory(s)))
        if self.report_timings:
            lasts = timings_of(p.get("$Timings"), "Last")
            cells.append("curr: " + " ".join(map(timing_token, lasts)))
        return cells

    def _finish(self, summary: dict[str, Any]) -> None:
        self._print("Training aborted." if summary.get("Aborted") else "Training complete.")


def _int(v: Any) -> str:
    return DASH if v is None else str(int(v))
