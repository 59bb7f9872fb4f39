"""`Net`: a Wolfram net in Python, built from text or an expression and callable on inputs.

``Net(text_or_expr)`` converts the net (`to_net_spec`) and builds the engine module, with arrays
the net gives used as they are and the rest initialised as NetInitialize would. ``net(x)``
evaluates one example or a batch and returns Wolfram values:

- an output with a "Class" decoder gives the label (``net(x, "Probabilities")`` gives a dict
  label -> probability, and the other properties of `wlbridge.coders.decode`);
- a "Boolean" decoder gives True/False;
- any other output gives a float for a scalar, a float32 numpy array otherwise (a varying
  dimension cut to the example's own length).

A batch gives a list of those. A net with several outputs gives a dict port -> value per
example; ``net(x, "port")`` picks one output.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
from wolframclient.serializers.serializable import WLSerializable

from engine.spec import EncoderSpec, LengthVar, NetSpec, TensorType
from wlbridge.coders import decode
from wlbridge.nets.convert import to_net_spec
from wlbridge.nets.exprs import invnet, short
from wlbridge.nets.writeback import net_to_wl


class Net(WLSerializable):
    """A Wolfram net: ``Net(text_or_expr_or_Net, seed=None)``; see the module docstring."""

    def __init__(self, net: Any, *, seed: int | None = None,
                 input_types: dict[str, TensorType] | None = None,
                 output_types: dict[str, TensorType] | None = None) -> None:
        """``input_types``/``output_types``: what training data say of open ports (see
        `wlbridge.data_shapes`); they join the declared ports in shape inference."""
        if isinstance(net, Net):
            net = net.to_wl()
        elif isinstance(net, str):
            from wlbridge.syntax import parse

            net = parse(net)
        self.expr = net
        self.spec: NetSpec = to_net_spec(net)
        self.module = _build(self.spec, seed, input_types, output_types)

    @classmethod
    def from_module(cls, expr: Any, module: Any, spec: NetSpec | None = None) -> Net:
        """Wrap a trained engine module built from ``expr`` (used by training)."""
        self = cls.__new__(cls)
        self.expr = expr
        self.spec = spec if spec is not None else to_net_spec(expr)
        self.module = module
        return self

    # -- types and write-back ------------------------------------------------------------------

    @property
    def input_types(self) -> dict[str, TensorType]:
        return dict(self.module.input_types)

    @property
    def output_types(self) -> dict[str, TensorType]:
        return dict(self.module.output_types)

    def arrays(self) -> dict[tuple[str, ...], np.ndarray]:
        """Every array by path (node keys, then the array's Wolfram name)."""
        return self.module.export_arrays()

    def to_wl(self) -> Any:
        """The constructor expression with every array as ``NumericArray`` (wl-nets.md §7)."""
        return net_to_wl(self.expr, self.spec, self.arrays(), self.input_types, self.output_types)

    def __repr__(self) -> str:
        ins = ", ".join(self.module.input_types)
        outs = ", ".join(self.module.output_types)
        return f"Net[{self.spec.kind}, {len(self.spec.nodes)} nodes, inputs: {ins}; outputs: {outs}]"

    # -- evaluation -----------------------------------------------------------------------------

    def __call__(self, x: Any, prop: Any = None) -> Any:
        """Evaluate one example or a batch (see the module docstring)."""
        import torch

        in_types = self.module.input_types
        values, batched = self._split_inputs(x, in_types)
        tensors, lengths = {}, {}
        for port, column in values.items():
            t, ls = self._encode(port, column, in_types[port])
            tensors[port] = t
            lengths.update(ls)
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                out = self.module(tensors, lengths)
        finally:
            self.module.train(was_training)
        ports = list(self.module.output_types)
        if isinstance(prop, str) and prop in self.module.output_types:
            ports, prop = [prop], None
        n = len(next(iter(values.values())))
        results = []
        for i in range(n):
            row = {p: self._decode(p, out[p][i], lengths, i, prop) for p in ports}
            results.append(row[ports[0]] if len(ports) == 1 else row)
        return results if batched else results[0]

    def _split_inputs(self, x: Any, in_types: Mapping[str, TensorType]) -> tuple[dict[str, list[Any]], bool]:
        """Per-port lists of examples, and whether the call was a batch."""
        names = list(in_types)
        if isinstance(x, Mapping) and set(x) <= set(names) and x:
            missing = [p for p in names if p not in x]
            if missing:
                raise invnet(f"the net needs the input(s) {', '.join(missing)}")
            batched = self._is_batch(names[0], x[names[0]], in_types[names[0]])
            cols = {p: (list(x[p]) if batched else [x[p]]) for p in names}
            sizes = {len(c) for c in cols.values()}
            if len(sizes) > 1:
                raise invnet("the inputs have different numbers of examples")
            return cols, batched
        if len(names) != 1:
            raise invnet(f"the net has the inputs {', '.join(names)}; give an association port -> value")
        port = names[0]
        batched = self._is_batch(port, x, in_types[port])
        return {port: list(x) if batched else [x]}, batched

    def _is_batch(self, port: str, x: Any, t: TensorType) -> bool:
        enc = self.spec.encoders.get(port)
        if enc is not None:
            return _encoder_batch(enc, x)
        rank = len(t.dims) if t.dims is not None else 0
        depth = x.ndim if isinstance(x, np.ndarray) else _depth(x)
        if depth == rank:
            return False
        if depth == rank + 1:
            return True
        raise invnet(f'the input "{port}" should have rank {rank} (or {rank + 1} for a batch), '
                     f"but {short(x)} has rank {depth}")

    def _encode(self, port: str, column: list[Any], t: TensorType) -> tuple[Any, dict[int, Any]]:
        import torch

        enc = self.spec.encoders.get(port)
        if enc is not None:
            from engine.encoders import encode_column

            encoded = encode_column(enc, column)
            if not isinstance(encoded, list):
                return torch.as_tensor(encoded), {}
            column = encoded  # one code sequence per example, padded below
        dtype = np.int64 if t.is_index else np.float32
        if t.varying:
            seqs = [np.asarray(v, dtype=dtype) for v in column]
            lens = np.array([len(s) for s in seqs], dtype=np.int64)
            width = int(lens.max()) if len(lens) else 0
            pad_value = 1 if t.is_index else 0
            data = np.full((len(seqs), width, *seqs[0].shape[1:]), pad_value, dtype=dtype)
            for i, s in enumerate(seqs):
                data[i, : len(s)] = s
            return torch.as_tensor(data), _length_map(t, lens)
        try:
            data = np.asarray(column, dtype=dtype)
        except (TypeError, ValueError) as err:
            raise invnet(f'the input "{port}" is not a numeric array of the expected shape') from err
        want = tuple(t.dims or ())
        if data.shape[1:] != want:
            raise invnet(f'the input "{port}" should have dimensions {list(want)}, '
                         f"got {list(data.shape[1:])}")
        return torch.as_tensor(data), {}

    def _decode(self, port: str, y: Any, lengths: dict[int, Any], i: int, prop: Any) -> Any:
        arr = y.detach().cpu().numpy()
        t = self.module.output_types[port]
        if t.dims and isinstance(t.dims[0], LengthVar) and t.dims[0].id in lengths:
            arr = arr[: int(lengths[t.dims[0].id][i])]
        dec = self.spec.decoders.get(port)
        if dec is not None:
            return decode(dec, arr, "Decision" if prop is None else prop)
        if prop is not None:
            raise invnet(f'the output "{port}" has no decoder, so the property {short(prop)} is not available')
        if arr.ndim == 0:
            return float(arr)
        return arr


def _build(spec: NetSpec, seed: int | None, input_types: dict[str, TensorType] | None = None,
           output_types: dict[str, TensorType] | None = None) -> Any:
    """Build the engine module; with a seed the initial arrays are reproducible and the global
    random state is left untouched."""
    import torch

    from engine import graph

    if seed is None:
        return graph.build(spec, input_types, output_types=output_types)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return graph.build(spec, input_types, output_types=output_types)


def _length_map(t: TensorType, lens: Any) -> dict[int, Any]:
    import torch

    if lens is None or not t.dims or not isinstance(t.dims[0], LengthVar):
        return {}
    return {t.dims[0].id: torch.as_tensor(np.asarray(lens), dtype=torch.int64)}


def _encoder_batch(enc: EncoderSpec, x: Any) -> bool:
    if enc.kind in ("Characters", "Tokens"):
        return not isinstance(x, str)
    if enc.kind == "Boolean":
        return not isinstance(x, bool)
    if enc.kind == "Scalar":
        return isinstance(x, (list, tuple, np.ndarray))
    if enc.kind == "Image":  # one file, PIL image or {h, w}/{h, w, c} array; else a batch
        if isinstance(x, np.ndarray):
            return x.ndim == 4 or (x.ndim == 3 and x.shape[-1] not in (1, 3, 4))
        return isinstance(x, (list, tuple))
    # Class: a label, unless it is a list whose elements are labels
    if isinstance(x, (list, tuple)) and not (isinstance(x, Hashable) and x in enc.labels):
        return True
    return False


def _depth(x: Any) -> int:
    d = 0
    while isinstance(x, (list, tuple, np.ndarray)):
        if len(x) == 0:
            return d + 1
        d += 1
        x = x[0]
    return d
