"""How the command line speaks: errors, tables, key-value lines, JSON, and value formatting."""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shoal.trial import FrozenTrial

__all__ = [
    "CommandError",
    "checkpoints_of",
    "cli_wording",
    "format_bytes",
    "format_duration",
    "format_params",
    "format_time",
    "format_value",
    "key_values",
    "lineage_note",
    "lineage_rows",
    "make_table",
    "print_error",
    "print_json",
    "stdout",
    "trial_json",
]


class CommandError(Exception):
    """A mistake on the command line or in a config file: one line for the user, and a hint.

    Args:
        message: What is wrong, in one sentence.
        hint: What to run or write instead; printed on its own line after `Try: `.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# What the library's messages say in Python, said in the command line's words. The library keeps
# its wording (Python users call create_study), and the sentence shape stays: only the advice changes.
_CLI_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r", or create_study\((.*?)\)\.", r", or 'shoal tune CONFIG.yaml' (with study: \1) to create it."),
    (r"Drop direction=, or use another study name\.",
     "Remove direction from the config (or make it match), or use another study name (--name NAME)."),
    (r"Use a new study name for a new space\.",
     "Use a new study name for a new space (--name NAME, or study: in the config)."),
    (r"Use load_study\((.*?)\) or pass load_if_exists=True\.",
     r"Run 'shoal tune CONFIG.yaml' with study: \1 to add trials to it, or use another name."),
    (r"Pass force=True \(--force\)", "Pass --force"),
    (r"force=True", "--force"),
    (r", or pass spec= to evaluate\(\)\.", "."),
    (r"Run study\.optimize\(\.\.\.\)", "Run 'shoal tune CONFIG.yaml'"),
    (r"Use NoStopping\(\) \(the default\), ASHA, Hyperband or SuccessiveHalving",
     "Use scheduler: none (the default), asha, hyperband or successive_halving"),
    (r"Use RandomSampler, [^(]*\(a sampler of your own[^)]*\)\.",
     "Use a sampler that does in the config (sampler: random always does)."),
))


def cli_wording(message: str) -> str:
    """A library error's advice in command-line words (`--force`, `shoal tune ...`, config keys).

    >>> cli_wording("... Pass force=True (--force) if the data or code changed.")
    '... Pass --force if the data or code changed.'
    """
    for pattern, replacement in _CLI_WORDS:
        message = pattern.sub(replacement, message)
    return message


def print_error(message: str, hint: str | None = None) -> None:
    """Print `Error: ...` (and `Try: ...`) on stderr, as plain text so nothing is reflowed.

    A library error's Python advice is said in command-line words first (`cli_wording`).
    """
    print(f"Error: {cli_wording(message)}", file=sys.stderr)
    if hint:
        print(f"Try: {hint}", file=sys.stderr)


def stdout() -> Console:
    """A console on the current sys.stdout that never reads markup, highlights numbers or breaks
    sentences (tables still fit the terminal)."""
    console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # piped or logged: no terminal to fit, so keep rows on one line
    return console


def print_json(data: Any) -> None:
    """Plain JSON on stdout and nothing else, for programs."""
    print(json.dumps(data, indent=2, default=str))


def make_table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, title: str | None = None,
               caption: str | None = None) -> Table:
    """A rich table whose cells are plain text (never markup, so `[1, 2]` prints as is)."""
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                  header_style="bold")
    for name in columns:
        right = name in ("#", "step", "value", "duration", "trials", "best value", "copied",
                         "unreadable", "skipped") or name.startswith("value ")
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def key_values(console: Console, pairs: Iterable[tuple[str, object]]) -> None:
    """Aligned `key: value` lines."""
    items = [(k, v if isinstance(v, str) else format_value(v)) for k, v in pairs]
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        console.print(Text(f"{key + ':':<{width + 1}} {value}"))


def format_value(value: object, digits: int = 6) -> str:
    """A number with `digits` significant digits; anything else as its JSON-like text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    return str(value)


def format_params(params: Mapping[str, Any]) -> str:
    """`lr=0.0123 units=64 act=relu`, short enough for a table cell."""
    return " ".join(f"{name}={format_value(value, 4)}" for name, value in params.items())


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_bytes(n: float) -> str:
    """A size in bytes, KiB, MiB, GiB or TiB, with 3 significant digits: `14.2 MiB`.

    >>> format_bytes(0), format_bytes(1023), format_bytes(1536), format_bytes(14.2 * 2**20)
    ('0 B', '1023 B', '1.5 KiB', '14.2 MiB')
    """
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            break
    return f"{n:.3g} {unit}"


def _changes(changed: Any) -> str:
    """`lr 0.01 -> 0.012, units 64 -> 128` from a fork's {name: [old, new]}."""
    if not isinstance(changed, Mapping):
        return ""
    return ", ".join(f"{name} {format_value(pair[0], 4)} -> {format_value(pair[1], 4)}"
                     if isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2
                     else f"{name} -> {format_value(pair, 4)}" for name, pair in changed.items())


def _fork_text(event: Mapping[str, Any], *, lead: str = "fork of", step: bool = True) -> str:
    """`fork of #3 @ 9 (lr 0.01 -> 0.012), replaces #5` from a "forked" lineage event."""
    text = f"{lead} #{event.get('parent')}"
    if step and event.get("step") is not None:
        text += f" @ {event['step']}"
    changes = _changes(event.get("changed"))
    if changes:
        text += f" ({changes})"
    if event.get("replaces") is not None:
        text += f", replaces #{event['replaces']}"
    return text


def lineage_note(trial: FrozenTrial) -> str:
    """A short note of where a trial came from and what happened to it, for a table cell:
    `fork of #3 @ 9 (lr 0.01 -> 0.012); resumed 2x`, `retry of #2`, or "" for a plain trial.

    >>> from shoal.trial import TrialState
    >>> event = {"event": "forked", "parent": 3, "step": 9, "changed": {"lr": [0.01, 0.012]}}
    >>> lineage_note(FrozenTrial(4, 4, TrialState.RUNNING, lineage=(event,)))
    'fork of #3 @ 9 (lr 0.01 -> 0.012)'
    """
    notes = [_fork_text(e) for e in trial.lineage if e.get("event") == "forked"]
    retry_of = trial.system_attrs.get("retry_of")
    if retry_of is not None:
        notes.append(f"retry of #{retry_of}")
    if trial.resumes:
        notes.append(f"resumed {trial.resumes}x")
    return "; ".join(notes)


def lineage_rows(trial: FrozenTrial) -> list[list[str]]:
    """One row (event, step, at, detail) per lineage event, oldest first, for `--number K`."""
    rows = []
    for event in trial.lineage:
        kind = str(event.get("event", "?"))
        detail = ""
        if kind == "forked":  # the step has its own column
            detail = _fork_text(event, lead="from", step=False)
        elif kind == "resumed" and event.get("worker") is not None:
            detail = f"by {event['worker']}"
        at = event.get("at")
        rows.append([kind, format_value(event.get("step")),
                     format_time(at) if isinstance(at, (int, float)) else "-", detail])
    return rows


def checkpoints_of(trial: FrozenTrial) -> dict[str, Any] | None:
    """The checkpoints the trial keeps, as it recorded them (`system_attrs["checkpoints"]`:
    {"steps": [...], "bytes": n}); None if it recorded none or something else under that name."""
    recorded = trial.system_attrs.get("checkpoints")
    if not isinstance(recorded, Mapping) or not isinstance(recorded.get("steps"), list):
        return None
    size = recorded.get("bytes")
    return {"steps": list(recorded["steps"]),
            "bytes": size if isinstance(size, (int, float)) and not isinstance(size, bool) else None}


def format_time(timestamp: float | None) -> str:
    """Seconds since the epoch as local time, to the second."""
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def trial_json(trial: FrozenTrial, *, full: bool = False) -> dict[str, Any]:
    """A trial as plain JSON; `full` adds intermediate values and every attribute."""
    out: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.value,
        "value": trial.values[0] if trial.values is not None and len(trial.values) == 1 else None,
        "values": list(trial.values) if trial.values is not None else None,
        "params": dict(trial.params),
        "datetime_start": trial.datetime_start,
        "datetime_complete": trial.datetime_complete,
        "duration": trial.duration,
        "fail_reason": trial.failure_reason,
        "user_attrs": dict(trial.user_attrs),
        "lineage": [dict(event) for event in trial.lineage],
        "checkpoints": checkpoints_of(trial),
    }
    if full:
        out.update(
            intermediate={str(step): v for step, v in sorted(trial.intermediate.items())},
            distributions={name: p.to_dict() for name, p in trial.distributions.items()},
            system_attrs=dict(trial.system_attrs),
            worker=trial.worker,
            parent=trial.parent,
            checkpoint=trial.checkpoint,
        )
    return out
