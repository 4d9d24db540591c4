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

from shoal import Heartbeat
from shoal.cli._front import constraint_names, front_json, front_table
from shoal.cli._output import (
    CommandError,
    checkpoints_of,
    format_bytes,
    format_duration,
    format_params,
    format_time,
    format_value,
    key_values,
    lineage_note,
    lineage_rows,
    make_table,
    print_json,
    stdout,
    trial_json,
)
from shoal.cli._store import open_existing, require_study, storage_flag, study_trials
from shoal.clock import Clock, SystemClock
from shoal.storage import StudyRecord
from shoal.study._export import front_summary, trial_rows
from shoal.study._logs import LOG_FILES, logs_folder, read_log
from shoal.trial import (
    Direction,
    FrozenTrial,
    TrialState,
    best_trial,
    count_states,
    describe_counts,
    feasible_first_ranks,
    pareto_front,
)

__all__ = ["SORT_KEYS", "best_of", "cmd_best", "cmd_export", "cmd_studies", "cmd_trials", "describe_counts",
           "heartbeat_ages", "sort_trials", "state_counts"]

#: `shoal trials --sort`: value (best first, whatever the direction), number, duration (longest first).
SORT_KEYS = ("value", "number", "duration")
#: The clock the inspection commands read "now" from (a test may replace it).
CLOCK: Clock = SystemClock()

TEST_SCORE_ATTR = "test_score"  # shoal.torch._evaluate.TEST_SCORE_ATTR: read here without importing torch


def state_counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """How many trials are in each state (`count_states`), keyed by the state's name for JSON."""
    return {state.value: n for state, n in count_states(trials).items()}


def best_of(trials: Sequence[FrozenTrial], directions: Sequence[Direction]) -> FrozenTrial | None:
    """The best completed trial (`shoal.trial.best_trial`); None for several objectives."""
    return best_trial(trials) if len(directions) == 1 else None


def heartbeat_ages(trials: Sequence[FrozenTrial], now: float) -> dict[int, float]:
    """Seconds since each RUNNING trial's last heartbeat, by trial number (read only: nothing is
    marked FAILED here; the next worker that asks for a trial does that)."""
    return {t.number: max(0.0, now - (t.last_heartbeat if t.last_heartbeat is not None
                                      else t.datetime_start or now))
            for t in trials if t.state is TrialState.RUNNING}


def sort_trials(trials: Sequence[FrozenTrial], key: str) -> list[FrozenTrial]:
    """Trials by `key` (one of SORT_KEYS); trials without a value or a duration come last, by number.

    `value` puts the best first for either direction (it sorts by the sign-normalised score). With
    several objectives: by feasible-first non-dominated rank (the front first), then by the first
    objective, as `shoal best` lists the front.
    """
    if key == "number":
        return sorted(trials, key=lambda t: t.number)
    if key == "value":
        ranked = [t for t in trials if t.values is not None]
        if any(t.n_objectives > 1 for t in ranked):
            ranked = [t for t in ranked if t.is_usable()]
            rank = dict(zip((t.number for t in ranked), feasible_first_ranks(ranked), strict=True))
            ranked.sort(key=lambda t: (rank[t.number], (t.scores or (0.0,))[0], t.number))
        else:
            ranked.sort(key=lambda t: (t.sign * t.values[0] if t.values is not None else 0.0, t.number))
    else:
        ranked = sorted((t for t in trials if t.duration is not None),
                        key=lambda t: (-(t.duration or 0.0), t.number))
    chosen = {t.number for t in ranked}
    return ranked + sorted((t for t in trials if t.number not in chosen), key=lambda t: t.number)


def _grace(args: argparse.Namespace) -> float:
    """`--grace`, else the grace of a default `Heartbeat` (what `optimize` uses unless told)."""
    grace: float | None = args.grace
    return grace if grace is not None else Heartbeat().grace


def _stale_text(ages: dict[int, float], grace: float) -> str:
    """`; 1 running trial stale (no heartbeat for 8m30s)`, or nothing when every one is alive."""
    stale = [age for age in ages.values() if age > grace]
    if not stale:
        return ""
    return (f"; {len(stale)} running trial{'s' if len(stale) != 1 else ''} stale "
            f"(no heartbeat for {format_duration(max(stale))})")


def _heartbeat_text(age: float | None, grace: float) -> str:
    if age is None:
        return ""
    return f"{format_duration(age)} ago" + (" (stale)" if age > grace else "")


_STOPPED = (TrialState.PRUNED, TrialState.PAUSED)  # stopped at a step: the value is the last report


def _values_text(trial: FrozenTrial) -> str:
    """The final value(s); for a pruned or paused trial, its last report and the step it
    stopped at."""
    if trial.values is not None:
        return ", ".join(format_value(v) for v in trial.values)
    if trial.state in _STOPPED and trial.last_step is not None:
        return f"{format_value(trial.intermediate[trial.last_step])} @{trial.last_step}"
    return "-"


# studies --------------------------------------------------------------------------------------
def cmd_studies(args: argparse.Namespace) -> int:
    """List every study in the storage."""
    url: str = args.storage
    store = open_existing(url)
    records = store.list_studies() if store is not None else []
    grace = _grace(args)
    now = CLOCK.now()
    summaries: list[dict[str, Any]] = []
    for record in records:
        trials = study_trials(store, record) if store is not None else []
        best = best_of(trials, record.directions)
        front = len(pareto_front(trials)) if len(record.directions) > 1 else None  # numpy only here
        ages = heartbeat_ages(trials, now)
        summaries.append({
            "name": record.name,
            "directions": [d.value for d in record.directions],
            "n_trials": len(trials),
            "states": state_counts(trials),
            "best_value": best.value if best is not None else None,
            "best_trial": best.number if best is not None else None,
            "front_size": front,
            "test_score": record.system_attrs.get(TEST_SCORE_ATTR),
            "created": record.created,
            "stale_trials": sorted(n for n, age in ages.items() if age > grace),
            "heartbeat_ages": {str(n): round(age, 3) for n, age in sorted(ages.items())},
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
    rows = [[s["name"], ", ".join(s["directions"]), str(s["n_trials"]),
             describe_counts(s["states"]) + _stale_text({int(n): a for n, a in s["heartbeat_ages"].items()},
                                                        grace),
             format_value(s["best_value"]) if s["front_size"] is None else f"front of {s['front_size']}",
             _test_text(s["test_score"]), format_time(s["created"])]
            for s in summaries]
    header = ["study", "direction", "trials", "states", "best value", "test score", "created"]
    console.print(make_table(header, rows, title=f"Studies in {url}"))
    if any(s["stale_trials"] for s in summaries):
        console.print(f"A stale trial's worker sent no heartbeat for over {format_duration(grace)}: it is "
                      "probably dead. The next 'shoal tune' (or optimize) on its study marks it FAILED.")
    return 0


def _test_text(score: dict[str, Any] | None) -> str:
    """A recorded test score: "accuracy 0.713 (trial 4)", or "-" when the test set was not used."""
    if not score:
        return "-"
    return f"{score['metric']} {format_value(score['value'], 4)} (trial {score['trial']})"


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
    logs = getattr(args, "logs", None)
    if logs is not None and args.number is None:
        raise CommandError("--logs shows one trial's output: it needs --number K.",
                           hint=f"shoal trials {args.name} --number 0 --logs{storage_flag(args.storage)}")
    if args.number is not None:
        if args.state is not None or args.limit is not None or args.sort is not None or args.top is not None:
            raise CommandError("--number shows one trial; it does not combine with --state, --limit, "
                               "--sort or --top.", hint=f"shoal trials {args.name} --number {args.number}")
        if logs is not None:
            return _show_logs(args, record, trials, logs)
        return _show_trial(args, record, trials)
    state = _parse_state(args.state)
    if state is not None:
        trials = [t for t in trials if t.state is state]
    if args.limit is not None:
        trials = trials[-args.limit:]
    sort: str | None = args.sort if args.sort is not None else ("value" if args.top is not None else None)
    if sort is not None and sort not in SORT_KEYS:
        raise CommandError(f"--sort must be one of {', '.join(SORT_KEYS)}. Got {sort!r}.",
                           hint=f"shoal trials {record.name} --sort value --top 5")
    if sort is not None:
        trials = sort_trials(trials, sort)
    if args.top is not None:
        trials = trials[:args.top]
    grace = _grace(args)
    ages = heartbeat_ages(trials, CLOCK.now())
    several = len(record.directions) > 1
    # the front of the whole study, not of the trials shown
    front = {t.number for t in pareto_front(study_trials(store, record))} if several else set()
    if args.json:
        print_json([{**trial_json(t),
                     **({"pareto": t.number in front} if several else {}),
                     **({"constraints": list(t.constraints), "feasible": t.is_feasible}
                        if t.constraints is not None else {}),
                     **({"heartbeat_age": round(ages[t.number], 3),
                         "stale": ages[t.number] > grace} if t.number in ages else {})}
                    for t in trials])
        return 0
    console = stdout()
    if not trials:
        which = f" in state {state.value}" if state is not None else ""
        console.print(f"Study {record.name!r} has no trials{which} yet.")
        return 0
    columns = ["#", "state", "values" if several else "value", "duration", "params", "fail reason"]
    rows = [[str(t.number), t.state.value, _values_text(t), format_duration(t.duration),
             format_params(t.params), t.failure_reason or ""] for t in trials]
    notes = [lineage_note(t) for t in trials]
    if any(notes):
        columns.insert(columns.index("params"), "lineage")
        for row, note in zip(rows, notes, strict=True):
            row.insert(columns.index("lineage"), note)
    if any(t.constraints is not None for t in trials):
        columns.insert(3, "feasible")
        for row, t in zip(rows, trials, strict=True):
            row.insert(3, "-" if t.constraints is None else "yes" if t.is_feasible
                       else f"no (violation {format_value(t.violation, 4)})")
    if several:
        columns.insert(1, "front")
        for row, t in zip(rows, trials, strict=True):
            row.insert(1, "*" if t.number in front else "")
    if ages:
        at = columns.index("duration") + 1
        columns.insert(at, "heartbeat")
        for row, t in zip(rows, trials, strict=True):
            row.insert(at, _heartbeat_text(ages.get(t.number), grace))
    direction = ", ".join(d.value for d in record.directions)
    order = {"value": ", best first" if not several else ", front first", "duration": ", longest first"
             }.get(sort or "", "")
    stopped = sorted({t.state.value.lower() for t in trials if t.state in _STOPPED})
    console.print(make_table(columns, rows, title=f"Trials of {record.name!r} ({direction}{order})",
                             caption=_trials_caption(stopped=stopped, several=several)))
    if any(age > grace for age in ages.values()):
        console.print(f"A stale trial's worker sent no heartbeat for over {format_duration(grace)}: it is "
                      "probably dead. The next 'shoal tune' (or optimize) on the study marks it FAILED.")
    if any(t.state is TrialState.FAILED for t in trials):
        console.print(f"Details and tracebacks: shoal trials {record.name} --number K"
                      f"{storage_flag(args.storage)}")
    return 0


def _trials_caption(*, stopped: Sequence[str], several: bool) -> str | None:
    notes = ["* marks the Pareto front of the whole study ('shoal best' lists it)"] if several else []
    if stopped:  # "a paused or pruned trial's value is ..."
        notes.append(f"a {' or '.join(stopped)} trial's value is its last report @ the step it "
                     "stopped at")
    return "; ".join(notes) or None


def _find_trial(args: argparse.Namespace, record: StudyRecord, trials: Sequence[FrozenTrial]) -> FrozenTrial:
    number: int = args.number
    trial = next((t for t in trials if t.number == number), None)
    if trial is None:
        span = f"numbered 0 to {len(trials) - 1}" if trials else "none yet"
        raise CommandError(f"study {record.name!r} has no trial number {number} (its trials: {span}).",
                           hint=f"shoal trials {record.name}{storage_flag(args.storage)}")
    return trial


#: `shoal trials NAME --number K --logs`: lines of each stream shown unless told.
LOG_TAIL = 50


def _show_logs(args: argparse.Namespace, record: StudyRecord, trials: Sequence[FrozenTrial],
               logs: str) -> int:
    """The captured stdout and stderr of one trial: their last lines, or all of them."""
    trial = _find_trial(args, record, trials)
    lines = LOG_TAIL if logs == "tail" else None if logs == "all" else int(logs) if logs.isdigit() else 0
    if lines == 0:
        raise CommandError(f"--logs must be a number of lines >= 1 or 'all'. Got {logs!r}.",
                           hint=f"shoal trials {record.name} --number {trial.number} --logs all"
                                f"{storage_flag(args.storage)}")
    folder = logs_folder(args.storage, record.name, trial.number)
    found = {stream: read_log(folder / file, lines=lines) for stream, file in LOG_FILES.items()}
    if all(text is None for text in found.values()):
        raise CommandError(f"trial {trial.number} of study {record.name!r} has no logs in {folder}: it "
                           "wrote nothing, or ran where none are kept (in-memory storage, "
                           "SHOAL_CAPTURE_LOGS=0) or on a machine that does not share this folder.",
                           hint=f"shoal trials {record.name} --number {trial.number}"
                                f"{storage_flag(args.storage)}")
    if args.json:
        print_json({"number": trial.number, "folder": str(folder),
                    **{stream: None if got is None else {"text": got[0], "truncated": got[1]}
                       for stream, got in found.items()}})
        return 0
    for stream, got in found.items():
        if got is None:
            print(f"== {stream} of trial {trial.number}: nothing written ==")
            continue
        text, cut = got
        shown = f"last {lines} lines" if cut else "all" if text else "empty"
        print(f"== {stream} of trial {trial.number} ({shown}; {folder / LOG_FILES[stream]}) ==")
        sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    if any(got is not None and got[1] for got in found.values()):
        print(f"Everything: shoal trials {record.name} --number {trial.number} --logs all"
              f"{storage_flag(args.storage)}")
    return 0


def _show_trial(args: argparse.Namespace, record: StudyRecord, trials: Sequence[FrozenTrial]) -> int:
    trial = _find_trial(args, record, trials)
    if args.json:
        print_json(trial_json(trial, full=True))
        return 0
    console = stdout()
    console.print(f"Trial {trial.number} of study {record.name!r} ({args.storage})", style="bold")
    checkpoints = checkpoints_of(trial)
    shown = ("traceback", "fail_reason", *(("checkpoints",) if checkpoints is not None else ()))
    system = {k: v for k, v in trial.system_attrs.items() if k not in shown}
    pairs: list[tuple[str, object]] = [
        ("state", trial.state.value), ("value", _values_text(trial)),
        ("fail reason", trial.failure_reason or "-"), ("started", format_time(trial.datetime_start)),
        ("finished", format_time(trial.datetime_complete)),
        ("duration", format_duration(trial.duration)), ("worker", trial.worker or "-"),
    ]
    age = heartbeat_ages([trial], CLOCK.now()).get(trial.number)
    if age is not None:
        pairs.append(("heartbeat", _heartbeat_text(age, _grace(args))))
    if trial.parent is not None:
        pairs.append(("parent trial", trial.parent))
    if trial.checkpoint is not None:
        pairs.append(("checkpoint", trial.checkpoint))
    note = lineage_note(trial)
    if note:
        pairs.append(("lineage", note))
    # Not trial.start_step: a fork made without a checkpoint has step None (starts from scratch).
    fork = next((e for e in trial.lineage if e.get("event") == "forked"), None)
    if fork is not None and fork.get("step") is not None:
        pairs.append(("start step", int(fork["step"]) + 1))
    if checkpoints is not None:
        pairs.append(("checkpoints kept", _checkpoints_text(checkpoints)))
    key_values(console, pairs)
    values = {name: format_value(value, 10) for name, value in trial.params.items()}
    width = max(map(len, values.values()), default=0)
    _section(console, "Parameters", {
        name: f"{text:<{width}}  {trial.distributions[name]!r}" if name in trial.distributions else text
        for name, text in values.items()})
    _section(console, "User attributes", {k: json.dumps(v, default=str) for k, v in trial.user_attrs.items()})
    _section(console, "System attributes", {k: json.dumps(v, default=str) for k, v in system.items()})
    if trial.lineage:
        console.print("Lineage:", style="bold")
        console.print(make_table(["event", "step", "at", "detail"], lineage_rows(trial)))
    if trial.intermediate:
        console.print("Intermediate values:", style="bold")
        console.print(make_table(["step", "value"], [[str(step), format_value(v, 10)]
                                                     for step, v in sorted(trial.intermediate.items())]))
    traceback = trial.system_attrs.get("traceback")
    if traceback:
        console.print("Traceback:", style="bold")
        console.print(str(traceback).rstrip())
    return 0


def _checkpoints_text(checkpoints: dict[str, Any]) -> str:
    """`steps 3, 9, 12 (41.5 MiB on disk)`, as the trial recorded them when it last wrote."""
    steps = ", ".join(str(s) for s in checkpoints["steps"]) or "none"
    size = checkpoints["bytes"]
    return f"steps {steps}" + (f" ({format_bytes(size)} on disk)" if size is not None else "")


def _section(console: Any, title: str, items: dict[str, str]) -> None:
    if items:
        console.print(f"{title}:", style="bold")
        key_values(console, [(f"  {k}", v) for k, v in items.items()])


# best -----------------------------------------------------------------------------------------
def cmd_best(args: argparse.Namespace) -> int:
    """The best trial's number, value and parameters; for several objectives, the Pareto front."""
    store, record = require_study(args.storage, args.name)
    trials = study_trials(store, record)
    if len(record.directions) != 1:
        return _best_front(args, record, trials)
    best = best_of(trials, record.directions)
    if best is None:  # read-only: the same words as Study.best_trial, without opening a Study
        raise CommandError(f"study {record.name!r} has no completed trial yet ({describe_counts(trials)}).",
                           hint=f"shoal trials {record.name}   (to see why trials failed)")
    score = record.system_attrs.get(TEST_SCORE_ATTR)  # written by shoal.torch.evaluate
    if args.json:
        print_json({"study": record.name, "direction": record.directions[0].value, "number": best.number,
                    "value": best.value, "params": dict(best.params), "user_attrs": dict(best.user_attrs),
                    "test_score": score})
        return 0
    console = stdout()
    value_key = f"value ({record.directions[0].value})"
    pairs: list[tuple[str, object]] = [("study", record.name), ("best trial", best.number),
                                       (value_key, format_value(best.value, 10))]
    if score:
        note = "" if score["trial"] == best.number else f"; trial {best.number} was not measured"
        pairs.append((f"test {score['metric']}", f"{format_value(score['value'], 4)} on {score['n_test']} "
                      f"test examples (trial {score['trial']}{note})"))
    key_values(console, pairs)
    _section(console, "Parameters", {k: format_value(v, 10) for k, v in best.params.items()})
    return 0


def _best_front(args: argparse.Namespace, record: StudyRecord, trials: Sequence[FrozenTrial]) -> int:
    """`shoal best` of a study with several objectives: its Pareto front, best first by value 0."""
    summary = front_summary(trials)
    if not summary.front:
        infeasible = any(t.state is TrialState.COMPLETE and not t.is_feasible for t in trials)
        why = "every completed trial violates a constraint" if infeasible else describe_counts(trials)
        raise CommandError(f"study {record.name!r} has no feasible completed trial yet ({why}).",
                           hint=f"shoal trials {record.name}   (to see values, constraints and failures)")
    names = constraint_names(record.system_attrs, trials)
    if args.json:
        print_json(front_json(summary, record.directions, names))
        return 0
    console = stdout()
    console.print(front_table(summary, record.directions, names,
                              title=f"Pareto front of {record.name!r} ({len(record.directions)} objectives)"))
    console.print(f"{summary.describe()[0].upper()}{summary.describe()[1:]}.")
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
