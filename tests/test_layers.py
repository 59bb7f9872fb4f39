"""Each layer's forward pass against a numpy expectation under Wolfram's conventions
(wl-nets.md §2 and the traps of §8)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.errors import EngineError
from engine.graph import build
from engine.spec import LayerSpec, LengthVar, NetSpec, TensorType

torch.manual_seed(0)


def one(kind, args=None, dims=(3,), arrays=None, index_range=None, **ports):
    spec = NetSpec("chain", {"1": LayerSpec(kind, dict(args or {}), dict(arrays or {}))},
                   inputs={"Input": TensorType(tuple(dims), index_range)}, **ports)
    return build(spec)


def run(model, x, train=False):
    model.train(train)
    with torch.no_grad():
        out = model({"Input": torch.as_tensor(x)})
    return next(iter(out.values())).numpy()


def test_linear_flattens_a_2x3_input():
    """§2.1: W has shape {out, product of input dims}; the input is flattened row-major."""
    w = np.arange(12, dtype=np.float64).reshape(2, 6) / 10
    b = np.array([0.5, -1.0])
    m = one("LinearLayer", {"OutputDimensions": (2,)}, (2, 3), {"Weights": w, "Biases": b})
    x = np.random.default_rng(0).normal(size=(4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(run(m, x), x.reshape(4, 6) @ w.T + b, rtol=1e-5)
    assert m.output_types["Output"] == TensorType((2,))


def test_linear_scalar_output_and_no_bias():
    m = one("LinearLayer", {"OutputDimensions": (), "Biases": None}, (3,),
            {"Weights": np.array([[1.0, 2.0, 3.0]])})
    assert m.output_types["Output"].dims == ()
    assert "Biases" not in {p[-1] for p in m.arrays()}
    np.testing.assert_allclose(run(m, np.ones((2, 3), np.float32)), [6.0, 6.0])


def test_pooling_default_stride_is_one():
    """§2.8 and §8.1: PoolingLayer[2] on 24x24 gives 23x23 (stride 1)."""
    m = one("PoolingLayer", {"KernelSize": 2}, (1, 24, 24))
    assert m.output_types["Output"].dims == (1, 23, 23)
    x = np.random.default_rng(1).normal(size=(1, 1, 24, 24)).astype(np.float32)
    y = run(m, x)
    want = np.maximum.reduce([x[..., :-1, :-1], x[..., 1:, :-1], x[..., :-1, 1:], x[..., 1:, 1:]])
    np.testing.assert_allclose(y, want)


def test_pooling_mean_total_stride():
    m = one("PoolingLayer", {"KernelSize": 2, "Stride": 2, "Function": "Total"}, (1, 4))
    x = np.array([[[1.0, 2.0, 3.0, 5.0]]], np.float32)
    np.testing.assert_allclose(run(m, x), [[[3.0, 8.0]]])
    m = one("PoolingLayer", {"KernelSize": 2, "Stride": 2, "Function": "Mean"}, (1, 4))
    np.testing.assert_allclose(run(m, x), [[[1.5, 4.0]]])


def _conv_ref(x, w, b, stride=(1, 1), pads=((0, 0), (0, 0)), dil=(1, 1), groups=1):
    x = np.pad(x, ((0, 0), (0, 0), *pads))
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow))
    per = o // groups
    for oc in range(o):
        g = oc // per
        for i in range(oh):
            for j in range(ow):
                patch = x[:, g * cg:(g + 1) * cg,
                          i * stride[0]:i * stride[0] + dil[0] * (kh - 1) + 1:dil[0],
                          j * stride[1]:j * stride[1] + dil[1] * (kw - 1) + 1:dil[1]]
                out[:, oc, i, j] = (patch * w[oc]).sum((1, 2, 3)) + (b[oc] if b is not None else 0)
    return out


def test_conv_asymmetric_padding():
    """§2.7 and §8.9: PaddingSize {{1, 0}, {0, 2}} pads top 1, right 2."""
    rng = np.random.default_rng(2)
    w, b = rng.normal(size=(2, 1, 2, 3)), rng.normal(size=2)
    m = one("ConvolutionLayer", {"OutputChannels": 2, "KernelSize": (2, 3),
                                 "PaddingSize": ((1, 0), (0, 2))}, (1, 4, 5),
            {"Weights": w, "Biases": b})
    assert m.output_types["Output"].dims == (2, 4, 5)
    x = rng.normal(size=(2, 1, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(run(m, x), _conv_ref(x, w, b, pads=((1, 0), (0, 2))), atol=1e-5)


def test_conv_same_padding_and_stride():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(1, 1, 3, 3))
    m = one("ConvolutionLayer", {"OutputChannels": 1, "KernelSize": 3, "Stride": 2,
                                 "PaddingSize": "Same", "Biases": None}, (1, 7, 6), {"Weights": w})
    assert m.output_types["Output"].dims == (1, 4, 3)  # ceil(7/2), ceil(6/2)
    x = rng.normal(size=(1, 1, 7, 6)).astype(np.float32)
    # total padding 2 and 1: lo gets the floor, hi the rest
    want = _conv_ref(x, w, None, stride=(2, 2), pads=((1, 1), (0, 1)))
    np.testing.assert_allclose(run(m, x), want, atol=1e-5)


def test_conv_groups_and_dilation():
    """The [PS] shape case: {3,7,5}, kernel {3,2}, stride {2,1}, padding {2,1}, dilation {2,1}."""
    m = one("ConvolutionLayer", {"OutputChannels": 3, "KernelSize": (3, 2), "Stride": (2, 1),
                                 "PaddingSize": (2, 1), "Dilation": (2, 1)}, (3, 7, 5))
    assert m.output_types["Output"].dims == (3, 4, 6)
    rng = np.random.default_rng(4)
    w, b = rng.normal(size=(4, 2, 2, 2)), rng.normal(size=4)
    m = one("ConvolutionLayer", {"OutputChannels": 4, "KernelSize": 2, "ChannelGroups": 2,
                                 "Dilation": 2}, (4, 5, 5), {"Weights": w, "Biases": b})
    assert m.arrays()[("1", "Weights")].shape == (4, 2, 2, 2)
    x = rng.normal(size=(2, 4, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(run(m, x), _conv_ref(x, w, b, dil=(2, 2), groups=2), atol=1e-5)


def test_softmax_level_one_on_3x4():
    """§2.3: level 1 of a {3,4} input normalises over the 3 (torch dim 1)."""
    m = one("SoftmaxLayer", {"Level": 1}, (3, 4))
    x = np.random.default_rng(5).normal(size=(2, 3, 4)).astype(np.float32)
    e = np.exp(x)
    np.testing.assert_allclose(run(m, x), e / e.sum(1, keepdims=True), rtol=1e-5)
    m = one("SoftmaxLayer", {}, (3, 4))
    np.testing.assert_allclose(run(m, x), e / e.sum(2, keepdims=True), rtol=1e-5)


def test_batchnorm_momentum_keeps_90_percent_and_epsilon():
    """§2.5 and §8.4: moving = 0.9 moving + 0.1 batch (biased var); eval uses eps 0.001."""
    m = one("BatchNormalizationLayer", {}, (2, 3))
    x = np.random.default_rng(6).normal(2.0, 3.0, size=(5, 2, 3)).astype(np.float32)
    run(m, x, train=True)
    bn = m.layer_paths()[("1",)]
    mean, var = x.mean((0, 2)), x.var((0, 2))
    np.testing.assert_allclose(bn.MovingMean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.MovingVariance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    y = run(m, x)
    mm, mv = 0.1 * mean, 0.9 + 0.1 * var
    want = (x - mm[None, :, None]) / np.sqrt(mv[None, :, None] + 0.001)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    # training output uses the batch statistics
    yt = run(m, x, train=True)
    np.testing.assert_allclose(yt, (x - mean[None, :, None]) / np.sqrt(var[None, :, None] + 0.001),
                               rtol=1e-4, atol=1e-5)


def test_normalization_layer_instance_and_layer_norm():
    """§2.6: NormalizationLayer[] on {C, H} normalises each channel per example;
    NormalizationLayer[2;;, "Same"] on {T, d} is a layer norm with arrays of shape {d}."""
    x = np.random.default_rng(7).normal(size=(2, 3, 4)).astype(np.float32)
    m = one("NormalizationLayer", {}, (3, 4), {"Scaling": np.array([1.0, 2.0, 3.0])})
    assert m.arrays()[("1", "Biases")].shape == (3,)
    want = (x - x.mean(2, keepdims=True)) / np.sqrt(x.var(2, keepdims=True) + 0.001)
    np.testing.assert_allclose(run(m, x), want * np.array([1, 2, 3])[None, :, None], rtol=1e-4, atol=1e-5)
    m = one("NormalizationLayer", {"AggregationLevels": slice(2, None), "ScalingLevels": "Same"}, (3, 4))
    assert m.arrays()[("1", "Scaling")].shape == (4,)
    np.testing.assert_allclose(run(m, x), want, rtol=1e-4, atol=1e-5)


def test_embedding_is_one_based():
    w = np.arange(8, dtype=np.float64).reshape(4, 2)
    m = one("EmbeddingLayer", {"OutputDimensions": 2, "InputDimensions": 4}, (3,), {"Weights": w})
    assert m.output_types["Output"].dims == (3, 2)
    assert m.input_types["Input"].index_range == 4
    y = run(m, np.array([[1, 4, 2]]))
    np.testing.assert_allclose(y, w[[0, 3, 1]][None])
    with pytest.raises(EngineError, match="outside 1..4"):
        run(m, np.array([[5, 1, 1]]))


@pytest.mark.parametrize("name,ref", [
    ("HardSigmoid", lambda x: np.clip((x + 1) / 2, 0, 1)),
    ("SELU", lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1))),
    ("GELU", lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    ("Ramp", lambda x: np.maximum(x, 0)),
    ("SoftSign", lambda x: x / (1 + np.abs(x))),
    ("SoftPlus", lambda x: np.log1p(np.exp(x))),
    ("HardTanh", lambda x: np.clip(x, -1, 1)),
    ("ELU", lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    ("Swish", lambda x: x / (1 + np.exp(-x))),
])
def test_elementwise_named(name, ref):
    """§2.2: Wolfram's formulas (HardSigmoid is clip((x+1)/2), GELU is exact, SELU's constants)."""
    x = np.linspace(-4, 4, 17, dtype=np.float32)[None]
    m = one("ElementwiseLayer", {"Function": name}, (17,))
    np.testing.assert_allclose(run(m, x), ref(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_elementwise_pure_function():
    """#*LogisticSigmoid[#] & and 0.5 # (1 + #^2) as ScalarFn trees."""
    x = np.linspace(-3, 3, 7, dtype=np.float32)[None]
    fn = ("Times", ("Slot",), ("LogisticSigmoid", ("Slot",)))
    np.testing.assert_allclose(run(one("ElementwiseLayer", {"Function": fn}, (7,)), x),
                               x / (1 + np.exp(-x)), rtol=1e-5)
    fn = ("Times", 0.5, ("Slot",), ("Plus", 1, ("Power", ("Slot",), 2)))
    np.testing.assert_allclose(run(one("ElementwiseLayer", {"Function": fn}, (7,)), x),
                               0.5 * x * (1 + x ** 2), rtol=1e-5)


def test_dropout_identity_at_eval_and_scaled_in_training():
    """§2.4: inverted dropout, survivors scaled by 1/(1-p)."""
    m = one("DropoutLayer", {"DropoutProbability": 0.25}, (1000,))
    x = np.ones((2, 1000), np.float32)
    np.testing.assert_array_equal(run(m, x), x)
    y = run(m, x, train=True)
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.65 < (y > 0).mean() < 0.85


def test_flatten_and_reshape():
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    m = one("FlattenLayer", {}, (2, 3, 4))
    assert m.output_types["Output"].dims == (24,)
    np.testing.assert_array_equal(run(m, x), x.reshape(1, 24))
    m = one("FlattenLayer", {"Level": 1}, (2, 3, 4))
    assert m.output_types["Output"].dims == (6, 4)
    m = one("FlattenLayer", {"Level": -1}, (2, 3, 4))
    assert m.output_types["Output"].dims == (2, 12)
    np.testing.assert_array_equal(run(m, x), x.reshape(1, 2, 12))
    m = one("ReshapeLayer", {"Dimensions": (4, "Automatic")}, (2, 3, 4))
    assert m.output_types["Output"].dims == (4, 6)
    np.testing.assert_array_equal(run(m, x), x.reshape(1, 4, 6))


def _graph(kind, args, dims_list, **kw):
    nodes = {"op": LayerSpec(kind, args)}
    inputs = {f"X{i}": TensorType(d) for i, d in enumerate(dims_list, 1)}
    edges = [((None, f"X{i}"), ("op", str(i))) for i in range(1, len(dims_list) + 1)]
    return build(NetSpec("graph", nodes, edges, inputs=inputs))


def test_catenate_levels():
    a = np.ones((1, 2, 3), np.float32)
    b = np.zeros((1, 2, 3), np.float32)
    m = _graph("CatenateLayer", {}, [(2, 3), (2, 3)])
    assert m.output_types["Output"].dims == (4, 3)
    m = _graph("CatenateLayer", {"Level": 2}, [(2, 3), (2, 3)])
    assert m.output_types["Output"].dims == (2, 6)
    y = m({"X1": torch.tensor(a), "X2": torch.tensor(b)})["Output"].numpy()
    np.testing.assert_array_equal(y, np.concatenate([a, b], 2))


def test_threading_plus_times_and_total():
    a = torch.tensor([[1.0, 2.0]])
    b = torch.tensor([[3.0, 5.0]])
    for f, want in [("Plus", [4.0, 7.0]), ("Times", [3.0, 10.0]), ("Subtract", [-2.0, -3.0])]:
        m = _graph("ThreadingLayer", {"Function": f}, [(2,), (2,)])
        np.testing.assert_allclose(m({"X1": a, "X2": b})["Output"].numpy()[0], want)
    m = _graph("ThreadingLayer", {"Function": ("Plus", ("Slot", 1), ("Times", 2, ("Slot", 2)))},
               [(2,), (2,)])
    np.testing.assert_allclose(m({"X1": a, "X2": b})["Output"].numpy()[0], [7.0, 12.0])
    m = _graph("TotalLayer", {}, [(2,), (2,), (2,)])
    np.testing.assert_allclose(m({"X1": a, "X2": b, "X3": b})["Output"].numpy()[0], [7.0, 12.0])


@pytest.mark.parametrize("f,np_f", [("Max", np.max), ("Mean", np.mean), ("Total", np.sum),
                                    ("Min", np.min)])
def test_aggregation_default_levels_two_to_all(f, np_f):
    """§2.16: default levels 2;;All (global pooling over the spatial dims of {C, H, W})."""
    x = np.random.default_rng(8).normal(size=(2, 3, 4, 5)).astype(np.float32)
    m = one("AggregationLayer", {"Function": f}, (3, 4, 5))
    assert m.output_types["Output"].dims == (3,)
    np.testing.assert_allclose(run(m, x), np_f(x, axis=(2, 3)), rtol=1e-5)
    m = one("AggregationLayer", {"Function": f, "Levels": 1}, (3, 4, 5))
    np.testing.assert_allclose(run(m, x), np_f(x, axis=1), rtol=1e-5)


def test_aggregation_mean_over_varying_level_masks_padding():
    t = LengthVar(1)
    m = one("AggregationLayer", {"Function": "Mean", "Levels": 1}, (t, 2))
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    y = m({"Input": x}, {1: torch.tensor([2])})["Output"]
    np.testing.assert_allclose(y.numpy(), [[2.0, 3.0]])


def test_summation():
    m = one("SummationLayer", {}, (2, 2))
    np.testing.assert_allclose(run(m, np.ones((3, 2, 2), np.float32)), [4.0, 4.0, 4.0])
