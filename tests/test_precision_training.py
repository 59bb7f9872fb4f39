"""WorkingPrecision through the training loop (reference §8.2, §8.3).

The loop routes every precision through `engine.precision.PrecisionPolicy`: Real16 trains a
float16 module from float32 masters with the loss rescaled, Mixed autocasts on CUDA only.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engine.loop
from engine.errors import EngineError
from engine.events import Events
from engine.spec import Dataset, MethodSpec, TrainConfig


class _Line(torch.nn.Module):
    """y = x·w + b with a per-example squared error; float inputs follow the module dtype."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1)

    def forward(self, inputs, lengths):
        y = self.lin(inputs["x"]).squeeze(-1)
        return {"Loss": (y - inputs["t"]) ** 2}


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return Dataset({"x": x, "t": (x @ np.array([0.3, -0.7, 1.1], np.float32)).astype(np.float32)})


def _config(precision, **kw):
    return TrainConfig(**{"batch_size": 16, "max_training_rounds": 3, "random_seed": 1,
                          "method": MethodSpec(name="ADAM", learning_rate=0.01),
                          "working_precision": precision, **kw})


def test_real16_runs_float16_and_hands_back_float32_masters():
    """§8.2: the module computes in float16 while training, the optimizer steps float32
    masters, and the module handed back holds those masters as float32 (values a float16
    array could not store)."""
    torch.set_num_threads(1)
    seen = []
    ev = Events({"Backend": lambda t, b, v: seen.append(v)})
    module = _Line()
    res = engine.loop.train(module, _data(), _config("Real16", max_training_batches=1), events=ev)
    addmm = [v for v in seen if v[0] == "aten::addmm"]
    assert addmm and addmm[0][1][2] == "float16"
    w = module.lin.weight.detach()
    assert w.dtype == torch.float32
    assert not torch.equal(w, w.half().float())  # not float16-representable: the masters
    assert res.final_state["lin.weight"].dtype == torch.float32


def test_real16_with_validation_restores_the_best_masters():
    """The best-validation snapshot in Real16 is taken from the masters, so TrainedNet is the
    exact float32 net of that round."""
    torch.set_num_threads(1)
    module = _Line()
    res = engine.loop.train(module, _data(), _config("Real16", validation_set=_data(20)))
    assert module.lin.weight.dtype == torch.float32
    assert np.all(np.isfinite(res.batch_losses)) and res.round_losses[-1] < res.round_losses[0]


def _halved_targets(n=20):
    """Validation targets half the training ones: the validation loss falls, then rises as
    the net moves on to the training targets, so the best round is an early one."""
    d = _data(n)
    return Dataset({"x": d.columns["x"], "t": d.columns["t"] * 0.5})


@pytest.mark.parametrize("precision", ["Real16", "Real32"])
def test_best_validation_net_is_that_rounds_exact_weights(precision):
    """TrainedNet is the best round's net bit for bit: the same run stopped at that round
    hands back exactly those arrays. In Real16 they are the float32 masters (a snapshot
    of the float16 module would differ in the low bits and fail here)."""
    from test_loop import best_round_net_check

    torch.set_num_threads(1)
    method = MethodSpec(name="ADAM", learning_rate=0.05)
    best_round_net_check(_Line, _data(), lambda **kw: _config(
        precision, validation_set=_halved_targets(), method=method, **kw), 20)
    torch.manual_seed(1)
    module = _Line()
    engine.loop.train(module, _data(), _config(precision, validation_set=_halved_targets(),
                                               method=method, max_training_rounds=20))
    if precision == "Real16":
        w = module.lin.weight.detach()
        assert not torch.equal(w, w.half().float())  # masters, not float16 values


def test_real64_module_and_inputs_are_float64():
    torch.set_num_threads(1)
    module = _Line()
    engine.loop.train(module, _data(), _config("Real64"))
    assert module.lin.weight.dtype == torch.float64


def test_mixed_needs_a_gpu():
    """§8.3: "Mixed" on the CPU is General::nninvmixed, one clear line."""
    with pytest.raises(EngineError, match="nninvmixed"):
        engine.loop.train(_Line(), _data(), _config("Mixed"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="Mixed precision needs a CUDA GPU")
def test_mixed_autocasts_matmuls_to_float16_on_cuda():
    """§8.3: float32 arrays, float16 matrix products (torch.autocast), float32 weights kept."""
    seen = []
    ev = Events({"Backend": lambda t, b, v: seen.append(v)})
    module = _Line()
    engine.loop.train(module, _data(), _config("Mixed", target_device="GPU",
                                               max_training_batches=2), events=ev)
    assert module.lin.weight.dtype == torch.float32
    assert any(v[0] == "aten::addmm" and v[1][2] == "float16" for v in seen)


def test_real16_leaves_frozen_arrays_exactly_as_they_were():
    """A frozen array (LearningRateMultipliers 0) is not rounded to float16 by Real16
    training: the net handed back holds its original float32 value."""
    torch.set_num_threads(1)
    module = _Line()
    before = module.lin.bias.detach().clone()
    assert not torch.equal(before, before.half().float())
    engine.loop.train(module, _data(), _config("Real16", max_training_batches=2,
                                               learning_rate_multipliers=[(("lin", "bias"),
                                                                           0.0)]))
    assert module.lin.bias.dtype == torch.float32 and torch.equal(module.lin.bias.detach(),
                                                                  before)
