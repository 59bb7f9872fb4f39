"""Exact resume (issue 12): the whole training state beside every checkpoint, and a run that
continues from one as if it had never stopped.

Each TrainingProgressCheckpointing file ``F`` gets a companion ``F.state`` (written first,
atomically, with ``torch.save``): the arrays and buffers, the arrays the optimizer steps
(Real16's float32 masters), the optimizer's moments and step count (so the schedule's
position), round, batch and the current round's visiting order, the numpy and torch random
generator states, the fixed §7.1 permutation, everything recorded so far (loss lists,
measurements, checkpoint files), best-net and finite-net snapshots, stopping-criterion and
trigger bookkeeping, and the elapsed time. ``ResumeFrom -> F`` (or ``F.state``) restores all
of it after setup, so on the CPU 2 + 2 rounds give bit for bit the losses and weights of 4.

The resumed run plans with its own options: ``MaxTrainingRounds -> 4`` means "up to round
4", and a schedule's T is that run's total, as in the run that was stopped.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.checkpoint import atomic_write
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.loop_run import Run

STATE_SUFFIX = ".state"
FORMAT = "wlbridge training state"
VERSION = 1
_RESULT_LISTS = ("batch_losses", "round_losses", "round_measurements", "round_loss_quartiles",
                 "validation_losses", "validation_measurements", "batch_measurements",
                 "validation_positions", "round_positions", "checkpoint_files")


def _q(path: str) -> str:
    """A path in double quotes, as the messages name files."""
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def state_path(checkpoint: str) -> str:
    """The training-state file written beside ``checkpoint``."""
    return checkpoint + STATE_SUFFIX


def _threshold(trigger: Any) -> Any:
    return None if trigger is None else tuple(trigger.threshold)


def capture(run: Run, checkpoint: str | None = None, spec: Any = None) -> dict[str, Any]:
    """The run's whole training state at this batch's periodic point (or after the loop);
    ``checkpoint``, the file of ``spec`` being written with it, counts as written."""
    import time

    r = run.result
    round_, batch = run.round, run.batch
    if batch >= run.bpr:  # the round is over: the next batch starts the next round
        round_, batch = round_ + 1, 0
    ck = run.checkpointer
    return {
        "format": FORMAT, "version": VERSION, "method": run.method.name,
        "batch_size": run.batch_size, "batches_per_round": run.bpr,
        "permutation": torch.from_numpy(np.ascontiguousarray(run.permutation)),
        "module": {k: v.detach().clone() for k, v in run.module.state_dict().items()},
        "owned": {"/".join(p): t.detach().clone() for p, t in run.opt_arrays.items()},
        "optimizer": {**run.opt.state_dict(), "learning_rate": run.opt.learning_rate},
        "abs_batch": run.abs_batch, "round": round_, "batch": batch,
        "order": torch.from_numpy(np.ascontiguousarray(run.order)),
        "numpy_rng": run.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if run.device.type == "cuda" else [],
        "result": {k: list(getattr(r, k)) + ([checkpoint] if k == "checkpoint_files" and
                                              checkpoint else []) for k in _RESULT_LISTS},
        "best_validation_round": r.best_validation_round,
        "round_batch_losses": list(run.round_batch_losses),
        "round_stats": [t.detach().cpu() for t in run.round_stats],
        "last_batch_stats": None if run.last_batch_stats is None else
        run.last_batch_stats.detach().cpu(),
        "round_measurements": dict(run.round_measurements),
        "val_measurements": dict(run.val_measurements), "val_done_at": run.val_done_at,
        "best_key": run.best_key, "best_state": run.best_state,
        "finite_state": run.finite_state,
        "stopper": None if run.stopper is None else (run.stopper.best, run.stopper.bad),
        "triggers": {
            "validation": _threshold(run.val_trigger),
            "callbacks": [_threshold(t) for _, t in run.callbacks.entries],
            "checkpoints": [(_threshold(s.trigger), s.counter + (s is spec), s.last_at)
                            for s in (ck.specs if ck is not None else ())],
            "timing": _threshold(run.timing_log)},
        "elapsed": time.perf_counter() - run.t_start,
    }


def save_state(run: Run, checkpoint: str, spec: Any = None) -> None:
    """Write the training state beside ``checkpoint`` of ``spec`` (atomically)."""
    state = capture(run, checkpoint, spec)
    atomic_write(state_path(checkpoint), lambda target: torch.save(state, target))


def load_state(path: str, device: torch.device) -> dict[str, Any]:
    """The training state of ``path`` (a checkpoint or its ``.state`` file); ``invresume``
    when there is none or it is not one."""
    file = path if path.endswith(STATE_SUFFIX) else state_path(path)
    if not os.path.isfile(file):
        raise EngineError("invresume", f"\"ResumeFrom\" -> File[{_q(path)}]: no training state "
                          f"was found; {_q(file)} (written beside each "
                          "TrainingProgressCheckpointing file) does not exist.")
    try:
        state = torch.load(file, map_location=device, weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file gets the same message
        raise EngineError("invresume", f"\"ResumeFrom\" -> File[{_q(path)}]: {_q(file)} is not "
                          "a readable training state.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise EngineError("invresume", f"\"ResumeFrom\" -> File[{_q(path)}]: {_q(file)} is not "
                          "a training state written by TrainingProgressCheckpointing.")
    return state


def check_permutation(state: dict[str, Any], batch_size: int, n: int) -> np.ndarray:
    """The saved §7.1 permutation, after checking it fits this run's data and batch size."""
    perm = state["permutation"].cpu().numpy()
    if state["batch_size"] != batch_size:
        raise EngineError("invresume", f"the training state was written with BatchSize -> "
                          f"{state['batch_size']}; this run has BatchSize -> {batch_size}.")
    if perm.size and int(perm.max()) >= n:
        raise EngineError("invresume", f"the training state was written for more training "
                          f"examples than the {n} given.")
    return perm


def restore(run: Run, state: dict[str, Any]) -> None:
    """Put the saved state into a run set up from the same net, data and options."""
    if state["method"] != run.method.name or state["batches_per_round"] != run.bpr:
        raise EngineError("invresume", f"the training state was written by Method -> "
                          f"\"{state['method']}\" with {state['batches_per_round']} batches "
                          f"per round; this run has \"{run.method.name}\" and {run.bpr}.")
    try:
        run.module.load_state_dict(state["module"])
        with torch.no_grad():
            for p, t in run.opt_arrays.items():
                t.copy_(state["owned"]["/".join(p)])
        opt = state["optimizer"]
        run.opt.load_state_dict(opt)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise EngineError("invresume", "the training state does not fit this net: "
                          f"{str(exc).splitlines()[0]}") from None
    run.opt.learning_rate = opt["learning_rate"]
    run.abs_batch = run.events.abs_batch = state["abs_batch"]
    run.round, run.batch = state["round"], state["batch"]
    run.order = state["order"].cpu().numpy()
    run.rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"].cpu())
    if state["cuda_rng"]:
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
    _restore_records(run, state)


def _restore_records(run: Run, state: dict[str, Any]) -> None:
    """What was recorded so far, the bookkeeping of best net, stopping and triggers."""
    import time

    r = run.result
    for k in _RESULT_LISTS:
        getattr(r, k)[:] = state["result"][k]
    r.best_validation_round = state["best_validation_round"]
    run.round_batch_losses = list(state["round_batch_losses"])
    run.round_stats = [t.to(run.device) for t in state["round_stats"]]
    last = state["last_batch_stats"]
    run.last_batch_stats = None if last is None else last.to(run.device)
    run.round_measurements = dict(state["round_measurements"])
    run.val_measurements = dict(state["val_measurements"])
    run.val_done_at = state["val_done_at"]
    run.best_key = state["best_key"]
    run.best_state = state["best_state"]
    run.finite_state = state["finite_state"]
    if run.stopper is not None and state["stopper"] is not None:
        run.stopper.best, run.stopper.bad = state["stopper"]
    trig = state["triggers"]
    if run.val_trigger is not None and trig["validation"] is not None:
        run.val_trigger.threshold = tuple(trig["validation"])
    if len(trig["callbacks"]) == len(run.callbacks.entries):
        for (_, t), th in zip(run.callbacks.entries, trig["callbacks"], strict=True):
            if t is not None and th is not None:
                t.threshold = tuple(th)
    specs = run.checkpointer.specs if run.checkpointer is not None else []
    if len(trig["checkpoints"]) == len(specs):
        for s, (th, counter, last_at) in zip(specs, trig["checkpoints"], strict=True):
            s.trigger.threshold, s.counter, s.last_at = tuple(th), counter, last_at
    run.timing_log.threshold = tuple(trig["timing"])
    run.t_start = time.perf_counter() - state["elapsed"]
