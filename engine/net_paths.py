"""Paths in a net spec: Wolfram's canonical order of array paths, and the
LearningRateMultipliers value in force at a layer's path (innermost written value wins)."""

from __future__ import annotations

from engine.spec import LayerSpec, NetSpec


def wolfram_string_key(s: str) -> tuple[str, str]:
    """Sort key giving Wolfram's canonical string order (case-insensitive, lowercase first)."""
    return (s.casefold(), s.swapcase())


def path_key(path: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(wolfram_string_key(p) for p in path)


def effective_multiplier(spec: NetSpec, layer_path: tuple[str, ...]) -> float | None:
    """The multiplier written on the innermost container or layer on ``layer_path``, or
    None where none was given; nets inside layers (NetMapOperator's "Net") are followed."""
    value = spec.lr_multiplier
    node: LayerSpec | NetSpec = spec
    for key in layer_path:
        if isinstance(node, LayerSpec):  # a net inside a layer: NetMapOperator's "Net", ...
            inner = node.args.get(key, node.args.get("Net"))
            if isinstance(inner, (LayerSpec, NetSpec)):
                node = inner
                continue
            return value
        node = node.nodes[key]  # type: ignore[union-attr]
        if node.lr_multiplier is not None:
            value = node.lr_multiplier
    return value
