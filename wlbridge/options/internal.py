"""The ``"InternalOptions"`` handler table (reference §1.3, plus the seed document's keys).

Rows are in the stored source's handler order, then the keys only the seed document lists
(reference §1.4, accepted here), then our own ``"CompileBuckets"``. ``badintopt`` lists the keys
in this order. Rules apply in the order given, the last one winning (§1.1).
"""

from __future__ import annotations

from typing import Any

from wolframclient.language import wl

from wlbridge.options.exprs import fail, is_call, is_int, is_number, is_sym, show
from wlbridge.options.interval import seconds
from wlbridge.options.normfn import compile_norm
from wlbridge.options.public import apply_working_precision, normalise_working_precision
from wlbridge.options.row import Option, Resolution
from wlbridge.options.threadpolicy import normalise_thread_policy

# VerboseLogging's channels, in the order NetTrain sets them (§1.3 row 12).
VERBOSE_CHANNELS = ("Plan", "Executor", "Bucketing", "MemoryUsage", "Permutation", "Timing")


def true_q(v: Any) -> bool:
    """Wolfram's ``TrueQ``: only ``True`` is true."""
    return v is True


def normalise_partitions(v: Any) -> int | None:
    """A positive integer, or None (no bucketing permutation: plain random order; §7.6)."""
    if is_sym(v, "None") or v is None:
        return None
    if is_int(v) and v >= 1:
        return int(v)
    raise fail("badintopt", f"\"SequenceBucketingPartitions\" -> {show(v)} is invalid; the value "
               "should be a positive integer or None.")


def normalise_updates_per_batch(v: Any) -> int:
    """An integer >= 0. 0 is accepted as in the stored source (§1.3, §8.1): no update at all."""
    if is_int(v) and v >= 0:
        return int(v)
    raise fail("badintopt", f"\"UpdatesPerBatch\" -> {show(v)} is invalid; the value should be a "
               "non-negative integer.")


def normalise_pre_encoding(v: Any) -> bool:
    """True disables pre-encoding; any other value enables it, overriding the rounds < 5 rule."""
    return v is True


def normalise_memory_interval(v: Any) -> float:
    """Seconds as a positive number or a time Quantity, or 0 for every batch (§5.3; the stored
    source silently falls back to 2 on anything else; we say so instead)."""
    if is_number(v) and v == 0:
        return 0.0
    s = seconds(v)
    if s is None:
        raise fail("invtint", f"\"MemoryReportingInterval\" -> {show(v)} is invalid; the value "
                   "should be a positive number of seconds, 0 (every batch) or a Quantity of time.")
    return s


def normalise_rescaling(v: Any) -> float:
    """A positive number: the Real16 loss/gradient scale (§8.2)."""
    if is_number(v) and v > 0:
        return float(v)
    raise fail("badintopt", f"\"LowPrecisionGradientRescaling\" -> {show(v)} is invalid; the "
               "value should be a positive number.")


def normalise_resume_from(v: Any) -> str | None:
    """File["path"] or "path" of a checkpoint (its ".state" file is read), or None."""
    if is_sym(v, "None") or v is None:
        return None
    path = v.args[0] if is_call(v, "File") and len(v.args) == 1 else v
    if isinstance(path, str) and path:
        return path
    raise fail("badintopt", f"\"ResumeFrom\" -> {show(v)} is invalid; the value should be "
               "File[\"path\"] of a TrainingProgressCheckpointing file, or None.")


def _logger(channel: str, option: str):
    def apply(res: Resolution, spec: Any) -> None:
        _bind(res, channel, spec, option)

    return apply


def _bind(res: Resolution, channel: str, spec: Any, option: str) -> None:
    from wlbridge.sinks import to_sink  # sinks imports this package's helpers

    sink = to_sink(spec, option, res.sinks)
    if sink is None:
        res.config.listeners.pop(channel, None)
    else:
        res.config.listeners[channel] = sink


def _apply_verbose(res: Resolution, spec: Any) -> None:
    for channel in VERBOSE_CHANNELS:
        _bind(res, channel, spec, "VerboseLogging")


def _check(option: str):
    def normalise(v: Any) -> Any:
        from wlbridge.sinks import check_spec

        return check_spec(v, option)

    normalise.__doc__ = f"{option}: a logger spec (reference §2.2), validated only."
    return normalise


def _logger_row(option: str, channel: str, meaning: str, aliases: tuple[str, ...] = ()) -> Option:
    return Option(option, False, _check(option), None, meaning, internal=True,
                  apply=_logger(channel, option), aliases=aliases)


def _flag(option: str, field: str, default: bool, meaning: str) -> Option:
    return Option(option, default, true_q, field, meaning, internal=True)


INTERNAL_ROWS: tuple[Option, ...] = (
    Option("SequenceBucketingPartitions", 8, normalise_partitions,
           "sequence_bucketing_partitions",
           "rank bins of the bucketed training permutation; None shuffles freely", internal=True),
    Option("UpdatesPerBatch", 1, normalise_updates_per_batch, "updates_per_batch",
           "forward/backward/update passes per batch", internal=True),
    _flag("DisableValidationExecutor", "disable_validation_executor", False,
          "validate through the training-mode net instead of a separate one"),
    Option("DisablePreEncoding", wl.Automatic, normalise_pre_encoding, "disable_pre_encoding",
           "True encodes inputs per batch; any other value pre-encodes", internal=True),
    _logger_row("PlanLogging", "Plan", "log each generated plan (compiled graph)"),
    _logger_row("ExecutorLogging", "Executor", "log executor create/inherit/reshape"),
    _logger_row("BucketingLogging", "Bucketing", "log bucket creation and clearing"),
    _logger_row("MXNetLogging", "Backend", "log every backend (torch) call; very verbose",
                aliases=("TorchLogging",)),
    _logger_row("MemoryUsageLogging", "MemoryUsage", "log memory samples"),
    _logger_row("CoreLoopLogging", "CoreLoop", "log training-loop phase markers"),
    _logger_row("TrainerLogging", "Trainer", "log trainer lifecycle events"),
    Option("VerboseLogging", False, _check("VerboseLogging"), None,
           "one spec for Plan, Executor, Bucketing, MemoryUsage, Permutation, Timing logging",
           internal=True, apply=_apply_verbose),
    _flag("ReportMemoryUsage", "report_memory_usage", False, "show memory use while training"),
    _flag("ReportTimings", "report_timings", False, "show per-phase batch timings while training"),
    Option("MemoryReportingInterval", 2, normalise_memory_interval, "memory_reporting_interval",
           "seconds between memory samples", internal=True),
    _flag("ForceSynchronization", "force_synchronization", False,
          "wait for the device before reading each loss"),
    _logger_row("TimingLogging", "Timing", "log the timing association every 10 s"),
    _logger_row("PermutationLogging", "Permutation", "log batch permutations and length statistics"),
    _logger_row("GradientLogging", "Gradient", "log per-array gradient and update magnitudes"),
    Option("GradientNormFunction", wl.RightComposition(wl.Abs, wl.Max), compile_norm,
           "gradient_norm_function", "reduces each array to a magnitude for GradientLogging",
           internal=True),
    Option("LowPrecisionGradientRescaling", 5, normalise_rescaling,
           "low_precision_gradient_rescaling", "loss scale for \"Real16\" training",
           internal=True),
    _flag("DisableErrorRate", "disable_error_rate", False,
          "drop the automatic error-rate measurement"),
    _flag("SelectLowestValidationError", "select_lowest_validation_error", True,
          "pick the best net by validation error rate, then loss"),
    _flag("PlotLossQuartiles", "plot_loss_quartiles", False,
          "shade the loss quartiles in progress plots"),
    Option("WorkingPrecision", "Real32", normalise_working_precision, "working_precision",
           "the seed's internal spelling of the public WorkingPrecision option", internal=True,
           apply=apply_working_precision),
    _flag("CompileBuckets", "compile_buckets", False, "torch.compile each bucket's net (opt-in)"),
    _flag("CompileTrainingStep", "compile_training_step", False,
          "torch.compile the whole training step, loss and update included (opt-in)"),
    Option("ResumeFrom", None, normalise_resume_from, "resume_from",
           "continue exactly from a TrainingProgressCheckpointing file (engine.resume)",
           internal=True),
    Option("ThreadPolicy", wl.Automatic, normalise_thread_policy, "thread_policy",
           "CPU threads while training: Automatic adapts the count to the machine's load unless "
           "OMP_NUM_THREADS etc. or torch.set_num_threads fixed it; \"Adaptive\" always adapts; "
           "\"Fixed\" leaves it; n uses n threads", internal=True),
)
