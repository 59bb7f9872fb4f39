"""DotLayer and AttentionLayer with the conventions of their documentation pages and of the
NeuralNetworks 12.0 layer definition (wl-nets.md §2.20).

DotLayer: ports "1", "2" (multiport); Dot[a, b] of one example, contracting the last level of a
with the first level of b (vector.vector is a scalar, matrix.vector a vector, ...).

AttentionLayer args:

* "ScoringNet": "Dot" (s = q.k), "Bilinear" (default; s = q.(W.k) with a bias-free LinearLayer
  "Weights" W of dims {dq, dk} applied to the key, as NeuralNetworks builds it), or a `NetSpec`
  with inputs "Input" (a key vector) and "Query" (a query vector) and a scalar "Output".
  "Bilinear" is held as the same two-node graph (``bilinear_spec``), so its weights live at
  the array path ``(..., "ScoringNet", "Linear", "Weights")``.
* "Mask": None | "Causal" | ("Causal", n) (query i sees keys i-n+1 .. i).
* "ScoreRescaling": None | "LengthSqrt" (divide by the square root of the number of keys each
  query sees) | "DimensionSqrt" (divide by the square root of the key size of one head).
* "MultiHead": False | True (the level before the channel level indexes heads; each head
  attends on its own, with the same scoring net).
* "Dropout": probability applied to the attention weights in training (default 0).

Ports "Key" {n, dk}, "Value" {n, dv}, "Query" {dq} or {m, dq} (with a head level {.., h, d}
under "MultiHead"), "Output" {dv} or {m, dv} (or {m, h, dv}). Keys of a "Varying" length are
masked past each example's length.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from engine.layers import register
from engine.layers.base import WolframLayer, check_args, fail, format_dims, real_input
from engine.spec import LayerSpec, LengthVar, NetSpec, TensorType

# ---------------------------------------------------------------------------------------------
# DotLayer


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-example Dot: batch-first tensors, last level of ``a`` with the first level of ``b``."""
    batch, n = a.shape[0], a.shape[-1]
    left, right = a.shape[1:-1], b.shape[2:]
    y = torch.bmm(a.reshape(batch, -1, n), b.reshape(batch, n, -1))
    return y.reshape(batch, *left, *right)


class DotLayer(WolframLayer):
    kind = "DotLayer"

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        return {"Output": dot(inputs["1"], inputs["2"])}


@register("DotLayer", inputs=None)
def build_dot(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    check_args(spec, set(), path)
    if sorted(in_types) != ["1", "2"]:
        raise fail(path, f"DotLayer takes exactly two inputs, but {len(in_types)} are connected.")
    a, b = (real_input(in_types, p, path, min_rank=1) for p in ("1", "2"))
    if a.varying or b.varying:
        raise fail(path, "DotLayer needs fixed dimensions.")
    if a.dims[-1] != b.dims[0]:
        raise fail(path, f"cannot Dot arrays of dimensions {format_dims(a.dims)} and {format_dims(b.dims)}: "
                         f"the last dimension of the first must equal the first of the second.")
    return DotLayer(), {"Output": TensorType((*a.dims[:-1], *b.dims[1:]))}


# ---------------------------------------------------------------------------------------------
# AttentionLayer


def bilinear_spec() -> NetSpec:
    """The "Bilinear" scoring net as NeuralNetworks builds it: Linear (no bias) on the key, then
    Dot with the query."""
    return NetSpec("graph", {"Linear": LayerSpec("LinearLayer", {"Biases": None}),
                             "Dot": LayerSpec("DotLayer")},
                   [((None, "Query"), ("Dot", "1")), (("Linear", "Output"), ("Dot", "2")),
                    ((None, "Input"), ("Linear", "Input")), (("Dot", "Output"), (None, "Output"))])


class AttentionLayer(WolframLayer):
    """Softmax-weighted sums of the values; see the module docstring for the arguments."""

    kind = "AttentionLayer"

    def __init__(self, scoring: str, net: nn.Module | None, cfg: dict[str, Any]):
        super().__init__()
        self.scoring, self.net, self.cfg = scoring, net, cfg

    def inner_nets(self) -> dict[str, nn.Module]:
        """Nets inside this layer by parameter name (their arrays are this layer's)."""
        return {} if self.net is None else {"ScoringNet": self.net}

    def _heads(self, x: torch.Tensor, seq: bool) -> torch.Tensor:
        """(batch, heads, steps, channels) from the port's layout."""
        if not self.cfg["multihead"]:
            x = x.unsqueeze(-2)
        if not seq:
            x = x.unsqueeze(1)
        return x.transpose(1, 2)

    def _scores(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        if self.scoring == "Dot":
            return q @ k.transpose(-1, -2)
        if self.scoring == "Bilinear":
            w = self.net.node(self.cfg["linear"]).Weights  # {dq, dk}
            return q @ (k @ w.T).transpose(-1, -2)
        b, h, m, dq = q.shape
        n, dk = k.shape[2], k.shape[3]
        qq = q.unsqueeze(3).expand(b, h, m, n, dq).reshape(-1, dq)
        kk = k.unsqueeze(2).expand(b, h, m, n, dk).reshape(-1, dk)
        out = self.net({"Input": kk, "Query": qq}, {})["Output"]
        return out.reshape(b, h, m, n)

    def _mask_and_scale(self, s: torch.Tensor, key_lens: torch.Tensor | None) -> torch.Tensor:
        m, n = s.shape[-2:]
        i = torch.arange(m, device=s.device)[:, None]
        j = torch.arange(n, device=s.device)[None, :]
        visible = torch.ones(m, n, dtype=torch.bool, device=s.device)[None, None]
        count = torch.full((1, 1, 1, 1), float(n), device=s.device)
        if key_lens is not None:
            lens = key_lens.to(s.device).reshape(-1, 1, 1, 1)
            visible = visible & (j < lens)
            count = lens.to(s.dtype)
        mask = self.cfg["mask"]
        if mask is not None:
            visible = visible & (j <= i)
            if mask[1] is not None:
                visible = visible & (j > i - mask[1])
            count = torch.minimum(count, (i + 1).to(s.dtype))
            if mask[1] is not None:
                count = torch.minimum(count, torch.tensor(float(mask[1]), device=s.device))
        rescale = self.cfg["rescale"]
        if rescale == "LengthSqrt":
            s = s / count.clamp_min(1).sqrt()
        elif rescale == "DimensionSqrt":
            s = s / math.sqrt(self.cfg["key_size"])
        if key_lens is None and mask is None:
            return s
        return s.masked_fill(~visible, torch.finfo(s.dtype).min)

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        q = self._heads(inputs["Query"], cfg["query_seq"])
        k = self._heads(inputs["Key"], True)
        v = self._heads(inputs["Value"], True)
        key_lens = None if cfg["key_var"] is None or not lengths else lengths.get(cfg["key_var"])
        s = self._mask_and_scale(self._scores(q, k), key_lens)
        w = torch.softmax(s, -1)
        if self.training and cfg["dropout"] > 0:
            w = torch.nn.functional.dropout(w, cfg["dropout"], True)
        out = (w @ v).transpose(1, 2)  # (batch, steps, heads, dv)
        if not cfg["query_seq"]:
            out = out.squeeze(1)
        if not cfg["multihead"]:
            out = out.squeeze(-2)
        return {"Output": out}


def _port(in_types: dict[str, TensorType], port: str, rank: tuple[int, ...], path: tuple[str, ...]) -> TensorType:
    t = real_input(in_types, port, path)
    if len(t.dims) not in rank:
        ranks = " or ".join(str(r) for r in rank)
        raise fail(path, f"the port {port!r} should be an array of rank {ranks}, "
                         f"but has dimensions {format_dims(t.dims)}.")
    return t


def bilinear_node(spec: NetSpec) -> str | None:
    """The key of the LinearLayer when ``spec`` is a bias-free Linear on "Input" whose output is
    dotted with "Query" (the "Bilinear" net, however its nodes are named), else None."""
    if spec.kind != "graph" or len(spec.nodes) != 2:
        return None
    kinds = {k: n.kind for k, n in spec.nodes.items() if isinstance(n, LayerSpec)}
    lin = [k for k, v in kinds.items() if v == "LinearLayer"]
    dots = [k for k, v in kinds.items() if v == "DotLayer"]
    if len(lin) != 1 or len(dots) != 1:
        return None
    node = spec.nodes[lin[0]]
    if not (node.args.get("Biases", 0) is None or node.arrays.get("Biases", 0) is None):
        return None
    into_dot = {src for src, dst in spec.edges if dst[0] == dots[0]}
    if into_dot != {(None, "Query"), (lin[0], "Output")}:
        return None
    return lin[0] if ((None, "Input"), (lin[0], "Input")) in spec.edges else None


def _scoring_net(scoring: Any, dq: int, dk: int, path: tuple[str, ...]) -> nn.Module:
    from engine import graph  # the container builder imports the layers, so import it late

    spec = bilinear_spec() if scoring == "Bilinear" else scoring
    if scoring == "Bilinear":
        spec.nodes["Linear"].outputs["Output"] = TensorType((dq,))
    if not isinstance(spec, NetSpec):
        raise fail(path, f"the scoring net should be \"Dot\", \"Bilinear\" or a net, not {scoring!r}.")
    types = {"Input": TensorType((dk,)), "Query": TensorType((dq,))}
    net, _ = graph.build_net(spec, types, (*path, '"ScoringNet"'))
    out = net.output_types.get("Output")
    if set(net.input_types) != {"Input", "Query"} or out is None or tuple(out.dims or ()) != ():
        raise fail(path, "the scoring net should take the ports \"Input\" and \"Query\" and give a "
                         "scalar \"Output\".")
    return net


@register("AttentionLayer", inputs=("Key", "Value", "Query"))
def build_attention(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"ScoringNet", "Mask", "ScoreRescaling", "MultiHead", "Dropout"}, path)
    heads = bool(args.get("MultiHead", False))
    extra = 1 if heads else 0
    key = _port(in_types, "Key", (2 + extra,), path)
    value = _port(in_types, "Value", (2 + extra,), path)
    query = _port(in_types, "Query", (1 + extra, 2 + extra), path)
    both_vary = isinstance(key.dims[0], LengthVar) and isinstance(value.dims[0], LengthVar)
    if (key.dims[0] != value.dims[0] and not both_vary) or (heads and key.dims[1] != value.dims[1]):
        raise fail(path, f"the \"Key\" {format_dims(key.dims)} and \"Value\" {format_dims(value.dims)} "
                         "should have the same number of elements.")
    if heads and query.dims[-2] != key.dims[1]:
        raise fail(path, f"the \"Query\" has {query.dims[-2]} heads but the \"Key\" has {key.dims[1]}.")
    query_seq = len(query.dims) == 2 + extra
    mask = args.get("Mask")
    same_steps = query_seq and (query.dims[0] == key.dims[0] or (
        isinstance(query.dims[0], LengthVar) and isinstance(key.dims[0], LengthVar)))
    if mask is not None and not same_steps:
        raise fail(path, "a causal \"Mask\" needs a sequence of queries as long as the keys.")
    dq, dk = query.dims[-1], key.dims[-1]
    scoring = args.get("ScoringNet", "Bilinear")
    if scoring == "Dot" and dq != dk:
        raise fail(path, f"the \"Dot\" scoring needs queries and keys of the same size, not {dq} and {dk}.")
    net = None if scoring == "Dot" else _scoring_net(scoring, dq, dk, path)
    kind = scoring if isinstance(scoring, str) else "Net"
    linear = "Linear" if kind == "Bilinear" else bilinear_node(scoring) if kind == "Net" else None
    if linear is not None:
        kind = "Bilinear"  # the fast path: transform the keys once, then one batched product
    steps = key.dims[0]
    cfg = {"multihead": heads, "query_seq": query_seq, "mask": mask, "rescale": args.get("ScoreRescaling"),
           "linear": linear,
           "dropout": float(args.get("Dropout") or 0.0), "key_size": dk,
           "key_var": steps.id if isinstance(steps, LengthVar) else None}
    m = AttentionLayer(kind, net, cfg)
    m.input_types = {"Key": key, "Value": value, "Query": query}
    out = (*query.dims[:-1], value.dims[-1])
    return m, {"Output": TensorType(out)}


class SequenceAttentionLayer(AttentionLayer):
    """The older SequenceAttentionLayer: ports "Input" (keys and values) and "Query"."""

    kind = "SequenceAttentionLayer"

    def forward(self, inputs, lengths=None):
        x = inputs["Input"]
        return super().forward({"Key": x, "Value": x, "Query": inputs["Query"]}, lengths)


@register("SequenceAttentionLayer", inputs=("Input", "Query"))
def build_sequence_attention(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    """SequenceAttentionLayer[scoring] is AttentionLayer[scoring] with "Key" = "Value" = "Input"."""
    x = in_types.get("Input")
    m, out = build_attention(spec, {"Key": x, "Value": x, "Query": in_types.get("Query")}, path)
    m.__class__ = SequenceAttentionLayer
    m.input_types = {"Input": m.input_types["Key"], "Query": m.input_types["Query"]}
    return m, out
