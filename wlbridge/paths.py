"""Whether a file the user named can be written, asked before training starts.

Loggers, reporting files, checkpoints and the CLI's ``-o`` all write files well into (or after)
training; a folder that is missing, a file, read-only or a pseudo file system must be found
when the options are read, so the user hears of it at once and never loses a trained result.
Permissions alone cannot say (root may write anywhere, ``/proc`` refuses even root), so a
folder is probed by creating and removing an empty file in it.
"""

from __future__ import annotations

import os
import uuid


def file_problem(path: str, *, create_folders: bool = False) -> str | None:
    """Why a file at ``path`` cannot be written, as the end of a sentence, or None.

    ``create_folders``: missing folders will be made by the writer (then the nearest existing
    one must be writable); otherwise the file's folder must exist.
    """
    full = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(full):
        return f"{_q(path)} is a folder"
    return folder_problem(os.path.dirname(full), create=create_folders)


def folder_problem(folder: str, *, create: bool = True) -> str | None:
    """Why files cannot be written in ``folder`` (made first when ``create``), or None."""
    full = os.path.abspath(os.path.expanduser(folder))
    existing = full
    while not os.path.lexists(existing):
        if not create:
            return f"its folder {_q(folder)} does not exist"
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        return f"{_q(existing)} is a file, not a folder"
    return _probe(existing)


def _probe(folder: str) -> str | None:
    probe = os.path.join(folder, f".wlbridge-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as err:
        return f"the folder {_q(folder)} is not writable ({err.strerror or err})"
    os.close(fd)
    try:
        os.remove(probe)
    except OSError:
        pass
    return None


def _q(path: str) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'
