"""Read commands: `studies`, `trials`, `best` and `export`."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shoal.cli._output import (
    CommandError,
    format_duration,
    format_params,
    format_time,
    format_value,
    key_values,
    make_table,
    print_json,
    stdout,
    trial_json,
)
from shoal.cli._store import open_existing, require_study, storage_flag, study_trials
from shoal.storage import StudyRecord
from shoal.study._export import trial_rows
from shoal.trial import Direction, FrozenTrial, TrialState, best_trial, count_states, describe_counts

__all__ = ["best_of", "cmd_best", "cmd_export", "cmd_studies", "cmd_trials", "describe_counts",
           "state_counts"]

def state_counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """How many trials are in each state (`count_states`), keyed by the state's name for JSON."""
    return {state.value: n for state, n in count_states(trials).items()}


def best_of(trials: Sequence[FrozenTrial], directions: Sequence[Direction]) -> FrozenTrial | None:
    """The best completed trial (`shoal.trial.best_trial`); None for several objectives."""
    return best_trial(trials) if len(directions) == 1 else None


def _values_text(trial: FrozenTrial) -> str:
    """The final value(s); for a pruned trial, its last report and the step it stopped at."""
    if trial.values is not None:
        return ", ".join(format_value(v) for v in trial.values)
    if trial.state is TrialState.PRUNED and trial.last_step is not None:
        return f"{format_value(trial.intermediate[trial.last_step])} @{trial.last_step}"
    return "-"


# studies --------------------------------------------------------------------------------------
def cmd_studies(args: argparse.Namespace) -> int:
    """List every study in the storage."""
    url: str = args.storage
    store = open_existing(url)
    records = store.list_studies() if store is not None else []
    summaries: list[dict[str, Any]] = []
    for record in records:
        trials = study_trials(store, record) if store is not None else []
        best = best_of(trials, record.directions)
        summaries.append({
            "name": record.name,
            "directions": [d.value for d in record.directions],
            "n_trials": len(trials),
            "states": state_counts(trials),
            "best_value": best.value if best is not None else None,
            "best_trial": best.number if best is not None else None,
            "created": record.created,
        })
    if args.json:
        print_json(summaries)
        return 0
    console = stdout()
    if not summaries:
        flag = storage_flag(url)
        console.print(f"No studies in {url} yet. Start one with 'shoal tune CONFIG.yaml{flag}' "
                      f"(see examples/tune_quadratic.yaml), or run 'shoal demo{flag}'.")
        return 0
    rows = [[s["name"], ", ".join(s["directions"]), str(s["n_trials"]), describe_counts(s["states"]),
             format_value(s["best_value"]), format_time(s["created"])] for s in summaries]
    console.print(make_table(["study", "direction", "trials", "states", "best value", "created"], rows,
                             title=f"Studies in {url}"))
    return 0


# trials ---------------------------------------------------------------------------------------
def _parse_state(text: str | None) -> TrialState | None:
    if text is None:
        return None
    try:
        return TrialState(text.upper())
    except ValueError:
        choices = ", ".join(s.value.lower() for s in TrialState)
        raise CommandError(f"--state must be one of {choices}. Got {text!r}.") from None


def cmd_trials(args: argparse.Namespace) -> int:
    """A table of a study's trials, or one trial in full with `--number`."""
    store, record = require_study(args.storage, args.name)
    trials = study_trials(store, record)
    if args.number is not None:
        if args.state is not None or args.limit is not None:
            raise CommandError("--number shows one trial; it does not combine with --state or --limit.",
                               hint=f"shoal trials {args.name} --number {args.number}")
        return _show_trial(args, record, trials)
    state = _parse_state(args.state)
    if state is not None:
        trials = [t for t in trials if t.state is state]
    if args.limit is not None:
        if args.limit < 1:
            raise CommandError(f"--limit must be >= 1. Got {args.limit}.")
        trials = trials[-args.limit:]
    if args.json:
        print_json([trial_json(t) for t in trials])
        return 0
    console = stdout()
    if not trials:
        which = f" in state {state.value}" if state is not None else ""
        console.print(f"Study {record.name!r} has no trials{which} yet.")
        return 0
    rows = [[str(t.number), t.state.value, _values_text(t), format_duration(t.duration),
             format_params(t.params), t.failure_reason or ""] for t in trials]
    direction = ", ".join(d.value for d in record.directions)
    pruned = any(t.state is TrialState.PRUNED for t in trials)
    console.print(make_table(["#", "state", "value", "duration", "params", "fail reason"], rows,
                             title=f"Trials of {record.name!r} ({direction})",
                             caption="a pruned trial's value is its last report @ the step it stopped at"
                             if pruned else None))
    if any(t.state is TrialState.FAILED for t in trials):
        console.print(f"Details and tracebacks: shoal trials {record.name} --number K"
                      f"{storage_flag(args.storage)}")
    return 0


def _show_trial(args: argparse.Namespace, record: StudyRecord, trials: Sequence[FrozenTrial]) -> int:
    number: int = args.number
    trial = next((t for t in trials if t.number == number), None)
    if trial is None:
        span = f"numbered 0 to {len(trials) - 1}" if trials else "none yet"
        raise CommandError(f"study {record.name!r} has no trial number {number} (its trials: {span}).",
                           hint=f"shoal trials {record.name}{storage_flag(args.storage)}")
    if args.json:
        print_json(trial_json(trial, full=True))
        return 0
    console = stdout()
    console.print(f"Trial {trial.number} of study {record.name!r} ({args.storage})", style="bold")
    system = {k: v for k, v in trial.system_attrs.items() if k not in ("traceback", "fail_reason")}
    pairs: list[tuple[str, object]] = [
        ("state", trial.state.value), ("value", _values_text(trial)),
        ("fail reason", trial.failure_reason or "-"), ("started", format_time(trial.datetime_start)),
        ("finished", format_time(trial.datetime_complete)),
        ("duration", format_duration(trial.duration)), ("worker", trial.worker or "-"),
    ]
    if trial.parent is not None:
        pairs.append(("parent trial", trial.parent))
    if trial.checkpoint is not None:
        pairs.append(("checkpoint", trial.checkpoint))
    key_values(console, pairs)
    values = {name: format_value(value, 10) for name, value in trial.params.items()}
    width = max(map(len, values.values()), default=0)
    _section(console, "Parameters", {
        name: f"{text:<{width}}  {trial.distributions[name]!r}" if name in trial.distributions else text
        for name, text in values.items()})
    _section(console, "User attributes", {k: json.dumps(v, default=str) for k, v in trial.user_attrs.items()})
    _section(console, "System attributes", {k: json.dumps(v, default=str) for k, v in system.items()})
    if trial.intermediate:
        console.print("Intermediate values:", style="bold")
        console.print(make_table(["step", "value"], [[str(step), format_value(v, 10)]
                                                     for step, v in sorted(trial.intermediate.items())]))
    traceback = trial.system_attrs.get("traceback")
    if traceback:
        console.print("Traceback:", style="bold")
        console.print(str(traceback).rstrip())
    return 0


def _section(console: Any, title: str, items: dict[str, str]) -> None:
    if items:
        console.print(f"{title}:", style="bold")
        key_values(console, [(f"  {k}", v) for k, v in items.items()])


# best -----------------------------------------------------------------------------------------
def cmd_best(args: argparse.Namespace) -> int:
    """The best trial's number, value and parameters."""
    store, record = require_study(args.storage, args.name)
    if len(record.directions) != 1:
        raise CommandError(f"study {record.name!r} has {len(record.directions)} objectives, so no single "
                           "trial is best.", hint=f"shoal trials {record.name} --state complete")
    trials = study_trials(store, record)
    best = best_of(trials, record.directions)
    if best is None:  # read-only: the same words as Study.best_trial, without opening a Study
        raise CommandError(f"study {record.name!r} has no completed trial yet ({describe_counts(trials)}).",
                           hint=f"shoal trials {record.name}   (to see why trials failed)")
    if args.json:
        print_json({"study": record.name, "direction": record.directions[0].value, "number": best.number,
                    "value": best.value, "params": dict(best.params), "user_attrs": dict(best.user_attrs)})
        return 0
    console = stdout()
    key_values(console, [("study", record.name), ("best trial", best.number),
                         (f"value ({record.directions[0].value})", format_value(best.value, 10))])
    _section(console, "Parameters", {k: format_value(v, 10) for k, v in best.params.items()})
    return 0


# export ---------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    """Every trial as CSV or JSON rows (number, state, value, times, params_*, user_attrs_*)."""
    fmt: str | None = args.format
    output: str | None = args.output
    if fmt is None:
        fmt = "json" if output is not None and output.lower().endswith(".json") else "csv"
    store, record = require_study(args.storage, args.name)
    rows = trial_rows(study_trials(store, record), record.directions)
    text = _to_json(rows) if fmt == "json" else _to_csv(rows, len(record.directions))
    if output is None or output == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8", newline="")
    except OSError as err:
        raise CommandError(f"cannot write {output}: {err.strerror or err}.") from None
    print(f"Wrote {len(rows)} trials of study {record.name!r} to {output} ({fmt}).")
    return 0


def _to_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=2, default=str) + "\n"


def _to_csv(rows: list[dict[str, Any]], n_objectives: int) -> str:
    values = ["value"] if n_objectives == 1 else [f"values_{i}" for i in range(n_objectives)]
    header = list(rows[0]) if rows else ["number", "state", *values, "datetime_start",
                                         "datetime_complete", "duration", "fail_reason"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()})
    return buffer.getvalue()
