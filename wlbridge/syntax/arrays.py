"""numpy arrays as exact InputForm (see `writer`): NumericArray where Wolfram has the type,
exact nested lists where it has none (float16, bool, an empty last dimension), an error where
no text can hold the array (an empty dimension followed by another: shape (0, 3))."""

from __future__ import annotations

from typing import Any

NP_TYPES = {
    "int8": "Integer8", "int16": "Integer16", "int32": "Integer32", "int64": "Integer64",
    "uint8": "UnsignedInteger8", "uint16": "UnsignedInteger16", "uint32": "UnsignedInteger32",
    "uint64": "UnsignedInteger64", "float32": "Real32", "float64": "Real64",
    "complex64": "ComplexReal32", "complex128": "ComplexReal64",
}
_AS_LISTS = {"float16", "bool"}


def _real_texts(a: Any) -> list[str]:
    """Shortest text for each element of a real array that reads back to that element."""
    import numpy as np

    from wlbridge.syntax.writer import float_text

    flat = a.reshape(-1)
    if a.dtype == np.float64 or a.dtype == np.float16:  # float16: its exact double value
        return [float_text(v) for v in flat.astype(np.float64).tolist()]
    doubles = [float(str(v)) for v in flat]  # str(): the shortest digits for the element type
    texts = [float_text(x) for x in doubles]
    # Reading those digits as a double and rounding to the type again can differ in rare
    # ties: those elements get the digits of their exact double instead.
    finite = np.isfinite(flat)
    back = np.array(doubles, dtype=np.float64).astype(a.dtype)
    for i in np.nonzero(finite & (back != flat))[0].tolist():
        texts[i] = float_text(float(flat[i]))
    return texts


def _element_texts(a: Any) -> list[str]:
    kind = a.dtype.kind
    if kind == "b":
        return ["True" if v else "False" for v in a.reshape(-1).tolist()]
    if kind in "iu":
        return [str(v) for v in a.reshape(-1).tolist()]
    if kind == "c":
        re_, im = _real_texts(a.real.copy()), _real_texts(a.imag.copy())
        return [f"Complex[{r}, {i}]" for r, i in zip(re_, im, strict=True)]
    return _real_texts(a)


def _nest(texts: list[str], shape: tuple[int, ...]) -> str:
    it = iter(texts)

    def build(dims: tuple[int, ...]) -> str:
        if len(dims) == 1:
            return "{" + ", ".join(next(it) for _ in range(dims[0])) + "}"
        return "{" + ", ".join(build(dims[1:]) for _ in range(dims[0])) + "}"

    return build(shape)


def array_text(a: Any) -> str:
    name = a.dtype.name
    if name not in NP_TYPES and name not in _AS_LISTS:
        raise TypeError(f"to_text: no Wolfram form for a numpy array of dtype {a.dtype}")
    if a.ndim == 0:
        return _element_texts(a.reshape(1))[0]
    if 0 in a.shape[:-1]:
        raise ValueError(f"to_text: a numpy array of shape {a.shape} has no exact Wolfram "
                         "form (a list cannot hold the dimensions after an empty one)")
    body = _nest(_element_texts(a), a.shape) if a.size else _nest([], a.shape)
    if a.size == 0 or name in _AS_LISTS:
        return body
    return f'NumericArray[{body}, "{NP_TYPES[name]}"]'
