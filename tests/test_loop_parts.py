"""The loop in parts (DESIGN rule 7, issue 11): the training step as a unit, listeners that
watch every batch, and the rooms' shape (sizes, one-way imports)."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import torch
from torch import nn

from engine.events import Events
from engine.loop import LoopListener, TrainingStep, train
from engine.optim import WolframOptimizer, resolve_method
from engine.precision import PrecisionPolicy
from engine.spec import Callback, Dataset, Interval, MethodSpec, TrainConfig

ENGINE = pathlib.Path(__file__).resolve().parents[1] / "engine"


class Line(nn.Module):
    """y = w·x + b with a per-example squared loss and a measurement of |error| > 1."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.5, -1.0]]))
            self.lin.bias.fill_(0.25)

    def forward(self, inputs, lengths=None):
        err = self.lin(inputs["Input"]).squeeze(1) - inputs["Output"]
        return {"Output": err * err, "$ErrorRate": (err.abs() > 1).float()}


class _Meter:
    names = ("ErrorRate",)

    def __bool__(self):
        return True

    def stats(self, out, inputs, lengths):
        return out["$ErrorRate"][:, None]


def _batch():
    x = torch.tensor([[1.0, 2.0], [0.0, 1.0], [3.0, -1.0]])
    y = torch.tensor([1.0, -2.0, 0.5])
    return {"Input": x, "Output": y}


def test_training_step_runs_updates_per_batch_sgd_updates():
    """§8.1: UpdatesPerBatch -> 2 is two forward/backward/update passes on the same batch;
    the step returns the last pass's loss and error sums, on the device, unread."""
    module = Line()
    method = resolve_method(MethodSpec(name="SGD", learning_rate=0.1, momentum=0.0,
                                       learning_rate_schedule=None))
    params = {("w",): module.lin.weight, ("b",): module.lin.bias}
    opt = WolframOptimizer(method, params)
    step = TrainingStep(module, opt, PrecisionPolicy("Real32"), _Meter(), 2, Events())
    inputs = _batch()
    # the same two updates by hand
    w, b = torch.tensor([0.5, -1.0]), torch.tensor(0.25)
    for _ in range(2):
        err = inputs["Input"] @ w + b - inputs["Output"]
        expected_loss = float((err * err).mean())
        gw = (2 * err[:, None] * inputs["Input"]).mean(0)
        gb = (2 * err).mean()
        w, b = w - 0.1 * gw, b - 0.1 * gb
    loss, stats, out = step(module, inputs, None)
    assert opt.t == 2
    assert abs(loss.item() - expected_loss) < 1e-6
    assert torch.allclose(module.lin.weight.detach()[0], w, atol=1e-6)
    assert abs(module.lin.bias.item() - b.item()) < 1e-6
    assert stats is not None and stats.shape == (1,)
    assert set(out) == {"Output", "$ErrorRate"}


class Watcher(LoopListener):
    def __init__(self):
        self.batches: list[tuple[float, float]] = []
        self.periodic_clocks: list[tuple] = []
        self.events: list[str] = []
        self.started_at = self.finished_with = None

    def started(self, run):
        self.started_at = run.abs_batch

    def batch_done(self, run, loss, stats, seconds):
        self.batches.append((loss, seconds))

    def periodic(self, run, clock):
        self.periodic_clocks.append(clock)

    def event(self, run, name, guard=True):
        self.events.append(name)
        return []

    def finished(self, run):
        self.finished_with = run.result.total_batches


def _data(n=40):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    return Dataset({"Input": x, "Output": (x @ np.array([1.0, 2.0])).astype(np.float32)})


def test_listener_sees_every_batch_with_its_time():
    """A listener (e.g. a thread-count governor) gets each batch's loss and wall time, the
    periodic point of every batch, and the named events of §9.6 in order."""
    w = Watcher()
    torch.manual_seed(0)
    r = train(Line(), _data(), TrainConfig(batch_size=8, max_training_rounds=3),
              listeners=[w])
    assert w.started_at == 0 and w.finished_with == 15
    assert [v for v, _ in w.batches] == r.batch_losses
    assert all(s > 0 for _, s in w.batches)
    assert [c[0] for c in w.periodic_clocks] == list(range(1, 16))
    assert [c[1] for c in w.periodic_clocks][4:6] == [1, 1]  # round 1 done at batch 5
    assert w.events[0] == "TrainingStarted" and w.events[-1] == "TrainingComplete"
    assert w.events.count("RoundComplete") == 3 and w.events.count("RoundStarted") == 2


def test_listener_sees_callback_stop():
    """A callback's "StopTraining" ends the run; listeners still get `finished`."""
    w = Watcher()
    stop = Callback(lambda info: "StopTraining" if info["AbsoluteBatch"] >= 4 else None,
                    interval=Interval(batches=1))
    r = train(Line(), _data(), TrainConfig(batch_size=8, max_training_rounds=3,
                                           training_progress_function=[stop]), listeners=[w])
    assert r.reason == "ManualStop" and r.total_batches == 4
    assert w.finished_with == r.total_batches == len(w.batches)


def _functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _imports(tree) -> set[str]:
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module:
            out.add(n.module)
        elif isinstance(n, ast.Import):
            out.update(a.name for a in n.names)
    return out


def test_loop_and_report_rooms_are_small_and_one_way():
    """No loop or report module over 400 lines or with a function over 80; the loop's parts
    never import its door (engine.loop), and the report forms never import engine.reporting
    (which picks among them), so the imports run one way."""
    files = sorted(ENGINE.glob("loop*.py")) + sorted(ENGINE.glob("report*.py")) + \
        [ENGINE / "checkpoint.py"]
    assert len(files) >= 14
    for f in files:
        text = f.read_text()
        assert len(text.splitlines()) <= 400, f.name
        tree = ast.parse(text)
        for fn in _functions(tree):
            assert fn.end_lineno - fn.lineno + 1 <= 80, f"{f.name}:{fn.name}"
        imports = _imports(tree)
        if f.name.startswith("loop_"):
            assert "engine.loop" not in imports, f.name
        if f.name.startswith("report_"):
            assert "engine.reporting" not in imports, f.name
