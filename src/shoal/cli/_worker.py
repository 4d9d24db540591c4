"""`shoal worker NAME`: join a study from any machine and run its trials until its budget is spent.

`shoal tune CONFIG.yaml` stores with the study what a worker needs (`remember_run`): the config's
mapping as read (sampler, scheduler, objective or task, retry, heartbeat, and whatever keys later
configs add), the folder the objective's module is imported from, and the study's budget. A worker
rebuilds the sampler, scheduler and objective from it (or takes `--objective module:function`),
and runs `Study.optimize` under the study's stored budget (`StudyBudgetExecutor`), so every worker
on every machine shares one count of trials and one deadline.
"""

from __future__ import annotations

import argparse
import inspect
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from shoal.cli._config import TuneConfig, build_sampler, build_scheduler, config_from_mapping, load_objective
from shoal.cli._output import CommandError, stdout
from shoal.cli._running import describe_storage, print_outcome, run_study
from shoal.cli._store import require_study, sqlite_path, storage_flag
from shoal.executors import assign_gpus
from shoal.storage import BudgetRecord, artifacts_root, is_shareable
from shoal.study import Study, load_study
from shoal.study._budget import StudyBudgetExecutor, counted_trials

__all__ = ["RUN_CONFIG_ATTR", "cmd_worker", "remember_run"]

#: Study system attribute holding what `shoal tune` ran the study with: {"config": the config's
#: mapping without `storage` and `study`, "path": the config file's absolute path}.
RUN_CONFIG_ATTR = "run_config"
_PER_RUN_KEYS = ("storage", "study")  # where and under which name: a worker is told both


def remember_run(study: Study, config: TuneConfig) -> BudgetRecord:
    """Store the run config with `study` and set its budget: `config.n_trials` more trials than it
    has started (None: no limit), none started after `config.timeout` seconds from now."""
    stored = {key: value for key, value in config.raw.items() if key not in _PER_RUN_KEYS}
    study.storage.set_study_attrs(study.study_id, system={RUN_CONFIG_ATTR: {
        "config": stored, "path": str(config.path.resolve())}})
    n_trials = None
    if config.n_trials is not None:
        before = study.storage.get_budget(study.study_id)
        started = max(counted_trials(study.trials), before.used if before is not None else 0)
        n_trials = started + config.n_trials
    return study.set_budget(n_trials=n_trials, timeout=config.timeout)


def cmd_worker(args: argparse.Namespace) -> int:
    """Join study `args.name` and run trials under its stored budget; the exit code of `shoal tune`."""
    url = args.storage
    storage, record = require_study(url, args.name, write=True)
    run = record.system_attrs.get(RUN_CONFIG_ATTR)
    config = _stored_config(run, args.name) if isinstance(run, Mapping) else None
    objective, what = _objective(args, config, url)
    study = load_study(args.name, storage=storage,
                       sampler=build_sampler(config) if config is not None else None,
                       scheduler=build_scheduler(config) if config is not None else None,
                       retry=config.retry if config is not None else None,
                       heartbeat=config.heartbeat if config is not None else None,
                       constraints_func=config.constraints if config is not None else None)
    n_jobs = args.n_jobs if args.n_jobs != -1 else (os.cpu_count() or 1)
    options: dict[str, Any] = {"executor": StudyBudgetExecutor(study, devices=_devices(args, config, n_jobs))}
    trial_timeout = args.trial_timeout if args.trial_timeout is not None else \
        (config.raw.get("trial_timeout") if config is not None else None)
    if trial_timeout is not None:
        if "trial_timeout" not in inspect.signature(Study.optimize).parameters:
            raise CommandError(f"trial_timeout of shoal worker must be left out: this shoal's optimize "
                               f"has no trial timeout. Got {trial_timeout!r}.",
                               hint="upgrade shoal, or leave --trial-timeout (and trial_timeout:) out")
        options["trial_timeout"] = trial_timeout
    console = stdout()
    budget = study.storage.get_budget(study.study_id)
    mine = f"; this worker starts at most {args.n_trials}" if args.n_trials is not None else ""
    processes = f"{n_jobs} process{'es' if n_jobs != 1 else ''}"
    console.print(f"Worker {socket.gethostname()}:{os.getpid()} joins study {study.name!r} in "
                  f"{describe_storage(url)}: {_describe_budget(budget)}{mine}; {processes}, "
                  f"objective {what}, sampler {study.sampler!r}.")
    if sqlite_path(url) is None and is_shareable(url) and not os.environ.get("SHOAL_ARTIFACTS"):
        console.print(f"Checkpoints go to {artifacts_root(url)}, on this machine only: set $SHOAL_ARTIFACTS "
                      "to a folder every worker's machine shares, so any of them can resume a paused "
                      "or retried trial.")
    result = run_study(study, objective, n_trials=args.n_trials, n_jobs=n_jobs, timeout=None,
                       max_consecutive_failures=config.max_consecutive_failures if config is not None else 10,
                       **options)
    rerun = f"shoal worker {args.name}{storage_flag(url)}"
    print_outcome(console, study, result, rerun=rerun)
    left = study.storage.get_budget(study.study_id)
    console.print(f"Study {study.name!r} now has {len(study.trials)} trials; {_describe_budget(left)}.")
    return result.exit_code


def _stored_config(run: Mapping[str, Any], name: str) -> TuneConfig:
    """The TuneConfig `shoal tune` stored with study `name`."""
    path = Path(str(run.get("path") or f"{name}.yaml"))
    try:
        return config_from_mapping(dict(run.get("config") or {}), path)
    except CommandError as err:
        raise CommandError(f"the run config stored with study {name!r} cannot be used by this shoal: "
                           f"{err.message}", hint=f"run 'shoal tune {path.name}' again with this shoal, "
                           "or pass --objective module:function") from None


def _objective(args: argparse.Namespace, config: TuneConfig | None,
               url: str) -> tuple[Callable[..., Any], str]:
    """The objective to run and how to name it: `--objective`, else the stored task or objective."""
    if args.objective is not None:
        return load_objective(args.objective, Path.cwd()), args.objective
    if config is None:
        raise CommandError(f"--objective of shoal worker must be given for study {args.name!r}, which "
                           "has no stored objective or task. Got none.",
                           hint=f"shoal worker {args.name}{storage_flag(url)} --objective module:function"
                                ", or create the study with 'shoal tune CONFIG.yaml'")
    if config.task is not None:
        from shoal.cli._tune import _task_objective  # torch: only for a task

        return _task_objective(config)[0], "the stored task"
    assert config.objective is not None  # a checked config names one of the two
    return load_objective(config.objective, config.path.parent), config.objective


def _devices(args: argparse.Namespace, config: TuneConfig | None, n_jobs: int) -> list[str] | None:
    """`CUDA_VISIBLE_DEVICES` of each local process: `--gpus` shared at the stored resources.gpus
    per trial (one GPU without it); None without `--gpus` (the environment is left alone)."""
    if args.gpus is None:
        return None
    devices = [part.strip() for part in str(args.gpus).split(",") if part.strip()]
    if not devices:
        raise CommandError(f"--gpus of shoal worker must list GPU ids, e.g. 0,1. Got {args.gpus!r}.")
    resources = config.raw.get("resources") if config is not None else None
    per_trial = resources.get("gpus") if isinstance(resources, Mapping) else None
    gpus = float(per_trial) if isinstance(per_trial, (int, float)) and per_trial > 0 else 1.0
    return assign_gpus(n_jobs, gpus, devices)


def _describe_budget(budget: BudgetRecord | None) -> str:
    """`budget 12 of 50 trials left, until 14:05:00`, or that the study has none."""
    if budget is None or (budget.n_trials is None and budget.deadline is None):
        return "no stored budget (runs until Ctrl-C or --n-trials)"
    parts = []
    if budget.n_trials is not None:
        parts.append(f"{budget.left} of {budget.n_trials} trials left")
    if budget.deadline is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(budget.deadline))
        parts.append(f"until {when}" if budget.deadline > time.time() else f"its deadline {when} has passed")
    return "budget " + ", ".join(parts)
