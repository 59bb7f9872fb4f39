"""The wiring of a NetChain or NetGraph: which source feeds each layer input and net output.

``wire(spec, path) -> Wiring`` resolves a container's edges (a chain gets its implicit ones),
makes unconnected layer inputs net inputs and unconnected outputs net outputs (wl-nets.md §1.2:
"Output1", "Output2", ... when several are called "Output"), checks every named port and
orders the nodes topologically. Problems raise ``NetTrain::invnet`` naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import EngineError
from engine.layers import LayerKind, lookup, where
from engine.spec import LayerSpec, NetSpec, PortRef

HEADS = {"chain": "NetChain", "graph": "NetGraph"}


def err(path: tuple[str, ...], text: str) -> EngineError:
    """A ``NetTrain::invnet`` error located at ``path``."""
    return EngineError("invnet", f"{where(path)}: {text}" if path else text)


@dataclass
class Wiring:
    """The resolved connections of one container."""

    node_inputs: dict[str, tuple[str, ...]]
    node_outputs: dict[str, tuple[str, ...]]
    feeds: dict[tuple[str, str], PortRef]  # (node, input port) -> source
    outputs: dict[str, PortRef]  # net output -> source
    inputs: list[str]  # net input names, in order
    order: list[str]  # nodes in topological order
    consumers: dict[PortRef, int] = field(default_factory=dict)


def layer_kind(spec: LayerSpec, path: tuple[str, ...]) -> LayerKind:
    k = lookup(spec.kind)
    if k is None:
        raise err(path, f"the layer {spec.kind} is not supported by the engine.")
    return k


def node_path(path: tuple[str, ...], key: str, node: LayerSpec | NetSpec) -> tuple[str, ...]:
    head = HEADS.get(node.kind, node.kind) if isinstance(node, NetSpec) else node.kind
    return (*path, f'"{key}"', head)


def _ports(node: LayerSpec | NetSpec, key: str, multi: list[str],
           path: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(inputs, outputs, optional inputs, optional outputs) of a node."""
    if isinstance(node, NetSpec):
        w = wire(node, path)
        return tuple(w.inputs), tuple(w.outputs), (), ()
    k = layer_kind(node, path)
    if k.inputs is None:
        names = sorted(set(multi) | set(node.inputs), key=lambda p: int(p) if p.isdigit() else 1 << 30)
        ins: tuple[str, ...] = tuple(names)
    else:
        ins = k.inputs
    return ins, k.outputs, k.optional_inputs, k.optional_outputs


def wire(spec: NetSpec, path: tuple[str, ...]) -> Wiring:
    """Resolve the edges of a NetChain or NetGraph (chains get their implicit edges)."""
    if not spec.nodes:
        raise err(path, f"the {HEADS.get(spec.kind, spec.kind)} has no layers.")
    keys = list(spec.nodes)
    edges = list(spec.edges)
    multi: dict[str, list[str]] = {k: [] for k in keys}
    for _src, dst in edges:
        if dst is not None and dst[0] is not None and dst[0] in multi:
            multi[dst[0]].append(dst[1])
    ports: dict[str, tuple] = {}
    for k in keys:
        ports[k] = _ports(spec.nodes[k], k, multi[k], node_path(path, k, spec.nodes[k]))
    if spec.kind == "chain" and not edges:
        edges = _chain_edges(spec, keys, ports, path)
    feeds: dict[tuple[str, str], PortRef] = {}
    outputs: dict[str, PortRef] = {}
    inputs: list[str] = list(spec.inputs)
    used: set[PortRef] = set()
    consumers: dict[PortRef, int] = {}
    for src, dst in edges:
        if src[0] is None:
            if src[1] not in inputs:
                inputs.append(src[1])
        else:
            _check_port(spec, ports, src, 1, "output", path)
        used.add(src)
        consumers[src] = consumers.get(src, 0) + 1
        if dst is None or dst[1] is None:  # muted output
            continue
        if dst[0] is None:
            if dst[1] in outputs:
                raise err(path, f"the output port {dst[1]!r} is connected twice.")
            outputs[dst[1]] = src
            continue
        _check_port(spec, ports, dst, 0, "input", path)
        if (dst[0], dst[1]) in feeds:
            raise err(node_path(path, dst[0], spec.nodes[dst[0]]),
                       f"the input port {dst[1]!r} is connected more than once.")
        feeds[(dst[0], dst[1])] = src
    # unconnected inputs become net inputs, unconnected outputs net outputs (wl-nets.md §1.2)
    for k in keys:
        ins, outs, _opt_in, opt_out = ports[k]
        for p in ins:
            if (k, p) not in feeds:
                feeds[(k, p)] = (None, p)
                if p not in inputs:
                    inputs.append(p)
    loose: list[tuple[str, str]] = []
    for k in keys:
        _ins, outs, _opt_in, opt_out = ports[k]
        loose += [(k, p) for p in outs if (k, p) not in used and p not in opt_out]
    names = [p for _k, p in loose]
    counter: dict[str, int] = {}
    for k, p in loose:
        if names.count(p) == 1 and p not in outputs:
            name = p
        else:
            counter[p] = counter.get(p, 0) + 1
            name = f"{p}{counter[p]}"
        outputs[name] = (k, p)
        consumers[(k, p)] = consumers.get((k, p), 0) + 1
    order = _toposort(spec, keys, feeds, path)
    return Wiring({k: ports[k][0] for k in keys}, {k: ports[k][1] + ports[k][3] for k in keys},
                  feeds, outputs, inputs, order, consumers)


def _chain_edges(spec: NetSpec, keys: list[str], ports: dict[str, tuple],
                 path: tuple[str, ...]) -> list[tuple[PortRef, PortRef]]:
    edges: list[tuple[PortRef, PortRef]] = []
    for i, k in enumerate(keys):
        ins, outs = ports[k][0], ports[k][1]
        npath = node_path(path, k, spec.nodes[k])
        if i > 0 and len(ins) != 1:
            raise err(npath, f"a layer inside a NetChain must have exactly one input, "
                              f"but this one has {len(ins)} ({', '.join(ins)}).")
        if i < len(keys) - 1 and len(outs) != 1:
            raise err(npath, f"a layer inside a NetChain must have exactly one output, "
                              f"but this one has {len(outs)}.")
        if i == 0:
            for p in ins:
                edges.append(((None, p), (k, p)))
        else:
            prev = keys[i - 1]
            edges.append(((prev, ports[prev][1][0]), (k, ins[0])))
    last = keys[-1]
    for p in ports[last][1]:
        edges.append(((last, p), (None, p)))
    for name in spec.inputs:
        if name not in ports[keys[0]][0]:
            raise EngineError("netinvcport", f"{where(path)}: {name!r} is not an input port of "
                                             f"the chain's first layer; its ports are "
                                             f"{', '.join(ports[keys[0]][0])}.", "NetChain")
    for name in spec.outputs:
        if name not in ports[last][1]:
            raise EngineError("netinvcport", f"{where(path)}: {name!r} is not an output port of "
                                             f"the chain's last layer; its ports are "
                                             f"{', '.join(ports[last][1])}.", "NetChain")
    return edges


def _check_port(spec: NetSpec, ports: dict[str, tuple], ref: PortRef, side: int, what: str,
                path: tuple[str, ...]) -> None:
    node, port = ref
    if node not in spec.nodes:
        raise err(path, f"the edge refers to a node {node!r} that does not exist; the nodes are "
                         f"{', '.join(repr(k) for k in spec.nodes)}.")
    names = ports[node][side] + ports[node][2 + side]
    kind = lookup(spec.nodes[node].kind) if isinstance(spec.nodes[node], LayerSpec) else None
    if side == 0 and kind is not None and kind.inputs is None:
        return
    if port not in names:
        raise err(node_path(path, node, spec.nodes[node]),
                   f"there is no {what} port {port!r}; the {what} ports are "
                   f"{', '.join(repr(n) for n in names)}.")


def _toposort(spec: NetSpec, keys: list[str], feeds: dict[tuple[str, str], PortRef],
              path: tuple[str, ...]) -> list[str]:
    deps = {k: {src[0] for (n, _p), src in feeds.items() if n == k and src[0] is not None}
            for k in keys}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(keys):
        ready = [k for k in keys if k not in done and deps[k] <= done]
        if not ready:
            cyc = [k for k in keys if k not in done]
            raise err(path, f"the graph has a cycle through the nodes {', '.join(repr(k) for k in cyc)}.")
        for k in ready:
            order.append(k)
            done.add(k)
    return order
