"""The ``wlbridge`` command: train a net, check Wolfram text, list the options.

    wlbridge train NET DATA [PROP] [--options TEXT | --options @FILE] [-o OUT] [--resume FILE]
    wlbridge parse TEXT|FILE [--wxf OUT]
    wlbridge options

Exit codes: 0 success (also after SIGINT/SIGTERM: the result so far), 1 training failure (weights diverged, an internal error),
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

from wlbridge.cli_files import (
    EXIT_INPUT,
    EXIT_OK,
    EXIT_TRAINING,
    TRAINING_FAILURE_TAGS,
    CLIError,
    check_output,
    describe_result,
    is_file_arg,
    read_data,
    read_expression,
    read_property,
    read_text_arg,
    write_result,
)

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
    if args.output:
        check_output(args.output)
    if _launch_workers(args, config.target_device):
        return EXIT_OK
    rank0 = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes
    from engine.loop_signals import catching_stop_signals
    from wlbridge.api import net_train
    from wlbridge.notices import MessageWarnings

    # SIGINT/SIGTERM stop training at the end of a batch; while the result is written and
    # until the command exits they are only counted, so it is written whole
    # (engine.loop_signals)
    with catching_stop_signals(restore=False) as stops, MessageWarnings() as shown:
        try:
            # a plot property (LossEvolutionPlot, ...) comes back as a matplotlib Figure
            value = net_train(net, data, prop, options=config)
        except KeyboardInterrupt:
            # The loop did not turn the interrupt into a result: nothing to write.
            print("Training aborted.", file=sys.stdout, flush=True)
            raise CLIError("aborted", "Training was interrupted before a result existed.",
                           EXIT_TRAINING) from None
        sys.stdout.flush()
        if args.output and rank0:
            write_result(value, args.output)
        elif rank0:
            print(describe_result(value), flush=True)
    code = EXIT_OK
    if _reason(value) == "WeightsDiverged" or "arrdiv" in shown.tags:
        if "arrdiv" not in shown.tags:
            print("NetTrain::arrdiv: training stopped early because the weights diverged.",
                  file=sys.stderr)
        code = EXIT_TRAINING
    if stops is not None and stops.name:
        print(f"wlbridge::stopped: {stops.name} stopped training at the end of a batch; the "
              "result covers the batches completed.", file=sys.stderr, flush=True)
    return code


def _launch_workers(args: argparse.Namespace, target_device: str) -> bool:
    """Several devices asked for outside torchrun: the same command in one process per
    device under torch's launcher (engine.distributed_launch); True when it ran there.
    Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK set) this process is one of them."""
    if not any(c in target_device for c in "*,") and not target_device.endswith(":all"):
        return False
    from engine.distributed import device_names, launched

    names = device_names(target_device)
    if not names or launched():
        return False
    from engine.distributed_launch import launch_module

    restarts = int(os.environ.get("WLBRIDGE_MAX_RESTARTS", "0") or 0)
    launch_module("wlbridge", args.argv, len(names), max_restarts=restarts)
    return True


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

    if is_file_arg(args.text, (".wxf",)):
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
    from engine.threads import before_torch

    before_torch()  # torch's own thread count is then known exactly (ThreadPolicy -> Automatic)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # relaunched per device
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
