"""Errors the engine raises, tagged with the NetTrain message name they correspond to.

The engine stays Wolfram-free: it says `tag="arrdiv"` and a plain-English text; wlbridge shows
it as ``NetTrain::arrdiv: ...``.
"""

from __future__ import annotations


class EngineError(Exception):
    """A problem the user can fix, reported before or during training.

    ``tag`` is the NetTrain message name (``"invnet"``, ``"arrdiv"``, ...), ``symbol`` the
    Wolfram function the message belongs to (``"NetTrain"``, ``"General"``, a layer name).
    """

    def __init__(self, tag: str, text: str, symbol: str = "NetTrain"):
        super().__init__(text)
        self.tag = tag
        self.text = text
        self.symbol = symbol

    def __str__(self) -> str:
        return f"{self.symbol}::{self.tag}: {self.text}"
