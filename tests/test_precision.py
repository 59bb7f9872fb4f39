"""WorkingPrecision and LowPrecisionGradientRescaling (engine.precision), §8.2 and §8.3."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.errors import EngineError
from engine.precision import PrecisionPolicy


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(16, 4, generator=g), torch.randn(16, 2, generator=g)


def _train(policy: PrecisionPolicy, steps: int, lr: float = 0.1, loss_factor: float = 1.0,
           x: torch.Tensor | None = None, y: torch.Tensor | None = None):
    net = _net()
    params = policy.prepare(net)
    opt = torch.optim.SGD(params.values(), lr=lr)
    if x is None:
        x, y = _data()
    xs, ys = policy.cast_inputs((x, y))
    losses = []
    for _ in range(steps):
        policy.zero_grad(opt)
        with policy.autocast():
            loss = ((net(xs) - ys) ** 2).float().mean() * loss_factor
        policy.backward(loss)
        policy.unscale_and_step(opt)
        losses.append(float(loss.detach()))
    return net, params, losses


def test_real64_trains_in_float64():
    policy = PrecisionPolicy("Real64")
    net, params, losses = _train(policy, 20)
    assert policy.module_dtype == torch.float64 and policy.dtype_code == 1
    assert all(p.dtype == torch.float64 and p.grad.dtype == torch.float64 for p in net.parameters())
    assert losses[-1] < losses[0]
    assert policy.loss_scale == 1.0  # rescaling is for Real16 only (§8.2)


def test_real32_is_plain():
    policy = PrecisionPolicy("Real32", rescale=5)
    net, params, losses = _train(policy, 5)
    assert policy.loss_scale == 1.0 and policy.dtype_code == 0
    assert all(params[n] is p for n, p in net.named_parameters())
    assert losses[-1] < losses[0]


def test_real16_uses_half_module_and_float32_masters():
    policy = PrecisionPolicy("Real16")
    net, params, losses = _train(policy, 20)
    assert policy.loss_scale == 5.0 and policy.dtype_code == 2
    assert all(p.dtype == torch.float16 for p in net.parameters())
    assert all(m.dtype == torch.float32 for m in params.values())
    assert losses[-1] < losses[0]
    # the half module holds the masters rounded to half
    for (_, p), m in zip(net.named_parameters(), params.values(), strict=True):
        torch.testing.assert_close(p.float(), m.half().float())
    trained = policy.trained_parameters()
    assert all(t.dtype == torch.float32 for t in trained.values())


def test_real16_rescaling_leaves_the_update_unchanged_without_underflow():
    """Scaling the loss by 5 and dividing the gradients by 5 gives the same steps (§8.2)."""
    _, p5, _ = _train(PrecisionPolicy("Real16", rescale=5), 3)
    _, p1, _ = _train(PrecisionPolicy("Real16", rescale=1), 3)
    for a, b in zip(p5.values(), p1.values(), strict=True):
        torch.testing.assert_close(a, b, rtol=2e-3, atol=2e-4)


def test_real16_module_gradients_carry_the_scale():
    """The raw (module) gradient is scaled, as NetTrain's gradient arrays are (§3.8)."""
    x, y = _data()
    policy = PrecisionPolicy("Real16", rescale=4)  # a power of two: exact in half
    net = _net()
    params = policy.prepare(net)
    loss = ((net(x.half()) - y.half()) ** 2).float().mean()
    policy.backward(loss)
    policy.unscale_gradients()
    for (_, p), m in zip(net.named_parameters(), params.values(), strict=True):
        torch.testing.assert_close(p.grad.float() / 4, m.grad)


def test_real16_rescaling_rescues_underflowing_gradients():
    """Gradients ~1e-8 are zero in float16 without rescaling; rescaling 5 keeps them (§8.2)."""
    def grads(rescale: float) -> torch.Tensor:
        policy = PrecisionPolicy("Real16", rescale=rescale)
        torch.manual_seed(0)
        lin = nn.Linear(4, 3)
        params = policy.prepare(lin)
        x = torch.full((2, 4), 1e-4)
        loss = (lin(policy.cast_inputs(x)) * 1e-4).sum() / 2  # d loss / d weight = 1e-8
        policy.backward(loss)
        policy.unscale_gradients()
        return params["weight"].grad

    g1, g5 = grads(1.0), grads(5.0)
    assert int((g1 == 0).sum()) == g1.numel()
    assert int((g5 == 0).sum()) == 0
    torch.testing.assert_close(g5, torch.full_like(g5, 1e-8), rtol=0.3, atol=0)


def test_inputs_and_errors():
    policy = PrecisionPolicy("Real64")
    out = policy.cast_inputs({"x": torch.zeros(2), "i": torch.tensor([1, 2])})
    assert out["x"].dtype == torch.float64 and out["i"].dtype == torch.int64
    with pytest.raises(EngineError, match="badwp") as e:
        PrecisionPolicy("Real8")
    assert str(e.value).startswith("General::badwp:")
    with pytest.raises(EngineError, match="nninvmixed"):
        PrecisionPolicy("Mixed", device="cpu")
    with pytest.raises(EngineError, match="LowPrecisionGradientRescaling"):
        PrecisionPolicy("Real16", rescale=-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="Mixed precision needs a GPU")
def test_mixed_autocasts_on_gpu():
    policy = PrecisionPolicy("Mixed", device="cuda")
    net = _net().cuda()
    policy.prepare(net)
    with policy.autocast():
        out = net(torch.randn(3, 4, device="cuda"))
    assert out.dtype == torch.float16
    assert all(p.dtype == torch.float32 for p in net.parameters()) and policy.dtype_code == 0
