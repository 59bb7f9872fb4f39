"""Training data made by a function, batch by batch: ``NetTrain[net, f]`` (reference §9.2).

NetTrain calls a generator once per batch, with the live progress association in which
"Round", "Batch" and "AbsoluteBatch" are those of the batch being made (the loop prefetches,
so they are one ahead of the batch being trained) plus "BatchSize"; a round is one batch, or
``ceil(n / BatchSize)`` batches with ``"RoundLength" -> n``. Here `GeneratedData` is what
`engine.loop.train` takes in place of a `Dataset` for that: ``make(info)`` returns one batch
as a `Dataset` (the Wolfram side turns the user's value into one). `GeneratedBatches` is the
batch source the schedule reads: each read makes the next batch in the "gen" phase, encoded
per batch (`engine.columns` with pre-encoding off) and checked against batch 1, which was made
before training (it fixes the shapes, encoders and sequence ports) and is trained first, so
the calls the function sees are AbsoluteBatch 1, 2, 3, ... once each.

A validation generator (``ValidationSet -> {f, "RoundLength" -> n}``) is called afresh in
each validation pass, for ``ceil(n / BatchSize)`` batches (one without RoundLength).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.columns import Columns, LazyBatches
from engine.errors import EngineError
from engine.spec import Dataset, EncoderSpec

if TYPE_CHECKING:
    from engine.loop_run import Run

Batch = tuple[Any, dict[str, torch.Tensor], dict[int, torch.Tensor]]


@dataclass
class GeneratedData:
    """Data a function makes per batch. ``make(info) -> Dataset`` of ``batch_size`` examples;
    ``first`` is the batch made before training for AbsoluteBatch 1 (training data) or for the
    first validation batch (validation data)."""

    make: Callable[[Mapping[str, Any]], Dataset]
    batch_size: int
    batches_per_round: int
    first: Dataset

    def __len__(self) -> int:
        return self.batch_size * self.batches_per_round


def batches_per_round(round_length: int | None, batch_size: int) -> int:
    """``"RoundLength" -> n``: ``ceil(n / BatchSize)`` batches a round; one without it."""
    return max(1, math.ceil(round_length / batch_size)) if round_length else 1


class GeneratorInfo(Mapping[str, Any]):
    """The association a generator is called with: "BatchSize", "Round", "Batch" and
    "AbsoluteBatch" of the batch being made; the other §9.11 keys (the net, the losses so far)
    are read from the run only when asked for, so a generator that does not look costs
    nothing."""

    def __init__(self, core: dict[str, Any], run: Run | None = None):
        self._core, self._run = core, run
        self._live: Mapping[str, Any] | None = None  # the §9.11 association, once asked for

    def _all(self) -> Mapping[str, Any]:
        if self._live is None:
            from engine.loop_info import progress_info

            self._live = progress_info(self._run) if self._run is not None else {}
        return {**dict.fromkeys(self._live), **self._core}

    def __getitem__(self, key: str) -> Any:
        if key in self._core:
            return self._core[key]
        self._all()
        assert self._live is not None
        return self._live[key]  # a LazyInfo: costly values computed here (KeyError if unknown)

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"GeneratorInfo({self._core!r})"


def batch_name(info: Mapping[str, Any], validation: bool = False) -> str:
    """How messages name a generated batch: "batch 7 (round 3)", "validation batch 2 (round
    3)"."""
    if validation:
        return f"validation batch {info['Batch']} (round {info['Round']})"
    return f"batch {info['AbsoluteBatch']} (round {info['Round']})"


def _info(bs: int, rnd: int, batch: int, abs_batch: int, run: Run | None) -> GeneratorInfo:
    return GeneratorInfo({"BatchSize": bs, "Round": rnd, "Batch": batch,
                          "AbsoluteBatch": abs_batch}, run)


class _Maker:
    """One generated batch as tensors: the per-batch encoding path, checked against batch 1."""

    def __init__(self, run: Run, data: GeneratedData, encoders: dict[str, EncoderSpec],
                 what: str):
        self.run, self.data, self.what = run, data, what
        self.encoders = encoders
        self.cfg = dataclasses.replace(run.cfg, disable_pre_encoding=True, validation_set=None)
        self.first = self.tensors(data.first, batch_name(
            {"Batch": 1, "AbsoluteBatch": 1, "Round": 1}, what == "validation"), check=False)
        self.shapes = {p: _example_shape(p, t, self.first[2], run.cols.length_ids)
                       for p, t in self.first[1].items()}

    def make(self, info: GeneratorInfo) -> Batch:
        return self.tensors(self.data.make(info), batch_name(info, self.what == "validation"))

    def tensors(self, ds: Dataset, where: str, check: bool = True) -> Batch:
        run = self.run
        n = len(ds)
        if n != self.data.batch_size:
            raise _bad(where, f"the generator returned {n} examples, not the requested "
                       f"BatchSize of {self.data.batch_size}")
        try:
            cols = Columns(ds, run.module, self.encoders, run.device, run.dtype, self.cfg)
            inputs, lengths = cols.gather(np.arange(n))
        except EngineError as err:
            raise EngineError(err.tag, f"{where} of the generator: {err.text}",
                              err.symbol) from None
        if check:
            self._check(inputs, lengths, cols.length_ids, where)
        return run.module, inputs, lengths

    def _check(self, inputs: dict[str, torch.Tensor], lengths: dict[int, torch.Tensor],
               ids: dict[str, int], where: str) -> None:
        if set(inputs) != set(self.shapes):
            raise _bad(where, f"the generator gave the ports {sorted(inputs)}, "
                       f"not {sorted(self.shapes)} as for batch 1")
        for port, t in inputs.items():
            shape = _example_shape(port, t, lengths, ids)
            if shape != self.shapes[port]:
                raise _bad(where, f"the examples of port {port!r} have shape {shape or 'scalar'}"
                           f", but those of batch 1 had {self.shapes[port] or 'scalar'}")


def _example_shape(port: str, t: torch.Tensor, lengths: dict, ids: dict[str, int]) -> tuple:
    """An example's shape and kind, the sequence axis left out (it varies by batch)."""
    dims = tuple(t.shape[2:]) if port in ids and ids[port] in lengths else tuple(t.shape[1:])
    return (*dims, "float" if t.is_floating_point() else "int")


def _bad(where: str, text: str) -> EngineError:
    return EngineError("invgenout", f"the output of the generator for {where} was incorrect: "
                       f"{text}.")


class GeneratedBatches(LazyBatches):
    """The training batch source of a generator: a read makes the next batch (the schedule
    reads the batch it is about to train first, then prefetches one per batch in "gen"; the
    index it passes is ignored). Before the loop starts (``abs_batch`` 0: the timing of
    MaxTrainingRounds -> Automatic, the executor log) a read gives batch 1 again."""

    def __init__(self, run: Run, data: GeneratedData, encoders: dict[str, EncoderSpec]):
        self.run, self.bpr = run, data.batches_per_round
        self.maker = _Maker(run, data, encoders, "training")
        self.made: int | None = None  # the AbsoluteBatch of the last batch made

    def __len__(self) -> int:
        return self.bpr

    def __getitem__(self, j: int) -> Batch:
        k = getattr(self.run, "abs_batch", 0)
        if k == 0:
            return self.maker.first
        k = k if self.made is None else self.made + 1  # the first read is the current batch
        self.made = k
        if k == 1:
            return self.maker.first
        rnd, b = divmod(k - 1, self.bpr)
        return self.maker.make(_info(self.maker.data.batch_size, rnd + 1, b + 1, k, self.run))


class GeneratedValidation:
    """Validation batches of a generator, made afresh in each pass (``(call, inputs, lengths,
    None)`` like prepared validation batches); the first pass starts with the batch made at
    setup. "Round" is the round being validated, "Batch" the validation batch, "AbsoluteBatch"
    the training batches done."""

    def __init__(self, run: Run, data: GeneratedData, encoders: dict[str, EncoderSpec]):
        self.run, self.data = run, data
        self.maker = _Maker(run, data, encoders, "validation")
        self.passes = 0

    def __len__(self) -> int:
        return self.data.batches_per_round

    def __iter__(self) -> Iterator[tuple]:
        run, bs = self.run, self.data.batch_size
        self.passes += 1
        for b in range(1, len(self) + 1):
            if b == 1 and self.passes == 1:
                yield (*self.maker.first, None)
                continue
            info = _info(bs, run.round, b, run.abs_batch, run)
            yield (*self.maker.make(info), None)


def prepare_generated(run: Run, data: GeneratedData, encoders: dict[str, EncoderSpec]) -> None:
    """`engine.loop_setup.prepare_batches` for generated training data: no permutation (the
    function chooses the examples), a round of ``batches_per_round`` batches made per batch."""
    from engine.loop_setup import plan_payload, validation_batches

    cfg, ev, bs = run.cfg, run.events, run.batch_size
    if isinstance(cfg.validation_set, float):
        raise EngineError("invvsfrac", f"ValidationSet -> Scaled[{cfg.validation_set}] takes "
                          "batches of the training examples, which a generator function does "
                          "not have; give the validation data or a validation generator.")
    run.bpr = data.batches_per_round
    run.permutation = np.arange(bs * run.bpr).reshape(run.bpr, bs)  # for the saved state
    run.train_perm = None
    run.buckets = None
    run.training_examples = len(data)
    run.val_batches, run.validation_examples = None, 0
    if run.val_cols is not None:
        run.validation_examples = run.val_cols.n
        run.val_batches = validation_batches(run, run.val_cols, run.val_cols.lengths(),
                                             run.val_cols.n, None)
    run.batches = GeneratedBatches(run, data, encoders)
    first = run.batches.maker.first
    ev.emit("Plan", lambda: plan_payload(run.module, first[1], first[2]))


def prepare_generated_validation(run: Run, encoders: dict[str, EncoderSpec]) -> None:
    """A validation generator (``ValidationSet -> {f, "RoundLength" -> n}``), whatever the
    training data."""
    vs = run.cfg.validation_set
    if isinstance(vs, GeneratedData):
        run.val_batches = GeneratedValidation(run, vs, encoders)
        run.validation_examples = len(vs)
