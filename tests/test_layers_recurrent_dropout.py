"""The recurrent layers' "Dropout" option as NeuralNetworks defines it (RecurrentDropout: a
number p means {"VariationalWeights" -> p}, DropConnect on the weights; "VariationalInput"
drops the input's contribution to each gate with a mask kept for the whole sequence; dropout
acts in training only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layer_checks import assert_round_trip, message, train

import wlbridge

RNG = np.random.default_rng(14)
IDENTITY_RNN = ('BasicRecurrentLayer[4, "InputWeights" -> IdentityMatrix4, "StateWeights" -> Zero4, '
                '"Biases" -> {0, 0, 0, 0}, "Dropout" -> SPEC]')


def identity_rnn(spec: str) -> wlbridge.Net:
    eye, zero = wlbridge.to_text(np.eye(4).tolist()), wlbridge.to_text(np.zeros((4, 4)).tolist())
    layer = IDENTITY_RNN.replace("IdentityMatrix4", eye).replace("Zero4", zero).replace("SPEC", spec)
    return wlbridge.Net(f'NetChain[{{{layer}}}, "Input" -> {{6, 4}}]')


@pytest.mark.parametrize("spec,p,per_example", [('{"VariationalInput" -> 0.5}', 0.5, True),
                                                ("0.5", 0.5, False), ('{"VariationalWeights" -> 0.25}', 0.25, False)])
def test_masks_are_kept_for_the_whole_sequence(spec, p, per_example):
    """s_t = tanh(mask * x_t / (1 - p)) with x_t = 1: each unit is 0 or tanh(1/(1-p)) at every
    step alike (the mask does not change along the sequence). VariationalInput draws a mask per
    example; DropConnect ("VariationalWeights", or a bare number) one per batch of weights."""
    m = identity_rnn(spec).module
    m.train()
    torch.manual_seed(0)
    with torch.no_grad():
        y = m({"Input": torch.ones(256, 6, 4)})["Output"].numpy()
    np.testing.assert_allclose(y, np.broadcast_to(y[:, :1], y.shape))  # same at every step
    kept = np.isclose(y[:, 0], np.tanh(1 / (1 - p)), rtol=1e-5)
    assert np.all(kept | np.isclose(y[:, 0], 0, atol=1e-7))
    if per_example:
        assert abs(kept.mean() - (1 - p)) < 0.1
    else:
        assert np.all(kept == kept[:1])  # one weight mask for the whole batch
    m.eval()
    with torch.no_grad():  # evaluation: no dropout
        np.testing.assert_allclose(m({"Input": torch.ones(2, 6, 4)})["Output"].numpy(), np.tanh(1.0), rtol=1e-6)


def test_variational_input_masks_each_gate_separately():
    """A GRU with VariationalInput against a numpy GRU fed one input mask per gate (drawn as the
    layer draws them: uniform numbers >= p, in the fused gate order Reset, Input, Memory), kept
    for the whole sequence. State weights are zero, so h' = (1 - z) n + z h with
    z = LogisticSigmoid[Wz (mz x)/(1-p)] and n = Tanh[Wm (mm x)/(1-p)]."""
    p = 0.5
    wr, wz, wm = (RNG.normal(size=(3, 2)) for _ in range(3))
    zero = wlbridge.to_text(np.zeros((3, 3)).tolist())
    arrays = ", ".join(f'"{g}GateInputWeights" -> {wlbridge.to_text(w.tolist())}, "{g}GateStateWeights" -> {zero}, '
                       f'"{g}GateBiases" -> {{0, 0, 0}}' for g, w in (("Reset", wr), ("Input", wz), ("Memory", wm)))
    n = wlbridge.Net(f'NetChain[{{GatedRecurrentLayer[3, {arrays}, "Dropout" -> {{"VariationalInput" -> {p}}}]}}, '
                     '"Input" -> {5, 2}]')
    x = RNG.normal(size=(4, 5, 2)).astype(np.float32)
    n.module.train()
    torch.manual_seed(7)
    masks = (torch.rand(4, 1, 3, 2) >= p).numpy().astype(float)[:, 0]  # the draw the layer makes
    torch.manual_seed(7)
    with torch.no_grad():
        y = n.module({"Input": torch.as_tensor(x)})["Output"].numpy()
    for b in range(4):
        h = np.zeros(3)
        for t in range(5):
            z = 1 / (1 + np.exp(-(wz @ (masks[b, 1] * x[b, t] / (1 - p)))))
            cand = np.tanh(wm @ (masks[b, 2] * x[b, t] / (1 - p)))
            h = (1 - z) * cand + z * h
            np.testing.assert_allclose(y[b, t], h, rtol=1e-4, atol=1e-5)


def test_trained_net_with_dropout_writes_back():
    text = ('NetChain[{LongShortTermMemoryLayer[6, "Dropout" -> {"VariationalWeights" -> 0.1, '
            '"VariationalInput" -> 0.1}], SequenceLastLayer[], LinearLayer[1]}, "Input" -> {"Varying", 2}, '
            '"Output" -> 1]')
    seqs = [RNG.normal(size=(int(k), 2)).astype(np.float32) for k in RNG.integers(2, 7, 48)]
    y = np.array([[s[:, 0].sum()] for s in seqs], np.float32)
    trained, losses = train(text, {"Input": seqs, "Output": y})
    assert losses[-1] < losses[0]
    assert '"VariationalInput" -> 0.1' in assert_round_trip(trained, seqs[:4])


@pytest.mark.parametrize("spec,words", [
    ('{"VariationalState" -> 0.2}', "VariationalState"),
    ('{"StateUpdate" -> 0.2}', "StateUpdate"),
    ("1.5", "probability"),
])
def test_bad_dropout_gives_one_message(spec, words):
    got = message(f'NetChain[{{GatedRecurrentLayer[3, "Dropout" -> {spec}]}}, "Input" -> {{5, 2}}]')
    assert "NetTrain::" in got and words in got
