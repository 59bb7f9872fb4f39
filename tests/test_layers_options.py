"""NormalizationLayer's "GroupNumber", Method -> "RMS" and "Unbiased", and AggregationLayer's
further functions, against numpy with the statistics their pages name
(reference.wolfram.com/language/ref/NormalizationLayer.html, .../AggregationLayer.html:
Variance and StandardDeviation divide by n - 1; InterquartileRange uses Quantile's default
parameters {{1/2, 0}, {0, 1}}, which is numpy's "hazen" method)."""

from __future__ import annotations

import numpy as np
import pytest
from layer_checks import assert_round_trip, message, train

import wlbridge

RNG = np.random.default_rng(8)
X = RNG.normal(size=(4, 6))


def agg(f: str, x=X) -> np.ndarray:
    return wlbridge.Net(f'NetChain[{{AggregationLayer[{f}]}}, "Input" -> {{4, 6}}]')(x)


@pytest.mark.parametrize("f,want", [
    ("Times", X.prod(1)),
    ("Median", np.median(X, 1)),
    ("Variance", X.var(1, ddof=1)),
    ("StandardDeviation", X.std(1, ddof=1)),
    ("MeanDeviation", np.abs(X - X.mean(1, keepdims=True)).mean(1)),
    ("InterquartileRange", np.quantile(X, 0.75, 1, method="hazen") - np.quantile(X, 0.25, 1, method="hazen")),
])
def test_aggregation_functions(f, want):
    np.testing.assert_allclose(agg(f), want, rtol=1e-5, atol=1e-6)


def test_median_of_odd_count_and_levels():
    x = RNG.normal(size=(2, 3, 5))
    n = wlbridge.Net('NetChain[{AggregationLayer[Median, 3]}, "Input" -> {2, 3, 5}]')
    np.testing.assert_allclose(n(x), np.median(x, 2), rtol=1e-6)


def test_group_number_normalises_each_group():
    """"GroupNumber" -> {2, 1} on levels 1;;2 of {4, 6}: rows 1-2 and rows 3-4 separately."""
    n = wlbridge.Net('NetChain[{NormalizationLayer[1;;2, "Same", "GroupNumber" -> {2, 1}]}, "Input" -> {4, 6}]')
    want = np.concatenate([(g - g.mean()) / np.sqrt(g.var() + 0.001) for g in (X[:2], X[2:])])
    np.testing.assert_allclose(n(X), want, rtol=1e-4, atol=1e-5)


def test_rms_and_unbiased():
    n = wlbridge.Net('NetChain[{NormalizationLayer[2, 1, Method -> "RMS"]}, "Input" -> {4, 6}]')
    np.testing.assert_allclose(n(X), X / np.sqrt((X**2).mean(1, keepdims=True) + 0.001), rtol=1e-5)
    n = wlbridge.Net('NetChain[{NormalizationLayer[2, 1, "Unbiased" -> True]}, "Input" -> {4, 6}]')
    want = (X - X.mean(1, keepdims=True)) / np.sqrt(X.var(1, ddof=1, keepdims=True) + 0.001)
    np.testing.assert_allclose(n(X), want, rtol=1e-4, atol=1e-5)


def test_trained_net_with_the_options_writes_back():
    text = ('NetChain[{LinearLayer[8], NormalizationLayer[1, "Same", Method -> "RMS"], Ramp, '
            'ReshapeLayer[{2, 4}], AggregationLayer[StandardDeviation, 2], LinearLayer[1]}, '
            '"Input" -> 3, "Output" -> 1]')
    x = RNG.normal(size=(40, 3)).astype(np.float32)
    trained, losses = train(text, {"Input": x, "Output": np.abs(x).sum(1, keepdims=True)})
    assert losses[-1] < losses[0]
    written = assert_round_trip(trained, x[:5])
    assert 'Method -> "RMS"' in written


@pytest.mark.parametrize("text,words", [
    ('NetChain[{NormalizationLayer[2, 1, "GroupNumber" -> {4}]}, "Input" -> {4, 6}]', "groups do not divide"),
    ('NetChain[{NormalizationLayer[1;;2, 1, "GroupNumber" -> {2}]}, "Input" -> {4, 6}]', "one group count"),
    ('NetChain[{NormalizationLayer[2, 1, Method -> "L2"]}, "Input" -> {4, 6}]', "Method"),
    ('NetChain[{AggregationLayer[Mode]}, "Input" -> {4, 6}]', "Function"),
    ('NetChain[{AggregationLayer[Median, 1]}, "Input" -> {"Varying", 6}]', "varying"),
])
def test_bad_options_give_one_message(text, words):
    text_of = message(text)
    assert "NetTrain::" in text_of and words in text_of
