"""Exact resume (issue 12 item 7): a TrainingProgressCheckpointing file carries the whole
training state, and "ResumeFrom" continues from it so that 2 + 2 rounds are 4 rounds, bit
for bit, on the CPU."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

import wlbridge
from engine.errors import EngineError
from engine.loop import train
from engine.spec import Callback, Dataset, Interval, MethodSpec, TrainConfig


class Dropper(nn.Module):
    """A classifier with dropout (it draws from torch's generator every batch) and
    per-example losses and errors, targets 1-based."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3),
                                 nn.Linear(16, 3))

    def forward(self, inputs, lengths=None):
        logits = self.net(inputs["Input"])
        target = inputs["Output"] - 1
        return {"Output": nn.functional.cross_entropy(logits, target, reduction="none"),
                "$ErrorRate": (logits.argmax(-1) != target).float()}


def blobs(n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + 2 * np.eye(3, 4)[y]
    return Dataset({"Input": x, "Output": y + 1})


METHODS = {"ADAM": MethodSpec(name="ADAM", learning_rate=0.01),
           # SGD's Automatic schedule is "Polynomial" in T = the planned batches
           "SGD": MethodSpec(name="SGD", learning_rate=0.05)}


def config(folder, method: str, rounds: int = 4, every: Interval | None = None,
           **kw) -> TrainConfig:
    spec = [{"kind": "Directory", "path": str(folder), "format": "params",
             "interval": every or Interval(rounds=1)}]
    return TrainConfig(batch_size=16, max_training_rounds=rounds, random_seed=11,
                       method=METHODS[method], validation_set=blobs(30, 2),
                       training_progress_checkpointing=spec, **kw)


def assert_same_run(a, b):
    """Losses, measurements, validation, the best net and the final weights, bit for bit."""
    assert b.batch_losses == a.batch_losses
    assert b.round_losses == a.round_losses and b.round_measurements == a.round_measurements
    assert b.validation_losses == a.validation_losses
    assert b.batch_measurements == a.batch_measurements
    assert b.best_validation_round == a.best_validation_round
    assert (b.total_batches, b.total_rounds, b.optimizer_steps, b.reason) == \
        (a.total_batches, a.total_rounds, a.optimizer_steps, a.reason)
    assert b.final_learning_rate == a.final_learning_rate
    for k, v in a.final_state.items():
        assert torch.equal(b.final_state[k], v), k
    for k, v in a.module.state_dict().items():  # the TrainedNet: the best validation net
        assert torch.equal(b.module.state_dict()[k], v), k


@pytest.mark.parametrize("method", ["ADAM", "SGD"])
def test_two_plus_two_rounds_are_four_rounds(tmp_path, method):
    """A run planned for 4 rounds that stops after 2 (here a callback's StopTraining, as a
    signal would), resumed with the same options, gives exactly the uninterrupted run:
    optimizer moments, the schedule's position, the reshuffled batch order, dropout's
    generator and the best-net bookkeeping all carry over."""
    whole = train(Dropper(), blobs(100, 1), config(tmp_path / "whole", method))
    stop = Callback(lambda info: "StopTraining" if info["Round"] == 2 else None,
                    interval=Interval(rounds=1))
    half = train(Dropper(), blobs(100, 1), config(tmp_path / "half", method,
                                                 training_progress_function=[stop]))
    assert half.reason == "ManualStop" and half.total_rounds == 2
    assert half.batch_losses == whole.batch_losses[:len(half.batch_losses)]
    resumed = train(Dropper(), blobs(100, 1),
                    config(tmp_path / "half", method, resume_from=half.checkpoint_files[-1]))
    assert_same_run(whole, resumed)
    assert resumed.checkpoint_files[:2] == half.checkpoint_files
    # the names go on counting: <start>_<counter>_<round>_<batch>_<losses>.pt
    assert [os.path.basename(f).split("_", 1)[1] for f in resumed.checkpoint_files] == \
        [os.path.basename(f).split("_", 1)[1] for f in whole.checkpoint_files]


@pytest.mark.parametrize("precision", ["Real32", "Real16"])
def test_resume_in_the_middle_of_a_round(tmp_path, precision):
    """A checkpoint every 5 batches (7 batches a round): resuming from the one at batch 10,
    the middle of round 2, continues the round's order and its loss list exactly; Real16
    carries its float32 masters."""
    kw = {"working_precision": precision}
    whole = train(Dropper(), blobs(100, 1), config(tmp_path / "w", "ADAM", rounds=3, **kw))
    part = train(Dropper(), blobs(100, 1),
                 config(tmp_path / "p", "ADAM", rounds=3, every=Interval(batches=5), **kw))
    assert part.batches_per_round == 7
    tenth = next(f for f in part.checkpoint_files if "_2_10_" in os.path.basename(f))
    resumed = train(Dropper(), blobs(100, 1),
                    config(tmp_path / "r", "ADAM", rounds=3, resume_from=tenth, **kw))
    assert_same_run(whole, resumed)


def test_resume_through_net_train_options(tmp_path):
    """"InternalOptions" -> {"ResumeFrom" -> File[...]} in Wolfram syntax: a 1-round run's
    final checkpoint continued to 3 rounds equals 3 rounds (ADAM has no schedule in T)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    data = {"Input": x, "Output": (x[:, 0] > 0).astype(int)}
    net = ('NetChain[{LinearLayer[8], Tanh, LinearLayer[2], SoftmaxLayer[]}, "Input" -> 3, '
           '"Output" -> NetDecoder[{"Class", {0, 1}}]]')
    opts = 'TrainingProgressReporting -> None, RandomSeeding -> 5, BatchSize -> 8'
    ck = tmp_path / "net.wxf"
    whole = wlbridge.net_train(net, data, "All", options=f"{opts}, MaxTrainingRounds -> 3")
    wlbridge.net_train(net, data, "All", options=f'{opts}, MaxTrainingRounds -> 1, '
                       f'TrainingProgressCheckpointing -> {{"File", "{ck}"}}')
    rest = wlbridge.net_train(net, data, "All", options=f'{opts}, MaxTrainingRounds -> 3, '
                              f'"InternalOptions" -> {{"ResumeFrom" -> File["{ck}"]}}')
    assert rest["BatchLossList"] == whole["BatchLossList"]
    assert rest["TotalBatches"] == whole["TotalBatches"] == 24
    np.testing.assert_array_equal(rest["TrainedNet"].arrays()[("1", "Weights")],
                                  whole["TrainedNet"].arrays()[("1", "Weights")])


def test_resume_refuses_what_does_not_fit(tmp_path):
    """invresume names the file when there is no state beside it, and says what differs
    when the state was written with another batch size or method."""
    with pytest.raises(EngineError, match=r"invresume.*nothing\.pt.*does not exist"):
        train(Dropper(), blobs(100, 1), config(tmp_path, "ADAM",
                                               resume_from=str(tmp_path / "nothing.pt")))
    r = train(Dropper(), blobs(100, 1), config(tmp_path / "a", "ADAM", rounds=1))
    state = r.checkpoint_files[-1] + ".state"
    with pytest.raises(EngineError, match=r"invresume.*BatchSize -> 16.*BatchSize -> 8"):
        cfg = config(tmp_path, "ADAM", resume_from=state)
        cfg.batch_size = 8
        train(Dropper(), blobs(100, 1), cfg)
    with pytest.raises(EngineError, match=r"invresume.*\"ADAM\".*\"SGD\""):
        train(Dropper(), blobs(100, 1), config(tmp_path, "SGD", resume_from=state))
    (tmp_path / "junk.state").write_bytes(b"not a state")
    with pytest.raises(EngineError, match=r"invresume.*junk\.state.*not a readable"):
        train(Dropper(), blobs(100, 1), config(tmp_path, "ADAM",
                                               resume_from=str(tmp_path / "junk.state")))


CHAR_NET = ('NetChain[{EmbeddingLayer[6], LongShortTermMemoryLayer[8], SequenceLastLayer[], '
            'LinearLayer[2], SoftmaxLayer[]}, "Input" -> NetEncoder[{"Characters", "abcz"}], '
            '"Output" -> NetDecoder[{"Class", {"no", "yes"}}]]')


def test_resume_with_sequence_buckets(tmp_path):
    """Variable-length sequences (§7: the bucketed permutation, batches padded per bucket
    in "gen"): resuming from round 1's checkpoint continues the bucket order exactly."""
    from wolframclient.language import wl

    rng = np.random.default_rng(4)
    words = ["".join(rng.choice(list("abcz"), rng.integers(2, 12))) for _ in range(48)]
    data = tuple(wl.Rule(w, "yes" if "z" in w else "no") for w in words)
    opts = 'TrainingProgressReporting -> None, RandomSeeding -> 3, BatchSize -> 8'
    whole = wlbridge.net_train(CHAR_NET, data, "BatchLossList",
                               options=f"{opts}, MaxTrainingRounds -> 3")
    ck = tmp_path / "seq.wl"
    stop = (lambda info: "StopTraining", wl.Rule("Event", "RoundComplete"))
    first = wlbridge.net_train(CHAR_NET, data, "BatchLossList", options=(
        f'{opts}, MaxTrainingRounds -> 3, TrainingProgressCheckpointing -> {{"File", '
        f'"{ck}"}}'), TrainingProgressFunction=stop)
    assert len(first) == 6  # one round of 6 batches
    rest = wlbridge.net_train(CHAR_NET, data, "BatchLossList", options=(
        f'{opts}, MaxTrainingRounds -> 3, "InternalOptions" -> {{"ResumeFrom" -> '
        f'File["{ck}"]}}'))
    assert rest == whole and len(rest) == 18
