"""WorkingPrecision and LowPrecisionGradientRescaling (reference §8.2, §8.3).

=========  ==============  ==========================================================
name       module dtype    training
=========  ==============  ==========================================================
Real32     float32         plain
Real64     float64         plain
Real16     float16         float32 master weights own the optimizer; the loss is
                           multiplied by ``rescale`` (default 5) before backward and the
                           float16 gradients are divided by it in float32, so the update
                           is unchanged while small gradients survive float16
Mixed      float32         ``torch.autocast`` to float16 on the GPU; no rescaling (as in
                           NetTrain). GPU only: on the CPU it is ``General::nninvmixed``
=========  ==============  ==========================================================

Real16 is IEEE half (torch.float16), as Wolfram's: torch 2.13 runs float16 matmul, addmm and
their backward on the CPU as well, so no bfloat16 substitute is needed.

Loop use::

    policy = PrecisionPolicy(config.working_precision, config.low_precision_gradient_rescaling,
                             device)
    params = policy.prepare(module)          # cast; name -> Parameter the optimizer owns
    optimizer = make_optimizer(params)
    ...per update:
    policy.zero_grad(optimizer)
    with policy.autocast():
        loss = loss_fn(module(policy.cast_inputs(batch)))
    policy.backward(loss)                    # loss * loss_scale
    (gradient logging reads the module's gradients here: they carry loss_scale, as in §3.8)
    policy.unscale_and_step(optimizer)       # divides by loss_scale, steps, syncs weights
    final = policy.trained_parameters()      # master weights for Real16
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from engine.errors import EngineError
from engine.executor_log import DTYPE_CODES

MODULE_DTYPES = {
    "Real32": torch.float32,
    "Real64": torch.float64,
    "Real16": torch.float16,
    "Mixed": torch.float32,
}


class PrecisionPolicy:
    """How one training run handles number types: casting, loss scaling, master weights.

    ``name`` is the resolved WorkingPrecision (Automatic already resolved by the caller),
    ``rescale`` the LowPrecisionGradientRescaling value (used only by Real16), ``device`` the
    training device (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
    """

    def __init__(self, name: str = "Real32", rescale: float = 5.0, device: str = "cpu"):
        if name not in MODULE_DTYPES:
            raise EngineError(
                "badwp",
                'Setting of WorkingPrecision should be either Automatic, "Real32", "Mixed", '
                f'"Real64" or "Real16", not {name!r}.',
                symbol="General",
            )
        self.device = torch.device(device)
        if name == "Mixed" and self.device.type != "cuda":
            raise EngineError(
                "nninvmixed",
                'WorkingPrecision -> "Mixed" is only supported on a GPU (TargetDevice -> "GPU").',
                symbol="General",
            )
        if name == "Real16" and not (isinstance(rescale, int | float) and math.isfinite(rescale)
                                     and rescale > 0):
            raise EngineError(
                "badintopt",
                f'"LowPrecisionGradientRescaling" -> {rescale!r} should be a positive number.',
            )
        self.name = name
        self.rescale = float(rescale)
        self.module: nn.Module | None = None
        # (module parameter, float32 master) pairs, Real16 only
        self._pairs: list[tuple[nn.Parameter, nn.Parameter]] = []
        self._names: list[str] = []
        self._frozen: dict[str, torch.Tensor] = {}

    @property
    def module_dtype(self) -> torch.dtype:
        """The dtype of the module's arrays and float inputs."""
        return MODULE_DTYPES[self.name]

    @property
    def dtype_code(self) -> int:
        """The ExecutorLogging data-type code: Real32 0, Real64 1, Real16 2 (Mixed 0)."""
        return DTYPE_CODES[self.name]

    @property
    def loss_scale(self) -> float:
        """The factor on the loss before backward: ``rescale`` for Real16, else 1 (§8.2)."""
        return self.rescale if self.name == "Real16" else 1.0

    def prepare(self, module: nn.Module) -> dict[str, nn.Parameter]:
        """Cast ``module`` (in place) and return name -> the Parameter the optimizer must own:
        a float32 master copy for Real16, the module's own parameter otherwise. Only
        parameters with ``requires_grad`` are returned."""
        # Real16: masters start from the exact values (not float16-rounded ones), and frozen
        # arrays, which never change, are restored exactly after training
        exact = {n: p.detach().to(torch.float32).clone() for n, p in module.named_parameters()
                 } if self.name == "Real16" else {}
        self._frozen = {n: exact[n] for n, p in module.named_parameters()
                        if n in exact and not p.requires_grad}
        module.to(dtype=self.module_dtype)
        self.module = module
        owned: dict[str, nn.Parameter] = {}
        self._pairs, self._names = [], []
        for name, p in module.named_parameters():
            if not p.requires_grad:
                continue
            if self.name == "Real16":
                master = nn.Parameter(exact[name])
                self._pairs.append((p, master))
                self._names.append(name)
                owned[name] = master
            else:
                owned[name] = p
        return owned

    def cast_inputs(self, batch: Any) -> Any:
        """Floating tensors (in a tensor, dict, list or tuple) cast to `module_dtype`; integer
        tensors (indices, classes) left alone."""
        if isinstance(batch, torch.Tensor):
            return batch.to(self.module_dtype) if batch.is_floating_point() else batch
        if isinstance(batch, Mapping):
            return {k: self.cast_inputs(v) for k, v in batch.items()}
        if isinstance(batch, list | tuple):
            return type(batch)(self.cast_inputs(v) for v in batch)
        return batch

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` to float16 for Mixed; a no-op context otherwise."""
        if self.name == "Mixed":
            return torch.autocast(device_type=self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss * loss_scale`` (the scaled head gradient of §8.2)."""
        if self.loss_scale != 1.0:
            loss = loss * self.loss_scale
        loss.backward()

    def zero_grad(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Clear the module's gradients (and the masters', through the optimizer)."""
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
        if self.module is not None:
            self.module.zero_grad(set_to_none=True)

    def unscale_gradients(self) -> None:
        """Real16: master.grad = float32(module grad) / loss_scale. No-op otherwise."""
        inv = 1.0 / self.loss_scale
        for p, master in self._pairs:
            if p.grad is None:
                master.grad = None
            else:
                g = p.grad.detach().to(torch.float32)
                master.grad = g.mul_(inv) if inv != 1.0 else g

    def sync_master_weights(self) -> None:
        """Real16: copy the float32 masters into the module's float16 parameters."""
        with torch.no_grad():
            for p, master in self._pairs:
                p.copy_(master)

    def unscale_and_step(self, optimizer: torch.optim.Optimizer) -> None:
        """One optimizer step with the loss scale removed and (Real16) weights synced back."""
        if self._pairs:
            self.unscale_gradients()
            optimizer.step()
            self.sync_master_weights()
        else:
            optimizer.step()

    def owned(self, arrays: Mapping[Any, torch.Tensor]) -> dict[Any, torch.Tensor]:
        """``arrays`` (any key -> module parameter) with each parameter replaced by the tensor
        the optimizer must own: its float32 master for Real16, itself otherwise."""
        masters = {id(p): m for p, m in self._pairs}
        return {k: masters.get(id(a), a) for k, a in arrays.items()}

    def clear_module_grads(self) -> None:
        """Real16: drop the float16 gradients of the module (the optimizer only clears the
        masters'). No-op otherwise, so the float32 fast path does no extra work."""
        for p, _m in self._pairs:
            p.grad = None

    def master_state(self) -> dict[str, torch.Tensor]:
        """Real16: state-dict name -> a float32 copy of each master (and of each frozen array's
        original value); ``{}`` otherwise. Merged
        into a ``state_dict()`` snapshot it makes the snapshot exact (no float16 rounding)."""
        out = {n: t.clone() for n, t in self._frozen.items()}
        out.update((n, m.detach().clone()) for n, (_p, m) in zip(self._names, self._pairs,
                                                                   strict=True))
        return out

    def write_back(self, module: nn.Module) -> None:
        """Real16: cast ``module`` to float32 and load the masters into it, so the trained
        net handed back holds the float32 weights the optimizer computed. No-op otherwise."""
        if not self._pairs and not self._frozen:
            return
        exact = self.master_state()
        module.to(dtype=torch.float32)
        with torch.no_grad():
            params = dict(module.named_parameters())
            for n, m in exact.items():
                params[n].copy_(m)

    def trained_parameters(self) -> dict[str, torch.Tensor]:
        """Name -> the authoritative value of each trainable array (the float32 master for
        Real16, so write-back does not lose digits to float16)."""
        if self._pairs:
            return {n: m.detach() for n, (_p, m) in zip(self._names, self._pairs, strict=True)}
        if self.module is None:
            return {}
        return {n: p.detach() for n, p in self.module.named_parameters() if p.requires_grad}
