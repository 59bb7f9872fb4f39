"""Shared test set-up: a small torch thread pool, and where the shared harness lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """The project's shared/ folder (sibling of the checkout, or $WLBRIDGE_SHARED), if present."""
    env = os.environ.get("WLBRIDGE_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared", ROOT / "shared"]
    for c in candidates:
        if (c / "tools" / "wlharness").is_dir():
            return c
    return None


@pytest.fixture(autouse=True, scope="session")
def _small_thread_pool():
    """Tests run on 2 shared cores: keep torch (when it is used) to one thread."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    from engine.threads import default_threads

    default_threads()  # torch's own count, noted before it is changed here (ThreadPolicy)
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="module")
def pristine_mathics_operators():
    """Mathics3's operator tables as its scanner ships them, for the parse-only oracle.

    Starting a full Mathics3 session (test_paclet_mathics does) registers every "no meaning"
    infix operator (PlusMinus, RightTee, ...) as *flat* in the parser's global tables, so the
    oracle would then read ``a ⊢ b ⊢ c`` as ``RightTee[a, b, c]`` instead of the scanner's
    ``RightTee[a, RightTee[b, c]]``. Within a module using this fixture the tables are put
    back as shipped; the session's entries return afterwards."""
    import json

    import mathics.core.parser.operators as ops
    from mathics_scanner.characters import OPERATORS_TABLE_PATH

    with open(OPERATORS_TABLE_PATH, encoding="utf8") as f:
        shipped = json.load(f)
    tables = {"flat_binary_operators": "flat-binary-operators",
              "postfix_operators": "postfix-operators", "prefix_operators": "prefix-operators"}
    saved = {name: dict(getattr(ops, name)) for name in tables}
    for name, key in tables.items():
        live = getattr(ops, name)
        live.clear()
        live.update(shipped[key])
    yield
    for name in tables:
        live = getattr(ops, name)
        live.clear()
        live.update(saved[name])
