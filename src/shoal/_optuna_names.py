"""Optuna's names that shoal spells differently: each fails at once, naming shoal's equivalent.

A user who swaps `import optuna` for `import shoal as optuna` should learn at the line that
differs, before any trial runs, what shoal calls it, not after a night of training. Harmless
spellings (`study_name=`, `get_trials(deepcopy=)`, `enqueue_trial`) are accepted where they
belong; this module holds the rest, one line each, and `docs/coming-from-optuna.md` the table.
It imports nothing of shoal's layers, so every layer may use it.

>>> import shoal
>>> shoal.pruners
Traceback (most recent call last):
...
shoal._optuna_names.OptunaName: pruners of shoal is Optuna's name: shoal calls them schedulers. ...
"""

from __future__ import annotations

import warnings

from shoal.exceptions import ConfigError

__all__ = ["MODULES", "SAMPLERS", "STUDY", "TRIAL", "OptunaName", "fail", "missing", "renamed"]

DOC = "docs/coming-from-optuna.md"


class OptunaName(ConfigError, AttributeError):
    """An Optuna name that shoal spells differently; the message names shoal's equivalent.

    A ConfigError, so it stops `optimize` at the first trial instead of failing every trial, and
    an AttributeError, so `hasattr` and `getattr(obj, name, default)` behave as usual.
    """


# `shoal.<name>`: Optuna's modules and functions that shoal spells differently.
MODULES = {
    "pruners": "pruners of shoal is Optuna's name: shoal calls them schedulers. Use "
               "create_study(scheduler=shoal.schedulers.MedianStopping()) for MedianPruner, "
               "shoal.schedulers.NoStopping() for NopPruner.",
    "distributions": "distributions of shoal is Optuna's name: shoal's parameter types are "
                     "top-level. Use shoal.Float(low, high, scale='log') for FloatDistribution("
                     "low, high, log=True), shoal.Int(low, high, step) for IntDistribution, "
                     "shoal.Categorical(choices) for CategoricalDistribution.",
    "storages": "storages of shoal is Optuna's name: shoal takes a storage URL. Use "
                "create_study(storage='sqlite:///shoal.db', heartbeat=shoal.Heartbeat(interval=60)) "
                "for RDBStorage(url, heartbeat_interval=60), storage=None for InMemoryStorage().",
    "integration": "integration of shoal is Optuna's name: shoal has no integration callbacks. "
                   "Use shoal.torch for PyTorch, elsewhere trial.report(value, step) and "
                   "trial.should_prune() in your own loop.",
    "logging": "logging of shoal is Optuna's name: shoal logs through the standard library. Use "
               "logging.getLogger('shoal').setLevel(logging.WARNING) for "
               "optuna.logging.set_verbosity(optuna.logging.WARNING).",
    "importance": "importance of shoal is Optuna's name. Use shoal.analysis.importances("
                  "study.trials).main (fANOVA, with .pairs for interactions) for "
                  "optuna.importance.get_param_importances(study).",
    "get_all_study_summaries": "get_all_study_summaries of shoal is Optuna's name. Use "
                               "shoal.list_studies(storage=URL).",
    "get_all_study_names": "get_all_study_names of shoal is Optuna's name. Use "
                           "[s.name for s in shoal.list_studies(storage=URL)].",
    "StudyDirection": "StudyDirection of shoal is Optuna's name. Use shoal.Direction.",
}

# `shoal.samplers.<name>`: Optuna samplers with no shoal class of that name.
SAMPLERS = {
    "CmaEsSampler": "CmaEsSampler of shoal.samplers is Optuna's name: shoal has no CMA-ES. Use "
                    "shoal.samplers.GPSampler() or the default AutoSampler for continuous spaces.",
    "BruteForceSampler": "BruteForceSampler of shoal.samplers is Optuna's name. Use "
                         "shoal.samplers.GridSampler().",
    "NSGAIISampler": "NSGAIISampler of shoal.samplers is Optuna's name: shoal has no NSGA-II. "
                     "Leave sampler= out to use the default AutoSampler.",
    "NSGAIIISampler": "NSGAIIISampler of shoal.samplers is Optuna's name: shoal has no NSGA-III. "
                      "Leave sampler= out to use the default AutoSampler.",
}

# `shoal.study.<name>` and `shoal.trial.<name>`.
STUDY = {
    "StudyDirection": MODULES["StudyDirection"].replace("of shoal ", "of shoal.study "),
    "get_all_study_summaries": MODULES["get_all_study_summaries"].replace("of shoal ", "of shoal.study "),
}
TRIAL = {
    "Trial": "Trial of shoal.trial is Optuna's name for the live trial: shoal's is shoal.Trial "
             "(shoal.trial holds the records: FrozenTrial, TrialState).",
    "FixedTrial": "FixedTrial of shoal.trial is Optuna's name: shoal has none. Enqueue the "
                  "parameters with study.enqueue(params) and run the objective through the study.",
}


def missing(module: str, name: str, hints: dict[str, str]) -> AttributeError:
    """The error for `module.name`: OptunaName with its hint for Optuna's names, else the usual."""
    hint = hints.get(name)
    if hint is None:
        return AttributeError(f"module {module!r} has no attribute {name!r}")
    return OptunaName(f"{hint} See {DOC}.")


def fail(hint: str) -> OptunaName:
    """An OptunaName error with `hint` and where the full table is."""
    return OptunaName(f"{hint} See {DOC}.")


def renamed(old: str, new: str) -> None:
    """Warn that `old` is Optuna's old spelling, mapped to `new` (once per calling line)."""
    warnings.warn(f"{old} is Optuna's old name: shoal runs it as {new}. Write that instead.",
                  FutureWarning, stacklevel=3)
