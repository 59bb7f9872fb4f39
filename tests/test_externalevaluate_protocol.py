"""The issue-9 protocol (docs/externalevaluate-protocol.md) over wolframclient's real
ExternalEvaluate loop in a subprocess, for both generations: 1.1.x (Mathematica 12.x-14.0,
association messages) and 1.4.x (14.1+, ExternalEvaluateCommand).

Each test sends what a kernel sends (DESIGN rule 6): the net as the held constructor
``Information[net, "InputForm"]`` gives (12.0's ``ToNetInputForm``: sizes as lists,
activations as layers, wl-nets.md §3.1), its arrays as position-keyed float32 NumericArrays,
and MNIST-sized data as 60,000 x 28 x 28 UnsignedInteger8 chunks with class targets as 1-based
Integer32 indices. The trained arrays must equal what the engine trains from the same net,
arrays, data and seed through the Python API."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pytest

pytest.importorskip("zmq")

from test_externalevaluate import EEClient, NumericArrayMark, _Consumer, is_failure  # noqa: E402
from wolframclient.deserializers import binary_deserialize  # noqa: E402
from wolframclient.language import wl  # noqa: E402
from wolframclient.language.expression import WLFunction  # noqa: E402

import wlbridge  # noqa: E402

EE = "wlbridge.externalevaluate."
N = 60_000
rng = np.random.default_rng(9)
IMAGES = rng.integers(0, 256, (N, 28, 28), dtype=np.uint8)
DIGITS = rng.integers(1, 11, N).astype(np.int32)  # 1-based indices into the decoder's labels
LABELS = tuple(str(d) for d in range(10))
PORTS = {"Input": {"Kind": "Image", "Dimensions": (28, 28)},
         "Output": {"Kind": "Class", "Dimensions": (10,), "Labels": LABELS}}
H = wl.HoldForm


def mlp_structure() -> WLFunction:
    """``Information[NetInitialize@NetChain[{FlattenLayer[], 32, Ramp, 10, SoftmaxLayer[]},
    "Input" -> NetEncoder["Image"...]], "InputForm"]`` as 12.0 writes it."""
    return H(wl.NetChain((wl.FlattenLayer(), wl.LinearLayer((32,)), wl.ElementwiseLayer(wl.Ramp),
                          wl.LinearLayer((10,)), wl.SoftmaxLayer()), wl.Rule("Input", (28, 28))))


def mlp_arrays() -> tuple[list[tuple[Any, ...]], list[np.ndarray]]:
    r = np.random.default_rng(1)
    positions = [(2, "Weights"), (2, "Biases"), (4, "Weights"), (4, "Biases")]
    arrays = [r.normal(0, 0.002, (32, 784)), r.normal(0, 0.1, 32), r.normal(0, 0.2, (10, 32)),
              np.zeros(10)]
    return positions, [a.astype(np.float32) for a in arrays]


LSTM_GATES = [f"{g}Gate{w}" for g in ("Input", "Output", "Forget", "Memory")
              for w in ("InputWeights", "StateWeights", "Biases")]


def lstm_structure() -> WLFunction:
    return H(wl.NetChain({"lstm": wl.LongShortTermMemoryLayer(8), "last": wl.SequenceLastLayer(),
                          "lin": wl.LinearLayer((10,)), "prob": wl.SoftmaxLayer()},
                         wl.Rule("Input", ("Varying", 28))))


def lstm_arrays() -> tuple[list[tuple[Any, ...]], list[np.ndarray]]:
    r = np.random.default_rng(2)
    shapes = {"InputWeights": (8, 28), "StateWeights": (8, 8), "Biases": (8,)}
    positions = [("lstm", g) for g in LSTM_GATES] + [("lin", "Weights"), ("lin", "Biases")]
    arrays = [r.normal(0, 0.05, shapes[next(k for k in shapes if g.endswith(k))])
              for g in LSTM_GATES] + [r.normal(0, 0.3, (10, 8)), np.zeros(10)]
    return positions, [a.astype(np.float32) for a in arrays]


OPTIONS = ('MaxTrainingRounds -> 1, BatchSize -> 10000, RandomSeeding -> 7, '
           'TrainingProgressFunction -> {KernelFunction[1], "Interval" -> Quantity[1, "Batches"]}, '
           '"InternalOptions" -> {"CoreLoopLogging" -> KernelSink[1]}')
DIRECT = 'MaxTrainingRounds -> 1, BatchSize -> 10000, RandomSeeding -> 7, TrainingProgressReporting -> None'


@pytest.fixture(scope="module", params=["1.4", "1.1"])
def ee(request):
    client = EEClient(request.param)
    assert client.eval("import torch; torch.set_num_threads(1); "
                       "import wlbridge.externalevaluate") is None
    yield client
    client.close()


def run_to_end(ee: EEClient, sid: str, limit: float = 120.0) -> list[dict[str, Any]]:
    answers = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        answer = ee.call(EE + "step", sid, 0.3)
        assert isinstance(answer, dict), answer
        answers.append(answer)
        if answer["Done"]:
            return answers
    raise AssertionError("training did not finish")


_DIRECT: dict[str, dict] = {}


def direct_arrays(name: str, structure: WLFunction, positions: list, arrays: list,
                  data: dict) -> dict:
    """The engine's own result: the same net (arrays written in by position), data and seed
    through `wlbridge.net_train` in this process, one thread like the loop's (computed once
    for both loop generations)."""
    if name not in _DIRECT:
        _DIRECT[name] = _direct(structure, positions, arrays, data)
    return _DIRECT[name]


def _direct(structure: WLFunction, positions: list, arrays: list, data: dict) -> dict:
    import torch

    from wlbridge.nets.heldform import held_net
    from wlbridge.nets.net import Net
    from wlbridge.nets.positions import load_arrays

    net = Net(held_net(structure, PORTS))
    load_arrays(net.module, positions, arrays)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trained = wlbridge.net_train(net, data, "TrainedNet", DIRECT)
    finally:
        torch.set_num_threads(threads)
    return trained.arrays()


def open_and_send(ee: EEClient, structure: Any, positions: list, arrays: list,
                  inputs: tuple[np.ndarray, Any], options: str = OPTIONS, prop: str = "All") -> str:
    sid = ee.call(EE + "open_run", structure, positions, arrays, PORTS, options, prop)
    assert isinstance(sid, str), sid
    chunk, lengths = inputs
    assert ee.call(EE + "add_data", sid, "Training", "Input", chunk, lengths) == N
    assert ee.call(EE + "add_data", sid, "Training", "Output", DIGITS, None) == N
    assert ee.call(EE + "begin", sid) is True
    return sid


def check_kernel_side(answers: list[dict[str, Any]]) -> None:
    """CoreLoop entries reach the kernel sink in order with the loop's own times, and the
    kernel function is called once per batch (6 batches of 10,000)."""
    log = [entry for a in answers for k, entry in a["Log"] if k == 1]
    keys = [tuple(e.args[0]) for e in log]
    assert [e.args[1] for e in log][0] == "StartOfLoop" and "EndOfLoop" in [e.args[1] for e in log]
    assert keys == sorted(keys) and all(isinstance(t, float) and t >= 0 for t, _ in keys)
    infos = [info for a in answers for k, info in a["Callbacks"] if k == 1]
    assert [info["AbsoluteBatch"] for info in infos] == [1, 2, 3, 4, 5, 6]
    # NetTrain's association for the function carries the loss lists so far (§9.11)
    assert [len(info["BatchLossList"]) for info in infos] == [1, 2, 3, 4, 5, 6]
    assert infos[-1]["BatchLossList"][-1] == infos[-1]["BatchLoss"]
    assert all("BatchLossList" not in a["Progress"] for a in answers)
    assert answers[-1]["Progress"]["TotalBatches"] == 6


def check_arrays(reply: dict, positions: list, sent: list, expected: dict) -> None:
    assert [tuple(p) for p in reply["Positions"]] == positions
    for p, got, before in zip(positions, reply["Arrays"], sent, strict=True):
        assert isinstance(got, NumericArrayMark) and got.array.dtype == np.float32
        want = expected[tuple(str(k) for k in p)]
        assert got.array.shape == before.shape
        np.testing.assert_array_equal(got.array, want)
        assert not np.array_equal(got.array, before) or not before.any()


def test_mlp_from_held_form_and_uint8_chunks(ee):
    positions, arrays = mlp_arrays()
    sid = open_and_send(ee, mlp_structure(), positions, arrays, (IMAGES, None))
    answers = run_to_end(ee, sid)
    check_kernel_side(answers)
    reply = ee.call(EE + "finish", sid, "All")
    assert isinstance(reply, dict), reply
    results = reply["Results"]
    assert results["TotalBatches"] == 6 and len(results["BatchLossList"]) == 6
    assert results["ReasonTrainingStopped"] == "MaxTrainingRounds"
    assert "TrainedNet" not in results and results["TrainingExamples"] == N
    expected = direct_arrays("mlp", mlp_structure(), positions, arrays,
                             {"Input": IMAGES.astype(np.float32), "Output": DIGITS})
    check_arrays(reply, positions, arrays, expected)
    assert ee.call(EE + "close", sid) is True and ee.call(EE + "close", sid) is False


def test_lstm_from_flat_sequences_and_lengths(ee):
    positions, arrays = lstm_arrays()
    flat = IMAGES.reshape(N * 28, 28)  # 60,000 sequences of 28 rows, concatenated
    lengths = np.full(N, 28, dtype=np.int32)
    sid = open_and_send(ee, lstm_structure(), positions, arrays, (flat, lengths))
    answers = run_to_end(ee, sid)
    check_kernel_side(answers)
    reply = ee.call(EE + "finish", sid, "RoundLossList")
    assert set(reply["Results"]) == {"RoundLossList"} and len(reply["Results"]["RoundLossList"]) == 1
    expected = direct_arrays("lstm", lstm_structure(), positions, arrays,
                             {"Input": list(IMAGES.astype(np.float32)), "Output": DIGITS})
    check_arrays(reply, positions, arrays, expected)
    ee.call(EE + "close", sid)


def test_refusals_come_before_any_data(ee):
    """An unsupported layer, a wrong array and a wrong port are one NetTrain message each,
    naming the layer, the position or the port."""
    positions, arrays = mlp_arrays()
    # (AttentionLayer, the layer first used here, is supported now)
    bad_net = H(wl.NetChain((wl.LinearLayer((8,)), wl.SpatialTransformationLayer((4, 4))),
                            wl.Rule("Input", 4)))
    res = ee.call(EE + "open_run", bad_net, [], [], {}, "", "All")
    assert is_failure(res) and "SpatialTransformationLayer at position {2}" in res.args[1]["Message"]
    wrong = [arrays[0][:, :700], *arrays[1:]]
    res = ee.call(EE + "open_run", mlp_structure(), positions, wrong, PORTS, "", "All")
    assert is_failure(res)
    assert res.args[1]["Message"] == ('NetTrain::invnet: the array at position {2, "Weights"} '
                                      'has dimensions 32x700, but the net needs 32x784')
    sid = ee.call(EE + "open_run", mlp_structure(), positions, arrays, PORTS, "", "All")
    res = ee.call(EE + "add_data", sid, "Training", "Image", IMAGES[:10], None)
    assert is_failure(res) and res.args[1]["Tag"] == "missinslot" and "'Image'" in res.args[1]["Message"]
    assert ee.call(EE + "add_data", sid, "Training", "Input", IMAGES[:10], None) == 10
    res = ee.call(EE + "begin", sid)
    assert is_failure(res) and "'Output'" in res.args[1]["Message"]
    assert ee.call(EE + "add_data", sid, "Training", "Output", DIGITS[:9], None) == 9
    res = ee.call(EE + "begin", sid)
    assert is_failure(res) and res.args[1]["Tag"] == "invinlen"
    ee.call(EE + "close", sid)


def test_stop_and_net_arrays_mid_training(ee):
    """net_arrays gives the arrays as they are while training runs (for a kernel function
    using #Net); stop is the panel's Stop button: "ManualStop", and the arrays so far."""
    positions, arrays = mlp_arrays()
    options = 'MaxTrainingRounds -> 100000, BatchSize -> 50, TrainingProgressReporting -> None'
    sid = ee.call(EE + "open_run", mlp_structure(), positions, arrays, PORTS, options, "All")
    ee.call(EE + "add_data", sid, "Training", "Input", IMAGES[:500], None)
    ee.call(EE + "add_data", sid, "Training", "Output", DIGITS[:500], None)
    assert ee.call(EE + "begin", sid) is True
    deadline = time.monotonic() + 60
    while ee.call(EE + "step", sid, 0.2)["Progress"].get("AbsoluteBatch", 0) < 3:
        assert time.monotonic() < deadline
    now = ee.call(EE + "net_arrays", sid)
    assert [tuple(p) for p in now[0]] == positions
    assert [a.array.shape for a in now[1]] == [a.shape for a in arrays]
    assert ee.call(EE + "stop", sid, False) is True
    run_to_end(ee, sid, 30)
    reply = ee.call(EE + "finish", sid, "All")
    assert reply["Results"]["ReasonTrainingStopped"] == "ManualStop"
    assert 3 <= reply["Results"]["TotalBatches"] < 100000 * 10
    ee.call(EE + "close", sid)


def test_kernel_functions_run_synchronously_and_can_stop_training(ee):
    """NetTrain calls TrainingProgressFunction synchronously: training waits while the kernel
    runs its function, so a "StopTraining" from the third call (sent as stop) ends training
    after exactly 3 batches, and no call runs ahead of the kernel. The last Progress shows
    the end."""
    positions, arrays = mlp_arrays()
    options = ('MaxTrainingRounds -> 100, BatchSize -> 100, TrainingProgressFunction -> '
               '{KernelFunction[1], "Interval" -> Quantity[1, "Batches"]}')
    sid = ee.call(EE + "open_run", mlp_structure(), positions, arrays, PORTS, options, "All")
    ee.call(EE + "add_data", sid, "Training", "Input", IMAGES[:500], None)
    ee.call(EE + "add_data", sid, "Training", "Output", DIGITS[:500], None)
    assert ee.call(EE + "begin", sid) is True
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while 3 not in seen:
        answer = ee.call(EE + "step", sid, 0.2)
        seen += [info["AbsoluteBatch"] for _, info in answer["Callbacks"]]
        assert time.monotonic() < deadline and not answer["Done"]
    assert seen == [1, 2, 3]  # one call per step at most: none ran ahead
    # the kernel "runs the function" (using #Net): training does not move meanwhile
    before = ee.call(EE + "net_arrays", sid)
    time.sleep(0.3)
    after = ee.call(EE + "net_arrays", sid)
    for a, b in zip(before[1], after[1], strict=True):
        np.testing.assert_array_equal(a.array, b.array)
    assert ee.call(EE + "stop", sid, False) is True  # the function returned "StopTraining"
    answers = run_to_end(ee, sid, 30)
    assert answers[-1]["Progress"]["AbsoluteBatch"] == 3
    results = ee.call(EE + "finish", sid, "All")["Results"]
    assert results["TotalBatches"] == 3 and results["ReasonTrainingStopped"] == "ManualStop"
    ee.call(EE + "close", sid)


def test_validation_chunks_and_a_reply_through_a_file(ee, tmp_path):
    """Explicit validation data comes as role "Validation" chunks (ValidationSet stays out of
    the options text); a reply over the size limit (100 MB; lowered here) comes as
    <|"File" -> path|> of a WXF file holding the same association."""
    positions, arrays = mlp_arrays()
    options = 'MaxTrainingRounds -> 2, BatchSize -> 500, TrainingProgressReporting -> None'
    sid = ee.call(EE + "open_run", mlp_structure(), positions, arrays, PORTS, options, "All")
    for role, part in (("Training", slice(0, 2000)), ("Validation", slice(2000, 2300))):
        ee.call(EE + "add_data", sid, role, "Input", IMAGES[part], None)
        ee.call(EE + "add_data", sid, role, "Output", DIGITS[part], None)
    assert ee.call(EE + "begin", sid) is True
    run_to_end(ee, sid)
    ee.eval("import wlbridge.externalevaluate.values as v; v.REPLY_FILE_BYTES = 10_000")
    try:
        reply = ee.call(EE + "finish", sid, "All")
    finally:
        ee.eval("v.REPLY_FILE_BYTES = 100 * 2**20")
    assert set(reply) == {"File"}
    path = reply["File"]
    with open(path, "rb") as f:
        content = binary_deserialize(f.read(), consumer=_Consumer())
    os.remove(path)  # the paclet Imports it, then deletes it
    results = content["Results"]
    assert results["ValidationExamples"] == 300 and results["TrainingExamples"] == 2000
    assert len(results["ValidationLossList"]) == 2 and results["TotalBatches"] == 8
    assert [a.array.shape for a in content["Arrays"]] == [a.shape for a in arrays]
    ee.call(EE + "close", sid)


def test_check_names_versions_and_devices(ee):
    info = ee.call(EE + "check")
    assert info["Devices"][0] == "CPU" and info["torch"].startswith("2.")
    assert info["wolframclient"].startswith(ee.generation)
