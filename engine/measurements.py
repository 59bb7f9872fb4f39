"""TrainingProgressMeasurements: which built-in measurements a run computes, and how.

A `Meter` turns one forward result into a per-example matrix of *statistics* (``[B, k]``, on
the device, no host read). Batch, round and validation measurements are means of those over
the batch, the round's examples or the validation examples, and `Meter.values` turns a mean
statistics vector into the named measurements, so the loop keeps one small tensor per batch on
the device and reads them at a round end or a report row only.

Built-in names (each on one output, trained with the loss the name needs):

* "ErrorRate", "Accuracy", ``{"Accuracy", k}`` (top-k) — a cross-entropy output ("Index":
  argmax vs. the index target; "Binary": output ≥ 0.5 vs. target ≥ 0.5);
* "Precision", "Recall", "F1Score", "FScore" (``{"FScore", β}``) — per class, an association
  label -> value as NetTrain gives them (labels from the Class decoder, else 1..n; False/True
  for a binary output), or one number with ``"ClassAveraging" -> "Macro" | "Micro"``;
  "ConfusionMatrix" — rows the true class, columns the predicted one, entries the *fraction*
  of examples (a mean, like every measurement here; NetTrain counts); "AreaUnderROCCurve" —
  binary outputs (Boolean, or two classes), from a score histogram (`engine.class_metrics`);
* "MeanSquare", "RootMeanSquare", "MeanDeviation" — a MeanSquared or MeanAbsolute output.

A spec is a name, ``(name, arg)`` or an association ``{"Measurement": m, "Port": output,
"Key": key, "ClassAveraging": ...}``; "Port" picks the output when several could do, "Key"
names the result (default: the name, or ``(name, arg)``). ``Automatic`` is "ErrorRate" when the
net has a single cross-entropy loss (NetTrain's default), unless "DisableErrorRate" is set;
``None`` is no measurement. Torch is imported only when a meter is built, so the option table
can read `NAMES`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from engine import class_metrics as cm
from engine.errors import EngineError

CLASSIFICATION = ("ErrorRate", "Accuracy", "Precision", "Recall", "F1Score", "FScore",
                  "ConfusionMatrix", "AreaUnderROCCurve")
REGRESSION = ("MeanSquare", "RootMeanSquare", "MeanDeviation")
#: Every measurement name this engine computes, in the order they are listed to users.
NAMES = CLASSIFICATION + REGRESSION
PER_CLASS = ("Precision", "Recall", "F1Score", "FScore")
_ARGS = {"Accuracy": int, "FScore": float}
_SPEC_KEYS = {"Measurement", "Port", "Key", "ClassAveraging"}


def _bad(text: str) -> EngineError:
    return EngineError("netinvopt", text, "General")


def measurement_lists(losses: list[float], meas: list[dict[Any, Any]]) -> dict[Any, tuple]:
    """``<|"Loss" -> {...}, name -> {...}|>`` over rounds (or validations, or batches): the
    ``*MeasurementsLists`` properties and callback keys. Keys after "Loss" are sorted; a value a
    row lacks is NaN, so every list has one entry per row."""
    out: dict[Any, tuple] = {"Loss": tuple(float(x) for x in losses)}
    for key in sorted({k for m in meas for k in m}, key=str):
        out[key] = tuple(_number(m.get(key, math.nan)) for m in meas)
    return out


def _number(v: Any) -> Any:
    return float(v) if isinstance(v, int | float) else v


def unsupported(name: Any) -> EngineError:
    """``General::netinvopt`` for a measurement this engine does not compute."""
    return _bad(f"{name!r} is not a TrainingProgressMeasurements measurement this engine "
                f"computes; supported are {', '.join(repr(n) for n in NAMES)}, or None.")


@dataclass(frozen=True)
class Item:
    """One requested measurement: built-in ``name``, result ``key``, optional ``arg`` (k of
    top-k accuracy, β of FScore), output ``port`` and ``averaging``."""

    name: str
    key: Any
    arg: Any = None
    port: str | None = None
    averaging: str | None = None


def parse_item(item: Any) -> Item:
    """A spec (see the module docstring) as an `Item`; ``netinvopt`` naming what is wrong."""
    spec: dict[str, Any] = {}
    if isinstance(item, dict):
        extra = set(item) - _SPEC_KEYS
        if extra or "Measurement" not in item:
            raise _bad(f"the TrainingProgressMeasurements association {item!r} should have the "
                       f"key \"Measurement\" and may have {', '.join(sorted(_SPEC_KEYS - {'Measurement'}))}"
                       f"; {', '.join(sorted(map(str, extra))) or 'Measurement'} is not supported.")
        spec, item = item, item["Measurement"]
    arg = None
    if isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str):
        item, arg = item
        kind = _ARGS.get(item)
        if kind is None or isinstance(arg, bool) or not isinstance(arg, int | float) or arg <= 0 \
                or (kind is int and not float(arg).is_integer()):
            raise _bad(f"{(item, arg)!r} is not a measurement; parameters are taken by "
                       "{\"Accuracy\", k} (k a positive integer) and {\"FScore\", β}.")
        arg = kind(arg)
    if not isinstance(item, str) or item not in NAMES:
        raise unsupported(item)
    averaging = spec.get("ClassAveraging")
    if averaging is not None and (item not in PER_CLASS or averaging not in ("Macro", "Micro")):
        raise _bad(f"\"ClassAveraging\" -> {averaging!r} is supported for "
                   f"{', '.join(PER_CLASS)} with \"Macro\" or \"Micro\", not for {item!r}.")
    port = spec.get("Port")
    if port is not None and not isinstance(port, str):
        raise _bad(f"\"Port\" -> {port!r} in TrainingProgressMeasurements should name an output.")
    key = spec.get("Key", item if arg is None else (item, arg))
    return Item(item, key, arg, port, averaging)


def measurement_names(spec: Any) -> list[Any]:
    """The result keys of an explicit TrainingProgressMeasurements list (validated)."""
    keys: list[Any] = []
    for item in spec:
        key = parse_item(item).key
        if key not in keys:
            keys.append(key)
    return keys


@dataclass
class _Source:
    """Where a statistic comes from: an output port, its target input, the loss form, and for
    classification the number of classes and their labels."""

    port: str
    target: str
    form: str
    mode: str
    elem_dims: tuple
    classes: int = 0
    labels: tuple = ()


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


def _group(item: Item) -> str:
    """The statistics group an item is computed from."""
    if item.name in ("ErrorRate",) or (item.name == "Accuracy" and item.arg is None):
        return "err"
    if item.name == "Accuracy":
        return f"top{item.arg}"
    if item.name == "AreaUnderROCCurve":
        return "roc"
    if item.name in REGRESSION:
        return "abs" if item.name == "MeanDeviation" else "sq"
    return "cm"


class Meter:
    """The measurements of one run; `stats` per batch, `values` from a statistics vector.

    Statistics come in groups, one per (output port, kind): "err" (0/1 error), "top<k>"
    (correct in the top k), "cm" (one-hot true × predicted pair), "roc" (score histogram),
    "sq"/"abs" (squared/absolute deviation); each a per-example mean over the output's
    positions. For a net with several loss ports one "loss:<port>" column per port follows
    (its per-example loss), so per-port losses ride on the same path; ``loss_ports`` maps port
    -> measurement key.
    """

    def __init__(self, items: list[tuple[Item, _Source | None]], flat: bool = False,
                 loss_ports: dict[str, str] | None = None):
        self.items = items
        self.flat = flat
        self.loss_ports = dict(loss_ports or {})
        self.names = [*self.loss_ports.values(), *(it.key for it, _ in items)]
        self.groups: list[tuple[str, _Source | None]] = []
        for it, src in items:
            g = (_group(it), src)
            if not any(g[0] == h and s is src for h, s in self.groups):
                self.groups.append(g)
        self.columns = [f"{g}:{src.port}" if src else g for g, src in self.groups]
        self.columns += [f"loss:{p}" for p in self.loss_ports]

    @property
    def short_names(self) -> dict[Any, str]:
        """Print-table headers of the measurements outside the built-in table, by key."""
        out: dict[Any, str] = {key: loss_port_short_name(port)
                               for port, key in self.loss_ports.items()}
        for it, _ in self.items:
            if not isinstance(it.key, str):
                out[it.key] = (f"top-{it.arg} accuracy" if it.name == "Accuracy"
                               else f"F{it.arg:g} score")
        return out

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
        cols = [_group_stats(g, src, outputs, inputs, lengths) for g, src in self.groups]
        for port in self.loss_ports:
            v = out["losses"][port].detach().float()
            cols.append((v if v.dim() == 1 else v.reshape(v.shape[0], -1).mean(1)).unsqueeze(1))
        return torch.cat(cols, 1)

    def values(self, stats: Any) -> dict[Any, Any]:
        """Named measurements from a host statistics vector (a sequence of floats)."""
        flat = [float(s) for s in stats]
        spans: dict[tuple[str, int], list[float]] = {}
        at = 0
        for g, src in self.groups:
            width = _width(g, src)
            spans[(g, id(src))] = flat[at:at + width]
            at += width
        out: dict[Any, Any] = {}
        for key in self.loss_ports.values():
            out[key] = flat[at]
            at += 1
        for it, src in self.items:
            out[it.key] = _value(it, src, spans[(_group(it), id(src))])
        return out


def _width(group: str, src: _Source | None) -> int:
    if group == "cm":
        return src.classes * src.classes  # type: ignore[union-attr]
    return 2 * cm.BINS if group == "roc" else 1


def _group_stats(group: str, src: _Source | None, outputs: dict[str, Any],
                 inputs: dict[str, Any], lengths: dict[int, Any] | None) -> Any:
    if group == "err":
        pred, true = cm.decisions(src, outputs, inputs)
        return _per_example((pred != true).float(), src.elem_dims, lengths).unsqueeze(1)
    if group.startswith("top"):
        return cm.top_k_column(src, int(group[3:]), outputs, inputs, lengths)
    if group == "cm":
        return cm.confusion_columns(src, outputs, inputs, lengths)
    if group == "roc":
        return cm.roc_columns(src, outputs, inputs)
    diff = outputs[src.port].detach().float() - inputs[src.target].float()
    v = diff * diff if group == "sq" else diff.abs()
    return _per_example(v, src.elem_dims, lengths).unsqueeze(1)


def _value(it: Item, src: _Source | None, means: list[float]) -> Any:
    if it.name == "ErrorRate":
        return means[0]
    if it.name == "Accuracy":
        return means[0] if it.arg is not None else 1.0 - means[0]
    if it.name == "MeanSquare" or it.name == "MeanDeviation":
        return means[0]
    if it.name == "RootMeanSquare":
        return math.sqrt(max(means[0], 0.0))
    if it.name == "AreaUnderROCCurve":
        return cm.auc(means)
    matrix = cm.confusion(means, src.classes)  # type: ignore[union-attr]
    if it.name == "ConfusionMatrix":
        return tuple(tuple(float(x) for x in row) for row in matrix)
    name = "FScore" if it.name == "F1Score" else it.name
    beta = float(it.arg) if it.arg is not None else 1.0
    if it.averaging is not None:
        return cm.averaged(name, matrix, it.averaging, beta)
    return dict(zip(src.labels, (float(x) for x in cm.per_class(name, matrix, beta)),  # type: ignore[union-attr]
                    strict=True))


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

    ``spec``: None = Automatic, ``()`` = no measurements, else a list of specs (see
    `parse_item`). A measurement whose output the net lacks raises ``netinvopt``.
    ``criterion``: a TrainingStoppingCriterion measurement name, measured even when not
    listed (as NetTrain does), so stopping on "Accuracy" needs no extra option.
    """
    if isinstance(criterion, str) and criterion in NAMES:
        listed = measurement_names(spec) if spec is not None else None
        if listed is not None and criterion not in listed:
            spec = (*spec, criterion)
        elif listed is None:
            spec = (*make_meter(None, module, disable_error_rate).names, criterion)
    terms = getattr(module, "terms", None)
    if terms is None:  # a module of the flat convention: only its own "$ErrorRate"
        items = [] if spec is None and disable_error_rate else \
            [parse_item(s) for s in (spec if spec is not None else ("ErrorRate",))]
        bad = [it.key for it in items if it.name != "ErrorRate"]
        if bad:
            raise _bad(f"the measurement {bad[0]!r} needs a net with loss layers "
                       "(engine.losses.attach_losses).")
        return Meter([(it, None) for it in items], flat=True)
    if spec is None:
        cls = [t for t in terms if t.form in ("Index", "Binary")]
        auto = not disable_error_rate and len(terms) == 1 and len(cls) == 1
        spec = ("ErrorRate",) if auto else ()
    items = [parse_item(s) for s in spec]
    keys = [it.key for it in items]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise _bad(f"the measurement {dup!r} is asked for twice; give each a \"Key\".")
    sources: dict[str, _Source] = {}
    pairs = [(it, _source_for(it, terms, module, sources)) for it in items]
    ports = {t.name: loss_port_key(t.name) for t in terms} if len(terms) > 1 else {}
    return Meter(pairs, loss_ports=ports)


def _source_for(it: Item, terms: list[Any], module: Any, cache: dict[str, _Source]) -> _Source:
    """The output (and loss term) a measurement is computed on."""
    classify = it.name in CLASSIFICATION
    forms = ("Index", "Binary") if classify else ("MeanSquared", "MeanAbsolute")
    kind = ("a CrossEntropyLossLayer[\"Index\" or \"Binary\"]" if classify
            else "a MeanSquaredLossLayer or MeanAbsoluteLossLayer")
    found = [t for t in terms if t.form in forms and (it.port is None or t.port == it.port)]
    if len(found) != 1:
        where = f"the output {it.port!r}" if it.port is not None else \
            f"exactly one output; the net has {len(found)}"
        raise _bad(f"the measurement {it.key!r} needs {where} trained with {kind}.")
    t = found[0]
    if t.port in cache:
        src = cache[t.port]
    else:
        src = _Source(t.port, t.name, t.form, t.mode, tuple(t.elem_dims))
        if classify:
            src.classes, src.labels = _classes(t, module)
        cache[t.port] = src
    if it.name == "AreaUnderROCCurve" and (src.classes != 2 or src.elem_dims):
        raise _bad(f"the measurement {it.key!r} needs a binary output (a Boolean or a "
                   f"two-class output, one decision per example); {t.port!r} has "
                   f"{src.classes} classes.")
    return src


def _classes(term: Any, module: Any) -> tuple[int, tuple]:
    """(number of classes, labels) of a classification output: the Class decoder's labels,
    else 1..n; a binary output has the two classes False and True."""
    if term.form == "Binary":
        return 2, (False, True)
    n = int(module.net.output_types[term.port].dims[-1])
    spec = getattr(module.net, "spec", None)
    dec = spec.decoders.get(term.port) if spec is not None else None
    labels = tuple(dec.labels) if dec is not None and len(dec.labels) == n else \
        tuple(range(1, n + 1))
    return n, labels
