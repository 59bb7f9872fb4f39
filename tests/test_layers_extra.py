"""DeconvolutionLayer, PaddingLayer, ParametricRampLayer, UnitVectorLayer,
InstanceNormalizationLayer and SequenceReverseLayer against numpy, with the conventions of their
pages (reference.wolfram.com/language/ref/<Layer>.html): deconvolution's PaddingSize crops the
output and "Same" gives input size times stride; PaddingLayer is ArrayPad; slopes start at 0.1
and follow the given levels."""

from __future__ import annotations

import numpy as np
import pytest
from layer_checks import assert_round_trip, message, train

import wlbridge

RNG = np.random.default_rng(5)


def net(text: str) -> wlbridge.Net:
    return wlbridge.Net(text, seed=4)


def deconv_numpy(x, w, b, stride):
    """Transposed convolution by scattering: each input pixel adds w[c_in] * x at stride steps."""
    c_in, h, wd = x.shape
    _, c_out, kh, kw = w.shape
    out = np.zeros((c_out, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for c in range(c_in):
        for i in range(h):
            for j in range(wd):
                out[:, i * stride:i * stride + kh, j * stride:j * stride + kw] += x[c, i, j] * w[c]
    return out + b[:, None, None]


@pytest.mark.parametrize("stride,pad,crop", [(1, "0", (0, 0)), (2, "0", (0, 0)), (2, "{{1, 0}, {0, 1}}", None)])
def test_deconvolution_against_numpy(stride, pad, crop):
    n = net(f'NetChain[{{DeconvolutionLayer[3, {{2, 3}}, "Stride" -> {stride}, PaddingSize -> {pad}]}}, '
            '"Input" -> {2, 3, 4}]')
    a = n.arrays()
    w, b = a[("1", "Weights")], RNG.normal(size=3)
    assert w.shape == (2, 3, 2, 3)  # {in, out, kh, kw}
    n = net(f'NetChain[{{DeconvolutionLayer[3, {{2, 3}}, "Stride" -> {stride}, PaddingSize -> {pad}, '
            f'"Weights" -> {wlbridge.to_text(w.tolist())}, "Biases" -> {wlbridge.to_text(b.tolist())}]}}, '
            '"Input" -> {2, 3, 4}]')
    x = RNG.normal(size=(2, 3, 4))
    want = deconv_numpy(x, w.astype(float), b, stride)
    if crop is None:
        want = want[:, 1:, :-1]
    np.testing.assert_allclose(n(x), want, rtol=1e-5, atol=1e-5)


def test_deconvolution_same_is_input_times_stride():
    n = net('NetChain[{DeconvolutionLayer[4, 3, "Stride" -> 2, PaddingSize -> "Same"]}, "Input" -> {1, 5, 6}]')
    assert n.output_types["Output"].dims == (4, 10, 12)


@pytest.mark.parametrize("padding,mode", [("0", "constant"), ("-999", "constant"), ('"Fixed"', "edge"),
                                          ('"Reflected"', "reflect"), ('"Periodic"', "wrap")])
def test_padding_is_array_pad(padding, mode):
    x = RNG.normal(size=(2, 3, 4))
    n = net(f'NetChain[{{PaddingLayer[{{{{0, 0}}, {{1, 2}}, {{2, 1}}}}, Padding -> {padding}]}}, "Input" -> {{2, 3, 4}}]')
    kw = {"constant_values": float(padding)} if mode == "constant" else {}
    np.testing.assert_allclose(n(x), np.pad(x, ((0, 0), (1, 2), (2, 1)), mode=mode, **kw), rtol=1e-6)


def test_parametric_ramp_levels_and_initial_slope():
    x = RNG.normal(size=(3, 2))
    n = net('NetChain[{ParametricRampLayer[]}, "Input" -> {3, 2}]')  # level 1: one slope per row
    assert n.arrays()[("1", "Slope")].tolist() == pytest.approx([0.1] * 3)
    np.testing.assert_allclose(n(x), np.where(x > 0, x, 0.1 * x), rtol=1e-6)
    n = net('NetChain[{ParametricRampLayer[2, "Slope" -> {0.5, 2}]}, "Input" -> {3, 2}]')
    np.testing.assert_allclose(n(x), np.where(x > 0, x, x * [0.5, 2.0]), rtol=1e-6)
    n = net('NetChain[{ParametricRampLayer[{}]}, "Input" -> {3, 2}]')
    assert n.arrays()[("1", "Slope")].shape == ()


def test_unit_vector():
    n = net('NetChain[{UnitVectorLayer[4]}, "Input" -> {3, "Integer"}]')
    np.testing.assert_array_equal(n([2, 4, 1]), np.eye(4)[[1, 3, 0]])
    n = net('NetChain[{UnitVectorLayer[]}, "Input" -> Restricted["Integer", 3]]')
    assert n(3).tolist() == [0.0, 0.0, 1.0]


def test_instance_normalization():
    x = RNG.normal(size=(2, 3, 4))
    n = net('NetChain[{InstanceNormalizationLayer["Scaling" -> {2, 3}, "Biases" -> {1, -1}]}, "Input" -> {2, 3, 4}]')
    mean, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    want = (x - mean) / np.sqrt(var + 0.001) * np.array([2, 3])[:, None, None] + np.array([1, -1])[:, None, None]
    np.testing.assert_allclose(n(x), want, rtol=1e-4, atol=1e-5)


def test_sequence_reverse_keeps_padding_past_the_end():
    n = net('NetChain[{SequenceReverseLayer[]}, "Input" -> {"Varying", 2}]')
    seqs = [RNG.normal(size=(4, 2)), RNG.normal(size=(2, 2))]
    for s, o in zip(seqs, n(seqs), strict=True):
        np.testing.assert_allclose(o, s[::-1], rtol=1e-6)


def lrn_numpy(x, c=2, alpha=1.0, beta=0.5, b=1.0):
    """The page's D_ijk = (alpha/(2c+1) Sum_{x=max(1,i-c)}^{min(N,i+c)} T_xjk^2 + b)^beta; T/D."""
    n = x.shape[0]
    d = np.stack([alpha / (2 * c + 1) * (x[max(0, i - c):min(n, i + c + 1)] ** 2).sum(0) + b for i in range(n)])
    return x / d**beta


def test_local_response_normalization():
    x = RNG.normal(size=(6, 2, 3))
    n = net('NetChain[{LocalResponseNormalizationLayer[]}, "Input" -> {6, 2, 3}]')
    np.testing.assert_allclose(n(x), lrn_numpy(x), rtol=1e-5)
    n = net('NetChain[{LocalResponseNormalizationLayer["ChannelWindowSize" -> 1, "Alpha" -> 2, "Beta" -> 0.75, '
            '"Bias" -> 0.5]}, "Input" -> {6, 2, 3}]')
    np.testing.assert_allclose(n(x), lrn_numpy(x, 1, 2.0, 0.75, 0.5), rtol=1e-5)


def resample(v: np.ndarray, size: int, axis: int) -> np.ndarray:
    """ArrayResample's point sampling along one axis: the ends map onto the ends."""
    old = np.linspace(0, 1, v.shape[axis])
    new = np.linspace(0, 1, size)
    return np.apply_along_axis(lambda r: np.interp(new, old, r), axis, v)


def test_resize_linear_and_nearest():
    np.testing.assert_allclose(net('NetChain[{ResizeLayer[{5}]}, "Input" -> {1, 3}]')(np.array([[1.0, 2, 3]])),
                               [[1, 1.5, 2, 2.5, 3]], rtol=1e-6)  # ArrayResample[{1, 2, 3}, 5]
    x = RNG.normal(size=(2, 3, 4))
    n = net('NetChain[{ResizeLayer[{5, Scaled[1.5]}]}, "Input" -> {2, 3, 4}]')
    np.testing.assert_allclose(n(x), resample(resample(x, 5, 1), 6, 2), rtol=1e-5, atol=1e-6)
    n = net('NetChain[{ResizeLayer[{Scaled[2], All}, Resampling -> "Nearest"]}, "Input" -> {2, 3, 4}]')
    np.testing.assert_allclose(n(x), x.repeat(2, 1), rtol=1e-6)


def test_trained_autoencoder_writes_back():
    """A small convolutional autoencoder with the layers of this file trains and reads back."""
    text = ('NetChain[{ConvolutionLayer[4, 3, "Stride" -> 2, PaddingSize -> 1], '
            'LocalResponseNormalizationLayer["ChannelWindowSize" -> 1], ParametricRampLayer[], '
            'InstanceNormalizationLayer[], ResizeLayer[{Scaled[2], Scaled[2]}, Resampling -> "Nearest"], '
            'DeconvolutionLayer[1, 3, PaddingSize -> 1], '
            'PaddingLayer[{{0, 0}, {0, 0}, {0, 0}}, Padding -> "Fixed"]}, "Input" -> {1, 6, 6}]')
    x = RNG.normal(size=(32, 1, 6, 6)).astype(np.float32)
    trained, losses = train(text, {"Input": x, "Output": x})
    assert losses[-1] < losses[0]
    assert_round_trip(trained, x[:4])


@pytest.mark.parametrize("text,words", [
    ('NetChain[{DeconvolutionLayer[3]}, "Input" -> {2, 3, 3}]', "missing parameter"),
    ('NetChain[{DeconvolutionLayer[3, 2, "Strides" -> 2]}, "Input" -> {2, 3, 3}]', 'unknown option "Strides"'),
    ('NetChain[{PaddingLayer[{1, 2}]}, "Input" -> 3]', "PaddingLayer"),
    ('NetChain[{PaddingLayer[{{1, 1}}, Padding -> "Mirror"]}, "Input" -> 3]', "Padding"),
    ('NetChain[{PaddingLayer[{{5, 0}}, Padding -> "Reflected"]}, "Input" -> 3]', "Reflected"),
    ('NetChain[{UnitVectorLayer[]}, "Input" -> "Integer"]', "could not be inferred"),
    ('NetChain[{InstanceNormalizationLayer["Interleave" -> True]}, "Input" -> {2, 3}]', "Interleave"),
    ('NetChain[{LocalResponseNormalizationLayer[]}, "Input" -> {3, 2, 2}]', "fewer than"),
    ('NetChain[{ResizeLayer[{5, 5}]}, "Input" -> {1, 3}]', "spatial dimensions"),
    ('NetChain[{ResizeLayer[{Scaled[1.5]}, Resampling -> "Nearest"]}, "Input" -> {1, 3}]', "integer Scaled"),
    ('NetChain[{ResizeLayer[{-2}]}, "Input" -> {1, 3}]', "ResizeLayer"),
])
def test_bad_input_gives_one_message(text, words):
    text_of = message(text)
    assert "NetTrain::" in text_of and words in text_of
