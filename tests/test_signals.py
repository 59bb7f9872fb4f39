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


@pytest.mark.parametrize("signals", [(signal.SIGINT,),
                                     (signal.SIGTERM, signal.SIGINT, signal.SIGTERM)],
                         ids=["SIGINT", "SIGTERM-then-two-more"])
def test_signals_stop_at_the_end_of_a_batch(tmp_path, signals):
    """SIGINT (Ctrl-C) and SIGTERM (schedulers) both stop after the batch in progress: exit
    0, the result written, counts that agree exactly, and a line naming the signal. More
    signals a moment later (an impatient Ctrl-C, a runtime's SIGTERM then SIGINT) do not
    cut the result short."""
    proc, out, log = _start(tmp_path)
    for k, sig in enumerate(signals):
        if k:
            time.sleep(0.01)
        proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert _check_counts(out, log) > 0
    assert f"wlbridge::stopped: {signals[0].name} stopped training" in stderr


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


BIG_NET = ('NetChain[{LinearLayer[1500], Ramp, LinearLayer[10], SoftmaxLayer[]}, '
           '"Input" -> 64, "Output" -> NetDecoder[{"Class", Range[0, 9]}]]')


def test_kill_9_while_checkpointing_leaves_no_partial_file(tmp_path):
    """A checkpoint every batch of a net whose files take most of the batch time, killed
    with SIGKILL (nothing can be caught): no ".part" or other partial file is left, and the
    checkpoint and its training state on disk are whole and load."""
    ck = tmp_path / "ck"
    ck.mkdir()
    net = tmp_path / "net.wl"
    net.write_text(BIG_NET)
    options = ('MaxTrainingRounds -> 1000, BatchSize -> 16, RandomSeeding -> 1, '
               'TrainingProgressReporting -> None, TrainingProgressCheckpointing -> '
               f'{{"File", "{ck / "net.wxf"}", "Interval" -> Quantity[1, "Batches"]}}')
    proc = subprocess.Popen(
        [sys.executable, "-m", "wlbridge", "train", str(net), "examples/digits.npz",
         "--options", options], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    _wait_for(ck / "net.wxf", 0)
    time.sleep(0.5)
    proc.kill()
    proc.communicate(timeout=60)
    names = sorted(os.listdir(ck))
    assert names == ["net.wxf", "net.wxf.state"]
    import torch

    import wlbridge

    weights = wlbridge.Net(binary_deserialize((ck / "net.wxf").read_bytes())).arrays()
    assert weights[("1", "Weights")].shape == (1500, 64)
    state = torch.load(ck / "net.wxf.state", weights_only=True)
    assert state["abs_batch"] >= 1 and len(state["result"]["batch_losses"]) == \
        state["abs_batch"]


def test_sigterm_then_resume_equals_the_uninterrupted_run(tmp_path):
    """A scheduler's SIGTERM mid-run: the run stops at a batch's end and saves its
    checkpoint with the training state; `wlbridge train --resume` finishes it, and the
    losses and trained weights are those of the run that was never stopped, bit for bit."""
    import wlbridge

    ck = tmp_path / "net.wxf"
    base = ('MaxTrainingRounds -> 6, BatchSize -> 32, RandomSeeding -> 1, '
            'TrainingProgressReporting -> None')
    with_ck = f'{base}, TrainingProgressCheckpointing -> {{"File", "{ck}"}}'
    prop = '{"BatchLossList", "TrainedNet", "ReasonTrainingStopped"}'

    def train(options: str, out: Path, *extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "wlbridge", "train", "examples/digits_mlp.wl",
             "examples/digits.npz", prop, "--options", options, "-o", str(out), *extra],
            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    whole = train(base, tmp_path / "c.wxf")  # alongside, to save wall time
    stopped = train(with_ck, tmp_path / "a.wxf")
    _wait_for(ck, 0)
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(60) == 0
    losses_a, _, reason_a = binary_deserialize((tmp_path / "a.wxf").read_bytes())
    assert reason_a == "Aborted" and 57 <= len(losses_a) < 6 * 57
    resumed = train(with_ck, tmp_path / "b.wxf", "--resume", str(ck))
    assert resumed.wait(120) == 0 and whole.wait(120) == 0, resumed.stderr.read()
    losses_b, net_b, reason_b = binary_deserialize((tmp_path / "b.wxf").read_bytes())
    losses_c, net_c, reason_c = binary_deserialize((tmp_path / "c.wxf").read_bytes())
    assert reason_b == reason_c == "MaxTrainingRounds"
    assert len(losses_c) == 6 * 57
    assert losses_b == losses_c and losses_b[:len(losses_a)] == losses_a
    wb, wc = wlbridge.Net(net_b).arrays(), wlbridge.Net(net_c).arrays()
    assert wb.keys() == wc.keys()
    for k in wb:
        assert (wb[k] == wc[k]).all(), k


def test_an_interrupt_inside_a_batch_is_not_counted():
    """A KeyboardInterrupt raised inside a batch's step (Ctrl-C where no handler of ours is
    installed, e.g. off the main thread): that batch never finished, so TotalBatches,
    ExamplesProcessed and the loss list all stop at the batch before (was 2991 vs 2990)."""
    import numpy as np
    import torch

    from engine.loop import train
    from engine.spec import Dataset, TrainConfig

    class Interrupted(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)
            self.calls = 0

        def forward(self, inputs, lengths=None):
            self.calls += 1
            if self.calls == 6:
                raise KeyboardInterrupt
            return {"Loss": (self.lin(inputs["Input"])[:, 0] - inputs["Target"]) ** 2}

    rng = np.random.default_rng(0)
    data = Dataset({"Input": rng.normal(size=(40, 2)).astype(np.float32),
                    "Target": rng.normal(size=40).astype(np.float32)})
    r = train(Interrupted(), data, TrainConfig(batch_size=4, max_training_rounds=3,
                                               training_progress_measurements=()))
    assert r.reason == "Aborted"
    assert r.total_batches == len(r.batch_losses) == r.optimizer_steps == 5
    assert r.examples_processed == 20


def _slow_third_batch(signal_delays: list[float]):
    """A regression module whose third batch takes 1.5 s; entering it, signals are sent to
    this process after each of ``signal_delays`` seconds (from a timer thread)."""
    import threading

    import torch

    class Slow(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)
            self.calls = 0

        def forward(self, inputs, lengths=None):
            self.calls += 1
            if self.calls == 3:
                for d in signal_delays:
                    threading.Timer(d, os.kill, (os.getpid(), signal.SIGINT)).start()
                for _ in range(30):
                    time.sleep(0.05)
            return {"Loss": (self.lin(inputs["Input"])[:, 0] - inputs["Target"]) ** 2}

    return Slow()


def _run_slow(delays: list[float]):
    import numpy as np

    from engine.loop import train
    from engine.spec import Dataset, TrainConfig

    rng = np.random.default_rng(0)
    data = Dataset({"Input": rng.normal(size=(40, 2)).astype(np.float32),
                    "Target": rng.normal(size=40).astype(np.float32)})
    return train(_slow_third_batch(delays), data,
                 TrainConfig(batch_size=4, max_training_rounds=3,
                             training_progress_measurements=()))


def test_second_signal_within_the_grace_lets_the_batch_finish(monkeypatch):
    """In-process (net_train's own handler): two Ctrl-C a moment apart during a slow batch;
    the batch finishes and the run stops right after it, with all three batches counted."""
    import engine.loop_signals

    monkeypatch.setattr(engine.loop_signals, "GRACE_SECONDS", 5.0)
    r = _run_slow([0.2, 0.4])
    assert r.reason == "Aborted" and r.total_batches == len(r.batch_losses) == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_a_signal_after_the_grace_aborts_a_stuck_batch(monkeypatch):
    """A batch that does not end: a signal later than the grace after the first aborts it,
    and it is not counted (the result has the two batches before it)."""
    import engine.loop_signals

    monkeypatch.setattr(engine.loop_signals, "GRACE_SECONDS", 0.3)
    r = _run_slow([0.2, 0.9])
    assert r.reason == "Aborted" and r.total_batches == len(r.batch_losses) == 2
