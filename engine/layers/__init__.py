"""Wolfram layers as torch modules, found by their Wolfram head through one registry.

A builder turns one `LayerSpec` into a module and the types of its output ports::

    @register("LinearLayer", inputs=("Input",), outputs=("Output",))
    def build(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...])
        -> tuple[nn.Module, dict[str, TensorType]]

``path`` is the display path of the layer, e.g. ``("NetChain", '"3"', "ConvolutionLayer")``;
``where(path)`` joins it to ``NetChain > "3" > ConvolutionLayer`` for messages. ``in_types``
have concrete dims (ints, or `LengthVar` for varying ones); a port whose type the graph could
not determine (a loss "Target" fed by a net input) is given as ``None`` and the builder infers
it, storing the result in ``module.input_types``. ``inputs=None`` in `register` means a
multiport layer (ports "1", "2", ... in edge order); ``optional_inputs``/``optional_outputs``
are ports (recurrent states) that stay hidden unless an edge uses them.

Module call convention: ``module(inputs: dict[str, Tensor], lengths: dict[int, Tensor]) ->
dict[str, Tensor]``; tensors carry the batch dimension in front, ``lengths`` maps a LengthVar id
to the int64 true lengths per example (``{}`` for fixed-size nets). Modules derive from
`engine.layers.base.WolframLayer`: ``wolfram_arrays()`` gives the live tensors under their
Wolfram names in Wolfram layout (None for a removed bias), ``get_arrays()``/``set_arrays()``
convert to and from numpy. Single-port layers also offer ``apply(x) -> Tensor``, which the chain
fast path calls directly.

Layer kinds and the ``LayerSpec.args`` each expects (Wolfram names, normalised Python values;
keys starting with "$", and "Input"/"Output"/"LearningRateMultipliers", are ignored; any other
key is refused with ``NetTrain::invnet`` naming the option and the layer's position).

Levels are Wolfram's: 1-based, counted without the batch dimension, negative from the end.
A *levels spec* is an int, a tuple of ints, ``"All"``, or a Python ``slice(lo, hi)`` for the
Span ``lo;;hi`` (both inclusive, 1-based; ``hi=None`` means ``All``): ``2;;All`` is
``slice(2, None)``. Per-dimension sizes (KernelSize, Stride, Dilation) are an int (same in
every spatial dim) or a tuple of ints. Padding (``"PaddingSize"``) is an int, a tuple of ints
(symmetric per dim), a tuple of ``(lo, hi)`` pairs (asymmetric), or ``"Same"``.

================================  ==========================================================
kind                              args
================================  ==========================================================
LinearLayer                       "OutputDimensions": tuple of ints (``()`` = scalar output;
                                  None/absent = infer from the declared "Output"),
                                  "Biases": None removes the bias. Input flattened row-major.
ElementwiseLayer                  "Function": a name ("Ramp", "Tanh", "LogisticSigmoid",
                                  "ReLU", "ELU", "SELU", "SoftPlus", "SoftSign", "HardTanh",
                                  "HardSigmoid", "Sigmoid", "GELU", "Swish", "HardSwish",
                                  "Mish", "Sin", "Cos", "Exp", "Log", "Sqrt", "Square", "Abs",
                                  ... see ``elementwise.UNARY``) or a `ScalarFn` tree (below)
SoftmaxLayer                      "Level": int, default -1
DropoutLayer                      "DropoutProbability": float in [0, 1), default 0.5;
                                  "Method": "Dropout" (default) | "AlphaDropout"
BatchNormalizationLayer           "Epsilon": 0.001; "Momentum": 0.9 (keep 90% of the moving
                                  statistic per batch); "Interleaving": False only
NormalizationLayer                "AggregationLevels": levels spec, default ``slice(2, None)``;
                                  "ScalingLevels": "Complement" (default) | "Same" | levels;
                                  "Epsilon": 0.001; "Biases"/"Scaling": None removes the array
ConvolutionLayer                  "OutputChannels": int; "KernelSize": int|tuple; "Stride": 1;
                                  "PaddingSize": 0; "Dilation": 1; "ChannelGroups": 1;
                                  "Dimensionality": int|None; "Biases": None removes the bias;
                                  "Interleaving": False only
PoolingLayer                      "KernelSize": int|tuple; "Stride": **1 by default**;
                                  "PaddingSize": 0; "Function": "Max" (default)|"Mean"|"Total";
                                  "Dimensionality": int|None; "Interleaving": False only
FlattenLayer                      "Level": None/"Infinity" (default, flatten everything) or an
                                  int n (n > 0 merges the first n+1 dims, -n the last n+1)
ReshapeLayer                      "Dimensions": tuple of ints, "Automatic" (one, inferred) or
                                  "Inherited" (copy the input's dim at that position)
EmbeddingLayer                    "OutputDimensions": int (the embedding size);
                                  "InputDimensions": int n (vocabulary: indices 1..n) or None
                                  (taken from the input's ``index_range``)
CatenateLayer                     "Level": int, default 1; multiport
ThreadingLayer                    "Function": "Plus" | "Times" | "Subtract" | "Divide" |
                                  "Power" | "Min" | "Max" or a `ScalarFn` of slots 1..k;
                                  multiport, size-1 dims broadcast
TotalLayer                        (none); multiport, sums its inputs
AggregationLayer                  "Function": "Max" | "Min" | "Mean" | "Total";
                                  "Levels": levels spec, default ``slice(2, None)``
SummationLayer                    (none); the sum of all elements, a scalar
CrossEntropyLossLayer             "Form" (alias "TargetForm"): "Index" | "Binary" |
                                  "Probabilities"; ports "Input", "Target" -> "Loss"
MeanSquaredLossLayer              (none); ports "Input", "Target" -> "Loss"
MeanAbsoluteLossLayer             (none); ports "Input", "Target" -> "Loss"
================================  ==========================================================

Loss layers output one number per example (the mean over the example's elements, masked by
``lengths`` for varying dims), so their "Loss" port has type ``TensorType(())``.

`ScalarFn` (``engine.layers.elementwise``) is a Wolfram-free op tree for pure functions:
a number; ``("Slot",)`` or ``("Slot", k)`` for ``#``/``#k``; or ``(op, arg, ...)`` with op in
"Plus", "Times", "Subtract", "Divide", "Power", "Minus", "Min", "Max", "Clip" (x, lo, hi),
"Greater", "Less", "GreaterEqual", "LessEqual", "If" (cond, then, else) or any unary name
above. ``#*LogisticSigmoid[#]&`` is ``("Times", ("Slot",), ("LogisticSigmoid", ("Slot",)))``.

Initial arrays come from ``LayerSpec.arrays`` (Wolfram layout, shape-checked against the layer;
a mismatch raises ``NetTrain::invnet`` naming the layer and the array).

Shapes also flow backwards (an output's declared shape sizing an undeclared input): a layer can
add a shape rule with ``engine.shapes.shape_rule`` beside its builder; `engine.shape_rules`
holds those of the layers above that need one.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Builder = Callable[..., Any]


@dataclass(frozen=True)
class LayerKind:
    """A registered layer kind: its builder and its port names."""

    name: str
    build: Builder
    inputs: tuple[str, ...] | None  # None: multiport "1", "2", ...
    outputs: tuple[str, ...]
    optional_inputs: tuple[str, ...] = ()
    optional_outputs: tuple[str, ...] = ()
    is_loss: bool = False
    ports: Callable[[Any], tuple[str, ...]] | None = None  # per-layer input names (FunctionLayer)


REGISTRY: dict[str, LayerKind] = {}


def register(
    name: str,
    inputs: tuple[str, ...] | None = ("Input",),
    outputs: tuple[str, ...] = ("Output",),
    optional_inputs: tuple[str, ...] = (),
    optional_outputs: tuple[str, ...] = (),
    is_loss: bool = False,
    ports: Callable[[Any], tuple[str, ...]] | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator: register ``build`` as the builder of the Wolfram layer ``name``; ``ports``
    (with ``inputs=None``) names the input ports of one `LayerSpec`."""

    def deco(build: Builder) -> Builder:
        REGISTRY[name] = LayerKind(
            name, build, inputs, outputs, optional_inputs, optional_outputs, is_loss, ports
        )
        return build

    return deco


_MODULES = ("elementwise", "basic", "conv", "norm", "structure", "loss", "recurrent", "sequence",
            "arrange", "constant", "attention", "function", "deconv", "padding", "pointwise", "resize",
            "aggregation_extra", "operators", "fold",
            "loss_extra", "interleaving", "recurrent_dropout")
_loaded = False


def load_all() -> dict[str, LayerKind]:
    """Import every layer module once (so each registers) and return the registry."""
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _MODULES:
            full = f"{__name__}.{mod}"
            if importlib.util.find_spec(full) is not None:
                importlib.import_module(full)
    return REGISTRY


def lookup(name: str) -> LayerKind | None:
    """The registered kind called ``name``, or None."""
    return load_all().get(name)


def where(path: tuple[str, ...]) -> str:
    """A layer's position for messages: ``NetChain > "3" > ConvolutionLayer``."""
    return " > ".join(path)
