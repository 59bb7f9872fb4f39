"""The "Panel" and "ProgressIndicator" live displays (reference §6.3), drawn with rich.

rich (the ``panel`` extra) redraws in place in a terminal and in Jupyter. Outside either the
panel is drawn once, at the end of training, so logs stay readable.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from engine.report_base import Reporter
from engine.report_table import (
    SHORT_NAMES,
    is_percent,
    memory_string,
    percent,
    sample_memory,
    sci,
    time_string,
)
from engine.spec import Interval

# Panel order of the timers (§4.1) with their labels.
PANEL_TIMERS = (("batch", "Batch"), ("sync", "Synchronize"), ("gen", "Generator"),
                ("exec", "Executor"), ("coll", "Collector"), ("rep", "Reporting"),
                ("calls", "Callbacks"))


def short_time(t: float | None) -> str:
    """A compact duration for the panel: ``5.3ms``, ``12ms``, ``870µs``, ``1.2s``."""
    from engine.report_table import timing_token

    return timing_token(t).strip()


def timing_line(label: str, entry: dict[str, float] | None) -> str:
    """``exec:  5.3ms (4.1ms-12ms)``, or an em dash when the timer never ran (§4.4)."""
    head = f"{label + ':':<6} "
    if not entry or entry.get("Last") is None:
        return head + "\u2014"
    return (f"{head}{short_time(entry['Last'])} "
            f"({short_time(entry.get('Min'))}-{short_time(entry.get('Max'))})")


class PanelReporter(Reporter):
    """A live rich panel (or, with ``indicator``, just the progress bar and times)."""

    def __init__(self, stream: IO[str] | None = None, *, report_timings: bool = False,
                 report_memory: bool = False, interval: Interval | None = None,
                 indicator: bool = False, live: bool = True):
        super().__init__(interval)
        self.form = "ProgressIndicator" if indicator else "Panel"
        self.stream = stream
        self.report_timings = report_timings
        self.report_memory = report_memory
        self.indicator = indicator
        self.live = live
        self.progress: dict[str, Any] = {}
        self.current: dict[str, float | None] = {}
        self._live: Any = None
        self._console: Any = None

    final_row = True

    def _start(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self._console = Console(file=self.stream if self.stream is not None else sys.stdout)
        if self.live:
            self._live = Live(self.render(), console=self._console, refresh_per_second=4,
                              transient=False)
            self._live.start()

    def _row(self, progress: dict[str, Any], current: dict[str, float | None]) -> None:
        self.progress = progress
        if current:
            self.current = current
        if self._live is not None:
            self._live.update(self.render())

    def _finish(self, summary: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.stop()
            self._live = None
        elif self._console is not None:
            self._console.print(self.render())
        if self._console is not None:
            self._console.print("Training aborted." if summary.get("Aborted")
                                else "Training complete.")

    # -- drawing ----------------------------------------------------------------------------
    def render(self) -> Any:
        """The panel as a rich renderable for the latest row."""
        from rich.panel import Panel
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        s, p = self.setup, self.progress
        pf = float(p.get("ProgressFraction") or 0.0)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", style="bold")
        grid.add_column()
        grid.add_row("", ProgressBar(total=1.0, completed=pf, width=40))
        grid.add_row("progress", self._progress_text(pf))
        grid.add_row("time", self._time_text())
        if not self.indicator:
            grid.add_row("method", f"{s.get('Method', '')} optimizer, batch size "
                                   f"{s.get('BatchSize', '')}, {s.get('Device', '')}")
            if str(s.get("Method", "ADAM")).upper() != "ADAM":
                grid.add_row("learning rate", sci(p.get("LearningRate")))
            grid.add_row("", self._measurements())
            if self.report_memory:
                mem = p.get("$MemoryUsage")
                mem = memory_string(mem if mem is not None else sample_memory(s))
                grid.add_row("memory", mem.replace(" GPU", "\nGPU") or "\u2014")
            if self.report_timings:
                timings = p.get("$Timings") or {}
                grid.add_row("timings", "\n".join(
                    timing_line(label, timings.get(key)) for label, key in PANEL_TIMERS))
        return Panel(grid, title="Training Progress", expand=False)

    def _progress_text(self, pf: float) -> str:
        s, p = self.setup, self.progress
        rounds = s.get("MaxTrainingRounds")
        text = f"{round(100 * pf)}% (round {p.get('Round', 1)}"
        text += f"/{rounds}" if rounds else ""
        bpr = s.get("BatchesPerRound")
        if bpr and (bpr > 1000 or (rounds or 0) <= 10):
            text += f", batch {p.get('Batch', 1)}/{bpr}"
        return text + ")"

    def _time_text(self) -> str:
        p = self.progress
        parts = [f"{time_string(p.get('TimeElapsed', 0.0))} elapsed"]
        elapsed = p.get("TimeElapsed") or 0.0
        if elapsed > 1 and (p.get("AbsoluteBatch") or 0) >= 4:
            parts.append(f"{time_string(p.get('TimeRemaining'))} left")
        rate = p.get("ExamplesPerSecond")
        if rate is not None:
            parts.append(f"{round(rate)} examples/s")
        return ", ".join(parts)

    def _measurements(self) -> Any:
        from rich.table import Table

        s, p = self.setup, self.progress
        table = Table(box=None, padding=(0, 1), show_edge=False)
        table.add_column("")
        table.add_column("current", justify="right")
        table.add_column("round", justify="right")
        if s.get("HasValidation"):
            table.add_column("validation", justify="right")
        shorts = {**SHORT_NAMES, **(s.get("ShortNames") or {})}
        for name in ["Loss", *s.get("Measurements", ())]:
            fmt = percent if is_percent(name) else sci
            if name == "Loss":
                rnd, val = p.get("RoundLoss"), p.get("ValidationLoss")
            else:
                rnd = (p.get("RoundMeasurements") or {}).get(name)
                val = (p.get("ValidationMeasurements") or {}).get(name)
            cur = self.current.get(name)
            cells = [shorts[name] if name in shorts else str(name).lower(),
                     "n.a." if cur is None else fmt(cur), fmt(rnd)]
            if s.get("HasValidation"):
                cells.append(fmt(val))
            table.add_row(*cells)
        return table
