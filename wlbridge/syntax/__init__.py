"""Wolfram text in and out: `parse` (InputForm -> expression model), `to_text` (exact InputForm
writer), `fullform` (canonical FullForm, for the CLI and oracle tests), `WLSyntaxError`."""

from __future__ import annotations

from wlbridge.syntax.errors import WLSyntaxError
from wlbridge.syntax.parser import parse, parse_sequence
from wlbridge.syntax.writer import fullform, to_text

__all__ = ["WLSyntaxError", "fullform", "parse", "parse_sequence", "to_text"]
