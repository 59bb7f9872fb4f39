"""Log sinks and payload conversion (reference nettrain-loop.md §2, §3.11; DESIGN rules 4-5).

Entries are driven through the real event bus (`engine.events.Events`), so times are what the
loop would stamp: seconds since this Python process started, read once per entry.
"""

from __future__ import annotations

import base64
import io
import threading
import time
import zlib

import numpy as np
import psutil
import pytest
from wolframclient.deserializers import binary_deserialize
from wolframclient.language import wl
from wolframclient.language.expression import WLFunction, WLSymbol

import wlbridge
from engine.events import Compressed, Events, Symbol
from wlbridge.messages import WLMessage
from wlbridge.options import resolve
from wlbridge.payloads import to_wl
from wlbridge.sinks import Bag, bag, entry, to_sink

R = wl.Rule


def emit_all(listener, values, start_batch=0):
    """Emit ``values`` on one channel, one absolute batch each; returns the wall-clock window."""
    events = Events({"Plan": listener})
    before = time.time()
    for i, v in enumerate(values):
        events.abs_batch = start_batch + i
        events.emit("Plan", v)
    return before, time.time()


def check_entries(entries, values, window, start_batch=0):
    """Every entry is ``{time, absBatch} -> value`` with increasing times since process start."""
    start = psutil.Process().create_time()
    times = []
    for i, (e, v) in enumerate(zip(entries, values, strict=True)):
        assert isinstance(e, WLFunction) and e.head == wl.Rule
        (t, b), value = e.args
        assert isinstance(t, float) and b == start_batch + i
        assert value == to_wl(v)
        times.append(t)
    assert times == sorted(times)
    # seconds since the process started: within the emit window shifted by the start time
    assert window[0] - start - 0.01 <= times[0] <= times[-1] <= window[1] - start + 0.01


VALUES = ["StartOfLoop", ("NewBucket", (24,)), {"Batch": 1.5, "Buckets": 3},
          (Symbol("NetExecutorCreate"), {"data": (32, 3)}, 1, 0)]


def test_off_specs_give_no_listener():
    assert to_sink(False, "PlanLogging") is None
    assert to_sink(None, "PlanLogging") is None
    assert to_sink(WLSymbol("None"), "PlanLogging") is None


def test_bag_collects_entries_in_order():
    b = Bag()
    window = emit_all(to_sink(b, "PlanLogging"), VALUES, start_batch=3)
    check_entries(b.contents(), VALUES, window, start_batch=3)
    assert isinstance(b.contents(), tuple) and len(b) == len(VALUES)


def test_wolfram_bag_expressions_make_reachable_bags():
    """``Internal`Bag[]`` in option text: anonymous bags registered under the option name,
    ``Bag["name"]`` under its name."""
    config = resolve('"InternalOptions" -> {"TrainerLogging" -> Internal`Bag[], '
                     '"PlanLogging" -> Bag["plans"]}')
    emit_all(config.listeners["Trainer"], ["TrainerFinalize"])
    emit_all(config.listeners["Plan"], ["x", "y"])
    assert [e.args[1] for e in bag("TrainerLogging")] == ["TrainerFinalize"]
    assert [e.args[1] for e in bag("plans")][-2:] == ["x", "y"]


def test_file_sink_writes_one_inputform_line_per_entry(tmp_path):
    """§2.2: each line parses back to Rule[List[real, integer], value]; NumPy arrays become
    lists, symbols stay symbols."""
    path = tmp_path / "log.wl"
    values = [*VALUES, np.arange(6).reshape(2, 3), None, -2.5e-12]
    window = emit_all(to_sink(wl.File(str(path)), "PlanLogging"), values)
    lines = path.read_text().splitlines()
    assert len(lines) == len(values)
    entries = [wlbridge.parse(line) for line in lines]
    check_entries(entries, values, window)
    assert entries[4].args[1] == ((0, 1, 2), (3, 4, 5))
    assert entries[5].args[1] == WLSymbol("None")
    assert entries[3].args[1][0] == WLSymbol("NetExecutorCreate")


def test_file_sink_deletes_an_existing_file_at_setup(tmp_path):
    path = tmp_path / "old.wl"
    path.write_text("stale entry\n")
    sink = to_sink(wl.File(str(path)), "PlanLogging")
    assert not path.exists()
    emit_all(sink, ["a"])
    assert len(path.read_text().splitlines()) == 1


def test_file_sink_is_safe_across_threads(tmp_path):
    path = tmp_path / "threads.wl"
    sink = to_sink(wl.File(str(path)), "GradientLogging")

    def work(k):
        for i in range(50):
            sink(1.0 + i, i, {"Thread": k, "Payload": "x" * 200})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 200
    assert all(isinstance(wlbridge.parse(line), WLFunction) for line in lines)


def test_non_wl_log_file_is_rejected():
    with pytest.raises(WLMessage) as err:
        to_sink(wl.File("log.txt"), "PlanLogging")
    assert err.value.tag == "badnetlogft"
    assert "'.wl'" in str(err.value) and "log.txt" in str(err.value)


def test_unsupported_spec_is_rejected():
    with pytest.raises(WLMessage) as err:
        to_sink("stdout", "TimingLogging")
    assert err.value.tag == "badnetlogspec" and "TimingLogging" in str(err.value)


def test_verbose_file_is_deleted_once_and_shared(tmp_path):
    """VerboseLogging: six channels, one File sink; entries of all channels in one file."""
    path = tmp_path / "verbose.wl"
    config = resolve(R("InternalOptions", (R("VerboseLogging", wl.File(str(path))),)))
    events = Events(config.listeners)
    for channel in ("Plan", "Executor", "Timing"):
        events.emit(channel, channel)
    assert [wlbridge.parse(x).args[1] for x in path.read_text().splitlines()] == [
        "Plan", "Executor", "Timing"]


def test_python_file_like_and_output_stream(tmp_path, capsys):
    buf = io.StringIO()
    window = emit_all(to_sink(buf, "PlanLogging"), VALUES)
    check_entries([wlbridge.parse(x) for x in buf.getvalue().splitlines()], VALUES, window)

    emit_all(to_sink(wl.OutputStream("stdout", 1), "PlanLogging"), ["out"])
    emit_all(to_sink(wl.OutputStream("stderr", 2), "PlanLogging"), ["err"])
    captured = capsys.readouterr()
    assert wlbridge.parse(captured.out.strip()).args[1] == "out"
    assert wlbridge.parse(captured.err.strip()).args[1] == "err"

    path = tmp_path / "stream.wl"
    path.write_text("")  # OutputStream appends; it does not delete
    emit_all(to_sink(wl.OutputStream(str(path), 3), "PlanLogging"), ["a", "b"])
    assert len(path.read_text().splitlines()) == 2


def test_standard_error_goes_to_stderr(capsys):
    window = emit_all(to_sink("StandardError", "TimingLogging"), VALUES)
    captured = capsys.readouterr()
    assert captured.out == ""
    check_entries([wlbridge.parse(x) for x in captured.err.splitlines()], VALUES, window)


def test_true_prints_the_bare_value(capsys):
    """§2.2: True prints only the value (strings without quotes), no {time, batch} rule."""
    emit_all(to_sink(True, "CoreLoopLogging"), ["StartOfBatch", ("NewBucket", (3,))])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "StartOfBatch"
    assert wlbridge.parse(out[1]) == ("NewBucket", (3,))


def test_python_callable_receives_raw_payloads():
    got = []
    sink = to_sink(lambda t, b, v: got.append((b, v)), "GradientLogging")
    emit_all(sink, [np.array([1.0, 2.0])])
    assert got[0][0] == 0 and isinstance(got[0][1], np.ndarray)


def test_compressed_payloads_are_wxf_bytes_with_packed_arrays():
    """§3.11: compressed WXF ("8C:"), arrays packed; reads back with the WXF deserializer."""
    perm = [[3, 1], [2, 4]]
    value = to_wl(("PermutationCompressed", Compressed(perm)))
    data = value[1]
    assert isinstance(data, bytes) and data[:3] == b"8C:"
    back = binary_deserialize(data)
    assert np.array_equal(back, perm) and back.dtype.kind == "i"
    # the symbol None inside: wolframclient's deserializer reads None (and Null) as Python None
    assert b"None" in zlib.decompress(to_wl(Compressed(None))[3:])
    assert binary_deserialize(to_wl(Compressed(None))) is None
    # in a log file it is a ByteArray and survives the round trip
    line = wlbridge.to_text(entry(1.0, 2, ("PermutationCompressed", Compressed(perm))))
    assert "ByteArray" in line
    parsed = wlbridge.parse(line).args[1][1]
    # WXF reads a ByteArray as bytes; accept the parser's ByteArray["base64"] form as well
    raw = parsed if isinstance(parsed, bytes) else base64.b64decode(parsed.args[0])
    assert np.array_equal(binary_deserialize(raw), perm)


def test_payload_conversion():
    assert to_wl({"a": np.float32(1.5), "b": None}) == {"a": 1.5, "b": WLSymbol("None")}
    assert to_wl([np.int64(3), Symbol("NetExecutorReshape")]) == (3, WLSymbol(
        "NetExecutorReshape"))
    assert to_wl(np.zeros((2, 1))) == ((0.0,), (0.0,))
