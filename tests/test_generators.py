"""Generator data trained for real (reference §9.2: ``f`` is called per batch with the live
association, "Round", "Batch", "AbsoluteBatch" those of the batch being made, plus
"BatchSize"; ``{f, "RoundLength" -> n}`` has ``ceil(n / bs)`` batches a round, one without;
NeuralNetworks' training-data parsing file: the batch must hold exactly BatchSize examples,
``NetTrain::invgenout`` otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wlbridge
from engine.errors import EngineError

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"TrainingProgressReporting": None, "RandomSeeding": 1}


def line_batch(n: int, seed: int, slope: float = 4.0) -> list[tuple[float, float]]:
    x = np.random.default_rng(seed).uniform(-1, 1, size=n)
    return [(float(a), slope * float(a) - 1.0) for a in x]


def test_calls_are_one_per_batch_with_round_batch_and_absolute_batch():
    seen = []

    def gen(info):
        seen.append((info["Round"], info["Batch"], info["AbsoluteBatch"], info["BatchSize"]))
        return line_batch(info["BatchSize"], info["AbsoluteBatch"])

    res = wlbridge.net_train("LinearLayer[]", (gen, {"RoundLength": 20}), "All",
                             BatchSize=8, MaxTrainingRounds=4, **QUIET)
    assert seen == [(r, b, 3 * (r - 1) + b, 8) for r in (1, 2, 3, 4) for b in (1, 2, 3)]
    assert res["BatchesPerRound"] == 3  # ceil(20 / 8)
    assert res["TotalBatches"] == 12 == len(seen)
    assert res["TrainingExamples"] == 24  # the round rounded up to whole batches


def test_without_round_length_a_round_is_one_batch():
    rounds = []

    def gen(info):
        rounds.append(info["Round"])
        return line_batch(info["BatchSize"], info["Round"])

    res = wlbridge.net_train("LinearLayer[]", gen, "All", BatchSize=16, MaxTrainingRounds=5,
                             **QUIET)
    assert rounds == [1, 2, 3, 4, 5]
    assert (res["BatchesPerRound"], res["TotalBatches"], res["TotalRounds"]) == (1, 5, 5)
    assert res["BatchSize"] == 16 and res["TrainingExamples"] == 16


def test_rounds_see_new_data():
    """The target changes after round 150: the net can only end near slope 3 if the later
    rounds' batches are really the new ones (reused round-1 data would leave slope 1)."""

    def gen(info):
        slope = 1.0 if info["Round"] <= 150 else 3.0
        return {"Input": [[v] for v in np.linspace(-1, 1, info["BatchSize"])],
                "Output": [[slope * v] for v in np.linspace(-1, 1, info["BatchSize"])]}

    res = wlbridge.net_train("LinearLayer[1]", gen, "All", BatchSize=16,
                             MaxTrainingRounds=400, LearningRate=0.05, **QUIET)
    net = res["TrainedNet"]
    assert np.asarray(net([1.0])).item() == pytest.approx(3.0, abs=0.1)
    # and the loss went up when the data changed: round 151 is a new problem
    losses = res["RoundLossList"]
    assert losses[150] > 10 * losses[149]


def test_the_association_carries_the_live_progress_keys():
    """Beyond the four batch keys, the §9.11 keys are read from the live run: while batch k
    is made (prefetched) batch k-1 trains, so k-2 batch losses are known."""
    got = []

    def gen(info):
        if info["AbsoluteBatch"] >= 2:
            got.append((info["AbsoluteBatch"], len(info["BatchLossList"]),
                        info["BatchesPerRound"], info["TotalBatches"]))
        return line_batch(info["BatchSize"], info["AbsoluteBatch"])

    wlbridge.net_train("LinearLayer[]", (gen, {"RoundLength": 16}), BatchSize=8,
                       MaxTrainingRounds=3, **QUIET)
    assert got == [(k, k - 2, 2, 6) for k in range(2, 7)]


def test_a_bad_batch_is_one_message_naming_it():
    def sized(info):  # batch 5 is short
        n = info["BatchSize"] - (3 if info["AbsoluteBatch"] == 5 else 0)
        return line_batch(n, info["AbsoluteBatch"])

    with pytest.raises(EngineError) as err:
        wlbridge.net_train("LinearLayer[]", (sized, {"RoundLength": 16}), BatchSize=8,
                           MaxTrainingRounds=5, **QUIET)
    assert str(err.value) == ("NetTrain::invgenout: the output of the generator for batch 5 "
                              "(round 3) was incorrect: the generator returned 5 examples, not "
                              "the requested BatchSize of 8.")

    def reshaped(info):  # batch 4's inputs are pairs, not numbers
        xs = np.zeros((info["BatchSize"], 2 if info["AbsoluteBatch"] == 4 else 1))
        return {"Input": xs, "Output": np.zeros((info["BatchSize"], 1))}

    with pytest.raises(EngineError, match=r"^NetTrain::invtdata: example 1 of port 'Input' in "
                                          r"the output of the generator for batch 4 \(round 4\) "
                                          r"has dimensions \[2\], but the port expects \[1\]\.$"):
        wlbridge.net_train("LinearLayer[1]", reshaped, BatchSize=4, MaxTrainingRounds=6,
                           **QUIET)

    def failing(info):
        if info["AbsoluteBatch"] == 3:
            raise ValueError("no more data")
        return line_batch(info["BatchSize"], 0)

    with pytest.raises(EngineError, match=r"^NetTrain::invgenout: the generator failed on "
                                          r"batch 3 \(round 3\): ValueError: no more data\.$"):
        wlbridge.net_train("LinearLayer[]", failing, BatchSize=4, MaxTrainingRounds=6, **QUIET)

    with pytest.raises(EngineError, match=r"batch 1 \(round 1\) was incorrect: the generator "
                                          r"returned 3 examples, not the requested BatchSize "
                                          r"of 4"):
        wlbridge.net_train("LinearLayer[]", lambda info: line_batch(3, 0), BatchSize=4,
                           **QUIET)


def test_per_batch_encoding_of_generated_strings_and_labels():
    """Characters-encoded strings and Class labels made per batch: encoded in "gen" the way
    the per-batch path encodes, sequences padded per batch; the classifier learns."""
    def gen(info):
        rng = np.random.default_rng(info["AbsoluteBatch"])
        words = ["".join(rng.choice(list("abc"), rng.integers(3, 8)))
                 for _ in range(info["BatchSize"])]
        return [(w, "yes" if "cc" in w else "no") for w in words]

    res = wlbridge.net_train(
        'NetChain[{EmbeddingLayer[8], LongShortTermMemoryLayer[16], SequenceLastLayer[], '
        'LinearLayer[2], SoftmaxLayer[]}, "Input" -> NetEncoder[{"Characters", "abc"}], '
        '"Output" -> NetDecoder[{"Class", {"no", "yes"}}]]',
        (gen, {"RoundLength": 64}), "All", MaxTrainingRounds=40, BatchSize=16,
        LearningRate=0.02, **QUIET)
    test = [w for w, _ in gen({"AbsoluteBatch": 10**6, "BatchSize": 200})]
    truth = np.array(["yes" if "cc" in w else "no" for w in test])
    assert np.mean(np.array(res["TrainedNet"](test)) == truth) > 0.8


def test_the_generator_time_is_the_gen_phase():
    """§4.3: "gen" times making the next batch; a generator taking 30 ms a call shows there
    (batch 1 is made before training, so every timed batch includes a call)."""
    import time

    def slow(info):
        time.sleep(0.03)
        return line_batch(info["BatchSize"], info["AbsoluteBatch"])

    res = wlbridge.net_train("LinearLayer[]", slow, "All", BatchSize=4,
                             MaxTrainingRounds=4, **QUIET)
    timings = res["$Timings"]
    assert timings["Generator"]["Min"] >= 0.03
    assert timings["Executor"]["Max"] < 0.03


def test_validation_from_a_generator_is_made_each_pass():
    calls = []

    def val(info):
        calls.append((info["Round"], info["Batch"]))
        return line_batch(info["BatchSize"], 99 + info["Batch"])

    res = wlbridge.net_train("LinearLayer[]", (lambda i: line_batch(8, i["AbsoluteBatch"])),
                             "All", BatchSize=8, MaxTrainingRounds=3, LearningRate=0.05,
                             ValidationSet=(val, {"RoundLength": 20}), **QUIET)
    # batch 1 of the first pass is made at setup, to check the generator before training
    assert calls == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)]
    assert len(res["ValidationLossList"]) == 3
    assert res["ValidationExamples"] == 24
    with pytest.raises(EngineError, match=r"^NetTrain::invvsfrac: ValidationSet -> "
                                          r"Scaled\[0\.25\] takes batches of the training"):
        wlbridge.net_train("LinearLayer[]", lambda i: line_batch(8, 0), BatchSize=8,
                           ValidationSet=wlbridge.parse("Scaled[0.25]"), **QUIET)


def test_example_losses_are_not_available_for_a_generator():
    res = wlbridge.net_train("LinearLayer[]", lambda i: line_batch(8, 0), "All", BatchSize=8,
                             MaxTrainingRounds=2, **QUIET)
    with pytest.raises(EngineError, match="NetTrain::noexloss"):
        res["ExampleLosses"]


def test_module_path_generator_from_the_command_line(tmp_path):
    """``wlbridge train NET pkg.mod:function``: the function is called per batch, rounds
    1, 2, 3; a bad batch stops with the one message and no traceback."""
    (tmp_path / "gens.py").write_text(
        "import os\n"
        "def lines(info):\n"
        "    with open(os.environ['GEN_LOG'], 'a') as f:\n"
        "        f.write(f\"{info['Round']} {info['AbsoluteBatch']}\\n\")\n"
        "    n = info['BatchSize']\n"
        "    return [(i / n, 2 * i / n) for i in range(n)]\n"
        "def short(info):\n"
        "    return [(0.0, 0.0)] * (info['BatchSize'] - (info['AbsoluteBatch'] == 2))\n")
    log = tmp_path / "calls.txt"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "OMP_NUM_THREADS": "1",
           "GEN_LOG": str(log)}
    opts = "MaxTrainingRounds -> 3, BatchSize -> 8, TrainingProgressReporting -> None"
    proc = subprocess.run([sys.executable, "-m", "wlbridge", "train", "LinearLayer[]",
                           "gens:lines", "TotalBatches", "--options", opts,
                           "-o", str(tmp_path / "n.wl")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().split("\n")[:-1] == ["1 1", "2 2", "3 3"]
    bad = subprocess.run([sys.executable, "-m", "wlbridge", "train", "LinearLayer[]",
                          "gens:short", "--options", opts], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
    assert "NetTrain::invgenout: the output of the generator for batch 2 (round 2) was " \
           "incorrect" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_engine_checks_each_generated_batch_against_batch_1():
    """engine.generated without the Wolfram side: `GeneratedData.make` returns Datasets; one
    whose columns change shape (or kind) is named, with the round."""
    import torch

    from engine.generated import GeneratedData
    from engine.loop import train
    from engine.spec import Dataset, TrainConfig

    def make(info, width=lambda k: 3):
        rng = np.random.default_rng(info["AbsoluteBatch"])
        k = info["AbsoluteBatch"]
        return Dataset({"Input": rng.normal(size=(4, width(k))).astype(np.float32),
                        "Output": rng.normal(size=(4, 1)).astype(np.float32)})

    class Reg(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 1)

        def forward(self, inputs, lengths=None):
            return {"Output": ((self.lin(inputs["Input"]) - inputs["Output"]) ** 2).mean(1)}

    first = make({"AbsoluteBatch": 1})
    seen = []

    def ok(info):
        seen.append((info["Round"], info["Batch"], info["AbsoluteBatch"]))
        return make(info)

    res = train(Reg(), GeneratedData(ok, 4, 2, first), TrainConfig(max_training_rounds=3))
    assert seen == [(1, 2, 2), (2, 1, 3), (2, 2, 4), (3, 1, 5), (3, 2, 6)]
    assert (res.batches_per_round, res.total_batches, len(res.batch_losses)) == (2, 6, 6)
    wide = GeneratedData(lambda info: make(info, lambda k: 5 if k == 4 else 3), 4, 2, first)
    with pytest.raises(EngineError, match=r"^NetTrain::invgenout: the output of the generator "
                                          r"for batch 4 \(round 2\) was incorrect: the examples "
                                          r"of port 'Input' have shape \(5, 'float'\), but "
                                          r"those of batch 1 had \(3, 'float'\)\.$"):
        train(Reg(), wide, TrainConfig(max_training_rounds=3))


def test_resume_asks_the_generator_for_the_batches_after_the_saved_one(tmp_path):
    """ResumeFrom with generated data: the resumed run's first call is the batch after the
    checkpoint's, and (the data being a function of AbsoluteBatch) the run equals the
    uninterrupted one."""
    import torch

    from engine.generated import GeneratedData
    from engine.loop import train
    from engine.spec import Callback, Dataset, Interval, TrainConfig

    def make(info):
        rng = np.random.default_rng(info["AbsoluteBatch"])
        x = rng.normal(size=(8, 2)).astype(np.float32)
        return Dataset({"Input": x, "Output": x @ np.array([[1.0], [-2.0]], np.float32)})

    def run(folder, calls, **kw):
        def gen(info):
            calls.append(info["AbsoluteBatch"])
            return make(info)

        torch.manual_seed(0)
        module = torch.nn.Linear(2, 1)

        class Reg(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = module

            def forward(self, inputs, lengths=None):
                return {"Output": ((self.lin(inputs["Input"]) - inputs["Output"]) ** 2).mean(1)}

        spec = [{"kind": "Directory", "path": str(folder), "format": "params",
                 "interval": Interval(rounds=1)}]
        return train(Reg(), GeneratedData(gen, 8, 3, make({"AbsoluteBatch": 1})),
                     TrainConfig(max_training_rounds=4, random_seed=3,
                                 training_progress_checkpointing=spec, **kw))

    whole = run(tmp_path / "w", [])
    stop = Callback(lambda info: "StopTraining" if info["Round"] == 2 else None,
                    interval=Interval(rounds=1))
    half = run(tmp_path / "h", [], training_progress_function=[stop])
    assert half.total_batches == 6
    calls: list[int] = []
    resumed = run(tmp_path / "h", calls, resume_from=half.checkpoint_files[-1])
    assert calls == [7, 8, 9, 10, 11, 12]
    assert resumed.batch_losses == whole.batch_losses
