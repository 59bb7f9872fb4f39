"""The NetTrain properties that describe the run rather than measure it (reference §9.10):

* "TrainingNet": the net NetTrain actually trained, as a Wolfram expression: a NetGraph with the
  trained net as vertex "Net" and one loss vertex "LossNet1", "LossNet2", ... per loss port,
  each fed by the net's output and by a new input named like that output (its target), the
  loss leaving under the output's name (wl-nets.md §5);
* "NetTrainInputForm": the call, ``NetTrain[net, data, options...]`` with the user's net, data
  (arrays as they were given) and options;
* "FinalPlots": an association of the loss plot and one plot per scalar measurement
  (matplotlib Figures; like the other plot properties, not part of ``to_wl()``).
"""

from __future__ import annotations

from typing import Any

from wolframclient.language import wl

_LOSS_LAYERS = {"Index": ("CrossEntropyLossLayer", "Index"),
                "Binary": ("CrossEntropyLossLayer", "Binary"),
                "Probabilities": ("CrossEntropyLossLayer", "Probabilities"),
                "MeanSquared": ("MeanSquaredLossLayer", None),
                "MeanAbsolute": ("MeanAbsoluteLossLayer", None)}


def training_net_expr(net_expr: Any, training: Any) -> Any:
    """The "TrainingNet" expression for the trained net ``net_expr`` and the engine's
    training module (its loss terms)."""
    terms = getattr(training, "terms", None) or []
    vertices: dict[str, Any] = {"Net": net_expr}
    edges: list[Any] = []
    outputs = list(getattr(getattr(training, "net", training), "output_types", {}) or {})
    looped = {t.port for t in terms}
    for i, t in enumerate((t for t in terms if t.mode != "direct"), 1):
        head, form = _LOSS_LAYERS.get(t.form, ("MeanSquaredLossLayer", None))
        name = f"LossNet{i}"
        vertices[name] = getattr(wl, head)(form) if form else getattr(wl, head)()
        edges.append(wl.Rule(wl.NetPort("Net", t.port), wl.NetPort(name, "Input")))
        edges.append(wl.Rule(wl.NetPort(t.name), wl.NetPort(name, "Target")))
        edges.append(wl.Rule(name, wl.NetPort(t.name)))
    for port in outputs:  # direct loss ports and outputs without a loss stay outputs
        if port not in looped or any(t.port == port and t.mode == "direct" for t in terms):
            edges.append(wl.Rule(wl.NetPort("Net", port), wl.NetPort(port)))
    return wl.NetGraph(vertices, tuple(edges))


def input_form(net: Any, data: Any, options: Any, opts: dict[str, Any]) -> Any:
    """``NetTrain[net, data, opts...]`` as the user called it (options text parsed)."""
    rules: list[Any] = []
    if isinstance(options, str) and options.strip():
        from wlbridge.syntax import parse

        parsed = parse("{" + options + "}")
        rules.extend(parsed if isinstance(parsed, tuple) else (parsed,))
    elif isinstance(options, tuple | list):
        rules.extend(options)
    elif options is not None and not hasattr(options, "batch_size"):  # not a TrainConfig
        rules.append(options)
    rules.extend(wl.Rule(_option_symbol(k), v) for k, v in opts.items())
    return wl.NetTrain(_plain(net), _plain(data), *rules)


def _option_symbol(name: str) -> Any:
    """Public options are System symbols (``BatchSize``); quoted ones stay strings."""
    return getattr(wl, name) if name[:1].isupper() and name.isalnum() else name


def _plain(v: Any) -> Any:
    """A value as a Wolfram expression: `wlbridge.Net` as its constructor, dicts of columns
    as associations; wolframclient writes numpy arrays itself."""
    if hasattr(v, "to_wl"):
        return v.to_wl()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def final_plots(values: dict[str, Any], quartiles: bool = False) -> dict[str, Any]:
    """"FinalPlots": <|"Loss" -> plot, measurement -> plot, ...|> for the scalar measurements."""
    from wlbridge import plots

    out = {"Loss": plots.loss_plot(values, quartiles=quartiles)}
    lists = values.get("RoundMeasurementsLists") or {}
    for name, series in lists.items():
        if name == "Loss" or not isinstance(name, str):
            continue
        if series and all(isinstance(x, float) for x in series):
            out[name] = plots.measurement_plot(values, name, quartiles=quartiles)
    return out
