"""`net_train`: NetTrain from Python, with Wolfram text or expressions for net, data and options.

The one place where the Wolfram side meets the engine: options -> `TrainConfig`
(`wlbridge.options.resolve`), net -> `Net` (spec and module), data -> `Dataset`
(`wlbridge.data`), the training module (`engine.losses.attach_losses`), the reporter
(`engine.reporting.make_reporter`), then `engine.loop.train` and `NetTrainResults`.
"""

from __future__ import annotations

from typing import Any

from wlbridge.data import load, to_dataset
from wlbridge.results import NetTrainResults, check_property


def net_train(net: Any, data: Any, prop: Any = "TrainedNet", options: Any = None,
              **opts: Any) -> Any:
    """Train ``net`` on ``data`` and return ``prop`` (a name, a list of names, or "All").

    ``net``: Wolfram text, an expression or a `wlbridge.Net`. ``data``: any form of
    `wlbridge.data.to_dataset` (Wolfram text/expression, numpy arrays, a dict of columns, a list
    of pairs, a file path). ``options``: Wolfram text or expression of options
    (``'BatchSize -> 32, Method -> "SGD"'``), or a `TrainConfig` from `wlbridge.options.resolve`; ``opts``: more options by name
    (``BatchSize=32`` or ``**{"MaxTrainingRounds": 5}``), which win over ``options``.

    Warnings while it runs (``NetTrain::arrdiv`` on divergence, ...) display as one message
    line each (`wlbridge.notices`); they are still Python warnings to catch or filter.
    """
    from engine.loop import TrainingWarning
    from wlbridge.notices import warnings_as_messages

    with warnings_as_messages(always=(TrainingWarning,)):
        return _net_train(net, data, prop, options, opts)


def _net_train(net: Any, data: Any, prop: Any, options: Any, opts: dict[str, Any]) -> Any:
    import torch

    from engine.generated import GeneratedData
    from engine.loop import train
    from engine.spec import Dataset
    from wlbridge.generators import first_batch, generated_data, generator_spec
    from wlbridge.nets import Net

    if isinstance(prop, list | tuple) and len(prop) == 0:
        return []
    check_property(prop)
    config = _resolve_options(options, opts)
    if config.random_seed is not None:
        torch.manual_seed(config.random_seed)
    if isinstance(net, Net):
        net = net.to_wl()
    if isinstance(net, str):
        from wlbridge.syntax import parse

        net = parse(net)
    given_net, given_data = net, data
    gen = generator_spec(data)
    bs = config.batch_size or 64
    if gen is not None:  # NetTrain[net, f]: batch 1 now (it fixes open shapes), then per batch
        data = first_batch(gen[0], bs, _port_names(net))
    data = load(data)
    user_net = _net_for_data(net, data, config)
    expr, spec = user_net.expr, user_net.spec
    _resolve_layer_rules(config, user_net)
    training = _training_module(user_net, config)
    ports = _PortView(training, spec)
    dataset = generated_data(gen[0], gen[1], bs, ports, data) if gen is not None \
        else to_dataset(data, ports)
    vs = config.validation_set
    if vs is not None and not isinstance(vs, float | Dataset | GeneratedData):
        vgen = generator_spec(vs)
        config.validation_set = to_dataset(vs, ports, what="validation data") if vgen is None \
            else generated_data(vgen[0], vgen[1], bs, ports,
                                first_batch(vgen[0], bs, list(ports.input_types), True), True)
    reporter = _reporter(config)
    module = user_net.module

    def factory(_: Any) -> Any:
        import copy

        return Net.from_module(expr, copy.deepcopy(module), spec)

    result = train(training, dataset, config, encoders=_engine_encoders(ports),
                   net_factory=factory, reporter=reporter,
                   checkpoint_writer=_checkpoint_writer(expr, spec))
    trained = Net.from_module(expr, module, spec)

    def final_net() -> Any:
        import copy

        clone = copy.deepcopy(training)
        clone.load_state_dict(result.final_state)
        inner = getattr(clone, "net", None) or getattr(clone, "module", None) or clone
        return Net.from_module(expr, inner, spec)

    from wlbridge.run_properties import input_form, training_net_expr

    results = NetTrainResults.from_train(
        result, trained, final_net=final_net,
        training_net=lambda: Net(training_net_expr(trained.to_wl(), training)),
        input_form=input_form(given_net, given_data, options, opts))
    if prop == "All":
        return results
    if isinstance(prop, list | tuple):
        return [results[p] for p in prop]
    return results[prop]


def _port_names(net: Any) -> list[str]:
    """The training ports of a net not yet built: its inputs, then one target per output."""
    from engine.wiring import HEADS, wire
    from wlbridge.nets import to_net_spec

    spec = to_net_spec(net)
    w = wire(spec, (HEADS.get(spec.kind, spec.kind),))
    return [*w.inputs, *w.outputs]


def _net_for_data(net: Any, data: Any, config: Any) -> Any:
    """The user's net built with the open port shapes the training data fix (NetTrain infers
    them from the data: `wlbridge.data_shapes`)."""
    from wlbridge.data_shapes import data_port_types
    from wlbridge.nets import Net, to_net_spec

    spec = to_net_spec(net)
    ins, outs = data_port_types(data, spec, explicit_loss=bool(config.loss_function))
    return Net(net, seed=config.random_seed, input_types=ins, output_types=outs)


def _resolve_options(options: Any, opts: dict[str, Any]) -> Any:
    """Options text/expression plus keyword options -> TrainConfig (wlbridge.options). A
    `TrainConfig` already resolved by the caller (the CLI checks options before loading torch)
    is used as it is, so its sinks are set up once."""
    from engine.spec import TrainConfig
    from wlbridge.options import resolve

    if isinstance(options, TrainConfig) and not opts:
        return options
    return resolve(options, **opts)


def _resolve_layer_rules(config: Any, net: Any) -> None:
    """LearningRateMultipliers and per-array Method rules -> the net's own array paths
    (positions and All resolved); a spec naming nothing is ``NetTrain::arrpattmiss``."""
    from wlbridge.nets.exprs import head_name
    from wlbridge.options.netpaths import PathTree, resolve_rules

    module = net.module
    if not hasattr(module, "layer_paths"):
        return
    bare = head_name(net.expr) not in ("NetChain", "NetGraph")  # a layer is node "1" here
    tree = PathTree(module.layer_paths(), module.arrays(), root=("1",) if bare else ())
    config.learning_rate_multipliers = resolve_rules(config.learning_rate_multipliers, tree,
                                                     "LearningRateMultipliers")
    method = config.method
    for attr, name in (("l2_regularization", "L2Regularization"),
                       ("gradient_clipping", "GradientClipping"),
                       ("weight_clipping", "WeightClipping")):
        rules = getattr(method, attr)
        if isinstance(rules, list):
            setattr(method, attr, resolve_rules(rules, tree, f"Method \"{name}\""))


def _training_module(net: Any, config: Any) -> Any:
    """The net with its losses attached (engine.losses), as the loop expects."""
    from engine.losses import attach_losses

    return attach_losses(net.module, net.spec, config.loss_function or None)


class _PortView:
    """What `to_dataset` needs: the training module's input types, and the coders by port."""

    def __init__(self, training: Any, spec: Any):
        from wlbridge.data import training_ports

        inner = getattr(training, "net", training)
        types = {**dict(getattr(inner, "input_types", {}) or {}),
                 **dict(getattr(training, "target_types", {}) or {})}
        if not types:
            types, _ = training_ports(spec)
        self.input_types = types
        coders = dict(spec.encoders)
        for port, dec in spec.decoders.items():
            if port in self.input_types:
                coders[port] = dec
        coders.update(getattr(training, "target_encoders", {}) or {})
        self.encoders = coders


def _engine_encoders(ports: _PortView) -> dict[str, Any]:
    """Encoders the engine runs: everything but Class/Boolean, which `to_dataset` already
    turned into indices."""
    from engine.spec import EncoderSpec

    return {p: e for p, e in ports.encoders.items()
            if isinstance(e, EncoderSpec) and e.kind not in ("Class", "Boolean")}


def _checkpoint_writer(expr: Any, spec: Any) -> Any:
    """The writer `engine.checkpoint` calls: the net at this point of training as its
    constructor expression, in Wolfram text ("wl") or WXF ("wxf", and "wlnet", which this
    engine writes as the same WXF), or its arrays with torch ("params")."""

    def write(module: Any, path: str, fmt: str) -> None:
        from engine.checkpoint import save_params
        from wlbridge.nets import Net

        if fmt == "params":
            save_params(module, path)
            return
        inner = getattr(module, "net", None) or module
        wl_expr = Net.from_module(expr, inner, spec).to_wl()
        if fmt == "wl":
            from wlbridge.syntax import to_text

            with open(path, "w", encoding="utf-8") as f:
                f.write(to_text(wl_expr) + "\n")
        else:
            from wolframclient.serializers import export

            export(wl_expr, path, target_format="wxf")

    return write


def _reporter(config: Any) -> Any:
    """The progress reporter of TrainingProgressReporting, or None when nothing is reported."""
    from engine.reporting import NoReporter, make_reporter

    rep = make_reporter(config.training_progress_reporting,
                        report_timings=config.report_timings,
                        report_memory=config.report_memory_usage)
    return None if isinstance(rep, NoReporter) else rep

