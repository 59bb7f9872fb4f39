"""Port specs (wl-nets.md §1.1 table) -> `TensorType`, with the coder when one is given.

"Real", "Integer", ``Restricted["Integer", n]``, ``n``, ``{n1, n2, ...}`` (``Automatic`` for a
size to infer), "Varying", ``{"Varying", n, ...}``, ``{n, "Varying"}`` (a varying dimension
after a fixed one: the layers that cannot take it say so when the net is built), "Scalar" (``NetEncoder["Scalar"]`` on an input,
``NetDecoder["Scalar"]`` on an output: a length-1 vector), ``NetEncoder[...]`` and
``NetDecoder[...]``. Each "Varying" gets a fresh length id from the conversion's context.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from engine.spec import DecoderSpec, EncoderSpec, LengthVar, TensorType
from wlbridge.coders import decoder_type, encoder_type, to_decoder_spec, to_encoder_spec
from wlbridge.messages import WLMessage
from wlbridge.nets.exprs import head_name, invnet, is_int, short, symbol_name


@dataclass
class Ctx:
    """Per-conversion state: fresh ids for each "Varying" dimension."""

    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def length_var(self) -> LengthVar:
        return LengthVar(next(self.ids))


def port_spec(value: Any, ctx: Ctx, where: str, is_input: bool) -> tuple[TensorType, EncoderSpec | DecoderSpec | None]:
    """A port spec (wl-nets.md §1.1 table) as a type, plus the coder when one is given."""
    head = head_name(value)
    if head == "NetEncoder":
        if not is_input:
            raise invnet(f"{where}: a NetEncoder can only be attached to an input")
        enc = _coder(to_encoder_spec, value, where)
        return encoder_type(enc, ctx.length_var().id), enc
    if head == "NetDecoder":
        if is_input:
            raise invnet(f"{where}: a NetDecoder can only be attached to an output")
        dec = _coder(to_decoder_spec, value, where)
        return decoder_type(dec), dec
    if value == "Scalar":  # shorthand for NetEncoder["Scalar"] / NetDecoder["Scalar"]
        coder = EncoderSpec("Scalar") if is_input else DecoderSpec("Scalar")
        return TensorType((1,)), coder
    elem = _element_type(value)
    if elem is not False:
        return TensorType((), elem), None
    if value == "Varying":
        return TensorType((ctx.length_var(),)), None
    if is_int(value) and value > 0:
        return TensorType((int(value),)), None
    if isinstance(value, (tuple, list)):
        items = list(value)
        index = None
        if items:
            last = _element_type(items[-1])
            if last is not False:
                index = last
                items = items[:-1]
        dims: list[Any] = []
        for d in items:
            if d == "Varying":
                dims.append(ctx.length_var())
            elif is_int(d) and d > 0:
                dims.append(int(d))
            elif symbol_name(d) == "Automatic":
                dims.append(None)
            else:
                raise invnet(f"{where}: bad dimension {short(d)} in the port specification {short(value)}")
        return TensorType(tuple(dims), index), None
    raise invnet(
        f'{where}: invalid port specification {short(value)} (use "Real", "Integer", '
        'Restricted["Integer", n], n, {n1, n2, ...}, "Varying", {"Varying", n}, NetEncoder or NetDecoder)'
    )


def _coder(reader: Any, value: Any, where: str) -> Any:
    try:
        return reader(value)
    except WLMessage as err:
        raise invnet(f"{where}: {err.text}") from None


def _element_type(value: Any) -> Any:
    """The index range of a scalar element spec, None for "Real", False if not an element spec."""
    if value == "Real":
        return None
    if value == "Integer":
        return 0  # IndexIntegerT[All]: an integer of unknown range
    if head_name(value) == "Restricted" and len(value.args) == 2 and value.args[0] == "Integer":
        n = value.args[1]
        if is_int(n) and n > 0:
            return int(n)
    return False
