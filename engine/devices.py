"""Which torch device a TargetDevice name means, and which devices this Python has.

The option table normalises TargetDevice to one of these names (Wolfram-free): ``"cpu"``,
``"cuda:i"`` (an NVIDIA GPU, 0-based), ``"mps"`` (Apple's GPU), or ``"gpu:i"`` (any GPU: CUDA
when torch has it, else MPS). `torch_device` resolves a name when training starts and refuses
one this machine lacks with ``General::invtrgdev``, naming what it has. torch is imported on
first use only, so the option table can call `gpu_name` without paying for it elsewhere.
"""

from __future__ import annotations

from typing import Any

from engine.errors import EngineError

__all__ = ["available_devices", "gpu_name", "torch_device"]


def _torch() -> Any:
    import torch

    return torch


def _mps_available() -> bool:
    mps = getattr(_torch().backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """``["CPU", "CUDA:0", ..., "MPS"]``: what `torch_device` can give here."""
    torch = _torch()
    out = ["CPU"]
    if torch.cuda.is_available():
        out += [f"CUDA:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        out.append("MPS")
    return out


def gpu_name(index: int = 0) -> str:
    """The name "GPU" (index 0) or ``{"GPU", index + 1}`` stands for on this machine: CUDA when
    torch has it, else MPS for the first GPU; ``"cuda:i"`` when there is none, so that
    `torch_device` says so with the usual message."""
    torch = _torch()
    if not torch.cuda.is_available() and index == 0 and _mps_available():
        return "mps"
    return f"cuda:{index}"


def torch_device(name: str | None) -> Any:
    """A normalised TargetDevice name -> ``torch.device``; ``invtrgdev`` when absent."""
    torch = _torch()
    key = (name or "cpu").strip().lower()
    kind, _, rest = key.partition(":")
    if kind == "cpu" and not rest:
        return torch.device("cpu")
    if kind not in ("gpu", "cuda", "mps") or (rest and not rest.isdigit()):
        raise EngineError("invtrgdev", f"TargetDevice -> {name!r} should be \"CPU\", \"GPU\", "
                          "\"CUDA\", \"MPS\" or {\"GPU\", n}.", "General")
    index = int(rest or 0)
    if kind == "gpu":
        kind = "mps" if gpu_name(index) == "mps" else "cuda"
    if kind == "mps":
        if index != 0 or not _mps_available():
            raise _absent(name, "MPS" if index == 0 else f"MPS device {index + 1}")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise _absent(name, "CUDA GPU")
    count = torch.cuda.device_count()
    if index >= count:
        raise EngineError("invtrgdev", f"TargetDevice -> {name!r}: there are only {count} CUDA "
                          f"devices here ({', '.join(available_devices())}).", "General")
    return torch.device("cuda", index)


def _absent(name: str | None, what: str) -> EngineError:
    return EngineError("invtrgdev", f"TargetDevice -> {name!r} is not available: no {what} was "
                       f"found (this machine has {', '.join(available_devices())}); use "
                       "TargetDevice -> \"CPU\".", "General")
