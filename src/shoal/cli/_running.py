"""Running a study from the command line: progress, Ctrl-C, and the summary at the end."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from shoal.cli._front import constraint_names, front_table
from shoal.cli._inspect import best_of, describe_counts, state_counts
from shoal.cli._output import format_value, key_values
from shoal.cli._store import sqlite_path, storage_flag
from shoal.exceptions import Terminated, TooManyFailures
from shoal.storage import is_shareable
from shoal.study import Study
from shoal.study._export import front_summary
from shoal.trial import FrozenTrial, TrialState

__all__ = ["RunResult", "describe_start", "describe_storage", "print_outcome", "print_where", "run_study"]


@dataclass(frozen=True)
class RunResult:
    """What one `optimize` call did: the trials it finished, and what ended it early.

    `interrupted`: Ctrl-C or SIGTERM (`terminated`); `gave_up`: the message of the stop after
    too many failures in a row.
    """

    finished: list[FrozenTrial]
    interrupted: bool
    terminated: bool = False
    gave_up: str | None = None

    @property
    def exit_code(self) -> int:
        """130 after Ctrl-C, 143 after SIGTERM (128 + the signal), 1 after giving up, else 0."""
        if self.terminated:
            return 143
        return 130 if self.interrupted else 1 if self.gave_up is not None else 0


def describe_storage(url: str) -> str:
    """The URL, with the absolute path of a SQLite file so it can be found from anywhere."""
    path = sqlite_path(url)
    return f"{url} ({path.resolve()})" if path is not None else url


def describe_start(study: Study) -> str:
    """`New study 'x'`, or `Resuming study 'x' (20 trials so far)`."""
    before = len(study.trials)
    if not before:
        return f"New study {study.name!r}"
    return f"Resuming study {study.name!r} ({before} trials so far)"


def run_study(study: Study, objective: Callable[..., Any], *, n_trials: int | None, n_jobs: int,
              timeout: float | None, max_consecutive_failures: int | None = 10,
              **options: Any) -> RunResult:
    """Run `optimize` with a progress bar; Ctrl-C and SIGTERM end it cleanly (every finished
    trial is stored). Only the trials of this run are counted, whoever else shares the study.
    `options` go to `optimize` as they are (`executor=`)."""
    finished: list[FrozenTrial] = []
    interrupted = terminated = False
    gave_up = None
    try:
        with _progress_instead_of_trial_log():
            study.optimize(objective, n_trials=n_trials, n_jobs=n_jobs, timeout=timeout,
                           show_progress_bar=True, callbacks=[lambda _, trial: finished.append(trial)],
                           max_consecutive_failures=max_consecutive_failures, **options)
    except KeyboardInterrupt as err:
        interrupted, terminated = True, isinstance(err, Terminated)
    except TooManyFailures as err:
        gave_up = str(err)
    return RunResult(finished, interrupted, terminated, gave_up)


def _drop_trial_lines(record: logging.LogRecord) -> bool:
    return not hasattr(record, "shoal_trial")


@contextlib.contextmanager
def _progress_instead_of_trial_log() -> Iterator[None]:
    """The progress bar and the summary say what the per-trial INFO lines would: leave them out."""
    logger = logging.getLogger("shoal")
    logger.addFilter(_drop_trial_lines)
    try:
        yield
    finally:
        logger.removeFilter(_drop_trial_lines)


def print_outcome(console: Console, study: Study, result: RunResult, *, rerun: str,
                  value_name: str = "value") -> FrozenTrial | None:
    """What the run did and the best trial of the whole study. Returns that trial.

    Args:
        rerun: The command that resumes the study, shown after an interruption.
        value_name: What the objective's value is, in words.
    """
    # A trial paused and resumed in this run is sent once per stop: count its last state once.
    latest = list({t.number: t for t in result.finished}.values())
    counts = describe_counts(state_counts(latest))
    completed = sum(1 for t in latest if t.state is TrialState.COMPLETE)
    if result.gave_up is not None:
        console.print(f"Stopped: {result.gave_up}", style="bold")
    elif result.interrupted:
        what = "Terminated (SIGTERM)" if result.terminated else "Interrupted"
        console.print(f"{what}: {completed} trials completed in this run ({counts}). The study is "
                      f"saved, with every finished trial; '{rerun}' resumes it.", style="bold")
    else:
        console.print(f"Ran {len(latest)} trials: {counts}.")
    best = best_of(study.trials, study.directions)
    if best is not None:
        console.print(f"Best trial of the study: {best.number}, {value_name} {format_value(best.value, 6)} "
                      f"({study.direction.value}), with", style="bold")
        key_values(console, [(f"  {k}", format_value(v, 6)) for k, v in best.params.items()])
    elif len(study.directions) == 1:
        console.print(f"No trial of study {study.name!r} has completed yet.")
    else:
        _print_front(console, study)
    return best


def _print_front(console: Console, study: Study, rows: int = 5) -> None:
    """The first rows of the study's Pareto front, and its size and hypervolume."""
    trials = study.trials
    summary = front_summary(trials)
    if not summary.front:
        infeasible = any(t.state is TrialState.COMPLETE and not t.is_feasible for t in trials)
        console.print(f"No trial of study {study.name!r} is on a Pareto front yet: "
                      + ("every completed trial violates a constraint." if infeasible
                         else "none has completed."))
        return
    names = constraint_names(study.storage.get_study(study.name).system_attrs, trials)
    console.print(front_table(summary, study.directions, names, limit=rows,
                              title=f"Pareto front of the study ({len(study.directions)} objectives)"))
    console.print(f"{summary.describe()[0].upper()}{summary.describe()[1:]}.")


def print_where(console: Console, study: Study, url: str, *, rerun: str) -> None:
    """Where the study is stored, and the commands that explore or extend it."""
    flag = storage_flag(url)
    if not is_shareable(url):  # nothing to explore or resume once this process ends
        console.print(f"Study {study.name!r} ({len(study.trials)} trials) was kept in memory ({url}) and "
                      "is gone when this command ends. To keep a study, store it in a file: "
                      "--storage sqlite:///shoal.db.")
        return
    console.print(f"Study {study.name!r} ({len(study.trials)} trials) is stored in {describe_storage(url)}.")
    console.print(f"Explore it:  shoal trials {study.name}{flag}   shoal best {study.name}{flag}")
    console.print(f"Add trials:  {rerun}")
