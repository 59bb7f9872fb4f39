"""Rows that widen existing layers to the options their pages list: NormalizationLayer's
"GroupNumber", Method ("Standardize" | "RMS") and "Unbiased"; AggregationLayer's functions Times,
Median, Variance, StandardDeviation, MeanDeviation and InterquartileRange."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from wlbridge.nets.exprs import is_int, short, symbol_name
from wlbridge.nets.layers import LAYERS, BadParam, boolean, one_of


def group_number(v: Any) -> Any:
    if v is None or symbol_name(v) == "None":
        return None
    items = v if isinstance(v, (tuple, list)) else (v,)
    if items and all(is_int(g) and g > 0 for g in items):
        return tuple(int(g) for g in items)
    raise BadParam(f"expected None or a list of positive group counts, not {short(v)}")


_AGGREGATE = ("Max", "Min", "Mean", "Total", "Times", "Median", "Variance", "StandardDeviation",
              "MeanDeviation", "InterquartileRange")


def rows() -> list[Any]:
    norm, agg = LAYERS["NormalizationLayer"], LAYERS["AggregationLayer"]
    return [
        replace(norm, options={**norm.options, "GroupNumber": (None, group_number),
                               "Method": ("Standardize", one_of("Standardize", "RMS")),
                               "Unbiased": (False, boolean)}),
        replace(agg, positional=(("Function", one_of(*_AGGREGATE)), *agg.positional[1:])),
    ]
