"""The README's Mathematica example run in a real Wolfram Engine (skipped when `wolframscript` is
not on the PATH, as here): the paclet loaded with PacletDirectoryLoad from this checkout, trained
by this checkout's wlbridge in the Python running the tests. Anyone with the free Wolfram Engine
checks the real thing with `pytest tests/test_paclet_wolframscript.py`.

Everything the Mathics3 tests take from a stand-in (tests/neuralnetworks_standin.wl) is real
here: the evaluated net's internal form, Information[net0, "InputForm"], NetInitialize,
NetReplacePart, the coders, and the trained net evaluated on an input.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WOLFRAMSCRIPT = shutil.which("wolframscript")
pytestmark = pytest.mark.skipif(WOLFRAMSCRIPT is None, reason="wolframscript is not on the PATH")

#: The README "From Mathematica" example; the README's own block is used when it has one.
EXAMPLE = """\
Needs["TorchNetTrain`"]
SeedRandom[1];
data = Table[With[{x = RandomReal[1, 2]}, x -> If[Total[x] > 1, "big", "small"]], {1000}];
net = NetChain[{LinearLayer[16], Ramp, LinearLayer[2], SoftmaxLayer[]},
  "Output" -> NetDecoder[{"Class", {"big", "small"}}]];
res = TorchNetTrain[net, data, All, MaxTrainingRounds -> 30, BatchSize -> 50];
trained = res["TrainedNet"];
trained[{0.9, 0.8}]
res["LossEvolutionPlot"]
"""


def readme_example() -> str:
    """The README's example: the first Wolfram code block under "From Mathematica" that trains
    `res` and takes `trained` from it (EXAMPLE until the README has one), without the lines
    that load the paclet from a placeholder path (the test loads this checkout's)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^#+ From Mathematica\b(.*?)(?=^#+ |\Z)", text, re.M | re.S)
    blocks = re.findall(r"```(?:mathematica|wolfram|wl)\n(.*?)```", section.group(1), re.S) \
        if section else []
    for block in blocks:
        if "res = TorchNetTrain[" in block and "trained = " in block:
            return "\n".join(x for x in block.splitlines() if "/path/to/" not in x) + "\n"
    return EXAMPLE


def test_readme_example_in_a_real_kernel(tmp_path):
    script = tmp_path / "example.wl"
    checks = (
        'Print["CHECK ", ToString[{Head[trained], NetExtract[NetExtract[trained, "Output"], "Labels"], '
        'trained[{0.9, 0.8}], trained[{0.1, 0.2}], Head[res], res["TotalRounds"], '
        'Head[res["LossEvolutionPlot"]], ToString[InputForm[net]] === ToString[InputForm[trained]], '
        'With[{t = trained, n0 = NetInitialize[NetReplacePart[net, "Input" -> 2]]}, '
        'Information[t, "ArraysPositionList"] === Information[n0, "ArraysPositionList"]]}, '
        'InputForm]];')
    script.write_text(
        f'PacletDirectoryLoad["{ROOT / "wl_package"}"];\n'
        f'TorchNetTrain`$TorchNetTrainEvaluator = "{sys.executable}";\n'
        + readme_example() + "\n" + checks + "\nTorchNetTrainClose[];\n", encoding="utf-8")
    proc = subprocess.run([WOLFRAMSCRIPT, "-file", str(script)], capture_output=True,
                          text=True, timeout=600)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("CHECK ")), None)
    assert line is not None, proc.stdout + proc.stderr
    assert "::" not in proc.stdout.split("CHECK ")[0], proc.stdout
    got = line[len("CHECK "):]
    assert got.startswith('{NetChain, {"big", "small"}, "big", "small", TorchNetTrainResults, 30, ')
    assert "Legended" in got or "Graphics" in got
    assert got.endswith("False, True}")  # arrays changed, positions the same
