"""The functions the TorchNetTrain paclet calls through ExternalEvaluate
(docs/externalevaluate-protocol.md), as ``wlbridge.externalevaluate.NAME``.

The issue-9 protocol: `check`, then `open_run` (held net structure + position-keyed arrays +
port table + options text), `add_data` (encoded NumericArray chunks per role and port),
`begin`, `step` in short slices, `stop`, `net_arrays`, `finish` (position-keyed trained arrays
and the results as plain data), `close`. Training runs in a background thread of the
ExternalEvaluate Python process, so the kernel polls it and stays responsive: progress panels,
kernel-side TrainingProgressFunction calls and kernel-side log sinks run in the kernel between
slices, and an ``Abort[]`` there becomes `stop` (DESIGN rules 5 and 6).

The first-generation `start` (net and data as Wolfram text or expressions), `describe` and the
one-shot `net_train` remain for Python clients. Every function returns WXF-able values, or
``Failure["NetTrain", <|...|>]`` carrying the NetTrain message, never a Python traceback.

Modules: `session` (the thread and its queues), `rewrite` (kernel sinks and functions in the
options), `values` (expressions, failures, snapshots, large replies), `runs` (open_run,
add_data, begin), `control` (step, stop, net_arrays, finish, close), `environment` (check),
`legacy` (start, describe, net_train).
"""

from __future__ import annotations

from wlbridge.externalevaluate.control import close, finish, net_arrays, step, stop
from wlbridge.externalevaluate.environment import check
from wlbridge.externalevaluate.legacy import describe, net_train, start
from wlbridge.externalevaluate.runs import add_data, begin, open_run
from wlbridge.externalevaluate.session import sessions
from wlbridge.externalevaluate.values import failure

__all__ = ["add_data", "begin", "check", "close", "describe", "failure", "finish",
           "net_arrays", "net_train", "open_run", "sessions", "start", "step", "stop"]
