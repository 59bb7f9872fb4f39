"""The NetTrain option schema (DESIGN rule 3): one table of public and internal options.

`resolve` turns Wolfram option text or expressions into an `engine.spec.TrainConfig`; `OPTIONS`
is the table itself (public rows, then internal rows); `describe` renders it for
``wlbridge options``; `parse_interval` is shared by everything periodic.
"""

from __future__ import annotations

from wlbridge.options.interval import parse_interval
from wlbridge.options.layerspec import layer_path, path_rules
from wlbridge.options.normfn import compile_norm
from wlbridge.options.row import Option
from wlbridge.options.table import INTERNAL, INTERNAL_NAMES, OPTIONS, PUBLIC, describe, resolve

__all__ = [
    "INTERNAL", "INTERNAL_NAMES", "OPTIONS", "PUBLIC", "Option", "compile_norm", "describe",
    "layer_path", "parse_interval", "path_rules", "resolve",
]
