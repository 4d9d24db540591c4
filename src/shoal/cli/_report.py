"""`shoal report NAME -o report.html [--png DIR]`: a study as one HTML file that opens offline."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from shoal.cli._app import _count

__all__ = ["add_command", "cmd_report", "default_output"]


def default_output(name: str) -> str:
    """`NAME.html` in the current folder, with characters a file name should not hold replaced."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") + ".html" if name.strip("._") else "report.html"


def add_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register `shoal report` through the CLI's `command(name, summary)` helper (plotly is imported
    only when it runs)."""
    p = command("report", "Write a study as one HTML file with every plot and table; opens with no network.")
    p.epilog = "examples:\n  shoal report demo -o demo.html\n  shoal report demo -o demo.html --png plots/"
    p.add_argument("name", metavar="NAME", help="study name")
    p.add_argument("--output", "-o", metavar="FILE", help="the HTML file to write (default: NAME.html)")
    p.add_argument("--png", metavar="DIR", help="also write each plot as DIR/<plot>.png "
                                               "(needs Chromium or Chrome)")
    p.add_argument("--top", type=_count, default=20, metavar="K",
                   help="how many best trials the first table shows (default 20)")
    p.set_defaults(run=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report, saying each stage on stderr and the file written on stdout."""
    from shoal.cli._output import CommandError, format_bytes  # rich: loaded only to run a command
    from shoal.cli._store import require_study
    from shoal.reports import write_report  # plotly: loaded only here

    output = args.output or default_output(args.name)
    store, record = require_study(args.storage, args.name)
    start = time.perf_counter()
    try:
        path = write_report(store, record.name, output, png_dir=args.png, top=args.top,
                            progress=lambda line: print(f"report: {line} ...", file=sys.stderr, flush=True))
    except RuntimeError as err:
        raise CommandError(str(err)) from None
    except OSError as err:
        raise CommandError(f"cannot write {err.filename or output}: {err.strerror or err}.",
                           hint="Check that the folder exists and is writable.") from None
    finally:
        store.close()
    took = time.perf_counter() - start
    print(f"Wrote the report of study {record.name!r} to {path} "
          f"({format_bytes(Path(path).stat().st_size)}, {took:.1f} s).")
    if args.png:
        print(f"Wrote its plots as PNG files into {args.png}.")
    return 0
