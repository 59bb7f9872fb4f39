"""Shape checks of arrays given in a layer's constructor that need no shape inference.

The engine checks the rest when it builds the layer; checking these here names the layer's
position in the user's expression (wl-nets.md §2: arrays by name, Wolfram layout).
"""

from __future__ import annotations

import numpy as np

from engine.spec import LayerSpec
from wlbridge.messages import WLMessage
from wlbridge.nets.exprs import invnet


def check_arrays(spec: LayerSpec, where: str) -> None:
    """Shape checks that need no shape inference (the engine checks the rest when it builds)."""
    a, args = spec.arrays, spec.args

    def bad(name: str, expected: str) -> WLMessage:
        got = "x".join(str(s) for s in a[name].shape) or "a scalar"  # type: ignore[union-attr]
        return invnet(f'{where}: the array "{name}" should be {expected}, but has dimensions {got}')

    if spec.kind == "LinearLayer":
        out = args.get("OutputDimensions")
        size = int(np.prod(out)) if out is not None else None
        w, b = a.get("Weights"), a.get("Biases")
        if w is not None and (w.ndim != 2 or (size is not None and w.shape[0] != size)):
            raise bad("Weights", f"a matrix with {size} rows" if size is not None else "a matrix")
        if b is not None:
            rows = size if size is not None else (w.shape[0] if w is not None else None)
            if b.ndim != 1 or (rows is not None and b.shape[0] != rows):
                raise bad("Biases", f"a vector of length {rows}" if rows is not None else "a vector")
    elif spec.kind == "ConvolutionLayer":
        n, k = args["OutputChannels"], args["KernelSize"]
        w, b = a.get("Weights"), a.get("Biases")
        if w is not None:
            kdims = k if isinstance(k, tuple) else None
            ok = w.ndim >= 3 and w.shape[0] == n
            ok = ok and (kdims is None or tuple(w.shape[2:]) == kdims)
            ok = ok and (kdims is not None or all(s == k for s in w.shape[2:]))
            if not ok:
                raise bad("Weights", f"an array {{{n}, inputChannels, kernel...}} with kernel {k}")
        if b is not None and (b.ndim != 1 or b.shape[0] != n):
            raise bad("Biases", f"a vector of length {n}")
    elif spec.kind == "EmbeddingLayer":
        w = a.get("Weights")
        n, size = args.get("InputDimensions"), args["OutputDimensions"]
        if w is not None and (w.ndim != 2 or w.shape[1] != size or (n is not None and w.shape[0] != n)):
            raise bad("Weights", f"a matrix {{{n or 'classes'}, {size}}}")
    elif spec.kind in ("BatchNormalizationLayer",):
        for name, arr in a.items():
            if arr is not None and arr.ndim != 1:
                raise bad(name, "a vector")
        lengths = {arr.shape[0] for arr in a.values() if arr is not None}
        if len(lengths) > 1:
            raise invnet(f"{where}: the arrays have different lengths {sorted(lengths)}")
    elif spec.kind in ("LongShortTermMemoryLayer", "GatedRecurrentLayer", "BasicRecurrentLayer"):
        n = args["OutputSize"]
        for name, arr in a.items():
            if arr is None:
                continue
            if name.endswith("Biases") and arr.shape != (n,):
                raise bad(name, f"a vector of length {n}")
            if name.endswith("StateWeights") and arr.shape != (n, n):
                raise bad(name, f"a {n}x{n} matrix")
            if name.endswith("InputWeights") and (arr.ndim != 2 or arr.shape[0] != n):
                raise bad(name, f"a matrix with {n} rows")
