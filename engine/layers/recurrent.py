"""Recurrent layers with Wolfram's arrays, gate order and masking (wl-nets.md §2.12–2.14, §8.5–8.6).

Each layer keeps its arrays as parameters under their Wolfram names in Wolfram layout (one
``{n, k}`` input matrix, one ``{n, n}`` state matrix and one bias per gate), so trained arrays
are read and written back without conversion. At each call they are stacked into PyTorch's
fused layout (LSTM gates i, f, g, o = Input, Forget, Memory, Output; GRU r, z, n = Reset,
Input, Memory) and run by PyTorch's fused kernel through `torch.func.functional_call`.

Wolfram has one bias per gate; PyTorch has two (``b_ih``, ``b_hh``). The state-side bias is a
zero buffer that is never trained: the Wolfram bias is exactly ``b_ih``, and the GRU candidate's
hidden-side bias ``b_hn`` (which Wolfram has no place for) is zero by construction.

Varying-length input runs unpacked on the padded batch: PyTorch's packed-sequence backward is
O(T²) on the CPU (each step's slice backward fills a zero tensor the size of the whole packed
data), so a 32×399 LSTM batch took ~15× longer packed than unpacked. The batch is cut along time
at its distinct lengths and the fused kernel runs segment after segment, each starting from the
state the previous one ended in; the cuts are one ``torch.split`` and one ``torch.cat``, so the
backward stays linear in the number of steps and the kernel calls (at most one per example) cost
no more than one call over the whole batch. The layers are causal, so the outputs at an
example's valid steps are exactly those packing gives, and the state at the end of the segment
where an example's length falls is its final "State" (and, for the LSTM, "CellState", which
cannot be read off the outputs). Steps past the longest length are not computed. The padded
input steps are zeroed first (so the pad value, even NaN, never reaches a gradient) and the
padded output steps are zeroed after, so downstream layers see the same tensors as before and
no gradient flows into padded steps. Optional state ports: inputs "State" (and "CellState" for
the LSTM) set the initial state (zero when absent); outputs "State"/"CellState" give the state
after each example's last valid step (the initial state for a length of 0).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from engine.layers import register
from engine.layers.base import WolframLayer, check_args, fail, format_dims, real_input
from engine.spec import LayerSpec, LengthVar, TensorType

_ALLOWED = {"OutputSize", "OutputDimensions", "Dropout"}


class RecurrentLayer(WolframLayer):
    """A single-layer unidirectional recurrent net with per-gate Wolfram arrays.

    ``fused_gates`` lists the Wolfram gate prefixes in PyTorch's stacking order; ``mode`` is the
    PyTorch module used as the kernel ("LSTM", "GRU", "RNN").
    """

    fused_gates: tuple[str, ...] = ()
    mode: str = ""
    state_ports: tuple[str, ...] = ("State",)

    def __init__(self, input_size: int, size: int, length_var: int | None,
                 nonlinearity: str = "tanh") -> None:
        super().__init__()
        self.input_size, self.size, self.length_var = input_size, size, length_var
        for name in self.array_names:
            shape = (size,) if name.endswith("Biases") else (
                (size, input_size) if name.endswith("InputWeights") else (size, size))
            self.register_parameter(name, nn.Parameter(torch.empty(shape)))
        self.register_buffer("state_bias", torch.zeros(len(self.fused_gates) * size), persistent=False)
        kwargs: dict[str, Any] = {"batch_first": True, "device": "meta"}
        if self.mode == "RNN":
            kwargs["nonlinearity"] = nonlinearity
        # The kernel holds no data of its own (meta device) and stays out of parameters():
        # functional_call gives it the stacked Wolfram arrays on every call.
        self.__dict__["kernel"] = getattr(nn, self.mode)(input_size, size, **kwargs)
        self.reset_arrays()

    def reset_arrays(self) -> None:
        """Wolfram's initialisation: Xavier-uniform matrices, zero biases, forget bias 1."""
        with torch.no_grad():
            for name, p in self.named_parameters(recurse=False):
                if name.endswith("Biases"):
                    p.fill_(1.0 if name == "ForgetGateBiases" else 0.0)
                else:
                    nn.init.xavier_uniform_(p)

    def _w(self, suffix: str) -> list[torch.Tensor]:
        return [getattr(self, f"{g}{suffix}") for g in self.fused_gates]

    def fused(self) -> dict[str, torch.Tensor]:
        """The arrays stacked in PyTorch's layout (views of the Wolfram parameters, differentiable)."""
        return {
            "weight_ih_l0": torch.cat(self._w("InputWeights")),
            "weight_hh_l0": torch.cat(self._w("StateWeights")),
            "bias_ih_l0": torch.cat(self._w("Biases")),
            "bias_hh_l0": self.state_bias,
        }

    def _initial_state(self, inputs: dict[str, torch.Tensor], batch: int, like: torch.Tensor) -> Any:
        states = []
        for port in self.state_ports:
            s = inputs.get(port)
            states.append(torch.zeros(1, batch, self.size, dtype=like.dtype, device=like.device)
                          if s is None else s.to(like.dtype).unsqueeze(0).contiguous())
        if all(port not in inputs for port in self.state_ports):
            return None
        return tuple(states) if len(states) > 1 else states[0]

    def forward(self, inputs: dict[str, torch.Tensor],
                lengths: dict[int, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        x = inputs["Input"]
        batch, steps = x.shape[0], x.shape[1]
        lens = None if self.length_var is None or not lengths else lengths.get(self.length_var)
        hx = self._initial_state(inputs, batch, x)
        if lens is None or bool((lens == steps).all()):
            out, final = functional_call(self.kernel, self.fused(), (x, hx))
            finals = final if isinstance(final, tuple) else (final,)
            return {"Output": out, **{p: s[0] for p, s in zip(self.state_ports, finals, strict=True)}}
        return self._ragged(x, hx, lens.to(x.device, torch.int64))

    def _ragged(self, x: torch.Tensor, hx: Any, lens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unpacked run of a ragged batch, cut at its distinct lengths (see the module docstring)."""
        batch, steps = x.shape[0], x.shape[1]
        valid = (torch.arange(steps, device=x.device) < lens[:, None])[..., None]
        x = torch.where(valid, x, x.new_zeros(()))
        bounds = [b for b in torch.unique(lens).tolist() if b > 0]
        if hx is None:
            zero = x.new_zeros(1, batch, self.size)
            hx = (zero, zero) if len(self.state_ports) > 1 else zero
        starts = [hx] if isinstance(hx, tuple) else [(hx,)]
        outs: list[torch.Tensor] = []
        if bounds:
            sizes = [b - a for a, b in zip([0, *bounds[:-1]], bounds, strict=True)]
            pieces = torch.split(x, [*sizes, steps - bounds[-1]], dim=1)[: len(sizes)]
            segs = functional_call(self._segmented, {f"kernel.{k}": v for k, v in self.fused().items()},
                                   (pieces, hx))
            outs = [o for o, _ in segs]
            starts += [f if isinstance(f, tuple) else (f,) for _, f in segs]
        if not bounds or bounds[-1] < steps:
            outs.append(x.new_zeros(batch, steps - (bounds[-1] if bounds else 0), self.size))
        out = torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]
        result = {"Output": torch.where(valid, out, out.new_zeros(()))}
        # the state after step len-1 is the one at the end of segment searchsorted([0, *bounds], len)
        which = torch.searchsorted(torch.tensor([0, *bounds], device=lens.device), lens)
        rows = torch.arange(batch, device=lens.device)
        for i, port in enumerate(self.state_ports):
            result[port] = torch.stack([s[i][0] for s in starts])[which, rows]
        return result

    @property
    def _segmented(self) -> nn.Module:
        module = self.__dict__.get("_segments")
        if module is None:
            module = self.__dict__["_segments"] = _Segments(self.kernel)
        return module


class _Segments(nn.Module):
    """Runs the kernel over consecutive time segments, each from the previous segment's state.

    Wrapped in a module so one ``functional_call`` gives all segments the stacked arrays.
    """

    def __init__(self, kernel: nn.Module) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, pieces: tuple[torch.Tensor, ...], hx: Any) -> list[tuple[torch.Tensor, Any]]:
        segs = []
        for piece in pieces:
            out, hx = self.kernel(piece, hx)
            segs.append((out, hx))
        return segs


class LSTMLayer(RecurrentLayer):
    kind = "LongShortTermMemoryLayer"
    array_names = tuple(f"{g}Gate{a}" for g in ("Input", "Output", "Forget", "Memory")
                        for a in ("InputWeights", "StateWeights", "Biases"))
    fused_gates = ("InputGate", "ForgetGate", "MemoryGate", "OutputGate")
    mode = "LSTM"
    state_ports = ("State", "CellState")


class GRULayer(RecurrentLayer):
    kind = "GatedRecurrentLayer"
    array_names = tuple(f"{g}Gate{a}" for g in ("Input", "Reset", "Memory")
                        for a in ("InputWeights", "StateWeights", "Biases"))
    fused_gates = ("ResetGate", "InputGate", "MemoryGate")
    mode = "GRU"


class BasicRecurrent(RecurrentLayer):
    kind = "BasicRecurrentLayer"
    array_names = ("InputWeights", "StateWeights", "Biases")
    fused_gates = ("",)
    mode = "RNN"


def _output_size(args: dict[str, Any], path: tuple[str, ...]) -> int:
    size = args.get("OutputSize", args.get("OutputDimensions"))
    if isinstance(size, (tuple, list)) and len(size) == 1:
        size = size[0]
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise fail(path, f"the output size should be a positive integer, not {size!r}.")
    return size


def _build(cls: type[RecurrentLayer], spec: LayerSpec, in_types: dict[str, TensorType | None],
           path: tuple[str, ...], allowed: set[str] = _ALLOWED,
           nonlinearity: str = "tanh") -> tuple[RecurrentLayer, dict[str, TensorType]]:
    args = check_args(spec, allowed, path)
    if args.get("Dropout") not in (None, "None", 0, 0.0):
        raise fail(path, f"\"Dropout\" -> {args['Dropout']!r} is not supported; use \"Dropout\" -> None.")
    size = _output_size(args, path)
    t = real_input(in_types, "Input", path)
    if t.is_index or len(t.dims) != 2 or not isinstance(t.dims[1], int):
        raise fail(path, f"the input should be a sequence of real vectors (shape {{\"Varying\", k}}), "
                         f"not {'integers of shape ' if t.is_index else 'shape '}{format_dims(t.dims)}.")
    steps = t.dims[0]
    module = cls(t.dims[1], size, steps.id if isinstance(steps, LengthVar) else None, nonlinearity)
    module.path = path
    for port in module.state_ports:
        st = in_types.get(port)
        if st is not None and (st.dims is None or tuple(st.dims) != (size,)):
            raise fail(path, f"the {port!r} port takes a vector of size {size}, "
                             f"not shape {format_dims(st.dims)}.")
    module.load_spec_arrays(spec)
    module.input_types = {"Input": t, **{p: TensorType((size,)) for p in module.state_ports if p in in_types}}
    out = {"Output": TensorType((steps, size)), **{p: TensorType((size,)) for p in module.state_ports}}
    module.output_types = out
    return module, out


@register("LongShortTermMemoryLayer", optional_inputs=("State", "CellState"),
          optional_outputs=("State", "CellState"))
def build_lstm(spec: LayerSpec, in_types: dict[str, TensorType | None],
               path: tuple[str, ...]) -> tuple[nn.Module, dict[str, TensorType]]:
    """``LongShortTermMemoryLayer[n]``: args "OutputSize" (or "OutputDimensions") n, "Dropout" None."""
    return _build(LSTMLayer, spec, in_types, path)


@register("GatedRecurrentLayer", optional_inputs=("State",), optional_outputs=("State",))
def build_gru(spec: LayerSpec, in_types: dict[str, TensorType | None],
              path: tuple[str, ...]) -> tuple[nn.Module, dict[str, TensorType]]:
    """``GatedRecurrentLayer[n]``: args as for the LSTM."""
    return _build(GRULayer, spec, in_types, path)


_ACTIVATIONS = {None: "tanh", "Tanh": "tanh", "Ramp": "relu", "ReLU": "relu"}


@register("BasicRecurrentLayer", optional_inputs=("State",), optional_outputs=("State",))
def build_basic(spec: LayerSpec, in_types: dict[str, TensorType | None],
                path: tuple[str, ...]) -> tuple[nn.Module, dict[str, TensorType]]:
    """``BasicRecurrentLayer[n]``: args as for the LSTM plus "Activation": "Tanh" (default) or "Ramp"."""
    act = spec.args.get("Activation")
    if act not in _ACTIVATIONS:
        raise fail(path, f"the activation {act!r} is not supported; use \"Tanh\" or \"Ramp\".")
    return _build(BasicRecurrent, spec, in_types, path, _ALLOWED | {"Activation"}, _ACTIVATIONS[act])
