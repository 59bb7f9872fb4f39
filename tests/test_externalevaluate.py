"""wlbridge.externalevaluate driven the way Mathematica drives it: over wolframclient's real
ExternalEvaluate ZMQ loop in a subprocess, with WXF commands on a PAIR socket (wlharness README
§5), no kernel needed. DESIGN.md rule 5 says which sinks the kernel owns; the stop behaviour is
NetTrain's stop button (nettrain-loop.md, ReasonTrainingStopped "ManualStop")."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

zmq = pytest.importorskip("zmq")

from wolframclient.deserializers import binary_deserialize  # noqa: E402
from wolframclient.deserializers.wxf.wxfconsumer import WXFConsumerNumpy  # noqa: E402
from wolframclient.language import wl  # noqa: E402
from wolframclient.language.expression import WLFunction, WLSymbol  # noqa: E402
from wolframclient.serializers import export  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CMD = wl.ExternalEvaluate.Private.ExternalEvaluateCommand
KEEP = "ExternalEvaluate`Private`ExternalEvaluateKeepListening"
NET = 'NetChain[{LinearLayer[4], Ramp, LinearLayer[1]}, "Input" -> 2]'


class NumericArrayMark:
    """What a WXF NumericArray token decoded to (a packed array would not make one)."""

    def __init__(self, array: Any):
        self.array = array


class _Consumer(WXFConsumerNumpy):
    def consume_numeric_array(self, current_token, tokens, **kwargs):
        return NumericArrayMark(super().consume_numeric_array(current_token, tokens, **kwargs))


#: wolframclient 1.1.10, the loop bundled with Mathematica 12.x-14.0, installed beside the main
#: environment by .ci/run (`pip install --no-deps --target .venv-wc110 wolframclient==1.1.10`).
WC110 = Path(os.environ.get("WLBRIDGE_WC110", ROOT / ".venv-wc110"))


class EEClient:
    """The kernel's end of ExternalEvaluate, reduced to what these tests need.

    ``generation="1.4"``: wolframclient 1.4.x (Mathematica 14.1+), commands are
    ``ExternalEvaluateCommand[...]`` expressions. ``generation="1.1"``: the 1.1.x loop of
    12.x-14.0, messages are associations ``<|"input" -> code, "args" -> {...}|>``; the
    subprocess then imports that wolframclient first, as the bundled loop does."""

    def __init__(self, generation: str = "1.4") -> None:
        self.generation = generation
        paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        if generation == "1.1":
            if not (WC110 / "wolframclient").is_dir():
                pytest.skip(f"wolframclient 1.1.10 is not installed in {WC110} (.ci/run does it)")
            paths.insert(0, str(WC110))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c",
             "from wolframclient.utils.externalevaluate import start_zmq_loop; start_zmq_loop()"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
            env=env)
        endpoint = self.proc.stdout.readline().decode().strip()
        assert endpoint.startswith("tcp://"), endpoint
        self.output: list[str] = []
        for stream in (self.proc.stdout, self.proc.stderr):  # never let a pipe fill up
            threading.Thread(target=self._drain, args=(stream,), daemon=True).start()
        self.sock = zmq.Context.instance().socket(zmq.PAIR)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.output.append(line.decode("utf-8", "replace"))

    def send(self, cmd: Any, timeout: float = 60.0) -> Any:
        self.sock.send(export(cmd, target_format="wxf"))
        while True:
            if not self.sock.poll(int(timeout * 1000)):
                raise TimeoutError("".join(self.output[-20:]))
            obj = binary_deserialize(self.sock.recv(), consumer=_Consumer())
            if isinstance(obj, WLFunction) and getattr(obj.head, "name", "") == KEEP:
                continue
            return obj

    def eval(self, code: str) -> Any:
        if self.generation == "1.1":
            return self.send({"input": code})
        return self.send(CMD("Eval", code, {}))

    def call(self, function: str, *args: Any, timeout: float = 60.0) -> Any:
        if self.generation == "1.1":
            return self.send({"input": function, "args": tuple(args)}, timeout)
        return self.send(CMD("Call", CMD("Eval", function, {}), *args), timeout)

    def close(self) -> None:
        self.sock.close(0)
        self.proc.kill()
        self.proc.wait(5)


@pytest.fixture(scope="module")
def ee():
    client = EEClient()
    assert client.eval("import torch; torch.set_num_threads(1); "
                       "import wlbridge.externalevaluate as tnt") is None
    yield client
    client.close()


def data_text(n: int = 64) -> str:
    """y = x1 - 2 x2 on a grid, as Wolfram rules (what the paclet sends as text)."""
    rules = []
    for i in range(n):
        x1, x2 = (i % 8) / 8, (i // 8) / 8
        rules.append(f"{{{x1}, {x2}}} -> {{{x1 - 2 * x2}}}")
    return "{" + ", ".join(rules) + "}"


def run_to_end(ee: EEClient, sid: str, limit: float = 90.0) -> list[dict[str, Any]]:
    answers = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        answer = ee.call("tnt.step", sid, 0.2)
        assert isinstance(answer, dict), answer
        answers.append(answer)
        if answer["Done"]:
            return answers
    raise AssertionError("training did not finish")


def is_failure(x: Any) -> bool:
    return isinstance(x, WLFunction) and getattr(x.head, "name", "") == "Failure"


def test_start_step_finish_delivers_kernel_sinks_and_a_trained_net(ee):
    """Bag and "StandardError" loggers are the kernel's under ExternalEvaluate (DESIGN rule 5):
    their `{time, absBatch} -> value` entries come back through step, tagged by sink index;
    a Wolfram TrainingProgressFunction is queued with the progress association."""
    options = ('MaxTrainingRounds -> 3, BatchSize -> 16, TrainingProgressFunction -> '
               '{Function[Null], "Interval" -> Quantity[1, "Rounds"]}, "InternalOptions" -> '
               '{"PlanLogging" -> Internal`Bag[], "CoreLoopLogging" -> "StandardError"}')
    sid = ee.call("tnt.start", NET, data_text(), "TrainedNet", options)
    assert isinstance(sid, str), sid
    described = ee.call("tnt.describe", sid)
    assert [(k, o) for k, o, _ in described["Sinks"]] == [(1, "PlanLogging"),
                                                         (2, "CoreLoopLogging")]
    answers = run_to_end(ee, sid)
    log = [item for a in answers for item in a["Log"]]
    by_sink = {k: [e for j, e in log if j == k] for k in (1, 2)}
    assert by_sink[1], "the Plan channel logged nothing"
    core = [e.args[1] for e in by_sink[2]]
    assert core[0] == "StartOfLoop" and "EndOfLoop" in core
    for _, entry in log:  # every entry is {time, absBatch} -> value
        assert getattr(entry.head, "name", "") == "Rule"
        t, batch = entry.args[0]
        assert isinstance(t, float) and isinstance(batch, int)
    rounds = [info["Round"] for a in answers for k, info in a["Callbacks"] if k == 1]
    assert len(rounds) == 3
    assert answers[-1]["Progress"]["AbsoluteBatch"] == 12  # 3 rounds of 64/16 batches

    net = ee.call("tnt.finish", sid)
    assert isinstance(net, WLFunction) and net.head == WLSymbol("NetChain"), net
    arrays = [a for layer in net.args[0] if isinstance(layer, WLFunction)
              for a in layer.args if isinstance(a, WLFunction) and isinstance(
                  a.args[1], NumericArrayMark)]
    assert {a.args[0] for a in arrays} == {"Weights", "Biases"} and len(arrays) == 4
    assert ee.call("tnt.sessions") in ((), [])


def test_stop_returns_the_net_trained_so_far(ee):
    """stop is NetTrain's stop button: the loop ends at the next batch with
    ReasonTrainingStopped -> "ManualStop" and finish returns the partial results."""
    sid = ee.call("tnt.start", NET, data_text(), "All",
                  "MaxTrainingRounds -> 100000, BatchSize -> 4")
    assert isinstance(sid, str), sid
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = ee.call("tnt.step", sid, 0.2)
        if answer["Progress"].get("AbsoluteBatch", 0) >= 3:
            break
    assert ee.call("tnt.stop", sid) is True
    answers = run_to_end(ee, sid, 30)
    assert answers[-1]["Done"]
    results = ee.call("tnt.finish", sid)
    assert isinstance(results, dict), results
    assert results["ReasonTrainingStopped"] == "ManualStop"
    assert 3 <= results["TotalBatches"] < 16 * 100000
    assert results["TrainedNet"].head == WLSymbol("NetChain")


def test_bad_option_is_a_netTrain_failure_before_training(ee):
    """Option messages come back at start, as NetTrain's own (reference: options table)."""
    res = ee.call("tnt.start", NET, data_text(8), "TrainedNet",
                  '"InternalOptions" -> {"NoSuchLogging" -> True}')
    assert is_failure(res)
    assert res.args[1]["Message"].startswith("NetTrain::badintopt:")
    assert "NoSuchLogging" in res.args[1]["Message"]


def test_unknown_session_and_one_shot(ee):
    """An unknown id is a clear Failure, not a traceback; the one-shot call trains and
    returns the property asked for."""
    res = ee.call("tnt.step", "nope", 0.0)
    assert is_failure(res) and "nope" in res.args[1]["MessageTemplate"]
    assert ee.call("tnt.stop", "nope") is False
    loss = ee.call("tnt.net_train", NET, data_text(16), "RoundLossList",
                   "MaxTrainingRounds -> 2, BatchSize -> 8")
    assert len(loss) == 2 and all(isinstance(x, float) for x in loss)
