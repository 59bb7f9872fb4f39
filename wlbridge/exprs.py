"""Number predicates over the expression model (DESIGN rule 1), shared by options and nets.

Numbers reach us as Python ints/floats (parser, WXF) or numpy scalars (WXF arrays, Python
callers); `True`/`False` are Python bools there and must never count as 1/0.
"""

from __future__ import annotations

import numbers
from typing import Any


def is_number(x: Any) -> bool:
    """A real number (int or float, numpy scalars too), never a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def is_int(x: Any) -> bool:
    """A machine integer (numpy integers too), never a bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)
