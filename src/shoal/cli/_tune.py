"""`shoal tune CONFIG.yaml`: create or resume the study a config file describes, and run it."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

from shoal.cli._config import build_sampler, build_scheduler, load_config, load_objective
from shoal.cli._output import stdout
from shoal.cli._running import describe_start, describe_storage, print_outcome, print_where, run_study
from shoal.cli._store import storage_flag
from shoal.storage import default_storage_url, open_storage
from shoal.study import create_study

__all__ = ["cmd_tune"]


def cmd_tune(args: argparse.Namespace) -> int:
    """Tune the objective a config file names; running it again resumes the same study."""
    config = load_config(Path(args.config))
    overrides: dict[str, Any] = {}
    for key in ("n_trials", "n_jobs", "timeout"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.name is not None:
        overrides["study"] = args.name
    config = replace(config, **overrides)
    url = args.storage if args.storage_explicit else (config.storage or default_storage_url())
    objective = load_objective(config.objective, config.path.parent)
    sampler = build_sampler(config)
    scheduler = build_scheduler(config)
    study = create_study(config.study, storage=open_storage(url), direction=config.direction,
                         sampler=sampler, scheduler=scheduler, space=config.space, load_if_exists=True)

    console = stdout()
    budget = f"{config.n_trials} trials" if config.n_trials is not None else "trials"
    limit = f" for at most {config.timeout:g}s" if config.timeout is not None else ""
    until = " until Ctrl-C" if config.n_trials is None and config.timeout is None else ""
    workers = f"{config.n_jobs} worker process{'es' if config.n_jobs != 1 else ''}"
    console.print(f"{describe_start(study)} in {describe_storage(url)}. Running {budget}{limit}{until} "
                  f"on {workers}, sampler {sampler!r}.")

    result = run_study(study, objective, n_trials=config.n_trials, n_jobs=config.n_jobs,
                       timeout=config.timeout)
    rerun = f"shoal tune {shlex.quote(args.config)}"
    if args.name is not None:
        rerun += f" --name {shlex.quote(args.name)}"
    if args.storage_explicit:
        rerun += storage_flag(url)
    print_outcome(console, study, result, rerun=rerun)
    print_where(console, study, url, rerun=rerun)
    return 130 if result.interrupted else 0
