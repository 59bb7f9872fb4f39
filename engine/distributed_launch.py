"""Starting data-parallel processes with PyTorch's own launcher (the elastic agent behind
``torchrun``), not a pool of our own: it gives each process ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and a rendezvous, watches them, stops the others when one dies, and restarts
the group up to ``max_restarts`` times (each restart resumes from the newest checkpoint's
training state, `engine.distributed.restart_state`).
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Sequence

from engine.errors import EngineError


def _threads_per_process(nprocs: int) -> str:
    return str(max(1, (os.cpu_count() or 1) // max(1, nprocs)))


def launch_module(module: str, args: Sequence[str], nprocs: int, *,
                  max_restarts: int = 0) -> None:
    """Run ``python -m module args...`` in ``nprocs`` processes on this machine under the
    elastic agent; returns when all finished, raises ``ddpfail`` naming the process that
    failed (after the agent stopped the others)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # the processes share the cores: one OpenMP pool each, sized to its share, unless set
    os.environ.setdefault("OMP_NUM_THREADS", _threads_per_process(nprocs))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nprocs,
                          run_id=f"wlbridge-{uuid.uuid4().hex[:8]}", rdzv_backend="c10d",
                          rdzv_endpoint="127.0.0.1:0", max_restarts=max_restarts,
                          monitor_interval=0.2, start_method="spawn")
    try:
        elastic_launch(config, sys.executable)("-m", module, *args)
    except ChildFailedError as err:
        raise EngineError("ddpfail", failure_text(err, nprocs)) from None


def failure_text(err: object, nprocs: int) -> str:
    """One line: which process ended how, and that the others were stopped."""
    failures = getattr(err, "failures", {}) or {}
    if not failures:
        return f"a training process of {nprocs} failed; training ended."
    # the process that died first (a signal rather than the peers that then lost it; a survivor
    # that lost its peer may end in SIGABRT from gloo's teardown, so that is not the cause)
    rank, f = min(failures.items(), key=lambda kv: (
        kv[1].exitcode >= 0 or kv[1].exitcode == -signal.SIGABRT, kv[1].timestamp))
    code = f.exitcode
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 and \
        -code in signal.valid_signals() else f"exited with code {code}"
    return (f"training process {f.local_rank} of {nprocs} (rank {rank}) {how}; the other "
            "processes were stopped and training ended.")
