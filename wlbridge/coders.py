"""NetEncoder / NetDecoder expressions <-> `EncoderSpec` / `DecoderSpec`, and decoded outputs.

Supported (wl-nets.md §4): encoders "Class" (Index or "IndicatorVector"/"UnitVector"), "Boolean",
"Scalar", "Characters" (``{"Characters", Automatic, ...}`` is the default table), "Tokens",
"Image" (`image_options`; Pillow does the work, `engine.image_coder`); decoders "Class",
"Boolean", "Scalar", "Characters", "Tokens" and "Image". Labels are kept as the Wolfram
values the user wrote (strings, integers, symbols). ``Range[a, b]`` / ``Range[n]`` /
``Range[a, b, d]`` in a label position is expanded literally, because in text it arrives
unevaluated (``NetDecoder[{"Class", Range[0, 9]}]``). Anything else is refused with
``NetTrain::invnet`` naming the coder.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
from wolframclient.language import wl
from wolframclient.language.expression import WLFunction

from engine.spec import DecoderSpec, EncoderSpec, LengthVar, TensorType
from wlbridge.nets.exprs import head_name, invnet, is_int, is_rule, short, split_args, symbol_name

# NetEncoder["Characters"] default table: tab, newline, then codes 32..126 (wl-nets.md §4).
DEFAULT_CHARACTERS = "\t\n" + "".join(chr(c) for c in range(32, 127))

ENCODER_KINDS = ("Class", "Boolean", "Scalar", "Characters", "Tokens", "Image")
DECODER_KINDS = ("Class", "Boolean", "Scalar", "Characters", "Tokens", "Image")
IMAGE_OPTIONS = ("ImageSize", "ColorSpace", "ColorChannels", "MeanImage", "VarianceImage",
                 "Method", "Interleaving", "DataTransposed")


def expand_labels(expr: Any, what: str) -> tuple[Hashable, ...]:
    """Class labels as a tuple; ``Range[...]`` expanded, since text leaves it unevaluated."""
    if head_name(expr) == "Range":
        args = expr.args
        if not all(is_int(a) for a in args) or not 1 <= len(args) <= 3:
            raise invnet(f"{what}: Range with non-integer arguments {short(expr)}")
        lo, hi, step = (1, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
        if step == 0:
            raise invnet(f"{what}: Range step must not be 0")
        return tuple(range(lo, hi + (1 if step > 0 else -1), step))
    if isinstance(expr, np.ndarray):
        return tuple(expr.tolist())
    if not isinstance(expr, (tuple, list)):
        raise invnet(f"{what}: labels should be a list, not {short(expr)}")
    labels = tuple(_hashable(x) for x in expr)
    if len(labels) < 1:
        raise invnet(f"{what}: the list of labels is empty")
    if len(set(labels)) != len(labels):
        raise invnet(f"{what}: the labels are not distinct")
    return labels


def _hashable(x: Any) -> Hashable:
    if isinstance(x, list):
        return tuple(_hashable(v) for v in x)
    return x


def _coder_parts(expr: Any, head: str) -> tuple[str, list[Any], dict[str, Any]]:
    """``Head["kind"]`` or ``Head[{"kind", args..., opts...}]`` -> (kind, args, options)."""
    if head_name(expr) != head or len(expr.args) != 1:
        raise invnet(f"expected {head}[...], got {short(expr)}")
    spec = expr.args[0]
    if isinstance(spec, str):
        return spec, [], {}
    if isinstance(spec, (tuple, list)) and spec and isinstance(spec[0], str):
        # options inside the list may follow positional parameters (wl-nets.md §4)
        positional = [a for a in spec[1:] if not is_rule(a)]
        _, opts = split_args(tuple(a for a in spec[1:] if is_rule(a)))
        return spec[0], positional, dict(opts)
    raise invnet(f"{head}: cannot read the specification {short(spec)}")


def to_encoder_spec(expr: Any) -> EncoderSpec:
    """An `EncoderSpec` from a ``NetEncoder[...]`` expression."""
    kind, args, opts = _coder_parts(expr, "NetEncoder")
    what = f'NetEncoder "{kind}"'
    if kind not in ENCODER_KINDS:
        raise invnet(f'the NetEncoder "{kind}" is not supported (supported: {", ".join(ENCODER_KINDS)})')
    options: dict[str, Any] = {}
    if kind == "Class":
        if not args:
            raise invnet(f"{what} needs a list of labels")
        labels = expand_labels(args[0], what)
        form = args[1] if len(args) > 1 else "Index"
        if form not in ("Index", "IndicatorVector", "UnitVector"):
            raise invnet(f"{what}: unknown output form {short(form)}")
        options["OutputForm"] = "Index" if form == "Index" else "UnitVector"
        _no_extra(what, args, 2, opts, ())
        return EncoderSpec("Class", labels, options)
    if kind in ("Boolean", "Scalar"):
        _no_extra(what, args, 0, opts, ())
        return EncoderSpec(kind)
    if kind == "Image":
        return EncoderSpec("Image", (), image_options(what, args, opts))
    if kind == "Characters":
        table = args[0] if args and symbol_name(args[0]) != "Automatic" else DEFAULT_CHARACTERS
        if isinstance(table, str):
            labels: tuple[Hashable, ...] = tuple(table)
        elif isinstance(table, (tuple, list)) and all(isinstance(c, str) and len(c) == 1 for c in table):
            labels = tuple(table)
        else:
            raise invnet(f"{what}: the character table must be a string or a list of characters")
        if len(set(labels)) != len(labels):
            raise invnet(f"{what}: the character table has repeated characters")
        form = args[1] if len(args) > 1 else "Index"
        if form not in ("Index", "UnitVector"):
            raise invnet(f"{what}: unknown output form {short(form)}")
        options["OutputForm"] = form
        _no_extra(what, args, 2, opts, ("IgnoreCase", "TargetLength"))
        options["IgnoreCase"] = _bool_opt(what, opts, "IgnoreCase", False)
        options["TargetLength"] = _target_length(what, opts)
        return EncoderSpec("Characters", labels, options)
    # Tokens
    if not args or not isinstance(args[0], (tuple, list)) or not all(isinstance(t, str) for t in args[0]):
        raise invnet(f"{what}: give the tokens as a list of strings (named vocabularies are not supported)")
    _no_extra(what, args, 1, opts, ("IgnoreCase", "TargetLength"))
    options["IgnoreCase"] = _bool_opt(what, opts, "IgnoreCase", True)
    options["TargetLength"] = _target_length(what, opts)
    return EncoderSpec("Tokens", tuple(args[0]), options)


def to_decoder_spec(expr: Any) -> DecoderSpec:
    """A `DecoderSpec` from a ``NetDecoder[...]`` expression.

    ``NetDecoder["Class"]`` has no labels here; they are 1..n once the output size is known.
    """
    kind, args, opts = _coder_parts(expr, "NetDecoder")
    what = f'NetDecoder "{kind}"'
    if kind not in DECODER_KINDS:
        raise invnet(f'the NetDecoder "{kind}" is not supported (supported: {", ".join(DECODER_KINDS)})')
    if kind in ("Boolean", "Scalar"):
        _no_extra(what, args, 0, opts, ())
        return DecoderSpec(kind)
    if kind == "Image":
        return DecoderSpec("Image", (), image_options(what, args, opts, decoder=True))
    if kind in ("Characters", "Tokens"):
        enc = to_encoder_spec(WLFunction(wl.NetEncoder, expr.args[0]))
        return DecoderSpec(kind, enc.labels, {k: v for k, v in enc.options.items()
                                              if k == "IgnoreCase"})
    labels = expand_labels(args[0], what) if args else ()
    _no_extra(what, args, 1, opts, ("InputDepth",))
    options = {"InputDepth": opts["InputDepth"]} if "InputDepth" in opts else {}
    return DecoderSpec("Class", labels, options)


def image_options(what: str, args: list[Any], opts: dict[str, Any],
                  decoder: bool = False) -> dict[str, Any]:
    """The "Image" coder's parameters: ``{"Image", size, colorspace, opts...}`` (size n or
    {width, height}; the decoder takes no size) with Wolfram's option names."""
    _no_extra(what, args, 1 if decoder else 2, opts, IMAGE_OPTIONS)
    out: dict[str, Any] = {}
    size = opts.get("ImageSize", None if decoder else (args[0] if args else (128, 128)))
    if size is not None:
        if is_int(size) and size > 0:
            size = (int(size), int(size))
        if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(is_int(d) and d > 0
                                                                         for d in size)):
            raise invnet(f"{what}: the size should be n or {{width, height}}, not {short(size)}")
        out["ImageSize"] = (int(size[0]), int(size[1]))
    space = args[1 if not decoder else 0] if len(args) > (0 if decoder else 1) else \
        opts.get("ColorSpace", None)
    space = symbol_name(space) or space if space is not None else None
    if space is not None and space not in ("RGB", "Grayscale", "CMYK", "HSB"):
        raise invnet(f'{what}: ColorSpace should be "RGB", "Grayscale", "CMYK" or "HSB", not '
                     f"{short(space)}")
    channels = opts.get("ColorChannels")
    if channels is not None and not (is_int(channels) and channels > 0):
        raise invnet(f"{what}: ColorChannels should be a positive integer, not {short(channels)}")
    want = {"RGB": 3, "Grayscale": 1, "CMYK": 4, "HSB": 3}.get(space) if space else None
    if channels is not None and want is not None and channels != want:
        raise invnet(f"{what}: ColorChannels -> {channels} does not fit ColorSpace -> "
                     f'"{space}" ({want} channels)')
    if space is None and channels is not None:
        space = {1: "Grayscale", 3: "RGB", 4: "CMYK"}.get(int(channels))
        if space is None:
            raise invnet(f"{what}: no color space has {channels} channels")
    out["ColorSpace"] = space or "RGB"
    out["ColorChannels"] = {"RGB": 3, "Grayscale": 1, "CMYK": 4, "HSB": 3}[out["ColorSpace"]]
    for name in ("MeanImage", "VarianceImage"):
        v = opts.get(name)
        if v is None or symbol_name(v) == "None":
            continue
        arr = np.asarray(v, dtype=object if not isinstance(v, np.ndarray) else None)
        try:
            out[name] = np.asarray(v, dtype=np.float32) if arr.ndim else float(v)
        except (TypeError, ValueError):
            raise invnet(f"{what}: {name} should be a number, a list of numbers (one per "
                         f"channel) or an array, not {short(v)}") from None
    method = opts.get("Method", "Stretch")
    if method not in ("Stretch", "Fit", "Fill"):
        raise invnet(f'{what}: Method should be "Stretch", "Fit" or "Fill", not {short(method)}')
    out["Method"] = method
    for flag in ("Interleaving", "DataTransposed"):
        if opts.get(flag, False) is not False:
            raise invnet(f"{what}: {flag} -> {short(opts[flag])} is not supported (channels "
                         "first, height before width)")
    return out


def _no_extra(what: str, args: list[Any], max_args: int, opts: dict[str, Any], allowed: tuple[str, ...]) -> None:
    if len(args) > max_args:
        raise invnet(f"{what}: unexpected parameter {short(args[max_args])}")
    for name in opts:
        if name not in allowed:
            raise invnet(f"{what}: unknown option {short(name)}")


def _bool_opt(what: str, opts: dict[str, Any], name: str, default: bool) -> bool:
    v = opts.get(name, default)
    if not isinstance(v, bool):
        raise invnet(f"{what}: {name} should be True or False, not {short(v)}")
    return v


def _target_length(what: str, opts: dict[str, Any]) -> int | None:
    v = opts.get("TargetLength", None)
    if v is None or symbol_name(v) == "All":
        return None
    if is_int(v) and v > 0:
        return int(v)
    raise invnet(f"{what}: TargetLength should be All or a positive integer, not {short(v)}")


def encoder_type(spec: EncoderSpec, length_id: int = 0) -> TensorType:
    """The tensor type an encoder produces (what the net's input port receives)."""
    if spec.kind == "Class":
        n = len(spec.labels)
        return TensorType((n,)) if spec.options.get("OutputForm") == "UnitVector" else TensorType((), n)
    if spec.kind == "Boolean":
        return TensorType(())
    if spec.kind == "Scalar":  # a number as a length-1 vector
        return TensorType((1,))
    if spec.kind == "Image":
        from engine.image_coder import image_shape

        return TensorType(image_shape(spec.options))
    count = len(spec.labels) + (1 if spec.kind == "Tokens" else 0)
    length = spec.options.get("TargetLength") or LengthVar(length_id)
    if spec.options.get("OutputForm") == "UnitVector":
        return TensorType((length, count))
    return TensorType((length,), count)


def decoder_type(spec: DecoderSpec) -> TensorType:
    """The tensor type a decoder consumes (the net's output port), rank left open when unknown."""
    if spec.kind == "Boolean":
        return TensorType(())
    if spec.kind == "Scalar":
        return TensorType((1,))
    if spec.kind == "Image":  # {channels, height, width}; the size comes from the net
        c = spec.options.get("ColorChannels")
        return TensorType((c, None, None) if "ColorSpace" in spec.options else (None,) * 3)
    if spec.kind in ("Characters", "Tokens"):  # a sequence of probability vectors
        return TensorType((None, len(spec.labels) + (spec.kind == "Tokens")))
    if spec.labels and spec.options.get("InputDepth", 1) == 1:
        return TensorType((len(spec.labels),))
    return TensorType(None)


def encoder_to_wl(spec: EncoderSpec) -> Any:
    """The ``NetEncoder[...]`` expression for an `EncoderSpec` (write-back)."""
    if spec.kind in ("Boolean", "Scalar"):
        return wl.NetEncoder(spec.kind)
    if spec.kind == "Class":
        parts: list[Any] = ["Class", tuple(spec.labels)]
        if spec.options.get("OutputForm") == "UnitVector":
            parts.append("UnitVector")
        return wl.NetEncoder(tuple(parts))
    if spec.kind == "Image":
        return wl.NetEncoder(("Image", spec.options["ImageSize"], *_image_rules(spec.options)))
    if spec.kind == "Characters":
        table: Any = "".join(spec.labels)  # type: ignore[arg-type]
        parts = ["Characters", table]
        if spec.options.get("OutputForm") == "UnitVector":
            parts.append("UnitVector")
        if spec.options.get("IgnoreCase"):
            parts.append(wl.Rule("IgnoreCase", True))
    elif spec.kind == "Tokens":
        parts = ["Tokens", tuple(spec.labels)]
        if spec.options.get("IgnoreCase") is False:
            parts.append(wl.Rule("IgnoreCase", False))
    else:
        raise invnet(f'cannot write the NetEncoder "{spec.kind}"')
    if spec.options.get("TargetLength"):
        parts.append(wl.Rule("TargetLength", spec.options["TargetLength"]))
    return wl.NetEncoder(tuple(parts))


def decoder_to_wl(spec: DecoderSpec) -> Any:
    """The ``NetDecoder[...]`` expression for a `DecoderSpec` (write-back)."""
    if spec.kind in ("Boolean", "Scalar"):
        return wl.NetDecoder(spec.kind)
    if spec.kind == "Image":
        return wl.NetDecoder(("Image", *_image_rules(spec.options)))
    if spec.kind in ("Characters", "Tokens"):
        table: Any = "".join(spec.labels) if spec.kind == "Characters" else tuple(spec.labels)
        return wl.NetDecoder((spec.kind, table))
    if spec.kind == "Class":
        if not spec.labels:
            return wl.NetDecoder("Class")
        parts: list[Any] = ["Class", tuple(spec.labels)]
        if "InputDepth" in spec.options:
            parts.append(wl.Rule("InputDepth", spec.options["InputDepth"]))
        return wl.NetDecoder(tuple(parts))
    raise invnet(f'cannot write the NetDecoder "{spec.kind}"')


def _image_rules(options: dict[str, Any]) -> list[Any]:
    rules = [wl.Rule(wl.ColorSpace, options.get("ColorSpace", "RGB"))]
    for name in ("MeanImage", "VarianceImage"):
        if options.get(name) is not None:
            v = options[name]
            rules.append(wl.Rule(name, v if isinstance(v, float) else np.asarray(v, np.float32)))
    if options.get("Method", "Stretch") != "Stretch":
        rules.append(wl.Rule(wl.Method, options["Method"]))
    return rules


def decode(decoder: DecoderSpec, probs: np.ndarray, prop: Any = "Decision") -> Any:
    """Decode one example's output as Wolfram values.

    Class: "Decision" -> the label of the largest probability (first on ties, like Wolfram);
    "Probabilities" -> dict label -> p (an Association); "TopProbabilities" -> tuple of
    ``label -> p`` rules with p > 0.1, largest first; ``("TopDecisions", k)``,
    ``("TopProbabilities", k)``, ``("Probability", label)``, "Entropy". Outputs of higher rank
    (sequences of probability vectors) are decoded position by position into a tuple.
    Boolean: "Decision" -> p >= 0.5, "Probability" -> p as a float.
    """
    probs = np.asarray(probs, dtype=np.float64)
    prop = _prop(prop)
    if decoder.kind in ("Scalar", "Image", "Characters", "Tokens"):
        if prop != "Decision":
            raise invnet(f'unknown property {short(prop)} of a "{decoder.kind}" decoder')
        from engine.encoders import decode_column

        return decode_column(decoder, probs[None])[0]
    if decoder.kind == "Boolean":
        if probs.ndim > 0:
            return tuple(decode(decoder, p, prop) for p in probs)
        if prop == "Decision":
            return bool(probs >= 0.5)
        if prop == "Probability":
            return float(probs)
        raise invnet(f'unknown property {short(prop)} of a "Boolean" decoder (use "Decision" or "Probability")')
    if probs.ndim == 0:
        raise invnet('a "Class" decoder needs a vector of probabilities, got a scalar')
    if probs.ndim > 1:
        return tuple(decode(decoder, p, prop) for p in probs)
    labels = decoder.labels or tuple(range(1, probs.shape[0] + 1))
    if len(labels) != probs.shape[0]:
        raise invnet(f'the "Class" decoder has {len(labels)} labels but the output has length {probs.shape[0]}')
    order = np.argsort(-probs, kind="stable")
    if prop == "Decision":
        return labels[int(np.argmax(probs))]
    if prop == "Probabilities":
        return {lab: float(p) for lab, p in zip(labels, probs, strict=True)}
    if prop == "TopProbabilities":
        return tuple(wl.Rule(labels[i], float(probs[i])) for i in order if probs[i] > 0.1)
    if prop == "Entropy":
        p = probs[probs > 0]
        return float(-(p * np.log(p)).sum())
    if isinstance(prop, tuple) and len(prop) == 2:
        name, arg = prop
        if name == "TopDecisions" and is_int(arg):
            return tuple(labels[i] for i in order[: int(arg)])
        if name == "TopProbabilities" and is_int(arg):
            return tuple(wl.Rule(labels[i], float(probs[i])) for i in order[: int(arg)])
        if name == "Probability":
            if arg not in labels:
                raise invnet(f"{short(arg)} is not one of the class labels")
            return float(probs[labels.index(arg)])
    raise invnet(f'unknown property {short(prop)} of a "Class" decoder')


def _prop(prop: Any) -> Any:
    if isinstance(prop, list):
        return tuple(prop)
    return prop
