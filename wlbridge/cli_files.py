"""What the ``wlbridge`` command reads and writes: the NET, DATA and PROP arguments (Wolfram
text or files), the -o OUT result, and its one-line errors (`CLIError`, exit codes)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_TRAINING, EXIT_INPUT = 0, 1, 2
TEXT_FILES = (".wl", ".m")
DATA_FILES = (".wl", ".m", ".wxf", ".npz", ".json")
# Engine tags that mean "training went wrong", not "the input was wrong" (exit code 1).
TRAINING_FAILURE_TAGS = frozenset({"arrdiv", "aborted", "interrupted"})


class CLIError(Exception):
    """A bad-input problem found by the command itself, shown as one ``wlbridge::tag`` line."""

    def __init__(self, tag: str, text: str, code: int = EXIT_INPUT):
        super().__init__(text)
        self.tag, self.text, self.code = tag, text, code

    def __str__(self) -> str:
        return f"wlbridge::{self.tag}: {self.text}"


# -- reading NET, DATA, PROP and options --------------------------------------------------------

def is_file_arg(arg: str, exts: Sequence[str]) -> bool:
    return os.path.splitext(arg)[1].lower() in exts and "\n" not in arg and len(arg) < 4096


def read_text_arg(arg: str) -> str:
    """``@file`` and existing ``.wl``/``.m`` files give their contents; other text is itself."""
    if arg.startswith("@"):
        path = Path(arg[1:])
        if not path.is_file():
            raise CLIError("nofile", f"The file {str(path)!r} does not exist.")
        return path.read_text(encoding="utf-8")
    if is_file_arg(arg, TEXT_FILES):
        path = Path(arg)
        if not path.is_file():
            raise CLIError("nofile", f"The file {arg!r} does not exist.")
        return path.read_text(encoding="utf-8")
    return arg


def read_expression(arg: str) -> Any:
    """A Wolfram expression from text, a ``.wl``/``.m`` file or a ``.wxf`` file."""
    if is_file_arg(arg, (".wxf",)):
        path = Path(arg)
        if not path.is_file():
            raise CLIError("nofile", f"The file {arg!r} does not exist.")
        from wolframclient.deserializers import binary_deserialize

        try:
            return binary_deserialize(path.read_bytes())
        except Exception as err:
            raise CLIError("badwxf", f"The file {arg!r} is not valid WXF: {err}.") from err
    from wlbridge.syntax import parse

    return parse(read_text_arg(arg))


def read_data(arg: str) -> Any:
    """DATA as `wlbridge.api.net_train` takes it: a Path for a data file, else an expression."""
    if is_file_arg(arg, DATA_FILES) or arg.startswith("@"):
        path = Path(arg.lstrip("@"))
        if not path.is_file():
            raise CLIError("nofile", f"The data file {str(path)!r} does not exist.")
        return path
    from wlbridge.generators import import_generator, is_module_path

    if is_module_path(arg):  # pkg.mod:function, a generator of batches
        return import_generator(arg)
    return read_expression(arg)


def read_property(arg: str | None) -> Any:
    """PROP: ``All``, a bare property name, or Wolfram text (``"RoundLoss"``, ``{...}``)."""
    if arg is None:
        return "TrainedNet"
    text = arg.strip()
    if text == "All":
        return "All"
    if text.isidentifier():
        return text
    from wlbridge.syntax import parse

    return parse(text)


# -- writing the result -------------------------------------------------------------------------

def _is_figure(value: Any) -> bool:
    return type(value).__name__ == "Figure" and hasattr(value, "savefig")


def to_expression(value: Any) -> Any:
    """The Wolfram expression of a result value (nets and results objects know their own)."""
    if hasattr(value, "to_wl"):
        return value.to_wl()
    if isinstance(value, list):
        return tuple(to_expression(v) for v in value)
    if isinstance(value, tuple):
        return tuple(to_expression(v) for v in value)
    if isinstance(value, dict):
        return {k: to_expression(v) for k, v in value.items()}
    return value


OUTPUT_EXTENSIONS = (".wxf", ".wl", ".m", ".png", ".svg", ".pdf")


def check_output(out: str) -> None:
    """``-o OUT`` is checked before training (extension, and that the file can be written), so
    a bad path never costs the trained result."""
    if os.path.splitext(out)[1].lower() not in OUTPUT_EXTENSIONS:
        raise CLIError("outext", f"Cannot write the result to {out!r}: use .wxf, .wl, .m, .png, "
                                 ".svg or .pdf.")
    from wlbridge.paths import file_problem

    problem = file_problem(out, create_folders=True)
    if problem is not None:
        raise CLIError("outfile", f"Cannot write the result to {out!r}: {problem}.")


def write_result(value: Any, out: str) -> None:
    """Write ``value`` to ``out``: ``.wxf`` (WXF), ``.wl``/``.m`` (exact text), ``.png``/``.svg``."""
    try:
        _write_result(value, out)
    except OSError as err:
        raise CLIError("outfile", f"Cannot write the result to {out!r}: "
                                  f"{err.strerror or err}.") from err


def _write_result(value: Any, out: str) -> None:
    ext = os.path.splitext(out)[1].lower()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    if ext in (".png", ".svg", ".pdf"):
        if _is_figure(value):
            from wlbridge.plots import save

            save(value, out)
        elif hasattr(value, "plot"):
            value.plot(out)
        else:
            raise CLIError("notplot", f"The result is not a plot, so it cannot be written to {out!r}; "
                                      "use a .wxf or .wl file.")
        return
    if _is_figure(value):
        raise CLIError("plotout", f"A plot can only be written to .png, .svg or .pdf, not {out!r}.")
    expr = to_expression(value)
    tmp = out + ".part"
    if ext == ".wxf":
        from wolframclient.serializers import export

        data = export(expr, target_format="wxf")
        Path(tmp).write_bytes(data)
    elif ext in (".wl", ".m"):
        from wlbridge.syntax import to_text

        Path(tmp).write_text(to_text(expr) + "\n", encoding="utf-8")
    else:
        raise CLIError("outext", f"Cannot write the result to {out!r}: use .wxf, .wl, .m, .png or .svg.")
    os.replace(tmp, out)  # a reader never sees half a file


def describe_result(value: Any) -> str:
    """One line for stdout when no ``-o`` is given (nets and plots are too big to print)."""
    if _is_figure(value):
        return "-- a plot; use -o FILE.png to save it"
    if hasattr(value, "to_wl") and not isinstance(value, dict | tuple | list):
        return f"-- a {type(value).__name__}; use -o FILE.wxf or -o FILE.wl to save it"
    from wlbridge.syntax import to_text

    return to_text(to_expression(value))
