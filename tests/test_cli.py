"""The `wlbridge` command, run as a subprocess the way a user runs it (issue 6, DESIGN.md).

Exit codes: 0 success, 1 training failure, 2 bad input; errors are one line on stderr.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def needs(*modules: str) -> None:
    """Skip with the name of the first missing piece of the stack."""
    for name in modules:
        try:
            __import__(name)
        except ImportError as err:
            pytest.skip(f"{name} is not importable yet: {err}")


def wlbridge(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "wlbridge", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)


QUICK = ('MaxTrainingRounds -> 2, BatchSize -> 64, RandomSeeding -> 1, '
         'TrainingProgressReporting -> {"Print", "Interval" -> Quantity[1, "Rounds"]}')


@pytest.mark.slow
def test_readme_main_command(tmp_path):
    """`wlbridge train examples/digits_mlp.wl examples/digits.npz --options "$(cat ...)"`:
    the §6.2 table on stdout with timings and memory, the trained net written as WXF."""
    needs("wlbridge.api", "wlbridge.syntax")
    out = tmp_path / "net.wxf"
    options = (EXAMPLES / "digits_options.wl").read_text()
    p = wlbridge("train", "examples/digits_mlp.wl", "examples/digits.npz",
                 "--options", options, "-o", str(out))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    # 1797 examples in ceil(1797/64) = 29 batches of the padded permutation (§7.1); Scaled[0.1]
    # takes the last floor(0.1 * 29) = 2 whole batches for validation, leaving 27 (§9.3).
    assert lines[:5] == ["Starting training.", "Optimization Method: ADAM", "Device: CPU",
                         "Batch Size: 64", "Batches Per Round: 27"]
    # the 27 * 64 = 1728 training slots hold each example once, except the 1856 - 1797 = 59
    # padding repeats that fall among them
    examples = re.fullmatch(r"Training Examples: (\d+)", lines[5])
    assert examples and 1728 - 59 <= int(examples[1]) <= 1728
    assert "timings" in lines[6] and "memory" in lines[6] and "test" in lines[6]
    assert any(re.search(r"curr: +\S+", line) for line in lines)
    assert any(line.lstrip().startswith("max:") for line in lines)
    assert any(re.search(r"\bS:[\d,]+M K:\d[\d,]*M", line) for line in lines)
    assert lines[-1] == "Training complete."
    from wolframclient.deserializers import binary_deserialize

    net = binary_deserialize(out.read_bytes())
    assert str(net.head).endswith("NetChain")


def test_options_from_file_and_wl_output(tmp_path):
    """`--options @file` reads the text from a file; `.wl` output is exact text that parses."""
    needs("wlbridge.api", "wlbridge.syntax")
    opts = tmp_path / "o.wl"
    opts.write_text(QUICK)
    out = tmp_path / "loss.wl"
    p = wlbridge("train", "examples/digits_mlp.wl", "examples/digits.npz", "RoundLossList",
                 "--options", f"@{opts}", "-o", str(out))
    assert p.returncode == 0, p.stderr
    from wlbridge import parse

    losses = parse(out.read_text())
    assert isinstance(losses, tuple) and len(losses) == 2 and losses[1] < losses[0]


def test_plot_property_to_png(tmp_path):
    needs("wlbridge.api", "wlbridge.syntax", "matplotlib")
    out = tmp_path / "loss.png"
    p = wlbridge("train", "examples/digits_mlp.wl", "examples/digits.npz", "LossEvolutionPlot",
                 "--options", QUICK, "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"


# `{time, batch} -> value`; the time is a machine real (InputForm may mark it with a backtick)
LOG_LINE = re.compile(r"^\{\s*\d+(\.\d*)?`?(\*\^-?\d+)?\s*,\s*\d+\s*\}\s*->\s*.+$")


def test_standard_error_logs_on_stderr():
    """§2.2: "StandardError" logs go to stderr, each entry `{time, batch} -> value`;
    the table stays on stdout."""
    needs("wlbridge.api", "wlbridge.syntax")
    options = QUICK + ', "InternalOptions" -> {"ExecutorLogging" -> "StandardError", ' \
                      '"CoreLoopLogging" -> "StandardError"}'
    p = wlbridge("train", "examples/digits_mlp.wl", "examples/digits.npz", "RoundLoss",
                 "--options", options)
    assert p.returncode == 0, p.stderr
    logs = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(logs) > 10
    from wlbridge import parse

    for line in logs:
        assert LOG_LINE.match(line), line
        entry = parse(line)
        t, batch = entry.args[0]
        assert isinstance(t, float) and isinstance(batch, int)
    assert "StartOfBatch" in p.stderr and "Starting training." in p.stdout
    assert "Starting training." not in p.stderr


@pytest.mark.parametrize("options, tag", [
    ("BatchSize -> -3", "optpi"),
    ('"InternalOptions" -> {"NoSuchKey" -> 1}', "badintopt"),
    ("BatchSize -> ", None),  # malformed Wolfram text
])
def test_bad_option_is_one_line_exit_2(options, tag):
    needs("wlbridge.api", "wlbridge.syntax")
    p = wlbridge("train", "examples/digits_mlp.wl", "examples/digits.npz", "--options", options)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr
    assert re.match(r"^\w+::\w+: ", lines[0]), lines[0]
    if tag:
        assert f"::{tag}:" in lines[0]
    assert "Starting training." not in p.stdout


def test_debug_flag_shows_traceback():
    needs("wlbridge.api", "wlbridge.syntax")
    p = wlbridge("--debug", "train", "examples/digits_mlp.wl", "examples/digits.npz",
                 "--options", "BatchSize -> -3")
    assert p.returncode == 2 and "Traceback" in p.stderr


def test_missing_file_exit_2():
    needs("wlbridge.syntax")
    p = wlbridge("train", "nowhere/net.wl", "examples/digits.npz")
    assert p.returncode == 2 and p.stderr.strip() == \
        "wlbridge::nofile: The file 'nowhere/net.wl' does not exist."


def test_sigint_writes_result_and_complete_logs(tmp_path):
    """Ctrl-C is NetTrain's first abort (§9.12): training stops, "Training aborted." is
    printed, the net so far is written, and every log line is a complete entry."""
    needs("wlbridge.api", "wlbridge.syntax")
    out = tmp_path / "net.wxf"
    log = tmp_path / "log.wl"
    options = ('MaxTrainingRounds -> 100000, BatchSize -> 16, TrainingProgressReporting -> '
               '{"Print", "Interval" -> Quantity[1, "Rounds"]}, "InternalOptions" -> '
               f'{{"CoreLoopLogging" -> File["{log}"]}}')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wlbridge", "train", "examples/digits_mlp.wl",
         "examples/digits.npz", "--options", options, "-o", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and log.stat().st_size > 5000):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout.rstrip().endswith("Training aborted.")
    from wolframclient.deserializers import binary_deserialize

    assert str(binary_deserialize(out.read_bytes()).head).endswith("NetChain")
    from wlbridge import parse

    text = log.read_text()
    assert text.endswith("\n")
    entries = [parse(line) for line in text.splitlines()]
    assert entries and all(len(e.args[0]) == 2 for e in entries)
    assert "EndOfLoop" in text


def test_parse_prints_fullform_and_writes_wxf(tmp_path):
    needs("wlbridge.syntax")
    p = wlbridge("parse", "BatchSize -> 32")
    assert p.returncode == 0 and p.stdout.strip() == "Rule[BatchSize, 32]"
    p = wlbridge("parse", "examples/digits_options.wl")
    assert p.returncode == 0 and p.stdout.startswith("Sequence[Rule[MaxTrainingRounds, 8]")
    out = tmp_path / "x.wxf"
    p = wlbridge("parse", "{1, 2.5, \"a\"}", "--wxf", str(out))
    assert p.returncode == 0
    from wolframclient.deserializers import binary_deserialize

    assert binary_deserialize(out.read_bytes()) == (1, 2.5, "a")


def test_parse_syntax_error_is_one_line_exit_2():
    needs("wlbridge.syntax")
    p = wlbridge("parse", "f[1, 2")
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_options_lists_public_and_internal_options():
    needs("wlbridge.options")
    p = wlbridge("options")
    assert p.returncode == 0
    for name in ("BatchSize", "MaxTrainingRounds", "TrainingProgressReporting",
                 "ReportTimings", "ReportMemoryUsage", "SequenceBucketingPartitions"):
        assert name in p.stdout, name
