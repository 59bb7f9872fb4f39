"""The option schema: every row's normaliser, resolve's input forms and ordering rules, and the
GradientNormFunction compiler (reference nettrain-loop.md §1, §3.8, §6.1, §8, §9.3, §9.4, §9.6,
§9.8)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from wolframclient.language import wl
from wolframclient.language.expression import WLSymbol

from engine.spec import Callback, Interval, LossSpec, MethodSpec, ReportingSpec, TrainConfig
from wlbridge.messages import WLMessage
from wlbridge.options import (
    INTERNAL,
    INTERNAL_NAMES,
    OPTIONS,
    PUBLIC,
    compile_norm,
    describe,
    parse_interval,
    resolve,
)
from wlbridge.sinks import Bag

R = wl.Rule
Q = wl.Quantity
All = wl.All


def internal(**opts):
    """resolve with only InternalOptions given (as a list of Wolfram rules)."""
    return resolve(R("InternalOptions", tuple(R(k, v) for k, v in opts.items())))


def raises(tag: str, *needles: str):
    """Context: a WLMessage with this tag whose one-line text contains every needle."""

    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(WLMessage)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            err = self.info.value
            assert err.tag == tag, str(err)
            text = str(err)
            assert text.startswith(f"NetTrain::{tag}: ")
            assert "\n" not in text
            for needle in needles:
                assert needle in text, text
            return handled

    return _Check()


# ---------------------------------------------------------------------------------------------
# The table


def test_table_lists_every_public_and_internal_option():
    """§9.3 public options and §1.3 + seed keys are all rows, each with a meaning."""
    public = {"BatchSize", "MaxTrainingRounds", "Method", "LearningRate",
              "LearningRateMultipliers", "LossFunction", "TargetDevice", "ValidationSet",
              "TimeGoal", "TrainingProgressCheckpointing", "TrainingProgressFunction",
              "TrainingProgressMeasurements", "TrainingProgressReporting",
              "TrainingStoppingCriterion", "WorkingPrecision", "RandomSeeding",
              "PerformanceGoal", "MaxTrainingBatches", "InternalOptions"}
    assert set(PUBLIC) == public
    seed = ["SequenceBucketingPartitions", "UpdatesPerBatch", "DisablePreEncoding",
            "ForceSynchronization", "DisableErrorRate", "SelectLowestValidationError",
            "PlotLossQuartiles", "LowPrecisionGradientRescaling", "WorkingPrecision",
            "ReportTimings", "ReportMemoryUsage", "MemoryReportingInterval", "PlanLogging",
            "ExecutorLogging", "BucketingLogging", "MXNetLogging", "TorchLogging",
            "MemoryUsageLogging", "TimingLogging", "PermutationLogging", "GradientLogging",
            "GradientNormFunction", "VerboseLogging", "DisableValidationExecutor",
            "CoreLoopLogging", "TrainerLogging", "CompileBuckets", "ResumeFrom",
            "ThreadPolicy", "CompileTrainingStep"]
    assert set(seed) == set(INTERNAL)
    assert all(row.meaning and row.normalise for row in OPTIONS)
    # the stored handler order leads (§1.3)
    assert INTERNAL_NAMES[:4] == ("SequenceBucketingPartitions", "UpdatesPerBatch",
                                  "DisableValidationExecutor", "DisablePreEncoding")


def test_every_internal_key_is_accepted_with_its_default():
    """Each internal option accepts its own documented default."""
    for name, row in INTERNAL.items():
        config = internal(**{name: row.default})
        assert isinstance(config, TrainConfig), name


def test_describe_shows_names_defaults_and_meanings():
    text = describe()
    assert "BatchSize" in text and "Automatic" in text
    assert "RightComposition[Abs, Max]" in text or "Abs /* Max" in text
    assert "also TorchLogging" in text
    assert len(text.splitlines()) == len(OPTIONS) + 3


def test_defaults_match_train_config():
    """Nothing given: NetTrain's defaults (§1.2): 8 partitions, 1 update, L-inf norm, Real32."""
    c = resolve()
    assert c.sequence_bucketing_partitions == 8 and c.updates_per_batch == 1
    assert c.working_precision == "Real32" and c.target_device == "cpu"
    assert c.listeners == {} and c.method.name == "ADAM"
    assert c.gradient_norm_function(np.array([1.0, -4.0, 2.0])) == 4.0


# ---------------------------------------------------------------------------------------------
# resolve: input forms and ordering


def test_resolve_expressions_symbols_and_strings():
    c = resolve((R(wl.BatchSize, 32), R("MaxTrainingRounds", 3)))
    assert (c.batch_size, c.max_training_rounds) == (32, 3)
    assert resolve(R(wl.BatchSize, 7)).batch_size == 7
    assert resolve({"BatchSize": 5, wl.TargetDevice: "CPU"}).batch_size == 5
    # nested option lists flatten, as in Wolfram
    assert resolve(((R("BatchSize", 4),), R("TimeGoal", 9))).time_goal == 9.0


def test_resolve_overrides_win_and_accept_python_values():
    c = resolve(R("BatchSize", 32), BatchSize=8, LearningRate=0.5,
                InternalOptions={"ReportTimings": True})
    assert c.batch_size == 8 and c.learning_rate == 0.5 and c.report_timings is True
    assert c.method.learning_rate == 0.5  # LearningRate is inserted into the Method


def test_first_public_occurrence_wins_as_in_wolfram():
    assert resolve((R("BatchSize", 4), R("BatchSize", 16))).batch_size == 4


def test_internal_options_from_text_and_overrides_merge_override_last():
    c = resolve(R("InternalOptions", (R("ReportTimings", True), R("UpdatesPerBatch", 2))),
                InternalOptions={"UpdatesPerBatch": 3})
    assert c.report_timings is True and c.updates_per_batch == 3


def test_verbose_logging_fans_out_to_six_channels_sharing_one_sink():
    """§1.3 row 12: Plan, Executor, Bucketing, MemoryUsage, Permutation, Timing; not the rest."""
    bag = Bag()
    c = internal(VerboseLogging=bag)
    assert set(c.listeners) == {"Plan", "Executor", "Bucketing", "MemoryUsage", "Permutation",
                                "Timing"}
    assert len({id(f) for f in c.listeners.values()}) == 1


def test_internal_rules_apply_in_order_last_wins():
    """§1.1: "VerboseLogging" -> True, "PlanLogging" -> False leaves plan logging off."""
    c = internal(VerboseLogging=True, PlanLogging=False)
    assert "Plan" not in c.listeners and "Timing" in c.listeners
    c = resolve(R("InternalOptions", (R("PlanLogging", False), R("VerboseLogging", True))))
    assert "Plan" in c.listeners
    c = resolve(R("InternalOptions", (R("UpdatesPerBatch", 2), R("UpdatesPerBatch", 5))))
    assert c.updates_per_batch == 5


def test_logger_options_bind_their_channels():
    bag = Bag()
    c = internal(MXNetLogging=bag, GradientLogging=bag, CoreLoopLogging=bag, TrainerLogging=bag,
                 ExecutorLogging=bag, BucketingLogging=bag, MemoryUsageLogging=bag,
                 TimingLogging=bag, PermutationLogging=bag, PlanLogging=bag)
    assert set(c.listeners) == {"Backend", "Gradient", "CoreLoop", "Trainer", "Executor",
                                "Bucketing", "MemoryUsage", "Timing", "Permutation", "Plan"}
    assert set(internal(TorchLogging=True).listeners) == {"Backend"}


def test_resolve_text_with_nested_method_and_internal_options():
    c = resolve('BatchSize -> 32, Method -> {"ADAM", "LearningRate" -> 0.01}, '
                '"InternalOptions" -> {"ReportTimings" -> True, "VerboseLogging" -> True, '
                '"PlanLogging" -> False}')
    assert c.batch_size == 32 and c.method.learning_rate == 0.01 and c.report_timings
    assert "Plan" not in c.listeners and "Executor" in c.listeners


def test_resolve_text_intervals_and_quantities():
    c = resolve('ValidationSet -> {Scaled[0.2], "Interval" -> Quantity[50, "Batches"]}, '
                'TimeGoal -> Quantity[2, "Minutes"], RandomSeeding -> "abc"')
    assert c.validation_set == 0.2 and c.validation_interval == Interval(batches=50)
    assert c.time_goal == 120.0 and c.random_seed == resolve(RandomSeeding="abc").random_seed


def test_resolve_text_gradient_norm_function():
    f = resolve('"InternalOptions" -> {"GradientNormFunction" -> (Norm[#, 1] &)}'
                ).gradient_norm_function
    assert f(np.array([[1.0, -2.0], [3.0, 0.5]])) == pytest.approx(6.5)


# ---------------------------------------------------------------------------------------------
# Public option normalisers


def test_batch_size_and_rounds_and_batches():
    n = PUBLIC["BatchSize"].normalise
    assert n(wl.Automatic) is None and n(64) == 64
    assert resolve(MaxTrainingBatches=10).max_training_batches == 10
    # legacy: a duration as MaxTrainingRounds acts as TimeGoal (§9.3)
    c = resolve(MaxTrainingRounds=Q(1, "Hours"))
    assert c.time_goal == 3600.0 and c.max_training_rounds is None


def test_time_goal():
    n = PUBLIC["TimeGoal"].normalise
    assert n(30) == 30.0 and n(Q(3, "Seconds")) == 3.0 and n(wl.Automatic) is None


def test_method_forms():
    """§9.4: names, sub-options, per-array forms, SGD's Polynomial schedule default."""
    n = PUBLIC["Method"].normalise
    assert n("ADAM") == MethodSpec(name="ADAM", learning_rate_schedule=None)
    assert n(wl.Automatic).name == "ADAM"
    sgd = n(("SGD", R("Momentum", 0.9), R("L2Regularization", 0.01),
             R("GradientClipping", 1.0)))
    assert (sgd.momentum, sgd.l2_regularization, sgd.gradient_clipping) == (0.9, 0.01, 1.0)
    assert sgd.learning_rate_schedule == "Polynomial"
    assert n(("SGD", R("LearningRateSchedule", WLSymbol("None")))
             ).learning_rate_schedule is None
    assert n(("ADAM", R("Beta1", 0.5), R("Epsilon", 1e-8))).beta1 == 0.5
    rms = n(("RMSProp", R("Beta", 0.9), R("Momentum", 0.5)))
    assert (rms.beta, rms.momentum) == (0.9, 0.5)
    per = n(("ADAM", R("L2Regularization", (R("linear", 0.1), R(All, None)))))
    assert per.l2_regularization == [(("linear",), 0.1), ((), 0.0)]
    clip = n(("ADAM", R("GradientClipping", (R(2, None),))))
    assert clip.gradient_clipping == [(("#2",), math.inf)]

    def sched(t, total):
        return 1.0

    assert n(("ADAM", R("LearningRateSchedule", sched))).learning_rate_schedule is sched



def test_learning_rate_and_multipliers():
    """LearningRateMultipliers: strings, positions (#n), paths, All; None freezes (§9.3)."""
    assert PUBLIC["LearningRate"].normalise(0.1) == 0.1
    n = PUBLIC["LearningRateMultipliers"].normalise
    assert n(wl.Automatic) == []
    assert n((R("conv", 0.5), R(2, None), R(("a", -1, "Weights"), 2), R(All, 1))) == [
        (("conv",), 0.5), (("#2",), 0.0), (("a", "#-1", "Weights"), 2.0), ((), 1.0)]
    assert n(R("x", -1)) == [(("x",), -1.0)]


def test_loss_function_forms():
    n = PUBLIC["LossFunction"].normalise
    assert n(wl.Automatic) == []
    assert n("Loss") == [LossSpec(port="Loss")]
    assert n(("a", R("b", wl.Scaled(0.5)))) == [LossSpec(port="a"), LossSpec(port="b", scale=0.5)]


def test_loss_function_with_a_loss_layer():
    nets = pytest.importorskip("wlbridge.nets")
    if not hasattr(nets, "to_layer_spec"):
        pytest.skip("wlbridge.nets.to_layer_spec not available yet")
    (spec,) = PUBLIC["LossFunction"].normalise(R("Output", wl.MeanSquaredLossLayer()))
    assert spec.port == "Output" and spec.layer.kind == "MeanSquaredLossLayer"
    (spec,) = PUBLIC["LossFunction"].normalise(
        R("Output", R(wl.MeanSquaredLossLayer(), wl.Scaled(2))))
    assert spec.scale == 2.0 and spec.layer.kind == "MeanSquaredLossLayer"


def test_validation_set_forms():
    n = PUBLIC["ValidationSet"].normalise
    assert n(wl.Scaled(0.25)) == (0.25, None)
    assert n(WLSymbol("None")) == (None, None)
    data = (R(1, 2), R(3, 4))
    assert n(data) == (data, None)  # raw data is converted later by wlbridge.data
    arr = np.zeros((3, 2))
    assert n(arr)[0] is arr
    assert n((wl.Scaled(0.1), R("Interval", 2))) == (0.1, Interval(rounds=2))


def test_target_device_and_working_precision():
    n = PUBLIC["TargetDevice"].normalise
    assert (n("CPU"), n("GPU"), n(("GPU", 2))) == ("cpu", "cuda:0", "cuda:1")
    assert resolve(WorkingPrecision="Real64").working_precision == "Real64"
    assert resolve(WorkingPrecision=wl.Automatic).working_precision == "Real32"
    # §8.3: Automatic -> Mixed with TrainingSpeed on a GPU
    c = resolve(PerformanceGoal="TrainingSpeed", TargetDevice="GPU")
    assert c.working_precision == "Mixed"
    c = resolve(PerformanceGoal="TrainingSpeed", TargetDevice="GPU", WorkingPrecision="Real32")
    assert c.working_precision == "Real32"
    assert internal(WorkingPrecision="Real16").working_precision == "Real16"


def test_random_seeding_and_performance_goal():
    n = PUBLIC["RandomSeeding"].normalise
    assert n(wl.Inherited) is None and n(wl.Automatic) is None and n(42) == 42
    assert n("seed") == n("seed") != n("seeds") and 0 <= n("seed") < 2**63
    p = PUBLIC["PerformanceGoal"].normalise
    assert p("TrainingSpeed") == ("TrainingSpeed",) and p(wl.Automatic) is None
    assert p(("TrainingSpeed", "TrainingMemory")) == ("TrainingSpeed", "TrainingMemory")


def test_training_progress_function_forms():
    """§9.6: bare function = every round; Interval, MinimumInterval, Event; lists."""
    def f(info):
        return None

    n = PUBLIC["TrainingProgressFunction"].normalise
    assert n(f) == [Callback(fn=f, interval=Interval(rounds=1))]
    (cb,) = n((f, R("Interval", Q(3, "Batches")), R("MinimumInterval", 0.5)))
    assert cb.interval == Interval(batches=3) and cb.minimum_interval == 0.5
    (cb,) = n((f, R("Event", "RoundComplete")))
    assert cb.events == ("RoundComplete",) and cb.interval is None
    two = n(((f, R("Interval", 2)), f))
    assert [c.interval for c in two] == [Interval(rounds=2), Interval(rounds=1)]
    assert len(n((f, R("Event", All)))[0].events) == 12


def test_training_progress_reporting_forms():
    """§6.1: forms, File extensions, intervals in seconds, lists."""
    n = PUBLIC["TrainingProgressReporting"].normalise
    assert n(wl.Automatic) is None
    assert n("Print") == [ReportingSpec(form="Print")]
    assert n(WLSymbol("None")) == [ReportingSpec(form="None")]
    assert n(wl.File("log.csv")) == [ReportingSpec(form="File", path="log.csv")]
    assert n(("Print", R("Interval", 5))) == [ReportingSpec("Print", interval=Interval(seconds=5))]
    assert n(("Print", wl.File("x.json")))[1].path == "x.json"
    (spec,) = n(("Print", R("Interval", Q(2, "Rounds")), R("MinimumInterval", 3)))
    assert spec.interval == Interval(rounds=2, seconds=3.0)
    assert n(print)[0].fn is print


def test_stopping_criterion_forms():
    n = PUBLIC["TrainingStoppingCriterion"].normalise
    assert n(WLSymbol("None")) is None and n(wl.Automatic) is None
    assert n("Loss").criterion == "Loss"
    s = n({"Criterion": "ErrorRate", "Patience": 2, "InitialPatience": 1, "RelativeChange": 0.1})
    assert (s.criterion, s.patience, s.initial_patience, s.relative_change) == (
        "ErrorRate", 2, 1, 0.1)


def test_checkpointing_and_measurements():
    n = PUBLIC["TrainingProgressCheckpointing"].normalise
    assert n(("File", "net.wlnet")) == [
        {"kind": "File", "path": "net.wlnet", "format": "wlnet", "interval": Interval(rounds=1)}]
    (d,) = n(("Directory", "/tmp/ck", R("Interval", Q(10, "Batches")), R("Format", "params")))
    assert d["format"] == "params" and d["interval"] == Interval(batches=10)
    assert len(n((("File", "a.params"), ("Directory", "d")))) == 2
    m = PUBLIC["TrainingProgressMeasurements"].normalise
    assert m(wl.Automatic) is None and m(WLSymbol("None")) == ()
    assert m(("ErrorRate", {"Measurement": "Accuracy"})) == ("ErrorRate", {"Measurement":
                                                                           "Accuracy"})


def test_parse_interval_units():
    """§9.6 units; the bare number takes the option's default unit."""
    assert parse_interval(3, "Rounds") == Interval(rounds=3)
    assert parse_interval(1.5, "Rounds") == Interval(rounds=1.5)
    assert parse_interval(2, "Seconds") == Interval(seconds=2.0)
    assert parse_interval(Q(4, "Batches")) == Interval(batches=4)
    assert parse_interval(Q(10, "Percent")) == Interval(percent=10.0)
    assert parse_interval(Q(2, "Minutes")) == Interval(seconds=120.0)
    assert parse_interval(Q(1, "Hours")) == Interval(seconds=3600.0)
    assert parse_interval(Q("Round")) == Interval(rounds=1)


# ---------------------------------------------------------------------------------------------
# Internal option normalisers


def test_internal_value_normalisers():
    c = internal(SequenceBucketingPartitions=WLSymbol("None"), UpdatesPerBatch=0,
                 MemoryReportingInterval=Q(1, "Minutes"), LowPrecisionGradientRescaling=64,
                 CompileBuckets=True)
    assert c.sequence_bucketing_partitions is None and c.updates_per_batch == 0
    assert c.memory_reporting_interval == 60.0 and c.low_precision_gradient_rescaling == 64.0
    assert c.compile_buckets is True
    assert internal(SequenceBucketingPartitions=3).sequence_bucketing_partitions == 3
    assert internal(MemoryReportingInterval=0.5).memory_reporting_interval == 0.5
    # §5.3: 0 means a sample at every batch
    assert internal(MemoryReportingInterval=0).memory_reporting_interval == 0.0


def test_internal_flags_are_trueq():
    """§1.3: TrueQ flags; DisablePreEncoding: True disables, anything else enables."""
    flags = {"ForceSynchronization": "force_synchronization",
             "ReportTimings": "report_timings", "ReportMemoryUsage": "report_memory_usage",
             "DisableValidationExecutor": "disable_validation_executor",
             "DisableErrorRate": "disable_error_rate", "PlotLossQuartiles": "plot_loss_quartiles",
             "SelectLowestValidationError": "select_lowest_validation_error",
             "CompileBuckets": "compile_buckets"}
    for key, field in flags.items():
        assert getattr(internal(**{key: True}), field) is True, key
        assert getattr(internal(**{key: "yes"}), field) is False, key
    assert internal(DisablePreEncoding=True).disable_pre_encoding is True
    assert internal(DisablePreEncoding=False).disable_pre_encoding is False
    assert internal(DisablePreEncoding=wl.Automatic).disable_pre_encoding is False
    assert resolve().disable_pre_encoding is None


# ---------------------------------------------------------------------------------------------
# GradientNormFunction


G = np.array([[0.5, -3.0, 2.0], [1.0, -0.25, 4.0]])
NORMS = [
    (wl.RightComposition(wl.Abs, wl.Max), np.abs(G).max()),
    (wl.Norm, np.sqrt((G ** 2).sum())),
    (wl.Function(wl.Norm(wl.Slot(1), 1)), np.abs(G).sum()),
    (wl.Function(wl.Norm(wl.Slot(1), 3)), (np.abs(G) ** 3).sum() ** (1 / 3)),
    (wl.Function(wl.Norm(wl.Slot(1), wl.Infinity)), np.abs(G).max()),
    (wl.RootMeanSquare, np.sqrt((G ** 2).mean())),
    (wl.Composition(wl.Mean, wl.Abs), np.abs(G).mean()),
    (wl.Composition(wl.Max, wl.Abs), np.abs(G).max()),
    (wl.Composition(wl.Total, wl.Abs), np.abs(G).sum()),
    (wl.RightComposition(wl.Abs, wl.Total), np.abs(G).sum()),
    (wl.Max, G.max()),
    (wl.Min, G.min()),
    (wl.Mean, G.mean()),
    (wl.Total, G.sum()),
    (wl.RightComposition(wl.Square, wl.Total), (G ** 2).sum()),
    (wl.RightComposition(wl.Function(wl.Power(wl.Slot(1), 2)), wl.Mean, wl.Sqrt),
     np.sqrt((G ** 2).mean())),
    (wl.Function(wl.Max(wl.Abs(wl.Slot(1)))), np.abs(G).max()),
    (wl.Function(wl.Global.x, wl.Sqrt(wl.Total(wl.Power(wl.Global.x, 2)))),
     np.sqrt((G ** 2).sum())),
    (wl.Composition(wl.Sqrt, wl.Total, wl.Square), np.sqrt((G ** 2).sum())),
    (lambda t: float(abs(t).sum()), np.abs(G).sum()),
]


@pytest.mark.parametrize("fn, expected", NORMS, ids=[str(i) for i in range(len(NORMS))])
def test_gradient_norm_functions_agree_with_numpy(fn, expected):
    """§3.8: the function reduces the whole array; Norm is the flattened (Frobenius) norm."""
    import torch

    f = compile_norm(fn)
    assert f(torch.tensor(G, dtype=torch.float32)) == pytest.approx(expected, rel=1e-6)
    assert f(G) == pytest.approx(expected, rel=1e-12)


def test_gradient_norm_function_via_resolve():
    import torch

    c = internal(GradientNormFunction=wl.Norm)
    assert c.gradient_norm_function(torch.ones(2, 2)) == pytest.approx(2.0)


# ---------------------------------------------------------------------------------------------
# Bad input: one clear NetTrain-style line naming the option


def _call(kwargs):
    return resolve(**kwargs)


BAD = [
    ({"BatchSze": 3}, "optx", "BatchSze", "Did you mean BatchSize"),
    ({"BatchSize": 0}, "optpi", "BatchSize -> 0"),
    ({"BatchSize": 2.5}, "optpi", "BatchSize"),
    ({"BatchSize": True}, "optpi", "BatchSize"),
    ({"MaxTrainingRounds": -1}, "optpi", "MaxTrainingRounds"),
    ({"MaxTrainingBatches": "x"}, "optpi", "MaxTrainingBatches"),
    ({"TimeGoal": Q(3, "Meters")}, "optpi", "TimeGoal"),
    ({"TimeGoal": -5}, "optpi", "TimeGoal"),
    ({"Method": "Nadam"}, "netinvopt", "Method", "ADAM"),
    ({"Method": ("ADAM", R("Momentum", 0.9))}, "invsubopts", "Momentum", "Beta1"),
    ({"Method": ("ADAM", R("Beta1", 1.0))}, "netinvopt", "Beta1", "[0, 1)"),
    ({"Method": ("SGD", R("Momentum", -0.1))}, "netinvopt", "Momentum"),
    ({"Method": ("SGD", R("LearningRate", -1))}, "netinvopt", "LearningRate"),
    ({"Method": ("SGD", R("LearningRateSchedule", wl.Function(wl.Slot(1))))}, "badlrs",
     "LearningRateSchedule"),
    ({"LearningRate": 0}, "netinvopt", "LearningRate"),
    ({"LearningRateMultipliers": (R(1.5, 2),)}, "netinvopt", "LearningRateMultipliers"),
    ({"LearningRateMultipliers": (R("a", "b"),)}, "netinvopt", "LearningRateMultipliers"),
    ({"LearningRateMultipliers": (3,)}, "netinvopt", "LearningRateMultipliers"),
    ({"LossFunction": 3}, "netinvopt", "LossFunction"),
    ({"LossFunction": R("a", wl.Scaled("x"))}, "netinvopt", "Scaled"),
    ({"ValidationSet": wl.Scaled(1.5)}, "invvsfrac", "ValidationSet"),
    ({"ValidationSet": (wl.Scaled(0.1), R("Interval", -2))}, "invtint", "ValidationSet"),
    ({"TargetDevice": "TPU"}, "invtrgdev", "TargetDevice"),
    ({"TargetDevice": ("GPU", 0)}, "invtrgdev", "TargetDevice"),
    ({"TargetDevice": ("GPU", (0, 1))}, "invtrgdev", "distinct positive integers"),
    ({"WorkingPrecision": "Real8"}, "badwp", "WorkingPrecision"),
    ({"RandomSeeding": 1.5}, "seeding", "RandomSeeding"),
    ({"PerformanceGoal": "Quality"}, "perfgoal", "PerformanceGoal"),
    ({"TrainingProgressFunction": wl.Function(wl.Print(wl.Slot(1)))}, "netinvopt",
     "TrainingProgressFunction", "cannot run in Python"),
    ({"TrainingProgressFunction": (print, R("Interval", Q(2, "Parsecs")))}, "invtint",
     "TrainingProgressFunction"),
    ({"TrainingProgressFunction": (print, R("Event", "Lunch"))}, "inveventspec", "Lunch"),
    ({"TrainingProgressFunction": (print, R("Every", 2))}, "invsubopts", "Every"),
    ({"TrainingProgressReporting": "Fancy"}, "netinvopt", "TrainingProgressReporting"),
    ({"TrainingProgressReporting": wl.File("log.txt")}, "repfileext", "log.txt"),
    ({"TrainingProgressReporting": wl.File(3)}, "badrepfile", "File[3]"),
    ({"TrainingStoppingCriterion": {"Criterion": "Loss", "Patience": -1}}, "invstopusage",
     "Patience"),
    ({"TrainingStoppingCriterion": {"Criterion": "Loss", "Tolerance": 1}}, "invstopusage",
     "Tolerance"),
    ({"TrainingStoppingCriterion": {"Criterion": "Loss", "RelativeChange": 2}}, "invrelchange",
     "RelativeChange"),
    ({"TrainingStoppingCriterion": {"Criterion": "Loss", "RelativeChange": 0.1,
                                    "AbsoluteChange": 0.1}}, "invstopnumopts", "not both"),
    ({"TrainingProgressCheckpointing": ("File", "net.h5")}, "invchkext", "net.h5"),
    ({"TrainingProgressCheckpointing": ("Folder", "x")}, "invchkspec",
     "TrainingProgressCheckpointing"),
    ({"TrainingProgressMeasurements": (3,)}, "netinvopt", "TrainingProgressMeasurements"),
    ({"InternalOptions": {"Foo": 1}}, "badintopt", "Foo", "is not a valid internal option",
     '"SequenceBucketingPartitions", "UpdatesPerBatch"'),
    ({"InternalOptions": 3}, "badintopt", "3 is not a valid internal option"),
    ({"InternalOptions": (3,)}, "badintopt", "valid options are"),
    ({"InternalOptions": {"SequenceBucketingPartitions": 0}}, "badintopt",
     "SequenceBucketingPartitions"),
    ({"InternalOptions": {"UpdatesPerBatch": -1}}, "badintopt", "UpdatesPerBatch"),
    ({"InternalOptions": {"MemoryReportingInterval": "often"}}, "invtint",
     "MemoryReportingInterval"),
    ({"InternalOptions": {"LowPrecisionGradientRescaling": 0}}, "badintopt",
     "LowPrecisionGradientRescaling"),
    ({"InternalOptions": {"WorkingPrecision": "Half"}}, "badwp", "WorkingPrecision"),
    ({"InternalOptions": {"PlanLogging": "yes"}}, "badnetlogspec", "PlanLogging"),
    ({"InternalOptions": {"VerboseLogging": wl.File("log.txt")}}, "badnetlogft", "log.txt",
     "VerboseLogging"),
    ({"InternalOptions": {"GradientNormFunction": wl.Sin}}, "badintopt",
     "GradientNormFunction", "Sin"),
    ({"InternalOptions": {"GradientNormFunction": wl.Abs}}, "badintopt",
     "GradientNormFunction", "does not reduce"),
    ({"InternalOptions": {"GradientNormFunction": wl.Function(wl.Norm(wl.Slot(1), 0.5))}},
     "badintopt", "GradientNormFunction"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[1] + str(i) for i, c in enumerate(BAD)])
def test_bad_input_gives_one_clear_message(case):
    kwargs, tag, *needles = case
    with raises(tag, *needles):
        _call(kwargs)


def test_bad_top_level_forms():
    with raises("nonopt", "Options expected"):
        resolve((R("BatchSize", 3), 7))
    with raises("optx", "Unknown option Foo"):
        resolve(R(wl.Foo, 1))


def test_a_late_bad_option_leaves_no_file_deleted(tmp_path):
    """Everything is validated before any sink is built (a File sink deletes its file)."""
    log = tmp_path / "keep.wl"
    log.write_text("old\n")
    with raises("badintopt"):
        internal(PlanLogging=wl.File(str(log)), UpdatesPerBatch=-3)
    assert log.read_text() == "old\n"


TEXT_BAD = [
    ("BatchSze -> 3", "optx", "Unknown option BatchSze in NetTrain["),
    ("BatchSize -> -1", "optpi", "BatchSize -> -1"),
    ('"InternalOptions" -> {"Foo" -> 1}', "badintopt", '"Foo" -> 1 is not a valid internal'),
    ('"InternalOptions" -> "ReportTimings"', "badintopt", '"ReportTimings" is not a valid'),
    ('Method -> {"ADAM", "Momentum" -> 0.9}', "invsubopts", "Momentum"),
    ('"InternalOptions" -> {"PlanLogging" -> File["a.txt"]}', "badnetlogft", "a.txt"),
    ("TrainingProgressFunction -> (Print[#] &)", "netinvopt", "cannot run in Python"),
    ('TrainingProgressReporting -> {"Print", "Interval" -> Quantity[1, "Meters"]}', "invtint",
     "TrainingProgressReporting"),
]


@pytest.mark.parametrize("text, tag, needle", TEXT_BAD)
def test_bad_text_options(text, tag, needle):
    with raises(tag, needle):
        resolve(text)


def test_text_logger_to_file(tmp_path):
    path = tmp_path / "plan.wl"
    c = resolve(f'"InternalOptions" -> {{"VerboseLogging" -> File["{path}"], '
                '"GradientLogging" -> "StandardError", "ExecutorLogging" -> None}')
    assert set(c.listeners) == {"Plan", "Bucketing", "MemoryUsage", "Permutation", "Timing",
                                "Gradient"}


def test_pure_function_precedence_gets_a_hint():
    """`"GradientNormFunction" -> Norm[#, 1] &` reads as `("..." -> Norm[#, 1]) &` (& binds
    loosest, as in Mathematica): refused with badintopt and a hint; the parenthesised form
    works (reference §1.1, §3.8)."""
    with pytest.raises(WLMessage) as err:
        resolve('"InternalOptions" -> {"GradientNormFunction" -> Norm[#, 1] &}')
    assert "NetTrain::badintopt" in str(err.value) and "binds more loosely" in str(err.value)
    config = resolve('"InternalOptions" -> {"GradientNormFunction" -> (Norm[#, 1] &)}')
    assert config.gradient_norm_function(np.array([1.0, -2.0])) == 3.0
