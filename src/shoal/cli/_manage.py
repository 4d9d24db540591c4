"""Write commands on an existing study: `delete` and `enqueue`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from shoal.cli._output import CommandError, format_params, print_json
from shoal.cli._store import require_study, storage_flag, study_trials
from shoal.space import Float
from shoal.space._yaml import load_yaml
from shoal.study import load_study

__all__ = ["cmd_delete", "cmd_enqueue", "parse_assignments"]

_EXAMPLE = "shoal enqueue NAME lr=0.01 act=relu bn=true units=128"


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete a study and its trials, after confirmation (`--yes`, or `y` at the prompt)."""
    url: str = args.storage
    store, record = require_study(url, args.name, write=True)
    n_trials = len(study_trials(store, record))
    if not args.yes:
        if sys.stdin is None or not sys.stdin.isatty():
            raise CommandError(
                f"refusing to delete study {record.name!r} ({n_trials} trials in {url}) without "
                "confirmation: stdin is not a terminal, so pass --yes.",
                hint=f"shoal delete {record.name} --yes{storage_flag(url)}")
        try:
            answer = input(f"Delete study {record.name!r} and its {n_trials} trials from {url}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.", file=sys.stderr)
            return 1
    store.delete_study(record.name)
    print(f"Deleted study {record.name!r} and its {n_trials} trials from {url}.")
    return 0


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """Parse `key=value` words; each value is a YAML scalar (`0.01`, `1e-3`, `relu`, `true`, `null`).

    >>> parse_assignments(["lr=1e-3", "act=relu", "bn=true", "units=128"])
    {'lr': 0.001, 'act': 'relu', 'bn': True, 'units': 128}
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CommandError(f"each parameter must be written key=value. Got {item!r}.", hint=_EXAMPLE)
        if key in params:
            raise CommandError(f"parameter {key!r} must be given once. Got it twice.", hint=_EXAMPLE)
        if not raw.strip():
            raise CommandError(f"value of parameter {key!r} must not be empty. Got {item!r}.",
                               hint=f"{key}=VALUE, or {key}=null for None")
        params[key] = _scalar(key, raw.strip())
    return params


def _scalar(key: str, raw: str) -> Any:
    try:
        value = load_yaml(raw)  # reads `1e-3` as a number, as people mean it (YAML 1.1 would not)
    except yaml.YAMLError:
        raise CommandError(f"value of parameter {key!r} must be a YAML scalar (a number, true/false, "
                           f"null or text). Got {raw!r}.", hint=f"quote it: {key}='\"{raw}\"'") from None
    if isinstance(value, (list, dict)):
        raise CommandError(f"value of parameter {key!r} must be a single value (a number, true/false, "
                           f"null or text). Got {raw!r}.", hint=_EXAMPLE)
    if value is not None and not isinstance(value, (bool, int, float, str)):
        return raw  # a YAML date or timestamp: keep the text as written
    return value


def cmd_enqueue(args: argparse.Namespace) -> int:
    """Queue a configuration; workers run it before sampling new ones."""
    url: str = args.storage
    params = parse_assignments(args.params)
    store, record = require_study(url, args.name, write=True)
    study = load_study(record.name, storage=store)
    if study.space is not None:
        for name, value in params.items():
            param = study.space.get(name)
            if isinstance(param, Float) and isinstance(value, int) and not isinstance(value, bool):
                params[name] = float(value)  # `lr=1` means 1.0 for a float parameter
    number = study.enqueue(params)  # validates against the declared space, if any
    if args.json:
        print_json({"study": record.name, "number": number, "params": params})
        return 0
    print(f"Enqueued trial {number} of study {record.name!r}: {format_params(params)}")
    print("It runs before any sampled trial, the next time a worker asks for one "
          f"(e.g. 'shoal tune CONFIG.yaml{storage_flag(url)}').")
    return 0
