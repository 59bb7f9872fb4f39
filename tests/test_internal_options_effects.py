"""Internal loop options change what the loop does (reference §3, §5, §8): each test shows
an option's effect in what the run logs or returns, not only that it is accepted."""

from __future__ import annotations

import math

import numpy as np
import psutil
import pytest
import torch
from wolframclient.language import wl
from wolframclient.language.expression import WLSymbol

import engine.loop
import engine.loop_run
import wlbridge
from engine.spec import Dataset, MethodSpec, TrainConfig

NET = ('NetChain[{LinearLayer[8], Tanh, LinearLayer[3], SoftmaxLayer[]}, "Input" -> 4, '
       '"Output" -> NetDecoder[{"Class", {"a", "b", "c"}}]]')


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    x = rng.normal(size=(96, 4)).astype(np.float32) + 2 * np.eye(3, 4)[y]
    return {"Input": x, "Output": np.array(["a", "b", "c"])[y].tolist()}


def run(data, internal: str, prop="All", extra: str = ""):
    opts = ('BatchSize -> 16, MaxTrainingRounds -> 3, RandomSeeding -> 5, '
            f'TrainingProgressReporting -> None, "InternalOptions" -> {{{internal}}}{extra}')
    return wlbridge.net_train(NET, data, prop, options=opts)


def test_updates_per_batch_counts_steps_not_examples(data):
    """§8.1: n passes per batch; ExamplesProcessed is not multiplied, the rates are."""
    one = run(data, '"UpdatesPerBatch" -> 1')
    three = run(data, '"UpdatesPerBatch" -> 3')
    assert one["OptimizerSteps"] == 18 and three["OptimizerSteps"] == 54
    assert three["ExamplesProcessed"] == one["ExamplesProcessed"] == 18 * 16
    assert three["BatchLossList"] != one["BatchLossList"]


def test_force_synchronization_keeps_numbers(data):
    """§8.4: synchronising first changes timings only, never the numbers."""
    a = run(data, '"ForceSynchronization" -> True', "BatchLossList")
    b = run(data, '"ForceSynchronization" -> False', "BatchLossList")
    assert a == b


def test_disable_error_rate(data):
    on = run(data, "", extra=", ValidationSet -> Scaled[0.34]")
    off = run(data, '"DisableErrorRate" -> True', extra=", ValidationSet -> Scaled[0.34]")
    assert "ErrorRate" in on["RoundMeasurementsLists"]
    assert "ErrorRate" in on["ValidationMeasurementsLists"]
    assert set(off["RoundMeasurementsLists"]) == {"Loss"}
    assert set(off["ValidationMeasurementsLists"]) == {"Loss"}


def test_select_lowest_validation_error_false_picks_by_loss(data):
    """§8.7: with False the best round is the one of lowest validation loss."""
    res = run(data, '"SelectLowestValidationError" -> False',
              extra=", ValidationSet -> Scaled[0.34]")
    losses = res["ValidationLossList"]
    assert res["BestValidationRound"] == int(np.argmin(losses)) + 1
    res2 = run(data, "", extra=", ValidationSet -> Scaled[0.34]")
    errs = res2["ValidationMeasurementsLists"]["ErrorRate"]
    key = list(zip(errs, res2["ValidationLossList"], strict=True))
    assert res2["BestValidationRound"] == key.index(min(key)) + 1


def test_disable_validation_executor_same_numbers(data):
    """§8.6: validating through the training module gives the same values."""
    a = run(data, '"DisableValidationExecutor" -> True', "ValidationLossList",
            ", ValidationSet -> Scaled[0.34]")
    b = run(data, "", "ValidationLossList", ", ValidationSet -> Scaled[0.34]")
    assert a == pytest.approx(b, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# Each option's effect, measured from what the run logs or returns (tiny nets, < 5 s each).


LINEAR = ('NetChain[{{LinearLayer[1, "Weights" -> {{{{{w}}}}}, "Biases" -> {{{b}}}]}}, '
          '"Input" -> 2, "Output" -> 1]')
SGD = 'LossFunction -> MeanSquaredLossLayer[], TrainingProgressReporting -> None'


def _constant_rate(t, total):
    return 1.0


# Plain SGD, constant rate: "LearningRateSchedule" -> None turns SGD's Polynomial default off.
PLAIN_SGD = ("SGD", wl.Rule("Momentum", 0), wl.Rule("LearningRate", 0.1),
             wl.Rule("LearningRateSchedule", WLSymbol("None")))


def train(net, data, opts: str, prop="All", **internal):
    """net_train with internal options given as Python values (Bags, numbers, functions);
    when ``opts`` uses the `SGD` text, the method is `PLAIN_SGD`."""
    rules = tuple(wl.Rule(k, v) for k, v in internal.items())
    extra = {"Method": PLAIN_SGD} if SGD in opts else {}
    return wlbridge.net_train(net, data, prop, options=opts, InternalOptions=rules, **extra)


def values(bag):
    """The logged values of a Bag, without the {time, absBatch} -> wrapper."""
    return [e[1] for e in bag]


def batches_of(bag):
    return [e[0][1] for e in bag]


def mse_sgd_steps(w, b, x, t, lr, steps):
    """Reference: `steps` plain SGD steps of the batch-mean squared error, in float64.
    Returns the weights after each step and the loss before each step."""
    w, b, out = np.array(w, float), float(b), []
    for _ in range(steps):
        r = x @ w + b - t
        out.append((w.copy(), b, float(np.mean(r * r))))
        w = w - lr * 2 * (r @ x) / len(t)
        b = b - lr * 2 * r.sum() / len(t)
    return w, b, out


XS = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-2.0, 1.0]], np.float32)
TS = np.array([1.0, 0.0, 2.0, -1.0], np.float32)


def test_updates_per_batch_runs_three_passes_and_reports_the_last_forward_loss():
    """§8.1: 3 forward/backward/step passes per batch (TrainerLogging shows them), one loss
    per batch, and that loss comes from the last forward pass, i.e. before the third step."""
    bag = wlbridge.Bag()
    res = train(LINEAR.format(w="0.5, -0.25", b="0.1"), {"Input": XS, "Output": TS[:, None]},
                f"BatchSize -> 4, MaxTrainingBatches -> 2, {SGD}", UpdatesPerBatch=3,
                TrainerLogging=bag)
    per_batch = {k: [v for v, a in zip(values(bag), batches_of(bag), strict=True) if a == k]
                 for k in (1, 2)}
    for k in (1, 2):
        assert per_batch[k].count("CallOptimizer") == 3
        assert per_batch[k].count("ForwardBackward") == 3
    assert res["OptimizerSteps"] == 6 and len(res["BatchLossList"]) == 2
    w, b, hist = mse_sgd_steps([0.5, -0.25], 0.1, XS.astype(float), TS.astype(float), 0.1, 6)
    assert res["BatchLossList"] == pytest.approx([hist[2][2], hist[5][2]], rel=1e-5)
    trained = res["TrainedNet"].arrays()
    assert trained[("1", "Weights")][0] == pytest.approx(w, rel=1e-5)


def test_real64_trains_in_float64():
    """§8.3: "Real64" makes every array and every operator float64 (code 1 in the logs)."""
    seen = {}

    def look(info):
        seen.update({k: v.dtype for k, v in info["Weights"].items()})

    ex, ops = wlbridge.Bag(), wlbridge.Bag()
    res = wlbridge.net_train(
        NET, _small(), "All",
        options='BatchSize -> 16, MaxTrainingBatches -> 2, WorkingPrecision -> "Real64", '
                'TrainingProgressReporting -> None',
        TrainingProgressFunction=(look, wl.Rule("Interval", wl.Quantity(1, "Batches"))),
        InternalOptions=(wl.Rule("ExecutorLogging", ex), wl.Rule("MXNetLogging", ops)))
    assert seen and set(seen.values()) == {np.dtype("float64")}
    assert values(ex)[0][3] == 1  # NetExecutorCreate data type: Real64
    addmm = [v for v in values(ops) if v[0] == "aten::addmm"]
    assert addmm and all(a[2] == "float64" for v in addmm for a in v[1:] if a[0] == "Tensor")
    assert res["TotalBatches"] == 2


def _small(n=48):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + 2 * np.eye(3, 4)[y]
    return {"Input": x, "Output": np.array(["a", "b", "c"])[y].tolist()}


def test_real16_rescaling_does_not_change_updates_without_underflow():
    """§8.2: the loss is multiplied by the rescale and the gradients divided by it, so with
    gradients far from float16's limits rescale 5 and 1 train to the same weights."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 2)).astype(np.float32)
    data = {"Input": x, "Output": (x @ [[1.0], [-2.0]]).astype(np.float32)}
    opts = (f"BatchSize -> 8, MaxTrainingRounds -> 3, RandomSeeding -> 3, {SGD}, "
            'WorkingPrecision -> "Real16"')
    net = 'NetChain[{LinearLayer[1]}, "Input" -> 2, "Output" -> 1]'
    one = train(net, data, opts, LowPrecisionGradientRescaling=1)
    five = train(net, data, opts, LowPrecisionGradientRescaling=5)
    init = wlbridge.Net(wlbridge.parse(net), seed=3).arrays()
    a, b = one["TrainedNet"].arrays(), five["TrainedNet"].arrays()
    for k in a:
        assert a[k].dtype == np.float32  # written back from the float32 masters
        assert not np.allclose(a[k], init[k])  # it trained
        np.testing.assert_allclose(a[k], b[k], rtol=2e-3, atol=1e-4)
    assert one["BatchLossList"] == pytest.approx(five["BatchLossList"], rel=1e-2)


def test_real16_rescaling_keeps_gradients_that_underflow_float16():
    """§8.2/§3.8: a weight gradient of ~2e-8 flushes to zero in float16 with rescale 1 but
    survives (x5) with the default 5; the float32 master then moves by ~5e-9, a change no
    float16 array could hold, and that master is what the trained net is written from."""
    data = {"Input": np.full((4, 2), 1e-4, np.float32), "Output": np.full((4, 1), -1e-4,
                                                                         np.float32)}
    net = LINEAR.format(w="0., 0.", b="0.")
    opts = f'BatchSize -> 4, MaxTrainingBatches -> 1, {SGD}, WorkingPrecision -> "Real16"'
    runs = {}
    for scale in (1, 5):
        bag = wlbridge.Bag()
        res = train(net, data, opts, LowPrecisionGradientRescaling=scale, GradientLogging=bag)
        runs[scale] = (values(bag)[0]["GradientMagnitudes"], res["TrainedNet"].arrays())
    (g1, w1), (g5, w5) = runs[1], runs[5]
    # order: Biases, Weights (canonical sort, §3.8); gradients carry the rescale factor
    assert g1[0] > 0 and g5[0] == pytest.approx(5 * g1[0], rel=1e-2)
    assert g1[1] == 0.0 and g5[1] > 0.0
    assert np.all(w1[("1", "Weights")] == 0.0)
    moved = w5[("1", "Weights")]
    assert np.all(moved != 0.0) and np.all(np.abs(moved) < 6e-8)  # below float16's smallest


def test_gradient_logging_with_norm_matches_the_hand_computed_gradient():
    """§3.8: GradientMagnitudes = Norm of the gradient of the batch SUM of the losses, in the
    canonical order (Biases, Weights); UpdateMagnitudes = Norm of the applied change, which for
    plain SGD is LearningRate x gradient / BatchSize."""
    bag = wlbridge.Bag()
    train(LINEAR.format(w="0.5, -0.25", b="0.1"), {"Input": XS, "Output": TS[:, None]},
          f"BatchSize -> 4, MaxTrainingBatches -> 1, {SGD}", GradientLogging=bag,
          GradientNormFunction=wl.Norm)
    (value,) = values(bag)
    r = XS.astype(float) @ [0.5, -0.25] + 0.1 - TS
    g_b, g_w = 2 * r.sum(), 2 * (r @ XS.astype(float))
    g = value["GradientMagnitudes"]
    assert g == pytest.approx((abs(g_b), np.linalg.norm(g_w)), rel=1e-6)
    assert value["UpdateMagnitudes"] == pytest.approx(tuple(0.1 * np.asarray(g) / 4), rel=1e-5)


def test_gradient_logging_lists_auxiliary_arrays_first_in_updates():
    """§3.8: with BatchNorm, UpdateMagnitudes covers the moving statistics too, before the
    trainable arrays, so it is longer than GradientMagnitudes."""
    bag = wlbridge.Bag()
    net = ('NetChain[{LinearLayer[3], BatchNormalizationLayer[], LinearLayer[3], '
           'SoftmaxLayer[]}, "Input" -> 4, "Output" -> NetDecoder[{"Class", {"a", "b", "c"}}]]')
    wlbridge.net_train(net, _small(), options='BatchSize -> 16, MaxTrainingBatches -> 2, '
                       'TrainingProgressReporting -> None',
                       InternalOptions=(wl.Rule("GradientLogging", bag),))
    v = values(bag)[0]
    n_g, n_u = len(v["GradientMagnitudes"]), len(v["UpdateMagnitudes"])
    assert n_u > n_g and np.all(np.asarray(v["UpdateMagnitudes"][: n_u - n_g]) > 0)


def test_a_channel_nobody_listens_to_computes_nothing():
    """DESIGN rule 4 / §2: without GradientLogging the norm function never runs; with it, it
    runs once per array per gradient and per update, every batch."""
    calls = []

    def norm(t):
        calls.append(1)
        return float(t.abs().max())

    data = {"Input": XS, "Output": TS[:, None]}
    net = LINEAR.format(w="0.5, -0.25", b="0.1")
    opts = f"BatchSize -> 4, MaxTrainingBatches -> 3, {SGD}"
    train(net, data, opts, GradientNormFunction=norm)
    assert calls == []
    train(net, data, opts, GradientNormFunction=norm, GradientLogging=wlbridge.Bag())
    assert len(calls) == 3 * (2 + 2)


def test_force_synchronization_measures_the_sync_phase(monkeypatch):
    """§8.4, §4.3: the sync phase (wait + loss read) is timed on every batch. On the CPU
    there is nothing asynchronous to wait for; the shift of time from exec into sync that
    ForceSynchronization causes on CUDA needs a GPU and is not shown here."""
    monkeypatch.setattr(engine.loop, "TIMING_LOG_PERIOD", 0.0)
    bag = wlbridge.Bag()
    res = train(NET, _small(), 'BatchSize -> 16, MaxTrainingRounds -> 2, '
                'TrainingProgressReporting -> None', ForceSynchronization=True, TimingLogging=bag)
    _last, lo, hi, total, count = values(bag)[-1]["Synchronize"]
    assert count == res["TotalBatches"] == 6 and total > 0 and 0 < lo <= hi


def _sleep(info):
    import time

    time.sleep(0.06)


def _slow_run(**internal):
    """Five batches of at least 60 ms each (a callback sleeps after every batch), so a 50 ms
    period elapses between any two batches however loaded the machine is."""
    rules = tuple(wl.Rule(k, v) for k, v in internal.items())
    return wlbridge.net_train(
        NET, _small(), options="BatchSize -> 4, MaxTrainingBatches -> 5, "
        "TrainingProgressReporting -> None", InternalOptions=rules,
        TrainingProgressFunction=(_sleep, wl.Rule("Interval", wl.Quantity(1, "Batches"))))


class _Spy:
    """Records the clock each time a wrapped engine method fires (the real method runs)."""

    def __init__(self):
        self.fired: list[float] = []


def test_timing_logging_fires_every_period(monkeypatch):
    """§3.7: the timing association (last, min, max, total, count per phase) is logged every
    period (10 s in NetTrain; shortened here), the first after one period. The spacing is
    checked on the clock the loop's trigger reads (the entries' stamps are another clock)."""
    monkeypatch.setattr(engine.loop, "TIMING_LOG_PERIOD", 0.05)
    spy = _Spy()

    class Trigger(engine.loop_run.Trigger):  # the split loop's run builds the timing trigger
        __slots__ = ()

        def due(self, clock):
            fired = super().due(clock)
            if fired and self.interval == (0, 0, 0.05):
                spy.fired.append(clock[2])
            return fired

    monkeypatch.setattr(engine.loop_run, "Trigger", Trigger)
    bag = wlbridge.Bag()
    _slow_run(TimingLogging=bag)
    # every batch after the first period logs once: 4 or 5 of the 5 batches
    assert len(bag) == len(spy.fired) and len(bag) in (4, 5)
    assert spy.fired[0] >= 0.05
    assert all(b >= a + 0.05 for a, b in zip(spy.fired, spy.fired[1:], strict=False))
    assert batches_of(bag) == list(range(6 - len(bag), 6))
    first = values(bag)[0]
    assert list(first) == ["Batch", "Executor", "Synchronize", "Generator", "Collector",
                           "Reporting", "Callbacks"]
    assert first["Executor"][4] >= 1
    assert all(v["Batch"][4] == b for v, b in zip(values(bag), batches_of(bag), strict=True))


def test_memory_usage_logging_samples_in_use_memory_at_the_interval(monkeypatch):
    """§3.6, §5.1: System = memory in use on the machine, Kernel = this process's resident
    size, both ints within psutil's range; samples no closer than MemoryReportingInterval,
    on the sampler's own clock (the entries' stamps are another clock), one entry each."""
    from engine.memory import MemorySampler

    spy = _Spy()
    original = MemorySampler.sample

    def sample(self, now=None, force=False):
        t = self._clock() if now is None else now
        out = original(self, now=t, force=force)
        if out is not None and not force:
            spy.fired.append(t)
        return out

    monkeypatch.setattr(MemorySampler, "sample", sample)
    bag = wlbridge.Bag()
    _slow_run(MemoryUsageLogging=bag, MemoryReportingInterval=0.05)
    assert len(bag) == len(spy.fired) and len(bag) in (4, 5)
    assert all(b >= a + 0.05 for a, b in zip(spy.fired, spy.fired[1:], strict=False))
    total = psutil.virtual_memory().total
    rss = psutil.Process().memory_info().rss
    for v in values(bag):
        assert isinstance(v["System"], int) and isinstance(v["Kernel"], int)
        assert 0 < v["System"] <= total and 0 < v["Kernel"] <= total
        assert v["Kernel"] < 4 * rss and "GPU1" not in v
    stamps = [e[0][0] for e in bag]
    assert stamps == sorted(stamps)


def test_memory_usage_key_reports_memory_in_use():
    """§5.1: "$MemoryUsage" for callbacks, System = total - available (not available)."""
    seen = []
    wlbridge.net_train(NET, _small(), options='BatchSize -> 16, MaxTrainingBatches -> 1, '
                       'TrainingProgressReporting -> None',
                       TrainingProgressFunction=(lambda info: seen.append(info["$MemoryUsage"]),
                                                 wl.Rule("Interval", wl.Quantity(1, "Batches"))))
    vm = psutil.virtual_memory()
    assert abs(seen[0]["System"] - (vm.total - vm.available)) < 0.1 * vm.total


def test_mxnet_logging_traces_aten_operators_with_shapes():
    """§3.5: every backend operator of forward, backward and update, with argument shapes."""
    bag = wlbridge.Bag()
    train(NET, _small(), 'BatchSize -> 16, MaxTrainingBatches -> 1, '
          'TrainingProgressReporting -> None', MXNetLogging=bag)
    ops = values(bag)
    names = {v[0] for v in ops}
    assert "aten::addmm" in names and "aten::tanh" in names
    assert any(n.startswith("aten::mm") for n in names)  # backward of the linear layers
    addmm = next(v for v in ops if v[0] == "aten::addmm")
    assert ("Tensor", (16, 4), "float32") in addmm[1:]
    assert set(batches_of(bag)) == {1}


def test_core_loop_markers_follow_the_loop_order():
    """§3.9: StartOfLoop, then per batch the six markers in order, validation markers when
    it runs, then TrainerFinalize and EndOfLoop."""
    bag = wlbridge.Bag()
    data = _small()
    train(NET, data, 'BatchSize -> 16, MaxTrainingRounds -> 2, TrainingProgressReporting -> '
          'None, ValidationSet -> Scaled[0.34]', CoreLoopLogging=bag)
    per_batch = ["StartOfBatch", "TrainerUpdate", "FetchDataFromGenerator", "ObtainingLoss",
                 "BatchCollectors", "CallPeriodicFunctions"]
    validation = ["ValidationStarted", "ValidationComplete"]
    expected = (["StartOfLoop"] + per_batch + per_batch + validation + per_batch + per_batch
                + validation + ["TrainerFinalize", "EndOfLoop"])
    assert values(bag) == expected


def test_executor_logging_one_create_per_executor_and_reshapes():
    """§3.2, §8.6: one NetExecutorCreate for training (and one for the separate validation
    executor), at absolute batch 0; reusing the training executor for a validation set smaller
    than a batch reshapes it to that size and back."""
    data, val = _small(), _small(5)
    opts = ('BatchSize -> 16, MaxTrainingRounds -> 1, TrainingProgressReporting -> None')
    sep, shared = wlbridge.Bag(), wlbridge.Bag()
    wlbridge.net_train(NET, data, options=opts, ValidationSet=val,
                       InternalOptions=(wl.Rule("ExecutorLogging", sep),))
    wlbridge.net_train(NET, data, options=opts, ValidationSet=val,
                       InternalOptions=(wl.Rule("ExecutorLogging", shared),
                                        wl.Rule("DisableValidationExecutor", True)))
    creates = [e for e in sep if e[1][0] == wl.NetExecutorCreate]
    assert len(sep) == 2 and len(creates) == 2 and batches_of(sep) == [0, 0]
    assert creates[0][1][1] == {"Input": (16, 4), "Output": (16,)}
    assert creates[1][1][1] == {"Input": (5, 4), "Output": (5,)}
    assert creates[0][1][2:4] == (1, 0)  # CPU, Real32
    assert [v[0] for v in values(shared)] == [wl.NetExecutorCreate, wl.NetExecutorReshape,
                                              wl.NetExecutorReshape]
    assert [v[1] for v in values(shared)[1:]] == [5, 16]


class _Scripted(torch.nn.Module):
    """A one-parameter training module whose validation loss and error disagree: training
    ("Kind" 0) has loss -w, so SGD with LearningRate 1 adds 1 to w per batch; validation
    ("Kind" 1) has loss (w - 2)^2 (best after round 2) and error [w < 3] (best from round 3)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, inputs, lengths):
        kind = inputs["Kind"].float()
        w = self.w.expand(kind.shape[0])
        loss = torch.where(kind == 0, -w, (w - 2) ** 2)
        return {"Loss": loss, "$ErrorRate": (w.detach() < 3).float()}


@pytest.mark.parametrize("select_error, best", [(True, 3), (False, 2)])
def test_select_lowest_validation_error_when_the_criteria_disagree(select_error, best):
    """§8.7: by default the best net has the lowest validation error (ties: lower loss);
    "SelectLowestValidationError" -> False picks the lowest validation loss instead."""
    torch.set_num_threads(1)
    cfg = TrainConfig(batch_size=1, max_training_rounds=4,
                      method=MethodSpec(name="SGD", learning_rate=1.0, momentum=0.0,
                                        learning_rate_schedule=_constant_rate),
                      validation_set=Dataset({"Kind": np.array([1])}),
                      select_lowest_validation_error=select_error, random_seed=1)
    module = _Scripted()
    res = engine.loop.train(module, Dataset({"Kind": np.array([0])}), cfg)
    assert res.validation_losses == pytest.approx([1.0, 0.0, 1.0, 4.0])
    assert [m["ErrorRate"] for m in res.validation_measurements] == [1.0, 1.0, 0.0, 0.0]
    assert res.best_validation_round == best
    assert float(module.w.detach()) == pytest.approx(best)  # the module holds the best net
    assert math.isclose(float(res.final_state["w"]), 4.0)


@pytest.mark.parametrize("on", [True, False])
def test_plot_loss_quartiles_draws_the_band(on, tmp_path):
    """§8.8 (README option): per-round batch-loss quartiles are recorded, and the loss plot
    shades the Q1-Q3 band only when "PlotLossQuartiles" is on."""
    res = run(_small(), f'"PlotLossQuartiles" -> {on}')
    q = res["RoundLossQuartiles"]
    assert len(q) == 3 and all(a <= m <= b for a, m, b in q)
    fig = res["LossEvolutionPlot"]
    assert bool(fig.axes[0].collections) is on
    path = res.plot(tmp_path / "loss.png")
    assert (tmp_path / "loss.png").stat().st_size > 1000 and path.endswith("loss.png")
    assert res["ErrorRateEvolutionPlot"].axes[0].lines


SEQ_NET = ('NetChain[{LongShortTermMemoryLayer[2], SequenceLastLayer[], LinearLayer[1]}, '
           '"Input" -> {"Varying", 1}, "Output" -> 1]')


def _length_batches(partitions: str) -> list[list[int]]:
    """The lengths in each training batch when 64 sequences of lengths 1..64 (in a random
    order) train with ``SequenceBucketingPartitions -> partitions`` through net_train."""
    rng = np.random.default_rng(4)
    lengths = rng.permutation(np.arange(1, 65))
    data = {"Input": [rng.normal(size=(n, 1)).astype(np.float32) for n in lengths],
            "Output": rng.normal(size=(64, 1)).astype(np.float32)}
    perm = wlbridge.net_train(
        SEQ_NET, data, "BatchPermutation", options="BatchSize -> 4, MaxTrainingRounds -> 1, "
        "RandomSeeding -> 2, TrainingProgressReporting -> None, \"InternalOptions\" -> "
        f"{{\"SequenceBucketingPartitions\" -> {partitions}}}")
    return [[int(lengths[i - 1]) for i in batch] for batch in perm]


def test_sequence_bucketing_partitions_set_how_sorted_the_batches_are():
    """§7.2, §7.6: None sorts fully (each batch is 4 consecutive lengths, ascending); with
    k partitions the sort rank r of 63 (= n - 1) falls in bin ceil(r k / 63) and a batch of 4
    slots spans at most two neighbouring bins, in random order inside; 1 partition is
    (almost) unsorted. A loop that ignored the option (always 8 bins) fails each case."""
    full = _length_batches("None")
    assert sorted(map(tuple, full)) == [tuple(range(i, i + 4)) for i in range(1, 65, 4)]
    assert full[0] == [61, 62, 63, 64]  # the longest batch first (§7.2 step 5)
    for k in (2, 4):
        batches = _length_batches(str(k))
        for batch in batches:
            bins = {-(-r * k // 63) for r in batch}
            assert max(bins) - min(bins) <= 1, (k, batch)
        assert any(b != sorted(b) for b in batches)  # not sorted inside a bin
        assert max(max(b) - min(b) for b in batches) > 63 // 8  # wider than 8 bins allow
    one = _length_batches("1")
    assert max(max(b) - min(b) for b in one) > 32  # 63 of 64 examples in one bin
