"""TrainingProgressCheckpointing (reference §9.9, §9.6, §9.5.2, §3.9, §3.10): files written
during training that read back as the net at that point."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
from wolframclient.deserializers import binary_deserialize

import wlbridge
from engine.checkpoint import loss_token
from engine.errors import EngineError
from engine.loop import train
from engine.spec import Dataset, Interval, TrainConfig

NET = ('NetChain[{LinearLayer[2], SoftmaxLayer[]}, "Input" -> 3, '
       '"Output" -> NetDecoder[{"Class", {0, 1}}]]')
QUIET = "TrainingProgressReporting -> None, RandomSeeding -> 7, BatchSize -> 10"
# <ISO start time>_<counter>_<round>_<absBatch>_<roundLoss>[_<validationLoss>].<ext>
LOSS = r"(-?\d\.\d\de-?\d+|none)"
NAME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d[:-]\d\d[:-]\d\d_(\d+)_(\d+)_(\d+)_" + LOSS
                  + r"(?:_" + LOSS + r")?\.(wl|wxf|pt)$")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    return {"Input": x, "Output": (x[:, 0] > 0).astype(int)}


def run(data, opts: str, prop="All", **kw):
    return wlbridge.net_train(NET, data, prop, options=f"{QUIET}, {opts}", **kw)


def nets_in(folder) -> list[str]:
    """The checkpoint files in ``folder``, after checking that each has its training state
    beside it (engine.resume) and that nothing else is there (no ".part" left behind)."""
    names = sorted(os.listdir(folder))
    nets = [n for n in names if not n.endswith(".state")]
    assert names == sorted(nets + [n + ".state" for n in nets])
    return nets


def weights_of(expr) -> np.ndarray:
    """The first LinearLayer's weights of a NetChain expression, as numpy."""
    return wlbridge.Net(expr).arrays()[("1", "Weights")]


def test_file_wl_is_the_trained_net(data, tmp_path):
    """§9.9 {"File", path}: one file, overwritten each round; after the last round it is the
    final net, and `parse` -> `Net` evaluates exactly as the trained net does."""
    path = tmp_path / "net.wl"
    res = run(data, f'MaxTrainingRounds -> 3, TrainingProgressCheckpointing -> '
                    f'{{"File", "{path}"}}')
    assert res["CheckpointingFiles"] == (str(path),) * 3
    assert nets_in(tmp_path) == ["net.wl"]  # no ".part" left behind
    saved = wlbridge.Net(wlbridge.parse(path.read_text()))
    trained = res["TrainedNet"]
    x = data["Input"]
    assert saved(x) == trained(x)
    np.testing.assert_array_equal(saved.arrays()[("1", "Weights")],
                                  trained.arrays()[("1", "Weights")])


def test_directory_wxf_names_and_contents(data, tmp_path):
    """§9.9 {"Directory", dir}: a new file per round named by the pattern; each WXF file
    holds the net as TrainingProgressFunction saw it at that round (checkpoint runs before
    TPF in the §9.5.2 step-8 order, with the same weights)."""
    seen = []
    res = run(data, f'MaxTrainingRounds -> 3, ValidationSet -> Scaled[0.25], '
                    f'TrainingProgressCheckpointing -> {{"Directory", "{tmp_path}", '
                    f'"Format" -> "wxf"}}',
              TrainingProgressFunction=lambda a: seen.append(
                  (a["Weights"][("1", "Weights")], a["RoundLoss"], a["ValidationLoss"])))
    files = res["CheckpointingFiles"]
    assert len(files) == 3 and nets_in(tmp_path) == sorted(map(os.path.basename, files))
    for k, f in enumerate(files):
        m = NAME.match(os.path.basename(f))
        assert m, f
        counter, rnd, batch, rloss, vloss, ext = m.groups()
        assert (int(counter), int(rnd), int(batch), ext) == (k + 1, k + 1, 3 * (k + 1), "wxf")
        assert rloss == loss_token(seen[k][1]) and vloss == loss_token(seen[k][2])
        with open(f, "rb") as fh:
            expr = binary_deserialize(fh.read())
        np.testing.assert_array_equal(weights_of(expr), seen[k][0])


def test_batches_interval_and_final_checkpoint(data, tmp_path):
    """§9.6: "Interval" -> Quantity[n, "Batches"]; §9.5.2: one more at the end unless the
    spec just ran at the last batch. 4 batches per round, 2 rounds = batches 1..8."""
    every2 = tmp_path / "a"
    every3 = tmp_path / "b"
    res = run(data, f'MaxTrainingRounds -> 2, TrainingProgressCheckpointing -> {{'
                    f'{{"Directory", "{every2}", "Interval" -> Quantity[2, "Batches"], '
                    f'"Format" -> "wl"}}, {{"Directory", "{every3}", '
                    f'"Interval" -> Quantity[3, "Batches"], "Format" -> "wl"}}}}',
              BatchSize=8)
    assert res["BatchesPerRound"] == 5
    batches = [int(NAME.match(os.path.basename(f)).group(3)) for f in res["CheckpointingFiles"]]
    a = [b for f, b in zip(res["CheckpointingFiles"], batches, strict=True) if "/a/" in f]
    b = [b for f, b in zip(res["CheckpointingFiles"], batches, strict=True) if "/b/" in f]
    assert a == [2, 4, 6, 8, 10]  # ran at the last batch: no extra one
    assert b == [3, 6, 9, 10]  # the final checkpoint after the loop
    assert len(nets_in(every2)) == 5 and len(nets_in(every3)) == 4


def test_skip_checkpoint_and_events(data, tmp_path):
    """§9.6: a "CheckpointStarted" callback returning "SkipCheckpoint" skips that one; the
    "CheckpointComplete" event follows each file written."""
    calls = {"started": 0, "complete": []}

    def started(a):
        calls["started"] += 1
        return "SkipCheckpoint" if calls["started"] % 2 == 0 else None

    def complete(a):
        calls["complete"].append(a["CheckpointingFiles"][-1])

    res = run(data, f'MaxTrainingRounds -> 4, TrainingProgressCheckpointing -> '
                    f'{{"Directory", "{tmp_path}", "Format" -> "wl"}}',
              TrainingProgressFunction=[(started, wlbridge.parse('"Event" -> '
                                                                 '"CheckpointStarted"')),
                                        (complete, wlbridge.parse('"Event" -> '
                                                                  '"CheckpointComplete"'))])
    rounds = [int(NAME.match(os.path.basename(f)).group(2)) for f in res["CheckpointingFiles"]]
    assert calls["started"] == 4 and rounds == [1, 3]
    assert tuple(calls["complete"]) == res["CheckpointingFiles"]
    assert len(nets_in(tmp_path)) == 2


def test_manual_stop_skips_the_final_checkpoint(data, tmp_path):
    """§9.12: after "StopTraining" no final checkpoint is written."""
    res = run(data, f'MaxTrainingRounds -> 5, TrainingProgressCheckpointing -> '
                    f'{{"Directory", "{tmp_path}", "Interval" -> 2, "Format" -> "wl"}}',
              TrainingProgressFunction=lambda a: "StopTraining" if a["Round"] == 3 else None)
    assert res["ReasonTrainingStopped"] == "ManualStop"
    rounds = [int(NAME.match(os.path.basename(f)).group(2)) for f in res["CheckpointingFiles"]]
    assert rounds == [2]


@pytest.mark.parametrize("ext", [".pt", ".params"])
def test_params_file_is_a_torch_state_dict(data, tmp_path, ext):
    """"params": the arrays by Wolfram path, readable with torch.load."""
    path = tmp_path / f"w{ext}"
    net = run(data, f'MaxTrainingRounds -> 2, TrainingProgressCheckpointing -> '
                    f'{{"File", "{path}"}}', prop="TrainedNet")
    state = torch.load(path)
    assert set(state) == {"1/Weights", "1/Biases"}
    np.testing.assert_array_equal(state["1/Weights"].numpy(), net.arrays()[("1", "Weights")])


def test_engine_alone_markers_and_trainer_entries(tmp_path):
    """The engine without wlbridge writes "params" itself; CoreLoop logs
    CheckpointStarted/CheckpointComplete (§3.9) and Trainer logs {"TrainerSaveCheckpoint",
    file} (§3.10)."""
    log: list = []
    listeners = {"CoreLoop": lambda t, b, v: log.append(v),
                 "Trainer": lambda t, b, v: log.append(v)}
    module = torch.nn.Linear(2, 1)

    class Reg(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = module

        def forward(self, inputs, lengths=None):
            return {"Loss": (self.lin(inputs["Input"])[:, 0] - inputs["Target"]) ** 2}

    rng = np.random.default_rng(0)
    ds = Dataset({"Input": rng.normal(size=(8, 2)).astype(np.float32),
                  "Target": rng.normal(size=8).astype(np.float32)})
    spec = [{"kind": "Directory", "path": str(tmp_path), "format": "params",
             "interval": Interval(rounds=1)}]
    r = train(Reg(), ds, TrainConfig(batch_size=4, max_training_rounds=2,
                                     training_progress_checkpointing=spec,
                                     training_progress_measurements=(),
                                     listeners=listeners))
    assert len(r.checkpoint_files) == 2
    saves = [v for v in log if isinstance(v, tuple) and v[0] == "TrainerSaveCheckpoint"]
    assert [s[1] for s in saves] == r.checkpoint_files
    assert log.count("CheckpointStarted") == log.count("CheckpointComplete") == 2
    i = log.index("CheckpointStarted")
    assert log[i + 1][0] == "TrainerSaveCheckpoint" and log[i + 2] == "CheckpointComplete"
    state = torch.load(r.checkpoint_files[-1])
    assert set(state) == {"lin.weight", "lin.bias"}


def test_bad_extension_and_places_are_refused(data, tmp_path):
    """§9.13 invchkext names the file and the extensions this engine writes; a file in a
    missing folder (invchkfile) and a directory that is a file (invchkdir) fail before
    training."""
    with pytest.raises(wlbridge.messages.WLMessage, match=r"invchkext.*net\.h5.*\.wl, \.wxf"):
        run(data, 'TrainingProgressCheckpointing -> {"File", "net.h5"}')
    with pytest.raises(wlbridge.messages.WLMessage, match=r"invchkspec.*\"Format\""):
        run(data, f'TrainingProgressCheckpointing -> {{"Directory", "{tmp_path}", '
                  f'"Format" -> "mx"}}')
    with pytest.raises(EngineError, match="invchkfile"):
        run(data, f'TrainingProgressCheckpointing -> {{"File", "{tmp_path}/no/net.wl"}}')
    (tmp_path / "f").write_text("")
    with pytest.raises(EngineError, match="invchkdir"):
        run(data, f'TrainingProgressCheckpointing -> {{"Directory", "{tmp_path}/f"}}')


def test_loss_token():
    """§9.9's loss form in names: 3 significant digits, bare exponent, "none" if absent."""
    assert loss_token(0.0379) == "3.79e-2"
    assert loss_token(1.234) == "1.23e0"
    assert loss_token(9.999) == "1.00e1"
    assert loss_token(None) == "none"


def test_real16_checkpoint_holds_the_float32_masters(data, tmp_path):
    """Under "Real16" the optimizer steps float32 master weights (reference §8.2); the
    checkpoint is the net written from those masters, exactly the TrainedNet's arrays, not
    their float16 roundings."""
    path = tmp_path / "net.wl"
    res = run(data, f'MaxTrainingRounds -> 2, WorkingPrecision -> "Real16", '
                    f'TrainingProgressCheckpointing -> {{"File", "{path}"}}')
    saved = wlbridge.Net(wlbridge.parse(path.read_text())).arrays()[("1", "Weights")]
    trained = res["TrainedNet"].arrays()[("1", "Weights")]
    np.testing.assert_array_equal(saved, trained)
    assert not np.array_equal(saved, saved.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("unnamed", [True, False])
def test_atomic_write_is_whole_or_nothing(tmp_path, monkeypatch, unnamed):
    """`atomic_write` (every checkpoint and training state): a new file and a replaced one
    appear only whole; a writer that fails half way leaves the old file and no other name,
    through unnamed files (Linux O_TMPFILE) and through the ".part" rename elsewhere."""
    import engine.checkpoint as ck

    if not unnamed:
        monkeypatch.setattr(ck, "_unnamed_file", lambda folder: None)
    path = str(tmp_path / "net.wxf")

    def write(text):
        def w(target):
            with open(target, "w") as f:
                f.write(text)
        return w

    ck.atomic_write(path, write("first"))
    ck.atomic_write(path, write("second"))
    assert os.listdir(tmp_path) == ["net.wxf"] and open(path).read() == "second"

    def broken(target):
        with open(target, "w") as f:
            f.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        ck.atomic_write(path, broken)
    with pytest.raises(OSError):
        ck.atomic_write(str(tmp_path / "new.wxf"), broken)
    assert os.listdir(tmp_path) == ["net.wxf"] and open(path).read() == "second"
