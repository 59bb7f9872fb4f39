"""Interleaving -> True (channels last, {h, w, c}) for ConvolutionLayer, PoolingLayer,
BatchNormalizationLayer, DeconvolutionLayer and InstanceNormalizationLayer (their pages: the
option sets the position of the channel dimension): the same arrays give the channels-first
result with the channel level moved to the end."""

from __future__ import annotations

import numpy as np
import pytest
from layer_checks import assert_round_trip, message, train

import wlbridge

RNG = np.random.default_rng(13)


@pytest.mark.parametrize("head,args", [
    ("ConvolutionLayer", ["3", "2", "PaddingSize -> 1", '"Stride" -> 2']),
    ("PoolingLayer", ["2", "2", '"Function" -> Mean']),
    ("BatchNormalizationLayer", []),
    ("DeconvolutionLayer", ["3", "2", '"Stride" -> 2']),
    ("InstanceNormalizationLayer", []),
])
def test_channels_last_matches_channels_first(head, args):
    first = wlbridge.Net(f'NetChain[{{{head}[{", ".join(args)}]}}, "Input" -> {{2, 5, 6}}]', seed=3)
    given = [f'"{k[-1]}" -> {wlbridge.to_text(v.tolist())}' for k, v in first.arrays().items()]
    last = wlbridge.Net(f'NetChain[{{{head}[{", ".join([*args, "Interleaving -> True", *given])}]}}, '
                        '"Input" -> {5, 6, 2}]')
    x = RNG.normal(size=(2, 5, 6))
    np.testing.assert_allclose(last(np.moveaxis(x, 0, -1)), np.moveaxis(first(x), 0, -1), rtol=1e-5, atol=1e-6)
    assert last.output_types["Output"].dims[-1] == first.output_types["Output"].dims[0]


def test_trained_channels_last_net_writes_back():
    text = ('NetChain[{ConvolutionLayer[4, 3, Interleaving -> True], BatchNormalizationLayer[Interleaving -> True], '
            'Ramp, PoolingLayer[2, 2, Interleaving -> True], FlattenLayer[], LinearLayer[1]}, '
            '"Input" -> {6, 6, 1}, "Output" -> 1]')
    x = RNG.normal(size=(32, 6, 6, 1)).astype(np.float32)
    trained, losses = train(text, {"Input": x, "Output": x.mean((1, 2))})
    assert losses[-1] < losses[0]
    assert "Interleaving -> True" in assert_round_trip(trained, x[:4])


def test_interleaving_elsewhere_is_refused():
    got = message('NetChain[{NormalizationLayer[Interleaving -> True]}, "Input" -> {2, 3}]')
    assert "NetTrain::" in got and "Interleaving" in got
