"""NetEncoder["Image"] / NetDecoder["Image"] (the "Image" encoder page: a rank-3 tensor
{channels, height, width} of pixel values in [0, 1], "MeanImage" subtracted and "VarianceImage"
normalised by, "ImageSize" width first) and the Scalar, Characters and Tokens decoders, each
against an independent numpy computation."""

from __future__ import annotations

import numpy as np
import pytest

import wlbridge
from engine.encoders import decode_column, encode_column
from engine.spec import DecoderSpec, EncoderSpec
from wlbridge.coders import decoder_to_wl, encoder_to_wl, to_decoder_spec, to_encoder_spec
from wlbridge.messages import WLMessage
from wlbridge.syntax import parse, to_text

PIL = pytest.importorskip("PIL.Image")
RNG = np.random.default_rng(5)


def enc(text: str) -> EncoderSpec:
    return to_encoder_spec(parse(text))


def test_gray_array_of_the_right_size_is_pixels_over_255():
    pixels = RNG.integers(0, 256, size=(6, 4), dtype=np.uint8)  # height 6, width 4
    e = enc('NetEncoder[{"Image", {4, 6}, "Grayscale"}]')
    out = encode_column(e, [pixels])
    assert out.shape == (1, 1, 6, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], pixels / 255.0, atol=1e-7)


def test_rgb_files_pil_images_and_arrays_agree(tmp_path):
    rgb = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    PIL.fromarray(rgb).save(path)
    e = enc('NetEncoder[{"Image", {7, 5}}]')
    out = encode_column(e, [str(path), PIL.fromarray(rgb), rgb, rgb / 255.0])
    expected = rgb.transpose(2, 0, 1) / 255.0
    for x in out:
        np.testing.assert_allclose(x, expected, atol=1e-6)


def test_mean_and_variance_images():
    """(x - mean) / sqrt(variance), per channel or per pixel."""
    rgb = RNG.integers(0, 256, size=(3, 3, 3), dtype=np.uint8)
    e = enc('NetEncoder[{"Image", {3, 3}, "MeanImage" -> {0.5, 0.25, 0.}, '
            '"VarianceImage" -> 0.04}]')
    out = encode_column(e, [rgb])[0]
    x = rgb.transpose(2, 0, 1) / 255.0
    expected = (x - np.array([0.5, 0.25, 0.0])[:, None, None]) / 0.2
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    dec = to_decoder_spec(parse('NetDecoder[{"Image", "MeanImage" -> {0.5, 0.25, 0.}, '
                                '"VarianceImage" -> 0.04}]'))
    img = decode_column(dec, out[None])[0]
    np.testing.assert_array_equal(np.asarray(img), rgb)


def test_resizing_methods():
    """Stretch resamples to the size; Fit keeps the aspect and pads black; Fill crops."""
    wide = np.full((4, 8), 255, dtype=np.uint8)  # height 4, width 8
    fit = encode_column(enc('NetEncoder[{"Image", {4, 4}, "Grayscale", Method -> "Fit"}]'),
                        [wide])[0, 0]
    assert fit.shape == (4, 4)
    np.testing.assert_allclose(fit[1:3], 1.0)  # the 4x2 content, centred
    np.testing.assert_allclose(fit[[0, 3]], 0.0)  # black padding above and below
    fill = encode_column(enc('NetEncoder[{"Image", {4, 4}, "Grayscale", Method -> "Fill"}]'),
                         [wide])[0, 0]
    np.testing.assert_allclose(fill, 1.0)
    stretch = encode_column(enc('NetEncoder[{"Image", {2, 2}, "Grayscale"}]'), [wide])
    assert stretch.shape == (1, 1, 2, 2)


def test_color_space_conversion_uses_luma():
    """An RGB image to a Grayscale encoder: ITU-R 601 luma (what Pillow's "L" computes)."""
    rgb = np.zeros((1, 1, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    out = encode_column(enc('NetEncoder[{"Image", {1, 1}, ColorSpace -> "Grayscale"}]'), [rgb])
    assert out[0, 0, 0, 0] == pytest.approx(round(0.299 * 255) / 255, abs=1 / 255)


def test_bad_images_give_one_message():
    e = enc('NetEncoder[{"Image", {4, 4}, "Grayscale"}]')
    from engine.errors import EngineError

    with pytest.raises(EngineError, match=r"example 2: expected an image .* dimensions \[3, 3, 7\]"):
        encode_column(e, [np.zeros((4, 4)), np.zeros((3, 3, 7))])
    with pytest.raises(EngineError, match="cannot be read"):
        encode_column(e, ["/no/such/file.png"])


def test_image_of_the_wrong_size_for_a_fixed_input_port():
    """Without an encoder the port wants exactly its dims: one NetTrain message."""
    net = 'NetChain[{FlattenLayer[], LinearLayer[2], SoftmaxLayer[]}, "Input" -> {1, 28, 28}]'
    with pytest.raises(WLMessage, match=r"^NetTrain::invtdata: example 1 of port 'Input' in the "
                                        r"training data has dimensions \[1, 32, 32\], but the "
                                        r"port expects \[1, 28, 28\]\.$"):
        wlbridge.net_train(net, {"Input": np.zeros((4, 1, 32, 32)), "Output": [1, 2, 1, 2]},
                           TrainingProgressReporting=None)


def test_encoder_writes_back_and_reads_again():
    e = enc('NetEncoder[{"Image", {8, 6}, ColorSpace -> "Grayscale", "MeanImage" -> 0.5, '
            'Method -> "Fit"}]')
    again = to_encoder_spec(parse(to_text(encoder_to_wl(e))))
    assert again.options["ImageSize"] == (8, 6) and again.options["ColorSpace"] == "Grayscale"
    assert again.options["MeanImage"] == 0.5 and again.options["Method"] == "Fit"
    d = to_decoder_spec(parse('NetDecoder[{"Characters", "ab"}]'))
    assert to_decoder_spec(parse(to_text(decoder_to_wl(d)))) == d


def test_scalar_characters_and_tokens_decoders():
    assert decode_column(DecoderSpec("Scalar"), np.array([[1.5], [-2.0]])) == [1.5, -2.0]
    chars = to_decoder_spec(parse('NetDecoder[{"Characters", "abc"}]'))
    probs = np.eye(3)[[2, 0, 1, 1]]  # codes 3, 1, 2, 2
    assert decode_column(chars, probs[None]) == ["cabb"]
    toks = to_decoder_spec(parse('NetDecoder[{"Tokens", {"the", "cat", "sat"}}]'))
    probs = np.eye(4)[[1, 2, 3, 0]]  # cat, sat, <unknown>, the
    assert decode_column(toks, probs[None]) == ["cat sat the"]


def test_characters_automatic_is_the_default_table():
    auto = enc('NetEncoder[{"Characters", Automatic, "UnitVector"}]')
    plain = enc('NetEncoder["Characters"]')
    assert auto.labels == plain.labels and len(auto.labels) == 97
    assert auto.options["OutputForm"] == "UnitVector"


def test_image_decoder_on_a_net_output():
    net = wlbridge.Net('NetChain[{ElementwiseLayer[Ramp]}, "Input" -> {3, 2, 4}, '
                       '"Output" -> NetDecoder["Image"]]')
    x = RNG.uniform(0, 1, size=(3, 2, 4)).astype(np.float32)
    img = net(x)
    assert img.size == (4, 2) and img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), np.round(x.transpose(1, 2, 0) * 255))


@pytest.mark.parametrize("net, data, probe", [
    ('NetChain[{FlattenLayer[], LinearLayer[2], SoftmaxLayer[]}, "Input" -> NetEncoder[{"Image", '
     '{4, 3}, "Grayscale", "MeanImage" -> 0.5}], "Output" -> NetDecoder[{"Class", {"x", "y"}}]]',
     {"Input": list(RNG.integers(0, 256, (8, 5, 6), dtype=np.uint8)), "Output": ["x", "y"] * 4},
     list(RNG.integers(0, 256, (3, 5, 6), dtype=np.uint8))),
    ('NetChain[{LinearLayer[4], Tanh, LinearLayer[1]}, "Input" -> "Scalar", "Output" -> "Scalar"]',
     [(0.1, 0.2), (0.5, 1.0), (0.9, 1.8)], [0.3, 0.7]),
    ('NetChain[{NetMapOperator[LinearLayer[3]], SoftmaxLayer[]}, "Input" -> {"Varying", 2}, '
     '"Output" -> NetDecoder[{"Characters", "abc"}]]',
     {"Input": [RNG.normal(size=(4, 2)), RNG.normal(size=(3, 2))], "Output": ["abca", "ccb"]},
     [RNG.normal(size=(5, 2))]),
    ('NetChain[{LinearLayer[{3, 2, 2}], LogisticSigmoid}, "Input" -> 2, '
     '"Output" -> NetDecoder["Image"]]',
     {"Input": RNG.normal(size=(4, 2)), "Output": list(RNG.uniform(size=(4, 2, 2, 3)))},
     [RNG.normal(size=2)]),
])
def test_trained_nets_with_coders_write_back(net, data, probe):
    """Targets given as the decoders' values (labels, numbers, strings, images) are encoded for
    the loss; to_text of the trained net reads back (coders included) with the same outputs."""
    trained = wlbridge.net_train(net, data, MaxTrainingRounds=2, TrainingProgressReporting=None)
    again = wlbridge.Net(to_text(trained.to_wl()))
    a, b = trained(probe), again(probe)
    if hasattr(a[0], "mode"):  # PIL images
        a, b = [np.asarray(i) for i in a], [np.asarray(i) for i in b]
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b
