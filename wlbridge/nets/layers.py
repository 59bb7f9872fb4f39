"""The layer table: each supported Wolfram layer's parameters, options, arrays and ports.

One row per layer (STYLE: a handler table). A row lists positional parameters in order, options
with their defaults, each with a small normaliser, the array names, and the port names. The
converter reads a layer call by this table into ``LayerSpec.args`` keyed by Wolfram parameter
names; the engine's registry builds from those args.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wlbridge.exprs import fold
from wlbridge.nets.exprs import head_name, is_int, is_number, short, symbol_name, to_number
from wlbridge.nets.functions import BadFunction, elementwise_function, threading_function


class BadParam(ValueError):
    """A parameter value the layer does not accept; the text says which and why."""


Norm = Callable[[Any], Any]


@dataclass(frozen=True)
class LayerDef:
    """What one Wolfram layer accepts."""

    name: str
    positional: tuple[tuple[str, Norm], ...] = ()
    options: dict[str, tuple[Any, Norm]] = field(default_factory=dict)
    arrays: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()  # arrays that may be None ("Biases" -> None)
    aliases: dict[str, str] = field(default_factory=dict)  # old array names (Gamma -> Scaling)
    inputs: tuple[str, ...] = ("Input",)
    outputs: tuple[str, ...] = ("Output",)
    optional_ports: tuple[str, ...] = ()  # state ports, used only when an edge names them
    multiport: bool = False  # Catenate/Threading: inputs "1", "2", ... in edge order
    required: int = 0  # how many positional parameters must be given
    defaults: dict[str, Any] = field(default_factory=dict)  # positional parameters left out
    ports: Callable[[Any], tuple[str, ...]] | None = None  # input ports set by the spec (FunctionLayer)


# ---------------------------------------------------------------------------------------------
# normalisers


def dims(v: Any) -> tuple[Any, ...] | None:
    """``n`` -> (n,), ``{n1, n2}`` -> (n1, n2), ``{}`` -> (), ``Automatic`` -> None."""
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    if symbol_name(v) == "Automatic":
        return None
    if is_int(v) and v > 0:
        return (int(v),)
    if isinstance(v, (tuple, list)) and all((is_int(d) and d > 0) or symbol_name(d) == "Automatic" for d in v):
        return tuple(None if symbol_name(d) == "Automatic" else int(d) for d in v)
    raise BadParam(f"expected a positive integer or a list of them, not {short(v)}")


def pos_int(v: Any) -> int:
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    if is_int(v) and v > 0:
        return int(v)
    raise BadParam(f"expected a positive integer, not {short(v)}")


def auto_pos_int(v: Any) -> int | None:
    return None if symbol_name(v) == "Automatic" else pos_int(v)


def int_or_ints(v: Any) -> int | tuple[int, ...]:
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    if is_int(v) and v > 0:
        return int(v)
    if isinstance(v, (tuple, list)) and v and all(is_int(d) and d > 0 for d in v):
        return tuple(int(d) for d in v)
    raise BadParam(f"expected a positive integer or a list of positive integers, not {short(v)}")


def padding(v: Any) -> Any:
    """``n``, ``{n1, ...}``, ``{{lo, hi}, ...}`` or ``"Same"`` (wl-nets.md §2.7)."""
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    if v == "Same":
        return "Same"
    if is_int(v) and v >= 0:
        return int(v)
    if isinstance(v, (tuple, list)) and v:
        if all(is_int(d) and d >= 0 for d in v):
            return tuple(int(d) for d in v)
        if all(isinstance(p, (tuple, list)) and len(p) == 2 and all(is_int(d) and d >= 0 for d in p) for p in v):
            return tuple((int(p[0]), int(p[1])) for p in v)
    raise BadParam(f'expected a padding size (n, {{n1, n2}}, {{{{lo, hi}}, ...}} or "Same"), not {short(v)}')


def real(v: Any) -> float:
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    n = to_number(v)
    if n is None:
        raise BadParam(f"expected a real number, not {short(v)}")
    return float(n)


def positive_real(v: Any) -> float:
    x = real(v)
    if x <= 0:
        raise BadParam(f"expected a positive number, not {short(v)}")
    return x


def probability(v: Any) -> float:
    x = real(v)
    if not 0 <= x < 1:
        raise BadParam(f"expected a probability in [0, 1), not {short(v)}")
    return x


def boolean(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    raise BadParam(f"expected True or False, not {short(v)}")


def level(v: Any) -> int:
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    if is_int(v) and v != 0:
        return int(v)
    raise BadParam(f"expected a nonzero integer level, not {short(v)}")


def levels(v: Any) -> Any:
    """An integer, ``All``, a span ``a;;b`` (-> ``slice(a, b)``, ``All`` -> None) or a list."""
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    if symbol_name(v) == "All":
        return "All"
    if is_int(v) and v != 0:
        return int(v)
    if head_name(v) == "Span" and len(v.args) == 2:
        lo, hi = v.args
        lo = 1 if symbol_name(lo) == "All" else lo
        hi = None if symbol_name(hi) == "All" else hi
        if is_int(lo) and (hi is None or is_int(hi)):
            return slice(int(lo), None if hi is None else int(hi))
    if isinstance(v, (tuple, list)) and v and all(is_int(d) and d != 0 for d in v):
        return tuple(int(d) for d in v)
    raise BadParam(f"expected levels (n, a;;b, All or a list), not {short(v)}")


def scaling_levels(v: Any) -> Any:
    return v if v in ("Complement", "Same") else levels(v)


def one_of(*names: str) -> Norm:
    def norm(v: Any) -> str:
        s = symbol_name(v) or v
        if isinstance(s, str) and s in names:
            return s
        raise BadParam(f"expected one of {', '.join(names)}, not {short(v)}")
    return norm


def elementwise(v: Any) -> Any:
    try:
        return elementwise_function(v)
    except BadFunction as err:
        raise BadParam(str(err)) from err


def threading(v: Any) -> Any:
    try:
        return threading_function(v)
    except BadFunction as err:
        raise BadParam(str(err)) from err


def flatten_level(v: Any) -> Any:
    """``Infinity`` (default) -> None, meaning all levels; an integer n; or a regrouping list."""
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    n = to_number(v)
    if n == float("inf"):
        return None
    if is_int(v) and v != 0:
        return int(v)
    if isinstance(v, (tuple, list)):
        return tuple(tuple(x) if isinstance(x, (tuple, list)) else x for x in v)
    raise BadParam(f"expected a level (n, -n or Infinity), not {short(v)}")


def reshape_dims(v: Any) -> tuple[Any, ...]:
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    if isinstance(v, (tuple, list)):
        out: list[Any] = []
        for d in v:
            if is_int(d) and d > 0:
                out.append(int(d))
            elif symbol_name(d) in ("Automatic", "Inherited", "All"):
                out.append(symbol_name(d))
            else:
                raise BadParam(f"bad dimension {short(d)} in ReshapeLayer")
        return tuple(out)
    raise BadParam(f"expected a list of dimensions, not {short(v)}")


def dropout_spec(v: Any) -> Any:
    """RNN "Dropout": None, a probability, or rules; passed through as a dict for the engine."""
    v = fold(v)  # 2^5, 1/2, Rational[1, 2]: the arithmetic Wolfram would have done
    if v is None:
        return None
    if is_number(v):
        return probability(v)
    if isinstance(v, dict):
        return {k: probability(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)) and all(head_name(r) == "Rule" for r in v):
        return {r.args[0]: probability(r.args[1]) for r in v}
    raise BadParam(f"expected None, a probability or a list of rules, not {short(v)}")


def anything(v: Any) -> Any:
    return v


# ---------------------------------------------------------------------------------------------
# the table

_SPATIAL = {
    "Stride": (1, int_or_ints),
    "PaddingSize": (0, padding),
    "Dilation": (1, int_or_ints),
    "Interleaving": (False, boolean),
    "Dimensionality": (None, lambda v: None if symbol_name(v) == "Automatic" else pos_int(v)),
}
_LSTM_ARRAYS = tuple(f"{g}Gate{w}" for g in ("Input", "Output", "Forget", "Memory")
                     for w in ("InputWeights", "StateWeights", "Biases"))
_GRU_ARRAYS = tuple(f"{g}Gate{w}" for g in ("Input", "Reset", "Memory")
                    for w in ("InputWeights", "StateWeights", "Biases"))
_LOSS_PORTS = {"inputs": ("Input", "Target"), "outputs": ("Loss",)}


def _defs() -> dict[str, LayerDef]:
    rows = [
        LayerDef("LinearLayer", (("OutputDimensions", dims),), arrays=("Weights", "Biases"), nullable=("Biases",),
                 defaults={"OutputDimensions": None}),
        LayerDef("ElementwiseLayer", (("Function", elementwise),), required=1),
        LayerDef("SoftmaxLayer", (("Level", level),), defaults={"Level": -1}),
        LayerDef("DropoutLayer", (("DropoutProbability", probability),),
                 {"Method": ("Dropout", one_of("Dropout", "AlphaDropout"))}, defaults={"DropoutProbability": 0.5}),
        LayerDef("BatchNormalizationLayer", (),
                 {"Epsilon": (0.001, positive_real), "Momentum": (0.9, real), "Interleaving": (False, boolean)},
                 arrays=("Scaling", "Biases", "MovingMean", "MovingVariance"),
                 aliases={"Gamma": "Scaling", "Beta": "Biases"}),
        LayerDef("NormalizationLayer", (("AggregationLevels", levels), ("ScalingLevels", scaling_levels)),
                 {"Epsilon": (0.001, positive_real)}, arrays=("Scaling", "Biases"), nullable=("Scaling", "Biases"),
                 defaults={"AggregationLevels": slice(2, None), "ScalingLevels": "Complement"}),
        LayerDef("ConvolutionLayer", (("OutputChannels", pos_int), ("KernelSize", int_or_ints)),
                 {**_SPATIAL, "ChannelGroups": (1, pos_int)},
                 arrays=("Weights", "Biases"), nullable=("Biases",), required=2),
        LayerDef("PoolingLayer", (("KernelSize", int_or_ints), ("Stride", int_or_ints)),
                 {**{k: v for k, v in _SPATIAL.items() if k != "Dilation"},
                  "Function": ("Max", one_of("Max", "Mean", "Total"))}, required=1),
        LayerDef("FlattenLayer", (("Level", flatten_level),), defaults={"Level": None}),
        LayerDef("ReshapeLayer", (("Dimensions", reshape_dims),), required=1),
        LayerDef("EmbeddingLayer", (("OutputDimensions", pos_int), ("InputDimensions", auto_pos_int)),
                 arrays=("Weights",), defaults={"InputDimensions": None}, required=1),
        LayerDef("LongShortTermMemoryLayer", (("OutputSize", pos_int),), {"Dropout": (None, dropout_spec)},
                 arrays=_LSTM_ARRAYS, inputs=("Input", "State", "CellState"),
                 outputs=("Output", "State", "CellState"), optional_ports=("State", "CellState"), required=1),
        LayerDef("GatedRecurrentLayer", (("OutputSize", pos_int),), {"Dropout": (None, dropout_spec)},
                 arrays=_GRU_ARRAYS, inputs=("Input", "State"), outputs=("Output", "State"),
                 optional_ports=("State",), required=1),
        LayerDef("BasicRecurrentLayer", (("OutputSize", pos_int),), {"Dropout": (None, dropout_spec)},
                 arrays=("InputWeights", "StateWeights", "Biases"), inputs=("Input", "State"),
                 outputs=("Output", "State"), optional_ports=("State",), required=1),
        LayerDef("SequenceLastLayer"),
        LayerDef("SequenceMostLayer"),
        LayerDef("SequenceRestLayer"),
        LayerDef("AggregationLayer", (("Function", one_of("Max", "Min", "Mean", "Total")), ("Levels", levels)),
                 required=1, defaults={"Levels": slice(2, None)}),
        LayerDef("CatenateLayer", (("Level", level),), multiport=True, defaults={"Level": 1}),
        LayerDef("ThreadingLayer", (("Function", threading),), multiport=True, required=1),
        LayerDef("TotalLayer", (), multiport=True),
        LayerDef("MeanSquaredLossLayer", **_LOSS_PORTS),
        LayerDef("MeanAbsoluteLossLayer", **_LOSS_PORTS),
        LayerDef("CrossEntropyLossLayer", (("TargetForm", one_of("Index", "Probabilities", "Binary")),),
                 defaults={"TargetForm": None}, **_LOSS_PORTS),
        LayerDef("SummationLayer"),
    ]
    return {r.name: r for r in rows}


LAYERS: dict[str, LayerDef] = _defs()
# Options every layer takes besides its own (handled by the converter).
COMMON_OPTIONS = ("Input", "Output", "LearningRateMultipliers")


# Layers whose trained form is not "the expression plus its arrays as options" (a net inside a
# layer): kind -> writer(expr, spec, path, arrays, write_node, write_rules), used by writeback.
WRITERS: dict[str, Callable[..., Any]] = {}


def _register(rows: list[LayerDef], writers: dict[str, Callable[..., Any]] | None = None) -> None:
    """Add (or widen) rows of the table, and their write-back hooks."""
    for row in rows:
        LAYERS[row.name] = row
    WRITERS.update(writers or {})


from wlbridge.nets import (  # noqa: E402  (their rows use the normalisers above)
    layers_arrange,
    layers_attention,
    layers_extra,
    layers_function,
    layers_losses,
    layers_operators,
    layers_options,
)

_register(layers_arrange.ROWS)
_register(layers_attention.ROWS, layers_attention.WRITERS)
_register(layers_function.ROWS)
_register(layers_extra.ROWS)
_register(layers_operators.ROWS, layers_operators.WRITERS)
_register(layers_losses.ROWS, layers_losses.WRITERS)
_register(layers_options.rows())  # widens NormalizationLayer and AggregationLayer
