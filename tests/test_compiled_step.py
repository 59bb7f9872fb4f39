"""The compiled training step (issue 11, item 3): ``"CompileTrainingStep" -> True``.

The wiring is checked with torch's "aot_eager" backend (the same graphs, no inductor C++
build, seconds not a minute); inductor's speed is measured by
benchmarks/bench_compiled_step.py.
"""

from __future__ import annotations

import uuid
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from wolframclient.language import wl

import wlbridge
from engine.compiled_step import CompiledStep, StepCompileWarning
from engine.loop import train
from engine.spec import Dataset, MethodSpec, TrainConfig
from wlbridge.sinks import bag

QUIET = "TrainingProgressReporting -> None"
CHAR_NET = ('NetChain[{EmbeddingLayer[8], LongShortTermMemoryLayer[8], SequenceLastLayer[], '
            'LinearLayer[2], SoftmaxLayer[]}, "Input" -> NetEncoder[{"Characters", "abc"}], '
            '"Output" -> NetDecoder[{"Class", {"no", "yes"}}]]')


@pytest.fixture(autouse=True)
def cheap_backend(monkeypatch):
    monkeypatch.setenv("WLBRIDGE_COMPILE_BACKEND", "aot_eager")


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))

    def forward(self, inputs, lengths=None):
        logits = self.net(inputs["Input"])
        target = inputs["Output"] - 1
        return {"Output": nn.functional.cross_entropy(logits, target, reduction="none"),
                "$ErrorRate": (logits.argmax(-1) != target).float()}


def blobs(n: int) -> Dataset:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)).astype(np.float32) + 2 * np.eye(3, 4)[y]
    return Dataset({"Input": x, "Output": y + 1})


def run(compiled: bool, method: str = "ADAM", updates: int = 1):
    cfg = TrainConfig(batch_size=16, max_training_rounds=3, random_seed=3,
                      method=MethodSpec(name=method, learning_rate=0.02),
                      compile_training_step=compiled, updates_per_batch=updates)
    return train(Classifier(), blobs(120), cfg)


@pytest.mark.parametrize(("method", "updates"), [("ADAM", 1), ("SGD", 2)])
def test_compiled_step_trains_like_the_eager_step(method, updates):
    """Losses, error rates and weights of the compiled step are the eager step's: the
    optimizer's schedule (ADAM's bias correction, SGD's polynomial decay over T) and
    UpdatesPerBatch survive compilation; 24 batches run on three graphs."""
    import torch._dynamo as dynamo

    eager = run(False, method, updates)
    dynamo.reset()
    dynamo.utils.counters.clear()
    comp = run(True, method, updates)
    # reused: one forward graph for the one shape, the update twice (static t, symbolic t)
    assert dynamo.utils.counters["stats"]["unique_graphs"] <= 3
    assert len(comp.batch_losses) == 3 * 8
    np.testing.assert_allclose(comp.batch_losses, eager.batch_losses, rtol=1e-6, atol=1e-7)
    assert [pytest.approx(m) for m in comp.batch_measurements] == eager.batch_measurements
    assert comp.optimizer_steps == eager.optimizer_steps == 3 * 8 * updates
    for k, v in eager.final_state.items():
        torch.testing.assert_close(comp.final_state[k], v, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_one_graph_per_shape_reused_and_logged():
    """An LSTM over sequence buckets: each bucket shape is compiled once, at its first
    batch, and logged once as CompiledStepCompile on the Executor channel, beside the
    bucket executor's own entry."""
    tag = f"exe{uuid.uuid4().hex[:8]}"
    data = tuple(wl.Rule("ab"[: 1 + i % 2] * (1 + 2 * (i % 3 == 0)), "yes" if i % 2 else "no")
                 for i in range(32))
    log = wlbridge.net_train(
        CHAR_NET, data, "BatchLossList", options=f'MaxTrainingRounds -> 3, BatchSize -> 8, '
        f'RandomSeeding -> 2, {QUIET}, "InternalOptions" -> {{"CompileTrainingStep" -> True, '
        f'"ExecutorLogging" -> Bag["{tag}"]}}')
    assert len(log) == 3 * 4
    compiles = [e.args[1] for e in bag(tag) if str(e.args[1][0]) == "CompiledStepCompile"]
    buckets = {e.args[1][1]["Input"] for e in bag(tag)
               if str(e.args[1][0]) in ("NetExecutorCreate", "NetExecutorReshape")}
    assert len(compiles) >= 2 and len(compiles) == len({c[1]["Input"] for c in compiles})
    assert {c[1]["Input"] for c in compiles} == buckets
    assert all(c[2] > 0 for c in compiles)


def test_a_failing_compiler_falls_back_to_eager_with_one_message(monkeypatch):
    """A backend that cannot compile: one NetTrain::stepcompile warning, and the run is
    the eager run."""
    monkeypatch.setenv("WLBRIDGE_COMPILE_BACKEND", "no_such_backend")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        comp = run(True)
    msgs = [str(w.message) for w in caught if issubclass(w.category, StepCompileWarning)]
    assert len(msgs) == 1 and msgs[0].startswith("NetTrain::stepcompile:")
    assert comp.batch_losses == run(False).batch_losses


def test_the_internal_option_reaches_the_step():
    """"CompileTrainingStep" -> True is the engine's compile_training_step; the loop's step
    is then a CompiledStep around the TrainingStep."""
    from engine.loop_run import Run
    from wlbridge.options import resolve

    cfg = resolve('"InternalOptions" -> {"CompileTrainingStep" -> True}')
    assert cfg.compile_training_step is True and resolve(None).compile_training_step is False
    cfg.max_training_rounds, cfg.batch_size = 1, 8
    run_ = Run(Classifier(), blobs(16), cfg, None, None, None, None)
    run_._plan()
    run_._prepare_periodic()
    assert isinstance(run_.step, CompiledStep)
