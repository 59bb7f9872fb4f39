"""TrainingProgressMeasurements: which built-in measurements a run computes, and how.

A `Meter` turns one forward result into a per-example matrix of *statistics* (``[B, k]``, on
the device, no host read): the 0/1 error of a classification output, the squared and the
absolute deviation of a regression output. Batch, round and validation measurements are means
of those statistics over the batch, the round's examples or the validation examples, and
`Meter.values` turns a statistics vector into the named measurements. So the loop keeps one
small tensor per batch on the device and reads them at a round end or a report row only.

The names are the Wolfram built-ins that are exactly defined on one output:

* "ErrorRate", "Accuracy" — a single cross-entropy loss ("Index": argmax vs. the index target;
  "Binary": output ≥ 0.5 vs. target ≥ 0.5); Accuracy = 1 − ErrorRate;
* "MeanSquare", "RootMeanSquare", "MeanDeviation" — an output with a MeanSquared or
  MeanAbsolute loss: mean of (output − target)², its square root (taken after the mean over
  the round / validation examples), mean |output − target|.

``Automatic`` is "ErrorRate" when the net has a single cross-entropy loss (NetTrain's
default), unless the internal option "DisableErrorRate" is set; ``None`` is no measurement.
This module imports torch only when a meter is built, so the option table can read `NAMES`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from engine.errors import EngineError

CLASSIFICATION = ("ErrorRate", "Accuracy")
REGRESSION = ("MeanSquare", "RootMeanSquare", "MeanDeviation")
#: Every measurement name this engine computes, in the order they are listed to users.
NAMES = CLASSIFICATION + REGRESSION


def measurement_lists(losses: list[float], meas: list[dict[str, float]]) -> dict[str, tuple]:
    """``<|"Loss" -> {...}, name -> {...}|>`` over rounds (or validations, or batches): the
    ``*MeasurementsLists`` properties and callback keys. Keys after "Loss" are sorted; a value a
    row lacks is NaN, so every list has one entry per row."""
    out: dict[str, tuple] = {"Loss": tuple(float(x) for x in losses)}
    for key in sorted({k for m in meas for k in m}):
        out[key] = tuple(float(m.get(key, math.nan)) for m in meas)
    return out


def unsupported(name: Any) -> EngineError:
    """``General::netinvopt`` for a measurement this engine does not compute."""
    return EngineError("netinvopt", f"{name!r} is not a TrainingProgressMeasurements "
                       f"measurement this engine computes; supported are "
                       f"{', '.join(repr(n) for n in NAMES)}, or None.", "General")


def measurement_names(spec: Any) -> list[str]:
    """The measurement names of an explicit TrainingProgressMeasurements list.

    Items are names or ``{"Measurement": name}`` associations (no other keys); anything else,
    and any name outside `NAMES`, raises ``netinvopt`` naming the item.
    """
    out: list[str] = []
    for item in spec:
        name = item
        if isinstance(item, dict):
            keys = set(item)
            if keys != {"Measurement"}:
                raise EngineError("netinvopt", f"the TrainingProgressMeasurements association "
                                  f"{item!r} should have only the key \"Measurement\"; other "
                                  "sub-options are not supported.", "General")
            name = item["Measurement"]
        if not isinstance(name, str) or name not in NAMES:
            raise unsupported(name)
        if name not in out:
            out.append(name)
    return out


@dataclass
class _Source:
    """Where a statistic comes from: an output port, its target input and the loss form."""

    port: str
    target: str
    form: str
    mode: str
    elem_dims: tuple


def loss_port_key(port: str) -> str:
    """The measurement key of one loss port of a multi-loss net (§6.2): a port whose name
    contains "loss" keeps it ("ClassLoss"); any other gets "Loss" appended ("Out1Loss")."""
    key = port if "loss" in port.lower() else f"{port}Loss"
    # the total is "Loss" and built-ins keep their names: a clashing port gets the suffix
    return f"{port}Loss" if key == "Loss" or key in NAMES else key


def loss_port_short_name(port: str) -> str:
    """The Print-table header of a loss port's columns (§6.2): "class loss" for a port named
    "ClassLoss" (lower-cased, de-camel-cased), "Out1 loss" for a port "Out1"."""
    if "loss" not in port.lower() or loss_port_key(port) != port:
        return f"{port} loss"
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", port).lower()


class Meter:
    """The measurements of one run; `stats` per batch, `values` from a statistics vector.

    Statistics columns: "err" (classification 0/1 error), "sq" (squared deviation), "abs"
    (absolute deviation), each the per-example mean over the output's positions; then, for a
    net with several loss ports, one "loss:<port>" column per port (its per-example loss), so
    per-port batch, round and validation losses ride on the same one-read-per-round path and a
    single-loss net pays nothing for them. ``loss_ports`` maps port -> measurement key.
    """

    def __init__(self, names: list[str], cls: _Source | None, reg: _Source | None,
                 flat: bool = False, loss_ports: dict[str, str] | None = None):
        self.loss_ports = dict(loss_ports or {})
        self.names = [*self.loss_ports.values(), *names]
        self.cls, self.reg, self.flat = cls, reg, flat
        cols = []
        if any(n in CLASSIFICATION for n in names):
            cols.append("err")
        if "MeanSquare" in names or "RootMeanSquare" in names:
            cols.append("sq")
        if "MeanDeviation" in names:
            cols.append("abs")
        cols += [f"loss:{p}" for p in self.loss_ports]
        self.columns = cols

    @property
    def short_names(self) -> dict[str, str]:
        """Print-table headers of the loss-port measurements, by key."""
        return {key: loss_port_short_name(port) for port, key in self.loss_ports.items()}

    def __bool__(self) -> bool:
        return bool(self.names)

    def stats(self, out: dict[str, Any], inputs: dict[str, Any],
              lengths: dict[int, Any] | None = None) -> Any:
        """Per-example statistics ``[B, k]`` (detached, on the device), or None."""
        import torch

        if not self.columns:
            return None
        if self.flat:  # a hand-written module's own per-example errors ("$ErrorRate")
            e = out.get("$ErrorRate")
            return None if e is None else e.detach().float().reshape(-1, 1)
        outputs = out.get("outputs")
        cols = []
        if "err" in self.columns:
            c = self.cls
            v, target = outputs[c.port].detach(), inputs[c.target]
            if c.form == "Index":
                wrong = (v.argmax(-1) + 1) != target
            else:
                wrong = (v >= (0.0 if c.mode == "fused_binary" else 0.5)) != (target >= 0.5)
            cols.append(_per_example(wrong.float(), c.elem_dims, lengths))
        if "sq" in self.columns or "abs" in self.columns:
            r = self.reg
            diff = outputs[r.port].detach().float() - inputs[r.target].float()
            if "sq" in self.columns:
                cols.append(_per_example(diff * diff, r.elem_dims, lengths))
            if "abs" in self.columns:
                cols.append(_per_example(diff.abs(), r.elem_dims, lengths))
        for port in self.loss_ports:
            v = out["losses"][port].detach().float()
            cols.append(v if v.dim() == 1 else v.reshape(v.shape[0], -1).mean(1))
        return cols[0].unsqueeze(1) if len(cols) == 1 else torch.stack(cols, 1)

    def values(self, stats: Any) -> dict[str, float]:
        """Named measurements from a host statistics vector (a sequence of floats)."""
        col = dict(zip(self.columns, (float(s) for s in stats), strict=True))
        out: dict[str, float] = {key: col[f"loss:{port}"]
                                 for port, key in self.loss_ports.items()}
        for name in self.names:
            if name == "ErrorRate":
                out[name] = col["err"]
            elif name == "Accuracy":
                out[name] = 1.0 - col["err"]
            elif name == "MeanSquare":
                out[name] = col["sq"]
            elif name == "RootMeanSquare":
                out[name] = math.sqrt(max(col["sq"], 0.0))
            elif name == "MeanDeviation":
                out[name] = col["abs"]
        return out


def _per_example(v: Any, dims: tuple, lengths: dict[int, Any] | None) -> Any:
    """Mean over an example's positions, padding of a sequence excluded (as its loss does)."""
    from engine.layers.loss import per_example_mean

    if v.dim() == 1:
        return v
    if len(dims) != v.dim() - 1:
        return v.reshape(v.shape[0], -1).mean(1)
    return per_example_mean(v, dims, lengths)


def make_meter(spec: Any, module: Any, disable_error_rate: bool = False,
               criterion: Any = None) -> Meter:
    """The `Meter` of TrainingProgressMeasurements ``spec`` for training module ``module``.

    ``spec``: None = Automatic, ``()`` = no measurements, else a list of names (see
    `measurement_names`). A name whose output the net lacks raises ``netinvopt``.
    ``criterion``: a TrainingStoppingCriterion measurement name, measured even when not
    listed (as NetTrain does), so stopping on "Accuracy" needs no extra option.
    """
    if isinstance(criterion, str) and criterion in NAMES:
        listed = measurement_names(spec) if spec is not None else None
        if listed is not None and criterion not in listed:
            spec = (*listed, criterion)
        elif listed is None:
            spec = (*make_meter(None, module, disable_error_rate).names, criterion)
    terms = getattr(module, "terms", None)
    if terms is None:  # a module of the flat convention: only its own "$ErrorRate"
        if spec is None:
            names = [] if disable_error_rate else ["ErrorRate"]
        else:
            names = measurement_names(spec)
            bad = [n for n in names if n != "ErrorRate"]
            if bad:
                raise EngineError("netinvopt", f"the measurement {bad[0]!r} needs a net with "
                                  "loss layers (engine.losses.attach_losses).", "General")
        return Meter(names, None, None, flat=True)
    cls = [t for t in terms if t.form in ("Index", "Binary")]
    reg = [t for t in terms if t.form in ("MeanSquared", "MeanAbsolute")]
    if spec is None:
        auto = not disable_error_rate and len(terms) == 1 and len(cls) == 1
        names = ["ErrorRate"] if auto else []
    else:
        names = measurement_names(spec)
    need_cls = any(n in CLASSIFICATION for n in names)
    need_reg = any(n in REGRESSION for n in names)
    for need, found, kind in ((need_cls, cls, "a CrossEntropyLossLayer[\"Index\" or \"Binary\"]"),
                              (need_reg, reg, "a MeanSquaredLossLayer or MeanAbsoluteLossLayer")):
        if need and len(found) != 1:
            which = next(n for n in names if n in (CLASSIFICATION if found is cls else REGRESSION))
            raise EngineError("netinvopt", f"the measurement {which!r} needs exactly one output "
                              f"trained with {kind}; the net has {len(found)}.", "General")
    src = [None if not (need and found) else
           _Source(found[0].port, found[0].name, found[0].form, found[0].mode,
                   tuple(found[0].elem_dims))
           for need, found in ((need_cls, cls), (need_reg, reg))]
    ports = {t.name: loss_port_key(t.name) for t in terms} if len(terms) > 1 else {}
    return Meter(names, src[0], src[1], loss_ports=ports)
