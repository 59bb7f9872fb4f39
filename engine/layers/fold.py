"""NetFoldOperator, as its page defines it: the net applied along sequences with a recurrent state.

args: "Net" (a `LayerSpec`/`NetSpec`), "Feedback" (output -> input port names; default
{"Output": "State"}), "Constants" (input ports given whole at every step instead of mapped
over), "Outputs" (the outputs returned as sequences; only ("Output",) here). Every other input
of the net is mapped over (all the same length). Each step computes the net on the step's
elements, the constants and the states; the states start at zero and take the fed-back outputs.
A state's shape is the one declared on the net's port, or else found by a probe (the net built
once with the first mapped element's shape as a guess).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from engine.errors import EngineError
from engine.layers import register
from engine.layers.base import check_args, fail, format_dims
from engine.layers.operators import Inner, Operator, inner_ports
from engine.spec import LayerSpec, NetSpec, TensorType

_DEFAULT_FEEDBACK = {"Output": "State"}


def _roles(spec: LayerSpec, path: tuple[str, ...]) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    """(feedback, constants, mapped inputs) of a NetFoldOperator spec."""
    feedback = dict(spec.args.get("Feedback") or _DEFAULT_FEEDBACK)
    constants = tuple(spec.args.get("Constants") or ())
    names = inner_ports(spec.args["Net"], path)
    for port in (*feedback.values(), *constants):
        if port not in names:
            raise fail(path, f"the folded net has no input {port!r}; its inputs are {', '.join(names)}.")
    mapped = tuple(p for p in names if p not in feedback.values() and p not in constants)
    if not mapped:
        raise fail(path, "the folded net needs at least one input to map over the sequence.")
    return feedback, constants, mapped


def fold_ports(spec: LayerSpec) -> tuple[str, ...]:
    """The operator's input ports: the mapped inputs, then the constants."""
    _, constants, mapped = _roles(spec, ())
    return (*mapped, *constants)


class Fold(Operator):
    kind = "NetFoldOperator"

    def __init__(self, nets: dict[str, Inner], feedback: dict[str, str], constants: tuple[str, ...],
                 mapped: tuple[str, ...], states: dict[str, tuple[int, ...]]):
        super().__init__(nets)
        self.feedback, self.constants, self.mapped, self.states = feedback, constants, mapped, states

    def forward(self, inputs, lengths=None):
        x = inputs[self.mapped[0]]
        state = {p: x.new_zeros((x.shape[0], *dims)) for p, dims in self.states.items()}
        outs = []
        for i in range(x.shape[1]):
            step = {p: inputs[p][:, i] for p in self.mapped}
            result = self.nets["Net"]({**step, **{c: inputs[c] for c in self.constants}, **state}, {})
            state = {port: result[out] for out, port in self.feedback.items()}
            outs.append(result["Output"])
        return {"Output": torch.stack(outs, 1)}


def _without_arrays(spec: LayerSpec | NetSpec) -> LayerSpec | NetSpec:
    """A copy with the given arrays dropped (removals kept), for probing output shapes."""
    if isinstance(spec, NetSpec):
        return replace(spec, nodes={k: _without_arrays(v) for k, v in spec.nodes.items()})
    return replace(spec, arrays={k: v for k, v in spec.arrays.items() if v is None})


def _state_types(inner: Any, feedback: dict[str, str], others: dict[str, TensorType],
                 path: tuple[str, ...]) -> dict[str, TensorType]:
    declared = {p: inner.inputs[p] for p in feedback.values() if p in inner.inputs
                and inner.inputs[p].dims is not None and all(isinstance(d, int) for d in inner.inputs[p].dims)}
    if len(declared) == len(feedback):
        return declared
    guess = next(iter(others.values()))
    try:
        probe = Inner(_without_arrays(inner), {**others, **{p: declared.get(p, TensorType(guess.dims))
                                                            for p in feedback.values()}}, (*path, '"Net"'))
        return {port: declared.get(port, TensorType(tuple(probe.outputs[out].dims))) for out, port in feedback.items()}
    except (EngineError, KeyError):
        raise fail(path, "the shape of the state could not be inferred; give the folded net's state "
                         "port a shape, e.g. \"State\" -> n.") from None


@register("NetFoldOperator", inputs=None, ports=fold_ports)
def build_fold(spec: LayerSpec, in_types: dict[str, TensorType], path: tuple[str, ...]):
    args = check_args(spec, {"Net", "Feedback", "Constants", "Outputs"}, path)
    if tuple(args.get("Outputs") or ("Output",)) != ("Output",):
        raise fail(path, "NetFoldOperator returns the sequence of \"Output\" here; other outputs are not supported.")
    feedback, constants, mapped = _roles(spec, path)
    steps: Any = None
    others: dict[str, TensorType] = {}
    for p in mapped:
        t = in_types.get(p)
        if t is None or not t.dims or any(d is None for d in t.dims):
            raise fail(path, f"the input {p!r} should be a sequence (shape {{\"Varying\", ...}} or {{n, ...}}).")
        steps = t.dims[0] if steps is None else steps
        others[p] = TensorType(tuple(t.dims[1:]), t.index_range)
    for c in constants:
        t = in_types.get(c)
        if t is None or t.dims is None:
            raise fail(path, f"the shape of the constant input {c!r} could not be inferred; declare it.")
        others[c] = t
    states = _state_types(args["Net"], feedback, others, path)
    net = Inner(args["Net"], {**others, **states}, (*path, '"Net"'))
    for out, port in feedback.items():
        got = net.outputs.get(out)
        if got is None or tuple(got.dims) != tuple(states[port].dims):
            raise fail(path, f"the folded net's {out!r} {format_dims(None if got is None else got.dims)} "
                             f"should have the state's dimensions {format_dims(states[port].dims)}.")
    if "Output" not in net.outputs:
        raise fail(path, "the folded net should have an output called \"Output\".")
    m = Fold({"Net": net}, feedback, constants, mapped, {p: tuple(t.dims) for p, t in states.items()})
    m.input_types = {p: in_types[p] for p in (*mapped, *constants)}
    return m, {"Output": TensorType((steps, *net.outputs["Output"].dims))}
