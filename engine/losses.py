"""Loss attachment (wl-nets.md §5): which loss each output gets, and the training module.

``attach_losses(model, net_spec=None, losses=None) -> TrainingModule``.
With no explicit losses (``LossFunction -> Automatic``):
1. an output port named "Loss" is the loss, as is;
2. else, if every output comes from a loss layer, those outputs are the losses;
3. else each output gets one: SoftmaxLayer -> CrossEntropyLossLayer["Index"] (1-based index
   targets; a Class decoder gives the Class encoder for the target), ElementwiseLayer of exactly
   LogisticSigmoid -> CrossEntropyLossLayer["Binary"], a loss layer -> itself, anything else ->
   MeanSquaredLossLayer. Integer outputs cannot get a loss.
Explicit `LossSpec`s name the port (None: the only output), the loss layer (None: the rule
above) and a ``scale`` (``Scaled[r]``). Vector-valued loss ports are summed per example.

Targets are inputs named after the output port (as in Wolfram's training graph). Where the net
ends in SoftmaxLayer (last level) and the loss is CrossEntropy["Index"], the loss is computed
from the pre-softmax logits with ``F.cross_entropy`` (the *fused* path); likewise Binary after
LogisticSigmoid with ``binary_cross_entropy_with_logits``. Then ``result["outputs"][port]`` holds
the logits; ``net_outputs(result)`` applies the final activation when probabilities are needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.encoders import target_encoder
from engine.errors import EngineError
from engine.graph import WolframModule
from engine.layers import lookup
from engine.layers.loss import (
    ce_binary_from_logits,
    ce_index_from_logits,
    per_example_mean,
)
from engine.spec import EncoderSpec, LayerSpec, LossSpec, NetSpec, TensorType

SIGMOID_NAMES = ("LogisticSigmoid", "Sigmoid")


@dataclass
class LossTerm:
    """One loss port: ``mode`` is "direct" (a net output that already is a loss), "layer",
    "fused_index" or "fused_binary"."""

    name: str
    port: str
    mode: str
    scale: float = 1.0
    layer: nn.Module | None = None
    form: str = ""  # "Index", "Binary", "Probabilities", "MeanSquared", "MeanAbsolute", ""
    elem_dims: tuple = ()


class TrainingModule(nn.Module):
    """The net plus its losses. ``forward(inputs, lengths)`` returns ``{"losses": {loss port:
    per-example loss (batch,)}, "outputs": {net output: tensor}}``."""

    def __init__(self, net: WolframModule, terms: list[LossTerm],
                 target_types: dict[str, TensorType], target_encoders: dict[str, EncoderSpec]):
        super().__init__()
        self.net = net
        self.terms = terms
        self.loss_layers = nn.ModuleList([t.layer for t in terms if t.layer is not None])
        self.target_types = target_types
        self.target_encoders = target_encoders
        self._pre = frozenset(t.port for t in terms if t.mode.startswith("fused"))

    @property
    def loss_ports(self) -> list[str]:
        return [t.name for t in self.terms]

    @property
    def error_port(self) -> str | None:
        """The output whose error rate NetTrain reports: the single cross-entropy loss's port."""
        if len(self.terms) == 1 and self.terms[0].form in ("Index", "Binary"):
            return self.terms[0].port
        return None

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, dict[str, torch.Tensor]]:
        outs = self.net(inputs, lengths, self._pre)
        losses: dict[str, torch.Tensor] = {}
        for t in self.terms:
            v = outs[t.port]
            if t.mode == "fused_index":
                loss = per_example_mean(ce_index_from_logits(v, inputs[t.name]), t.elem_dims, lengths)
            elif t.mode == "fused_binary":
                loss = per_example_mean(ce_binary_from_logits(v, inputs[t.name]), t.elem_dims, lengths)
            elif t.mode == "layer":
                loss = t.layer({"Input": v, "Target": inputs[t.name]}, lengths or {})["Loss"]
            else:
                loss = v if v.dim() == 1 else v.reshape(v.shape[0], -1).sum(1)
            losses[t.name] = loss * t.scale if t.scale != 1.0 else loss
        return {"losses": losses, "outputs": outs}

    def total_loss(self, result: dict[str, dict[str, torch.Tensor]]) -> torch.Tensor:
        """The number to minimise: the sum over loss ports of the batch means."""
        total = None
        for v in result["losses"].values():
            m = v.mean()
            total = m if total is None else total + m
        return total  # type: ignore[return-value]

    def net_outputs(self, result: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The net's outputs with the final activation applied on fused ports (probabilities)."""
        out = dict(result["outputs"])
        for t in self.terms:
            if t.mode == "fused_index":
                out[t.port] = torch.softmax(out[t.port], -1)
            elif t.mode == "fused_binary":
                out[t.port] = torch.sigmoid(out[t.port])
        return out

    def error_rate(self, result: dict[str, dict[str, torch.Tensor]],
                   inputs: dict[str, torch.Tensor]) -> float | None:
        """Fraction of wrong decisions on ``error_port`` (None when there is none)."""
        port = self.error_port
        if port is None:
            return None
        t = self.terms[0]
        v, target = result["outputs"][port], inputs[t.name]
        if t.form == "Index":
            return error_rate(v, target)
        threshold = 0.0 if t.mode == "fused_binary" else 0.5
        return float(((v >= threshold) != (target >= 0.5)).float().mean())


def error_rate(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of positions where argmax(outputs) (1-based) differs from the index target."""
    pred = outputs.argmax(-1) + 1
    return float((pred != targets.long()).float().mean())


def _err(text: str) -> EngineError:
    return EngineError("lossspec", text)


def attach_losses(model: WolframModule, net_spec: NetSpec | None = None,
                  losses: list[LossSpec] | None = None) -> TrainingModule:
    """Wrap ``model`` with the losses NetTrain would train it on (see the module docstring)."""
    spec = net_spec or model.spec
    outputs = list(model.output_types)
    producers = {p: model.output_producer(p) for p in outputs}

    def is_loss(port: str) -> bool:
        prod = producers[port]
        if prod is None:
            return False
        k = lookup(prod[1].kind)
        return bool(k and k.is_loss)

    specs = list(losses or [])
    if not specs:
        if "Loss" in outputs:
            specs = [LossSpec("Loss")]
        elif all(is_loss(p) for p in outputs):
            specs = [LossSpec(p) for p in outputs]
        else:
            specs = [LossSpec(p) for p in outputs]
    terms: list[LossTerm] = []
    target_types: dict[str, TensorType] = {}
    target_encoders: dict[str, EncoderSpec] = {}
    for ls in specs:
        port = ls.port
        if port is None:
            candidates = [p for p in outputs if not is_loss(p)] or outputs
            if len(candidates) != 1:
                raise _err(f"the loss must name an output port; the net has the outputs "
                           f"{', '.join(repr(p) for p in outputs)}.")
            port = candidates[0]
        if port not in model.output_types:
            raise _err(f"{port!r} is not an output port of the net; its outputs are "
                       f"{', '.join(repr(p) for p in outputs)}.")
        if any(t.name == port for t in terms):
            raise _err(f"the output {port!r} is given a loss twice.")
        if ls.layer is None and (port == "Loss" or is_loss(port)):
            terms.append(LossTerm(port, port, "direct", ls.scale))
            continue
        out_type = model.output_types[port]
        if out_type.is_index:
            raise _err(f"the output {port!r} holds integers, so it cannot get a loss.")
        layer_spec = ls.layer or _automatic_loss(producers[port])
        term, ttype = _layer_term(model, port, layer_spec, out_type, producers[port], ls.scale)
        terms.append(term)
        target_types[port] = ttype
        dec = spec.decoders.get(port)
        enc = target_encoder(dec, out_type, term.form) if dec is not None else None
        if enc is not None:
            target_encoders[port] = enc
    return TrainingModule(model, terms, target_types, target_encoders)


def _automatic_loss(producer: tuple[tuple[str, ...], LayerSpec] | None) -> LayerSpec:
    kind = producer[1] if producer else None
    if kind is not None and kind.kind == "SoftmaxLayer":
        return LayerSpec("CrossEntropyLossLayer", {"Form": "Index"})
    if kind is not None and kind.kind == "ElementwiseLayer" and kind.args.get("Function") in SIGMOID_NAMES:
        return LayerSpec("CrossEntropyLossLayer", {"Form": "Binary"})
    return LayerSpec("MeanSquaredLossLayer")


def _layer_term(model: WolframModule, port: str, layer_spec: LayerSpec, out_type: TensorType,
                producer: tuple[tuple[str, ...], LayerSpec] | None,
                scale: float) -> tuple[LossTerm, TensorType]:
    k = lookup(layer_spec.kind)
    path = ("LossFunction", f'"{port}"', layer_spec.kind)
    if k is None or not k.is_loss:
        raise _err(f"{layer_spec.kind} is not a loss layer the engine supports "
                   "(CrossEntropyLossLayer, MeanSquaredLossLayer, MeanAbsoluteLossLayer).")
    layer, _ = k.build(layer_spec, {"Input": out_type, "Target": None}, path)
    layer.path = path
    ttype = layer.input_types["Target"]
    form = getattr(layer, "form", "")
    mode = "layer"
    prod = producer[1] if producer else None
    if prod is not None and model.fusable(port):
        level = prod.args.get("Level", -1)
        rank = len(out_type.dims or ())
        if form == "Index" and prod.kind == "SoftmaxLayer" and level in (-1, rank):
            mode = "fused_index"
        elif (form == "Binary" and prod.kind == "ElementwiseLayer"
              and prod.args.get("Function") in SIGMOID_NAMES):
            mode = "fused_binary"
    elem = tuple(layer._dims)
    return LossTerm(port, port, mode, scale, layer if mode == "layer" else None, form, elem), ttype
