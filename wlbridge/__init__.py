"""wlbridge: NetTrain on a PyTorch engine, driven in Wolfram syntax.

Importing this package does not import torch: the engine loads on first use of `net_train`,
`Net` or `NetTrainResults`, so `wlbridge parse` and option checks start fast.
"""

from __future__ import annotations

from typing import Any

from engine.threads import before_torch
from wlbridge.syntax import WLSyntaxError, parse, to_text

before_torch()  # torch's own default thread count is then read, not estimated (ThreadPolicy)

__all__ = [
    "Bag", "Net", "NetTrainResults", "WLSyntaxError", "net_train", "parse", "to_text",
]

_LAZY = {
    "net_train": ("wlbridge.api", "net_train"),
    "Net": ("wlbridge.nets", "Net"),
    "NetTrainResults": ("wlbridge.results", "NetTrainResults"),
    "Bag": ("wlbridge.sinks", "Bag"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wlbridge' has no attribute {name!r}")
