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
    torch.set_num_threads(1)
    yield
