"""Layer specs of ``layerspec -> value`` rules, resolved against the net being trained.

`wlbridge.options.layerspec` encodes a spec without knowing the net (``"#2"`` for position 2,
``"*"`` for All); here, once the net is known, each spec becomes the concrete array-path prefixes
the engine matches, in the rules' order (the first matching rule still wins). A spec that names
no position in the net is an error, as in NetTrain (``NetTrain::arrpattmiss``), not a rule
silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wolframclient.language import wl

from wlbridge.options.exprs import fail, show

Path = tuple[str, ...]


class PathTree:
    """The net's positions: every layer path and array path, children in the net's order."""

    def __init__(self, layer_paths: Iterable[Path], array_paths: Iterable[Path],
                 root: Path = ()):
        self.children: dict[Path, list[str]] = {}
        for path in (*layer_paths, *array_paths):
            for i in range(len(path)):
                kids = self.children.setdefault(path[:i], [])
                if path[i] not in kids:
                    kids.append(path[i])
        self.root = root

    def expand(self, path: Path) -> list[Path]:
        """The concrete prefixes ``path`` names (positions and All resolved); [] if none."""
        current = [self.root]
        for element in path:
            nxt: list[Path] = []
            for prefix in current:
                kids = self.children.get(prefix, [])
                nxt += [(*prefix, k) for k in _select(kids, element)]
            current = nxt
        return current


def _select(kids: list[str], element: str) -> list[str]:
    if element == "*":
        return list(kids)
    if element.startswith("#") and element[1:].lstrip("-").isdigit():
        n = int(element[1:])
        if 1 <= n <= len(kids):
            return [kids[n - 1]]
        if -len(kids) <= n <= -1:
            return [kids[n]]
        return []
    return [element] if element in kids else []


def resolve_rules(rules: list[tuple[Path, Any]], tree: PathTree, option: str
                  ) -> list[tuple[Path, Any]]:
    """``[(encoded path, value)]`` -> ``[(concrete prefix, value)]``; a path that names nothing
    raises ``NetTrain::arrpattmiss`` naming the spec and ``option``."""
    out: list[tuple[Path, Any]] = []
    for path, value in rules:
        found = tree.expand(tuple(path))
        if not found:
            raise fail("arrpattmiss", f"The left hand side {show(spec_expr(path))} given as part "
                       f"of the setting for {option} is not a valid position within the net.")
        out += [(p, value) for p in found]
    return out


def spec_expr(path: Path) -> Any:
    """The layer spec the user wrote, back from its encoding (for messages)."""
    items = tuple(wl.All if e == "*" else int(e[1:]) if e.startswith("#") else e for e in path)
    if not items:
        return wl.All
    return items[0] if len(items) == 1 else items
