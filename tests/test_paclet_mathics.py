"""The TorchNetTrain paclet run end to end under Mathics3 with the wlharness ExternalEvaluate shim
(wlharness README §5, §6.3): the kernel starts wlbridge in a real ZMQ ExternalEvaluate Python
session, polls training in slices and applies kernel-side loggers itself (DESIGN rule 5)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import shared_dir

ROOT = Path(__file__).resolve().parents[1]
PACLET = ROOT / "wl_package" / "TorchNetTrain" / "Kernel" / "TorchNetTrain.wl"

SHARED = shared_dir()
if SHARED is None:
    pytest.skip("the shared wlharness folder is absent", allow_module_level=True)
os.environ.setdefault("MATHICS_CHARACTER_ENCODING", "ASCII")  # before mathics is imported
pytest.importorskip("mathics")
pytest.importorskip("zmq")
sys.path.insert(0, str(SHARED / "tools" / "wlharness"))

from pymathics.ee_shim import close_all_sessions, mathics_to_py  # noqa: E402
from pymathics.ee_shim.harness import ev, make_session  # noqa: E402

DATA = "{" + ", ".join(f"{{{i / 8}, {1 - i / 8}}} -> {{{2 * i / 8 - 1}}}" for i in range(16)) + "}"


@pytest.fixture(scope="module")
def kernel():
    # The Python subprocess the shim starts must import wlbridge and keep to one thread.
    os.environ["OMP_NUM_THREADS"] = "1"
    s = make_session()
    r, out = ev(s, f'Get["{PACLET}"]')
    assert out == [], out
    r, _ = ev(s, "TorchNetTrain`$TorchNetTrainPythonPath")
    assert Path(r.value) == ROOT  # derived from the paclet's own location
    yield s
    ev(s, "TorchNetTrainClose[]")
    close_all_sessions()


def test_train_with_kernel_sinks_and_function(kernel):
    """One call exercises the whole protocol: the Bag logger and the Print logger (True) are
    filled by the kernel from step's queue, the Wolfram TrainingProgressFunction runs in the
    kernel once per round, and "All" comes back as the results association."""
    code = (
        'bag = Internal`Bag[]; rounds = Internal`Bag[]; '
        'res = TorchNetTrain[NetChain[{LinearLayer[3], Tanh, LinearLayer[1]}, "Input" -> 2], '
        f'{DATA}, "All", MaxTrainingRounds -> 2, BatchSize -> 8, '
        'TrainingProgressFunction -> {Function[info, Internal`StuffBag[rounds, info["Round"]]], '
        '"Interval" -> 1}, '
        '"InternalOptions" -> {"PlanLogging" -> bag, "CoreLoopLogging" -> True}]')
    _, out = ev(kernel, code)
    assert not [o for o in out if "::" in o], out
    # True (Print): the bare CoreLoop values were printed by the kernel
    assert "StartOfLoop" in out and "EndOfLoop" in out
    plan = mathics_to_py(ev(kernel, "Internal`BagPart[bag, All]")[0])
    assert plan and all(getattr(e.head, "name", "") == "Rule" for e in plan)
    assert mathics_to_py(ev(kernel, "Internal`BagPart[rounds, All]")[0]) == [1, 2]
    assert mathics_to_py(ev(kernel, 'res["ReasonTrainingStopped"]')[0]) == "MaxTrainingRounds"
    assert mathics_to_py(ev(kernel, 'res["TotalBatches"]')[0]) == 4
    head, _ = ev(kernel, 'Head[res["TrainedNet"]]')
    assert str(head).endswith("NetChain")
    weights, _ = ev(kernel, 'NumericArrayQ[res["TrainedNet"][[1, 1, 2, 2]]]')
    assert str(weights).endswith("True")


def test_bad_option_gives_a_message_and_failure(kernel):
    """A wrong option comes back as NetTrain's message, issued by the kernel, and a Failure."""
    r, out = ev(kernel, f'TorchNetTrain[NetChain[{{LinearLayer[1]}}, "Input" -> 2], {DATA}, '
                        '"InternalOptions" -> {"NoSuchOption" -> 1}]')
    assert any("NetTrain::badintopt" in o for o in out), out
    assert str(r.get_head()).endswith("Failure")


def test_abort_returns_the_net_trained_so_far(kernel):
    """Abort[] in the kernel (here from a TrainingProgressFunction) is caught by the paclet,
    which stops Python's loop and returns the results so far, reason "Aborted", as NetTrain's
    first abort does (nettrain-loop.md; engine/loop.py)."""
    r, out = ev(kernel, 'res = TorchNetTrain[NetChain[{LinearLayer[1]}, "Input" -> 2], '
                        f'{DATA}, "All", MaxTrainingRounds -> 100000, BatchSize -> 8, '
                        'TrainingProgressFunction -> {Function[info, Abort[]], "Interval" -> 1}]; '
                        '{res["ReasonTrainingStopped"], res["TotalBatches"], Head[res["TrainedNet"]]}')
    assert not [o for o in out if "::" in o], out
    reason, batches, head = mathics_to_py(r)
    assert reason == "Aborted"
    assert 2 <= batches < 1000
    assert str(head).endswith("NetChain")
