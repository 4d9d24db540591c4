"""`shoal dashboard`: the local web dashboard of a storage's studies (imports no web server until it runs)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["add_command", "cmd_dashboard"]


def add_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register `shoal dashboard` through the CLI's `command(name, summary)` helper."""
    p = command("dashboard", "Serve a live web dashboard of the studies, read-only, on http://127.0.0.1:8080/.")
    p.epilog = ("examples:\n  shoal dashboard                                  the studies in ./shoal.db\n"
                "  shoal dashboard --host 0.0.0.0 --allow-remote    reachable from other machines, "
                "with a token")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host; every request then needs the printed token")
    p.add_argument("--poll", type=_poll, default=2.0, metavar="S",
                   help="how often pages look for new trials, in seconds (default 2)")
    p.set_defaults(run=cmd_dashboard)


def _poll(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0.05:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0.05. Got {text!r}")
    return value


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard until Ctrl-C; 0 once stopped."""
    from shoal.cli._output import CommandError

    try:
        from shoal.dashboard import serve
    except ImportError as err:
        raise CommandError(f"shoal dashboard needs {err.name or 'starlette'}, which is not installed.",
                           hint="pip install 'shoal[dashboard]'") from None
    serve(args.storage, host=args.host, port=args.port, allow_remote=args.allow_remote, poll_s=args.poll)
    print("shoal dashboard: stopped.", flush=True)
    return 0
