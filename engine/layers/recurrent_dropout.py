"""The recurrent layers' "Dropout" option, as NeuralNetworks defines it (its RecurrentDropout
file): None; a probability p, which means {"VariationalWeights" -> p}; or rules with the methods

* "VariationalWeights": DropConnect on the weight matrices, one mask per batch;
* "VariationalInput": the input's contribution to each gate dropped with its own mask, the same
  at every step of a sequence;
* "VariationalState", "StateUpdate": refused here (they need a step-by-step loop that the fused
  kernel does not run), with a message naming them.

Dropout acts in training only. Layers without it build as engine.layers.recurrent builds them;
this module re-registers the three recurrent kinds and hands Dropout -> None to the originals.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import nn

from engine.layers import REGISTRY, LayerKind
from engine.layers.base import fail
from engine.layers.recurrent import RecurrentLayer
from engine.spec import LayerSpec, TensorType

KINDS = ("LongShortTermMemoryLayer", "GatedRecurrentLayer", "BasicRecurrentLayer")
_METHODS = ("VariationalWeights", "VariationalInput", "VariationalState", "StateUpdate")


def _drop(t: torch.Tensor, p: float) -> torch.Tensor:
    return t * (torch.rand_like(t) >= p).to(t.dtype) / (1 - p)


class DropoutRecurrent:
    """Mixed in front of a RecurrentLayer class: the dropout of its "Dropout" spec."""

    weights_p: float = 0.0
    input_p: float = 0.0

    def fused(self) -> dict[str, torch.Tensor]:
        arrays = super().fused()  # type: ignore[misc]
        if self.training and self.weights_p > 0:
            for key in ("weight_ih_l0", "weight_hh_l0"):
                arrays[key] = _drop(arrays[key], self.weights_p)
        if getattr(self, "_wide", False):  # block-diagonal input weights: one copy of x per gate
            w, gates = arrays["weight_ih_l0"], len(self.fused_gates)  # type: ignore[attr-defined]
            arrays["weight_ih_l0"] = torch.block_diag(*w.chunk(gates, 0))
        return arrays

    def forward(self, inputs: dict[str, torch.Tensor], lengths: Any = None) -> dict[str, torch.Tensor]:
        if not (self.training and self.input_p > 0):
            return super().forward(inputs, lengths)  # type: ignore[misc]
        x = inputs["Input"]
        gates = len(self.fused_gates)  # type: ignore[attr-defined]
        masks = (torch.rand(x.shape[0], 1, gates, x.shape[2], device=x.device) >= self.input_p).to(x.dtype)
        wide = (x.unsqueeze(2) * masks / (1 - self.input_p)).reshape(x.shape[0], x.shape[1], -1)
        narrow, segments = self.__dict__["kernel"], self.__dict__.pop("_segments", None)
        self.__dict__["kernel"] = self._wide_kernel(gates * x.shape[2])
        self._wide = True
        try:
            return super().forward({**inputs, "Input": wide}, lengths)  # type: ignore[misc]
        finally:
            self.__dict__["kernel"], self._wide = narrow, False
            self.__dict__.pop("_segments", None)
            if segments is not None:
                self.__dict__["_segments"] = segments

    def _wide_kernel(self, width: int) -> nn.Module:
        kernel = self.__dict__.get("_wide_kernel_module")
        if kernel is None:
            narrow = self.__dict__["kernel"]
            kwargs: dict[str, Any] = {"batch_first": True, "device": "meta"}
            if self.mode == "RNN":  # type: ignore[attr-defined]
                kwargs["nonlinearity"] = narrow.nonlinearity
            kernel = getattr(nn, self.mode)(width, self.size, **kwargs)  # type: ignore[attr-defined]
            self.__dict__["_wide_kernel_module"] = kernel
        return kernel


_CLASSES: dict[type, type] = {}


def with_dropout(cls: type) -> type:
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Dropout{cls.__name__}", (DropoutRecurrent, cls), {})
    return _CLASSES[cls]


def probabilities(spec: Any, path: tuple[str, ...]) -> dict[str, float]:
    """The dropout probability per method (a number means VariationalWeights)."""
    if spec in (None, "None", 0, 0.0):
        return {}
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        spec = {"VariationalWeights": spec}
    if not isinstance(spec, dict) or any(m not in _METHODS for m in spec):
        raise fail(path, f"\"Dropout\" should be None, a probability or rules for the methods "
                         f"{', '.join(_METHODS)}; not {spec!r}.")
    for m, p in spec.items():
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise fail(path, f"the dropout probability for {m} should be in [0, 1), not {p!r}.")
    unsupported = [m for m in ("VariationalState", "StateUpdate") if spec.get(m)]
    if unsupported:
        raise fail(path, f"the dropout method(s) {', '.join(unsupported)} are not supported here "
                         "(only VariationalWeights and VariationalInput).")
    return {m: float(p) for m, p in spec.items()}


def _wrap(kind: LayerKind) -> LayerKind:
    original = kind.build

    def build(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
        probs = probabilities(spec.args.get("Dropout"), path)
        plain = replace(spec, args={k: v for k, v in spec.args.items() if k != "Dropout"})
        m, out = original(plain, in_types, path)
        if probs and isinstance(m, RecurrentLayer):
            m.__class__ = with_dropout(type(m))
            m.weights_p, m.input_p = probs.get("VariationalWeights", 0.0), probs.get("VariationalInput", 0.0)
        return m, out

    return replace(kind, build=build)


for _name in KINDS:
    if _name in REGISTRY:
        REGISTRY[_name] = _wrap(REGISTRY[_name])
