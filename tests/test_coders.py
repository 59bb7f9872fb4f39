"""NetEncoder / NetDecoder expressions <-> specs, and decoding (wl-nets.md §4)."""

from __future__ import annotations

import numpy as np
import pytest
from wolframclient.deserializers import binary_deserialize
from wolframclient.language import wl
from wolframclient.serializers import export

from engine.spec import DecoderSpec, EncoderSpec, LengthVar, TensorType
from wlbridge.coders import (
    DEFAULT_CHARACTERS,
    decode,
    decoder_to_wl,
    decoder_type,
    encoder_to_wl,
    encoder_type,
    to_decoder_spec,
    to_encoder_spec,
)
from wlbridge.messages import WLMessage


def wxf(e):
    return binary_deserialize(export(e, target_format="wxf"))


def test_class_decoder_range_labels_are_expanded():
    """§6.2 net 1: ``Range[0, 9]`` arrives unevaluated in text and means the labels 0..9."""
    spec = to_decoder_spec(wl.NetDecoder(("Class", wl.Range(0, 9))))
    assert spec == DecoderSpec("Class", tuple(range(10)))
    assert to_decoder_spec(wl.NetDecoder(("Class", wl.Range(3)))).labels == (1, 2, 3)
    assert to_decoder_spec(wl.NetDecoder(("Class", wl.Range(10, 0, -5)))).labels == (10, 5, 0)


def test_class_labels_keep_wolfram_values():
    labels = ("cat", 7, wl.Global.dog)
    spec = to_encoder_spec(wl.NetEncoder(("Class", labels)))
    assert spec.kind == "Class" and spec.labels == labels
    assert spec.options["OutputForm"] == "Index"
    assert encoder_type(spec) == TensorType((), 3)


def test_class_encoder_indicator_vector():
    spec = to_encoder_spec(wl.NetEncoder(("Class", ("a", "b"), "IndicatorVector")))
    assert spec.options["OutputForm"] == "UnitVector"
    assert encoder_type(spec) == TensorType((2,))


def test_boolean_scalar_encoders():
    assert to_encoder_spec(wl.NetEncoder("Boolean")) == EncoderSpec("Boolean")
    assert encoder_type(EncoderSpec("Boolean")) == TensorType(())
    assert to_encoder_spec(wl.NetEncoder("Scalar")).kind == "Scalar"


def test_characters_encoder_table_and_default():
    """§4: a string table gives each character the next code; the default has 97 characters."""
    spec = to_encoder_spec(wl.NetEncoder(("Characters", "abc", wl.Rule("IgnoreCase", True))))
    assert spec.labels == ("a", "b", "c")
    assert spec.options["IgnoreCase"] is True
    t = encoder_type(spec, length_id=5)
    assert t == TensorType((LengthVar(5),), 3)
    default = to_encoder_spec(wl.NetEncoder("Characters"))
    assert len(default.labels) == 97 == len(DEFAULT_CHARACTERS)
    assert default.labels[:3] == ("\t", "\n", " ")


def test_tokens_encoder_counts_unknown_token():
    """§4: tokens are 1..d, unknown tokens d+1, so the index range is d+1."""
    spec = to_encoder_spec(wl.NetEncoder(("Tokens", ("the", "movie", "was"))))
    assert spec.labels == ("the", "movie", "was")
    assert spec.options["IgnoreCase"] is True
    assert encoder_type(spec, 1) == TensorType((LengthVar(1),), 4)


def test_boolean_decoder_and_types():
    spec = to_decoder_spec(wl.NetDecoder("Boolean"))
    assert spec == DecoderSpec("Boolean")
    assert decoder_type(spec) == TensorType(())
    assert decoder_type(DecoderSpec("Class", ("a", "b"))) == TensorType((2,))


@pytest.mark.parametrize("expr", [
    wl.NetEncoder(("Class", ("a", "b", "c"))),
    wl.NetEncoder(("Class", (1, 2), "UnitVector")),
    wl.NetEncoder("Boolean"),
    wl.NetEncoder(("Characters", "xyz")),
    wl.NetEncoder(("Tokens", ("good", "bad"))),
])
def test_encoder_write_back_round_trip(expr):
    spec = to_encoder_spec(expr)
    back = encoder_to_wl(spec)
    assert to_encoder_spec(back) == spec
    assert to_encoder_spec(wxf(back)) == spec  # WXF gives tuples and the same values


@pytest.mark.parametrize("expr", [
    wl.NetDecoder(("Class", ("neg", "pos"))),
    wl.NetDecoder(("Class", wl.Range(0, 9))),
    wl.NetDecoder("Boolean"),
])
def test_decoder_write_back_round_trip(expr):
    spec = to_decoder_spec(expr)
    assert to_decoder_spec(wxf(decoder_to_wl(spec))) == spec


def test_decode_class_properties():
    dec = DecoderSpec("Class", ("a", "b", "c"))
    p = np.array([0.2, 0.5, 0.3], dtype=np.float32)
    assert decode(dec, p) == "b"
    probs = decode(dec, p, "Probabilities")
    assert list(probs) == ["a", "b", "c"]
    assert probs["b"] == pytest.approx(0.5)
    assert decode(dec, p, ("TopDecisions", 2)) == ("b", "c")
    assert decode(dec, p, ("Probability", "c")) == pytest.approx(0.3)
    assert decode(dec, p, "Entropy") == pytest.approx(-(p * np.log(p)).sum(), rel=1e-6)
    top = decode(dec, p, "TopProbabilities")
    assert [r.args[0] for r in top] == ["b", "c", "a"]


def test_decode_class_without_labels_and_sequences():
    """``NetDecoder["Class"]`` uses labels 1..n; a sequence of vectors decodes per position."""
    assert decode(DecoderSpec("Class"), np.array([0.1, 0.9])) == 2
    seq = np.array([[0.9, 0.1], [0.3, 0.7]])
    assert decode(DecoderSpec("Class", ("x", "y")), seq) == ("x", "y")


def test_decode_boolean():
    dec = DecoderSpec("Boolean")
    assert decode(dec, np.float32(0.5)) is True
    assert decode(dec, np.float32(0.2)) is False
    assert decode(dec, np.float32(0.25), "Probability") == pytest.approx(0.25)


@pytest.mark.parametrize("expr, fragment", [
    (wl.NetEncoder(("Audio",)), 'NetEncoder "Audio" is not supported'),
    (wl.NetEncoder(("Image", (28, 28), "Sepia")), 'ColorSpace should be "RGB"'),
    (wl.NetEncoder(("Image", (28, 28), wl.Rule("ColorChannels", 3), wl.Rule("ColorSpace", "Grayscale"))),
     'ColorChannels -> 3 does not fit ColorSpace -> "Grayscale"'),
    (wl.NetEncoder(("Image", (28, 28), wl.Rule("Interleaving", True))), "Interleaving -> True is not supported"),
    (wl.NetEncoder(("Class", ("a", "a"))), "not distinct"),
    (wl.NetEncoder(("Class",)), "needs a list of labels"),
    (wl.NetEncoder(("Characters", "abc", wl.Rule("Foo", 1))), 'unknown option "Foo"'),
    (wl.NetEncoder(("Tokens", "English")), "list of strings"),
    (wl.NetDecoder(("Class", wl.Range(0.5, 3))), "non-integer"),
    (wl.NetDecoder("Audio"), 'NetDecoder "Audio" is not supported'),
    (wl.NetDecoder(("Image", wl.Rule("Method", "Squash"))), 'Method should be "Stretch"'),
])
def test_bad_coders(expr, fragment):
    reader = to_encoder_spec if expr.head.name == "NetEncoder" else to_decoder_spec
    with pytest.raises(WLMessage) as err:
        reader(expr)
    assert str(err.value).startswith("NetTrain::invnet:")
    assert fragment in str(err.value)


def test_bad_decode_property():
    with pytest.raises(WLMessage, match="unknown property"):
        decode(DecoderSpec("Class", ("a", "b")), np.array([0.5, 0.5]), "Nonsense")
    with pytest.raises(WLMessage, match="2 labels but the output has length 3"):
        decode(DecoderSpec("Class", ("a", "b")), np.array([0.2, 0.3, 0.5]))
