"""The ``wlbridge`` command: train a net, check Wolfram text, list the options.

    wlbridge train NET DATA [PROP] [--options TEXT | --options @FILE] [-o OUT]
    wlbridge parse TEXT|FILE [--wxf OUT]
    wlbridge options

Exit codes: 0 success, 1 training failure (weights diverged, aborted twice, an internal error),
2 bad input. Every error is one ``Symbol::tag: text`` line on stderr; ``--debug`` adds the
traceback. The print-reporting table goes to stdout and ``"StandardError"`` logs to stderr, so
``wlbridge train ... > table.txt 2> logs.txt`` separates them.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
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

def _is_file_arg(arg: str, exts: Sequence[str]) -> bool:
    return os.path.splitext(arg)[1].lower() in exts and "\n" not in arg and len(arg) < 4096


def read_text_arg(arg: str) -> str:
    """``@file`` and existing ``.wl``/``.m`` files give their contents; other text is itself."""
    if arg.startswith("@"):
        path = Path(arg[1:])
        if not path.is_file():
            raise CLIError("nofile", f"The file {str(path)!r} does not exist.")
        return path.read_text(encoding="utf-8")
    if _is_file_arg(arg, TEXT_FILES):
        path = Path(arg)
        if not path.is_file():
            raise CLIError("nofile", f"The file {arg!r} does not exist.")
        return path.read_text(encoding="utf-8")
    return arg


def read_expression(arg: str) -> Any:
    """A Wolfram expression from text, a ``.wl``/``.m`` file or a ``.wxf`` file."""
    if _is_file_arg(arg, (".wxf",)):
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
    if _is_file_arg(arg, DATA_FILES) or arg.startswith("@"):
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


def write_result(value: Any, out: str) -> None:
    """Write ``value`` to ``out``: ``.wxf`` (WXF), ``.wl``/``.m`` (exact text), ``.png``/``.svg``."""
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


# -- commands -----------------------------------------------------------------------------------

# Plot properties the command draws itself from the "All" results (wlbridge.plots), so they
# work whatever the results object offers; PlotLossQuartiles picks the shaded band.
def cmd_train(args: argparse.Namespace) -> int:
    net = read_expression(args.net)
    data = read_data(args.data)
    prop = read_property(args.prop)
    options = read_text_arg(args.options) if args.options else None
    # Options are checked before torch loads, so a typo costs a second, not a training setup.
    from wlbridge.options import resolve

    config = resolve(options)
    if args.resume:  # the same as "InternalOptions" -> {"ResumeFrom" -> File[...]}
        config.resume_from = args.resume
    if args.output and os.path.splitext(args.output)[1].lower() not in OUTPUT_EXTENSIONS:
        raise CLIError("outext", f"Cannot write the result to {args.output!r}: use .wxf, .wl, "
                                 ".m, .png or .svg.")
    from engine.loop_signals import catching_stop_signals
    from wlbridge.api import net_train

    # SIGINT/SIGTERM stop training at the end of a batch; while the result is written and
    # until the command exits they are only counted, so it is written whole
    # (engine.loop_signals)
    with catching_stop_signals(restore=False) as stops:
        try:
            # a plot property (LossEvolutionPlot, ...) comes back as a matplotlib Figure
            value = net_train(net, data, prop, options=config)
        except KeyboardInterrupt:
            # The loop did not turn the interrupt into a result: nothing to write.
            print("Training aborted.", file=sys.stdout, flush=True)
            raise CLIError("aborted", "Training was interrupted before a result existed.",
                           EXIT_TRAINING) from None
        sys.stdout.flush()
        if args.output:
            write_result(value, args.output)
        else:
            print(describe_result(value), flush=True)
    code = EXIT_OK
    reason = _reason(value)
    if reason == "WeightsDiverged":
        print("NetTrain::arrdiv: training stopped early because the weights diverged.",
              file=sys.stderr)
        code = EXIT_TRAINING
    if stops is not None and stops.name:
        print(f"wlbridge::stopped: {stops.name} stopped training at the end of a batch; the "
              "result covers the batches completed.", file=sys.stderr, flush=True)
    return code


def _reason(value: Any) -> str | None:
    try:
        reason = value["ReasonTrainingStopped"]
    except Exception:
        return None
    return reason if isinstance(reason, str) else None


def _text_or_file(arg: str) -> str:
    if arg == "-":
        return sys.stdin.read()
    return read_text_arg(arg)


def cmd_parse(args: argparse.Namespace) -> int:
    from wolframclient.language import wl

    from wlbridge.syntax import fullform, parse_sequence

    if _is_file_arg(args.text, (".wxf",)):
        expr = read_expression(args.text)
    else:
        # Option text is a comma sequence of rules, as in NetTrain[net, data, opts]: show it
        # as the Sequence it is rather than as a List.
        items = parse_sequence(_text_or_file(args.text))
        expr = items[0] if len(items) == 1 else wl.Sequence(*items)
    if args.wxf:
        from wolframclient.serializers import export

        Path(args.wxf).write_bytes(export(expr, target_format="wxf"))
    else:
        print(fullform(expr))
    return EXIT_OK


def cmd_options(args: argparse.Namespace) -> int:
    from wlbridge.options import describe

    described = describe()
    if isinstance(described, str):
        print(described)
    else:
        for row in described:
            print(row if isinstance(row, str) else "  ".join(str(c) for c in row))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree for ``wlbridge`` (also used to generate the README's usage block)."""
    parser = argparse.ArgumentParser(
        prog="wlbridge", description="NetTrain on a PyTorch engine, driven in Wolfram syntax.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a net, like NetTrain[net, data, prop, opts]")
    train.add_argument("net", metavar="NET", help="Wolfram text or a .wl/.m/.wxf file")
    train.add_argument("data", metavar="DATA", help="Wolfram text, a .wl/.m/.wxf/.npz/.json file, or "
                       "pkg.mod:function (a generator of batches)")
    train.add_argument("prop", metavar="PROP", nargs="?", default=None,
                       help='a property ("TrainedNet", "LossEvolutionPlot", ...) or All')
    train.add_argument("--options", metavar="TEXT",
                       help='NetTrain options as Wolfram text, e.g. "BatchSize -> 32, '
                            'MaxTrainingRounds -> 5"; @FILE or a .wl file reads them from a file')
    train.add_argument("-o", "--output", metavar="OUT",
                       help="write the result: .wxf, .wl (exact text), .png/.svg for plots")
    train.add_argument("--resume", metavar="FILE",
                       help="continue exactly from a TrainingProgressCheckpointing file "
                            "(the training state saved beside it)")
    train.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)
    train.set_defaults(func=cmd_train)

    parse_p = sub.add_parser("parse", help="print the FullForm of Wolfram text (or a file)")
    parse_p.add_argument("text", metavar="TEXT|FILE", help="Wolfram text, a .wl/.m/.wxf file or -")
    parse_p.add_argument("--wxf", metavar="OUT", help="write the expression as WXF instead")
    parse_p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
    parse_p.set_defaults(func=cmd_parse)

    opts = sub.add_parser("options", help="list every NetTrain option and internal option")
    opts.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                      help=argparse.SUPPRESS)
    opts.set_defaults(func=cmd_options)
    return parser


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (``python -m wlbridge`` exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # the reader went away (`wlbridge options | head`): stop quietly, as Unix tools do
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        return EXIT_OK
    except CLIError as err:
        _report(err, args)
        return err.code
    except Exception as err:  # noqa: BLE001 - every error becomes one line (or a traceback)
        _report(err, args)
        return _exit_code(err)
    except KeyboardInterrupt:
        print("wlbridge::aborted: interrupted.", file=sys.stderr)
        return EXIT_TRAINING


def _exit_code(err: BaseException) -> int:
    """2 for bad input (messages about it, unreadable files), 1 for training failures and
    anything unexpected."""
    from engine.errors import EngineError

    if isinstance(err, EngineError):  # WLSyntaxError and WLMessage included
        return EXIT_TRAINING if err.tag in TRAINING_FAILURE_TAGS else EXIT_INPUT
    return EXIT_INPUT if isinstance(err, OSError) else EXIT_TRAINING


def _report(err: BaseException, args: argparse.Namespace) -> None:
    if getattr(args, "debug", False):
        traceback.print_exc()
    from engine.errors import EngineError

    if isinstance(err, EngineError | CLIError):
        line = _one_line(err)
    elif type(err).__name__ == "WLSyntaxError":
        # The message's first line names the problem, line and column; the caret lines
        # that follow only make sense in a terminal, and errors here are one line.
        line = str(err).strip().splitlines()[0]
        if "::" not in line:
            line = "Syntax::sntx: " + line
    else:
        line = f"wlbridge::internal: {type(err).__name__}: {_one_line(err)}"
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
