"""PlanLogging (engine.plan) and ExecutorLogging payloads (engine.executor_log), §3.1 and §3.2."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from engine.events import Compressed, Symbol
from engine.executor_log import (
    context_code,
    device_memory_limit,
    dtype_code,
    executor_create,
    executor_inherit,
    executor_reshape,
)
from engine.plan import execution_plan, plan_event, plan_json


def test_plan_of_a_chain_lists_nodes_shapes_and_every_array():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    plan = execution_plan(net, torch.zeros(64, 4))
    assert [(n["name"], n["op"]) for n in plan["nodes"]] == [
        ("0", "Linear"), ("1", "ReLU"), ("2", "Linear")]
    first = plan["nodes"][0]
    assert first["inputs"] == [[64, 4]] and first["outputs"] == [[64, 8]]
    assert first["arrays"] == {"weight": [8, 4], "bias": [8]}
    assert "aten::addmm" in first["ops"]
    assert plan["inputs"] == {"Input": [64, 4]} and plan["outputs"] == {"Output": [64, 2]}
    assert {k: v["shape"] for k, v in plan["arrays"].items()} == {
        n: list(p.shape) for n, p in net.named_parameters()}
    assert json.loads(plan_json(plan)) == plan


class TwoInputs(nn.Module):
    """A graph-like module: a dict of named ports in, functional ops between leaf modules."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 5)
        self.norm = nn.BatchNorm1d(7)
        self.scale = nn.Parameter(torch.ones(7))

    def forward(self, ports: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = torch.cat([self.a(ports["x"]), ports["y"]], dim=1)
        return {"Output": self.norm(h) * self.scale}


def test_plan_of_a_dict_module_records_functional_ops_and_buffers():
    net = TwoInputs()
    net.train()
    mean_before = net.norm.running_mean.clone()
    plan = execution_plan(net, {"x": torch.zeros(2, 3), "y": torch.ones(2, 2)})
    ops = [n["op"] for n in plan["nodes"]]
    assert ops == ["Linear", "aten::cat", "BatchNorm1d", "aten::mul.Tensor"]
    cat = plan["nodes"][1]
    assert cat["name"] is None and cat["inputs"] == [[2, 5], [2, 2]] and cat["outputs"] == [[2, 7]]
    assert plan["inputs"] == {"x": [2, 3], "y": [2, 2]} and plan["outputs"] == {"Output": [2, 7]}
    arrays = plan["arrays"]
    assert arrays["scale"] == {"shape": [7], "dtype": "float32", "trainable": True}
    assert arrays["norm.running_var"]["trainable"] is False
    assert set(arrays) >= {"a.weight", "a.bias", "norm.weight", "norm.bias", "norm.running_mean"}
    # the example pass changes nothing: training mode and running statistics kept
    assert net.training and torch.equal(net.norm.running_mean, mean_before)
    json.dumps(plan)


def test_plan_event_payload():
    """{"ToNetPlan", maxSeqLens, compressed JSON} (§3.1)."""
    plan = execution_plan(nn.Linear(2, 1), torch.zeros(1, 2))
    assert [n["op"] for n in plan["nodes"]] == ["Linear"]
    name, lens, packed = plan_event({1: 12}, plan)
    assert name == "ToNetPlan" and lens == {1: 12}
    assert isinstance(packed, Compressed) and json.loads(packed.value) == plan
    assert plan_event({}, plan)[1] == {}


def test_executor_events():
    """Create/Inherit/Reshape with MXNet's codes: CPU 1, GPU 2; Real32 0, Real64 1, Real16 2."""
    ev = executor_create({"Input": [64, 4], "Target": (64,)}, "cpu", torch.float32, 10**9)
    assert ev == (Symbol("NetExecutorCreate"), {"Input": (64, 4), "Target": (64,)}, 1, 0, 10**9)
    assert executor_inherit({"Input": (8, 12, 4)}, "cuda:1", "Real16") == (
        Symbol("NetExecutorInherit"), {"Input": (8, 12, 4)}, 2, 2)
    assert executor_reshape(32, torch.device("cpu")) == (Symbol("NetExecutorReshape"), 32, 1)
    assert executor_reshape({"Input": (32, 4)}, "GPU")[1:] == ({"Input": (32, 4)}, 2)
    assert [dtype_code(d) for d in ("Real32", torch.float64, torch.float16, "Mixed")] == [0, 1, 2, 0]
    assert context_code("cuda") == 2 and context_code("cpu") == 1
    assert device_memory_limit("cpu") > 0
    with pytest.raises(ValueError):
        dtype_code(torch.int64)
