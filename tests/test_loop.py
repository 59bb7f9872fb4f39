"""The training loop on plain torch modules (reference §8, §9.5, §9.6, §9.12)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from engine.errors import EngineError
from engine.events import Events
from engine.loop import TrainingWarning, train
from engine.spec import Callback, Dataset, Interval, MethodSpec, StoppingCriterion, TrainConfig


class Classifier(nn.Module):
    """A training module: per-example cross-entropy and 0/1 errors, targets 1-based (Wolfram)."""

    def __init__(self, d_in: int = 4, classes: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, 16), nn.ReLU(), nn.Linear(16, classes))

    def forward(self, inputs, lengths=None):
        logits = self.net(inputs["Input"])
        target = inputs["Output"] - 1
        return {"Output": nn.functional.cross_entropy(logits, target, reduction="none"),
                "$ErrorRate": (logits.argmax(-1) != target).float()}


def blobs(n: int = 120, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + 3 * np.eye(3, 4)[y]
    return Dataset({"Input": x, "Output": y + 1})


def cfg(**kw) -> TrainConfig:
    kw.setdefault("max_training_rounds", 3)
    kw.setdefault("batch_size", 16)
    return TrainConfig(**kw)


def test_counts_and_learning():
    """§9.10: one loss per batch, RoundPositions = round·bpr; the loss goes down."""
    torch.manual_seed(0)
    r = train(Classifier(), blobs(), cfg(max_training_rounds=8, learning_rate=0.01))
    assert r.batches_per_round == 8  # ceil(120/16)
    assert r.total_batches == len(r.batch_losses) == 64
    assert r.round_positions == [8 * i for i in range(1, 9)]
    assert r.reason == "MaxTrainingRounds" and r.total_rounds == 8
    assert r.round_losses[-1] < r.round_losses[0]
    assert r.round_measurements[-1]["ErrorRate"] < 0.2
    assert len(r.round_loss_quartiles) == 8
    q1, med, q3 = r.round_loss_quartiles[0]
    assert q1 <= med <= q3


def _seeded(seed: int) -> Classifier:
    torch.manual_seed(0)
    return Classifier()


def test_seeded_runs_are_identical():
    """Same RandomSeeding → same permutation and losses (the net's init is the caller's)."""
    a = train(_seeded(0), blobs(), cfg(random_seed=7))
    b = train(_seeded(0), blobs(), cfg(random_seed=7))
    c = train(_seeded(0), blobs(), cfg(random_seed=8))
    assert a.batch_losses == b.batch_losses
    assert a.batch_losses != c.batch_losses


def test_updates_per_batch_makes_n_optimizer_steps():
    """§8.1: UpdatesPerBatch -> 3 runs 3 forward/backward/update passes per batch."""
    r = train(Classifier(), blobs(), cfg(updates_per_batch=3, max_training_rounds=2))
    assert r.total_batches == 16 and r.optimizer_steps == 48
    assert r.examples_processed == 16 * 16


def test_scaled_validation_takes_last_whole_batches_and_best_net():
    """§9.3: Scaled[f] takes the last whole batches of the fixed permutation (§7.1)."""
    torch.manual_seed(1)
    r = train(Classifier(), blobs(), cfg(validation_set=0.25, max_training_rounds=4))
    assert r.batches_per_round == 6 and r.total_batches == 24
    assert len(r.validation_losses) == 4 and r.validation_positions == [6, 12, 18, 24]
    assert "ErrorRate" in r.validation_measurements[0]


def best_round_net_check(make, data, config, rounds: int) -> None:
    """The returned net *is* the best validation round's net (§8.7): the same run stopped at
    that round ends with exactly those weights. The best round must not be the last one, or
    a loop that returned its final weights would pass."""
    torch.manual_seed(1)
    a = make()
    ra = train(a, data, config(max_training_rounds=rounds))
    k = ra.best_validation_round
    key = (lambda m: m["ErrorRate"]) if "ErrorRate" in ra.validation_measurements[0] else None
    assert k is not None and 1 <= k < rounds, ra.validation_losses
    assert ra.validation_losses[k - 1] == min(
        loss for loss, m in zip(ra.validation_losses, ra.validation_measurements, strict=True)
        if key is None or key(m) == min(map(key, ra.validation_measurements)))
    torch.manual_seed(1)
    b = make()
    rb = train(b, data, config(max_training_rounds=k))
    returned, final = a.state_dict(), ra.final_state
    assert set(returned) == set(rb.final_state)
    for name, value in returned.items():
        assert value.dtype == rb.final_state[name].dtype
        assert torch.equal(value, rb.final_state[name]), name
    assert any(not torch.equal(returned[n], final[n]) for n in returned)  # not the last net


def test_best_validation_net_is_that_rounds_weights():
    """Scaled validation, lowest error rate then loss (SelectLowestValidationError, §1.3)."""
    best_round_net_check(Classifier, blobs(),
                         lambda **kw: cfg(validation_set=0.25, learning_rate=0.05, **kw), 12)
    with pytest.raises(EngineError, match="invvsfrac"):
        train(Classifier(), blobs(), cfg(validation_set=0.01))


def test_disable_error_rate():
    r = train(Classifier(), blobs(), cfg(disable_error_rate=True, validation_set=blobs(30, 1)))
    assert r.round_measurements[0] == {} and r.validation_measurements[0] == {}
    assert r.validation_examples == 30


def test_progress_function_keys_and_stop():
    """§9.11 keys; returning "StopTraining" stops with reason ManualStop (§9.12)."""
    seen = []
    module = Classifier()

    def f(info):
        seen.append({k: info[k] for k in ("Round", "Batch", "AbsoluteBatch", "BatchLoss",
                                          "RoundLoss", "ProgressFraction", "LearningRate",
                                          "$Timings", "TimeElapsed", "ExamplesPerSecond")})
        # "Net" is the net as it is now: a copy holding the current weights, not the module
        net = info["Net"]
        assert isinstance(net, Classifier) and net is not module
        now = module.state_dict()
        assert all(torch.equal(v, now[k]) for k, v in net.state_dict().items())
        seen[-1]["weights"] = net.state_dict()["net.0.weight"].clone()
        return "StopTraining" if info["AbsoluteBatch"] >= 4 else None

    r = train(module, blobs(), cfg(
        max_training_rounds=5,
        training_progress_function=[Callback(f, interval=Interval(batches=2))]))
    assert [s["AbsoluteBatch"] for s in seen] == [2, 4]
    assert not torch.equal(seen[0]["weights"], seen[1]["weights"])  # trained in between
    assert r.reason == "ManualStop" and r.total_batches == 4
    assert seen[0]["$Timings"]["Executor"]["Last"] > 0


def test_interval_rule_nothing_fires_before_one_interval():
    """§9.6: a 1-round callback first fires at the end of round 1, then every round."""
    at = []
    train(Classifier(), blobs(), cfg(training_progress_function=[
        Callback(lambda i: at.append(i["AbsoluteBatch"]), interval=Interval(rounds=1))]))
    assert at == [8, 16, 24]


def test_minimum_interval_raises_the_seconds_threshold():
    """§9.6: "MinimumInterval" -> s raises the seconds component of the interval to >= s, so
    an every-batch callback fires at most once per s seconds."""
    at, stamps = [], []

    def slow(inputs, lengths=None):  # ~5 ms per batch, 24 batches
        import time

        time.sleep(0.005)
        return Classifier.forward(module, inputs, lengths)

    module = Classifier()
    module.forward = slow
    train(module, blobs(), cfg(training_progress_function=[
        Callback(lambda i: (at.append(i["AbsoluteBatch"]), stamps.append(i["TimeElapsed"])),
                 interval=Interval(batches=1), minimum_interval=0.03)]))
    assert 1 <= len(at) < 24
    assert all(b - a >= 0.03 for a, b in zip([0.0, *stamps], stamps, strict=False))


def test_events_registration():
    names = []
    train(Classifier(), blobs(), cfg(max_training_rounds=2, training_progress_function=[
        Callback(lambda i: names.append(i["Event"]), events=("RoundComplete",
                                                              "TrainingComplete"))]))
    assert names == ["RoundComplete", "RoundComplete", "TrainingComplete"]


def test_divergence_warns_arrdiv_and_returns_finite_net():
    """§9.12: NaN loss stops with NetTrain::arrdiv and reason WeightsDiverged."""
    m = Classifier()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = train(m, blobs(), cfg(max_training_rounds=20,
                                  method=MethodSpec("SGD", learning_rate=1e6, momentum=0.0)))
    assert r.reason == "WeightsDiverged"
    assert any("NetTrain::arrdiv" in str(x.message) and x.category is TrainingWarning
               for x in w)
    assert all(torch.isfinite(p).all() for p in m.parameters())


def test_keyboard_interrupt_stops_like_first_abort():
    def f(info):
        raise KeyboardInterrupt

    r = train(Classifier(), blobs(), cfg(training_progress_function=[
        Callback(f, interval=Interval(batches=3))]))
    assert r.reason == "Aborted" and r.total_batches == 3


def test_frozen_arrays_do_not_move():
    m = Classifier()
    before = m.net[0].weight.detach().clone()
    train(m, blobs(), cfg(learning_rate_multipliers=[(("net", "0"), 0.0)]))
    assert torch.equal(m.net[0].weight, before)


def test_real64_trains_in_float64():
    m = Classifier()
    r = train(m, blobs(), cfg(working_precision="Real64"))
    assert all(p.dtype == torch.float64 for p in m.parameters())
    assert np.isfinite(r.batch_losses).all()


def test_time_goal_and_max_batches():
    r = train(Classifier(), blobs(), cfg(max_training_rounds=None, max_training_batches=5))
    assert r.total_batches == 5 and r.reason == "MaxTrainingBatches"
    r = train(Classifier(), blobs(), cfg(max_training_rounds=None, time_goal=0.3))
    assert r.reason == "TimeGoal" and r.total_batches > 0


def test_automatic_rounds_do_not_touch_weights():
    """Automatic MaxTrainingRounds times steps on a copy: 10..10,000 rounds (§9.5.1)."""
    torch.manual_seed(0)
    m = Classifier()
    first = {}
    r = train(m, blobs(24), cfg(batch_size=24, max_training_rounds=None,
                                max_training_batches=None, training_progress_function=[
                                    Callback(lambda i: first.setdefault("l", i["BatchLoss"]) and
                                             "StopTraining", interval=Interval(batches=1))]))
    torch.manual_seed(0)
    m2 = Classifier()
    r2 = train(m2, blobs(24), cfg(batch_size=24, max_training_rounds=1))
    assert r.batch_losses[0] == r2.batch_losses[0]
    assert r.max_training_rounds >= 10


def test_channels_emit_only_when_listened():
    log = []
    listeners = {c: (lambda t, b, v, c=c: log.append((c, b, v))) for c in
                 ("CoreLoop", "Gradient", "Permutation", "Executor", "Trainer", "Plan")}
    train(Classifier(), blobs(), cfg(max_training_rounds=1, listeners=listeners),
          events=Events(listeners))
    chans = {c for c, _, _ in log}
    assert {"CoreLoop", "Gradient", "Permutation", "Executor", "Trainer"} <= chans
    grads = [v for c, _, v in log if c == "Gradient"]
    assert len(grads) == 8 and len(grads[0]["GradientMagnitudes"]) == 4
    core = [v for c, _, v in log if c == "CoreLoop"]
    assert core[:3] == ["StartOfLoop", "StartOfBatch", "TrainerUpdate"]
    assert core[-1] == "EndOfLoop"
    plan = [v for c, _, v in log if c == "Plan"][0]
    assert plan[0] == "ToNetPlan" and plan[1] == {}
    create = [v for c, _, v in log if c == "Executor"][0]
    assert create[0].name == "NetExecutorCreate" and create[1]["Input"] == (16, 4)
    assert [v for c, _, v in log if c == "Permutation"][0] == "Training"


def test_bad_device_and_precision():
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="invtrgdev"):
            train(Classifier(), blobs(), cfg(target_device="cuda:0"))
    with pytest.raises(EngineError, match="badwp"):
        train(Classifier(), blobs(), cfg(working_precision="Real8"))
    with pytest.raises(EngineError, match="nodata"):
        train(Classifier(), Dataset({"Input": np.zeros((0, 4)), "Output": np.zeros(0)}), cfg())


def test_stopping_criterion_patience():
    """§9.8: stop when the validation loss has not improved on patience+1 checks."""
    r = train(_seeded(0), blobs(), cfg(
        max_training_rounds=50, validation_set=0.25, learning_rate=0.05,
        training_stopping_criterion=StoppingCriterion("Loss", patience=1,
                                                      absolute_change=10.0)))
    # an absolute change of 10 is never reached: first check sets the best, then 2 misses
    assert r.reason == "StoppingCriterion" and r.total_rounds == 3
