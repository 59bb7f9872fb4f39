"""GradientLogging values (engine.gradients): per-array gradient and update magnitudes, §3.8."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.gradients import GradientRecorder, l2_norm, linf_norm


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def _data(n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 4, generator=g), torch.randn(n, 2, generator=g)


def _per_example_loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((net(x) - y) ** 2).sum(dim=1)


def test_gradient_magnitudes_are_norms_of_batch_summed_gradients():
    """g[i] = normFn(gradient of the SUM of per-example losses) (§3.8); a loop that uses the
    mean loss passes grad_scale = batch size."""
    x, y = _data()
    ref = _net()
    _per_example_loss(ref, x, y).sum().backward()
    expected = [float(np.linalg.norm(p.grad.numpy().ravel())) for p in ref.parameters()]

    net = _net()
    named = list(net.named_parameters())
    rec = GradientRecorder(named, norm_fn=l2_norm, grad_scale=len(x))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rec.before_update()
    _per_example_loss(net, x, y).mean().backward()
    opt.step()
    value = rec.after_update()
    assert list(value) == ["GradientMagnitudes", "UpdateMagnitudes"]
    g = value["GradientMagnitudes"]
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == (4,)
    np.testing.assert_allclose(g, expected, rtol=1e-5)
    assert rec.names[0] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_update_magnitudes_equal_the_applied_step():
    """u[i] = normFn(after - before): for plain SGD, |Δw| = lr·|mean gradient| (§3.8)."""
    x, y = _data()
    net = _net()
    named = list(net.named_parameters())
    rec = GradientRecorder(named, norm_fn=l2_norm)
    before = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    rec.before_update()
    _per_example_loss(net, x, y).mean().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    opt.step()
    u = rec.after_update()["UpdateMagnitudes"]
    deltas = [float(torch.linalg.vector_norm(p.detach() - b)) for p, b in zip(net.parameters(), before, strict=True)]
    np.testing.assert_allclose(u, deltas, rtol=1e-6)
    np.testing.assert_allclose(u, [0.05 * float(torch.linalg.vector_norm(g)) for g in grads], rtol=1e-4)


def test_default_norm_is_l_infinity():
    """The default GradientNormFunction is Abs /* Max (§1.2)."""
    x, y = _data()
    net = _net()
    rec = GradientRecorder(list(net.named_parameters()))
    rec.before_update()
    _per_example_loss(net, x, y).sum().backward()
    value = rec.after_update()
    expected = [float(p.grad.abs().max()) for p in net.parameters()]
    np.testing.assert_allclose(value["GradientMagnitudes"], expected, rtol=1e-6)
    assert np.all(value["UpdateMagnitudes"] == 0)  # no optimizer step: nothing changed
    assert linf_norm(torch.tensor([-3.0, 2.0])) == 3.0


def test_auxiliary_arrays_come_first_in_update_magnitudes():
    """u covers auxiliary arrays (BatchNorm moving statistics) then trainable ones, so it is
    longer than g (§3.8)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    net.train()
    aux = [("1.running_mean", net[1].running_mean), ("1.running_var", net[1].running_var)]
    rec = GradientRecorder(list(net.named_parameters()), aux, norm_fn=l2_norm)
    old_mean = net[1].running_mean.clone()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    rec.before_update()
    net(_data()[0]).pow(2).sum().backward()
    opt.step()
    value = rec.after_update()
    assert value["GradientMagnitudes"].shape == (4,)
    assert value["UpdateMagnitudes"].shape == (6,)
    assert value["UpdateMagnitudes"][0] == pytest.approx(
        float(torch.linalg.vector_norm(net[1].running_mean - old_mean)), rel=1e-6)
    assert rec.names[1][:2] == ["1.running_mean", "1.running_var"]


def test_array_without_gradient_counts_as_zero_and_custom_norms():
    """A frozen-path array that got no gradient reports 0; any Tensor -> float works as normFn."""
    net = _net()
    extra = nn.Parameter(torch.ones(3))
    rec = GradientRecorder(list(net.named_parameters()) + [("extra", extra)],
                           norm_fn=lambda t: float(t.abs().sum()))
    rec.before_update()
    net(_data()[0]).sum().backward()
    g = rec.after_update()["GradientMagnitudes"]
    assert g[-1] == 0.0 and np.all(g[:-1] > 0)


def test_after_update_needs_a_snapshot():
    rec = GradientRecorder(list(_net().named_parameters()))
    with pytest.raises(RuntimeError, match="before_update"):
        rec.after_update()
