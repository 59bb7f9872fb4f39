"""benchmarks/gpu_check.py (issue 11 item 5) stays runnable where there is no GPU: it says so
and exits cleanly, and its CPU-safe parts (data, hand loops, feature probes) work."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the script measures")
def test_no_cuda_exits_cleanly_with_a_message():
    proc = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("gpu_check: no CUDA device")
    assert proc.stderr == ""


def test_cpu_safe_parts_run():
    g = _module()
    cpu = torch.device("cpu")
    seqs = g.seq_data(24, 10)
    assert len(seqs["Input"]) == 24 and all(5 <= len(s) <= 10 for s in seqs["Input"])
    for kind, data, bs in (("lstm", seqs, 8), ("mlp", g.mlp_data(32), 16),
                           ("conv", g.conv_data(16), 8)):
        times = g.hand_rounds(kind, data, bs, 1, cpu)
        assert len(times) == 1 and times[0] > 0, kind
    assert g.internal_option_exists("ThreadPolicy")
    assert not g.internal_option_exists("NoSuchOption")
    assert g.option_accepted('TargetDevice -> "CPU"')
    assert not g.option_accepted('TargetDevice -> "Toaster"')
