"""Loss layers: CrossEntropyLossLayer (on probabilities, 1-based index targets), MeanSquared, MeanAbsolute.

Each outputs one number per example: the mean over the example's elements (over its valid
steps only, for a varying dimension), as wl-nets.md §2.21/§2.23 define. NetTrain then averages
over the batch (engine.losses). The ``*_from_logits`` functions are the fused forms the
training module uses when the net ends in SoftmaxLayer / LogisticSigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.layers import register
from engine.layers.base import WolframLayer, check_args, fail, format_dims, real_input
from engine.spec import LayerSpec, LengthVar, TensorType

BINARY_EPSILON = 2.2e-16  # Wolfram adds this inside the logs of the binary cross-entropy


def per_example_mean(v: torch.Tensor, dims: tuple, lengths: dict[int, torch.Tensor] | None) -> torch.Tensor:
    """Mean of ``v`` (batch first, then ``dims``) per example, skipping padded steps."""
    if v.dim() == 1:
        return v
    var = [(i + 1, d.id) for i, d in enumerate(dims) if isinstance(d, LengthVar)]
    if var and lengths and var[0][1] in lengths:
        dim, vid = var[0]
        n = lengths[vid].to(v.device)
        shape = [1] * v.dim()
        shape[0], shape[dim] = v.shape[0], v.shape[dim]
        mask = (torch.arange(v.shape[dim], device=v.device)[None, :] < n[:, None]).reshape(shape)
        mask = mask.expand_as(v)
        total = (v * mask).reshape(v.shape[0], -1).sum(1)
        return total / mask.reshape(v.shape[0], -1).sum(1).clamp_min(1)
    return v.reshape(v.shape[0], -1).mean(1)


def ce_index(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log p[target] per position, target 1-based over the last dim of p."""
    tiny = torch.finfo(p.dtype).tiny
    picked = torch.gather(p, -1, (target.long() - 1).unsqueeze(-1)).squeeze(-1)
    return -torch.log(picked.clamp_min(tiny))


def ce_index_from_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The same as ``ce_index(softmax(logits), target)``, computed on the logits."""
    c = logits.shape[-1]
    if logits.dim() == 2:
        return F.cross_entropy(logits, target.long() - 1, reduction="none")
    out = F.cross_entropy(logits.reshape(-1, c), target.reshape(-1).long() - 1, reduction="none")
    return out.reshape(target.shape)


def ce_probabilities(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-sum t log p over the last dim, per position."""
    tiny = torch.finfo(p.dtype).tiny
    return -(target * torch.log(p.clamp_min(tiny))).sum(-1)


def ce_binary(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-(t log p + (1-t) log(1-p)) per element, with Wolfram's epsilon inside the logs."""
    eps = max(BINARY_EPSILON, torch.finfo(p.dtype).tiny)
    return -(target * torch.log(p + eps) + (1 - target) * torch.log(1 - p + eps))


def ce_binary_from_logits(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The same as ``ce_binary(sigmoid(z), target)``, computed stably on the logits."""
    return F.binary_cross_entropy_with_logits(z, target.to(z.dtype), reduction="none")


class LossLayer(WolframLayer):
    """Ports "Input" and "Target" to "Loss" (one number per example)."""

    def __init__(self, kind: str, form: str, elem_dims: tuple):
        super().__init__()
        self.kind, self.form = kind, form
        self._dims = elem_dims  # the dims of the per-position loss, for the mean

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x, t = inputs["Input"], inputs["Target"]
        if self.form == "Index":
            v = ce_index(x, t)
        elif self.form == "Probabilities":
            v = ce_probabilities(x, t)
        elif self.form == "Binary":
            v = ce_binary(x, t)
        elif self.form == "MeanSquared":
            v = torch.square(x - t)
        else:
            v = torch.abs(x - t)
        return {"Loss": per_example_mean(v, self._dims, lengths)}


def _same_shape(x: TensorType, t: TensorType | None, path: tuple[str, ...]) -> TensorType:
    if t is None or t.dims is None:
        return TensorType(x.dims)
    if len(t.dims) != len(x.dims) or any(
        a != b and not (isinstance(a, LengthVar) and isinstance(b, LengthVar))
        for a, b in zip(t.dims, x.dims, strict=True)
    ):
        raise fail(path, f"the \"Target\" shape {format_dims(t.dims)} does not match the "
                         f"\"Input\" shape {format_dims(x.dims)}.")
    return t


_LOSS_PORTS = {"inputs": ("Input", "Target"), "outputs": ("Loss",), "is_loss": True}


@register("CrossEntropyLossLayer", **_LOSS_PORTS)
def build_cross_entropy(spec: LayerSpec, in_types: dict[str, TensorType | None], path: tuple[str, ...]):
    args = check_args(spec, {"Form", "TargetForm"}, path)
    form = args.get("Form", args.get("TargetForm", "Index"))
    if form not in ("Index", "Probabilities", "Binary"):
        raise fail(path, f"the target form {form!r} is not supported; use \"Index\", "
                         "\"Probabilities\" or \"Binary\".")
    x = real_input(in_types, "Input", path)
    t = in_types.get("Target")
    if form == "Index":
        if not x.dims:
            raise fail(path, "CrossEntropyLossLayer[\"Index\"] needs an \"Input\" of probability "
                             "vectors (rank 1 or more), but got a scalar.")
        c = x.dims[-1]
        if isinstance(c, LengthVar):
            raise fail(path, "the class dimension (the last) of the \"Input\" cannot vary.")
        want = TensorType(x.dims[:-1], index_range=c)
        if t is not None and t.dims is not None and len(t.dims) != len(want.dims):
            raise fail(path, f"the \"Target\" of CrossEntropyLossLayer[\"Index\"] should be "
                             f"integers of shape {format_dims(want.dims)} (one index 1..{c} per "
                             f"probability vector), but has shape {format_dims(t.dims)}.")
        if t is not None and t.index_range is not None and t.index_range != c:
            raise fail(path, f"the \"Target\" holds integers 1..{t.index_range} but the \"Input\" "
                             f"has {c} classes.")
        target, elem = want, want.dims
    else:
        target = _same_shape(x, t, path)
        elem = x.dims[:-1] if form == "Probabilities" and x.dims else x.dims
        if form == "Probabilities" and not x.dims:
            raise fail(path, "CrossEntropyLossLayer[\"Probabilities\"] needs probability vectors.")
    m = LossLayer("CrossEntropyLossLayer", form, tuple(elem))
    m.input_types = {"Input": x, "Target": target}
    return m, {"Loss": TensorType(())}


def _build_mean_loss(kind: str, form: str):
    def build(spec: LayerSpec, in_types: dict[str, TensorType | None], path: tuple[str, ...]):
        check_args(spec, set(), path)
        x = real_input(in_types, "Input", path)
        target = _same_shape(x, in_types.get("Target"), path)
        m = LossLayer(kind, form, tuple(x.dims))
        m.input_types = {"Input": x, "Target": target}
        return m, {"Loss": TensorType(())}

    register(kind, **_LOSS_PORTS)(build)
    return build


build_mean_squared = _build_mean_loss("MeanSquaredLossLayer", "MeanSquared")
build_mean_absolute = _build_mean_loss("MeanAbsoluteLossLayer", "MeanAbsolute")
