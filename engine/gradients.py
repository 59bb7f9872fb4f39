"""GradientLogging: per-array gradient and update magnitudes of one batch (reference §3.8).

The logged value is ``{"GradientMagnitudes": g, "UpdateMagnitudes": u}``, two float64 numpy
vectors (packed arrays on the Wolfram side), no names:

* ``g[i] = norm_fn(G_i)`` over the *trainable* arrays, in the order the loop passes them (the
  order of the ``"Gradients"`` property: canonical sort of the Wolfram array paths under
  automatic multipliers, §3.8). ``G_i`` is NetTrain's raw gradient: the gradient of the **sum**
  over the batch of the per-example losses. A loop that back-propagates the batch *mean* passes
  ``grad_scale=batch_size``; in ``"Real16"`` the raw gradient also carries the low-precision
  rescale factor, which the module's half gradients already hold when read before unscaling
  (see `engine.precision`).
* ``u[i] = norm_fn(A_i(after) - A_i(before))`` over the *auxiliary* arrays (BatchNorm moving
  statistics, buffers) **followed by** the trainable arrays, so ``u`` may be longer than ``g``.

The default ``norm_fn`` is NetTrain's ``Abs /* Max`` (L-infinity). A user function gets the
whole array as a torch tensor (float32 or float64, on the training device) and returns a number.

Loop use (create the recorder only when ``events.active("Gradient")``; snapshots cost a copy of
every array per batch)::

    rec = GradientRecorder(named_trainable, named_aux, norm_fn, grad_scale=batch_size)
    ...per batch:
    rec.before_update()                      # before the first forward/backward/step
    ...UpdatesPerBatch x (zero_grad, forward, backward, step)...
    events.emit("Gradient", rec.after_update)   # after the last step, before the next zero_grad
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

NormFn = Callable[[torch.Tensor], float]


def linf_norm(t: torch.Tensor) -> float:
    """NetTrain's default GradientNormFunction, ``Abs /* Max``: the largest absolute entry."""
    return float(t.abs().max()) if t.numel() else 0.0


def l2_norm(t: torch.Tensor) -> float:
    """The Euclidean norm of the flattened array (Wolfram's ``Norm[Flatten[a]]``)."""
    return float(torch.linalg.vector_norm(t.reshape(-1).to(torch.float64)))


def _as_float(t: torch.Tensor) -> torch.Tensor:
    """At least float32: half arrays are widened so norms do not overflow or lose digits."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


class GradientRecorder:
    """Computes one batch's GradientLogging value from live parameters and their ``.grad``.

    ``named_trainable``: ``(path, Parameter)`` pairs of the trainable arrays in logging order;
    ``named_aux``: ``(path, Tensor)`` pairs of auxiliary arrays (buffers updated in place);
    ``norm_fn``: ``Tensor -> float`` (None = L-infinity); ``grad_scale``: multiplies every
    gradient before the norm (``batch_size`` when the loop's loss is the batch mean).
    The paths are kept for the caller (``names``); the payload itself has no names.
    """

    def __init__(
        self,
        named_trainable: Sequence[tuple[str, torch.Tensor]],
        named_aux: Sequence[tuple[str, torch.Tensor]] = (),
        norm_fn: NormFn | None = None,
        grad_scale: float = 1.0,
    ):
        self.trainable = list(named_trainable)
        self.aux = list(named_aux)
        self.norm_fn: NormFn = norm_fn or linf_norm
        self.grad_scale = float(grad_scale)
        self._before: list[torch.Tensor] | None = None

    @property
    def names(self) -> tuple[list[str], list[str]]:
        """(gradient array paths, update array paths) in payload order."""
        return [p for p, _ in self.trainable], [p for p, _ in self.aux + self.trainable]

    def before_update(self) -> None:
        """Snapshot every array (auxiliary, then trainable) just before the update."""
        with torch.no_grad():
            self._before = [t.detach().clone() for _, t in self.aux + self.trainable]

    def gradient_magnitudes(self) -> np.ndarray:
        """``g``: the norm of each trainable array's raw (batch-summed) gradient; an array
        that received no gradient counts as a zero gradient."""
        out = np.empty(len(self.trainable), dtype=np.float64)
        with torch.no_grad():
            for i, (_, p) in enumerate(self.trainable):
                g = p.grad
                if g is None:
                    g = torch.zeros_like(p)
                g = _as_float(g.detach())
                if self.grad_scale != 1.0:
                    g = g * self.grad_scale
                out[i] = float(self.norm_fn(g))
        return out

    def update_magnitudes(self) -> np.ndarray:
        """``u``: the norm of each array's change since `before_update`."""
        if self._before is None:
            raise RuntimeError("GradientRecorder.after_update called without before_update")
        arrays = self.aux + self.trainable
        out = np.empty(len(arrays), dtype=np.float64)
        with torch.no_grad():
            for i, ((_, a), b) in enumerate(zip(arrays, self._before, strict=True)):
                out[i] = float(self.norm_fn(_as_float(a.detach()) - _as_float(b)))
        return out

    def after_update(self) -> dict[str, np.ndarray]:
        """The GradientLogging association for this batch; drops the snapshot."""
        value = {
            "GradientMagnitudes": self.gradient_magnitudes(),
            "UpdateMagnitudes": self.update_magnitudes(),
        }
        self._before = None
        return value
