"""Encoders and decoders (wl-nets.md §4): 1-based codes, defaults, messages naming the example."""

from __future__ import annotations

import numpy as np
import pytest

from engine.encoders import (
    DEFAULT_CHARACTERS,
    class_probabilities,
    decode_column,
    decoder_to_encoder,
    encode_column,
    encoder_type,
)
from engine.errors import EngineError
from engine.spec import DecoderSpec, EncoderSpec, LengthVar, TensorType


def test_class_index_and_unit_vector():
    enc = EncoderSpec("Class", ("cat", "dog", "bird"))
    np.testing.assert_array_equal(encode_column(enc, ["dog", "cat", "bird"]), [2, 1, 3])
    assert encoder_type(enc) == TensorType((), index_range=3)
    uv = EncoderSpec("Class", ("cat", "dog", "bird"), {"OutputForm": "UnitVector"})
    np.testing.assert_array_equal(encode_column(uv, ["bird", "cat"]), [[0, 0, 1], [1, 0, 0]])
    assert encoder_type(uv) == TensorType((3,))


def test_class_labels_may_be_numbers():
    enc = EncoderSpec("Class", tuple(range(10)))
    np.testing.assert_array_equal(encode_column(enc, [0, 9, np.int64(3)]), [1, 10, 4])


def test_unknown_class_label_names_the_example():
    enc = EncoderSpec("Class", ("a", "b"))
    with pytest.raises(EngineError, match=r"example 3: 'z' is not one of the class labels"):
        encode_column(enc, ["a", "b", "z"])


def test_boolean_and_scalar():
    np.testing.assert_array_equal(encode_column(EncoderSpec("Boolean"), [True, False, True]), [1, 0, 1])
    with pytest.raises(EngineError, match="example 2: 1 is not True or False"):
        encode_column(EncoderSpec("Boolean"), [True, 1])
    # NetEncoder["Scalar"] gives a length-1 vector: the paclet's layer tests build
    # ConstantPlusLayer with "Input" -> "Scalar" and get an output of dimensions {1}.
    np.testing.assert_allclose(encode_column(EncoderSpec("Scalar"), [1, 2.5]), [[1.0], [2.5]])
    with pytest.raises(EngineError, match="example 2: 'x' is not a real number"):
        encode_column(EncoderSpec("Scalar"), [1.0, "x"])


def test_default_characters_table():
    """§4: tab, newline, then codes 32..126: 97 characters."""
    assert len(DEFAULT_CHARACTERS) == 97
    enc = EncoderSpec("Characters")
    out = encode_column(enc, ["\tA ", "~"])
    assert isinstance(out, list)
    np.testing.assert_array_equal(out[0], [1, 2 + 65 - 31, 3])
    np.testing.assert_array_equal(out[1], [97])
    assert encoder_type(enc, LengthVar(0)) == TensorType((LengthVar(0),), index_range=97)


def test_characters_table_target_length_and_ignore_case():
    enc = EncoderSpec("Characters", ("abc ",), {"TargetLength": 4})
    np.testing.assert_array_equal(encode_column(enc, ["cab", "abcabc"]), [[3, 1, 2, 4], [1, 2, 3, 1]])
    with pytest.raises(EngineError, match="example 1: the character 'A' is not in the encoder's table"):
        encode_column(EncoderSpec("Characters", ("abc",)), ["Abc"])
    ic = EncoderSpec("Characters", ("abc",), {"IgnoreCase": True})
    np.testing.assert_array_equal(encode_column(ic, ["CAB"])[0], [3, 1, 2])


def test_tokens_unknown_is_d_plus_one_and_case_is_ignored():
    enc = EncoderSpec("Tokens", ("the", "movie", "was", "good"))
    out = encode_column(enc, ["The movie was  GREAT", "good"])
    np.testing.assert_array_equal(out[0], [1, 2, 3, 5])
    np.testing.assert_array_equal(out[1], [4])
    fixed = EncoderSpec("Tokens", ("a", "b"), {"TargetLength": 3})
    np.testing.assert_array_equal(encode_column(fixed, ["a b a b", "b"]), [[1, 2, 1], [2, 3, 3]])
    cs = EncoderSpec("Tokens", ("A",), {"IgnoreCase": False})
    np.testing.assert_array_equal(encode_column(cs, ["A a"])[0], [1, 2])


def test_class_decoder_argmax_and_probabilities():
    dec = DecoderSpec("Class", ("neg", "neu", "pos"))
    p = np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])
    assert decode_column(dec, p) == ["pos", "neg"]
    probs = class_probabilities(dec, p)
    assert list(probs[0]) == ["pos", "neu", "neg"]
    assert probs[1]["neu"] == pytest.approx(0.3)
    assert decode_column(DecoderSpec("Class"), p) == [3, 1]
    with pytest.raises(EngineError, match="2 labels but the output has 3 classes"):
        decode_column(DecoderSpec("Class", ("a", "b")), p)


def test_boolean_decoder_threshold_and_target_encoders():
    assert decode_column(DecoderSpec("Boolean"), np.array([0.5, 0.49, 0.9])) == [True, False, True]
    assert decoder_to_encoder(DecoderSpec("Class", ("a",))) == EncoderSpec("Class", ("a",))
    assert decoder_to_encoder(DecoderSpec("Boolean")).kind == "Boolean"
