"""NetInitialize over a built container: each layer initialised knowing what follows it.

Wolfram doubles the Glorot variance of a layer feeding Ramp/ReLU (wl-nets.md §2 "Default
initialization"), so each layer is told the ElementwiseLayer function it alone feeds, looked
up through nested containers.
"""

from __future__ import annotations

from typing import Any

from engine.init import initialize_layer
from engine.spec import LayerSpec


def _next_functions(model: Any) -> dict[tuple[str, ...], str | None]:
    """For each layer path, the ElementwiseLayer function it alone feeds (None if any other)."""
    out: dict[tuple[str, ...], str | None] = {}

    def entry_layer(mod: Any, port: str) -> tuple[Any, str] | None:
        consumers = [k for (k, _p), s in mod.wiring.feeds.items() if s == (None, port)]
        if len(consumers) != 1:
            return None
        node = mod.node(consumers[0])
        if _is_container(node):
            sub = [p for (k, p), s in mod.wiring.feeds.items() if s == (None, port)]
            return entry_layer(node, sub[0])
        return mod, consumers[0]

    def walk(mod: Any, prefix: tuple[str, ...]) -> None:
        w = mod.wiring
        for key, node in zip(mod.keys, mod.nodes, strict=True):
            if _is_container(node):
                walk(node, (*prefix, key))
                continue
            targets = [(k, p) for (k, p), s in w.feeds.items() if s[0] == key]
            fn = None
            if len(targets) == 1:
                tnode = mod.node(targets[0][0])
                found = (mod, targets[0][0])
                if _is_container(tnode):
                    found = entry_layer(tnode, targets[0][1])
                if found is not None:
                    spec = found[0].spec.nodes[found[1]]
                    if isinstance(spec, LayerSpec) and spec.kind == "ElementwiseLayer":
                        f = spec.args.get("Function")
                        fn = f if isinstance(f, str) else None
            out[(*prefix, key)] = fn

    walk(model, ())
    return out


def initialize_model(model: Any) -> None:
    """Initialise every array the spec did not give, by Wolfram's rules (engine.init)."""
    nexts = _next_functions(model)
    for p, layer in model.layer_paths().items():
        custom = getattr(layer, "wolfram_initialize", None)
        if custom is not None:
            custom(nexts.get(p))
        else:
            initialize_layer(layer, nexts.get(p))


def _is_container(node: Any) -> bool:
    """A built NetChain/NetGraph (engine.graph.WolframModule; not imported: it imports us)."""
    return getattr(node, "wiring", None) is not None and hasattr(node, "layer_paths")
