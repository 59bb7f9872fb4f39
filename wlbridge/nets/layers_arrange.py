"""Table rows for the rearranging and constant-array layers (engine.layers.arrange, .constant).

Forms as their documentation pages write them: ``TransposeLayer[]``, ``TransposeLayer[m <-> n]``,
``TransposeLayer[{m1 <-> n1, ...}]``, ``TransposeLayer[{n1, n2, ...}]``; ``ReplicateLayer[n]``,
``ReplicateLayer[{n1, ...}, m]`` (n may be Automatic); ``PartLayer[i]``, ``PartLayer[i;;j]``,
``PartLayer[i;;j;;k]``, ``PartLayer[{spec1, spec2, ...}]`` (spec_k for level k, with
``{i1, i2}`` for a list of parts); ``ExtractLayer[]``; ``AppendLayer[]``/``PrependLayer[]``
(ports "Input", "Element"); ``SequenceIndicesLayer["Maximum" -> n]``; ``ConstantPlusLayer[]``
("Biases"), ``ConstantTimesLayer[]`` ("Scaling"), ``NetArrayLayer["Array" -> a, "Output" -> dims]``
and its old name ``ConstantArrayLayer``.
"""

from __future__ import annotations

from typing import Any

from wlbridge.nets.exprs import head_name, is_int, short, symbol_name, to_number
from wlbridge.nets.layers import BadParam, LayerDef, level


def transpose_spec(v: Any) -> tuple[str, tuple[Any, ...]]:
    """``m <-> n`` or a list of them -> ("swaps", ((m, n), ...)); ``{n1, ...}`` -> ("perm", ...)."""
    def swap(r: Any) -> tuple[int, int] | None:
        if head_name(r) == "TwoWayRule" and len(r.args) == 2 and all(is_int(a) and a != 0 for a in r.args):
            return int(r.args[0]), int(r.args[1])
        return None

    one = swap(v)
    if one is not None:
        return ("swaps", (one,))
    if isinstance(v, (tuple, list)) and v:
        swaps = [swap(r) for r in v]
        if all(s is not None for s in swaps):
            return ("swaps", tuple(swaps))
        if all(is_int(n) and n > 0 for n in v):
            return ("perm", tuple(int(n) for n in v))
    raise BadParam(f"expected m <-> n, a list of them or a permutation {{n1, n2, ...}}, not {short(v)}")


def replicate_dims(v: Any) -> tuple[int | None, ...]:
    """``n``, ``Automatic`` or a list of them; None marks a size to infer."""
    items = v if isinstance(v, (tuple, list)) else (v,)
    out: list[int | None] = []
    for d in items:
        if symbol_name(d) == "Automatic":
            out.append(None)
        elif is_int(d) and d > 0:
            out.append(int(d))
        else:
            raise BadParam(f"expected a positive integer, Automatic or a list of them, not {short(v)}")
    if not out:
        raise BadParam("expected at least one dimension")
    return tuple(out)


def _part_entry(e: Any) -> Any:
    if symbol_name(e) == "All":
        return "All"
    if is_int(e) and e != 0:
        return int(e)
    if head_name(e) == "Span" and len(e.args) in (2, 3):
        parts = [None if symbol_name(a) == "All" else a for a in e.args]
        if all(p is None or (is_int(p) and p != 0) for p in parts):
            lo, hi = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else None
            return slice(1 if lo is None else int(lo), None if hi is None else int(hi),
                         None if step is None else int(step))
    if isinstance(e, (tuple, list)) and e and all(is_int(i) and i != 0 for i in e):
        return tuple(int(i) for i in e)
    raise BadParam(f"expected a part (i, -i, i;;j, i;;j;;k, All or {{i1, i2, ...}}), not {short(e)}")


def part_spec(v: Any) -> tuple[Any, ...]:
    """One entry per level (the engine's PartLayer "Specification")."""
    if isinstance(v, (tuple, list)):
        if not v:
            raise BadParam("expected a part specification, not {}")
        return tuple(_part_entry(e) for e in v)
    return (_part_entry(v),)


def maximum(v: Any) -> int | None:
    n = to_number(v)
    if n == float("inf"):
        return None
    if is_int(v) and v > 0:
        return int(v)
    raise BadParam(f"expected a positive integer or Infinity, not {short(v)}")


_JOIN = {"inputs": ("Input", "Element")}

ROWS = [
    LayerDef("TransposeLayer", (("Specification", transpose_spec),), defaults={"Specification": None}),
    LayerDef("ReplicateLayer", (("Dimensions", replicate_dims), ("Level", level)), required=1,
             defaults={"Level": 1}),
    LayerDef("PartLayer", (("Specification", part_spec),), required=1),
    LayerDef("ExtractLayer", inputs=("Input", "Position")),
    LayerDef("AppendLayer", **_JOIN),
    LayerDef("PrependLayer", **_JOIN),
    LayerDef("SequenceIndicesLayer", (), {"Maximum": (None, maximum)}),
    LayerDef("ConstantPlusLayer", arrays=("Biases",)),
    LayerDef("ConstantTimesLayer", arrays=("Scaling",)),
    LayerDef("NetArrayLayer", arrays=("Array",), inputs=()),
    LayerDef("ConstantArrayLayer", arrays=("Array",), inputs=()),
]
