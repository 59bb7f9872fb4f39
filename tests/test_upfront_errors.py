"""Errors checked up front and named, warnings shown as messages (issue 12 item 5).

A file that cannot be written (logger, reporting file, checkpoint, ``-o``) is found when the
options are read, before any training; a corrupt data file is named with the reason; NaN
data, divergence and the other training notices reach stderr as one ``NetTrain::tag: text``
line each, never as Python's two-line warning; WXF data gives no read-only-array warning.
The command line runs in process (`wlbridge.cli.main`, the real code, stderr captured);
where what matters is the process's own stderr, it runs as a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from wolframclient.serializers import export

from wlbridge.cli import main

ROOT = Path(__file__).resolve().parents[1]
NET = 'NetChain[{LinearLayer[3], Tanh, LinearLayer[1]}, "Input" -> 2]'
QUIET = "MaxTrainingRounds -> 2, BatchSize -> 5, RandomSeeding -> 1"
PRINT = QUIET + ', TrainingProgressReporting -> "Print"'


@pytest.fixture
def files(tmp_path):
    """A good .npz, a plain file (to use as a folder), NaN data, a WXF data file."""
    x = np.random.default_rng(0).random((20, 2), dtype=np.float32)
    np.savez(tmp_path / "ok.npz", Input=x, Output=x.sum(1, keepdims=True))
    nan = x.copy()
    nan[3, 0] = np.nan
    np.savez(tmp_path / "nan.npz", Input=nan, Output=x.sum(1, keepdims=True))
    export({"Input": x.astype(np.float64), "Output": x.sum(1).astype(np.float64)},
           str(tmp_path / "ok.wxf"), target_format="wxf")
    (tmp_path / "afile").write_text("not a folder")
    return tmp_path


def _cli(capsys, *args: str) -> tuple[int, list[str], str]:
    code = main(["train", NET, *args])
    out, err = capsys.readouterr()
    return code, err.splitlines(), out


@pytest.mark.parametrize(("option", "line"), [
    ('"InternalOptions" -> {"PlanLogging" -> File["{d}/missing/x.wl"]}',
     'NetTrain::badnetlogfile: Logging file "{d}/missing/x.wl" given for "PlanLogging" cannot '
     'be written: its folder "{d}/missing" does not exist.'),
    ('"InternalOptions" -> {"VerboseLogging" -> File["{d}/afile/x.wl"]}',
     'NetTrain::badnetlogfile: Logging file "{d}/afile/x.wl" given for "VerboseLogging" cannot '
     'be written: "{d}/afile" is a file, not a folder.'),
    ('"InternalOptions" -> {"TimingLogging" -> OutputStream["/proc/x.wl", 3]}',
     'NetTrain::badnetlogfile: Logging file "/proc/x.wl" given for "TimingLogging" cannot be '
     'written: the folder "/proc" is not writable'),
    ('TrainingProgressReporting -> File["{d}/missing/r.csv"]',
     'NetTrain::badrepfile: The reporting file "{d}/missing/r.csv" cannot be written: its '
     'folder "{d}/missing" does not exist.'),
    ('TrainingProgressCheckpointing -> {{"File", "{d}/missing/c.wxf"}}',
     'NetTrain::invchkfile: The checkpoint file "{d}/missing/c.wxf" cannot be written: its '
     'folder "{d}/missing" does not exist.'),
    ('TrainingProgressCheckpointing -> {{"Directory", "{d}/afile"}}',
     'NetTrain::invchkdir: The checkpoint directory "{d}/afile" cannot be used: "{d}/afile" '
     'is a file, not a folder.'),
    ('TrainingProgressCheckpointing -> {{"Directory", "/proc/ckpt"}}',
     'NetTrain::invchkdir: The checkpoint directory "/proc/ckpt" cannot be used: the folder '
     '"/proc" is not writable'),
])
def test_an_unwritable_place_is_one_message_before_training(files, capsys, option, line):
    if "/proc" in option and not os.path.isdir("/proc"):
        pytest.skip("no /proc here")
    d = str(files)
    base = QUIET if option.startswith("TrainingProgressReporting") else PRINT
    code, err, out = _cli(capsys, str(files / "ok.npz"), "--options",
                          base + ", " + option.replace("{d}", d).replace("{{", "{")
                          .replace("}}", "}"))
    assert code == 2
    assert len(err) == 1 and err[0].startswith(line.replace("{d}", d)), err
    assert "Starting training." not in out  # found before any training


def test_an_unwritable_output_is_refused_before_training(files, capsys):
    """``-o`` used to be checked after training, losing the result."""
    code, err, out = _cli(capsys, str(files / "ok.npz"), "--options", PRINT,
                          "-o", str(files / "afile" / "net.wxf"))
    assert code == 2 and "Starting training." not in out
    assert err == [f"wlbridge::outfile: Cannot write the result to "
                   f"'{files}/afile/net.wxf': \"{files}/afile\" is a file, not a folder."]
    code, err, _ = _cli(capsys, str(files / "ok.npz"), "-o", str(files / "net.txt"))
    assert code == 2 and err == [f"wlbridge::outext: Cannot write the result to "
                                 f"'{files}/net.txt': use .wxf, .wl, .m, .png, .svg or .pdf."]


def test_output_folders_are_still_made(files, capsys):
    code, err, _ = _cli(capsys, str(files / "ok.npz"), "--options", QUIET + ", "
                        "TrainingProgressReporting -> None", "-o", str(files / "new" / "n.wl"))
    assert code == 0 and err == []
    assert (files / "new" / "n.wl").read_text().startswith("NetChain[")


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("bad.wxf", b"garbage", "cannot be read as WXF: Invalid version b'g'."),
    ("bad.npz", b"PK\x03\x04garbage", "cannot be read as a NumPy .npz archive: File is not a "
                                      "zip file."),
    ("empty.wxf", b"", "cannot be read as WXF: "),
    ("bad.wl", b"{1 -> ", 'cannot be read as Wolfram text: Syntax::sntxi: "{" is never closed '
                          '(expected "}") at line 1, column 1'),
])
def test_a_corrupt_data_file_is_named_with_the_reason(files, capsys, name, content, reason):
    (files / name).write_bytes(content)
    code, err, _ = _cli(capsys, str(files / name), "--options", QUIET)
    assert code == 2, err
    assert len(err) == 1
    assert err[0].startswith(f"NetTrain::invtdata: the data file '{files / name}' {reason}")
    assert "internal" not in err[0]


def test_nan_data_is_one_arrdiv_line_and_exit_1(files, capsys):
    code, err, _ = _cli(capsys, str(files / "nan.npz"), "--options", QUIET)
    assert code == 1
    assert len(err) == 1 and re.match(r"NetTrain::arrdiv: training was stopped early because "
                                      r"the loss became NaN at batch \d+\. ", err[0]), err


def test_divergence_is_one_arrdiv_line_and_exit_1(files, capsys):
    code, err, _ = _cli(capsys, str(files / "ok.npz"), "--options",
                        'MaxTrainingRounds -> 3, Method -> "SGD", LearningRate -> 10^10')
    assert code == 1
    assert len(err) == 1 and err[0].startswith("NetTrain::arrdiv: training was stopped early")
    assert "LearningRate -> 10000000000.0" in err[0]


def test_a_training_notice_is_one_message_line(files, capsys):
    code, err, _ = _cli(capsys, str(files / "ok.npz"), "--options",
                        QUIET + ", LearningRateMultipliers -> {All -> 0}")
    assert code == 0
    assert err == ["NetTrain::netfrozen: all arrays of the net are frozen; the net is returned "
                   "unchanged."]


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_python_api_shows_warnings_as_one_line_and_wxf_data_warns_nothing(files):
    """The Python API's stderr: divergence is one ``NetTrain::arrdiv`` line (no file:line, no
    source line) on every call, and WXF data (read-only arrays) gives no numpy/torch warning
    at all."""
    p = _python(
        "import warnings, wlbridge\n"
        f"net = {NET!r}\n"
        f"wlbridge.net_train(net, {str(files / 'ok.wxf')!r}, options={QUIET!r})\n"
        f"wlbridge.net_train(net, {str(files / 'ok.npz')!r}, options='MaxTrainingRounds -> 3, "
        "Method -> \"SGD\", LearningRate -> 10^10')\n"
        f"wlbridge.net_train(net, {str(files / 'ok.npz')!r}, options='MaxTrainingRounds -> 3, "
        "Method -> \"SGD\", LearningRate -> 10^11')\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        f"    wlbridge.net_train(net, {str(files / 'ok.npz')!r}, options='MaxTrainingRounds -> 3,"
        " Method -> \"SGD\", LearningRate -> 10^10')\n"
        "print(sorted({type(w.message).__name__ for w in seen}))\n")
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()  # each divergent call says so, not only the first
    assert len(lines) == 2, p.stderr
    assert all(line.startswith("NetTrain::arrdiv: training was stopped") for line in lines)
    assert "LearningRate -> 10000000000.0" in lines[0]
    assert "LearningRate -> 100000000000.0" in lines[1]
    assert p.stdout.splitlines()[-1] == "['TrainingWarning']"  # still a warning to catch
