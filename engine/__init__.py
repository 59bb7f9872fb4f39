"""The PyTorch side of wlbridge. It knows nothing of Wolfram syntax (DESIGN.md rule 2)."""

from typing import Any


def __getattr__(name: str) -> Any:
    """``engine.train`` loads the loop (and torch) on first use only."""
    if name == "train":
        from engine.loop import train

        return train
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
