"""Pre-encoding: run input encoders once for the whole column, or per batch (reference §8.5, §7.2).

`plan_encoding` decides, per encoded input port, whether its encoded column is kept for the
whole run ("pre-encoded") or the encoder runs on each batch inside the "gen" phase:

* The flag follows §8.5: ``DisablePreEncoding -> True`` disables; any other given value
  (``False`` included) enables; not given (``None``), it is disabled exactly when
  MaxTrainingRounds is an explicit integer < 5 (few rounds do not pay for encoding everything).
* Enabled, a column is kept only while all kept columns fit in the memory bound, 1/8 of
  ``psutil.virtual_memory().available`` by default (columns of < 256 examples are always kept,
  as in NetTrain). A column over the bound is encoded per batch instead, and the plan carries
  (and warns) the message ``NetTrain::preencmem: ...`` naming the port and the sizes.
* Sequence lengths of every variable-length column are measured up front, always: bucketing
  (§7.2) needs them before the first batch. When the column is not kept they come from a cheap
  length function (Characters: the string length) or from encoding in chunks and keeping only
  the lengths, so memory stays bounded.

`EncodingPlan.batch(indices)` gives a batch's columns ready for `engine.buckets` (fixed ports as
arrays, sequences as lists of arrays), from the kept column or by encoding the raw values now.
Encoding itself is `engine.encoders.encode_column`; nothing here re-implements an encoder.
Not reproduced: NetTrain's cache of encodings across calls and its 60 s encoding time limit.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil

from engine.encoders import encode_column, encoder_count
from engine.errors import EngineError
from engine.spec import EncoderSpec, TrainConfig

# §8.5: pre-encoded data may take at most this share of the available memory.
MEMORY_SHARE = 1 / 8
# §8.5: columns this short are always kept encoded, whatever the memory bound.
ALWAYS_KEEP_BELOW = 256
# Examples encoded at a time while measuring a column that may not be kept.
CHUNK = 1024
# Rough per-array overhead of a numpy array object (header + list slot), for size estimates.
_ARRAY_OVERHEAD = 120
_UNIT = ("UnitVector", "IndicatorVector")


class PreEncodingWarning(UserWarning):
    """``NetTrain::preencmem``: an input is encoded per batch because it does not fit in memory."""


def pre_encoding_enabled(config: TrainConfig) -> bool:
    """The §8.5 flag: True disables; any other given value enables; default off iff rounds < 5."""
    flag = config.disable_pre_encoding
    if flag is None:
        rounds = config.max_training_rounds
        return not (isinstance(rounds, int) and not isinstance(rounds, bool) and rounds < 5)
    return flag is not True


def memory_bound() -> int:
    """Bytes pre-encoded columns may take: 1/8 of the memory available now (§8.5)."""
    return int(psutil.virtual_memory().available * MEMORY_SHARE)


def _varying(encoder: EncoderSpec) -> bool:
    """Whether the encoder gives one sequence per example (Characters/Tokens, no TargetLength)."""
    return encoder.kind in ("Characters", "Tokens") and not isinstance(encoder.options.get("TargetLength"), int)


def _code_bytes(encoder: EncoderSpec) -> int:
    """Bytes per code: an int64 index, or a float32 one-hot row with OutputForm "UnitVector"."""
    if encoder.options.get("OutputForm") in _UNIT:
        return 4 * max(encoder_count(encoder), 1)
    return 8


def _fixed_bytes(encoder: EncoderSpec) -> int:
    """Bytes per example of a fixed-shape encoding."""
    if encoder.kind in ("Boolean", "Scalar"):
        return 4
    if encoder.kind == "Image":
        from engine.image_coder import image_shape

        return 4 * int(np.prod(image_shape(encoder.options)))
    if encoder.kind == "Class":
        return _code_bytes(encoder)
    return int(encoder.options.get("TargetLength", 1)) * _code_bytes(encoder)


def _nbytes(encoded: np.ndarray | list[np.ndarray]) -> int:
    if isinstance(encoded, np.ndarray):
        return int(encoded.nbytes)
    return sum(int(a.nbytes) + _ARRAY_OVERHEAD for a in encoded)


def _as_column(col: Any) -> np.ndarray | list[Any]:
    """A raw (unencoded) column as a numeric array when regular, else a list of arrays."""
    if isinstance(col, np.ndarray) and col.dtype != object:
        return col
    try:
        arr = np.asarray(col)
    except ValueError:
        arr = None
    if arr is not None and arr.dtype != object and arr.dtype.kind in "biuf":
        return arr.astype(np.float32) if arr.dtype.kind == "b" else arr
    return [np.asarray(x) for x in col]


def _encode_at(encoder: EncoderSpec, col: Sequence[Any], idx: Sequence[int]) -> np.ndarray | list[np.ndarray]:
    """Encode the examples ``idx`` of a raw column; errors name the example's index in the data."""
    values = [col[int(i)] for i in idx]
    try:
        return encode_column(encoder, values)
    except EngineError:
        for i in idx:
            try:
                encode_column(encoder, [col[int(i)]])
            except EngineError as err:
                text = re.sub(r"^example 1\b", f"example {int(i) + 1}", err.text)
                raise EngineError(err.tag, text, err.symbol) from None
        raise


def _cheap_lengths(encoder: EncoderSpec, col: Sequence[Any]) -> np.ndarray | None:
    """Lengths without encoding, where one code per character makes them exact (Characters)."""
    if encoder.kind != "Characters":
        return None
    out = np.empty(len(col), dtype=np.int64)
    for i, v in enumerate(col):
        if not isinstance(v, str):
            raise EngineError("invindata", f"example {i + 1}: {v!r} is not a string (Characters encoder).")
        out[i] = len(v)
    return out


@dataclass
class EncodingPlan:
    """Where each input's batch values come from: a kept encoded column or per-batch encoding.

    ``columns``: port -> kept column (encoded, or raw data without an encoder).
    ``per_batch``: port -> (encoder, raw column) for ports encoded inside each batch.
    ``lengths``: port -> per-example lengths of every variable-length column (always filled).
    ``enabled``: the §8.5 flag; ``messages``: the NetTrain-style texts warned while planning.
    """

    columns: dict[str, np.ndarray | list[Any]]
    per_batch: dict[str, tuple[EncoderSpec, Sequence[Any]]]
    lengths: dict[str, np.ndarray]
    enabled: bool
    n: int
    messages: list[str] = field(default_factory=list)
    _raw: set[str] = field(default_factory=set, repr=False)  # ports without an encoder

    @property
    def pre_encoded(self) -> set[str]:
        """Ports with an encoder whose encoded column is kept."""
        return set(self.columns) - self._raw

    def batch(self, indices: Sequence[int] | np.ndarray,
              ports: Sequence[str] | None = None) -> dict[str, np.ndarray | list[np.ndarray]]:
        """The batch of examples ``indices`` (0-based): arrays for fixed ports, lists of arrays
        for sequences; per-batch ports are encoded now (this is the "gen" phase's work).
        ``ports`` restricts the batch to those ports (default: all)."""
        idx = np.asarray(indices, dtype=np.int64)
        want = None if ports is None else set(ports)
        out: dict[str, np.ndarray | list[np.ndarray]] = {}
        for port, col in self.columns.items():
            if want is None or port in want:
                out[port] = col[idx] if isinstance(col, np.ndarray) else [col[i] for i in idx]
        for port, (encoder, raw) in self.per_batch.items():
            if want is None or port in want:
                out[port] = _encode_at(encoder, raw, idx)
        return out

    def lengths_by_var(self, length_ids: Mapping[str, int]) -> dict[int, np.ndarray]:
        """Per-example lengths by LengthVar id (ports sharing an id must agree: ``incseqlen``)."""
        out: dict[int, np.ndarray] = {}
        for port, lens in self.lengths.items():
            lid = int(length_ids.get(port, 0))
            if lid in out and not np.array_equal(out[lid], lens):
                bad = int(np.flatnonzero(out[lid] != lens)[0]) + 1
                raise EngineError("incseqlen", f"example {bad}: inputs sharing a length have "
                                               "different sequence lengths.")
            out[lid] = lens
        return out


def plan_encoding(
    dataset_columns: Mapping[str, Any],
    encoders: Mapping[str, EncoderSpec],
    config: TrainConfig,
    memory_limit: int | None = None,
) -> EncodingPlan:
    """Measure lengths and decide pre-encoding for every column (see the module docstring).

    ``memory_limit`` overrides the bound in bytes (default `memory_bound()`); it exists so the
    fallback can be exercised without filling the machine.
    """
    cols = dict(dataset_columns)
    n = len(next(iter(cols.values()))) if cols else 0
    enabled = pre_encoding_enabled(config)
    # the bound is read only when something may be kept (a generated batch, encoded per
    # batch, asks for a plan every batch)
    budget = 0 if not enabled else memory_bound() if memory_limit is None else int(memory_limit)
    plan = EncodingPlan({}, {}, {}, enabled, n)
    for port, col in cols.items():
        if len(col) != n:
            raise EngineError("incinlen", f"the input {port!r} has {len(col)} examples; other "
                                          f"inputs have {n}.")
        encoder = encoders.get(port)
        if encoder is None:
            data = _as_column(col)
            plan.columns[port] = data
            plan._raw.add(port)
            if isinstance(data, list):
                plan.lengths[port] = np.fromiter((len(a) for a in data), dtype=np.int64, count=n)
            continue
        kept = None
        if enabled:
            kept, size = _encode_within(encoder, col, n, budget, plan, port)
            if kept is not None:
                budget -= size
        if kept is not None:
            plan.columns[port] = kept
        else:
            plan.per_batch[port] = (encoder, col)
            if _varying(encoder) and port not in plan.lengths:
                plan.lengths[port] = _measure(encoder, col, n)
    for text in plan.messages:
        warnings.warn(PreEncodingWarning(text), stacklevel=2)
    return plan


def _encode_within(encoder: EncoderSpec, col: Sequence[Any], n: int, budget: int,
                   plan: EncodingPlan, port: str) -> tuple[Any, int]:
    """Encode a column in chunks while it fits ``budget``; (encoded, bytes) or (None, bytes).

    Fixed-shape encodings are sized before any work; sequences are sized as they are encoded,
    and once over the bound only their lengths are kept (recorded in ``plan.lengths``).
    """
    always = n < ALWAYS_KEEP_BELOW
    varying = _varying(encoder)
    if not varying:
        size = n * _fixed_bytes(encoder)
        if size > budget and not always:
            plan.messages.append(_message(port, size, budget))
            return None, size
        return encode_column(encoder, col), size
    parts: list[np.ndarray] = []
    lengths = np.empty(n, dtype=np.int64)
    size, keep = 0, True
    for start in range(0, n, CHUNK):
        idx = range(start, min(start + CHUNK, n))
        chunk = _encode_at(encoder, col, idx)
        lengths[start:start + len(chunk)] = [len(a) for a in chunk]
        size += _nbytes(chunk)
        if keep and size > budget and not always:
            keep, parts = False, []
        if keep:
            parts.extend(chunk)
    plan.lengths[port] = lengths
    if not keep:
        # The final size is only known now; the message gives it.
        plan.messages.append(_message(port, size, budget))
        return None, size
    return parts, size


def _measure(encoder: EncoderSpec, col: Sequence[Any], n: int) -> np.ndarray:
    """Per-example lengths of a sequence encoding, without keeping the codes."""
    cheap = _cheap_lengths(encoder, col)
    if cheap is not None:
        return cheap
    lengths = np.empty(n, dtype=np.int64)
    for start in range(0, n, CHUNK):
        chunk = _encode_at(encoder, col, range(start, min(start + CHUNK, n)))
        lengths[start:start + len(chunk)] = [len(a) for a in chunk]
    return lengths


def _message(port: str, size: int, budget: int) -> str:
    return (f"NetTrain::preencmem: the encoded input {port!r} needs about {_size(size)} but at most "
            f"{_size(max(budget, 0))} (1/8 of the available memory) is left for pre-encoded data; "
            "it is encoded per batch instead.")


def _size(b: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if b >= scale:
            return f"{b / scale:.1f} {unit}"
    return f"{b} bytes"
