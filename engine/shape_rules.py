"""Shape rules (the `engine.shapes` hook) of the layers whose information flows backwards.

Forward shapes come from the builders; these rules add what a builder cannot know: the shape
a shape-preserving layer's input must have given its output, a LinearLayer's output from its
"OutputDimensions", the inputs of ThreadingLayer/TotalLayer from their output, a loss layer's
"Target" from its "Input" (and back). A layer registered elsewhere adds its own rule with
``@shape_rule`` beside its builder.
"""

from __future__ import annotations

from engine.shapes import Types, same_shape, shape_rule
from engine.spec import LayerSpec, TensorType

Rule = tuple[dict[str, TensorType], dict[str, TensorType]]

shape_rule("ElementwiseLayer", "SoftmaxLayer", "DropoutLayer", "BatchNormalizationLayer",
           "NormalizationLayer")(same_shape)


@shape_rule("LinearLayer")
def linear(spec: LayerSpec, ins: Types, outs: Types) -> Rule:
    """The output is the array "OutputDimensions" names; the input may be any real array."""
    out = spec.args.get("OutputDimensions")
    if out is None:
        w = spec.arrays.get("Weights")
        return {}, ({"Output": TensorType((int(w.shape[0]),))} if w is not None
                    and outs.get("Output") is None else {})
    return {}, {"Output": TensorType(tuple(out))}


@shape_rule("ThreadingLayer", "TotalLayer")
def threading(spec: LayerSpec, ins: Types, outs: Types) -> Rule:
    """Inputs combine elementwise: an input nothing else sizes takes the output's shape, and
    equal inputs give the output theirs (size-1 broadcasting is left to the builder)."""
    out = outs.get("Output")
    new_ins = {p: TensorType(out.dims) for p, t in ins.items() if t is None and out is not None}
    known = [t for t in ins.values() if t is not None and t.dims is not None]
    new_outs = {}
    if out is None and known and len(known) == len(ins) and all(t.dims == known[0].dims
                                                                 for t in known):
        new_outs["Output"] = TensorType(known[0].dims)
    return new_ins, new_outs


@shape_rule("SummationLayer")
def summation(spec: LayerSpec, ins: Types, outs: Types) -> Rule:
    return {}, {"Output": TensorType(())}


@shape_rule("MeanSquaredLossLayer", "MeanAbsoluteLossLayer")
def mean_loss(spec: LayerSpec, ins: Types, outs: Types) -> Rule:
    """Input and Target have one shape; the loss is a number per example."""
    t = ins.get("Input") or ins.get("Target")
    if t is None:
        return {}, {"Loss": TensorType(())}
    real = TensorType(t.dims)
    return {"Input": real, "Target": real}, {"Loss": TensorType(())}


@shape_rule("CrossEntropyLossLayer")
def cross_entropy(spec: LayerSpec, ins: Types, outs: Types) -> Rule:
    """"Index": the Target is the Input without its class level, as 1-based class indices;
    "Binary"/"Probabilities": the Target has the Input's shape."""
    form = spec.args.get("Form", spec.args.get("TargetForm", "Index"))
    x, y = ins.get("Input"), ins.get("Target")
    new: dict[str, TensorType] = {}
    if form != "Index":
        t = x or y
        if t is not None:
            new = {"Input": TensorType(t.dims), "Target": TensorType(t.dims)}
    elif x is not None and x.dims:
        n = x.dims[-1] if isinstance(x.dims[-1], int) else None
        new["Target"] = TensorType(tuple(x.dims[:-1]), n)
    elif y is not None and y.dims is not None and y.index_range:
        new["Input"] = TensorType((*y.dims, y.index_range))
    return new, {"Loss": TensorType(())}
