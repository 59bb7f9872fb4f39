"""wolframclient's InputForm encoders for Python objects the exact writer has no rule for
(dates, ...), with the exact writer's atoms (reals, strings, symbols) in them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wolframclient.serializers.encoder import wolfram_encoder
from wolframclient.serializers.wl import WLSerializer
from wolframclient.utils.dispatch import Dispatch

_dispatch = Dispatch()


class _Serializer(WLSerializer):
    def serialize_float(self, number: float) -> Iterator[bytes]:
        from wlbridge.syntax.writer import float_text

        yield float_text(number).encode()

    def serialize_string(self, string: str) -> Iterator[bytes]:
        from wlbridge.syntax.strings import quote

        yield quote(string).encode("ascii")

    def serialize_symbol(self, name: str | bytes) -> Iterator[bytes]:
        from wlbridge.syntax.writer import symbol_text

        yield symbol_text(name.decode() if isinstance(name, bytes) else name).encode("ascii")

    def serialize_int(self, number: int) -> Iterator[bytes]:
        from wlbridge.syntax.writer import format_int

        yield format_int(number).encode()


@_dispatch.dispatch(object)
def _encode_other(serializer: _Serializer, o: Any) -> Iterator[bytes]:
    from wlbridge.syntax.writer import _atom

    text = _atom(o)
    if text is not None:
        return iter((text.encode("ascii"),))
    return _wolfram_encode(serializer, o)


wolfram_encoder.update_dispatch()
_wolfram_encode = wolfram_encoder.as_method()


def wolframclient_text(o: Any) -> str:
    try:
        return _Serializer(encoder=_dispatch).export(o).decode("ascii")
    except RecursionError:
        raise ValueError("to_text: the expression nests too deeply to write") from None
