"""`check`: what the paclet asks right after starting a Python session, so that a Python
without torch (or with an old wlbridge) is named at once instead of failing mid-training."""

from __future__ import annotations

import importlib
import platform
from typing import Any

from wlbridge.externalevaluate.values import failure

__all__ = ["check"]

#: Modules training needs, with the pip name that provides each.
_NEEDED = (("torch", "torch"), ("numpy", "numpy"), ("wolframclient", "wolframclient"),
           ("psutil", "psutil"))


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def check() -> Any:
    """``<|"wlbridge" -> v, "torch" -> v, "Python" -> v, "wolframclient" -> v, "Devices" ->
    {"CPU", "CUDA:0", ..., "MPS"}|>``, or ``Failure["NetTrain", ...]`` naming every module
    this Python lacks (``NetTrain::nopython``) and the pip command that installs them."""
    missing = []
    for module, dist in _NEEDED:
        try:
            importlib.import_module(module)
        except Exception:  # ImportError, or a broken install raising anything else
            missing.append(dist)
    if missing:
        from wlbridge.messages import message

        return failure(message(
            "NetTrain", "nopython", f"the Python at {_executable()} lacks {', '.join(missing)}; "
            f"install with: {_executable()} -m pip install {' '.join(missing)}"))
    import wolframclient

    from engine.devices import available_devices

    return {"wlbridge": _version("wlbridge"), "torch": _version("torch"),
            "Python": platform.python_version(),
            "wolframclient": getattr(wolframclient, "__version__", "unknown"),
            "Executable": _executable(), "Devices": tuple(available_devices())}


def _executable() -> str:
    import sys

    return sys.executable
