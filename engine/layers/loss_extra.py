"""ContrastiveLossLayer and CTCLossLayer, as their pages and NeuralNetworks define them.

* ContrastiveLossLayer "Margin" (0.5): "Input" a distance, "Target" True (1) when the distance
  should grow: the loss is Max[margin - d, 0] for True targets and d for False ones
  (NeuralNetworks mixes the two by the target).
* CTCLossLayer: "Input" a sequence of probability vectors of size c+1 whose *last* element is the
  blank, "Target" a sequence of integers 1..c, "Output" -log P(target | input) summed over the
  alignments (Graves et al. 2006), per example.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.layers import register
from engine.layers.base import WolframLayer, check_args, fail, format_dims, real_input
from engine.spec import LayerSpec, LengthVar, TensorType


class ContrastiveLossLayer(WolframLayer):
    kind = "ContrastiveLossLayer"

    def __init__(self, margin: float):
        super().__init__()
        self.margin = margin

    def forward(self, inputs, lengths=None):
        d, t = inputs["Input"], inputs["Target"].to(inputs["Input"].dtype)
        return {"Loss": t * torch.relu(self.margin - d) + (1 - t) * d}


@register("ContrastiveLossLayer", inputs=("Input", "Target"), outputs=("Loss",), is_loss=True)
def build_contrastive(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Margin"}, path)
    t = real_input(in_types, "Input", path)
    if t.dims != ():
        raise fail(path, f"the \"Input\" should be a distance (a real number), not an array {format_dims(t.dims)}.")
    m = ContrastiveLossLayer(float(args.get("Margin", 0.5)))
    m.input_types = {"Input": t, "Target": TensorType(())}
    return m, {"Loss": TensorType(())}


class CTCLossLayer(WolframLayer):
    kind = "CTCLossLayer"

    def __init__(self, input_var: int | None, target_var: int | None):
        super().__init__()
        self.input_var, self.target_var = input_var, target_var

    def forward(self, inputs, lengths=None):
        p, target = inputs["Input"], inputs["Target"].long()
        lengths = lengths or {}
        batch, steps, classes = p.shape
        n_in = lengths.get(self.input_var) if self.input_var is not None else None
        n_t = lengths.get(self.target_var) if self.target_var is not None else None
        n_in = torch.full((batch,), steps, dtype=torch.long) if n_in is None else n_in.long().cpu()
        n_t = torch.full((batch,), target.shape[1], dtype=torch.long) if n_t is None else n_t.long().cpu()
        log_p = torch.log(p.clamp_min(torch.finfo(p.dtype).tiny)).transpose(0, 1)  # (T, N, C)
        loss = F.ctc_loss(log_p, (target - 1).clamp_min(0), n_in, n_t, blank=classes - 1,
                          reduction="none", zero_infinity=False)
        return {"Output": loss, "Loss": loss}  # "Loss" too, for NetTrain's loss attachment


@register("CTCLossLayer", inputs=("Input", "Target"), outputs=("Output",), is_loss=True)
def build_ctc(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    check_args(spec, set(), path)
    t = real_input(in_types, "Input", path, min_rank=2)
    if len(t.dims) != 2 or t.dims[1] < 2:
        raise fail(path, f"the \"Input\" should be a sequence of probability vectors of size c+1 (c >= 1), "
                         f"not {format_dims(t.dims)}.")
    target = in_types.get("Target")
    if target is None or target.dims is None or len(target.dims) != 1 or target.dims[0] is None:
        raise fail(path, "the \"Target\" should be a sequence of integers; declare it, e.g. "
                         "\"Target\" -> {\"Varying\"} or \"Target\" -> {n}.")
    steps, tsteps = t.dims[0], target.dims[0]
    m = CTCLossLayer(steps.id if isinstance(steps, LengthVar) else None,
                     tsteps.id if isinstance(tsteps, LengthVar) else None)
    m.input_types = {"Input": t, "Target": TensorType(tuple(target.dims), t.dims[1] - 1)}
    return m, {"Output": TensorType(())}
