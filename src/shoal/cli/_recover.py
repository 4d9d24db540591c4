"""`shoal recover BAD.db NEW.db`: copy what a damaged SQLite study file still holds into a new one."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from shoal.cli._output import make_table, print_json, stdout
from shoal.storage import recover_sqlite, sqlite_file

__all__ = ["cmd_recover"]


def _path(text: str) -> Path:
    """A file path, or the file of a `sqlite:///` URL (what --storage takes)."""
    path = sqlite_file(text) if text.startswith("sqlite:") else None
    return path if path is not None else Path(text)


def cmd_recover(args: argparse.Namespace) -> int:
    """Recover a damaged database into a new file; print a row count per table and what to run next."""
    report = recover_sqlite(_path(args.damaged), _path(args.new))
    if args.json:
        print_json({"source": str(report.source), "target": str(report.target), "url": report.url,
                    "complete": report.complete,
                    "tables": [{"table": t.table, "copied": t.copied, "unreadable": t.unreadable,
                                "skipped": t.skipped} for t in report.tables]})
        return 0
    console = stdout()
    rows = [(t.table, str(t.copied), "all" if t.unreadable is None else str(t.unreadable),
             str(t.skipped)) for t in report.tables]
    console.print(make_table(("table", "copied", "unreadable", "skipped"), rows,
                             title=f"Recovered {report.source} into {report.target}"))
    if not report.complete:
        print("unreadable: rowids SQLite could not read (each may have held a row); skipped: rows "
              "read but not copied (damaged text, or their study was lost).")
    print(f"Next: shoal studies --storage {shlex.quote(report.url)}")
    print(f"Keep {shlex.quote(str(report.source))} until you have checked the copy.")
    return 0
