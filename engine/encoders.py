"""NetEncoder / NetDecoder behaviour on plain Python values (wl-nets.md §4), Wolfram-free.

Encoders: "Class" (label -> 1-based position, or a one-hot vector with OutputForm "UnitVector"
/ "IndicatorVector"), "Boolean" (True -> 1, False -> 0), "Scalar" (a number as a length-1
vector), "Characters" and "Tokens" (1-based codes; "Tokens" gives d+1 to unknown tokens),
"Image" (`engine.image_coder`). Decoders: "Class" (labels[argmax]; and the probabilities per
label), "Boolean" (p >= 0.5), "Scalar", "Image", "Characters" and "Tokens" (argmax per
position).

With "TargetLength" -> n, Characters/Tokens codes are truncated to n or padded: Tokens with the
unknown-token code d+1, Characters with the code of " " when the table has it, else the last
code (the padding code is a guess; ``options["Padding"]`` overrides it).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from engine.errors import EngineError
from engine.spec import DecoderSpec, EncoderSpec, TensorType

# NetEncoder["Characters"]: tab, newline, then the printable ASCII codes 32..126.
DEFAULT_CHARACTERS: tuple[str, ...] = ("\t", "\n", *(chr(c) for c in range(32, 127)))

_UNIT = ("UnitVector", "IndicatorVector")


def _fail(text: str) -> EngineError:
    return EngineError("invindata", text)


def _index(labels: Sequence[Hashable]) -> dict[Hashable, int]:
    out: dict[Hashable, int] = {}
    for i, lab in enumerate(labels, 1):
        out.setdefault(lab, i)
    return out


def characters_table(encoder: EncoderSpec) -> tuple[str, ...]:
    """The characters an encoder knows, in code order (the default table when none given)."""
    labels = encoder.labels
    if not labels:
        return DEFAULT_CHARACTERS
    if len(labels) == 1 and isinstance(labels[0], str) and len(labels[0]) > 1:
        return tuple(labels[0])
    out: list[str] = []
    for lab in labels:
        out.extend(lab if isinstance(lab, str) else [lab])
    return tuple(out)


def encoder_count(encoder: EncoderSpec) -> int:
    """How many codes the encoder can produce (the IndexIntegerT range)."""
    if encoder.kind == "Class":
        return len(encoder.labels)
    if encoder.kind == "Characters":
        return len(characters_table(encoder))
    if encoder.kind == "Tokens":
        return len(encoder.labels) + 1
    return 0


def encoder_type(encoder: EncoderSpec, length: Any = None) -> TensorType:
    """The port type an encoder produces (``length``: the sequence dim, e.g. a LengthVar)."""
    n = encoder_count(encoder)
    unit = encoder.options.get("OutputForm") in _UNIT
    if encoder.kind == "Boolean":
        return TensorType(())
    if encoder.kind == "Scalar":  # a number as a length-1 vector (NetEncoder["Scalar"])
        return TensorType((1,))
    if encoder.kind == "Image":
        from engine.image_coder import image_shape

        return TensorType(image_shape(encoder.options))
    if encoder.kind == "Class":
        return TensorType((n,)) if unit else TensorType((), index_range=n)
    target = encoder.options.get("TargetLength")
    dim = target if isinstance(target, int) else length
    return TensorType((dim, n)) if unit else TensorType((dim,), index_range=n)


def _one_hot(idx: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((*idx.shape, n), dtype=np.float32)
    np.put_along_axis(out, (idx - 1)[..., None], 1.0, axis=-1)
    return out


def _fit(codes: list[int], n: int | None, pad: int) -> np.ndarray:
    if n is not None:
        codes = codes[:n] + [pad] * max(0, n - len(codes))
    return np.asarray(codes, dtype=np.int64)


def encode_column(encoder: EncoderSpec, values: Sequence[Any]) -> np.ndarray | list[np.ndarray]:
    """Encode one column of examples. Fixed shapes give one array (examples first); Characters
    and Tokens without "TargetLength" give one 1-D int64 array per example."""
    kind = encoder.kind
    if kind == "Class":
        table = _index(encoder.labels)
        idx = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            try:
                idx[i] = table[v]
            except (KeyError, TypeError):
                raise _fail(f"example {i + 1}: {v!r} is not one of the class labels "
                            f"{list(encoder.labels)!r}.") from None
        return _one_hot(idx, len(encoder.labels)) if encoder.options.get("OutputForm") in _UNIT else idx
    if kind == "Boolean":
        out = np.empty(len(values), dtype=np.float32)
        for i, v in enumerate(values):
            if not isinstance(v, (bool, np.bool_)):
                raise _fail(f"example {i + 1}: {v!r} is not True or False (Boolean encoder).")
            out[i] = 1.0 if v else 0.0
        return out
    if kind == "Scalar":
        try:
            return np.asarray(values, dtype=np.float32).reshape(len(values), 1)
        except (TypeError, ValueError):
            bad = next((i for i, v in enumerate(values) if not isinstance(v, (int, float))), 0)
            raise _fail(f"example {bad + 1}: {values[bad]!r} is not a real number (Scalar encoder).") from None
    if kind == "Image":
        from engine.image_coder import encode_images

        return encode_images(encoder.options, values)
    if kind in ("Characters", "Tokens"):
        seqs = [_encode_text(encoder, v, i) for i, v in enumerate(values)]
        unit = encoder.options.get("OutputForm") in _UNIT
        n = encoder_count(encoder)
        if isinstance(encoder.options.get("TargetLength"), int):
            arr = np.stack(seqs) if seqs else np.zeros((0, encoder.options["TargetLength"]), np.int64)
            return _one_hot(arr, n) if unit else arr
        return [_one_hot(s, n) for s in seqs] if unit else seqs
    raise EngineError("invnet", f"the {kind!r} encoder is not supported by the engine.")


def _encode_text(encoder: EncoderSpec, value: Any, i: int) -> np.ndarray:
    if not isinstance(value, str):
        raise _fail(f"example {i + 1}: {value!r} is not a string ({encoder.kind} encoder).")
    target = encoder.options.get("TargetLength")
    target = target if isinstance(target, int) else None
    if encoder.kind == "Tokens":
        ignore = encoder.options.get("IgnoreCase", True)
        d = len(encoder.labels)
        table = _index([t.lower() if ignore and isinstance(t, str) else t for t in encoder.labels])
        split = encoder.options.get("SplitPattern")
        words = value.split() if not isinstance(split, str) else [w for w in re.split(re.escape(split), value) if w]
        codes = [table.get(w.lower() if ignore else w, d + 1) for w in words]
        return _fit(codes, target, encoder.options.get("Padding", d + 1))
    chars = characters_table(encoder)
    ignore = encoder.options.get("IgnoreCase", False)
    table = _index(chars)
    codes = []
    for c in value:
        code = table.get(c)
        if code is None and ignore:
            code = table.get(c.lower()) or table.get(c.upper())
        if code is None:
            raise _fail(f"example {i + 1}: the character {c!r} is not in the encoder's table.")
        codes.append(code)
    pad = encoder.options.get("Padding", table.get(" ", len(chars)))
    return _fit(codes, target, pad)


# ---------------------------------------------------------------------------------------------
# Decoders


def _class_labels(decoder: DecoderSpec, n: int) -> tuple[Hashable, ...]:
    labels = decoder.labels or tuple(range(1, n + 1))
    if len(labels) != n:
        raise EngineError("invnet", f"the Class decoder has {len(labels)} labels but the output "
                                    f"has {n} classes.")
    return labels


def decode_column(decoder: DecoderSpec, values: np.ndarray) -> list[Any]:
    """Decode net outputs (examples first): Class -> labels[argmax], Boolean -> p >= 0.5."""
    values = np.asarray(values)
    if decoder.kind == "Class":
        labels = _class_labels(decoder, values.shape[-1])
        idx = values.argmax(-1)
        return _nest(idx, lambda k: labels[int(k)])
    if decoder.kind == "Boolean":
        return _nest(values >= 0.5, bool)
    if decoder.kind == "Scalar":  # a length-1 vector as its number
        return [float(v) for v in values.reshape(len(values), -1)[:, 0]]
    if decoder.kind == "Image":
        from engine.image_coder import decode_image

        return [decode_image(decoder.options, v) for v in values]
    if decoder.kind in ("Characters", "Tokens"):
        return [decode_text(decoder, v) for v in values]
    raise EngineError("invnet", f"the {decoder.kind!r} decoder is not supported by the engine.")


def _nest(arr: np.ndarray, f: Any) -> list[Any]:
    if arr.ndim == 1:
        return [f(x) for x in arr]
    return [_nest(a, f) for a in arr]


def class_probabilities(decoder: DecoderSpec, values: np.ndarray) -> list[dict[Hashable, float]]:
    """Per example, label -> probability, most probable first (the "TopProbabilities" order)."""
    values = np.asarray(values, dtype=np.float64)
    labels = _class_labels(decoder, values.shape[-1])
    out = []
    for row in values.reshape(-1, values.shape[-1]):
        order = np.argsort(-row, kind="stable")
        out.append({labels[int(k)]: float(row[k]) for k in order})
    return out


def decode_text(decoder: DecoderSpec, probs: np.ndarray) -> str:
    """A sequence of probability vectors ``{n, count}`` as the string of its argmax codes:
    Characters concatenated, Tokens joined by spaces (the unknown-token code d+1 dropped)."""
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise EngineError("invnet", f"the {decoder.kind} decoder needs a sequence of "
                                    f"probability vectors, not an array of dimensions "
                                    f"{list(probs.shape)}.")
    codes = probs.argmax(-1)
    if decoder.kind == "Characters":
        table = characters_table(EncoderSpec("Characters", decoder.labels))
        return "".join(table[int(k)] for k in codes if int(k) < len(table))
    return " ".join(str(decoder.labels[int(k)]) for k in codes if int(k) < len(decoder.labels))


def target_encoder(decoder: DecoderSpec, out_type: TensorType, form: str) -> EncoderSpec | None:
    """The encoder NetTrain puts on a decoded output's "Target" for a loss of ``form`` (None when
    the targets are given as the loss takes them): class-like decoders give index targets to
    a cross-entropy "Index" loss (one-hot ones to "Probabilities"), "Boolean" and "Image" give
    reals to "Binary" and the mean losses, "Scalar" a length-1 vector."""
    kind = decoder.kind
    if form == "Index" and kind in ("Class", "Characters", "Tokens"):
        return decoder_to_encoder(decoder)
    if form == "Probabilities" and kind == "Class":
        return EncoderSpec("Class", decoder.labels, {"OutputForm": "UnitVector"})
    if kind == "Boolean" and form == "Binary":
        return EncoderSpec("Boolean")
    if kind == "Scalar" and form in ("MeanSquared", "MeanAbsolute"):
        return EncoderSpec("Scalar")
    if kind == "Image" and form in ("Binary", "MeanSquared", "MeanAbsolute") and \
            out_type.dims is not None and len(out_type.dims) == 3:
        c, h, w = out_type.dims
        options = {**decoder.options, "ImageSize": (int(w), int(h)), "ColorChannels": int(c)}
        options.setdefault("ColorSpace", {1: "Grayscale", 3: "RGB", 4: "CMYK"}.get(int(c), "RGB"))
        return EncoderSpec("Image", (), options)
    return None


def decoder_to_encoder(decoder: DecoderSpec) -> EncoderSpec:
    """The encoder NetTrain puts on the loss "Target" for a decoded output (wl-nets.md §4)."""
    if decoder.kind == "Class":
        return EncoderSpec("Class", decoder.labels)
    if decoder.kind in ("Boolean", "Scalar"):
        return EncoderSpec(decoder.kind)
    if decoder.kind in ("Characters", "Tokens"):
        return EncoderSpec(decoder.kind, decoder.labels, dict(decoder.options))
    raise EngineError("invnet", f"no target encoder is known for the {decoder.kind!r} decoder.")
