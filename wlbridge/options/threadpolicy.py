"""The ``"ThreadPolicy"`` internal option: how many CPU threads torch uses while training."""

from __future__ import annotations

from typing import Any

from wlbridge.options.exprs import fail, is_int, is_sym, show

POLICIES = ("Adaptive", "Fixed")


def normalise_thread_policy(v: Any) -> str | int | None:
    """Automatic -> None (adapt unless the user fixed threading), "Adaptive", "Fixed", or a
    positive thread count."""
    if v is None or is_sym(v, "Automatic"):
        return None
    if isinstance(v, str) and v in POLICIES:
        return v
    if is_int(v) and v >= 1:
        return int(v)
    raise fail("badintopt", f"\"ThreadPolicy\" -> {show(v)} is invalid; the value should be "
               "Automatic, \"Adaptive\", \"Fixed\" or a positive number of threads.")
