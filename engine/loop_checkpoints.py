"""Checkpoints during a run (reference §9.9): one save per due spec, and the saves after the
loop. `engine.checkpoint` decides when and where; this module does the save with its events
(§3.9, §3.10) and the "CheckpointStarted" callback that may skip it (§9.6), and writes the
whole training state beside each file first (`engine.resume`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from engine.errors import EngineError
from engine.resume import save_state

if TYPE_CHECKING:
    from engine.loop_run import Run


def save_checkpoint(run: Run, spec: Any) -> None:
    """Save the net for one checkpoint spec, unless a "CheckpointStarted" callback
    returns "SkipCheckpoint"."""
    ev, r, ck = run.events, run.result, run.checkpointer
    spec.last_at = run.abs_batch  # a skipped one counts as run: no final repeat
    ev.emit("CoreLoop", "CheckpointStarted")
    if "SkipCheckpoint" in run.fire("CheckpointStarted"):
        return
    path = ck.path(spec, run.round, run.abs_batch,
                   r.round_losses[-1] if r.round_losses else None,
                   r.validation_losses[-1] if r.validation_losses else None,
                   run.val_batches is not None)
    ev.emit("Trainer", ("TrainerSaveCheckpoint", path))
    module = run.module
    if run.precision.name == "Real16":  # save the float32 masters, not their float16 copies
        module = copy.deepcopy(module)
        run.precision.write_back(module)
    try:  # the whole training state first: whenever a checkpoint exists, its state does
        save_state(run, path, spec)
    except OSError as exc:
        raise EngineError("invchkfile", f"the training state of the checkpoint {path!r} could "
                          f"not be written: {exc.strerror or exc}.") from exc
    ck.write(spec, module, path, run.abs_batch)
    r.checkpoint_files.append(path)
    ev.emit("CoreLoop", "CheckpointComplete")
    run.fire("CheckpointComplete")


def final_checkpoints(run: Run) -> None:
    """§9.5.2 "after the loop": each spec once more, unless it just ran at the last batch."""
    if run.checkpointer is None or run.abs_batch == 0:
        return
    for spec in run.checkpointer.specs:
        if spec.last_at != run.abs_batch:
            save_checkpoint(run, spec)
