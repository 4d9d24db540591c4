"""`shoal tune CONFIG.yaml`: create or resume the study a config file describes, and run it."""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from shoal.cli._config import TuneConfig, build_sampler, build_scheduler, load_config, load_objective
from shoal.cli._output import CommandError, stdout
from shoal.cli._running import describe_start, describe_storage, print_outcome, print_where, run_study
from shoal.cli._store import storage_flag
from shoal.executors import Executor, ProcessExecutor, RayExecutor, Resources
from shoal.storage import default_storage_url, open_storage
from shoal.study import Study, create_study
from shoal.study._constraints import NAMES_ATTR

__all__ = ["cmd_tune"]


def cmd_tune(args: argparse.Namespace) -> int:
    """Tune the objective a config file names; running it again resumes the same study."""
    config = load_config(Path(args.config))
    overrides: dict[str, Any] = {}
    for key in ("n_trials", "n_jobs", "timeout", "backend", "address"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.name is not None:
        overrides["study"] = args.name
    config = replace(config, **overrides)
    if config.address is not None and config.backend != "ray":
        raise CommandError(f"--address of shoal tune must come with the ray backend. Got backend "
                           f"{config.backend!r}.", hint=f"shoal tune {args.config} --backend ray "
                           f"--address {config.address}")
    url = args.storage if args.storage_explicit else (config.storage or default_storage_url())
    sampler = build_sampler(config)
    scheduler = build_scheduler(config)
    if config.task is not None:
        objective, direction, remember = _task_objective(config)
    else:
        assert config.objective is not None  # load_config requires one of the two
        objective, direction, remember = load_objective(config.objective, config.path.parent), None, None
        if config.backend == "ray":
            _send_by_value(objective)
    study = create_study(config.study, storage=open_storage(url),
                         direction=None if config.directions else config.direction or direction,
                         directions=config.directions, sampler=sampler, scheduler=scheduler,
                         space=config.space, load_if_exists=True, retry=config.retry,
                         heartbeat=config.heartbeat, constraints_func=config.constraints)
    if remember is not None:
        remember(study)
    if config.constraints is not None:  # named in the tables of `shoal best` and `shoal trials`
        study.storage.set_study_attrs(study.study_id, system={NAMES_ATTR: list(config.constraints.names)})

    console = stdout()
    budget = f"{config.n_trials} trials" if config.n_trials is not None else "trials"
    limit = f" for at most {config.timeout:g}s" if config.timeout is not None else ""
    until = " until Ctrl-C" if config.n_trials is None and config.timeout is None else ""
    workers = f"{config.n_jobs} worker process{'es' if config.n_jobs != 1 else ''}"
    if config.backend == "ray":
        where = f"the Ray cluster at {config.address}" if config.address else "Ray"
        workers = f"{config.n_jobs} Ray worker{'s' if config.n_jobs != 1 else ''} on {where}"
    console.print(f"{describe_start(study)} in {describe_storage(url)}. Running {budget}{limit}{until} "
                  f"on {workers}, sampler {study.sampler!r}.")

    result = run_study(study, objective, n_trials=config.n_trials, n_jobs=config.n_jobs,
                       timeout=config.timeout,
                       max_consecutive_failures=config.max_consecutive_failures,
                       executor=_executor(config))
    rerun = f"shoal tune {shlex.quote(args.config)}"
    if args.name is not None:
        rerun += f" --name {shlex.quote(args.name)}"
    if args.storage_explicit:
        rerun += storage_flag(url)
    for flag in ("backend", "address"):  # a resume runs where the interrupted run did
        if getattr(args, flag) is not None:
            rerun += f" --{flag} {shlex.quote(getattr(args, flag))}"
    print_outcome(console, study, result, rerun=rerun)
    print_where(console, study, url, rerun=rerun)
    if config.task is not None:
        console.print(f"Test it once: shoal evaluate {study.name}{storage_flag(url)} --test")
    return result.exit_code


def _executor(config: TuneConfig) -> Executor | None:
    """The executor the config's backend names; None: optimize's own choice for n_jobs."""
    resources = config.resources or Resources()
    if config.backend == "ray":
        return RayExecutor(address=config.address, resources=resources)
    if config.resources is not None and config.n_jobs != 1:  # one trial per worker process
        return ProcessExecutor(resources=resources)
    return None


def _send_by_value(objective: Callable[..., Any]) -> None:
    """Ray's workers cannot import a module found next to the config file: pickle it whole."""
    module = sys.modules.get(getattr(objective, "__module__", "") or "")
    where = getattr(module, "__file__", None)
    if module is None or where is None or "site-packages" in where or "." in module.__name__:
        return
    try:
        from ray import cloudpickle
    except ImportError:  # RayExecutor says how to install Ray
        return
    cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]


def _task_objective(config: TuneConfig) -> tuple[Callable[..., Any], str, Callable[[Study], None]]:
    """The objective, direction and task record of a `task:` config (a dataset and model to train)."""
    try:
        from shoal.torch import TaskSpec, remember_task
    except ImportError as err:
        raise CommandError(f"task of {config.path.name} needs the PyTorch harness: {err}",
                           hint="pip install 'shoal[torch]'") from None
    assert config.task is not None
    spec = TaskSpec.from_dict(config.task)
    if config.space is None:
        raise CommandError(f"space of {config.path.name} must say which hyperparameters to tune.",
                           hint="space: {lr: {type: float, low: 1.0e-4, high: 1.0, scale: log}}")
    spec.check_space(config.space)
    if config.directions is not None:
        raise CommandError(f"directions of {config.path.name} must be left out for a task, which "
                           f"trains for one metric ({spec.resolved_metric().name!r}). "
                           f"Got {list(config.directions)!r}.",
                           hint="objective: my_module:my_function   (returning one value per direction)")
    if config.direction is not None and config.direction != spec.direction:
        raise CommandError(f"direction of {config.path.name} must follow the metric "
                           f"{spec.resolved_metric().name!r}, which is {spec.direction}d. "
                           f"Got {config.direction!r}.", hint="leave direction out for a task")
    return spec.objective(), spec.direction, functools.partial(remember_task, spec=spec)
