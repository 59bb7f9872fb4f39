"""Data-parallel training on torch.distributed (issue 11, item 2): gloo processes on this
machine, started by torch's launcher (the elastic agent) through `wlbridge train`.

NetTrain's multi-GPU training splits each batch over the devices; BatchSize stays the
global batch, so the run is the one-device run (reference §7.1 permutation, §9.5.2 loop).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from wolframclient.deserializers import binary_deserialize
from wolframclient.language import wl

from engine import batching
from engine.distributed import device_names, shard_bounds
from engine.errors import EngineError
from wlbridge.options import PUBLIC

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
       "WLBRIDGE_DIST_TIMEOUT": "20"}
PROP = '{"BatchLossList", "TrainedNet", "ReasonTrainingStopped", "CheckpointingFiles"}'
BPR = 29  # ceil(1797 / 64): the digits in batches of 64


def options(devices: str, rounds: int, folder: Path | None = None, extra: str = "") -> str:
    text = (f'TargetDevice -> {devices}, BatchSize -> 64, MaxTrainingRounds -> {rounds}, '
            f'RandomSeeding -> 1, TrainingProgressReporting -> None')
    if folder is not None:
        text += (f', TrainingProgressCheckpointing -> {{"Directory", "{folder}", '
                 f'"Format" -> "params"}}')
    return text + extra


def train(opts: str, out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wlbridge", "train", "examples/digits_mlp.wl",
         "examples/digits.npz", PROP, "--options", opts, "-o", str(out), *extra],
        cwd=ROOT, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(p: subprocess.Popen, out: Path, limit: float = 240) -> tuple:
    _, err = p.communicate(timeout=limit)
    assert p.returncode == 0, err
    return binary_deserialize(out.read_bytes())


def arrays(net) -> dict:
    import wlbridge

    return wlbridge.Net(net).arrays()


def assert_same_weights(a, b, tol: float = 1e-5) -> None:
    wa, wb = arrays(a), arrays(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], rtol=tol, atol=tol, err_msg=str(k))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, global batch 64, 2 rounds and 12 rounds (the fault tests' length)."""
    folder = tmp_path_factory.mktemp("one")
    runs = {r: train(options('"CPU"', r, folder / f"ck{r}"), folder / f"{r}.wxf")
            for r in (2, 12)}
    return {r: finished(p, folder / f"{r}.wxf") for r, p in runs.items()}


# -- the pieces -----------------------------------------------------------------------------


def test_target_device_forms():
    """{"CPU", n}, {"GPU", All}, {"GPU", {i, j}} name several devices; the one-device
    forms keep their names; bad lists are refused naming the option."""
    n = PUBLIC["TargetDevice"].normalise
    assert n(("CPU", 2)) == "cpu*2" and n(("CPU", 1)) == "cpu"
    assert n(("GPU", wl.All)) == "cuda:all"
    assert n(("GPU", (1, 2))) == "cuda:0,1" and n(("GPU", (2,))) == "cuda:1"
    assert n(("GPU", 2)) == "cuda:1" and n("GPU") == "cuda:0"
    assert device_names("cpu*3") == ["cpu"] * 3 and device_names("cpu") is None
    for bad in (("GPU", (1, 1)), ("GPU", (0, 1)), ("CPU", 0), ("CPU", wl.All)):
        with pytest.raises(EngineError, match="invtrgdev"):
            n(bad)


@pytest.mark.parametrize("world", [2, 3, 5])
def test_each_example_once_per_round_across_processes(world):
    """The shards of every row of the §7.1 permutation (bucketed here) are disjoint and
    together the whole row, so a round shows each example once across the processes; a
    shard is a contiguous slice of the length-sorted row (similar lengths)."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=(300, 1))
    perm = batching.make_permutation(lengths, 64, 8, rng)
    seen = []
    for r in range(world):
        lo, hi = shard_bounds(64, world, r)
        assert hi - lo in (64 // world, 64 // world + 1)
        seen.append(perm[:, lo:hi])
    together = np.concatenate(seen, axis=1)
    assert (together == perm).all()
    counts = np.bincount(together.reshape(-1), minlength=300)
    assert set(np.unique(perm)) == set(range(300)) and counts.sum() == perm.size


def test_several_devices_outside_a_launcher_are_refused():
    """The engine alone does not start processes: a clear message names the way to."""
    import torch

    from engine.loop import train as engine_train
    from engine.spec import Dataset, TrainConfig

    data = Dataset({"Input": np.zeros((8, 2), np.float32), "Output": np.zeros(8)})
    with pytest.raises(EngineError, match="ddpnolaunch.*wlbridge train.*torchrun"):
        engine_train(torch.nn.Linear(2, 1), data, TrainConfig(target_device="cpu*2"))


# -- through torch's launcher -----------------------------------------------------------------


def test_two_processes_equal_one_with_the_global_batch(reference, tmp_path):
    """{"CPU", 2} with BatchSize -> 64 gives the one-process run's per-batch losses and
    final weights (float tolerance); the checkpoints and the result are written once, by
    rank 0, with the same names as the one-process run's."""
    out = tmp_path / "two.wxf"
    losses, net, reason, files = finished(
        train(options('{"CPU", 2}', 2, tmp_path / "ck"), out), out)
    ref_losses, ref_net, _, ref_files = reference[2]
    assert reason == "MaxTrainingRounds" and len(losses) == 2 * BPR
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5, atol=1e-6)
    assert_same_weights(net, ref_net)
    written = sorted(f.name for f in (tmp_path / "ck").iterdir())
    assert len(files) == len(ref_files) == 2
    assert written == sorted([Path(f).name for f in files] +
                             [Path(f).name + ".state" for f in files])


def test_uneven_shares_still_give_the_global_mean(reference, tmp_path):
    """Three processes share 64 as 22 + 21 + 21: each loss is weighted by its share, so the
    gradient and the reported loss are still those of the 64-example mean."""
    out = tmp_path / "three.wxf"
    losses, net, _, _ = finished(train(options('{"CPU", 3}', 2), out), out)
    np.testing.assert_allclose(losses, reference[2][0], rtol=1e-5, atol=1e-6)
    assert_same_weights(net, reference[2][1])


def _worker(launcher: subprocess.Popen, rank: int, limit: float = 120):
    import psutil

    end = time.time() + limit
    while time.time() < end:
        for child in psutil.Process(launcher.pid).children(recursive=True):
            try:
                if child.environ().get("RANK") == str(rank):
                    return child
            except psutil.Error:
                continue
        time.sleep(0.1)
    raise AssertionError(f"no worker of rank {rank} appeared")


def _first_state(folder: Path, limit: float = 120) -> None:
    end = time.time() + limit
    while time.time() < end:
        if folder.is_dir() and any(f.name.endswith(".state") for f in folder.iterdir()):
            return
        time.sleep(0.05)
    raise AssertionError("no checkpoint was written")


def test_a_killed_process_ends_the_run_and_a_relaunch_resumes(reference, tmp_path):
    """kill -9 of rank 1 mid-run: the launcher stops the other process and the command
    ends within seconds with one NetTrain-style line; `--resume` with the newest checkpoint
    then finishes the run with the uninterrupted losses and weights."""
    folder = tmp_path / "ck"
    opts = options('{"CPU", 2}', 12, folder)
    run = train(opts, tmp_path / "a.wxf")
    victim = _worker(run, 1)
    _first_state(folder)
    victim.kill()
    killed_at = time.time()
    _, err = run.communicate(timeout=60)
    assert time.time() - killed_at < 20
    assert run.returncode != 0 and not (tmp_path / "a.wxf").exists()
    line = [ln for ln in err.splitlines() if "ddpfail" in ln]
    assert line and "rank 1" in line[-1] and "SIGKILL" in line[-1], err
    newest = max((f for f in folder.iterdir() if f.suffix == ".pt"),
                 key=lambda f: f.stat().st_mtime)
    out = tmp_path / "b.wxf"
    losses, net, reason, _ = finished(train(opts, out, "--resume", str(newest)), out)
    assert reason == "MaxTrainingRounds" and len(losses) == 12 * BPR
    np.testing.assert_allclose(losses, reference[12][0], rtol=1e-4, atol=1e-5)
    assert_same_weights(net, reference[12][1], 1e-4)


@pytest.mark.slow
def test_the_launcher_restarts_from_the_checkpoint(reference, tmp_path):
    """With restarts allowed (WLBRIDGE_MAX_RESTARTS, torchrun --max-restarts), the elastic
    agent restarts both processes after a kill and they continue from the newest
    checkpoint's training state: the finished run is the uninterrupted one."""
    folder = tmp_path / "ck"
    run = train(options('{"CPU", 2}', 12, folder), tmp_path / "a.wxf",
                env={**ENV, "WLBRIDGE_MAX_RESTARTS": "1"})
    victim = _worker(run, 1)
    _first_state(folder)
    victim.kill()
    losses, net, reason, _ = finished(run, tmp_path / "a.wxf")
    assert reason == "MaxTrainingRounds" and len(losses) == 12 * BPR
    np.testing.assert_allclose(losses, reference[12][0], rtol=1e-4, atol=1e-5)
    assert_same_weights(net, reference[12][1], 1e-4)
