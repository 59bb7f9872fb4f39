"""NetEncoder["Image"] and NetDecoder["Image"] on plain Python values, through Pillow.

Encoder options (``EncoderSpec("Image", options=...)``, Wolfram's parameter names):
"ImageSize" ``(width, height)`` (default 128 x 128), "ColorSpace" ("RGB", "Grayscale", "CMYK",
"HSB"), "ColorChannels" (the channel count, from the color space), "MeanImage" and
"VarianceImage" (None, a number, one number per channel, or an array ``{c, h, w}``), Method
("Stretch", "Fit" with black padding, "Fill" with a centred crop).

An example is a file path, a PIL image, or an array as images are held in Python: ``{h, w}``
or ``{h, w, c}`` (channels last), 8-bit (0..255) or real (0..1). It becomes a Real32 array
``{c, h, w}`` (note: "ImageSize" is width first, the tensor height first, wl-nets.md §8.9) with
pixel values in [0, 1], minus MeanImage, divided by the square root of VarianceImage. The
decoder undoes that and gives a PIL image. Pillow is the optional extra ``wlbridge[images]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.errors import EngineError

COLOR_MODES = {"RGB": "RGB", "Grayscale": "L", "CMYK": "CMYK", "HSB": "HSV"}
CHANNELS = {"RGB": 3, "Grayscale": 1, "CMYK": 4, "HSB": 3}
DEFAULT_SIZE = (128, 128)


def _fail(text: str) -> EngineError:
    return EngineError("invindata", text)


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise EngineError("invnet", 'the "Image" coders need Pillow: pip install '
                                    '"wlbridge[images]".') from None
    return Image


def image_shape(options: dict[str, Any]) -> tuple[int, int, int]:
    """The tensor dims ``(channels, height, width)`` the encoder gives."""
    w, h = options.get("ImageSize") or DEFAULT_SIZE
    return channel_count(options), int(h), int(w)


def channel_count(options: dict[str, Any]) -> int:
    space = options.get("ColorSpace") or "RGB"
    return int(options.get("ColorChannels") or CHANNELS.get(space, 3))


def color_space(options: dict[str, Any]) -> str:
    """The color space, from "ColorSpace" or else the channel count (1 = Grayscale)."""
    if options.get("ColorSpace"):
        return options["ColorSpace"]
    return "Grayscale" if options.get("ColorChannels") == 1 else "RGB"


def encode_images(options: dict[str, Any], values: Sequence[Any]) -> np.ndarray:
    """One column of images as a Real32 array ``{n, c, h, w}``."""
    c, h, w = image_shape(options)
    out = np.empty((len(values), c, h, w), dtype=np.float32)
    mean = _stat(options.get("MeanImage"), (c, h, w), "MeanImage")
    var = _stat(options.get("VarianceImage"), (c, h, w), "VarianceImage")
    for i, v in enumerate(values):
        out[i] = _one(options, v, i, (c, h, w))
    if mean is not None:
        out -= mean
    if var is not None:
        out /= np.sqrt(var)
    return out


def _one(options: dict[str, Any], value: Any, i: int, shape: tuple[int, int, int]) -> np.ndarray:
    c, h, w = shape
    img = _as_pil(value, i)
    mode = COLOR_MODES.get(color_space(options), "RGB")
    if img.mode != mode:
        img = img.convert("RGB").convert(mode) if mode != "RGB" else img.convert("RGB")
    img = _conform(img, (w, h), options.get("Method") or "Stretch")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    if arr.shape[2] != c:
        raise _fail(f"example {i + 1}: the image has {arr.shape[2]} color channels, but the "
                    f"encoder takes {c}.")
    return arr.transpose(2, 0, 1)


def _as_pil(value: Any, i: int) -> Any:
    image = _pil()
    if isinstance(value, image.Image):
        return value
    if isinstance(value, str | bytes) or hasattr(value, "__fspath__"):
        try:
            img = image.open(value)
            img.load()
            return img
        except (OSError, ValueError) as err:
            raise _fail(f"example {i + 1}: the image file {str(value)!r} cannot be read "
                        f"({err}).") from None
    try:
        arr = np.asarray(value)
    except ValueError:
        arr = np.empty(0, dtype=object)
    if arr.dtype == object or arr.dtype.kind not in "biuf" or arr.ndim not in (2, 3) or \
            (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise _fail(f"example {i + 1}: expected an image (a file, a PIL image, or an array "
                    f"{{height, width}} or {{height, width, channels}}), not "
                    f"{_describe(value, arr)}.")
    if arr.dtype.kind == "f":
        arr = np.clip(arr, 0.0, 1.0) * 255.0
    arr = np.round(arr).clip(0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return image.fromarray(arr)


def _describe(value: Any, arr: np.ndarray) -> str:
    if arr.dtype != object and arr.ndim:
        return f"an array of dimensions {list(arr.shape)}"
    return repr(value)[:40]


def _conform(img: Any, size: tuple[int, int], method: str) -> Any:
    """Resize to ``size`` = (width, height): "Stretch", "Fit" (pad black) or "Fill" (crop)."""
    if img.size == size:
        return img
    image = _pil()
    if method == "Stretch":
        return img.resize(size, image.Resampling.BILINEAR)
    w, h = size
    scale = (min if method == "Fit" else max)(w / img.width, h / img.height)
    scaled = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                        image.Resampling.BILINEAR)
    if method == "Fit":
        canvas = image.new(img.mode, size)
        canvas.paste(scaled, ((w - scaled.width) // 2, (h - scaled.height) // 2))
        return canvas
    left, top = (scaled.width - w) // 2, (scaled.height - h) // 2
    return scaled.crop((left, top, left + w, top + h))


def _stat(value: Any, shape: tuple[int, int, int], name: str) -> np.ndarray | None:
    """MeanImage/VarianceImage as an array broadcasting against ``{c, h, w}``."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1 and arr.shape[0] == shape[0]:
        return arr.reshape(-1, 1, 1)
    if arr.shape == shape:
        return arr
    raise EngineError("invnet", f'the "{name}" of the image encoder should be a number, one '
                                f"number per channel ({shape[0]}) or an array of dimensions "
                                f"{list(shape)}, not an array of dimensions {list(arr.shape)}.")


def decode_image(options: dict[str, Any], values: np.ndarray) -> Any:
    """One output ``{c, h, w}`` as a PIL image (the encoder's normalisation undone)."""
    arr = np.asarray(values, dtype=np.float32)
    if arr.ndim != 3:
        raise EngineError("invnet", f'the "Image" decoder needs an array {{channels, height, '
                                    f"width}}, not one of dimensions {list(arr.shape)}.")
    var = _stat(options.get("VarianceImage"), arr.shape, "VarianceImage")
    mean = _stat(options.get("MeanImage"), arr.shape, "MeanImage")
    if var is not None:
        arr = arr * np.sqrt(var)
    if mean is not None:
        arr = arr + mean
    pixels = (np.clip(arr, 0.0, 1.0) * 255.0).round().astype(np.uint8).transpose(1, 2, 0)
    image = _pil()
    mode = {1: "L", 3: COLOR_MODES.get(color_space(options), "RGB"), 4: "CMYK"}.get(pixels.shape[2])
    if mode is None or (mode == "L") != (pixels.shape[2] == 1):
        raise EngineError("invnet", f'the "Image" decoder cannot make an image of '
                                    f"{pixels.shape[2]} channels.")
    size = (pixels.shape[1], pixels.shape[0])
    return image.frombytes(mode, size, np.ascontiguousarray(pixels).tobytes())
