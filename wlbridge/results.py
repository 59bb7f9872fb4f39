"""NetTrainResults: NetTrain's properties of a finished run (reference §9.10).

Built from the engine's `TrainResult` and the trained net; ``results["RoundLossList"]``,
``results.properties()``, and ``results.to_wl()`` (a Wolfram association: the nets in their
constructor form, lists as tuples of floats, measurements as associations).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from wolframclient.serializers.serializable import WLSerializable

from engine.measurements import measurement_lists
from wlbridge.messages import message

#: Legacy names NetTrain still accepts (§9.10).
ALIASES = {
    "FinalRoundLoss": "RoundLoss", "FinalValidationLoss": "ValidationLoss",
    "MeanInputsPerSecond": "MeanExamplesPerSecond", "TotalInputs": "ExamplesProcessed",
    "ArraysLearningRateMultipliers": "WeightsLearningRateMultipliers",
    "EvolutionPlots": "FinalPlots",
}
#: Computed on request, not listed by `properties()` (NetTrain's hidden ones).
HIDDEN = ("RoundLossQuartiles", "FinalNet", "OptimizerSteps", "BatchPermutation",
          "ExampleLosses", "NetTrainInputForm")  # the last holds all the data: on request only
#: SkippedTrainingData is always empty: examples NetTrain would skip mid-training (failing to
#: encode) are refused with a message before training starts here, so none is ever skipped.
SKIPPED_TRAINING_DATA = {"SkippedExampleIndices": (), "SkippedBatchIndices": (),
                         "SkippedExamples": ()}
#: Plot properties -> the measurement they draw: matplotlib Figures made on request
#: (wlbridge.plots), not listed by `properties()` so `to_wl()` stays pure data.
PLOTS = {"LossEvolutionPlot": "Loss", "LossPlot": "Loss", "ErrorRateEvolutionPlot": "ErrorRate"}


def _num(x: Any) -> Any:
    """Numbers as Python floats; an infinite round limit as Wolfram's Infinity (a float)."""
    return None if x is None else float(x)


def _ints(xs: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in xs)


def _floats(xs: Any) -> tuple[float, ...]:
    return tuple(float(x) for x in xs)


class NetTrainResults(WLSerializable):
    """A NetTrainResultsObject: every property of §9.10 by name (``results["TrainedNet"]``)."""

    def __init__(self, values: dict[str, Any], lazy: dict[str, Callable[[], Any]] | None = None):
        self._values = dict(values)
        self._lazy = dict(lazy or {})

    @classmethod
    def from_train(cls, r: Any, trained_net: Any, final_net: Callable[[], Any] | None = None,
                   training_net: Callable[[], Any] | None = None,
                   input_form: Any = None) -> NetTrainResults:
        """Properties of the engine's `TrainResult` ``r``; nets are `wlbridge.Net` objects."""
        has_val = bool(r.validation_losses)

        def last(losses: list[float], meas: list[dict[str, float]]) -> dict | None:
            if not losses:
                return None
            return {"Loss": float(losses[-1]),
                    **{k: float(v) if isinstance(v, int | float) else v
                       for k, v in meas[-1].items()}}

        v: dict[str, Any] = {
            "TrainedNet": trained_net,
            "BatchLossList": _floats(r.batch_losses),
            "RoundLossList": _floats(r.round_losses),
            "ValidationLossList": _floats(r.validation_losses) if has_val else None,
            "BatchLoss": float(r.batch_losses[-1]) if r.batch_losses else None,
            "RoundLoss": float(r.round_losses[-1]) if r.round_losses else None,
            "ValidationLoss": float(r.validation_losses[-1]) if has_val else None,
            "RoundMeasurements": last(r.round_losses, r.round_measurements),
            "ValidationMeasurements": last(r.validation_losses, r.validation_measurements),
            "RoundMeasurementsLists": measurement_lists(r.round_losses, r.round_measurements),
            "ValidationMeasurementsLists": measurement_lists(
                r.validation_losses, r.validation_measurements) if has_val else None,
            "BatchMeasurementsLists": measurement_lists(r.batch_losses, r.batch_measurements),
            "CheckpointingFiles": tuple(r.checkpoint_files),
            "TotalTrainingTime": float(r.total_time),
            "MeanBatchesPerSecond": float(r.mean_batches_per_second),
            "MeanExamplesPerSecond": float(r.mean_examples_per_second),
            "ReasonTrainingStopped": r.reason,
            "TotalRounds": int(r.total_rounds),
            "TotalBatches": int(r.total_batches),
            "BatchSize": int(r.batch_size),
            "BatchesPerRound": int(r.batches_per_round),
            "RoundPositions": _ints(r.round_positions),
            "ValidationPositions": _ints(r.validation_positions) if has_val else None,
            "BestValidationRound": r.best_validation_round,
            "SkippedTrainingData": dict(SKIPPED_TRAINING_DATA),
            "ExamplesProcessed": int(r.examples_processed),
            "TrainingExamples": int(r.training_examples),
            "ValidationExamples": int(r.validation_examples) if has_val else None,
            "InitialLearningRate": float(r.initial_learning_rate),
            "FinalLearningRate": float(r.final_learning_rate),
            "OptimizationMethod": r.method,
            "TargetDevice": "CPU" if r.target_device.lower() == "cpu" else r.target_device,
            "WeightsLearningRateMultipliers": {tuple(p): float(m) for p, m
                                               in r.learning_rate_multipliers.items()},
            "RoundLossQuartiles": tuple(_floats(q) for q in r.round_loss_quartiles),
            "OptimizerSteps": int(r.optimizer_steps),
            "BatchPermutation": tuple(tuple(int(i) + 1 for i in row) for row in r.permutation)
            if r.permutation is not None else None,
            "$Timings": r.timings,
            "$PlotLossQuartiles": bool(r.plot_loss_quartiles),
        }
        if input_form is not None:
            v["NetTrainInputForm"] = input_form
        lazy = {}
        if final_net is not None:
            lazy["FinalNet"] = final_net
        if training_net is not None:
            lazy["TrainingNet"] = training_net
        lazy["ExampleLosses"] = r.example_losses or _no_example_losses
        return cls(v, lazy)

    def __getitem__(self, prop: Any) -> Any:
        if isinstance(prop, list | tuple):
            return [self[p] for p in prop]
        if prop in ("All", None):
            return self
        if prop == "Properties":
            return self.properties()
        name = ALIASES.get(prop, prop)
        if name in PLOTS:
            return self._plot(name)
        if name == "FinalPlots":
            from wlbridge.run_properties import final_plots

            return final_plots(self._values, bool(self._values.get("$PlotLossQuartiles")))
        if name in self._values:
            return self._values[name]
        if name in self._lazy:
            value = self._values[name] = self._lazy[name]()  # a failure can be asked again
            del self._lazy[name]
            return value
        raise message("NetTrain", "invntrspec", f"{prop!r} is not a known property; known "
                      f"properties are {', '.join(self.properties())}.")

    def _plot(self, name: str, path: Any = None) -> Any:
        """A plot property as a matplotlib Figure; the batch-loss quartile band is drawn when
        training ran with ``"PlotLossQuartiles" -> True``."""
        from wlbridge import plots

        quartiles = bool(self._values.get("$PlotLossQuartiles"))
        if PLOTS[name] == "Loss":
            return plots.loss_plot(self._values, path, quartiles=quartiles)
        return plots.measurement_plot(self._values, PLOTS[name], path, quartiles=quartiles)

    def plot(self, path: Any, prop: str = "LossEvolutionPlot") -> str:
        """Save the plot property ``prop`` to ``path`` (.png, .svg or .pdf); returns the path."""
        if prop not in PLOTS:
            raise message("NetTrain", "invntrspec", f"{prop!r} is not a plot property; plot "
                          f"properties are {', '.join(PLOTS)}.")
        self._plot(prop, path)
        return str(path)

    def get(self, prop: Any, default: Any = None) -> Any:
        try:
            return self[prop]
        except KeyError:
            return default

    def __contains__(self, prop: str) -> bool:
        return ALIASES.get(prop, prop) in self._values or prop in self._lazy

    def properties(self) -> list[str]:
        """The public property names, sorted as NetTrain lists them."""
        names = set(self._values) | set(self._lazy)
        return sorted(n for n in names if n not in HIDDEN and not n.startswith("$"))

    def to_wl(self) -> dict[str, Any]:
        """A Wolfram association of every public property (nets as constructor expressions)."""
        out = {}
        for name in self.properties():
            out[name] = _to_wl(self[name])
        return out

    def __repr__(self) -> str:
        return (f"NetTrainResults[<{self['TotalRounds']} rounds, {self['TotalBatches']} "
                f"batches, {self['ReasonTrainingStopped']}>]")


def _no_example_losses() -> Any:
    raise message("NetTrain", "noexloss", "the property \"ExampleLosses\" needs training data "
                  "given as a list of examples; this run's data cannot be evaluated again.")


def _to_wl(v: Any) -> Any:
    if hasattr(v, "to_wl"):
        return v.to_wl()
    if isinstance(v, dict):
        return {k: _to_wl(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return tuple(_to_wl(x) for x in v)
    if isinstance(v, float) and math.isinf(v):
        from wolframclient.language import wl

        return wl.DirectedInfinity(1 if v > 0 else -1)
    return v


def check_property(prop: Any) -> None:
    """``NetTrain::invntrspec`` unless ``prop`` is All, a property name or a list of them."""
    known = (set(PUBLIC) | set(HIDDEN) | set(ALIASES) | set(PLOTS)
             | {"All", "Properties", "FinalNet", "TrainingNet", "FinalPlots",
                "NetTrainInputForm"})
    items = prop if isinstance(prop, list | tuple) else [prop]
    for p in items:
        if not isinstance(p, str) or p not in known:
            raise message("NetTrain", "invntrspec", f"{p!r} is not All, a property name or a "
                          f"list of property names; properties are {', '.join(PUBLIC)}.")


PUBLIC = (
    "BatchLoss", "BatchLossList", "BatchMeasurementsLists", "BatchSize", "BatchesPerRound",
    "BestValidationRound", "CheckpointingFiles", "ExamplesProcessed", "FinalLearningRate", "FinalNet",
    "InitialLearningRate", "MeanBatchesPerSecond", "MeanExamplesPerSecond",
    "OptimizationMethod", "ReasonTrainingStopped", "RoundLoss", "RoundLossList",
    "RoundMeasurements", "RoundMeasurementsLists", "RoundPositions", "SkippedTrainingData",
    "TargetDevice",
    "TotalBatches", "TotalRounds", "TotalTrainingTime", "TrainedNet", "TrainingExamples",
    "TrainingNet", "ValidationExamples", "ValidationLoss", "ValidationLossList",
    "ValidationMeasurements", "ValidationMeasurementsLists", "ValidationPositions",
    "WeightsLearningRateMultipliers",
)
