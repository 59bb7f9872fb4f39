"""Wolfram's default initialisation (NetInitialize), applied to every array not given by the user.

Rank-2+ arrays: Xavier/Glorot uniform with fan_out = first dim and fan_in = product of the rest,
variance 2/(fan_in + fan_out), doubled when the layer feeds Ramp/ReLU; a LinearLayer feeding
SELU gets Normal(0, sqrt(1/fan_in)). "Biases" 0, "ForgetGateBiases" 1, "Scaling" 1, BatchNorm
"MovingMean" 0 and "MovingVariance" 1. Draws use torch's global generator, so RandomSeed
(torch.manual_seed) makes them reproducible.
"""

from __future__ import annotations

import math

import torch

RELU_NAMES = frozenset({"Ramp", "ReLU", "RectifiedLinearUnit"})
SELU_NAMES = frozenset({"SELU", "ScaledExponentialLinearUnit"})

_CONSTANT = {"Biases": 0.0, "ForgetGateBiases": 1.0, "Scaling": 1.0, "MovingMean": 0.0,
             "MovingVariance": 1.0, "Beta": 0.0, "Gamma": 1.0}


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) the Wolfram way: fan_out = first dim, fan_in = product of the rest."""
    return math.prod(shape[1:]), shape[0]


@torch.no_grad()
def init_array(name: str, t: torch.Tensor, next_function: str | None = None) -> None:
    """Fill one array in place by Wolfram's rule for its name and shape.

    ``next_function`` is the ElementwiseLayer function the layer feeds, if any (Ramp doubles
    the Xavier variance; SELU switches to the LeCun normal).
    """
    if name in _CONSTANT or t.dim() < 2:
        t.fill_(_CONSTANT.get(name, 0.0))
        return
    fan_in, fan_out = fans(tuple(t.shape))
    if next_function in SELU_NAMES:
        t.normal_(0.0, math.sqrt(1.0 / fan_in))
        return
    var = 2.0 / (fan_in + fan_out)
    if next_function in RELU_NAMES:
        var *= 2.0
    bound = math.sqrt(3.0 * var)
    t.uniform_(-bound, bound)


def initialize_layer(layer: torch.nn.Module, next_function: str | None = None,
                     force: bool = False) -> None:
    """Initialise every array of ``layer`` except those given by the user (unless ``force``)."""
    given = getattr(layer, "given", set())
    arrays = layer.wolfram_arrays() if hasattr(layer, "wolfram_arrays") else {}
    for name, t in arrays.items():
        if t is not None and (force or name not in given):
            init_array(name, t, next_function)
