"""Interleaving -> True for ConvolutionLayer, PoolingLayer, BatchNormalizationLayer,
DeconvolutionLayer, InstanceNormalizationLayer and ResizeLayer: the channel dimension is the *last* one
({h, w, c}) instead of the first (the layers' pages; wl-nets.md §0). Arrays keep their usual
layout. The channels-first layer does the work between two moves of the channel dimension;
this module re-registers those kinds and hands Interleaving -> False to the originals.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import torch

from engine.layers import REGISTRY, LayerKind
from engine.layers.base import fail, fixed_dims, real_input
from engine.spec import LayerSpec, TensorType

KINDS = ("ConvolutionLayer", "PoolingLayer", "BatchNormalizationLayer", "DeconvolutionLayer",
         "InstanceNormalizationLayer", "ResizeLayer")


@cache
def interleaved(cls: type) -> type:
    """``cls`` taking and giving channels-last arrays."""

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return cls.apply(self, x.movedim(-1, 1)).movedim(1, -1)

    return type(f"Interleaved{cls.__name__}", (cls,), {"apply": apply})


def _wrap(kind: LayerKind) -> LayerKind:
    original = kind.build

    def build(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
        if not spec.args.get("Interleaving"):
            return original(spec, in_types, path)
        t = real_input(in_types, "Input", path, min_rank=2)
        dims = fixed_dims(t, path, kind.name)
        plain = replace(spec, args={k: v for k, v in spec.args.items() if k != "Interleaving"})
        m, outs = original(plain, {"Input": TensorType((dims[-1], *dims[:-1]))}, path)
        if not hasattr(type(m), "apply"):
            raise fail(path, f"Interleaving -> True is not supported for {kind.name}.")
        m.__class__ = interleaved(type(m))
        out = tuple(outs["Output"].dims)
        m.input_types = {"Input": t}
        return m, {"Output": TensorType((*out[1:], out[0]))}

    return replace(kind, build=build)


def install() -> None:
    """Wrap the registered builders of ``KINDS`` (called once, after they register)."""
    for name in KINDS:
        if name in REGISTRY and not getattr(REGISTRY[name].build, "_interleaving", False):
            REGISTRY[name] = _wrap(REGISTRY[name])
            REGISTRY[name].build._interleaving = True  # type: ignore[attr-defined]


install()
