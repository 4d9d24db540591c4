"""The `shoal tune` config file: read it, check every key, and build what it names."""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import shoal.samplers
from shoal import _validate
from shoal.cli._output import CommandError
from shoal.exceptions import ConfigError, ShoalError
from shoal.executors import Resources
from shoal.samplers import Sampler
from shoal.schedulers import (
    ASHA,
    PB2,
    PBT,
    Hyperband,
    MedianStopping,
    NoStopping,
    PercentileStopping,
    Scheduler,
    SuccessiveHalving,
)
from shoal.space import Space
from shoal.space._yaml import load_yaml
from shoal.study import AttrConstraints, Heartbeat, RetryPolicy

__all__ = ["TuneConfig", "build_sampler", "build_scheduler", "load_config", "load_objective"]

KEYS = ("objective", "task", "study", "space", "direction", "directions", "constraints", "sampler",
        "scheduler", "n_trials", "n_jobs", "timeout", "storage", "retry", "heartbeat",
        "max_consecutive_failures", "backend", "address", "resources")
BACKENDS = ("processes", "ray")
SAMPLERS = {"auto": "AutoSampler", "random": "RandomSampler", "grid": "GridSampler", "qmc": "QMCSampler",
            "coarse_to_fine": "CoarseToFineSampler", "gp": "GPSampler", "tpe": "TPESampler",
            "multi_fidelity": "MultiFidelitySampler"}
SCHEDULERS: dict[str, Callable[..., Scheduler]] = {
    "none": NoStopping, "median": MedianStopping, "percentile": PercentileStopping, "asha": ASHA,
    "hyperband": Hyperband, "successive_halving": SuccessiveHalving, "pbt": PBT, "pb2": PB2}
#: Scheduler options that are not integers: text and lists (checked by the scheduler), numbers.
_SCHEDULER_TEXT = ("mode", "perturb", "hyperparams")
_SCHEDULER_NUMBERS = ("percentile", "quantile", "resample_probability", "kappa")
_SCHEDULER_EXAMPLE = "scheduler: {name: asha, mode: promotion, max_resource: 27}"
_OBJECTIVE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class TuneConfig:
    """A checked config file; command-line flags are applied with `dataclasses.replace`."""

    path: Path
    objective: str | None
    study: str
    task: Mapping[str, Any] | None = None
    space: Space | None = None
    direction: str | None = None
    directions: tuple[str, ...] | None = None
    constraints: AttrConstraints | None = None
    sampler: tuple[str, Mapping[str, Any]] = ("auto", {})
    scheduler: tuple[str, Mapping[str, Any]] = ("none", {})
    n_trials: int | None = None
    n_jobs: int = 1
    timeout: float | None = None
    storage: str | None = None
    retry: RetryPolicy | None = None
    heartbeat: Heartbeat | None = None
    max_consecutive_failures: int | None = 10  # null in the file: never stop for failures
    backend: str = "processes"  # where workers run: local processes, or Ray tasks
    address: str | None = None  # the Ray cluster's head, HOST:PORT (None: Ray finds or starts one)
    resources: Resources | None = None  # what each trial needs: cpus, gpus


def _wrong(key: str, path: Path, constraint: str, value: object, example: str,
           suggestion: str = "") -> CommandError:
    return CommandError(f"{key} of {path.name} must be {constraint}. Got {value!r}{suggestion}.",
                        hint=example)


def _checked(check: Callable[..., Any], value: Any, *, example: str, **kwargs: Any) -> Any:
    """Run a `shoal._validate` check; its one sentence becomes a CommandError with `example`."""
    try:
        return check(value, **kwargs)
    except ConfigError as err:
        raise CommandError(str(err), hint=example) from None


def _check_int(data: Mapping[str, Any], key: str, path: Path, *, low: int, example: str,
               allow: tuple[int, ...] = ()) -> int | None:
    value = data.get(key)
    if value is None or (value in allow and not isinstance(value, bool)):
        return value
    if allow:  # the constraint names the special values too
        try:
            return _validate.integer(value, what=key, owner=path.name, low=low)
        except ConfigError:
            raise _wrong(key, path, f"an integer >= {low} (or {', '.join(map(str, allow))})", value,
                         example) from None
    result: int = _checked(_validate.integer, value, what=key, owner=path.name, low=low, example=example)
    return result


def _options(data: Mapping[str, Any], key: str, path: Path, allowed: tuple[str, ...],
             example: str) -> dict[str, Any] | None:
    """The mapping under `key` (None when absent), with every option one of `allowed`."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _wrong(key, path, f"a mapping of {', '.join(allowed)}", value, example)
    for option in value:
        if option not in allowed:
            raise CommandError(f"{option!r} is not an option of {key} in {path.name}"
                               f"{_did_you_mean(str(option), allowed)}. Options: {', '.join(allowed)}.",
                               hint=example)
    return dict(value)


def _retry(data: Mapping[str, Any], path: Path) -> RetryPolicy | None:
    """`retry: {max_retries: 2, retry_failed: false}`, or `retry: 2` for max_retries alone.

    A `retry:` mapping without max_retries means one retry: writing the key asks for retries.
    """
    example = "retry: {max_retries: 2}   # re-run a dead trial's parameters, from its checkpoint"
    if isinstance(data.get("retry"), int) and not isinstance(data.get("retry"), bool):
        options: dict[str, Any] | None = {"max_retries": data["retry"]}
        what = "retry"
    else:
        options = _options(data, "retry", path, ("max_retries", "retry_failed"), example)
        what = "retry.max_retries"
    if options is None:
        return None
    retries = _checked(_validate.integer, options.get("max_retries", 1), what=what, owner=path.name,
                       low=0, example=example)
    retry_failed = options.get("retry_failed", False)
    if not isinstance(retry_failed, bool):
        raise _wrong("retry.retry_failed", path, "true or false", retry_failed,
                     "retry: {max_retries: 2, retry_failed: true}")
    return RetryPolicy(max_retries=retries, retry_failed=retry_failed)


def _heartbeat(data: Mapping[str, Any], path: Path) -> Heartbeat | None:
    """`heartbeat: {interval: 15, grace: 120}`: seconds between beats, and silence that means dead."""
    example = "heartbeat: {interval: 15, grace: 120}   # seconds"
    options = _options(data, "heartbeat", path, ("interval", "grace"), example)
    if options is None:
        return None
    default = Heartbeat()
    interval = _checked(_validate.number, options.get("interval", default.interval),
                        what="heartbeat.interval", owner=path.name, low=0, low_open=True, example=example)
    grace = _checked(_validate.number, options.get("grace", max(default.grace, 8 * interval)),
                     what="heartbeat.grace", owner=path.name, low=interval, low_open=True, example=example,
                     hint="A few intervals is typical.")
    return Heartbeat(interval=interval, grace=grace)


def _named(data: Mapping[str, Any], key: str, path: Path, choices: Mapping[str, Any],
           example: str) -> tuple[str, dict[str, Any]]:
    """`key: name` or `key: {name: ..., other: kwargs}`."""
    value = data.get(key)
    names = ", ".join(choices)
    if isinstance(value, Mapping):
        kwargs = dict(value)
        name = kwargs.pop("name", None)
        if not isinstance(name, str):
            raise _wrong(f"{key}.name", path, f"one of {names}", name, example)
    elif isinstance(value, str):
        name, kwargs = value, {}
    else:
        raise _wrong(key, path, f"a name ({names}) or a mapping with a 'name' key", value, example)
    if name.lower() not in choices:
        raise _wrong(key, path, f"one of {names}", name, example, _did_you_mean(name, choices))
    for arg, v in kwargs.items():
        if not isinstance(arg, str):
            raise _wrong(f"each key of {key}", path, "a string", arg, example)
        if arg == "seed" and v is not None:
            _checked(_validate.integer, v, what=f"{key}.seed", owner=path.name, low=0,
                     hint="Or null for a fresh seed each run.", example=f"{key}: {{name: {name}, seed: 0}}")
    return name.lower(), kwargs


def _directions(data: Mapping[str, Any], path: Path) -> tuple[str, ...] | None:
    """`directions: [maximize, minimize]`: one per value the objective returns; not with `direction:`."""
    value = data.get("directions")
    if value is None:
        return None
    example = "directions: [maximize, minimize]   # one per value the objective returns"
    if data.get("direction") is not None:
        raise _wrong("direction", path, "left out when directions is given (directions has one per "
                     "objective)", data["direction"], example)
    if (not isinstance(value, list) or not value
            or not all(isinstance(d, str) and d.lower() in ("minimize", "maximize") for d in value)):
        raise _wrong("directions", path, "a list of minimize or maximize, one per objective", value, example)
    return tuple(d.lower() for d in value)


def _constraints(data: Mapping[str, Any], path: Path) -> AttrConstraints | None:
    """`constraints: {latency_ms: "<= 20"}`: bounds on user attributes the objective sets."""
    value = data.get("constraints")
    if value is None:
        return None
    example = 'constraints: {latency_ms: "<= 20"}   # the objective calls trial.set_user_attr'
    if not isinstance(value, Mapping) or not value:
        raise _wrong("constraints", path, "a mapping of user attributes to bounds", value, example)
    constraints: AttrConstraints = _checked(AttrConstraints.parse, value, owner=f"constraints of {path.name}",
                                            example=example)
    return constraints


def _backend(data: Mapping[str, Any], path: Path) -> tuple[str, str | None]:
    """`backend: ray` and `address: HOST:PORT` (the head of a Ray cluster; only with backend ray)."""
    backend = data.get("backend", "processes")
    if not isinstance(backend, str) or backend.lower() not in BACKENDS:
        raise _wrong("backend", path, f"one of {', '.join(BACKENDS)}", backend, "backend: ray",
                     _did_you_mean(str(backend), BACKENDS))
    address = data.get("address")
    example = "address: 10.0.0.5:6379   # the head node's `ray start --head --port` (with backend: ray)"
    if address is not None and (not isinstance(address, str) or not address.strip()):
        raise _wrong("address", path, "HOST:PORT of a Ray cluster's head", address, example)
    if address is not None and backend.lower() != "ray":
        raise _wrong("address", path, "left out unless backend is ray", address,
                     "backend: ray\naddress: 10.0.0.5:6379")
    return backend.lower(), address.strip() if address is not None else None


def _resources(data: Mapping[str, Any], path: Path) -> Resources | None:
    """`resources: {cpus: 1, gpus: 0.5}`: what each trial needs (a GPU share: several trials per GPU)."""
    example = "resources: {cpus: 1, gpus: 0.5}   # two trials per GPU"
    options = _options(data, "resources", path, ("cpus", "gpus"), example)
    if options is None:
        return None
    cpus = _checked(_validate.number, options.get("cpus", 1), what="resources.cpus", owner=path.name,
                    low=0, low_open=True, example=example)
    gpus = _checked(_validate.number, options.get("gpus", 0), what="resources.gpus", owner=path.name,
                    low=0, example=example)
    try:
        return Resources(cpus=cpus, gpus=gpus)
    except ConfigError as err:
        raise CommandError(f"resources of {path.name}: {err}", hint=example) from None


def _did_you_mean(word: str, choices: Mapping[str, Any] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_config(path: Path) -> TuneConfig:
    """Read and check a tune config; every mistake is one CommandError that names the key.

    Raises:
        CommandError: the file is missing, not YAML, or a key is unknown, missing or mistyped.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = err.object[:err.start].count(b"\n") + 1
        fixed = f"{path.stem}-utf8{path.suffix}"
        raise CommandError(f"config file {str(path)!r} must be UTF-8 text. Got a byte that is not, "
                           f"on line {line}.",
                           hint=f"save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {path.name} > {fixed}",
                           ) from None
    except FileNotFoundError:
        raise CommandError(f"config file {str(path)!r} does not exist.",
                           hint="shoal tune examples/tune_quadratic.yaml (a commented example)") from None
    except OSError as err:
        raise CommandError(f"cannot read config file {str(path)!r}: {err.strerror or err}.") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "a syntax error"
        raise CommandError(f"{path.name} must be valid YAML: {problem}{where}.",
                           hint="one 'key: value' per line; see examples/tune_quadratic.yaml") from None
    if not isinstance(data, Mapping):
        raise CommandError(f"{path.name} must be a YAML mapping of keys ({', '.join(KEYS)}). "
                           f"Got {type(data).__name__ if data is not None else 'an empty file'}.",
                           hint="objective: my_module:my_function")
    for key in data:
        if key not in KEYS:
            raise CommandError(f"{key!r} is not a key of a tune config ({path.name})"
                               f"{_did_you_mean(str(key), KEYS)}. Keys are: {', '.join(KEYS)}.")
    objective, task = data.get("objective"), data.get("task")
    if (objective is None) == (task is None):
        raise CommandError(f"{path.name} must name either an objective (your own function) or a task "
                           "(a dataset and model shoal trains), not both.",
                           hint="objective: my_module:my_function  or  task: {dataset: mnist1d, model: mlp}")
    if objective is not None and (not isinstance(objective, str) or not _OBJECTIVE.match(objective.strip())):
        raise _wrong("objective", path, "'module:function'", objective, "objective: quadratic:objective")
    if task is not None and not isinstance(task, Mapping):
        raise _wrong("task", path, "a mapping", task, "task: {dataset: mnist1d, model: mlp, epochs: 20}")
    study = data.get("study", path.stem)
    if not isinstance(study, str) or not study.strip():
        raise _wrong("study", path, "a non-empty name", study, f"study: {path.stem}")
    space = None
    if data.get("space") is not None:
        if not isinstance(data["space"], Mapping):
            raise _wrong("space", path, "a mapping of parameter names to definitions", data["space"],
                         "space: {lr: {type: float, low: 1.0e-4, high: 1.0, scale: log}}")
        try:
            space = Space.from_dict(data["space"])
        except ShoalError as err:
            raise CommandError(f"space of {path.name}: {err}") from None
    direction = data.get("direction")
    if direction is not None and (not isinstance(direction, str)
                                  or direction.lower() not in ("minimize", "maximize")):
        raise _wrong("direction", path, "minimize or maximize", direction, "direction: minimize")
    directions = _directions(data, path)
    sampler = _named(data, "sampler", path, SAMPLERS, "sampler: {name: random, seed: 0}") \
        if data.get("sampler") is not None else ("auto", {})
    scheduler = _named(data, "scheduler", path, SCHEDULERS, _SCHEDULER_EXAMPLE) \
        if data.get("scheduler") is not None else ("none", {})
    timeout = data.get("timeout")
    if timeout is not None:
        timeout = _checked(_validate.number, timeout, what="timeout", owner=path.name, low=0,
                           low_open=True, example="timeout: 3600   # seconds: one hour")
    storage = data.get("storage")
    if storage is not None and not isinstance(storage, str):
        raise _wrong("storage", path, "a storage URL", storage, "storage: sqlite:///shoal.db")
    backend, address = _backend(data, path)
    return TuneConfig(
        backend=backend, address=address, resources=_resources(data, path),
        path=path, objective=objective.strip() if objective is not None else None, task=task,
        study=study.strip(), space=space,
        direction=direction.lower() if direction is not None else None, directions=directions,
        constraints=_constraints(data, path), sampler=sampler,
        scheduler=scheduler,
        n_trials=_check_int(data, "n_trials", path, low=1, example="n_trials: 50"),
        n_jobs=_check_int(data, "n_jobs", path, low=1, allow=(-1,), example="n_jobs: 2") or 1,
        timeout=timeout, storage=storage, retry=_retry(data, path), heartbeat=_heartbeat(data, path),
        max_consecutive_failures=_check_int(data, "max_consecutive_failures", path, low=1,
                                            example="max_consecutive_failures: 10")
        if "max_consecutive_failures" in data else 10)


def _build(kind: str, cls: Callable[..., Any], name: str, kwargs: Mapping[str, Any], path: Path) -> Any:
    accepted = [p.name for p in inspect.signature(cls).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and not p.name.startswith("_")]
    for arg in kwargs:
        if arg not in accepted:
            raise CommandError(f"{arg!r} is not an option of {kind} {name!r} in {path.name}"
                               f"{_did_you_mean(arg, tuple(accepted))}. Options: "
                               f"{', '.join(accepted) or 'none'}.")
    try:
        return cls(**kwargs)
    except ShoalError:
        raise
    except (TypeError, ValueError) as err:
        raise CommandError(f"{kind} {name!r} of {path.name} cannot be built from "
                           f"{dict(kwargs)!r}: {err}.") from None


def build_sampler(config: TuneConfig) -> Sampler | None:
    """The sampler the config names (samplers are looked up by class name, so new ones just work);
    None for `auto` without options: create_study's default, which follows the scheduler."""
    name, kwargs = config.sampler
    if name == "auto" and not kwargs:
        return None
    cls = getattr(shoal.samplers, SAMPLERS[name], None)
    if cls is None:
        raise CommandError(f"sampler {name!r} of {config.path.name} is not available in this version of "
                           f"shoal (no shoal.samplers.{SAMPLERS[name]}).", hint="sampler: random")
    sampler: Sampler = _build("sampler", cls, name, kwargs, config.path)
    return sampler


def build_scheduler(config: TuneConfig) -> Scheduler:
    """The scheduler the config names: each option checked, the required ones present."""
    name, kwargs = config.scheduler
    path, cls = config.path.name, SCHEDULERS[name]
    for arg, value in kwargs.items():
        if arg in _SCHEDULER_NUMBERS:
            _checked(_validate.number, value, what=f"scheduler.{arg}", owner=path,
                     example=f"scheduler: {{name: {name}, {arg}: 25}}")
        elif arg not in _SCHEDULER_TEXT:
            _checked(_validate.integer, value, what=f"scheduler.{arg}", owner=path,
                     example=_SCHEDULER_EXAMPLE if name != "median" else
                     "scheduler: {name: median, min_trials: 5}")
    params = inspect.signature(cls).parameters
    for param in params.values() if set(kwargs) <= set(params) else ():  # else _build names the typo
        if param.kind is param.KEYWORD_ONLY and param.default is param.empty and param.name not in kwargs:
            raise CommandError(f"scheduler.{param.name} of {path} must be given for scheduler "
                               f"{name!r}. Got nothing.",
                               hint=f"scheduler: {{name: {name}, {param.name}: 27}}")
    scheduler: Scheduler = _build("scheduler", cls, name, kwargs, config.path)
    return scheduler


def load_objective(spec: str, config_dir: Path) -> Callable[..., Any]:
    """Import `module:function`, looking in the config file's folder and the current folder first.

    Raises:
        CommandError: the module cannot be imported, or has no such callable.
    """
    module_name, _, attr_path = spec.partition(":")
    if module_name.endswith(".py"):  # a file name where a module name goes: say so, do not guess
        raise CommandError(f"objective {spec!r} must name a module, not a file. Got {module_name!r}.",
                           hint=f"objective: {module_name[:-3].replace('/', '.')}:{attr_path or 'objective'}")
    for folder in (str(Path.cwd()), str(config_dir.resolve())):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is not None and (module_name == err.name or module_name.startswith(err.name + ".")):
            raise CommandError(
                f"objective {spec!r}: no module {module_name!r} in {config_dir.resolve()}, the current "
                "folder or the installed packages.",
                hint=f"put {module_name.replace('.', '/')}.py next to the config file") from None
        raise CommandError(f"objective {spec!r}: importing {module_name!r} failed: {err}.",
                           hint=f"python -c 'import {module_name}' to see the full traceback") from None
    except Exception as err:
        raise CommandError(f"objective {spec!r}: importing {module_name!r} failed: "
                           f"{type(err).__name__}: {err}.",
                           hint=f"python -c 'import {module_name}' to see the full traceback") from None
    target: Any = module
    for part in attr_path.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_") and callable(getattr(target, n))]
            where = getattr(module, "__file__", None) or module_name
            raise CommandError(f"objective {spec!r}: {where} has no {part!r}"
                               f"{_did_you_mean(part, tuple(names))}.",
                               hint=f"objective: {module_name}:NAME, NAME one of: "
                                    f"{', '.join(names) or 'none'}")
        target = getattr(target, part)
    if not callable(target):
        raise CommandError(f"objective {spec!r} must be a function taking a trial. Got a "
                           f"{type(target).__name__}.")
    objective: Callable[..., Any] = target
    return objective
