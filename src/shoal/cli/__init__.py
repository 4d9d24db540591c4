"""The `shoal` command line: tune from a YAML config, run the demo, and inspect studies.

`main` returns the exit status; errors are one line on stderr (`Error: ...`), never a traceback.

>>> from shoal.cli import main
>>> main(["best", "demo", "--storage", "memory"])  # stderr: Error: no study named 'demo' in memory...
1
"""

from shoal.cli._app import main

__all__ = ["main"]
