"""Loss layers (wl-nets.md §2.21, §2.23) and NetTrain's automatic loss attachment (§5)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import EngineError
from engine.graph import build
from engine.losses import attach_losses, error_rate
from engine.spec import DecoderSpec, LayerSpec, LengthVar, LossSpec, NetSpec, TensorType

L = LayerSpec


def chain(*layers, inp=(4,), **kw):
    return NetSpec("chain", {str(i): layer for i, layer in enumerate(layers, 1)},
                   inputs={"Input": TensorType(inp)}, **kw)


def classifier(**kw):
    return chain(L("LinearLayer", {"OutputDimensions": (8,)}), L("ElementwiseLayer", {"Function": "Tanh"}),
                 L("LinearLayer", {"OutputDimensions": (3,)}), L("SoftmaxLayer"), **kw)


def test_softmax_gets_fused_index_cross_entropy_equal_to_log_softmax():
    """§5 rule 3 and §2.23: -log p[target], 1-based targets; fused equals the unfused to 1e-6."""
    torch.manual_seed(0)
    spec = classifier(decoders={"Output": DecoderSpec("Class", ("a", "b", "c"))})
    m = build(spec).double()
    tm = attach_losses(m, spec)
    assert tm.terms[0].mode == "fused_index" and tm.loss_ports == ["Output"]
    assert tm.target_types["Output"] == TensorType((), index_range=3)
    assert tm.target_encoders["Output"].kind == "Class"
    assert tm.target_encoders["Output"].labels == ("a", "b", "c")
    x = torch.randn(6, 4, dtype=torch.float64)
    y = torch.tensor([1, 2, 3, 3, 2, 1])
    r = tm({"Input": x, "Output": y})
    p = m({"Input": x})["Output"]
    want = -torch.log(p[torch.arange(6), y - 1])
    torch.testing.assert_close(r["losses"]["Output"], want, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(tm.total_loss(r), want.mean())
    torch.testing.assert_close(tm.net_outputs(r)["Output"], p)
    # the unfused loss layer gives the same numbers
    m._fast = None  # the graph path too
    m.wiring.consumers[m.wiring.outputs["Output"]] = 2  # pretend the softmax is shared: no fusion
    unfused = attach_losses(m, spec, [LossSpec("Output", L("CrossEntropyLossLayer", {"Form": "Index"}))])
    assert unfused.terms[0].mode == "layer"
    torch.testing.assert_close(unfused({"Input": x, "Output": y})["losses"]["Output"], want,
                               atol=1e-6, rtol=1e-6)


def test_error_rate_counts_argmax_against_one_based_targets():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3], [0.5, 0.4, 0.1]])
    assert error_rate(p, torch.tensor([1, 3, 1, 1])) == pytest.approx(0.25)
    spec = classifier()
    tm = attach_losses(build(spec))
    assert tm.error_port == "Output"
    x, y = torch.randn(5, 4), torch.tensor([1, 1, 2, 3, 1])
    r = tm({"Input": x, "Output": y})
    probs = tm.net_outputs(r)["Output"]
    assert tm.error_rate(r, {"Output": y}) == pytest.approx(error_rate(probs, y))


def test_logistic_sigmoid_gets_binary_cross_entropy():
    spec = chain(L("LinearLayer", {"OutputDimensions": ()}),
                 L("ElementwiseLayer", {"Function": "LogisticSigmoid"}),
                 decoders={"Output": DecoderSpec("Boolean")})
    m = build(spec).double()
    tm = attach_losses(m, spec)
    assert tm.terms[0].form == "Binary" and tm.terms[0].mode == "fused_binary"
    assert tm.target_encoders["Output"].kind == "Boolean"
    x, t = torch.randn(7, 4, dtype=torch.float64), torch.tensor([1.0, 0, 1, 1, 0, 0, 1], dtype=torch.float64)
    p = m({"Input": x})["Output"]
    want = -(t * torch.log(p) + (1 - t) * torch.log(1 - p))
    torch.testing.assert_close(tm({"Input": x, "Output": t})["losses"]["Output"], want)


def test_pure_function_sigmoid_and_other_layers_get_mean_squared():
    """§5: only exactly ElementwiseLayer[LogisticSigmoid] gets Binary; others get MeanSquared."""
    fn = ("LogisticSigmoid", ("Times", 1, ("Slot",)))
    spec = chain(L("LinearLayer", {"OutputDimensions": (2,)}), L("ElementwiseLayer", {"Function": fn}))
    tm = attach_losses(build(spec))
    assert tm.terms[0].form == "MeanSquared"
    spec = chain(L("LinearLayer", {"OutputDimensions": (2, 3)}))
    m = build(spec)
    tm = attach_losses(m)
    x, t = torch.randn(3, 4), torch.randn(3, 2, 3)
    y = m({"Input": x})["Output"]
    torch.testing.assert_close(tm({"Input": x, "Output": t})["losses"]["Output"],
                               ((y - t) ** 2).mean((1, 2)))


def test_loss_port_is_used_as_is_and_scaled():
    """§5 rule 1 (net 11 of §6.2) and Scaled[r]."""
    inner = chain(L("LinearLayer", {"OutputDimensions": (4,)}))
    inner.inputs = {}
    spec = NetSpec("graph", {"net": inner, "loss": L("MeanAbsoluteLossLayer")},
                   [(("net", "Output"), ("loss", "Input")), ((None, "Target"), ("loss", "Target")),
                    (("loss", "Loss"), (None, "Loss"))], inputs={"Input": TensorType((4,))})
    m = build(spec)
    tm = attach_losses(m)
    assert tm.terms[0].mode == "direct" and tm.loss_ports == ["Loss"]
    x, t = torch.randn(3, 4), torch.randn(3, 4)
    y = m.node("net")({"Input": x})["Output"]
    r = tm({"Input": x, "Target": t})
    torch.testing.assert_close(r["losses"]["Loss"], (y - t).abs().mean(1))
    scaled = attach_losses(m, spec, [LossSpec("Loss", None, 2.5)])
    torch.testing.assert_close(scaled({"Input": x, "Target": t})["losses"]["Loss"], 2.5 * (y - t).abs().mean(1))
    assert scaled.error_port is None


def test_outputs_from_loss_layers_are_losses_and_vector_losses_are_summed():
    """§5 rule 2; a vector-valued loss port is summed per example."""
    spec = NetSpec("graph", {"l": L("LinearLayer", {"OutputDimensions": (3,)})}, [],
                   inputs={"Input": TensorType((2,))})
    m = build(spec)
    tm = attach_losses(m, spec, [LossSpec("Output", None)])
    assert tm.terms[0].form == "MeanSquared"
    spec2 = NetSpec("graph", {"a": L("MeanSquaredLossLayer"), "b": L("CrossEntropyLossLayer", {"Form": "Probabilities"})},
                    [((None, "X"), ("a", "Input")), ((None, "Y"), ("a", "Target")),
                     ((None, "P"), ("b", "Input")), ((None, "Q"), ("b", "Target"))],
                    inputs={"X": TensorType((2,)), "P": TensorType((3,))})
    m2 = build(spec2)
    assert set(m2.output_types) == {"Loss1", "Loss2"}
    tm2 = attach_losses(m2)
    assert sorted(tm2.loss_ports) == ["Loss1", "Loss2"]
    p = torch.tensor([[0.2, 0.3, 0.5]])
    q = torch.tensor([[0.0, 1.0, 0.0]])
    r = tm2({"X": torch.zeros(1, 2), "Y": torch.ones(1, 2), "P": p, "Q": q})
    torch.testing.assert_close(r["losses"]["Loss1"], torch.tensor([1.0]))
    torch.testing.assert_close(r["losses"]["Loss2"], -torch.log(torch.tensor([0.3])))
    # a vector "Loss" output is summed
    m3 = build(NetSpec("graph", {"Loss": L("ElementwiseLayer", {"Function": "Abs"})},
                       [((None, "Input"), ("Loss", "Input")), (("Loss", "Output"), (None, "Loss"))],
                       inputs={"Input": TensorType((3,))}))
    tm3 = attach_losses(m3)
    torch.testing.assert_close(tm3({"Input": torch.tensor([[1.0, -2.0, 3.0]])})["losses"]["Loss"],
                               torch.tensor([6.0]))


def test_sequence_index_loss_averages_over_valid_steps():
    """§4: {T, n} softmax outputs take index sequences; the loss averages over positions."""
    t = LengthVar(1)
    spec = chain(L("SoftmaxLayer"), inp=(t, 3))
    m = build(spec)
    tm = attach_losses(m)
    logits = torch.tensor([[[0.0, 0.0, 0.0], [5.0, 0.0, 0.0], [0.0, 9.0, 0.0]]])
    y = torch.tensor([[1, 1, 1]])
    r = tm({"Input": logits, "Output": y}, {1: torch.tensor([2])})
    p = torch.softmax(logits, -1)
    want = -(torch.log(p[0, 0, 0]) + torch.log(p[0, 1, 0])) / 2
    torch.testing.assert_close(r["losses"]["Output"], want.reshape(1))


def test_bad_loss_specs():
    m = build(classifier())
    with pytest.raises(EngineError, match="'Nope' is not an output port"):
        attach_losses(m, None, [LossSpec("Nope")])
    with pytest.raises(EngineError, match="LinearLayer is not a loss layer"):
        attach_losses(m, None, [LossSpec("Output", L("LinearLayer"))])
    with pytest.raises(EngineError, match=r"\"Target\" shape \{2\} does not match"):
        from engine.layers.loss import build_mean_squared
        build_mean_squared(L("MeanSquaredLossLayer"), {"Input": TensorType((3,)), "Target": TensorType((2,))},
                           ("MeanSquaredLossLayer",))
    emb = chain(L("FlattenLayer"), inp=(2,))
    emb.inputs = {"Input": TensorType((2,), index_range=4)}
    with pytest.raises(EngineError, match="holds integers, so it cannot get a loss"):
        attach_losses(build(emb))


def test_probabilities_target_from_class_decoder_is_one_hot():
    spec = classifier(decoders={"Output": DecoderSpec("Class", ("x", "y", "z"))})
    tm = attach_losses(build(spec), spec, [LossSpec("Output", L("CrossEntropyLossLayer", {"Form": "Probabilities"}))])
    assert tm.target_encoders["Output"].options == {"OutputForm": "UnitVector"}
    assert tm.target_types["Output"] == TensorType((3,))
    np.testing.assert_equal(tm.terms[0].mode, "layer")
