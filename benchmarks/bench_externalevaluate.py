"""Moving MNIST-sized data through the real ExternalEvaluate loop, and what a `step` costs.

The kernel's side is played by this script over wolframclient's own `start_zmq_loop` in a
subprocess (a PAIR socket, WXF messages: wlharness README §5), for the 1.4.x loop (Mathematica
14.1+) and, when installed in .venv-wc110, the 1.1.x loop of 12.x-14.0. Measured:

* moving 60,000 examples of 28 x 28 as the paclet sends them after encoding (DESIGN rule 6):
  UnsignedInteger8 in one 47 MB chunk, or Real32 (what NetEncoder["Image"] gives) in 64 MB
  chunks, plus the Integer32 class indices; "encode" is the WXF serialisation on the sending
  side (the kernel's own cost in Mathematica), "round trip" the send-to-reply time of the
  `add_data` calls, which includes Python's decoding and its copy of each chunk;
* `begin`: joining the chunks into columns and starting the training thread;
* one `step(sid, 0)` while a net trains in the same process (the panel's polling cost), and
  a call that does nothing (`"1"`) as the loop's floor.

    python benchmarks/bench_externalevaluate.py [--steps 200] [--generation 1.4|1.1|both]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq
from wolframclient.deserializers import binary_deserialize
from wolframclient.language import wl
from wolframclient.serializers import export

ROOT = Path(__file__).resolve().parent.parent
WC110 = ROOT / ".venv-wc110"
CMD = wl.ExternalEvaluate.Private.ExternalEvaluateCommand
KEEP = "ExternalEvaluate`Private`ExternalEvaluateKeepListening"
EE = "wlbridge.externalevaluate."
N = 60_000
CHUNK_BYTES = 64 * 2**20


class Loop:
    """wolframclient's ExternalEvaluate loop in a subprocess, driven as a kernel drives it."""

    def __init__(self, generation: str):
        self.generation = generation
        paths = [str(ROOT)] + ([str(WC110)] if generation == "1.1" else [])
        if generation == "1.1":
            paths.reverse()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c",
             "from wolframclient.utils.externalevaluate import start_zmq_loop; start_zmq_loop()"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        endpoint = self.proc.stdout.readline().decode().strip()
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        self.sock = zmq.Context.instance().socket(zmq.PAIR)
        self.sock.connect(endpoint)

    def message(self, function: str, *args: Any) -> bytes:
        if self.generation == "1.1":
            body: Any = {"input": function, "args": args} if args else {"input": function}
        else:
            body = CMD("Call", CMD("Eval", function, {}), *args) if args else CMD("Eval", function, {})
        return export(body, target_format="wxf")

    def send(self, data: bytes) -> Any:
        self.sock.send(data)
        while True:
            obj = binary_deserialize(self.sock.recv())
            if not (hasattr(obj, "head") and getattr(obj.head, "name", "") == KEEP):
                return obj

    def call(self, function: str, *args: Any) -> Any:
        return self.send(self.message(function, *args))

    def close(self) -> None:
        self.sock.close(0)
        self.proc.kill()
        self.proc.wait(5)


MLP = wl.HoldForm(wl.NetChain((wl.FlattenLayer(), wl.LinearLayer((32,)), wl.ElementwiseLayer(wl.Ramp),
                               wl.LinearLayer((10,)), wl.SoftmaxLayer()), wl.Rule("Input", (28, 28))))
PORTS = {"Input": {"Kind": "Image", "Dimensions": (28, 28)},
         "Output": {"Kind": "Class", "Labels": tuple(range(10))}}


def open_mlp(loop: Loop, options: str) -> str:
    r = np.random.default_rng(0)
    positions = [(2, "Weights"), (2, "Biases"), (4, "Weights"), (4, "Biases")]
    arrays = [r.normal(0, 0.01, s).astype(np.float32) for s in ((32, 784), (32,), (10, 32), (10,))]
    sid = loop.call(EE + "open_run", MLP, positions, arrays, PORTS, options, "All")
    assert isinstance(sid, str), sid
    return sid


def move(loop: Loop, images: np.ndarray, labels: np.ndarray) -> tuple[float, float, float, int]:
    """(encode seconds, round-trip seconds, begin seconds, chunks) for one training set."""
    sid = open_mlp(loop, "MaxTrainingRounds -> 1, BatchSize -> 60000, TrainingProgressReporting -> None")
    per = max(1, CHUNK_BYTES // (images[0].nbytes or 1))
    encode = trip = 0.0
    chunks = 0
    for port, data in (("Input", images), ("Output", labels)):
        for i in range(0, len(data), per):
            t0 = time.perf_counter()
            msg = loop.message(EE + "add_data", sid, "Training", port, data[i:i + per], None)
            t1 = time.perf_counter()
            got = loop.send(msg)
            trip += time.perf_counter() - t1
            encode += t1 - t0
            chunks += 1
            assert isinstance(got, int), got
    t0 = time.perf_counter()
    assert loop.call(EE + "begin", sid) is True
    began = time.perf_counter() - t0
    while not loop.call(EE + "step", sid, 1.0)["Done"]:
        pass
    loop.call(EE + "close", sid)
    return encode, trip, began, chunks


def step_cost(loop: Loop, steps: int) -> tuple[float, float, int]:
    """(ms per step while training, ms per no-op call, batches trained meanwhile)."""
    sid = open_mlp(loop, "MaxTrainingRounds -> 100000, BatchSize -> 64, TrainingProgressReporting -> None")
    r = np.random.default_rng(1)
    loop.call(EE + "add_data", sid, "Training", "Input", r.integers(0, 256, (2000, 28, 28), dtype=np.uint8), None)
    loop.call(EE + "add_data", sid, "Training", "Output", r.integers(1, 11, 2000).astype(np.int32), None)
    loop.call(EE + "begin", sid)
    while loop.call(EE + "step", sid, 0.2)["Progress"].get("AbsoluteBatch", 0) < 5:
        pass
    msg = loop.message(EE + "step", sid, 0)
    t0 = time.perf_counter()
    for _ in range(steps):
        answer = loop.send(msg)
    per_step = (time.perf_counter() - t0) / steps * 1e3
    batches = answer["Progress"]["AbsoluteBatch"]
    loop.call(EE + "stop", sid, True)
    loop.call(EE + "close", sid)
    noop = loop.message("1")
    t0 = time.perf_counter()
    for _ in range(steps):
        loop.send(noop)
    return per_step, (time.perf_counter() - t0) / steps * 1e3, batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--generation", choices=("1.4", "1.1", "both"), default="both")
    args = ap.parse_args()
    generations = ["1.4", "1.1"] if args.generation == "both" else [args.generation]
    if "1.1" in generations and not (WC110 / "wolframclient").is_dir():
        print(f"(skipping 1.1: wolframclient 1.1.10 is not in {WC110})")
        generations.remove("1.1")
    r = np.random.default_rng(9)
    u8 = r.integers(0, 256, (N, 28, 28), dtype=np.uint8)
    labels = r.integers(1, 11, N).astype(np.int32)
    real = (u8 / np.float32(255)).astype(np.float32)
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores\n")
    print("| loop | data | MB | chunks | encode s | round trip s | MB/s | begin s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    steps = []
    for gen in generations:
        loop = Loop(gen)
        loop.call("import torch; torch.set_num_threads(1); import wlbridge.externalevaluate")
        for name, images in (("UInt8", u8), ("Real32", real)):
            mb = (images.nbytes + labels.nbytes) / 2**20
            enc, trip, began, chunks = move(loop, images, labels)
            print(f"| {gen} | {name} 60000x28x28 | {mb:.0f} | {chunks} | {enc:.2f} | {trip:.2f} | "
                  f"{mb / trip:.0f} | {began:.2f} |")
        steps.append((gen, *step_cost(loop, args.steps)))
        loop.close()
    print("\n| loop | step(sid, 0) while training, ms | no-op call, ms | batches meanwhile |")
    print("|---|---:|---:|---:|")
    for gen, per_step, noop, batches in steps:
        print(f"| {gen} | {per_step:.2f} | {noop:.2f} | {batches} |")


if __name__ == "__main__":
    main()
