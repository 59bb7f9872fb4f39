"""MXNetLogging on PyTorch (engine.backend_trace): every operator call, shapes only, §3.5."""

from __future__ import annotations

import torch
from torch import nn
from wolframclient.deserializers import binary_deserialize
from wolframclient.serializers import export

from engine.backend_trace import call_payload, encode_arg, op_name, trace_backend


def _step():
    torch.manual_seed(0)
    lin = nn.Linear(4, 3)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    x = torch.randn(5, 4)
    return lin, opt, x


def test_linear_forward_backward_and_step_are_seen_with_shapes():
    """Forward addmm, backward mm on the right shapes, and the optimizer's in-place updates."""
    lin, opt, x = _step()
    log: list = []
    with trace_backend(log.append) as mode:
        lin(x).sum().backward()
        opt.step()
    names = [p[0] for p in log]
    assert mode.calls == len(log)
    assert ("aten::addmm", ("Tensor", (3,), "float32"), ("Tensor", (5, 4), "float32"),
            ("Tensor", (4, 3), "float32")) in log
    mm = [p[1:] for p in log if p[0] == "aten::mm"]
    # grad wrt the weight: (3, 5) @ (5, 4)
    assert (("Tensor", (3, 5), "float32"), ("Tensor", (5, 4), "float32")) in mm
    # the forward comes before the backward
    assert names.index("aten::addmm") < names.index("aten::mm")
    # SGD's update of weight and bias, with its keyword argument
    updates = [p for p in log if p[0] == "aten::add_.Tensor"]
    assert [u[1][1] for u in updates] == [(3, 4), (3,)]
    assert updates[0][-1] == {"alpha": -0.1}


def test_nothing_is_emitted_outside_the_context():
    lin, opt, x = _step()
    log: list = []
    lin(x).sum().backward()
    with trace_backend(log.append):
        pass
    lin(x)
    assert log == []
    with trace_backend(log.append):
        torch.relu(x)
    assert [p[0] for p in log] == ["aten::relu"]


def test_listener_may_use_torch_without_being_traced():
    """emit runs with the mode suspended: no recursion, its own ops are not logged."""
    log: list = []

    def emit(v):
        torch.zeros(2).sum()
        log.append(v)

    with trace_backend(emit):
        torch.ones(3) * 2
    assert [p[0] for p in log] == ["aten::ones", "aten::mul.Tensor"]


def test_large_data_is_elided_and_payloads_are_wolfram_data():
    """Lists longer than 19 leaves become ("AngleBracket", n) (§3.5); payloads serialise to WXF."""
    assert encode_arg(list(range(50))) == ("AngleBracket", 50)
    assert encode_arg([2, 3]) == (2, 3)
    assert encode_arg(torch.zeros(2, 3, dtype=torch.float64)) == ("Tensor", (2, 3), "float64")
    assert encode_arg(torch.float16) == "torch.float16"
    assert op_name(torch.ops.aten.addmm.default) == "aten::addmm"
    assert op_name(torch.ops.aten.add.Tensor) == "aten::add.Tensor"
    payload = call_payload(torch.ops.aten.view.default, (torch.zeros(4, 5), [20]), {})
    assert payload == ("aten::view", ("Tensor", (4, 5), "float32"), (20,))
    back = binary_deserialize(export(payload, target_format="wxf"))
    assert back == payload
