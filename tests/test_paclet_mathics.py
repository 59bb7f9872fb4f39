"""The TorchNetTrain paclet run end to end under Mathics3 with the wlharness ExternalEvaluate shim
(wlharness README §5, §6.3) and a STAND-IN of the NeuralNetworks functions it uses
(tests/neuralnetworks_standin.wl): the kernel initialises the user's evaluated net, sends its held
constructor and position-keyed Real32 arrays (DESIGN rule 6; wl-nets.md §3, §7), encodes the
data with the net's own coders into NumericArray chunks, polls training in slices, applies
kernel-side loggers and functions (rule 5), and puts the trained arrays back with NetReplacePart.

What the stand-in does NOT do as the real kernel does (so these tests cannot check it):
- it knows only NetChain (list or association), LinearLayer, ElementwiseLayer (and bare
  Ramp/Tanh/LogisticSigmoid), SoftmaxLayer, DropoutLayer; no NetGraph, operators, shared arrays;
- its internal association keeps fewer hidden "$" parameters than 12.x-14.x, and no LengthVar
  or IndexIntegerT types inside nets;
- NetInitialize draws uniform weights (the real one: Xavier), ignores Method and RandomSeeding;
- only the "Class" coder applies; "Image", "Boolean", "Characters"... construct but cannot encode,
  so the Image path of examples/lenet_mnist.wl is checked only in a real kernel
  (test_paclet_wolframscript.py);
- Information answers only "InputForm", "ArraysPositionList", "ArraysList", "InputPortNames",
  "OutputPortNames"; NetReplacePart takes only "Input" -> shape and {position -> array};
- nets do not evaluate on inputs (Mathics3's Dot is far too slow), so the trained net is checked
  here by running its arrays through the same MLP in numpy;
- Mathics3 itself: no multi-series ListPlot (the paclet draws plots from primitives), no box
  forms (no summary box), no front end ($FrontEnd is not a FrontEndObject: the print table runs).
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_dir

ROOT = Path(__file__).resolve().parents[1]
PACLET = ROOT / "wl_package" / "TorchNetTrain" / "Kernel" / "TorchNetTrain.wl"
STANDIN = ROOT / "tests" / "neuralnetworks_standin.wl"

SHARED = shared_dir()
if SHARED is None:
    pytest.skip("the shared wlharness folder is absent", allow_module_level=True)
os.environ.setdefault("MATHICS_CHARACTER_ENCODING", "ASCII")  # before mathics is imported
pytest.importorskip("mathics")
pytest.importorskip("zmq")
sys.path.insert(0, str(SHARED / "tools" / "wlharness"))

from pymathics.ee_shim import close_all_sessions, mathics_to_py, py_to_mathics  # noqa: E402
from pymathics.ee_shim.harness import ev, make_session  # noqa: E402

MLP = ('NetChain[{LinearLayer[32], Ramp, LinearLayer[10], SoftmaxLayer[]}, '
       '"Output" -> NetDecoder[{"Class", Range[0, 9]}]]')
N_DIGITS = 240  # Mathics3 moves about 10^4 numbers a second through evaluation: keep data small
SMALL = 'NetChain[{LinearLayer[3], Tanh, LinearLayer[1]}, "Input" -> 2]'
SMALL_DATA = "{" + ", ".join(f"{{{i / 8}, {1 - i / 8}}} -> {{{2 * i / 8 - 1}}}"
                             for i in range(16)) + "}"


def _digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n of scikit-learn's 8x8 digits as examples/digits.npz holds them (pixels in
    [0, 1], labels 0-9)."""
    d = np.load(ROOT / "examples" / "digits.npz")
    return d["Input"][:n].astype(np.float64).round(3), d["Output"][:n]


def _messages(out: list[str]) -> list[str]:
    return [o for o in out if "::" in o]


def _accuracy(arrays: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    """The trained MLP run in numpy from the arrays the returned net holds, in
    ArraysPositionList order {1 Weights, 1 Biases, 3 Weights, 3 Biases}."""
    w1, b1, w2, b2 = (np.asarray(a, dtype=np.float64) for a in arrays)
    h = np.maximum(x @ w1.T + b1, 0.0)
    return float(((h @ w2.T + b2).argmax(axis=1) == y).mean())


@pytest.fixture(scope="module")
def kernel():
    # The Python subprocess the shim starts must import this checkout and keep to one thread.
    os.environ["OMP_NUM_THREADS"] = "1"
    s = make_session()
    for path in (STANDIN, PACLET):
        _, out = ev(s, f'Get["{path}"]')
        assert out == [], out
    r, _ = ev(s, "TorchNetTrain`$TorchNetTrainPythonPath")
    assert Path(r.value) == ROOT  # derived from the paclet's own location
    # the digits go straight into the session as lists (parsing them as text takes seconds)
    x, y = _digits(N_DIGITS)
    s.definitions.set_ownvalue("Global`xs", py_to_mathics(x.tolist(), s.definitions))
    s.definitions.set_ownvalue("Global`ys", py_to_mathics(y.tolist(), s.definitions))
    _, out = ev(s, "rules = MapThread[Rule, {xs, ys}];")
    assert out == [], out
    yield s
    ev(s, "TorchNetTrainClose[]")
    close_all_sessions()


def test_standin_nets_take_the_internal_form(kernel):
    """The stand-in is faithful where the old paclet broke: an evaluated net's InputForm is the
    internal association (so it must never be sent as text), while Information[net0,
    "InputForm"] is the held constructor with sizes as lists and Ramp as ElementwiseLayer."""
    text, _ = ev(kernel, f"ToString[{MLP}, InputForm]")
    # (Mathics3's Information holds its arguments; the stand-in evaluates them once)
    assert text.value.startswith('NetChain[<|"Type" -> "Chain", "Nodes" -> <|"1" -> <|')
    r, out = ev(kernel, "held = Information[NetInitialize[NetReplacePart["
                        f'{MLP}, "Input" -> 64]], "InputForm"]; {{Head[held], '
                        "ToString[held, InputForm]}")
    assert out == [], out
    head, text = mathics_to_py(r)
    assert str(head).endswith("HoldForm")
    assert text == ("NetChain[{LinearLayer[{32}], ElementwiseLayer[Ramp], LinearLayer[{10}], "
                    'SoftmaxLayer[]}, "Input" -> 64]')


def test_mlp_on_digits_given_as_rules(kernel):
    """Rules in -> label: the input shape is set from the data (the net had none), class labels
    go as indices of the decoder's labels, and the net comes back through NetReplacePart: the
    user's decoder intact, its arrays trained (they classify the training digits in numpy).
    Without a front end the progress is the print table, its last row from the results."""
    t0 = time.monotonic()
    code = (f"net = {MLP}; "
            "trained = TorchNetTrain[net, rules, MaxTrainingRounds -> 40, BatchSize -> 32, "
            'RandomSeeding -> 1]; '
            '{Head[trained], NetExtract[trained, "Output"], NetExtract[trained, "Input"], '
            'Information[trained, "ArraysPositionList"]}')
    r, out = ev(kernel, code)
    assert _messages(out) == [], out
    header = next(o for o in out if "round loss" in o)
    assert header.split()[:3] == ["%", "round", "batch"]
    assert header.split()[-4:] == ["round", "error", "validation", "error"]  # a classifier
    last = out[-1].split()
    assert last[:3] == ["100%", "40", "8"], out  # 240 / 32 -> 8 batches a round
    assert last[-2].endswith("%") and int(last[-2][:-1]) < 15 and last[-1] == "-"
    head, decoder, shape, positions = mathics_to_py(r)
    assert str(head).endswith("NetChain")
    assert str(decoder.head).endswith("NetDecoder") and decoder.args[0] == "Class"
    assert decoder.args[1]["Labels"] == list(range(10))
    assert shape == 64
    assert positions == [[1, "Weights"], [1, "Biases"], [3, "Weights"], [3, "Biases"]]
    arrays = mathics_to_py(ev(kernel, 'Information[trained, "ArraysList"]')[0])
    assert [a.dtype for a in arrays] == [np.float32] * 4
    assert [a.shape for a in arrays] == [(32, 64), (32,), (10, 32), (10,)]
    x, y = _digits(N_DIGITS)
    assert _accuracy(arrays, x, y) > 0.85
    assert time.monotonic() - t0 < 30


def test_all_from_an_association_with_validation_gives_the_results_object(kernel):
    """An association of columns, explicit ValidationSet data (sent as "Validation" chunks),
    and All: a TorchNetTrainResults answering NetTrain's properties, its TrainedNet the user's
    net, and the two plots drawn in WL, the loss plot with its quartile band."""
    code = (f"net = NetReplacePart[{MLP}, \"Input\" -> 64]; "
            # chunks of 50 examples (the real limit is 64 MB): Python joins them in order
            "res = Block[{TorchNetTrain`Private`$chunkBytes = 4 * 64 * 50}, TorchNetTrain[net, "
            '<|"Input" -> xs[[;; 200]], "Output" -> ys[[;; 200]]|>, All, '
            "ValidationSet -> rules[[201 ;;]], MaxTrainingRounds -> 4, BatchSize -> 40, "
            'TrainingProgressReporting -> None, "InternalOptions" -> {"PlotLossQuartiles" -> True}]]; '
            '{Head[res], res["TotalRounds"], res["BatchesPerRound"], res["ReasonTrainingStopped"], '
            'res["TrainingExamples"], '
            'Length[res["BatchLossList"]], Length[res["RoundLossList"]], '
            'Length[res["ValidationLossList"]], res["ValidationExamples"], '
            'NetExtract[NetExtract[res["TrainedNet"], "Output"], "Labels"]}')
    r, out = ev(kernel, code)
    assert _messages(out) == [], out
    head, rounds, bpr, reason, ntrain, nb, nr, nv, nval, labels = mathics_to_py(r)
    assert str(head).endswith("TorchNetTrainResults")
    assert (rounds, bpr, reason, ntrain) == (4, 5, "MaxTrainingRounds", 200)
    assert (nb, nr, nv, nval) == (20, 4, 4, 40)
    assert labels == list(range(10))
    props = mathics_to_py(ev(kernel, 'res["Properties"]')[0])
    for p in ("TrainedNet", "FinalNet", "BatchLossList", "RoundLossList", "ValidationLossList",
              "LossEvolutionPlot", "ErrorRateEvolutionPlot", "TotalTrainingTime"):
        assert p in props
    assert "PlotLossQuartiles" not in props
    # the final net: the user's net too, with the last round's arrays (a second finish reply)
    r, _ = ev(kernel, 'With[{f = res["FinalNet"]}, {Head[f], '
                      'NetExtract[NetExtract[f, "Output"], "Labels"], '
                      'Dimensions[Normal[Information[f, "ArraysList"][[1]]]]}]')
    head, labels, dims = mathics_to_py(r)
    assert str(head).endswith("NetChain") and labels == list(range(10)) and dims == [32, 64]
    assert mathics_to_py(ev(kernel, 'res[{"TotalBatches", "BatchSize"}]')[0]) == [20, 40]
    # LossEvolutionPlot: batch, round and validation lines (log10 of the losses) and the band
    r, out = ev(kernel, 'p = res["LossEvolutionPlot"]; {Head[p], Head[First[p]], '
                        'Length[Cases[p, _Line, Infinity]], Length[Cases[p, _Polygon, Infinity]], '
                        'Cases[p, Line[pts_] :> Length[pts], Infinity], '
                        'Cases[p, Line[pts_] :> pts, Infinity][[2]]}')
    assert _messages(out) == [], out
    head, inner, lines, polygons, lengths, round_pts = mathics_to_py(r)
    assert str(head).endswith("Legended") and str(inner).endswith("Graphics")
    assert (lines, polygons, lengths) == (3, 1, [20, 4, 4])
    round_losses = mathics_to_py(ev(kernel, 'res["RoundLossList"]')[0])
    assert [p[0] for p in round_pts] == [1, 2, 3, 4]
    assert [p[1] for p in round_pts] == pytest.approx(np.log10(round_losses).tolist())
    r, _ = ev(kernel, 'Cases[res["ErrorRateEvolutionPlot"], Line[pts_] :> Length[pts], Infinity]')
    assert mathics_to_py(r)[-2:] == [4, 4]  # round and validation error rates


def test_kernel_sinks_and_a_function_that_uses_the_net(kernel):
    """The Bag and Print loggers are filled by the kernel from step's queue; a Wolfram
    TrainingProgressFunction runs in the kernel once per round and, because it reads #Net, gets
    the user's net with the arrays of that moment (net_arrays), plus the loss lists."""
    code = (
        'bag = Internal`Bag[]; seen = Internal`Bag[]; '
        f'rows = Map[<|"Input" -> First[#], "Output" -> Last[#]|> &, {SMALL_DATA}]; '
        'res = TorchNetTrain[' + SMALL + ', rows, "All", MaxTrainingRounds -> 2, BatchSize -> 4, '
        'ValidationSet -> Scaled[0.25], '
        'TrainingProgressFunction -> {Function[info, Internal`StuffBag[seen, {info["Round"], '
        'Head[info["Net"]], Information[info["Net"], "ArraysPositionList"], '
        'ListQ[info["BatchLossList"]]}]], "Interval" -> 1}, '
        '"InternalOptions" -> {"PlanLogging" -> bag, "CoreLoopLogging" -> True}]')
    _, out = ev(kernel, code)
    assert _messages(out) == [], out
    assert "StartOfLoop" in out and "EndOfLoop" in out  # True (Print) ran in the kernel
    plan = mathics_to_py(ev(kernel, "Internal`BagPart[bag, All]")[0])
    assert plan and all(getattr(e.head, "name", "") == "Rule" for e in plan)
    seen = mathics_to_py(ev(kernel, "Internal`BagPart[seen, All]")[0])
    assert [s[0] for s in seen] == [1, 2]
    assert all(str(s[1]).endswith("NetChain") and s[3] is True for s in seen)
    assert seen[0][2] == [[1, "Weights"], [1, "Biases"], [3, "Weights"], [3, "Biases"]]
    # a list of associations; Scaled validation stays an option: 12 train, 4 validate
    assert mathics_to_py(ev(kernel, '{res["TotalBatches"], res["TrainingExamples"], '
                                    'Length[res["ValidationLossList"]]}')[0]) == [6, 12, 2]


def test_bad_option_gives_one_message_and_a_failure(kernel):
    """A wrong option comes back from open_run (before any data moves) as NetTrain's message,
    issued by the kernel, and a Failure."""
    r, out = ev(kernel, f'TorchNetTrain[{SMALL}, {SMALL_DATA}, '
                        '"InternalOptions" -> {"NoSuchOption" -> 1}]')
    msgs = _messages(out)
    assert len(msgs) == 1 and "NetTrain::badintopt" in msgs[0], out
    assert str(r.get_head()).endswith("Failure")


def test_bad_data_and_an_unknown_label_are_refused_in_the_kernel(kernel):
    r, out = ev(kernel, f'TorchNetTrain[{SMALL}, "not data"]')
    assert [m.split(":")[0] for m in _messages(out)] == ["TorchNetTrain"], out
    assert "TorchNetTrain::data" in _messages(out)[0]
    assert str(r).endswith("$Failed")
    r, out = ev(kernel, f'TorchNetTrain[{MLP}, {{xs[[1]] -> 3, xs[[2]] -> 12}}]')
    assert any("TorchNetTrain::encode" in m and "Output" in m for m in _messages(out)), out
    r, out = ev(kernel, f'TorchNetTrain[{MLP}, <|"Input" -> xs[[;;2]], "Label" -> {{1, 2}}|>]')
    assert any("TorchNetTrain::port" in m and "Label" in m for m in _messages(out)), out


def test_abort_returns_the_net_trained_so_far(kernel):
    """Abort[] in the kernel (here from a TrainingProgressFunction) is caught by the paclet,
    which stops Python's loop and returns the results so far, reason "Aborted", as NetTrain's
    first abort does (nettrain-loop.md)."""
    r, out = ev(kernel, f'res = TorchNetTrain[{SMALL}, {SMALL_DATA}, "All", '
                        'MaxTrainingRounds -> 100000, BatchSize -> 8, '
                        'TrainingProgressFunction -> {Function[info, Abort[]], "Interval" -> 1}, '
                        'TrainingProgressReporting -> None]; '
                        '{res["ReasonTrainingStopped"], res["TotalBatches"], Head[res["TrainedNet"]]}')
    assert _messages(out) == [], out
    reason, batches, head = mathics_to_py(r)
    assert reason == "Aborted"
    assert 2 <= batches < 1000
    assert str(head).endswith("NetChain")


def test_an_evaluator_without_torch_is_named_at_once(kernel, tmp_path):
    """"Evaluator" -> a Python that cannot import torch: one message naming it, before any net
    or data is sent (the check runs right after the session starts)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n")
    wrapper = tmp_path / "python-without-torch"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{site}:$PYTHONPATH" exec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    r, out = ev(kernel, f'TorchNetTrain[{SMALL}, {SMALL_DATA}, "Evaluator" -> "{wrapper}"]')
    msgs = _messages(out)
    assert len(msgs) == 1 and "TorchNetTrain::nomodule" in msgs[0] and "torch" in msgs[0], out
    assert str(r).endswith("$Failed")
    r, out = ev(kernel, f'TorchNetTrain[{SMALL}, {SMALL_DATA}, "Evaluator" -> 42]')
    assert any("TorchNetTrain::evaluator" in m for m in _messages(out)), out


def test_stop_button_stops_with_manual_stop(kernel):
    """The panel's Stop button sets the paclet's stop flag; the next slice asks Python to stop
    at the next batch (stop(sid, False)), which NetTrain reports as "ManualStop". Here the flag
    is set from a TrainingProgressFunction, as the button's action does it."""
    r, out = ev(kernel, f'd = {SMALL_DATA}; res = TorchNetTrain[{SMALL}, d[[All, 1]] -> d[[All, 2]], '
                        '"All", MaxTrainingRounds -> 100000, BatchSize -> 8, '
                        'TrainingProgressFunction -> {Function[info, '
                        'TorchNetTrain`Private`$stopRequested = True], "Interval" -> 1}, '
                        'TrainingProgressReporting -> None]; '
                        '{res["ReasonTrainingStopped"], res["TotalBatches"]}')
    assert _messages(out) == [], out
    reason, batches = mathics_to_py(r)
    assert reason == "ManualStop"
    assert batches == 2  # the call after round 1: training waits for it, then stops there


def test_progress_panel_rows(kernel):
    """The notebook panel (not shown here: no front end) has NetTrain's rows for a progress
    association as step gives it, the timings grid and memory row when asked, and Stop."""
    code = ('Block[{TorchNetTrain`Private`$reportTimings = True, TorchNetTrain`Private`$reportMemory = True, '
            'TorchNetTrain`Private`$batchBag = Internal`Bag[], TorchNetTrain`Private`$stopRequested = False}, '
            'Internal`StuffBag[TorchNetTrain`Private`$batchBag, {1, 0.9}]; '
            'Internal`StuffBag[TorchNetTrain`Private`$batchBag, {2, 0.7}]; '
            'p = TorchNetTrain`Private`progressPanel[<|"ProgressFraction" -> 0.25, "Round" -> 2, '
            '"TotalRounds" -> 8, "Batch" -> 3, "BatchesPerRound" -> 10, "TimeElapsed" -> 12.4, '
            '"TimeRemaining" -> 37.2, "BatchLoss" -> 0.5, "RoundLoss" -> 0.6, '
            '"RoundMeasurements" -> <|"Loss" -> 0.6, "ErrorRate" -> 0.125|>, '
            '"$Timings" -> <|"Batch" -> <|"Last" -> 0.01, "Min" -> 0.008, "Max" -> 0.02|>|>, '
            '"RecentBatchLosses" -> {0.9, 0.7, 0.6}, '
            '"$MemoryUsage" -> <|"System" -> 3 * 2^30, "Kernel" -> 200 * 2^20|>|>]]; '
            '{Head[p], p[[1, 1, All, 1]], ToString[p[[1, 1, 3, 2]]], ToString[p[[1, 1, 6, 2]]], '
            'Head[p[[1, 1, 7, 2]]], p[[1, 1, 9, 2]]}')
    r, out = ev(kernel, code)
    assert _messages(out) == [], out
    head, labels, batch, error, plot, memory = mathics_to_py(r)
    assert str(plot).endswith("Graphics")
    assert memory == "System: 3072 MB, Kernel: 200 MB"
    assert str(head).endswith("Panel")
    assert labels == ["progress", "round", "batch", "time", "loss", "error", "loss plot",
                      "timings", "memory", ""]
    assert batch.replace(" ", "") == "3/10"
    assert "round 12%" in error or "round 13%" in error


def test_variable_length_values_go_flat_with_lengths(kernel):
    """A port whose examples differ in length travels as one flat array (concatenated along the
    first axis) plus Integer32 lengths, its shape {"Varying", ...}; a rectangular one as is."""
    r, out = ev(kernel, 'Map[If[NumericArrayQ[#], {NumericArrayType[#], Normal[#]}, #] &, '
                        'TorchNetTrain`Private`toArrays[{{{1., 2.}}, {{3., 4.}, {5., 6.}}}, "Real32"]]')
    assert out == [], out
    assert mathics_to_py(r) == [["Real32", [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]],
                                ["Integer32", [1, 2]], ["Varying", 2]]
    r, _ = ev(kernel, 'TorchNetTrain`Private`toArrays[{{1, 2}, {3, 4}}, "Integer32"][[2 ;;]]')
    lengths, shape = mathics_to_py(r)
    assert str(lengths) == "None" and shape == [2]


def test_a_reply_over_the_limit_comes_through_a_wxf_file(kernel):
    """finish's reply over 100 MB is a temporary WXF file (wlbridge's own `reply`, with the limit
    set to 0 here): the paclet Imports it, deletes it, and puts its arrays into the net.
    (Mathics3 cannot Import WXF files: this test gives Import that one file's bytes.)"""
    from wlbridge.externalevaluate.values import reply

    arrays = [np.full((3, 2), 0.5, np.float32), np.arange(3, dtype=np.float32),
              np.full((1, 3), -1.0, np.float32), np.zeros(1, np.float32)]
    positions = [[1, "Weights"], [1, "Biases"], [3, "Weights"], [3, "Biases"]]
    answer = reply({"Positions": positions, "Arrays": arrays,
                    "Results": {"TotalRounds": 7}}, limit=0)
    path = answer["File"]
    with open(path, "rb") as f:
        kernel.definitions.set_ownvalue("Global`wxfBytes", py_to_mathics(f.read()))
    _, out = ev(kernel, f'Unprotect[Import]; Import["{path}", "WXF"] := '
                        'BinaryDeserialize[wxfBytes]; Protect[Import];')
    assert out == [], out
    r, out = ev(kernel, f'Block[{{TorchNetTrain`Private`$net0 = NetInitialize[{SMALL}]}}, '
                        'res = TorchNetTrain`Private`answer[All, TorchNetTrain`Private`readReply['
                        f'<|"File" -> "{path}"|>]]]; {{res["TotalRounds"], '
                        f'FileExistsQ["{path}"]}}')
    assert out == [], out
    assert mathics_to_py(r) == [7, False]
    got = mathics_to_py(ev(kernel, 'With[{t = res["TrainedNet"]}, Information[t, "ArraysList"]]')[0])
    for a, b in zip(got, arrays, strict=True):
        np.testing.assert_array_equal(a, b)
