"""SIGINT and SIGTERM stop training at the end of a batch (reference §9.12, issue 12): the
result is written, the counts agree with the loss list and the logs, a second signal does
not spoil it; a kill -9 while checkpointing leaves no partial file. Run as subprocesses, the
way a user or a scheduler sends the signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wolframclient.deserializers import binary_deserialize

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
PROPS = '{"TotalBatches", "ExamplesProcessed", "BatchLossList", "ReasonTrainingStopped"}'
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _start(tmp_path: Path, extra: str = "", prop: str = PROPS) -> tuple[subprocess.Popen,
                                                                         Path, Path]:
    out, log = tmp_path / "out.wxf", tmp_path / "log.wl"
    options = ('MaxTrainingRounds -> 100000, BatchSize -> 16, RandomSeeding -> 1, '
               'TrainingProgressReporting -> None, "InternalOptions" -> '
               f'{{"CoreLoopLogging" -> File["{log}"]}}' + extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "wlbridge", "train", "examples/digits_mlp.wl",
         "examples/digits.npz", prop, "--options", options, "-o", str(out)],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(log, 3000)
    return proc, out, log


def _wait_for(path: Path, size: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not (path.exists() and path.stat().st_size > size):
        time.sleep(0.05)
    assert path.exists(), "training never started"


def _check_counts(out: Path, log: Path) -> int:
    """TotalBatches = the number of losses = ExamplesProcessed / 16 = the batches the
    CoreLoop log saw start and finish; the log is whole and ends the loop."""
    total, examples, losses, reason = binary_deserialize(out.read_bytes())
    assert reason == "Aborted"
    assert total == len(losses) == examples // 16 and examples == 16 * total
    text = log.read_text()
    assert text.endswith("\n")
    assert text.count('"StartOfBatch"') == text.count('"BatchCollectors"') == total
    assert text.rstrip().endswith('"EndOfLoop"')
    return total


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_stops_at_the_end_of_a_batch(tmp_path, sig):
    """SIGINT (Ctrl-C) and SIGTERM (schedulers) both stop after the batch in progress: exit
    0, the result written, counts that agree exactly, and a line naming the signal."""
    proc, out, log = _start(tmp_path)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert _check_counts(out, log) > 0
    assert f"wlbridge::stopped: {sig.name} stopped training" in stderr


def test_two_signals_close_together_still_give_the_result(tmp_path):
    """A second signal a moment after the first (an impatient Ctrl-C, or a runtime's
    SIGTERM then SIGINT) does not cut the result short."""
    proc, out, log = _start(tmp_path)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    _check_counts(out, log)


def test_python_api_sigterm_returns_the_result(tmp_path):
    """net_train in a Python program: SIGTERM stops at a batch's end and net_train returns
    the result (reason "Aborted"), with counts that agree."""
    script = tmp_path / "train.py"
    flag = tmp_path / "started"
    script.write_text(
        "import numpy as np, wlbridge\n"
        "from wolframclient.language import wl\n"
        "d = np.load('examples/digits.npz')\n"
        "def started(info):\n"
        f"    open({str(flag)!r}, 'w').close()\n"
        "r = wlbridge.net_train(open('examples/digits_mlp.wl').read(), "
        "{'Input': d['Input'], 'Output': d['Output']}, 'All', options='MaxTrainingRounds -> "
        "100000, BatchSize -> 16, TrainingProgressReporting -> None', "
        "TrainingProgressFunction=(started, wl.Rule('Event', 'TrainingStarted')))\n"
        "print(r['ReasonTrainingStopped'], r['TotalBatches'], len(r['BatchLossList']), "
        "r['ExamplesProcessed'])\n")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not flag.exists():
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    reason, total, n, examples = stdout.split()
    assert reason == "Aborted" and int(total) == int(n) > 0 and int(examples) == 16 * int(n)
