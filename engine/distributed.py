"""Data-parallel training on torch.distributed: one process per device, each running the
same loop (DESIGN rule 7) on its share of every batch, gradients averaged by
DistributedDataParallel (gloo on CPUs, NCCL on GPUs).

A process is a data-parallel worker when PyTorch's launcher started it (``torchrun`` or
`engine.distributed_launch`, which use the elastic agent): the environment then holds
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``. `current(config)` joins the process group.

What stays global: ``BatchSize`` is the global batch, and every process draws the same §7.1
permutation from the seed (bucketing included), so a batch is one row of it; the row is dealt
out in contiguous slices (`shard_bounds`), so sorted rows keep similar lengths in each
slice. Each process weights its loss by its share (``b_r * W / B``), so DDP's gradient
average is exactly the gradient of the global batch mean, even when ``B`` is not a multiple
of ``W``. The reported loss and measurement sums are all-reduced (`DistributedStep`), and the
stop reasons that can differ between processes (a signal, a callback on rank 0, TimeGoal's
clock) are agreed after each batch (`Distributed.agree`). Rank 0 alone reports, calls back
and checkpoints; the others train silently.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.loop_run import Run

#: seconds a collective may wait for a peer before failing (a dead peer ends the run)
DEFAULT_TIMEOUT = 60.0
#: the stop reasons `Distributed.agree` can carry, by code (0: none)
STOP_CODES = ("", "MaxTrainingRounds", "MaxTrainingBatches", "StoppingCriterion",
              "TimeGoal", "ManualStop", "WeightsDiverged", "Aborted")


def device_names(name: str) -> list[str] | None:
    """The devices of a several-device TargetDevice name, None for one device.

    ``"cpu*2"`` -> two CPU processes; ``"cuda:0,1"`` -> those CUDA devices; ``"cuda:all"`` ->
    every CUDA device present (``invtrgdev`` when there is none)."""
    key = (name or "cpu").strip().lower()
    if key.startswith("cpu*"):
        return ["cpu"] * int(key[4:])
    if key == "cuda:all" or (key.startswith("cuda:") and "," in key):
        if not torch.cuda.is_available():
            raise EngineError("invtrgdev", f"TargetDevice -> {name!r} is not available: no CUDA "
                              "GPU was found; use TargetDevice -> {\"CPU\", n}.", "General")
        count = torch.cuda.device_count()
        ids = list(range(count)) if key == "cuda:all" else \
            [int(i) for i in key[5:].split(",")]
        bad = [i for i in ids if i >= count]
        if bad:
            raise EngineError("invtrgdev", f"TargetDevice -> {name!r}: there are only {count} "
                              "CUDA devices.", "General")
        return [f"cuda:{i}" for i in ids]
    return None


def launched() -> bool:
    """True in a process started by torch's launcher (torchrun / the elastic agent)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def shard_bounds(batch: int, world: int, rank: int) -> tuple[int, int]:
    """The slice ``[lo, hi)`` of a global batch of ``batch`` examples that ``rank`` trains:
    contiguous, sizes differing by at most one (the first ``batch % world`` get one more)."""
    base, extra = divmod(batch, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


@dataclass
class Distributed:
    """This process's place in the group, and the collectives the loop needs."""

    rank: int
    world: int
    local_rank: int
    device: torch.device
    backend: str
    ddp: Any = field(default=None, repr=False)

    # -- sharing the batches ------------------------------------------------------------------

    def bounds(self, batch: int) -> tuple[int, int]:
        return shard_bounds(batch, self.world, self.rank)

    def shard_rows(self, perm: np.ndarray) -> np.ndarray:
        """This process's columns of the ``bpr x B`` permutation."""
        lo, hi = self.bounds(perm.shape[1])
        return np.ascontiguousarray(perm[:, lo:hi])

    def attach(self, run: Run) -> None:
        """Wrap the module in DistributedDataParallel (it broadcasts rank 0's arrays and
        buffers) and make every training batch call the wrapper."""
        from torch.nn.parallel import DistributedDataParallel

        if run.batch_size < self.world:
            raise EngineError("ddpbatch", f"BatchSize -> {run.batch_size} is smaller than the "
                              f"{self.world} processes of the TargetDevice; each process needs "
                              "at least one example per batch.")
        ids = [self.device.index] if self.device.type == "cuda" else None
        self.ddp = DistributedDataParallel(run.module, device_ids=ids)
        if run.buckets is not None:
            run.buckets.module = self.ddp
        else:
            run.batches = [(self.ddp, i, ls) for _, i, ls in run.batches]

    def wrap_step(self, step: Any, batch: int) -> DistributedStep:
        lo, hi = self.bounds(batch)
        inner = getattr(step, "step", step)  # a CompiledStep's TrainingStep
        inner.loss_weight = (hi - lo) * self.world / batch
        return DistributedStep(step, (hi - lo) / batch)

    # -- agreeing --------------------------------------------------------------------------------

    def broadcast_int(self, value: int) -> int:
        """Rank 0's ``value`` on every process (e.g. MaxTrainingRounds -> Automatic)."""
        t = torch.tensor([int(value)], dtype=torch.int64, device=self._comm_device())
        torch.distributed.broadcast(t, 0)
        return int(t.item())

    def agree(self, run: Run, time_goal: float | None, elapsed: float) -> None:
        """One stop reason for all: a signal on any process, rank 0's callbacks and clock."""
        code = 0
        if self.rank == 0:
            reason = run.stop_reason or ("TimeGoal" if time_goal is not None and
                                         elapsed > time_goal else "")
            code = STOP_CODES.index(reason) if reason in STOP_CODES else 0
        signal = int(run.stops is not None and run.stops.requested)
        t = torch.tensor([code, signal], dtype=torch.int64, device=self._comm_device())
        torch.distributed.all_reduce(t, torch.distributed.ReduceOp.MAX)
        code, signal = (int(v) for v in t.tolist())
        if code and not run.stop_reason:
            run.stop_reason = STOP_CODES[code]
        elif signal and not run.stop_reason:
            run.stop_reason = "Aborted"

    def _comm_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")

    def close(self) -> None:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


class DistributedStep:
    """The training step of one process, its loss and measurement sums summed over the
    group: the loss becomes the global batch mean, the sums those of the global batch."""

    __slots__ = ("step", "share")

    def __init__(self, step: Any, share: float):
        self.step, self.share = step, share

    def __call__(self, call: Any, inputs: dict[str, torch.Tensor],
                 lengths: dict[int, torch.Tensor] | None) -> tuple[Any, Any, Any]:
        loss, stats, out = self.step(call, inputs, lengths)
        parts = [(loss.detach().double() * self.share).reshape(1)]
        if stats is not None:
            parts.append(stats.detach().double().reshape(-1))
        packed = torch.cat(parts)
        torch.distributed.all_reduce(packed)
        total = packed[0].to(loss.dtype)
        return total, (packed[1:].to(stats.dtype) if stats is not None else None), out


def current(config: Any) -> Distributed | None:
    """Join the process group when this process was launched as a data-parallel worker;
    None for ordinary one-process training. Asking for several devices outside a launcher
    is refused (the CLI and `engine.distributed_launch` start the processes)."""
    if not launched() or int(os.environ["WORLD_SIZE"]) < 1:
        if device_names(config.target_device):
            raise EngineError("ddpnolaunch", f"TargetDevice -> {config.target_device!r} trains "
                              "in one process per device; start it with `wlbridge train` or "
                              "torchrun (torch.distributed.run).", "General")
        return None
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ["LOCAL_RANK"])
    names = device_names(config.target_device)
    name = names[local % len(names)] if names else (config.target_device or "cpu")
    from engine.devices import torch_device

    if not names and name.lower().startswith(("cuda", "gpu")):
        name = f"cuda:{local}"  # one GPU per process of this node
    device = torch_device(name)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    timeout = float(os.environ.get("WLBRIDGE_DIST_TIMEOUT", DEFAULT_TIMEOUT))
    if not torch.distributed.is_initialized():
        span = datetime.timedelta(seconds=timeout)
        torch.distributed.init_process_group(backend, rank=rank, world_size=world,
                                             timeout=span, store=_attempt_store(world, span))
    return Distributed(rank, world, local, device, backend)


def _attempt_store(world: int, timeout: datetime.timedelta) -> Any:
    """The elastic agent's store, its keys prefixed by the restart count, so a restarted
    group never reads the addresses its dead predecessors left there; None (the default
    env:// rendezvous) when the agent keeps no store for its workers."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() != "true":
        return None
    dist = torch.distributed
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                          False, timeout)
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"wlbridge/attempt_{attempt}/", store)


def restart_state(config: Any) -> str | None:
    """After the launcher restarted the processes (``TORCHELASTIC_RESTART_COUNT`` > 0): the
    newest training state beside a checkpoint of this run's TrainingProgressCheckpointing,
    to resume from; None when there is none (training starts again)."""
    if int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) < 1:
        return None
    from engine.resume import STATE_SUFFIX

    found: list[str] = []
    for spec in config.training_progress_checkpointing or []:
        path = os.fspath(spec["path"])
        if spec["kind"] == "File":
            found.append(path + STATE_SUFFIX)
        elif os.path.isdir(path):
            found += [os.path.join(path, f) for f in os.listdir(path)
                      if f.endswith(STATE_SUFFIX)]
    found = [f for f in found if os.path.isfile(f)]
    return max(found, key=os.path.getmtime) if found else None
