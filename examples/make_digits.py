"""Write examples/digits.npz from scikit-learn's bundled 8x8 digits (run once; the file is committed).

Columns are named for the net's ports, as `wlbridge.data` reads an .npz: "Input" is 1797x64
float32 pixels scaled to [0, 1] (the raw values are 0..16), "Output" the labels 0-9 as int64.
scikit-learn is only needed here, not to use the example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


def main() -> Path:
    digits = load_digits()
    out = Path(__file__).with_name("digits.npz")
    np.savez_compressed(out, Input=(digits.data / 16.0).astype(np.float32),
                        Output=digits.target.astype(np.int64))
    return out


if __name__ == "__main__":
    print(main())
