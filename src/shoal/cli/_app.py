"""The `shoal` command: argument parsing, dispatch, and turning mistakes into one-line errors."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from shoal.exceptions import ShoalError
from shoal.storage import DEFAULT_STORAGE_URL, default_storage_url

__all__ = ["build_parser", "main"]

_DESCRIPTION = """\
Tune hyperparameters and look at what was tried. Studies live in a storage URL:
--storage, else $SHOAL_STORAGE, else sqlite:///shoal.db in the current folder."""
_EPILOG = """\
examples:
  shoal demo                          tune an MLP on MNIST-1D (study 'demo')
  shoal tune examples/tune_quadratic.yaml
  shoal studies                       every study in ./shoal.db
  shoal trials demo --state failed    why trials failed
  shoal trials demo --top 5           the five best trials
  shoal trials demo --number 3        one trial in full, with its traceback
  shoal best demo --json              the best configuration, for programs
  shoal report demo -o demo.html      every plot and table in one file that opens offline
  shoal recover shoal.db copy.db      copy what a damaged database still holds"""


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1. Got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1. Got {text!r}")
    return value


def _jobs(text: str) -> int:
    if text.strip() == "-1":
        return -1
    try:
        return _count(text)
    except argparse.ArgumentTypeError:
        message = f"must be an integer >= 1, or -1 for every core. Got {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0. Got {text!r}")
    return value


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """The command `name` of `shoal.cli.{module}`, imported when it runs (`--help` stays fast)."""

    def run(args: argparse.Namespace) -> int:
        command: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(f"shoal.cli.{module}"), name)
        return command(args)

    return run


def _run_demo(args: argparse.Namespace) -> int:
    from shoal.cli._demo import DEMO_TASK, cmd_demo  # loads samplers and the study: only for the demo

    if args.epochs is None:
        args.epochs = DEMO_TASK["epochs"]
    return cmd_demo(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `shoal` and its subcommands."""
    from shoal import __version__

    storage = argparse.ArgumentParser(add_help=False)
    # SUPPRESS, so `shoal --storage X studies` and `shoal studies --storage X` both work.
    storage.add_argument("--storage", metavar="URL", default=argparse.SUPPRESS,
                         help=f"storage URL (default: $SHOAL_STORAGE, else {DEFAULT_STORAGE_URL})")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON for programs, and nothing else")
    stale = argparse.ArgumentParser(add_help=False)
    stale.add_argument("--grace", type=_seconds, metavar="SECONDS",
                       help="call a running trial stale after this long without a heartbeat "
                            "(default: the grace of shoal.Heartbeat())")
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="shoal", description=_DESCRIPTION, epilog=_EPILOG,
                                     parents=[storage], formatter_class=raw)
    parser.add_argument("--version", action="version", version=f"shoal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        if name in ("studies", "trials"):  # the commands that show running trials
            parents = (*parents, stale)
        return sub.add_parser(name, help=summary, description=summary, formatter_class=raw,
                              parents=[storage, *parents])

    p = command("studies", "List the studies in the storage: trials by state, best value.", as_json)
    p.set_defaults(run=_lazy("_inspect", "cmd_studies"))

    p = command("trials", "Show a study's trials, or one trial in full (--number K).", as_json)
    p.add_argument("name", metavar="NAME", help="study name")
    p.add_argument("--state", help="only trials in this state: complete, pruned, failed, running, waiting")
    p.add_argument("--limit", type=_count, metavar="N", help="only the N most recent of them")
    p.add_argument("--sort", metavar="KEY",
                   help="order: value (best first, for either direction), number, duration (longest first)")
    p.add_argument("--top", type=_count, metavar="K", help="only the first K (sorted by value unless --sort)")
    p.add_argument("--number", type=int, metavar="K",
                   help="show trial K in full: parameters, intermediate values, traceback")
    p.set_defaults(run=_lazy("_inspect", "cmd_trials"))

    p = command("best", "Show the best trial of a study: number, value, parameters.", as_json)
    p.add_argument("name", metavar="NAME", help="study name")
    p.set_defaults(run=_lazy("_inspect", "cmd_best"))

    p = command("export", "Write every trial of a study as CSV or JSON rows.")
    p.add_argument("name", metavar="NAME", help="study name")
    p.add_argument("--format", choices=("csv", "json"),
                   help="csv (default) or json; FILE.json implies json")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(run=_lazy("_inspect", "cmd_export"))

    p = command("delete", "Delete a study and all its trials (asks first).")
    p.add_argument("name", metavar="NAME", help="study name")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask (needed when not on a terminal)")
    p.set_defaults(run=_lazy("_manage", "cmd_delete"))

    p = command("enqueue", "Queue a configuration to run before sampled ones; prints its trial number.",
                as_json)
    p.epilog = "example:\n  shoal enqueue mlp lr=0.01 act=relu bn=true units=128"
    p.add_argument("name", metavar="NAME", help="study name")
    p.add_argument("params", nargs="+", metavar="KEY=VALUE", help="parameter values (YAML scalars)")
    p.set_defaults(run=_lazy("_manage", "cmd_enqueue"))

    p = sub.add_parser("recover", help="Copy what a damaged SQLite study file still holds into a new file.",
                       description="Copy every row a damaged SQLite study file still holds into a new "
                                   "shoal database; the damaged file is only read.",
                       formatter_class=raw, parents=[as_json])
    p.epilog = "example:\n  shoal recover shoal.db shoal-recovered.db"
    p.add_argument("damaged", metavar="BAD.db", help="the damaged database file (or its sqlite:/// URL)")
    p.add_argument("new", metavar="NEW.db", help="the new database file; must not exist")
    p.set_defaults(run=_lazy("_recover", "cmd_recover"))

    p = command("tune", "Tune the objective a YAML config names; running it again resumes the study.")
    p.epilog = "see examples/tune_quadratic.yaml for every key of CONFIG"
    p.add_argument("config", metavar="CONFIG.yaml", help="the tuning config")
    p.add_argument("--n-trials", type=_count, metavar="N", help="trials to run now (overrides n_trials)")
    p.add_argument("--n-jobs", type=_jobs, metavar="N", help="worker processes, -1 for every core")
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="start no trial after this")
    p.add_argument("--name", help="study name (overrides study)")
    p.add_argument("--backend", choices=("processes", "ray"),
                   help="where workers run: local processes (default) or Ray tasks (overrides backend)")
    p.add_argument("--address", metavar="HOST:PORT",
                   help="the Ray cluster's head, with --backend ray (overrides address)")
    p.set_defaults(run=_lazy("_tune", "cmd_tune"))

    p = command("evaluate", "Retrain a task study's best configuration and measure it on the test set.",
                as_json)
    p.add_argument("name", metavar="NAME", help="study name (tuned with a task)")
    p.add_argument("--test", action="store_true", help="confirm: read the locked test set")
    p.add_argument("--force", action="store_true", help="evaluate again although it was done before")
    p.set_defaults(run=_lazy("_evaluate", "cmd_evaluate"))

    p = command("demo", "Tune an MLP on MNIST-1D over the course's search space; test the best once.")
    p.add_argument("--n-trials", type=_count, default=40, metavar="N", help="trials to run (default 40)")
    p.add_argument("--epochs", type=_count, metavar="N",
                   help="epochs per trial (default: the demo task's)")
    p.add_argument("--n-jobs", type=_jobs, default=2, metavar="N", help="worker processes (default 2)")
    p.add_argument("--name", default="demo", help="study name (default demo)")
    p.set_defaults(run=_run_demo)
    importlib.import_module("shoal.cli._dashboard").add_command(command)
    importlib.import_module("shoal.cli._report").add_command(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `shoal` command line; returns the exit status.

    0 on success, 1 for a mistake (printed as `Error: ...` on stderr), 2 for a usage error,
    130 when interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as stop:  # --help, --version, usage errors: argparse has printed already
        return stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    explicit = getattr(args, "storage", None)
    args.storage = explicit if explicit is not None else default_storage_url()
    args.storage_explicit = explicit is not None
    from shoal.cli._output import CommandError, print_error  # rich: loaded only to run a command

    try:
        return int(args.run(args))
    except CommandError as err:
        print_error(err.message, err.hint)
    except ShoalError as err:
        print_error(str(err))
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `shoal export NAME | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 1
