"""File["x.csv" | "x.tsv" | "x.json" | "x.wl" | "x.m"] progress reports (reference §6.4).

Rows are written as they are made and flushed, so a crash or Ctrl-C leaves every finished row
on disk; JSON and WL files get their closing bracket at `finish`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import IO, Any

from engine.errors import EngineError
from engine.report_base import Reporter
from engine.spec import Interval

FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".wl": "wl", ".m": "wl"}


def wl_number(x: float) -> str:
    """A real as exact Wolfram text: Python's shortest repr with ``e`` written ``*^``."""
    if math.isnan(x):
        return "Indeterminate"
    if math.isinf(x):
        return "DirectedInfinity[1]" if x > 0 else "DirectedInfinity[-1]"
    text = repr(float(x))
    if "e" in text:
        mant, exp = text.split("e")
        if "." not in mant:
            mant += "."
        return f"{mant}*^{int(exp)}"
    return text


def wl_text(v: Any) -> str:
    """InputForm text for the values a report row holds (numbers, strings, None, dicts)."""
    if v is None:
        return "Missing[]"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return wl_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=True)
    if isinstance(v, dict):
        return "<|" + ", ".join(f"{wl_text(k)} -> {wl_text(x)}" for k, x in v.items()) + "|>"
    if isinstance(v, list | tuple):
        return "{" + ", ".join(wl_text(x) for x in v) + "}"
    raise TypeError(f"no Wolfram text form for {type(v).__name__}")


def report_keys(measurements: list[str], has_validation: bool,
                per_batch: frozenset[str] | None = None) -> list[str]:
    """The §6.4 column keys: progress keys, then Current/Round/Validation per measurement."""
    keys = ["ProgressFraction", "Round", "Batch", "ExamplesProcessed", "ExamplesPerSecond",
            "LearningRate", "TimeElapsed", "TimeRemaining"]
    for name in ["Loss", *measurements]:
        if per_batch is None or name in per_batch:
            keys.append(f"Current{name}")
        keys.append(f"Round{name}")
        if has_validation:
            keys.append(f"Validation{name}")
    return keys


class FileReporter(Reporter):
    """Writes one row per interval (default once per round) to a CSV/TSV/JSON/WL file."""

    form = "File"

    def __init__(self, path: str | os.PathLike[str], interval: Interval | None = None,
                 formatter: Callable[[Any], str] | None = None):
        super().__init__(interval)
        self.path = os.fspath(path)
        ext = os.path.splitext(self.path)[1].lower()
        if ext not in FORMATS:
            raise EngineError(
                "repfileext",
                f"The file {self.path!r} given to TrainingProgressReporting must have one of "
                f"the extensions .csv, .tsv, .json, .wl or .m.")
        self.kind = FORMATS[ext]
        self.formatter = formatter or wl_text
        self._fh: IO[str] | None = None
        self._rows = 0
        self.keys: list[str] = []

    def _start(self) -> None:
        s = self.setup
        self.keys = report_keys(list(s.get("Measurements", ())), bool(s.get("HasValidation")))
        try:
            self._fh = open(self.path, "w", encoding="utf-8", newline="")
        except OSError as err:
            raise EngineError("badrepfile",
                              f"Cannot open {self.path!r} for progress reporting: "
                              f"{err.strerror}.") from err
        if self.kind in ("csv", "tsv"):
            self._write(self._sep().join(self.keys) + "\n")
        elif self.kind == "json":
            self._write("[")
        else:
            self._write("{")

    def _sep(self) -> str:
        return ", " if self.kind == "csv" else "\t"

    def _write(self, text: str) -> None:
        assert self._fh is not None
        self._fh.write(text)
        self._fh.flush()

    def values(self, p: dict[str, Any], current: dict[str, float | None]) -> dict[str, Any]:
        """The row as an ordered dict keyed by `keys`."""
        s = self.setup
        bs = s.get("BatchSize") or 0
        rate = p.get("ExamplesPerSecond")
        if rate is None and p.get("BatchesPerSecond") is not None:
            rate = p["BatchesPerSecond"] * (s.get("UpdatesPerBatch") or 1) * bs
        elapsed = p.get("TimeElapsed")
        ab = p.get("AbsoluteBatch")
        row: dict[str, Any] = {
            "ProgressFraction": p.get("ProgressFraction"),
            "Round": p.get("Round"),
            "Batch": p.get("Batch"),
            "ExamplesProcessed": None if ab is None else bs * ab,
            "ExamplesPerSecond": None if rate is None else float(rate),
            "LearningRate": p.get("LearningRate"),
            "TimeElapsed": None if elapsed is None else int(round(elapsed)),
            "TimeRemaining": p.get("TimeRemaining"),
        }
        for name in ["Loss", *s.get("Measurements", ())]:
            if name == "Loss":
                rnd, val = p.get("RoundLoss"), p.get("ValidationLoss")
            else:
                rnd = (p.get("RoundMeasurements") or {}).get(name)
                val = (p.get("ValidationMeasurements") or {}).get(name)
            row[f"Current{name}"] = current.get(name)
            row[f"Round{name}"] = rnd
            row[f"Validation{name}"] = val
        return {k: _plain(row.get(k)) for k in self.keys}

    def _row(self, progress: dict[str, Any], current: dict[str, float | None]) -> None:
        if self._fh is None:
            return
        row = self.values(progress, current)
        lead = "\n\t" if self._rows == 0 else ",\n\t"
        if self.kind in ("csv", "tsv"):
            text = self._sep().join("" if v is None else str(v) for v in row.values()) + "\n"
        elif self.kind == "json":
            text = lead + json.dumps(row, separators=(",", ":"), allow_nan=True)
        else:
            text = lead + self.formatter(row)
        self._rows += 1
        self._write(text)

    def _finish(self, summary: dict[str, Any]) -> None:
        if self._fh is None:
            return
        if self.kind == "json":
            self._write("\n]")
        elif self.kind == "wl":
            self._write("\n}")
        self._fh.close()
        self._fh = None


def _plain(v: Any) -> Any:
    """numpy scalars and the like become Python numbers, so every writer sees natives."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    try:
        return v.item()
    except AttributeError:
        return v
