"""LongShortTermMemoryLayer, GatedRecurrentLayer, BasicRecurrentLayer: Wolfram equations, arrays, masking.

Equations and array layouts from wl-nets.md §2.12 (LSTM), §2.13 (GRU), §2.14 (BasicRecurrent);
masking of variable-length sequences from §8.10; bias conventions from §8.5–8.6.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import EngineError
from engine.layers import lookup
from engine.layers.sequence import last_valid
from engine.spec import LayerSpec, LengthVar, TensorType

torch.set_num_threads(1)

KINDS = ["LongShortTermMemoryLayer", "GatedRecurrentLayer", "BasicRecurrentLayer"]
K, N = 3, 5
PATH = ("NetChain", '"1"')


def build(kind: str, arrays: dict | None = None, **args):
    spec = LayerSpec(kind, {"OutputSize": N, **args}, arrays=dict(arrays or {}))
    module, out = lookup(kind).build(spec, {"Input": TensorType((LengthVar(0), K))}, PATH)
    return module, out


def randomized(kind: str, seed: int = 0):
    """A layer with every array (biases included) random, so no term of the equations is zero."""
    module, _ = build(kind)
    rng = np.random.default_rng(seed)
    module.set_arrays({k: rng.normal(0, 0.6, v.shape) for k, v in module.get_arrays().items()})
    return module


def sig(x):
    return 1 / (1 + np.exp(-x))


def numpy_reference(kind: str, a: dict[str, np.ndarray], xs: np.ndarray, s0=None, c0=None):
    """Wolfram's equations (wl-nets.md §2.12–2.14) on one unpadded sequence, from exported arrays."""
    s = np.zeros(N) if s0 is None else s0
    c = np.zeros(N) if c0 is None else c0
    out = []

    def gate(g, x):
        return a[f"{g}InputWeights"] @ x + a[f"{g}Biases"] + a[f"{g}StateWeights"] @ s

    for x in xs:
        if kind == "LongShortTermMemoryLayer":
            i, f, o = sig(gate("InputGate", x)), sig(gate("ForgetGate", x)), sig(gate("OutputGate", x))
            m = np.tanh(gate("MemoryGate", x))
            c = f * c + i * m
            s = o * np.tanh(c)
        elif kind == "GatedRecurrentLayer":
            i, r = sig(gate("InputGate", x)), sig(gate("ResetGate", x))
            m = np.tanh(a["MemoryGateInputWeights"] @ x + a["MemoryGateBiases"] + r * (a["MemoryGateStateWeights"] @ s))
            s = (1 - i) * m + i * s
        else:
            s = np.tanh(gate("", x))
        out.append(s)
    return np.array(out), s, c


def run(module, seqs: list[np.ndarray], steps: int | None = None, pad_value: float = 0.0):
    steps = steps or max(len(q) for q in seqs)
    x = torch.full((len(seqs), steps, K), pad_value)
    for i, q in enumerate(seqs):
        x[i, : len(q)] = torch.as_tensor(q, dtype=torch.float32)
    lens = torch.tensor([len(q) for q in seqs])
    with torch.no_grad():
        return module({"Input": x}, {0: lens}), lens


@pytest.mark.parametrize("kind", KINDS)
def test_forward_matches_wolfram_equations(kind):
    """§2.12–2.14: outputs equal a numpy implementation of Wolfram's equations on the exported
    arrays, for each example of a padded batch (each stopping at its own length)."""
    module = randomized(kind)
    arrays = module.get_arrays()
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(L, K)) for L in (7, 2, 5, 1)]
    res, _ = run(module, seqs)
    for i, q in enumerate(seqs):
        ref, s, _c = numpy_reference(kind, arrays, q)
        np.testing.assert_allclose(res["Output"][i, : len(q)].numpy(), ref, atol=2e-6)
        np.testing.assert_allclose(res["State"][i].numpy(), s, atol=2e-6)
        assert res["Output"][i, len(q):].abs().sum() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_masking_independent_of_neighbours_and_pad_value(kind):
    """§8.10: an example's outputs (whole valid sequence and SequenceLast) do not depend on the
    batch it is in, how long the batch is padded, or what it is padded with."""
    module = randomized(kind, seed=2)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, K))
    short = [a, rng.normal(size=(3, K))]
    long = [a, rng.normal(size=(60, K)), rng.normal(size=(1, K))]
    r1, l1 = run(module, short)
    r2, l2 = run(module, long, pad_value=0.0)
    r3, l3 = run(module, long, steps=88, pad_value=1e3)
    for r, lens in ((r2, l2), (r3, l3)):
        torch.testing.assert_close(r["Output"][0, :4], r1["Output"][0, :4], atol=1e-6, rtol=0)
        torch.testing.assert_close(last_valid(r["Output"], lens)[0], last_valid(r1["Output"], l1)[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(r["State"][0], r1["State"][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(r2["Output"][1], r3["Output"][1, :60], atol=1e-6, rtol=0)


def test_lstm_cell_state_and_initial_state_ports():
    """§2.12: optional "State"/"CellState" inputs set the initial state; outputs give the final ones."""
    module = randomized("LongShortTermMemoryLayer", seed=4)
    rng = np.random.default_rng(5)
    q = rng.normal(size=(6, K))
    s0, c0 = rng.normal(size=N), rng.normal(size=N)
    x = torch.tensor(q, dtype=torch.float32)[None]
    with torch.no_grad():
        res = module({"Input": x, "State": torch.tensor(s0, dtype=torch.float32)[None],
                      "CellState": torch.tensor(c0, dtype=torch.float32)[None]}, {0: torch.tensor([6])})
    ref, s, c = numpy_reference("LongShortTermMemoryLayer", module.get_arrays(), q, s0, c0)
    np.testing.assert_allclose(res["Output"][0].numpy(), ref, atol=2e-6)
    np.testing.assert_allclose(res["CellState"][0].numpy(), c, atol=2e-6)


@pytest.mark.parametrize("kind,count", [("LongShortTermMemoryLayer", 12), ("GatedRecurrentLayer", 9), ("BasicRecurrentLayer", 3)])
def test_initial_arrays_wolfram_defaults(kind, count):
    """§2 default initialisation: Xavier-uniform matrices, zero biases, "ForgetGateBiases" 1;
    array names and shapes as in §2.12–2.14 ({n, k}, {n, n}, {n})."""
    torch.manual_seed(0)
    module, out = build(kind)
    arrays = module.get_arrays()
    assert len(arrays) == count and set(arrays) == set(module.array_names)
    assert [n for n, _ in module.named_parameters()] == list(module.array_names)
    for name, v in arrays.items():
        if name.endswith("Biases"):
            assert v.shape == (N,)
            assert np.all(v == (1.0 if name == "ForgetGateBiases" else 0.0)), name
        else:
            fan_in = K if name.endswith("InputWeights") else N
            assert v.shape == (N, fan_in)
            assert np.abs(v).max() <= np.sqrt(6 / (N + fan_in)) and v.std() > 0
    assert out["Output"] == TensorType((LengthVar(0), N)) and out["State"] == TensorType((N,))


def test_gru_candidate_hidden_bias_stays_zero_after_training():
    """§2.13/§8.5: the candidate's hidden-side bias b_hn has no Wolfram array, so it must stay 0:
    it is not a parameter, and the exported biases reproduce the trained outputs exactly."""
    module = randomized("GatedRecurrentLayer", seed=6)
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    rng = np.random.default_rng(7)
    seqs = [rng.normal(size=(L, K)) for L in (5, 3, 8)]
    for _ in range(3):
        x = torch.zeros(3, 8, K)
        for i, q in enumerate(seqs):
            x[i, : len(q)] = torch.tensor(q, dtype=torch.float32)
        loss = module({"Input": x}, {0: torch.tensor([5, 3, 8])})["Output"].pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.count_nonzero(module.fused()["bias_hh_l0"]) == 0
    assert all(p.grad is not None for p in module.parameters())
    res, _ = run(module, seqs)
    for i, q in enumerate(seqs):
        ref, _, _ = numpy_reference("GatedRecurrentLayer", module.get_arrays(), q)
        np.testing.assert_allclose(res["Output"][i, : len(q)].numpy(), ref, atol=2e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_exported_arrays_load_into_fresh_layer(kind):
    """§2 "Writing arrays in the constructor": arrays exported after a training step, given to a
    fresh layer as LayerSpec.arrays, give identical outputs and are marked as given."""
    module = randomized(kind, seed=8)
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    rng = np.random.default_rng(9)
    seqs = [rng.normal(size=(L, K)) for L in (4, 9)]
    x = torch.zeros(2, 9, K)
    for i, q in enumerate(seqs):
        x[i, : len(q)] = torch.tensor(q, dtype=torch.float32)
    module({"Input": x}, {0: torch.tensor([4, 9])})["Output"].sum().backward()
    opt.step()
    exported = module.get_arrays()
    fresh, _ = build(kind, arrays=exported)
    assert fresh.given == set(exported)
    a, _ = run(module, seqs)
    b, _ = run(fresh, seqs)
    torch.testing.assert_close(a["Output"], b["Output"], atol=0, rtol=0)


def test_fixed_length_input_and_double_precision():
    """A fixed-length sequence input needs no lengths; Real64 (module.double()) works."""
    spec = LayerSpec("LongShortTermMemoryLayer", {"OutputSize": N})
    module, out = lookup("LongShortTermMemoryLayer").build(spec, {"Input": TensorType((6, K))}, PATH)
    assert out["Output"] == TensorType((6, N))
    module.double()
    y = module({"Input": torch.randn(2, 6, K, dtype=torch.float64)}, {})["Output"]
    assert y.dtype == torch.float64 and y.shape == (2, 6, N)


def test_bad_specs_give_clear_messages():
    """Unsupported options and malformed inputs are refused naming the layer's position."""
    with pytest.raises(EngineError, match=r'NetChain > "1": the dropout method\(s\) StateUpdate are not supported'):
        build("LongShortTermMemoryLayer", Dropout={"StateUpdate": 0.3})
    with pytest.raises(EngineError, match="output size should be a positive integer"):
        build("GatedRecurrentLayer", OutputSize=0)
    with pytest.raises(EngineError, match="sequence of real vectors"):
        lookup("GatedRecurrentLayer").build(LayerSpec("GatedRecurrentLayer", {"OutputSize": 2}),
                                            {"Input": TensorType((LengthVar(0),), index_range=5)}, PATH)
    with pytest.raises(EngineError, match=r"'InputGateBiases' should have dimensions \{5\}"):
        build("LongShortTermMemoryLayer", arrays={"InputGateBiases": np.zeros(4)})
    with pytest.raises(EngineError, match="activation 'Sin' is not supported"):
        build("BasicRecurrentLayer", Activation="Sin")
    ramp, _ = build("BasicRecurrentLayer", Activation="Ramp")
    res, _ = run(ramp, [np.ones((3, K))])
    assert res["Output"].min() >= 0


def test_lstm_classifier_learns_sequence_property():
    """End to end through the registry (Embedding -> LSTM -> SequenceLast -> Linear): the net learns
    whether token 2 occurs in a variable-length sequence, with bucketed padded batches."""
    from engine.batching import bucket_key, make_permutation, pad_batch
    from engine.init import initialize_layer

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 4, size=rng.integers(2, 12)) for _ in range(256)]
    labels = torch.tensor([int(2 in q) for q in seqs])
    v = LengthVar(0)
    emb, t = lookup("EmbeddingLayer").build(LayerSpec("EmbeddingLayer", {"OutputDimensions": 8}),
                                            {"Input": TensorType((v,), index_range=3)}, ("1",))
    lstm, t = lookup("LongShortTermMemoryLayer").build(LayerSpec("LongShortTermMemoryLayer", {"OutputSize": 16}),
                                                       {"Input": t["Output"]}, ("2",))
    last, t = lookup("SequenceLastLayer").build(LayerSpec("SequenceLastLayer"), {"Input": t["Output"]}, ("3",))
    lin, _ = lookup("LinearLayer").build(LayerSpec("LinearLayer", {"OutputDimensions": (2,)}), {"Input": t["Output"]}, ("4",))
    mods = [emb, lstm, last, lin]
    for m in mods:
        initialize_layer(m)
    opt = torch.optim.Adam([p for m in mods for p in m.parameters()], lr=0.02)

    def forward(idx):
        x, lens = pad_batch([seqs[i] for i in idx], bucket_key([len(seqs[i]) for i in idx])[0])
        h = {"Input": x}
        for m in mods:
            h = {"Input": m(h, {0: lens})["Output"]}
        return h["Input"]

    perm = make_permutation(np.array([len(q) for q in seqs]), 32, 8, rng)
    for _ in range(15):
        for idx in perm:
            loss = torch.nn.functional.cross_entropy(forward(idx), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = (forward(np.arange(256)).argmax(1) == labels).float().mean()
    assert acc > 0.95


def test_flush_denormals_restores_callers_setting():
    """engine.denormal: subnormals are flushed inside the block and the prior setting (detected by
    whether a subnormal survives a multiplication) is restored, whichever it was."""
    from engine.denormal import flush_denormals, flushing_denormals

    sub = torch.tensor([1e-40], dtype=torch.float32)
    assert not flushing_denormals() and (sub * 1.0).item() > 0
    with flush_denormals() as on:
        if on:  # CPUs without FTZ/DAZ support report False and change nothing
            assert flushing_denormals() and (sub * 1.0).item() == 0.0
    assert not flushing_denormals()
    with flush_denormals(enabled=False) as on:
        assert not on and not flushing_denormals()
    torch.set_flush_denormal(True)
    try:
        prior = flushing_denormals()
        with flush_denormals():
            pass
        assert flushing_denormals() == prior
    finally:
        torch.set_flush_denormal(False)
    assert not flushing_denormals()


def packed_reference(module, x: torch.Tensor, lens: torch.Tensor, s0=None, c0=None) -> dict[str, torch.Tensor]:
    """The former computation: PyTorch's packed-sequence kernel on the same stacked arrays."""
    from torch.func import functional_call
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    hx = None
    if s0 is not None:
        hx = s0[None] if c0 is None else (s0[None], c0[None])
    packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
    out, final = functional_call(module.kernel, module.fused(), (packed, hx))
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    finals = final if isinstance(final, tuple) else (final,)
    return {"Output": out, **{p: f[0] for p, f in zip(module.state_ports, finals, strict=True)}}


def ragged_batch(seed: int, lengths=(9, 1, 5, 9, 3), pad_value: float = 0.0):
    rng = np.random.default_rng(seed)
    x = torch.full((len(lengths), max(lengths) + 2, K), pad_value)  # padded past the longest too
    for i, n in enumerate(lengths):
        x[i, :n] = torch.as_tensor(rng.normal(size=(n, K)), dtype=torch.float32)
    return x, torch.tensor(lengths)


def loss_and_grads(module, res, weights):
    """A loss over every output port (valid steps only, as the engine's losses are) and its gradients."""
    module.zero_grad()
    loss = sum((res[p] * w).sum() for p, w in weights.items())
    loss.backward()
    return {n: p.grad.clone() for n, p in module.named_parameters()}


@pytest.mark.parametrize("with_initial", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_unpacked_matches_packed_outputs_states_and_gradients(kind, with_initial):
    """§8.10 masking, computed unpacked on the padded batch (for speed): on a ragged batch the
    valid output steps, the final "State" (and the LSTM's "CellState") and every array's gradient
    equal the packed-sequence computation; padded output steps are zero. With initial-state
    inputs (§2.12–2.14 "State"/"CellState" ports) they feed the unpacked call the same way."""
    module = randomized(kind, seed=10)
    x, lens = ragged_batch(11)
    rng = np.random.default_rng(12)
    inputs = {"Input": x}
    s0 = c0 = None
    if with_initial:
        s0 = torch.tensor(rng.normal(size=(len(lens), N)), dtype=torch.float32)
        inputs["State"] = s0
        if kind == "LongShortTermMemoryLayer":
            c0 = torch.tensor(rng.normal(size=(len(lens), N)), dtype=torch.float32)
            inputs["CellState"] = c0
    mask = (torch.arange(x.shape[1]) < lens[:, None])[..., None].float()
    weights = {p: torch.tensor(rng.normal(size=(len(lens), N)), dtype=torch.float32) for p in module.state_ports}
    weights["Output"] = torch.tensor(rng.normal(size=(*x.shape[:2], N)), dtype=torch.float32) * mask

    new = module(inputs, {0: lens})
    g_new = loss_and_grads(module, new, weights)
    ref = packed_reference(module, x, lens, s0, c0)
    g_ref = loss_and_grads(module, ref, weights)

    assert set(new) == {"Output", *module.state_ports}
    assert torch.count_nonzero(new["Output"] * (1 - mask)) == 0
    for port in new:
        torch.testing.assert_close(new[port], ref[port], atol=1e-5, rtol=1e-5, msg=port)
    assert set(g_new) == set(module.array_names)
    for name in g_new:
        assert g_new[name].abs().max() > 0, name
        torch.testing.assert_close(g_new[name], g_ref[name], atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_initial_state_gradients_match_packed(kind):
    """§2.12–2.14 state inputs: the gradient reaching "State"/"CellState" inputs (e.g. from an
    encoder in a seq2seq NetGraph) equals the packed computation's on a ragged batch."""
    module = randomized(kind, seed=13)
    x, lens = ragged_batch(14, lengths=(6, 2, 4))
    rng = np.random.default_rng(15)
    s_init = torch.tensor(rng.normal(size=(3, N)), dtype=torch.float32)
    c_init = torch.tensor(rng.normal(size=(3, N)), dtype=torch.float32)
    lstm = kind == "LongShortTermMemoryLayer"
    grads = []
    for compute in ("unpacked", "packed"):
        s0 = s_init.clone().requires_grad_()
        c0 = c_init.clone().requires_grad_() if lstm else None
        if compute == "unpacked":
            res = module({"Input": x, "State": s0, **({"CellState": c0} if lstm else {})}, {0: lens})
        else:
            res = packed_reference(module, x, lens, s0, c0)
        (res["Output"].pow(2).sum() + sum(res[p].sum() for p in module.state_ports)).backward()
        grads.append((s0.grad, None if c0 is None else c0.grad))
    (gs_new, gc_new), (gs_ref, gc_ref) = grads
    torch.testing.assert_close(gs_new, gs_ref, atol=1e-5, rtol=1e-5)
    if gc_new is not None:
        torch.testing.assert_close(gc_new, gc_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_pad_value_never_reaches_gradients(kind):
    """§8.10: padded steps are ignored, even when the pad value is NaN or huge: outputs, states and
    gradients equal those of the zero-padded batch, and all are finite."""
    module = randomized(kind, seed=16)
    results = []
    for pad in (0.0, float("nan"), 1e30):
        x, lens = ragged_batch(17, pad_value=pad)
        res = module({"Input": x}, {0: lens})
        grads = loss_and_grads(module, res, {p: 1.0 for p in res})
        results.append((res, grads))
    (r0, g0) = results[0]
    for r, g in results[1:]:
        for port in r0:
            assert torch.isfinite(r[port]).all()
            torch.testing.assert_close(r[port], r0[port], atol=0, rtol=0)
        for name in g0:
            torch.testing.assert_close(g[name], g0[name], atol=0, rtol=0)


def test_long_lstm_cell_state_matches_step_loop():
    """§2.12: the LSTM's final "State"/"CellState" on long ragged sequences (read at the end of
    the time segment where each length falls) equal Wolfram's recurrence run on each example alone."""
    module = randomized("LongShortTermMemoryLayer", seed=18)
    x, lens = ragged_batch(19, lengths=(200, 3, 137))
    with torch.no_grad():
        res = module({"Input": x}, {0: lens})
    arrays = module.get_arrays()
    for i, n in enumerate(lens.tolist()):
        _, s, c = numpy_reference("LongShortTermMemoryLayer", arrays, x[i, :n].double().numpy())
        np.testing.assert_allclose(res["State"][i].numpy(), s, atol=1e-5)
        np.testing.assert_allclose(res["CellState"][i].numpy(), c, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_length_example_keeps_initial_state(kind):
    """An example of length 0 in a ragged batch has all-zero outputs and its final states are its
    initial states; its neighbours are unaffected (§8.10)."""
    module = randomized(kind, seed=20)
    x, lens = ragged_batch(21, lengths=(4, 0, 2))
    s0 = torch.randn(3, N)
    extra = {"CellState": torch.randn(3, N)} if kind == "LongShortTermMemoryLayer" else {}
    with torch.no_grad():
        res = module({"Input": x, "State": s0, **extra}, {0: lens})
        alone = module({"Input": x[2:, :2], "State": s0[2:], **{k: v[2:] for k, v in extra.items()}},
                       {0: lens[2:]})
    assert torch.count_nonzero(res["Output"][1]) == 0
    torch.testing.assert_close(res["State"][1], s0[1], atol=0, rtol=0)
    if extra:
        torch.testing.assert_close(res["CellState"][1], extra["CellState"][1], atol=0, rtol=0)
    for port in res:
        torch.testing.assert_close(res[port][2:, : alone[port].shape[1]] if port == "Output" else res[port][2:],
                                   alone[port], atol=1e-6, rtol=0)
