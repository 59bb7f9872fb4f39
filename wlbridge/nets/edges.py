"""NetGraph edges (wl-nets.md §1.2) -> explicit connections between vertex ports.

Every connection is made explicit: ``a -> b -> c``, lists on either side and nested forms are
flattened in written order; ``{a, b} -> cat`` feeds a multiport layer's ports "1", "2", ... in
order; unconnected layer inputs become graph inputs named after the port (shared when several
have the same name), unconnected outputs graph outputs ("Output", or "Output1", "Output2", ...
when several are called "Output"); ``-> None`` mutes an output. Cycles, doubly fed ports and
unknown vertices or ports are one ``NetTrain::invnet`` each.
"""

from __future__ import annotations

import itertools
from typing import Any

from wolframclient.language.expression import WLSymbol

from engine.spec import LayerSpec, NetSpec, PortRef
from wlbridge.nets.exprs import head_name, invnet, is_int, short, symbol_name
from wlbridge.nets.layers import LAYERS


def node_ports(node: LayerSpec | NetSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (required input, output) port names of a vertex; multiport layers have no fixed
    inputs (their ports "1", "2", ... come from the edges)."""
    if isinstance(node, LayerSpec):
        if node.kind == "NetMapOperator":
            return ("Input",), ("Output",)
        d = LAYERS[node.kind]
        if d.multiport:
            return (), d.outputs
        keep = [p for p in d.inputs if p not in d.optional_ports]
        return tuple(keep), tuple(p for p in d.outputs if p not in d.optional_ports)
    if node.kind == "chain":
        nodes = list(node.nodes.values())
        first_in, _ = node_ports(nodes[0])
        _, last_out = node_ports(nodes[-1])
        return first_in, last_out
    ins = tuple(dict.fromkeys(s[1] for s, _ in node.edges if s[0] is None))
    outs = tuple(dict.fromkeys(d[1] for _, d in node.edges if d[0] is None))
    return ins, outs


def _all_ports(node: LayerSpec | NetSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every port an explicit ``NetPort[v, "p"]`` may name (state ports included)."""
    if isinstance(node, LayerSpec) and node.kind in LAYERS:
        d = LAYERS[node.kind]
        return (() if d.multiport else d.inputs), d.outputs
    return node_ports(node)


def chain_as_graph(chain: NetSpec) -> NetSpec:
    keys = list(chain.nodes)
    edges: list[tuple[PortRef, PortRef]] = []
    first_in, _ = node_ports(chain.nodes[keys[0]])
    for p in first_in:
        edges.append(((None, p), (keys[0], p)))
    for a, b in itertools.pairwise(keys):
        edges.append(((a, node_ports(chain.nodes[a])[1][0]), (b, node_ports(chain.nodes[b])[0][0])))
    for p in node_ports(chain.nodes[keys[-1]])[1]:
        edges.append(((keys[-1], p), (None, p)))
    return NetSpec("graph", chain.nodes, edges, chain.inputs, chain.outputs, chain.encoders,
                   chain.decoders, chain.lr_multiplier)


def _flatten_edges(e: Any, where: str) -> tuple[list[Any], list[Any], list[tuple[Any, Any]]]:
    """(heads, tails, pairs) of an edge expression: ``a -> b -> c``, lists on either side,
    nested forms; pairs keep the written order, which sets multiport numbering."""
    if isinstance(e, (tuple, list)):
        heads, tails, pairs = [], [], []
        for x in e:
            h, t, p = _flatten_edges(x, where)
            heads += h
            tails += t
            pairs += p
        return heads, tails, pairs
    if head_name(e) == "Rule" and len(e.args) == 2:
        ha, ta, pa = _flatten_edges(e.args[0], where)
        hb, tb, pb = _flatten_edges(e.args[1], where)
        return ha, tb, pa + [(s, d) for d in hb for s in ta] + pb
    return [e], [e], []


def graph_edges(nodes: dict[str, LayerSpec | NetSpec], edges_expr: Any,
                here: str) -> list[tuple[PortRef, PortRef]]:
    """Every connection of a NetGraph made explicit (see the module docstring)."""
    if not isinstance(edges_expr, (tuple, list)):
        edges_expr = (edges_expr,)
    _, _, pairs = _flatten_edges(edges_expr, here)
    if not pairs and len(nodes) > 1:
        raise invnet(f"{here}: no edges given")

    edges: list[tuple[PortRef, PortRef]] = []
    muted: set[PortRef] = set()
    pending: dict[str, list[PortRef]] = {}  # destination vertex -> sources, port still to assign
    for s, d in pairs:
        src = _endpoint(s, nodes, here, source=True)
        if d is None or symbol_name(d) == "None":
            muted.add(src)
            continue
        dst = _endpoint(d, nodes, here, source=False)
        if dst[1] is None:
            pending.setdefault(dst[0], []).append(src)  # type: ignore[index]
        else:
            edges.append((src, dst))  # type: ignore[arg-type]
    explicit_dst = {d for _, d in edges}
    for key, sources in pending.items():
        ins, _ = node_ports(nodes[key])
        if not ins:  # multiport: "1", "2", ... in order
            edges.extend((s, (key, str(i))) for i, s in enumerate(sources, 1))
            continue
        free = [p for p in ins if (key, p) not in explicit_dst]
        if len(sources) > len(free):
            raise invnet(f'{here}: {len(sources)} edges go into vertex "{key}", which has only '
                         f'{len(free)} free input port(s) ({", ".join(free) or "none"})')
        edges.extend((s, (key, p)) for s, p in zip(sources, free, strict=False))

    # unconnected ports become ports of the graph
    fed = {d for _, d in edges}
    used = {s for s, _ in edges} | muted
    for key, node in nodes.items():
        ins, _ = node_ports(node)
        for p in ins:
            if (key, p) not in fed:
                edges.append(((None, p), (key, p)))
        if isinstance(node, LayerSpec) and node.kind in LAYERS and LAYERS[node.kind].multiport:
            if not any(d[0] == key for _, d in edges):
                raise invnet(f'{here}: vertex "{key}" ({node.kind}) has no inputs connected')
    loose = [(key, p) for key, node in nodes.items() for p in node_ports(node)[1] if (key, p) not in used]
    explicit_out = {d[1] for _, d in edges if d[0] is None}
    counts: dict[str, int] = {}
    for _, p in loose:
        counts[p] = counts.get(p, 0) + 1
    numbering: dict[str, int] = {}
    for key, p in loose:
        name = p
        if counts[p] > 1:
            numbering[p] = numbering.get(p, 0) + 1
            name = f"{p}{numbering[p]}"
        if name in explicit_out:
            raise invnet(f'{here}: the output "{name}" of vertex "{key}" clashes with a graph output of the same name')
        edges.append(((key, p), (None, name)))
    _check_graph_wiring(edges, nodes, here)
    return edges


def _endpoint(e: Any, nodes: dict[str, Any], where: str, source: bool) -> tuple[str | None, str | None]:
    """An edge end: a vertex (port to assign), a graph port, or a vertex's named port."""
    side = "source" if source else "destination"
    if is_int(e) or isinstance(e, str):
        key = str(e)
        if key not in nodes:
            raise invnet(f"{where}: the edge {side} {short(e)} is not a vertex of the graph "
                         f"(vertices: {', '.join(nodes)})")
        if source:
            outs = node_ports(nodes[key])[1]
            if len(outs) != 1:
                raise invnet(f'{where}: vertex "{key}" has several outputs ({", ".join(outs)}); '
                             f'name one with NetPort["{key}", "port"]')
            return key, outs[0]
        return key, None
    if head_name(e) == "NetPort":
        args = e.args
        if len(args) == 1 and isinstance(args[0], str):
            return None, args[0]
        if len(args) == 1 and isinstance(args[0], (tuple, list)) and len(args[0]) == 2:
            args = tuple(args[0])
        if len(args) == 2 and (is_int(args[0]) or isinstance(args[0], str)) and isinstance(args[1], str):
            key, port = str(args[0]), args[1]
            if key not in nodes:
                raise invnet(f"{where}: {short(e)} refers to a missing vertex {short(args[0])} "
                             f"(vertices: {', '.join(nodes)})")
            ins, outs = _all_ports(nodes[key])
            ports = outs if source else ins
            multi = not ins and not source
            if not multi and port not in ports:
                kind = "output" if source else "input"
                raise invnet(f'{where}: vertex "{key}" has no {kind} port "{port}" '
                             f'({kind}s: {", ".join(ports) or "none"})')
            return key, port
        raise invnet(f"{where}: cannot read the port {short(e)}")
    if isinstance(e, WLSymbol) and symbol_name(e) == "None" and not source:
        return None, None
    raise invnet(f"{where}: cannot read the edge {side} {short(e)}")


def _check_graph_wiring(edges: list[tuple[PortRef, PortRef]], nodes: dict[str, Any], where: str) -> None:
    seen: dict[PortRef, PortRef] = {}
    for s, d in edges:
        if d in seen and seen[d] != s:
            who = f'vertex "{d[0]}" port "{d[1]}"' if d[0] is not None else f'graph output "{d[1]}"'
            raise invnet(f"{where}: {who} is fed by more than one edge")
        seen[d] = s
    # cycles
    graph: dict[str, set[str]] = {k: set() for k in nodes}
    for s, d in edges:
        if s[0] is not None and d[0] is not None:
            graph[s[0]].add(d[0])
    state: dict[str, int] = {}

    def visit(k: str) -> None:
        state[k] = 1
        for n in graph[k]:
            if state.get(n) == 1:
                raise invnet(f'{where}: the edges form a cycle through vertex "{n}"')
            if n not in state:
                visit(n)
        state[k] = 2

    for k in nodes:
        if k not in state:
            visit(k)
