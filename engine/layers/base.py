"""What every Wolfram layer module shares: arrays under Wolfram names, argument checks, levels."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import EngineError
from engine.layers import where
from engine.spec import LayerSpec, LengthVar, TensorType

# Option keys that belong to the container or to wlbridge, never to a layer's maths.
_PASSTHROUGH = {"Input", "Output", "LearningRateMultipliers"}


def fail(path: tuple[str, ...], text: str) -> EngineError:
    """A ``NetTrain::invnet`` error located at ``path``."""
    return EngineError("invnet", f"{where(path)}: {text}")


def check_args(spec: LayerSpec, allowed: set[str], path: tuple[str, ...]) -> dict[str, Any]:
    """The layer's args, refusing any option the engine does not implement."""
    for key in spec.args:
        if key.startswith("$") or key in _PASSTHROUGH or key in allowed:
            continue
        raise fail(path, f"the option {key!r} is not supported; supported options are "
                         f"{', '.join(sorted(allowed)) or 'none'}.")
    if spec.args.get("Interleaving") not in (None, False):
        raise fail(path, "Interleaving -> True (channels-last) is not supported.")
    return spec.args


def removed(spec: LayerSpec, name: str) -> bool:
    """True when the array ``name`` was removed (``"Biases" -> None``)."""
    return (name in spec.args and spec.args[name] is None) or (
        name in spec.arrays and spec.arrays[name] is None
    )


def real_input(in_types: dict[str, TensorType | None], port: str, path: tuple[str, ...],
               min_rank: int = 0) -> TensorType:
    """The type of a real-valued input port, checked for a known shape and a minimum rank."""
    t = in_types.get(port)
    if t is None or t.dims is None or any(d is None for d in t.dims):
        raise fail(path, f"the shape of port {port!r} could not be inferred; "
                         "declare the net's \"Input\" shape.")
    if len(t.dims) < min_rank:
        raise fail(path, f"port {port!r} needs an array of rank at least {min_rank}, "
                         f"but got shape {format_dims(t.dims)}.")
    return t


def fixed_dims(t: TensorType, path: tuple[str, ...], what: str) -> tuple[int, ...]:
    """The dims of ``t``, refusing a varying dimension (``"Varying"``) where sizes must be fixed."""
    if t.varying:
        raise fail(path, f"{what} cannot take a varying-length input "
                         f"(shape {format_dims(t.dims)}); it needs fixed dimensions.")
    return tuple(t.dims)  # type: ignore[arg-type]


def format_dims(dims: tuple[Any, ...] | None) -> str:
    """Dims the way Wolfram shows them: ``{3, "Varying"}``."""
    if dims is None:
        return "(unknown)"
    return "{" + ", ".join('"Varying"' if isinstance(d, LengthVar) else str(d) for d in dims) + "}"


def resolve_level(level: Any, rank: int, path: tuple[str, ...], what: str = "level") -> int:
    """A 1-based Wolfram level (negative from the end) as a 0-based non-batch axis."""
    if isinstance(level, bool) or not isinstance(level, int) or level == 0 or abs(level) > rank:
        raise fail(path, f"the {what} {level!r} is not a valid level for an input of rank {rank}; "
                         f"use an integer between 1 and {rank} or between -{rank} and -1.")
    return level - 1 if level > 0 else rank + level


def resolve_levels(spec: Any, rank: int, path: tuple[str, ...], what: str = "levels") -> tuple[int, ...]:
    """A levels spec (int, tuple, "All", slice for a Span) as sorted 0-based non-batch axes."""
    if spec == "All":
        return tuple(range(rank))
    if isinstance(spec, slice):
        a = resolve_level(1 if spec.start is None else spec.start, rank, path, what)
        b = rank - 1 if spec.stop in (None, "All") else resolve_level(spec.stop, rank, path, what)
        if b < a:
            raise fail(path, f"the {what} span selects no level of an input of rank {rank}.")
        return tuple(range(a, b + 1))
    if isinstance(spec, int) and not isinstance(spec, bool):
        return (resolve_level(spec, rank, path, what),)
    if isinstance(spec, (tuple, list)):
        axes = sorted({resolve_level(s, rank, path, what) for s in spec})
        return tuple(axes)
    raise fail(path, f"{spec!r} is not a valid {what} specification.")


class WolframLayer(nn.Module):
    """Base of the layer modules: Wolfram array names, layout and the given/initialised split.

    ``array_names`` lists the layer's arrays in Wolfram's order; parameters and buffers are
    registered under those names in Wolfram layout, so ``wolfram_arrays`` is a lookup.
    ``aux_arrays`` are the ones not trained by gradient (BatchNorm moving statistics).
    ``given`` holds the names whose values came from ``LayerSpec.arrays``.
    """

    kind: str = ""
    array_names: tuple[str, ...] = ()
    aux_arrays: frozenset[str] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self.input_types: dict[str, TensorType] = {}
        self.output_types: dict[str, TensorType] = {}
        self.given: set[str] = set()
        self.path: tuple[str, ...] = ()

    def wolfram_arrays(self) -> dict[str, torch.Tensor | None]:
        """The live arrays by Wolfram name (None where removed), Wolfram layout."""
        return {n: getattr(self, n, None) for n in self.array_names}

    def get_arrays(self) -> dict[str, np.ndarray]:
        """Copies of the arrays as numpy, Wolfram layout (removed arrays left out)."""
        return {n: t.detach().cpu().numpy().copy()
                for n, t in self.wolfram_arrays().items() if t is not None}

    def set_arrays(self, arrays: dict[str, np.ndarray | None]) -> None:
        """Load arrays given in Wolfram layout, checking names and shapes."""
        live = self.wolfram_arrays()
        for name, value in arrays.items():
            if name not in live:
                raise fail(self.path, f"the layer has no array named {name!r}; its arrays are "
                                      f"{', '.join(self.array_names) or 'none'}.")
            target = live[name]
            if value is None:
                if target is not None:
                    raise fail(self.path, f"the array {name!r} cannot be None here.")
                continue
            if target is None:
                raise fail(self.path, f"the array {name!r} was removed (None) but a value was given.")
            arr = np.asarray(value, dtype=np.float64)
            if tuple(arr.shape) != tuple(target.shape):
                raise fail(self.path, f"the array {name!r} should have dimensions "
                                      f"{format_dims(tuple(target.shape))} but the value given has "
                                      f"dimensions {format_dims(arr.shape)}.")
            with torch.no_grad():
                target.copy_(torch.as_tensor(arr, dtype=target.dtype))
            self.given.add(name)

    def load_spec_arrays(self, spec: LayerSpec) -> None:
        """Load the initial arrays of ``spec`` (ignoring Nones that just mark removal)."""
        given = {k: v for k, v in spec.arrays.items() if v is not None}
        if given:
            self.set_arrays(given)


class SimpleLayer(WolframLayer):
    """A layer with one "Input" and one "Output": ``apply`` does the work on the tensor."""

    def apply(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        return {"Output": self.apply(inputs["Input"])}


def declared_output(spec: LayerSpec, port: str = "Output") -> TensorType | None:
    """The output type declared on the layer (or hinted by the container), if any."""
    return spec.outputs.get(port)
