"""Wolfram nets in Python: constructor expressions <-> `engine.spec.NetSpec`, trained arrays
written back as NumericArray, and `Net`, the Python face of a Wolfram net.

The exports load on first use (``wlbridge.coders`` reads expressions with this package's
helpers, and this package reads coders), and importing it never imports torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Net", "net_to_wl", "to_layer_spec", "to_net_spec"]

_LAZY = {
    "Net": "wlbridge.nets.net",
    "net_to_wl": "wlbridge.nets.writeback",
    "to_layer_spec": "wlbridge.nets.convert",
    "to_net_spec": "wlbridge.nets.convert",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wlbridge.nets' has no attribute {name!r}")
