"""TargetDevice (reference: NetTrain's TargetDevice option): "CPU", "GPU" (CUDA when torch has
it, else Apple's MPS), "CUDA", "MPS", {"GPU", n}; one parser for the Python API, the CLI and
the paclet, and one resolver in the engine that names what the machine has."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from engine.devices import available_devices, gpu_name, torch_device
from engine.errors import EngineError
from wlbridge.options import PUBLIC, resolve

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def test_the_option_table_normalises_every_form():
    n = PUBLIC["TargetDevice"].normalise
    assert n("CPU") == "cpu"
    assert n("CUDA") == "cuda:0" and n(("CUDA", 3)) == "cuda:2"
    assert n("MPS") == "mps"
    first_gpu = "mps" if HAS_MPS and not HAS_CUDA else "cuda:0"
    assert n("GPU") == first_gpu and n(("GPU", 1)) == first_gpu
    assert n(("GPU", 2)) == "cuda:1"  # MPS has one device: a second GPU is CUDA's
    assert resolve(TargetDevice="MPS").target_device == "mps"


@pytest.mark.parametrize("bad", ["TPU", ("GPU", 0), ("CUDA", -1), ("MPS", 2), 3])
def test_bad_forms_are_invtrgdev(bad):
    with pytest.raises(EngineError, match="NetTrain::invtrgdev: TargetDevice -> "):
        PUBLIC["TargetDevice"].normalise(bad)


def test_the_engine_resolves_and_names_what_is_here():
    assert torch_device("cpu") == torch.device("cpu")
    assert available_devices()[0] == "CPU"
    assert ("MPS" in available_devices()) == HAS_MPS
    assert gpu_name(0) == ("mps" if HAS_MPS and not HAS_CUDA else "cuda:0")
    if not HAS_CUDA:
        with pytest.raises(EngineError, match=r"General::invtrgdev: TargetDevice -> 'cuda:0' is "
                                              r"not available: no CUDA GPU was found \(this machine has CPU"):
            torch_device("cuda:0")
    else:
        assert torch_device("gpu:0") == torch.device("cuda", 0)
        with pytest.raises(EngineError, match="there are only"):
            torch_device(f"cuda:{torch.cuda.device_count()}")
    if not HAS_MPS:
        with pytest.raises(EngineError, match="no MPS was found"):
            torch_device("mps")
    with pytest.raises(EngineError, match="should be"):
        torch_device("tpu")


@pytest.mark.skipif(HAS_CUDA or HAS_MPS, reason="a GPU is present")
def test_the_cli_gives_the_same_message_for_a_missing_gpu(tmp_path):
    """The terminal entry reads TargetDevice through the same table and engine check."""
    res = subprocess.run(
        [sys.executable, "-m", "wlbridge", "train",
         'NetChain[{LinearLayer[2]}, "Input" -> 2]', '{{1., 2.} -> {1., 0.}}',
         "--options", 'TargetDevice -> "CUDA", TrainingProgressReporting -> None'],
        capture_output=True, text=True, timeout=120)
    assert res.returncode != 0
    assert "invtrgdev" in res.stderr and "TargetDevice" in res.stderr
    assert "Traceback" not in res.stderr


def test_check_names_the_missing_module_and_the_pip_line():
    """check() is the paclet's first call: a Python without torch is one message naming it."""
    code = ("import sys; sys.modules['torch'] = None; import wlbridge.externalevaluate as e; "
            "f = e.check(); print(f.args[1]['Message'])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("NetTrain::nopython: the Python at ")
    assert "lacks torch;" in res.stdout and "-m pip install torch" in res.stdout
