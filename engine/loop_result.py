"""What a training run hands back: `TrainResult` (plain Python values) and `TrainingWarning`.

`wlbridge.results` turns a `TrainResult` into NetTrain's properties (reference §9.10); the
engine keeps it Wolfram-free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

Path = tuple[str, ...]
#: SkippedTrainingData (§9.10): always empty, because examples NetTrain would skip mid-training
#: (ones that fail to encode) are refused with a message before the first batch here.
SKIPPED_TRAINING_DATA: dict[str, tuple] = {"SkippedExampleIndices": (),
                                           "SkippedBatchIndices": (), "SkippedExamples": ()}


class TrainingWarning(UserWarning):
    """A NetTrain message during training (``NetTrain::arrdiv: ...``); training goes on or
    stops, but no exception is raised."""


@dataclass
class TrainResult:
    """Everything NetTrain's properties (reference §9.10) are computed from, Wolfram-free."""

    module: torch.nn.Module
    final_state: dict[str, torch.Tensor]
    batch_losses: list[float] = field(default_factory=list)
    round_losses: list[float] = field(default_factory=list)
    round_measurements: list[dict[str, float]] = field(default_factory=list)
    round_loss_quartiles: list[tuple[float, float, float]] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    validation_measurements: list[dict[str, float]] = field(default_factory=list)
    batch_measurements: list[dict[str, float]] = field(default_factory=list)
    measurement_names: list[str] = field(default_factory=list)
    checkpoint_files: list[str] = field(default_factory=list)
    validation_positions: list[int] = field(default_factory=list)
    round_positions: list[int] = field(default_factory=list)
    best_validation_round: int | None = None
    reason: str = "MaxTrainingRounds"
    total_rounds: int = 0
    total_batches: int = 0
    batch_size: int = 0
    batches_per_round: int = 0
    examples_processed: int = 0
    training_examples: int = 0
    validation_examples: int = 0
    total_time: float = 0.0
    mean_batches_per_second: float = 0.0
    mean_examples_per_second: float = 0.0
    initial_learning_rate: float = 0.0
    final_learning_rate: float = 0.0
    method: str = "ADAM"
    target_device: str = "cpu"
    learning_rate_multipliers: dict[Path, float] = field(default_factory=dict)
    optimizer_steps: int = 0
    timings: dict[str, Any] = field(default_factory=dict)
    permutation: np.ndarray | None = None
    max_training_rounds: float = 0
    plot_loss_quartiles: bool = False  # the "PlotLossQuartiles" internal option, for plots
    #: the ExampleLosses property: per-example losses of the training data under the trained
    #: net, computed when called (None where the data are not a list of examples: noexloss)
    example_losses: Callable[[], tuple[float, ...]] | None = None
