"""Memory samples (engine.memory): the §5.1 association, its §5.2 string, the §5.3 interval."""

from __future__ import annotations

import psutil
import pytest

from engine.errors import EngineError
from engine.memory import MemorySampler, format_memory, gpu_memory, memory_sample


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_sample_values_are_plausible():
    """System = machine memory in use, Kernel = this process's RSS, all ints (§5.1)."""
    d = memory_sample(buckets=3)
    vm = psutil.virtual_memory()
    rss = psutil.Process().memory_info().rss
    assert list(d)[:3] == ["System", "Kernel", "Buckets"]
    assert all(type(v) is int for v in d.values())
    assert d["Buckets"] == 3
    assert 0 < d["System"] < vm.total
    assert abs(d["System"] - (vm.total - vm.available)) < 0.05 * vm.total
    assert abs(d["Kernel"] - rss) < 64 * 10**6
    assert d["Kernel"] < d["System"]


def test_gpu_part_is_empty_without_nvml_or_gpus():
    """GPU keys come from NVML when it answers; without a GPU they are simply absent (§5.1)."""
    gpus = gpu_memory()  # {} on a machine without NVML / GPUs, never an exception
    d = memory_sample(gpus=True)
    gpu_keys = {k for k in d if k.startswith("GPU") and k[3:].isdigit()}
    assert gpu_keys == {f"GPU{i + 1}" for i in gpus}
    assert not any(k.startswith("GPU") for k in memory_sample(gpus=False))


def test_interval_is_respected():
    """No sample before one interval; then threshold = now + interval; force ignores it (§5.3)."""
    clock = FakeClock()
    s = MemorySampler(2.0, gpus=False, buckets=lambda: 2, clock=clock)
    assert s.latest is None
    first = s.sample(force=True)  # the initial string, before training
    assert first["Buckets"] == 2 and s.latest is first
    clock.t = 101.0
    assert s.sample() is None
    clock.t = 102.0
    assert s.sample() is not None
    clock.t = 103.9
    assert s.sample() is None and not s.due()
    clock.t = 104.5
    assert s.due() and s.sample() is not None
    assert s.sample(now=105.0) is None
    assert s.sample(now=106.5) is not None


def test_zero_interval_samples_every_call_and_bad_interval_fails():
    s = MemorySampler(0, clock=FakeClock())
    assert all(s.sample() is not None for _ in range(3))
    with pytest.raises(EngineError, match="invtint") as e:
        MemorySampler(-1)
    assert str(e.value).startswith("NetTrain::invtint:")


def test_format_memory_on_fixed_numbers():
    """Decimal megabytes, `g,mmm` with m zero-padded to 3 digits; Buckets plain (§5.2)."""
    d = {"System": 15_234_567_890, "Kernel": 81_900_000, "Buckets": 3, "GPU1": 4_012_345_678}
    assert format_memory(d) == "S:15,234M K:081M B:3 GPU1:4,012M"
    assert format_memory({"System": 999_999, "Kernel": 1_000_000_000}) == "S:000M K:1,000M"
    assert format_memory({"System": 1_005_000_000, "GPU2": 7_000_000}) == "S:1,005M GPU2:007M"
    # torch allocator figures are data, not part of the string
    assert format_memory({"Kernel": 5 * 10**6, "GPU1TorchAllocated": 10**9}) == "K:005M"
    assert format_memory(None) == ""


def test_format_of_a_live_sample_parses_back():
    text = format_memory(memory_sample())
    labels = [p.split(":")[0] for p in text.split(" ")]
    assert labels == ["S", "K", "B"]
    assert text.split(" ")[0].endswith("M")
