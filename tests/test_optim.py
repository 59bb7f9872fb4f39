"""Wolfram's optimizer steps checked against hand-computed updates (reference §9.4)."""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import EngineError
from engine.optim import WolframOptimizer, resolve_method, schedule_factor
from engine.spec import MethodSpec


def _step(method: MethodSpec, w0: float, grads: list[float], total: float = math.inf,
          mult: float = 1.0) -> tuple[list[float], WolframOptimizer]:
    w = torch.tensor([w0], dtype=torch.float64, requires_grad=True)
    opt = WolframOptimizer(resolve_method(method), {("w",): w}, {("w",): mult}, total)
    out = []
    for g in grads:
        w.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        out.append(float(w.detach()))
    return out, opt


def test_adam_folds_bias_correction_into_lr_with_epsilon_1e5():
    """§9.4: lr_t = LR·sqrt(1−β2^t)/(1−β1^t); ε = 1e-5 added to sqrt(v) of raw moments."""
    ws, opt = _step(MethodSpec("ADAM"), 1.0, [0.5, -0.2])
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-5
    w, m, v = 1.0, 0.0, 0.0
    for t, g in enumerate([0.5, -0.2], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        lrt = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        w -= lrt * m / (math.sqrt(v) + eps)
        assert ws[t - 1] == pytest.approx(w, rel=1e-12)
    assert opt.learning_rate == pytest.approx(lr * math.sqrt(1 - b2**2) / (1 - b1**2))
    # the reported rate at t = 1 is ~3.2e-4 with the defaults (§9.4)
    assert opt.current_rate(1) == pytest.approx(3.16e-4, rel=1e-2)


def test_sgd_momentum_093_and_polynomial_schedule():
    """§9.4: SGD defaults LR 0.01, momentum 0.93, Polynomial sqrt(1 − min(t,T)/(T+1))."""
    T = 4
    ws, _ = _step(MethodSpec("SGD"), 2.0, [1.0, 1.0, -0.5], total=T)
    w, mom = 2.0, 0.0
    for t, g in enumerate([1.0, 1.0, -0.5], start=1):
        lrt = 0.01 * math.sqrt(1 - min(t, T) / (T + 1))
        mom = 0.93 * mom - lrt * g
        w += mom
        assert ws[t - 1] == pytest.approx(w, rel=1e-12)


def test_rmsprop_centred_with_epsilon_inside_the_root():
    """§9.4: RMSProp is MXNet's rmspropalex: β 0.95, momentum 0.9, ε 1e-6 inside the sqrt."""
    grads = [0.3, -0.1, 0.7]
    ws, _ = _step(MethodSpec("RMSProp"), 0.5, grads)
    w, n, gm, d = 0.5, 0.0, 0.0, 0.0
    for i, g in enumerate(grads):
        n = 0.95 * n + 0.05 * g * g
        gm = 0.95 * gm + 0.05 * g
        d = 0.9 * d - 0.001 * g / math.sqrt(n - gm * gm + 1e-6)
        w += d
        assert ws[i] == pytest.approx(w, rel=1e-12)


def test_signsgd_moves_by_the_learning_rate():
    ws, _ = _step(MethodSpec("SignSGD", momentum=0.0), 1.0, [3.0, -0.001])
    assert ws == pytest.approx([0.99, 1.0])


def test_l2_gradient_and_weight_clipping_and_multiplier():
    """L2Regularization adds wd·w to the gradient (ADAM), GradientClipping clips it,
    WeightClipping clamps weights after the step, and a multiplier scales the rate."""
    m = MethodSpec("SGD", momentum=0.0, learning_rate_schedule=None, learning_rate=0.1,
                   gradient_clipping=0.5, weight_clipping=0.95, l2_regularization=0.1)
    ws, _ = _step(m, 1.0, [10.0], mult=2.0)
    # sgd: w = (1 − lr·wd)·w − lr·clip(g); lr = 0.1·2
    assert ws[0] == pytest.approx(min((1 - 0.2 * 0.1) * 1.0 - 0.2 * 0.5, 0.95))
    m2 = MethodSpec("SGD", momentum=0.0, learning_rate_schedule=None, learning_rate=0.1,
                    weight_clipping=0.5)
    ws2, _ = _step(m2, 1.0, [0.1])
    assert ws2[0] == pytest.approx(0.5)


def test_custom_schedule_receives_t_minus_1_and_T():
    seen = []

    def f(t, T):
        seen.append((t, T))
        return 0.5

    assert schedule_factor(f, 1, 10) == 0.5
    assert schedule_factor(f, 20, 10) == 0.5
    assert seen == [(0, 10), (10, 10)]
    with pytest.raises(EngineError, match="badlrs"):
        schedule_factor(lambda t, T: 2.0, 1, 10)


def test_bad_method_settings_are_messages():
    with pytest.raises(EngineError, match="invmethod"):
        resolve_method(MethodSpec("Newton"))
    with pytest.raises(EngineError, match="Beta1"):
        resolve_method(MethodSpec("ADAM", beta1=1.5))
