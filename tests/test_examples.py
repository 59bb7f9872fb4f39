"""The README's example scripts run and do what they say (each well under a minute here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_char_lstm_example_learns_and_logs_every_verbose_channel(tmp_path, monkeypatch):
    """Bucketed sequence training with `VerboseLogging -> File[...]`: the plan of the sequence
    net (reference §3.1), executor and bucketing events (§3.2, §3.3) and the permutation
    statistics (§3.4) all reach the file, and the classifier learns."""
    monkeypatch.chdir(tmp_path)
    out = _load("char_lstm").main(str(tmp_path / "log.wl"))
    assert out["accuracy"] >= 0.8
    kinds = out["kinds"]
    for kind in ("ToNetPlan", "NetExecutorCreate", "NewMasterBucket", "Training",
                 "PermutationCompressed"):
        assert kinds[kind] >= 1, kinds


def test_digits_example_trains(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    accuracy = _load("train_digits").main()
    assert accuracy >= 0.9
    assert "Training complete." in capsys.readouterr().out


@pytest.mark.parametrize("name", ["char_lstm", "train_digits", "make_digits"])
def test_examples_have_a_usage_docstring(name):
    assert (_load(name).__doc__ or "").strip()
