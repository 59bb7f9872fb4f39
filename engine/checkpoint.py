"""TrainingProgressCheckpointing (reference §9.9): when to save the net, and under which name.

The engine decides *when* (a §9.6 trigger per spec, default once per round, plus once at the
end unless that spec already ran at the last batch) and *which path*; the bytes of the
Wolfram formats are written by a ``writer(module, path, format)`` that wlbridge passes in, so
the engine stays Wolfram-free. The "params" format (a torch ``state_dict`` of the net's arrays
keyed by their Wolfram path, ``"1/Weights"``) is written here when no writer is given.

Formats and extensions: "wl" → ``.wl`` (the net's constructor expression as Wolfram text),
"wxf" → ``.wxf`` (the same expression as WXF), "wlnet" → ``.wlnet`` (an alias: the same WXF
bytes, *not* Mathematica's binary WLNet format; ``Import[file, "WXF"]`` reads it), "params" →
``.pt`` in a directory (a ``{"File", "x.params"}`` file gets the same torch bytes).

Every write is atomic (`atomic_write`): on Linux the bytes go to an unnamed file in the
target folder (``O_TMPFILE``) that is linked into place only when whole, so even a kill -9
mid-write leaves no partial file behind; elsewhere the writer writes ``path + ".part"``,
which then replaces ``path``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import EngineError
from engine.intervals import Trigger, normalise
from engine.spec import Interval

Writer = Callable[[Any, str, str], None]
#: Extension of the files a "Directory" spec writes, by format.
EXTENSIONS = {"wl": ".wl", "wxf": ".wxf", "wlnet": ".wlnet", "params": ".pt"}


def loss_token(x: float | None) -> str:
    """A loss in the file-name form of §9.9: 2 decimals, bare exponent (``3.79e-2``), or
    ``none``."""
    if x is None or not math.isfinite(x):
        return "none" if x is None else ("nan" if math.isnan(x) else "inf")
    if x == 0:
        return "0.00e0"
    e = math.floor(math.log10(abs(x)))
    m = x / 10.0**e
    if abs(round(m, 2)) >= 10:
        e, m = e + 1, m / 10
    return f"{m:.2f}e{e}"


def start_stamp(t: float | None = None) -> str:
    """The ISO date-time a run started, as file names carry it (``2024-05-01T12:03:09``;
    colons become dashes on Windows, where they are not allowed in names)."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))
    return text.replace(":", "-") if sys.platform.startswith("win") else text


def save_params(module: Any, path: str) -> None:
    """Write the net's arrays (by Wolfram path ``"a/b/Weights"``) with ``torch.save``."""
    import torch

    inner = next((m for m in (module, getattr(module, "net", None),
                              getattr(module, "module", None))
                  if m is not None and hasattr(m, "arrays")), None)
    if inner is not None:
        state = {"/".join(p) if not isinstance(p, str) else p: a.detach().cpu().clone()
                 for p, a in inner.arrays().items()}
    else:
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    torch.save(state, path)


def _unnamed_file(folder: str) -> int | None:
    """A file descriptor of an unnamed file in ``folder`` (Linux O_TMPFILE), or None where
    the system or the file system has none."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY, 0o666)
    except OSError:
        return None


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(p)`` to write the file's bytes to a path ``p`` of our choosing, then
    make them appear at ``path`` all at once; on any failure nothing is left at ``path``
    beyond what was there."""
    folder = os.path.dirname(os.path.abspath(path))
    fd = _unnamed_file(folder)
    if fd is not None:
        try:
            write(f"/proc/self/fd/{fd}")
            if _link_into_place(fd, folder, os.path.basename(path)):
                return
        finally:
            os.close(fd)
    tmp = path + ".part"  # no unnamed files here: a named one, renamed when whole
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _link_into_place(fd: int, folder: str, name: str) -> bool:
    """Give the unnamed file ``fd`` the name ``name`` in ``folder``, replacing a file of that
    name; False where the system refuses such links (then nothing was named)."""
    dir_fd = os.open(folder, os.O_RDONLY)
    source, part = f"/proc/self/fd/{fd}", name + ".part"
    try:
        try:  # a new name appears whole at once
            os.link(source, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=True)
            return True
        except FileExistsError:  # replacing a file: a complete copy, renamed over it
            pass
        except OSError:
            return False
        with contextlib.suppress(FileNotFoundError):
            os.remove(part, dir_fd=dir_fd)
        try:
            os.link(source, part, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=True)
            os.replace(part, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(part, dir_fd=dir_fd)
        return True
    finally:
        os.close(dir_fd)


@dataclass
class _Spec:
    kind: str
    path: str
    format: str
    trigger: Trigger
    last_at: int = -1
    counter: int = 0


@dataclass
class Checkpointer:
    """The checkpoint specs of one run; `due` at a clock, `save` one spec, `files` written."""

    specs: list[_Spec]
    writer: Writer | None
    stamp: str
    widths: tuple[int, int, int]
    files: list[str] = field(default_factory=list)

    def due(self, clock: tuple) -> list[_Spec]:
        """The specs whose trigger fires at ``clock`` (each trigger advances once)."""
        return [s for s in self.specs if s.trigger.due(clock)]

    def path(self, s: _Spec, round_: int, abs_batch: int, round_loss: float | None,
             validation_loss: float | None, has_validation: bool) -> str:
        """The file the next save of ``s`` writes (File: its path; Directory: a new name)."""
        if s.kind == "File":
            return s.path
        wc, wr, wb = self.widths
        parts = [self.stamp, f"{s.counter + 1:0{wc}d}", f"{round_:0{wr}d}",
                 f"{abs_batch:0{wb}d}", loss_token(round_loss)]
        if has_validation:
            parts.append(loss_token(validation_loss))
        return os.path.join(s.path, "_".join(parts) + EXTENSIONS[s.format])

    def write(self, s: _Spec, module: Any, path: str, abs_batch: int) -> None:
        """Write ``module`` to ``path`` atomically in ``s``'s format; record the file."""
        if self.writer is None and s.format != "params":
            raise EngineError("invchkspec", f"checkpoints in the {s.format!r} format need "
                              "a net writer (wlbridge.net_train passes one); use "
                              "\"Format\" -> \"params\" from the engine alone.")
        writer = self.writer

        def write(target: str) -> None:
            if writer is not None:
                writer(module, target, s.format)
            else:
                save_params(module, target)

        try:
            atomic_write(path, write)
        except OSError as exc:
            raise EngineError("invchkfile", f"the checkpoint {path!r} could not be written: "
                              f"{exc.strerror or exc}.") from exc
        s.counter += 1
        s.last_at = abs_batch
        self.files.append(path)


def make_checkpointer(specs: Any, writer: Writer | None, batches_per_round: int,
                      total_batches: float, max_rounds: float) -> Checkpointer | None:
    """The `Checkpointer` of TrainingProgressCheckpointing specs
    (``[{"kind", "path", "format", "interval"}]``, as wlbridge.options makes them), or None.

    Checks the places now, before any training: a file's folder must exist
    (``invchkfile``); a directory is created if missing, and must not be a file
    (``invchkdir``).
    """
    if not specs:
        return None
    out = []
    for d in specs:
        kind, path, fmt = d["kind"], os.fspath(d["path"]), d.get("format", "wxf")
        if fmt not in EXTENSIONS:
            raise EngineError("invchkspec", f"the checkpoint format {fmt!r} is not one of "
                              f"{', '.join(repr(f) for f in EXTENSIONS)}.")
        if kind == "File":
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise EngineError("invchkfile", f"the checkpoint file {path!r} cannot be "
                                  f"written: its folder {folder!r} does not exist.")
            with contextlib.suppress(OSError):  # left by a run killed mid-write
                os.remove(path + ".part")
        elif kind == "Directory":
            if os.path.exists(path) and not os.path.isdir(path):
                raise EngineError("invchkdir", f"the checkpoint directory {path!r} is a file.")
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as exc:
                raise EngineError("invchkdir", f"the checkpoint directory {path!r} cannot be "
                                  f"made: {exc.strerror or exc}.") from exc
        else:
            raise EngineError("invchkspec", f"the checkpoint kind {kind!r} should be \"File\" or "
                              "\"Directory\".")
        interval = d.get("interval") or Interval(rounds=1)
        trig = Trigger(normalise(interval, batches_per_round, total_batches))
        out.append(_Spec(kind, path, fmt, trig))
    finite = math.isfinite(total_batches)
    wb = len(str(int(total_batches))) if finite else 6
    wr = len(str(int(max_rounds))) if math.isfinite(max_rounds) else 4
    return Checkpointer(out, writer, start_stamp(), (wb, wr, wb))
