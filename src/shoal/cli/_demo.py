"""`shoal demo`: tune an MLP on MNIST-1D over the course's search space, then test it once.

The test set is measured at most once per study: by the first run that ends with a best trial.
A re-run that finds a new best does not measure it (a second look, chosen because the first one
came out lower or higher, makes the test score optimistic); it says so and shows the command
that looks again on purpose, `shoal evaluate NAME --test --force`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from shoal.cli._output import CommandError, format_value, key_values, stdout
from shoal.cli._running import describe_start, print_outcome, print_where, run_study
from shoal.cli._store import storage_flag
from shoal.samplers import AutoSampler, MultiFidelitySampler, Sampler
from shoal.schedulers import ASHA, NoStopping, Scheduler
from shoal.space import Space
from shoal.storage import open_storage
from shoal.study import create_study, param_importances

__all__ = ["DEMO_SPACE", "DEMO_TASK", "cmd_demo"]

# The space of the course, on the scales it recommends; examples/mnist1d_mlp.yaml is the same.
DEMO_SPACE: dict[str, Any] = {
    "optimizer": {"type": "categorical", "choices": ["momentum", "adam"]},
    "lr": {"type": "float", "low": 1.0e-4, "high": 1.0, "scale": "log"},
    "momentum": {"type": "float", "low": 0.9, "high": 0.999, "scale": "one_minus_log",
                 "when": {"optimizer": ["momentum"]}},
    "beta1": {"type": "float", "low": 0.8, "high": 0.99, "scale": "one_minus_log",
              "when": {"optimizer": ["adam"]}},
    "beta2": {"type": "float", "low": 0.99, "high": 0.9999, "scale": "one_minus_log",
              "when": {"optimizer": ["adam"]}},
    "eps": {"type": "float", "low": 1.0e-9, "high": 1.0e-6, "scale": "log",
            "when": {"optimizer": ["adam"]}},
    "units": {"type": "int", "low": 32, "high": 512, "log": True},
    "layers": {"type": "int", "low": 1, "high": 4},
    "batch_size": {"type": "int", "low": 32, "high": 512, "power_of_two": True},
    "lr_decay": {"type": "categorical", "choices": ["none", "inverse_time", "cosine"]},
    "weight_decay": {"type": "float", "low": 1.0e-6, "high": 1.0e-2, "scale": "log"},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
    "init": {"type": "categorical", "choices": ["he", "xavier", "normal"]},
    "batch_norm": {"type": "categorical", "choices": [False, True]},
}
DEMO_TASK: dict[str, Any] = {"dataset": "mnist1d", "model": "mlp", "metric": "accuracy",
                             "protocol": {"holdout": {"fraction": 0.2}}, "epochs": 15, "seed": 0}


def cmd_demo(args: argparse.Namespace) -> int:
    """Run (or resume) the demo study, then measure the best configuration on the locked test set."""
    try:
        from shoal.torch import TaskSpec, evaluate, remember_task
        from shoal.torch._evaluate import EVALUATIONS_ATTR
    except ImportError as err:
        raise CommandError(str(err), hint="make demo (installs it), or pip install 'shoal[torch]'") from None
    url: str = args.storage
    spec = TaskSpec.from_dict({**DEMO_TASK, "epochs": args.epochs})
    space = Space.from_dict(DEMO_SPACE)
    spec.check_space(space)
    console = stdout()
    console.print("Loading MNIST-1D (4000 training and 1000 test sequences of 40 points, 10 classes)...")
    train = spec.load().train
    sampler, scheduler, how = demo_strategy(spec.epochs)
    study = create_study(args.name, storage=open_storage(url), direction=spec.direction, space=space,
                         sampler=sampler, scheduler=scheduler, load_if_exists=True)
    remember_task(study, spec)
    console.print(f"Tuning an MLP's {len(space)} hyperparameters (learning rate on a log scale, momentum "
                  f"and Adam's betas on the 1-beta scale, ...) on {len(train)} training sequences, "
                  f"{spec.protocol.to_dict()} validation, {spec.epochs} epochs per trial.")
    console.print(f"{describe_start(study)}: running {args.n_trials} trials on {args.n_jobs} worker "
                  f"process{'es' if args.n_jobs != 1 else ''} ({how}).")
    start = time.time()
    result = run_study(study, spec.objective(), n_trials=args.n_trials, n_jobs=args.n_jobs, timeout=None)
    name_flag = f" --name {args.name}" if args.name != "demo" else ""
    rerun = f"shoal demo{name_flag}{storage_flag(url)}"
    best = print_outcome(console, study, result, rerun=rerun, value_name="validation accuracy")
    console.print(f"({time.time() - start:.0f} s)")
    if best is not None and not result.interrupted:
        _print_importance(console, study)
        _print_test(console, study, best.number, url, measure=evaluate,
                    earlier=study.user_attrs.get(EVALUATIONS_ATTR, []))
    print_where(console, study, url, rerun=rerun)
    if study.user_attrs.get(EVALUATIONS_ATTR):
        console.print(f"Its test score: shoal best {study.name}{storage_flag(url)}")
    else:
        console.print(f"Test it once: shoal evaluate {study.name}{storage_flag(url)} --test")
    console.print(f"See its curves and plots: shoal dashboard{storage_flag(url)}")
    return result.exit_code


def demo_strategy(epochs: int) -> tuple[Sampler, Scheduler, str]:
    """The demo's sampler and scheduler for `epochs` per trial, and how to say it.

    ASHA's promotion form pauses every trial at steps 1, 3 and 9 (after 2, 4 and 10 epochs; a
    checkpoint each) and resumes the best third of each rung; the multi-fidelity GP proposes
    from the highest rung enough trials reached. On MNIST-1D, ASHA's promotion form (over random
    configurations) led full-budget TPE at equal epochs (0.648 against 0.604 validation accuracy
    after 300 epochs, benchmarks/RESULTS.md section 13); on LCBench the GP at the highest rung,
    with Hyperband, had the lowest regret of every tuner measured (section 12). Fewer than 4
    epochs leave no rung before the last: every trial then trains to the end.
    """
    if epochs < 4:
        return AutoSampler(seed=0), NoStopping(), "every trial trains all its epochs"
    # Steps count from 0: the last is epochs - 1, and a rung there would pause a finished trial.
    scheduler = ASHA(min_resource=1, max_resource=epochs - 1, reduction_factor=3, mode="promotion")
    rungs = ", ".join(str(step + 1) for step in sorted(scheduler.rung_steps))  # steps count from 0
    return (MultiFidelitySampler(seed=0), scheduler,
            f"ASHA pauses each trial after {rungs} of its {epochs} epochs and resumes the best "
            "third of each rung")


def _print_test(console: Any, study: Any, best: int, url: str, *, measure: Any,
                earlier: list[dict[str, Any]]) -> None:
    """Measure the best trial on the test set if the study never was; else say what was measured."""
    if not earlier:
        tested = measure(study)
        console.print(f"Test accuracy: {format_value(tested.metrics['accuracy'], 4)} on {tested.n_test} "
                      "sequences, the best configuration, retrained as in its trial and measured once on "
                      "the locked test set.", style="bold")
        return
    last = earlier[-1]
    score = f"{format_value(last['metrics']['accuracy'], 4)} on {last['n_test']} sequences"
    if last["trial"] == best:
        console.print(f"Test accuracy: {score}, measured when this configuration first became the best; "
                      "not measured again.", style="bold")
        return
    console.print(f"Test accuracy: not measured for the new best, trial {best}. The test set was already "
                  f"used for trial {last['trial']} ({score}); measuring again because a new best came "
                  "along makes the test score optimistic, so the demo looks once per study.", style="bold")
    console.print(f"To look again on purpose: shoal evaluate {study.name}{storage_flag(url)} --test --force")


def _print_importance(console: Any, study: Any) -> None:
    importance = param_importances(study.trials)
    if not importance:
        return
    console.print("Hyperparameters by importance (share of the variation in validation accuracy each "
                  "explains on its own; a rough guide with this many trials):")
    top = list(importance.items())[:6]
    space = study.space

    def label(name: str) -> str:  # measured only over the trials where the parameter was active
        when = space[name].when_dict() if space is not None and name in space else {}
        return name + "".join(f" ({parent}={'/'.join(map(str, vs))} only)" for parent, vs in when.items())

    key_values(console, [(f"  {label(name)}", format_value(value, 2)) for name, value in top])
