"""Plain data the engine consumes: nets, coders, data and training configuration.

Nothing here knows Wolfram syntax (DESIGN.md rule 2). `wlbridge` builds these from Wolfram
expressions; Python users may build them by hand. Names follow Wolfram's where the user sees
them (layer kinds, port names, array names) and PyTorch's inside the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

# A dimension: a fixed size, None for "infer me", or a LengthVar for a varying (sequence) length.
Dim = "int | None | LengthVar"


@dataclass(frozen=True)
class LengthVar:
    """A varying length (Wolfram's ``LengthVar[id]``); ports sharing an id share the length."""

    id: int = 0


@dataclass(frozen=True)
class TensorType:
    """The type of one port, without the batch dimension.

    ``dims`` are ints, ``None`` (to infer) or `LengthVar`. ``index_range`` is set for integer
    ports (``Restricted["Integer", n]`` → n); ``None`` means real-valued. ``dims=None`` means
    the rank itself is unknown and is inferred.
    """

    dims: tuple[Any, ...] | None = None
    index_range: int | None = None

    @property
    def is_index(self) -> bool:
        return self.index_range is not None

    @property
    def varying(self) -> bool:
        return bool(self.dims) and any(isinstance(d, LengthVar) for d in self.dims)


@dataclass(frozen=True)
class EncoderSpec:
    """An input encoder: ``kind`` in {"Class", "Boolean", "Scalar", "Characters", "Tokens"}.

    ``labels`` are the class labels, characters or tokens, 1-based in the order given; they are
    opaque hashables to the engine (wlbridge passes Wolfram values). ``options`` carries
    "IgnoreCase", "TargetLength", "OutputForm" ("Index" or "UnitVector"), ...
    """

    kind: str
    labels: tuple[Hashable, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DecoderSpec:
    """An output decoder: ``kind`` in {"Class", "Boolean"}; ``labels`` as for encoders."""

    kind: str
    labels: tuple[Hashable, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class LayerSpec:
    """One Wolfram layer.

    ``kind`` is the Wolfram head (``"LinearLayer"``), ``args`` its normalised positional
    parameters and options by their Wolfram names (``{"OutputDimensions": (10,),
    "Biases": None}``), ``arrays`` the initial values given in the constructor by array name
    (float numpy arrays, Wolfram layout), ``inputs``/``outputs`` declared port types, and
    ``lr_multiplier`` the layer's own LearningRateMultipliers (None = inherit).
    """

    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray | None] = field(default_factory=dict)
    inputs: dict[str, TensorType] = field(default_factory=dict)
    outputs: dict[str, TensorType] = field(default_factory=dict)
    lr_multiplier: float | None = None


# A port reference inside a net: (node key or None for the enclosing net's own port, port name).
PortRef = tuple[str | None, str]


@dataclass
class NetSpec:
    """A container: NetChain (``kind="chain"``) or NetGraph (``kind="graph"``).

    ``nodes`` keeps the user's keys and order ("1", "2", ... for list forms). For a chain,
    ``edges`` may be left empty: node i's only output feeds node i+1's only input. For a graph,
    each edge is ``(source, destination)``: a source is a node output or a net input
    ``(None, name)``, a destination a node input or a net output ``(None, name)``.
    ``inputs``/``outputs`` are the net's declared port types; ``encoders``/``decoders`` are
    attached to those ports only (as in Wolfram).
    """

    kind: Literal["chain", "graph"]
    nodes: dict[str, LayerSpec | NetSpec]
    edges: list[tuple[PortRef, PortRef]] = field(default_factory=list)
    inputs: dict[str, TensorType] = field(default_factory=dict)
    outputs: dict[str, TensorType] = field(default_factory=dict)
    encoders: dict[str, EncoderSpec] = field(default_factory=dict)
    decoders: dict[str, DecoderSpec] = field(default_factory=dict)
    lr_multiplier: float | None = None


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Dataset:
    """Training or validation data as named columns, one entry per example.

    A column is a numpy array (fixed shape, first axis = examples) or a list (variable-length
    sequences, strings or labels still to be encoded). All columns have the same length.
    """

    columns: dict[str, np.ndarray | list[Any]]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


# ---------------------------------------------------------------------------------------------
# Training configuration


@dataclass(frozen=True)
class Interval:
    """NetTrain's periodic interval as a (batches, rounds, seconds) triple (reference §9.6).

    ``percent`` is resolved to batches once the total is known.
    """

    batches: int = 0
    rounds: float = 0
    seconds: float = 0.0
    percent: float | None = None


@dataclass
class MethodSpec:
    """The optimizer: ``name`` in {"ADAM", "SGD", "RMSProp", "SignSGD"} with Wolfram sub-options.

    ``None`` fields take the method's Wolfram default (reference §9.4).
    ``learning_rate_schedule`` is "Automatic" (the method's default: "Polynomial" for SGD,
    none otherwise), None (no schedule), "Polynomial" or a callable ``f(t, T) -> factor``.
    Per-array forms of the regularisers are lists of (path-prefix, value).
    """

    name: str = "ADAM"
    learning_rate: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    epsilon: float | None = None
    beta: float | None = None
    momentum: float | None = None
    learning_rate_schedule: Any = "Automatic"
    l2_regularization: float | list[tuple[tuple[str, ...], float]] | None = None
    gradient_clipping: float | list[tuple[tuple[str, ...], float]] | None = None
    weight_clipping: float | list[tuple[tuple[str, ...], float]] | None = None


@dataclass
class LossSpec:
    """One loss term: the output ``port`` it applies to, the loss ``layer`` (None = automatic
    by the rules of wl-nets.md §5) and a ``scale`` (``Scaled[r]``)."""

    port: str | None = None
    layer: LayerSpec | None = None
    scale: float = 1.0


@dataclass
class Callback:
    """A TrainingProgressFunction: ``fn(info: dict) -> None | "StopTraining" | "AbortTraining"``,
    called every ``interval`` or on ``events`` (names of reference §9.6)."""

    fn: Callable[[dict[str, Any]], Any]
    interval: Interval | None = None
    events: tuple[str, ...] = ()
    minimum_interval: float = 0.0


@dataclass
class StoppingCriterion:
    """TrainingStoppingCriterion (reference §9.8): a measurement name or a callable."""

    criterion: str | Callable[[dict[str, Any]], bool]
    patience: int = 0
    initial_patience: int = 0
    absolute_change: float | None = None
    relative_change: float | None = None


@dataclass
class ReportingSpec:
    """TrainingProgressReporting (reference §6.1), Wolfram-free.

    ``form`` is one of "Print", "Panel", "ProgressIndicator", "None", "File", "Function";
    ``path`` is set for "File" (extension .csv/.tsv/.json/.wl picks the format), ``fn`` for
    "Function" (called with the progress association), ``interval`` is how often rows are made
    (None = the form's default).
    """

    form: str = "Print"
    path: str | None = None
    fn: Callable[[dict[str, Any]], Any] | None = None
    interval: Interval | None = None


# A listener receives (time, absBatch, value) for one channel; the loop never formats values.
Listener = Callable[[float, int, Any], None]

CHANNELS = (
    "Plan", "Executor", "Bucketing", "Backend", "MemoryUsage", "Timing", "Permutation",
    "Gradient", "CoreLoop", "Trainer",
)


@dataclass
class TrainConfig:
    """Every public NetTrain option and every internal option, already validated.

    ``None`` stands for Wolfram's ``Automatic`` where that is the default. Field names are the
    option names in snake case; `wlbridge.options` fills this from Wolfram text.
    """

    # public options (reference §9.3)
    batch_size: int | None = None
    max_training_rounds: int | None = None
    max_training_batches: int | None = None
    time_goal: float | None = None
    method: MethodSpec = field(default_factory=MethodSpec)
    learning_rate: float | None = None
    learning_rate_multipliers: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    loss_function: list[LossSpec] = field(default_factory=list)
    validation_set: Dataset | float | None = None
    validation_interval: Interval = field(default_factory=lambda: Interval(rounds=1))
    target_device: str = "cpu"
    working_precision: str = "Real32"
    random_seed: int | None = None
    training_progress_function: list[Callback] = field(default_factory=list)
    training_progress_measurements: Any = None
    training_progress_reporting: list[ReportingSpec] | None = None  # None = Automatic
    training_progress_checkpointing: Any = None
    training_stopping_criterion: StoppingCriterion | None = None
    performance_goal: Any = None

    # internal options (reference §1.3 and the seed's list)
    sequence_bucketing_partitions: int | None = 8
    updates_per_batch: int = 1
    disable_pre_encoding: bool | None = None
    force_synchronization: bool = False
    disable_error_rate: bool = False
    select_lowest_validation_error: bool = True
    plot_loss_quartiles: bool = False
    low_precision_gradient_rescaling: float = 5.0
    report_timings: bool = False
    report_memory_usage: bool = False
    memory_reporting_interval: float = 2.0
    disable_validation_executor: bool = False
    compile_buckets: bool = False
    compile_training_step: bool = False  # torch.compile the whole step (engine.compiled_step)
    resume_from: str | None = None  # a checkpoint (or its ".state" file) to continue from
    thread_policy: str | int | None = None  # None = Automatic, "Adaptive", "Fixed" or a count
    gradient_norm_function: Callable[[Any], float] | None = None
    listeners: dict[str, Listener] = field(default_factory=dict)


def listening(config: TrainConfig, channels: Sequence[str]) -> bool:
    """True when any of ``channels`` has a listener."""
    return any(c in config.listeners for c in channels)
