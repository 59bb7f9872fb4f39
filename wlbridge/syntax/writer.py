"""`to_text`: any model expression -> one line of InputForm that reads back exactly.

Built on wolframclient's WL serializer: the serializer subclass changes only how atoms are
written (reals, big reals, strings, symbols, arrays), and a small dispatch in front of
wolframclient's encoders handles the few shapes that need care (rules, associations, numpy).

* floats: shortest round-trip digits with ``*^`` exponents and "`" on 16+ digit mantissas
  (`numbers.format_real`); ``inf``/``-inf`` -> ``DirectedInfinity[1]``/``DirectedInfinity[-1]``
  and ``nan`` -> ``Indeterminate`` (wolframclient's own choice, kept). Those three read back as
  the expressions, not floats: the exact round trip holds for finite floats. ``-0.0`` -> ``-0.``.
* ``Decimal`` -> digits with a precision mark (``3.14`3``); ``Fraction`` -> ``Rational[n, d]``.
* strings and symbol names: pure ASCII, ``\\:xxxx`` escapes, never a raw newline.
* tuple/list -> ``{...}``; dict -> ``<|k -> v|>``; ``bytes`` -> ``ByteArray["base64"]``.
* numpy arrays -> ``NumericArray[{...}, "Real32"]`` (type from the dtype, values in the
  shortest digits that read back to the same element); numpy scalars -> plain numbers.
* ``WLFunction`` -> FullForm ``head[args]``, except ``Rule``/``RuleDelayed`` which are written
  ``a -> b`` (the left side in parentheses when it is itself a rule), so there is never a
  precedence question.

`fullform` is the canonical FullForm used by the ``wlbridge parse`` command and the oracle
tests: the same conventions as the harness's ``wl_oracle.wlc_fullform`` (``System```/
``Global``` stripped, reals without marks, lists as ``List[...]``), plus ``Decimal`` as
``digits`prec`` and numpy arrays as ``NumericArray[List[...], "type"]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

from wolframclient.language.expression import WLFunction, WLSymbol
from wolframclient.serializers.encoder import wolfram_encoder
from wolframclient.serializers.wl import WLSerializer
from wolframclient.utils.dispatch import Dispatch

from wlbridge.syntax.numbers import format_decimal, format_real
from wlbridge.syntax.strings import ascii_name, quote

_RULES = ("Rule", "RuleDelayed")
_NP_TYPES = {
    "int8": "Integer8", "int16": "Integer16", "int32": "Integer32", "int64": "Integer64",
    "uint8": "UnsignedInteger8", "uint16": "UnsignedInteger16", "uint32": "UnsignedInteger32",
    "uint64": "UnsignedInteger64", "float32": "Real32", "float64": "Real64",
}


def _is_rule(o: Any) -> bool:
    return (isinstance(o, WLFunction) and isinstance(o.head, WLSymbol)
            and o.head.name in _RULES and len(o.args) == 2)


def _float_text(x: float) -> bytes:
    if math.isinf(x):
        return b"DirectedInfinity[-1]" if x < 0 else b"DirectedInfinity[1]"
    if math.isnan(x):
        return b"Indeterminate"
    return format_real(x).encode()


def _array_values(a: Any) -> str:
    """Nested ``{...}`` text of a numpy array's elements, each read back to the same value."""
    import numpy as np

    if a.dtype.kind == "f":
        if a.dtype == np.float64:
            flat = [_float_text(float(v)).decode() for v in a.reshape(-1).tolist()]
        else:  # shortest digits for the element type itself (0.1f, not 0.10000000149...)
            flat = [_float_text(float(str(v))).decode() for v in a.reshape(-1)]
    else:
        flat = [str(v) for v in a.reshape(-1).tolist()]
    if a.ndim == 0:
        return flat[0]
    it = iter(flat)

    def build(shape: tuple[int, ...]) -> str:
        if len(shape) == 1:
            return "{" + ", ".join(next(it) for _ in range(shape[0])) + "}"
        return "{" + ", ".join(build(shape[1:]) for _ in range(shape[0])) + "}"

    return build(a.shape)


class ExactWLSerializer(WLSerializer):
    """wolframclient's InputForm writer with exact reals and ASCII-only strings."""

    def serialize_float(self, number: float) -> Iterator[bytes]:
        yield _float_text(number)

    def serialize_decimal(self, number: Decimal) -> Iterator[bytes]:
        yield format_decimal(number).encode()

    def serialize_string(self, string: str) -> Iterator[bytes]:
        yield quote(string).encode("ascii")

    def serialize_symbol(self, name: str | bytes) -> Iterator[bytes]:
        text = name.decode() if isinstance(name, bytes) else name
        yield ascii_name(text).encode("ascii")

    def serialize_rule(self, lhs: Iterable[bytes], rhs: Iterable[bytes]) -> Iterator[bytes]:
        yield from lhs
        yield b" -> "
        yield from rhs

    def serialize_rule_delayed(self, lhs: Iterable[bytes], rhs: Iterable[bytes]) -> Iterator[bytes]:
        yield from lhs
        yield b" :> "
        yield from rhs


def _encode_key(serializer: ExactWLSerializer, key: Any) -> Iterator[bytes]:
    if _is_rule(key):
        yield b"("
        yield from serializer.encode(key)
        yield b")"
    else:
        yield from serializer.encode(key)


_dispatch = Dispatch()


@_dispatch.dispatch(WLFunction)
def _encode_function(serializer: ExactWLSerializer, o: WLFunction) -> Iterator[bytes]:
    if _is_rule(o):
        write = (serializer.serialize_rule if o.head.name == "Rule"
                 else serializer.serialize_rule_delayed)
        return write(_encode_key(serializer, o.args[0]), serializer.encode(o.args[1]))
    return serializer.serialize_function(
        serializer.encode(o.head), map(serializer.encode, o.args), length=len(o.args))


@_dispatch.dispatch(dict)
def _encode_dict(serializer: ExactWLSerializer, o: dict[Any, Any]) -> Iterator[bytes]:
    return serializer.serialize_mapping(
        (_encode_key(serializer, k), serializer.encode(v)) for k, v in o.items())


@_dispatch.dispatch(object)
def _encode_other(serializer: ExactWLSerializer, o: Any) -> Iterator[bytes]:
    if type(o).__module__ == "numpy":
        import numpy as np

        if isinstance(o, np.ndarray):
            kind = _NP_TYPES.get(o.dtype.name)
            if kind is None:
                raise TypeError(f"to_text: no NumericArray type for numpy dtype {o.dtype}")
            return iter((f'NumericArray[{_array_values(o)}, "{kind}"]'.encode(),))
        if isinstance(o, np.generic):
            return serializer.encode(o.item())
    if isinstance(o, (bytes, bytearray, memoryview)):
        return serializer.serialize_bytes(bytes(o))
    return _wolfram_encode(serializer, o)


wolfram_encoder.update_dispatch()
_wolfram_encode = wolfram_encoder.as_method()


def to_text(expr: Any) -> str:
    """One line of InputForm for ``expr`` that `parse` (and Mathematica) read back exactly."""
    serializer = ExactWLSerializer(encoder=_dispatch)
    try:
        return serializer.export(expr).decode("ascii")
    except RecursionError:
        raise ValueError("to_text: the expression nests too deeply to write") from None


def fullform(expr: Any) -> str:
    """Canonical FullForm text of a model expression (see the module notes)."""
    out: list[str] = []
    # Iterative, so deep expressions cannot exhaust the Python stack.
    stack: list[Any] = [expr]
    while stack:
        o = stack.pop()
        if isinstance(o, _Text):
            out.append(o.text)
        elif o is True or o is False:
            out.append(str(o))
        elif o is None:
            out.append("Null")
        elif isinstance(o, int):
            out.append(str(o))
        elif isinstance(o, float):
            out.append(format_real(o, machine_mark=False) if math.isfinite(o)
                       else _float_text(o).decode())
        elif isinstance(o, Decimal):
            out.append(to_text(o))
        elif isinstance(o, str):
            out.append(quote(o))
        elif isinstance(o, Fraction):
            out.append(f"Rational[{o.numerator}, {o.denominator}]")
        elif isinstance(o, WLSymbol):
            name = o.name
            for ctx in ("System`", "Global`"):
                if name.startswith(ctx) and "`" not in name[len(ctx):]:
                    name = name[len(ctx):]
            out.append(ascii_name(name))
        elif isinstance(o, WLFunction):
            _push_call(stack, o.head, o.args)
        elif isinstance(o, dict):
            _push_call(stack, WLSymbol("Association"),
                       [WLFunction(WLSymbol("Rule"), k, v) for k, v in o.items()])
        elif isinstance(o, (list, tuple)):
            _push_call(stack, WLSymbol("List"), o)
        elif isinstance(o, (bytes, bytearray)):
            out.append(to_text(bytes(o)))
        elif type(o).__module__ == "numpy":
            import numpy as np

            if isinstance(o, np.ndarray):
                kind = _NP_TYPES.get(o.dtype.name, o.dtype.name)
                _push_call(stack, WLSymbol("NumericArray"), [o.tolist(), kind])
            else:
                stack.append(o.item())
        else:
            raise TypeError(f"fullform: no Wolfram form for {type(o).__name__}")
    return "".join(out)


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _push_call(stack: list[Any], head: Any, args: Any) -> None:
    items: list[Any] = [head, _Text("[")]
    for i, a in enumerate(args):
        if i:
            items.append(_Text(", "))
        items.append(a)
    items.append(_Text("]"))
    stack.extend(reversed(items))
