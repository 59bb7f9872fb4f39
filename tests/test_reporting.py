"""TrainingProgressReporting: the print table, file reports, the panel (reference §4.4, §5.2, §6)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from engine.errors import EngineError
from engine.report_files import wl_number
from engine.report_table import percent, sci, time_string, timing_token
from engine.reporting import MultiReporter, NoReporter, make_reporter
from engine.spec import Interval, ReportingSpec

SETUP = {"Method": "ADAM", "Device": "CPU", "BatchSize": 64, "BatchesPerRound": 750,
         "TrainingExamples": 48000, "MaxTrainingRounds": 3, "TotalBatches": 2250,
         "Measurements": ["ErrorRate"], "HasValidation": True, "UpdatesPerBatch": 1,
         "MemoryUsage": "S:15,234M K:081M"}
TIMINGS = {"Batch": {"Last": 0.0053, "Min": 0.0041, "Max": 0.012, "Mean": 0.006},
           "Executor": {"Last": 0.00087, "Min": 0.0005, "Max": 0.0021, "Mean": 0.001},
           "Synchronize": {"Last": 1.23, "Min": 0.5, "Max": 12.3, "Mean": 1.0}}


def progress(b: int) -> dict:
    """A fixed §9.11-style progress association for absolute batch ``b`` of round 1."""
    return {"Round": 1, "Batch": b, "AbsoluteBatch": b, "ProgressFraction": b / 2250,
            "TimeElapsed": 5.4, "TimeRemaining": 11.0, "ExamplesPerSecond": 11083.2,
            "LearningRate": 7.27e-4, "RoundLoss": 0.186, "ValidationLoss": 0.0577,
            "RoundMeasurements": {"ErrorRate": 0.055},
            "ValidationMeasurements": {"ErrorRate": 0.0185},
            "$Timings": TIMINGS, "$MemoryUsage": "S:15,234M K:081M"}


def run(reporter, batches: int, losses=None, step: float = 0.5) -> None:
    """Drive ``reporter`` as engine/loop.py does, with a fixed clock."""
    reporter.start(SETUP)
    for b in range(1, batches + 1):
        loss = losses[b - 1] if losses else 0.0379
        reporter.add_batch_loss(loss, {"ErrorRate": 0.055})
        if reporter.wants_row((b, 0, step * b)):
            reporter.row(progress(b))
    reporter.finish({})


def test_number_formats():
    """§6.2: 3-significant-digit *^ form, percent rules; §4.4 5-character timing tokens."""
    assert [sci(x) for x in (0.0379, 7.27e-4, -0.3791, 1.0, 18.6, None)] == \
        ["3.79*^-2", "7.27*^-4", "-3.7*^-1", "1.00*^+0", "1.86*^1", " \u2014 "]
    assert [percent(x) for x in (1, 0.9995, 0.995, 0.95, 0.55, 0.055, 0.00123, 0)] == \
        ["100%", "99.9500%", "99.500%", "95.00%", "55.0%", "5.50%", "0.123%", "0%"]
    assert [timing_token(t) for t in (None, 5.3e-6, 8.7e-4, 0.0053, 0.123, 1.23, 12.3)] == \
        ["     ", "5.3\u00b5s", "870\u00b5s", "5.3ms", "123ms", " 1.2s", "  12s"]
    assert timing_token(0.99996e-3) == "1.0ms"  # never a 6-character "1000µs"
    assert [time_string(t) for t in (5.4, 11, 125, 3725)] == ["5s", "11s", "2m 5s", "1h 2m 5s"]


GOLDEN = """\
Starting training.
Optimization Method: ADAM
Device: CPU
Batch Size: 64
Batches Per Round: 750
Training Examples: 48000
  %  round  batch   examples     inputs   learning       time       time    current      round       test    current      round       test             memory                                            timings
        /3   /750  processed    /second       rate    elapsed       left       loss       loss       loss      error      error      error              usage        Batch  Exec  Sync   Gen   Col   Rep   Funcs
  0      1      4        256      11083   7.27*^-4         5s        11s   4.00*^-2   1.86*^-1   5.77*^-2      5.50%      5.50%      1.85%   S:15,234M K:081M    curr: 5.3ms 870\u00b5s  1.2s
                                                                                                                                                                  max:  12ms 2.1ms   12s
  0      1      8        512      11083   7.27*^-4         5s        11s   1.20*^-1   1.86*^-1   5.77*^-2      5.50%      5.50%      1.85%   S:15,234M K:081M    curr: 5.3ms 870\u00b5s  1.2s
                                                                                                                                                                  max:  12ms 2.1ms   12s
Training complete.
"""


def test_print_table_golden():
    """§6.2 table with §4.4 timings (curr:/max: rows) and §5.2 memory; `current` is the mean
    of the batch losses since the previous row (0.01..0.07 -> 0.04, 0.09..0.15 -> 0.12)."""
    buf = io.StringIO()
    rep = make_reporter([ReportingSpec("Print", interval=Interval(batches=1, seconds=2.0))],
                        report_timings=True, report_memory=True, stream=buf, interactive=False)
    run(rep, 9, losses=[0.01 * (2 * i + 1) for i in range(9)])
    # rows fire at 2 s and 4 s of the fixed clock (0.5 s per batch); batch 9 has no row
    assert buf.getvalue() == GOLDEN


def test_print_header_repeats_every_50_rows_and_plain_columns():
    """§6.2: header rows before the 1st, 51st, 101st data row; no timing/memory columns
    unless asked; a final row for the batches after the last periodic row."""
    buf = io.StringIO()
    rep = make_reporter([ReportingSpec("Print", interval=Interval(batches=1))],
                        stream=buf, interactive=False)
    rep.start(SETUP)
    for b in range(1, 121):
        rep.add_batch_loss(0.5)
        if rep.wants_row((b, 0, 0.0)):
            rep.row(progress(b))
    rep.finish({"Progress": progress(120)})
    lines = buf.getvalue().splitlines()
    headers = [i for i, line in enumerate(lines) if line.lstrip().startswith("%")]
    assert headers == [6, 58, 110]
    data = [line for line in lines[6:-1] if line.split()[0].isdigit()]
    assert len(data) == 120  # 120 periodic rows; no extra final row (nothing new since)
    assert "timings" not in lines[6] and "memory" not in lines[6]
    assert lines[-1] == "Training complete."


@pytest.mark.parametrize(("x", "text"), [
    (9.9996, "1.00*^1"), (0.99996, "1.00*^+0"), (-9.9996, "-1.0*^1"), (99999.7, "1.00*^5"),
    (9.99949, "9.99*^+0"), (9.995, "9.99*^+0"), (1e300, "1.00*^300"),
    (1.7976931348623157e308, "1.79*^308"), (5e-324, "4.94*^-324"), (1e-310, "1.00*^-310"),
    (-0.0, "0"), (float("nan"), "NaN"), (float("-inf"), "-Inf"),
])
def test_sci_carries_a_rounded_decade_into_the_exponent(x, text):
    """§6.2: a mantissa that rounds to 10 moves to the next exponent (``9.9996`` is
    ``1.00*^1``, never ``10.0*^+0``); the smallest subnormal still formats."""
    assert sci(x) == text


def test_print_interval_firing_rule():
    """§9.6: nothing before one full interval; threshold = clock + interval afterwards."""
    rep = make_reporter([ReportingSpec("Print")], stream=io.StringIO(), interactive=False)
    rep.start(SETUP)
    fired = [t for t in [0.5 * i for i in range(1, 13)] if rep.wants_row((int(t * 2), 0, t))]
    assert fired == [2.0, 4.0, 6.0]  # default Print interval: 2 s
    rep = make_reporter([ReportingSpec("Print", interval=Interval(percent=10))],
                        stream=io.StringIO(), interactive=False)
    rep.start(SETUP)
    fired = [b for b in range(1, 2251) if rep.wants_row((b, 0, 0.0))]
    assert fired[:3] == [225, 450, 675] and len(fired) == 10


def test_aborted_line_and_none():
    buf = io.StringIO()
    rep = make_reporter([ReportingSpec("Print")], stream=buf, interactive=False)
    rep.start(SETUP)
    rep.finish({"Aborted": True})
    assert buf.getvalue().splitlines()[-1] == "Training aborted."
    none = make_reporter([ReportingSpec("None")])
    assert isinstance(none, NoReporter) and not none.wants_row((10**6, 10**3, 1e9))


def test_memory_column_from_engine_memory_dict():
    """§5.2: ``S:15,234M K:081M`` from the loop's bytes dict (via engine.memory.format_memory),
    right-aligned under the "memory usage" header; each row shows its own sample."""
    buf = io.StringIO()
    rep = make_reporter([ReportingSpec("Print", interval=Interval(batches=1))],
                        report_memory=True, stream=buf, interactive=False)
    rep.start({**SETUP, "MemoryUsage": {"System": 15_234_000_000, "Kernel": 81_000_000}})
    samples = [{"System": 15_234_000_000, "Kernel": 81_000_000},
               {"System": 9_000_000, "Kernel": 1_081_000_000, "Buckets": 3}]
    for b, sample in enumerate(samples, 1):
        rep.add_batch_loss(1.0)
        assert rep.wants_row((b, 0, 0.0))
        rep.row({**progress(b), "$MemoryUsage": sample})
    header, second, row1, row2 = buf.getvalue().splitlines()[6:10]
    assert header.endswith("  memory") and second.endswith(" usage")
    assert row1.endswith("  S:15,234M K:081M") and len(row1) == len(header)
    assert row2.endswith(" S:009M K:1,081M B:3")
    assert row1[:-len("S:15,234M K:081M")].rstrip().endswith("1.85%")  # its own column


def _file_run(path, spec_interval=None):
    rep = make_reporter([ReportingSpec("File", path=str(path), interval=spec_interval)],
                        interactive=False)
    rep.start({**SETUP, "BatchesPerRound": 4, "TotalBatches": 12})
    for b in range(1, 13):
        rep.add_batch_loss(0.1 * b, {"ErrorRate": 0.25})
        rounds_done = b // 4
        if rep.wants_row((b, rounds_done, 0.1 * b)):
            rep.row({**progress(b), "Round": (b - 1) // 4 + 1, "Batch": (b - 1) % 4 + 1})
    rep.finish({})
    return rep


KEYS = ["ProgressFraction", "Round", "Batch", "ExamplesProcessed", "ExamplesPerSecond",
        "LearningRate", "TimeElapsed", "TimeRemaining", "CurrentLoss", "RoundLoss",
        "ValidationLoss", "CurrentErrorRate", "RoundErrorRate", "ValidationErrorRate"]


def test_csv_and_tsv_reports_parse_back(tmp_path):
    """§6.4: header of keys joined by ", ", one row per round (default interval)."""
    _file_run(tmp_path / "r.csv")
    rows = list(csv.reader(open(tmp_path / "r.csv", newline=""), skipinitialspace=True))
    assert rows[0] == KEYS and len(rows) == 4
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["Round"] == "1" and first["Batch"] == "4" and first["ExamplesProcessed"] == "256"
    assert float(first["CurrentLoss"]) == pytest.approx(0.25)  # mean of 0.1..0.4
    assert float(dict(zip(rows[0], rows[2], strict=True))["CurrentLoss"]) == pytest.approx(0.65)
    _file_run(tmp_path / "r.tsv")
    rows = list(csv.reader(open(tmp_path / "r.tsv", newline=""), delimiter="\t"))
    assert rows[0] == KEYS and len(rows) == 4


def test_json_report_parses_back(tmp_path):
    _file_run(tmp_path / "r.json")
    text = (tmp_path / "r.json").read_text()
    assert text.startswith("[\n\t{") and text.endswith("\n]")
    rows = json.loads(text)
    assert [r["Round"] for r in rows] == [1, 2, 3] and list(rows[0]) == KEYS
    assert rows[2]["TimeElapsed"] == 5 and rows[0]["ValidationErrorRate"] == 0.0185


def test_json_report_is_readable_rows_so_far(tmp_path):
    """Rows are flushed as they are made: before finish the file holds every row written."""
    rep = make_reporter([ReportingSpec("File", path=str(tmp_path / "p.json"),
                                       interval=Interval(batches=1))], interactive=False)
    rep.start(SETUP)
    rep.add_batch_loss(1.0)
    rep.wants_row((1, 0, 0.0))
    rep.row(progress(1))
    assert json.loads((tmp_path / "p.json").read_text() + "\n]")[0]["Batch"] == 1
    rep.finish({})


def test_wl_report_parses_back(tmp_path):
    """.wl report: `{`, InputForm associations, `}`; reals exact with *^ exponents."""
    parse = pytest.importorskip("wlbridge.syntax").parse
    _file_run(tmp_path / "r.wl")
    expr = parse((tmp_path / "r.wl").read_text())
    assert isinstance(expr, tuple) and len(expr) == 3
    assert list(expr[0]) == KEYS and expr[0]["LearningRate"] == 7.27e-4
    assert expr[1]["CurrentLoss"] == pytest.approx(0.65)
    assert wl_number(1.5e-300) == "1.5*^-300" and wl_number(1e20) == "1.*^20"


def test_bad_file_extension():
    with pytest.raises(EngineError) as err:
        make_reporter([ReportingSpec("File", path="x.txt")])
    assert str(err.value).startswith("NetTrain::repfileext:")


def test_function_and_multiple_specs(tmp_path):
    """A callable gets the progress association once per round; several specs each keep
    their own interval and `current` accumulator."""
    seen = []
    buf = io.StringIO()
    rep = make_reporter([ReportingSpec("Function", fn=seen.append),
                         ReportingSpec("Print", interval=Interval(batches=2))],
                        stream=buf, interactive=False)
    assert isinstance(rep, MultiReporter)
    rep.start({**SETUP, "BatchesPerRound": 4})
    for b in range(1, 9):
        rep.add_batch_loss(float(b))
        if rep.wants_row((b, b // 4, 1.0 * b)):
            rep.row(progress(b))
    rep.finish({})
    assert [s["AbsoluteBatch"] for s in seen] == [4, 8]
    assert seen[0]["CurrentLossMean"] == pytest.approx(2.5)
    assert buf.getvalue().count("\n  0      1") == 4


def test_automatic_is_print_when_not_interactive():
    buf = io.StringIO()
    rep = make_reporter(None, stream=buf, interactive=False)
    assert rep.form == "Print"


def test_panel_renders_rows_timings_and_memory():
    """§6.3 rows, with the §4.4 timings grid (`exec:  5.3ms (4.1ms-12ms)`) and memory."""
    pytest.importorskip("rich")
    from rich.console import Console

    buf = io.StringIO()
    rep = make_reporter([ReportingSpec("Panel", interval=Interval(batches=1))],
                        report_timings=True, report_memory=True, stream=buf, interactive=False)
    assert rep.form == "Panel"
    rep.start(SETUP)
    rep.add_batch_loss(0.0379, {"ErrorRate": 0.055})
    rep.wants_row((1, 0, 0.0))
    rep.row({**progress(1), "$Timings": {
        **TIMINGS, "Executor": {"Last": 0.0053, "Min": 0.0041, "Max": 0.012, "Mean": 0.005}}})
    console = Console(file=io.StringIO(), width=100, record=True)
    console.print(rep.render())
    text = console.export_text()
    for needle in ("progress", "0% (round 1/3, batch 1/750)", "ADAM optimizer, batch size 64",
                   "exec:  5.3ms (4.1ms-12ms)", "gen:   \u2014", "S:15,234M K:081M",
                   "3.79*^-2", "1.86*^-1", "5.50%", "1.85%", "validation"):
        assert needle in text, needle
    rep.finish({})
    assert buf.getvalue().rstrip().endswith("Training complete.")
