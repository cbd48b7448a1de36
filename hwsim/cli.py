"""The ``hwsim`` command line: one entry point, one module per subcommand.

Each subcommand lives in ``hwsim/commands/<name>.py`` and provides
``add_arguments(parser)`` and ``run(args) -> int``; its one-line help is in
:data:`COMMANDS`. Modules are imported only when their subcommand runs, so
``hwsim --help`` stays fast and never compiles a Numba kernel.

Errors: :func:`main` is the one place that turns failures into exit statuses.
Bad input (every :class:`hwsim.errors.HwsimError`) and failures of the
environment (an ``OSError`` from the file system: a full disk, a permission,
a path that vanished) print one line on stderr and return 2; SIGINT returns
130, SIGTERM while an output folder is written 143 (after its temporary folder
is removed), a closed stdout 141. Anything else is a bug in hwsim and keeps
its traceback (exit status 1).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import signal
import sys

from hwsim.errors import HwsimError

__all__ = ["main", "COMMANDS"]

# name -> (module, one-line help). Help text lives here so --help imports nothing heavy.
COMMANDS = {
    "run": ("hwsim.commands.run", "map a trained network (the bundled one by default) onto a chip, simulate it "
            "on a dataset and report accuracy, energy and latency (the main job)"),
    "train": ("hwsim.commands.train", "train a spiking network with binary activations and save it"),
    "map": ("hwsim.commands.map", "place a trained network or NIR graph onto a chip and write a chip program"),
    "report": ("hwsim.commands.report", "simulate a chip program on a dataset and write energy/latency reports"),
    "yield": ("hwsim.commands.yield_", "Monte Carlo yield of RRAM chip instances, with signature-driven tuning"),
    "area": ("hwsim.commands.area", "chip area from the RTL: Yosys synthesis to NAND2-equivalent gates plus memory "
             "bits, in um2 per block and mm2 per chip"),
    "sweep": ("hwsim.commands.sweep", "design-space exploration: map, simulate and report every point of a grid of "
              "network and chip parameters, with the Pareto fronts"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwsim",
        description="Cycle-accurate simulator of a spike-sparse neuromorphic accelerator.",
        epilog="Run 'hwsim COMMAND --help' for the options of one command.",
    )
    from hwsim import __version__

    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # arguments are added lazily in main() for the chosen command only
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command of ``argv`` (default: ``sys.argv[1:]``, as the ``hwsim`` script calls it); the exit status."""
    if argv is not None:
        return _main(list(argv))
    try:
        return _main(sys.argv[1:])
    finally:
        # The process ends next. Its last act would be a garbage collection over every object Numba's
        # type registries made (about 0.2 s of a 1.3 s `hwsim run`): freezing them skips it. Objects are
        # still released by reference counting and atexit handlers still run; output files are closed
        # by then (hwsim.writers), stdout is flushed by the interpreter. Not done when a caller passes
        # argv (tests, scripts calling main() in a longer-lived process).
        gc.freeze()


def _main(argv: list[str]) -> int:
    parser = build_parser()
    # Find the chosen command before full parsing so only its module is imported.
    chosen = next((a for a in argv if a in COMMANDS), None)
    if chosen is not None:
        module_name, help_text = COMMANDS[chosen]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                print(f"hwsim: the '{chosen}' command is not available in this build", file=sys.stderr)
                return 2
            raise
        sub_action = next(a for a in parser._subparsers._group_actions if a.dest == "command")
        module.add_arguments(sub_action.choices[chosen])
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except HwsimError as exc:
        print(f"hwsim {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `hwsim run --json | head`); output files are
        # already written. Point stdout at devnull so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a process killed by a closed pipe
    except OSError as exc:
        if exc.errno is None:
            raise  # not a failed system call: a bug, keep the traceback
        # the file system refused (disk full, permissions, a path removed meanwhile): the environment, not hwsim
        where = f"{exc.filename}: " if exc.filename is not None else ""
        print(f"hwsim {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:
        if exc.code == 128 + signal.SIGTERM:  # raised by the SIGTERM handler of hwsim.outdir.atomic_outdir
            print(f"hwsim {args.command}: terminated", file=sys.stderr)
            return 128 + signal.SIGTERM
        raise
    except KeyboardInterrupt:
        print(f"hwsim {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(message: str) -> str:
    """An error message on one line (a message built from a file's contents may hold newlines)."""
    return " ".join(message.split())


if __name__ == "__main__":
    sys.exit(main())
