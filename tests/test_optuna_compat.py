"""An Optuna user moves in minutes: Optuna-style scripts run with only `import shoal as optuna`,
and every Optuna name shoal spells differently fails at once, naming shoal's equivalent."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import shoal
from shoal._optuna_names import OptunaName
from shoal.exceptions import ConfigError
from shoal.samplers import RandomSampler

# --- Optuna-style scripts, as in Optuna's examples, with only the import swapped -----------------

SIMPLE = """
import shoal as optuna


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


if __name__ == "__main__":
    study = optuna.create_study()
    study.optimize(objective, n_trials=15)

    best_params = study.best_params
    found_x = best_params["x"]
    print("Found x: {}, (x - 2)^2: {}".format(found_x, (found_x - 2) ** 2))
"""

PRUNING = """
import shoal as optuna


def objective(trial):
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    n_units = trial.suggest_int("n_units", 4, 128, log=True)
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    loss = 1.0
    for step in range(10):
        loss = loss * (0.9 if optimizer == "adam" else 0.95) + abs(lr - 0.01) + 1.0 / n_units
        accuracy = 1.0 / (1.0 + loss)
        trial.report(accuracy, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return accuracy


if __name__ == "__main__":
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=12, timeout=600)

    pruned_trials = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.PRUNED])
    complete_trials = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])

    print("Study statistics: ")
    print("  Number of finished trials: ", len(study.trials))
    print("  Number of pruned trials: ", len(pruned_trials))
    print("  Number of complete trials: ", len(complete_trials))

    print("Best trial:")
    trial = study.best_trial
    print("  Value: ", trial.value)
    print("  Params: ")
    for key, value in trial.params.items():
        print("    {}: {}".format(key, value))
"""

RDB = """
import shoal as optuna


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", -5, 5)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return x**2 + y**2 + (0 if kind == "a" else 1)


if __name__ == "__main__":
    storage = "sqlite:///example.db"
    study = optuna.create_study(study_name="example-study", storage=storage, load_if_exists=True)
    study.enqueue_trial({"x": 0.0, "y": 0, "kind": "a"}, skip_if_exists=True)
    study.optimize(objective, n_trials=6)

    loaded = optuna.load_study(study_name="example-study", storage=storage)
    print("Trials: {}".format(len(loaded.trials)))
    print("Best value: {}".format(loaded.best_value))
    print("Best params: {}".format(loaded.best_trial.params))
    try:
        import pandas  # noqa: F401
    except ImportError:
        print("no pandas")
    else:
        df = study.trials_dataframe()
        print(df[["number", "value", "state"]].to_string())
"""

ASK_TELL = """
import shoal as optuna

study = optuna.create_study(direction="maximize")
for _ in range(8):
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    trial.set_user_attr("seen", len(trial.study.trials))
    study.tell(trial, x)

print("Best x: {:.3f}".format(study.best_params["x"]))
print("Seen: {}".format([t.user_attrs["seen"] for t in study.trials]))
"""

MULTIPROCESSING = """
import multiprocessing

import shoal as optuna


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


def run(study):
    study.optimize(objective, n_trials=3)


if __name__ == "__main__":
    study = optuna.create_study(study_name="mp", storage="sqlite:///mp.db",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    with multiprocessing.Pool(2) as pool:
        pool.map(run, [study, study])
    print("Trials: {}".format(len(study.trials)))
    print("States: {}".format(sorted({t.state.name for t in study.trials})))
"""


def _run_script(source: str, folder: Path) -> str:
    script = folder / "example.py"
    script.write_text(textwrap.dedent(source))
    src = str(Path(shoal.__file__).resolve().parents[1])  # this checkout's shoal, from any folder
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script)], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_simple_script_runs(tmp_path: Path) -> None:
    out = _run_script(SIMPLE, tmp_path)
    found = re.search(r"Found x: (\S+), \(x - 2\)\^2: (\S+)", out)
    assert found is not None, out
    assert -10 <= float(found[1]) <= 10
    assert float(found[2]) == pytest.approx((float(found[1]) - 2) ** 2)


def test_pruning_script_runs(tmp_path: Path) -> None:
    out = _run_script(PRUNING, tmp_path)
    finished = int(re.search(r"Number of finished trials:\s+(\d+)", out)[1])  # type: ignore[index]
    pruned = int(re.search(r"Number of pruned trials:\s+(\d+)", out)[1])  # type: ignore[index]
    complete = int(re.search(r"Number of complete trials:\s+(\d+)", out)[1])  # type: ignore[index]
    assert finished == 12
    assert pruned + complete == 12
    assert complete >= 1
    assert 0 < float(re.search(r"Value:\s+(\S+)", out)[1]) < 1  # type: ignore[index]
    assert re.search(r"optimizer: (sgd|adam)", out), out


def test_storage_script_resumes_and_does_not_enqueue_twice(tmp_path: Path) -> None:
    first = _run_script(RDB, tmp_path)
    assert "Trials: 6" in first
    assert "Best value: 0.0" in first  # the enqueued configuration is the optimum
    assert "Best params: {'x': 0.0, 'y': 0, 'kind': 'a'}" in first
    assert re.search(r"^\s*5\s+5\s+\S+\s+COMPLETE", first, re.MULTILINE), first  # the dataframe
    second = _run_script(RDB, tmp_path)  # load_if_exists: the same study grows
    assert "Trials: 12" in second
    study = shoal.load_study("example-study", storage=f"sqlite:///{tmp_path / 'example.db'}")
    enqueued = [t for t in study.trials if t.system_attrs.get("enqueued")]
    assert len(enqueued) == 1  # skip_if_exists kept the re-run from queueing its seed again


def test_ask_tell_script_runs_and_trial_study_works(tmp_path: Path) -> None:
    out = _run_script(ASK_TELL, tmp_path)
    assert re.search(r"Best x: 0\.\d{3}|Best x: 1\.000", out), out
    assert "Seen: [1, 2, 3, 4, 5, 6, 7, 8]" in out


def test_study_passed_to_multiprocessing_workers(tmp_path: Path) -> None:
    out = _run_script(MULTIPROCESSING, tmp_path)
    assert "Trials: 6" in out
    assert "States: ['COMPLETE']" in out


# --- Harmless spellings are accepted ------------------------------------------------------------

def _quadratic(trial: shoal.Trial) -> float:
    return float(trial.suggest_float("x", -1.0, 1.0)) ** 2


def test_study_name_is_accepted_by_create_and_load(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = shoal.create_study(study_name="mnist", storage=url, sampler=RandomSampler(seed=0))
    assert study.name == study.study_name == "mnist"
    assert shoal.load_study(study_name="mnist", storage=url).name == "mnist"
    assert shoal.create_study("mnist", study_name="mnist", storage=url, load_if_exists=True).name == "mnist"
    shoal.delete_study(study_name="mnist", storage=url)
    assert shoal.list_studies(storage=url) == []


def test_study_name_and_a_different_name_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"study_name of create_study must equal name .* Pass only one"):
        shoal.create_study("a", study_name="b")
    with pytest.raises(ConfigError, match=r"name of load_study must be given"):
        shoal.load_study(storage="memory")


def test_get_trials_takes_deepcopy_and_states() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))
    study.optimize(_quadratic, n_trials=3)
    study.tell(study.ask(), state=shoal.TrialState.PRUNED)
    complete = study.get_trials(deepcopy=False, states=[shoal.TrialState.COMPLETE])
    assert [t.number for t in complete] == [0, 1, 2]
    assert study.get_trials(deepcopy=True) == study.trials
    assert [t.number for t in study.get_trials(states=(shoal.TrialState.PRUNED,))] == [3]


def test_enqueue_trial_and_skip_if_exists() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))
    assert study.enqueue_trial({"x": 0.5}, user_attrs={"why": "seed"}) == 0
    assert study.enqueue_trial({"x": 0.5}, skip_if_exists=True) is None
    assert study.enqueue_trial({"x": 0.25}, skip_if_exists=True) == 1
    study.optimize(_quadratic, n_trials=2)
    assert [t.params["x"] for t in study.trials] == [0.5, 0.25]
    assert study.trials[0].user_attrs == {"why": "seed"}
    assert study.enqueue_trial({"x": 0.5}, skip_if_exists=True) is None  # also once it has run


def test_trial_study_is_the_study() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))
    seen: list[Any] = []
    study.optimize(lambda trial: seen.append(trial.study) or 0.0, n_trials=1)
    assert seen == [study]


def test_frozen_trial_intermediate_values_as_optuna_spells_it() -> None:
    study = shoal.create_study(direction="maximize", sampler=RandomSampler(seed=0))

    def objective(trial: shoal.Trial) -> float:
        for step in range(3):
            trial.report(0.5 + step / 10, step)
        return 0.7

    study.optimize(objective, n_trials=1)
    assert study.best_trial.intermediate_values == {0: 0.5, 1: 0.6, 2: 0.7}
    assert study.best_trial.intermediate_values == dict(study.best_trial.intermediate)


def test_old_suggest_names_run_suggest_float_and_say_so() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))
    trial = study.ask()
    with pytest.warns(FutureWarning, match=r"suggest_uniform is Optuna's old name: shoal runs it as "
                                           r"suggest_float\('a', 0.0, 1.0\)"):
        a = trial.suggest_uniform("a", 0.0, 1.0)
    with pytest.warns(FutureWarning, match=r"suggest_float\('b', 1e-05, 1.0, log=True\)"):
        b = trial.suggest_loguniform("b", 1e-5, 1.0)
    assert 0.0 <= a <= 1.0
    assert 1e-5 <= b <= 1.0
    assert trial.distributions["a"] == shoal.Float(0.0, 1.0, name="a")
    assert trial.distributions["b"] == shoal.Float(1e-5, 1.0, scale="log", name="b")


# --- Pickling ------------------------------------------------------------------------------------

def test_a_study_pickles_by_storage_url_without_threads_caches_or_live_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    study = shoal.create_study(study_name="p", storage=url, direction="maximize",
                               sampler=RandomSampler(seed=3), heartbeat=shoal.Heartbeat(interval=5.0))
    study.optimize(_quadratic, n_trials=2)
    running = study.ask()  # a live trial and a heartbeat thread in this process
    copy = pickle.loads(pickle.dumps(study))
    assert copy.name == "p"
    assert copy.storage.url == url
    assert copy.direction is study.direction
    assert copy.sampler.seed == 3
    assert copy.heartbeat == shoal.Heartbeat(interval=5.0)
    assert copy.storage is not study.storage  # reconnected, not shared
    assert copy._live == {}
    assert copy._cache == []
    assert copy._beats is not study._beats
    assert [t.number for t in copy.trials] == [0, 1, 2]  # read back from storage
    copy.optimize(_quadratic, n_trials=1)
    study.tell(running, 0.5)
    assert len(study.trials) == 4
    assert study.best_value == max(t.value for t in study.trials if t.value is not None)


def test_an_in_memory_study_refuses_to_pickle_in_one_line() -> None:
    study = shoal.create_study(study_name="mem")
    with pytest.raises(ConfigError, match=r"^storage of study 'mem' must be a database for the study "
                                          r"to pickle; .* Use create_study\(\.\.\., storage='sqlite:///"):
        pickle.dumps(study)


# --- Optuna-only names fail at once, naming shoal's equivalent ----------------------------------

FAILS_AT_ONCE: list[tuple[str, Callable[[], object], str]] = [
    ("pruners", lambda: shoal.pruners.MedianPruner(),  # type: ignore[attr-defined]
     r"shoal calls them schedulers\. Use create_study\(scheduler=shoal\.schedulers\.MedianStopping\(\)\)"),
    ("distributions", lambda: shoal.distributions.FloatDistribution(0, 1),  # type: ignore[attr-defined]
     r"Use shoal\.Float\(low, high, scale='log'\) for FloatDistribution.*shoal\.Int.*shoal\.Categorical"),
    ("storages", lambda: shoal.storages.RDBStorage("sqlite://", heartbeat_interval=60),  # type: ignore[attr-defined]
     r"storage='sqlite:///shoal\.db', heartbeat=shoal\.Heartbeat\(interval=60\)\) for RDBStorage"),
    ("integration", lambda: shoal.integration.PyTorchLightningPruningCallback,  # type: ignore[attr-defined]
     r"Use shoal\.torch for PyTorch"),
    ("logging", lambda: shoal.logging.set_verbosity(30),  # type: ignore[attr-defined]
     r"Use logging\.getLogger\('shoal'\)\.setLevel\(logging\.WARNING\)"),
    ("importance", lambda: shoal.importance.get_param_importances,  # type: ignore[attr-defined]
     r"Use shoal\.analysis\.importances\(study\.trials\)\.main"),
    ("study.StudyDirection", lambda: shoal.study.StudyDirection,  # type: ignore[attr-defined]
     r"Use shoal\.Direction"),
    ("trial.Trial", lambda: shoal.trial.Trial,  # type: ignore[attr-defined]
     r"shoal's is shoal\.Trial"),
    ("samplers.CmaEsSampler", lambda: shoal.samplers.CmaEsSampler(),  # type: ignore[attr-defined]
     r"shoal has no CMA-ES\. Use shoal\.samplers\.GPSampler\(\)"),
    ("create_study(pruner=)", lambda: shoal.create_study(pruner=object()),
     r"^pruner of create_study is Optuna's name: shoal calls it scheduler=\. "
     r"Use scheduler=shoal\.schedulers\.MedianStopping\(\)\."),
    ("load_study(pruner=)", lambda: shoal.load_study("x", pruner=object()),
     r"^pruner of load_study is Optuna's name: shoal calls it scheduler="),
]


@pytest.mark.parametrize(("name", "use", "hint"), FAILS_AT_ONCE, ids=[f[0] for f in FAILS_AT_ONCE])
def test_optuna_only_names_fail_at_once_naming_the_equivalent(name: str, use: Callable[[], object],
                                                              hint: str) -> None:
    with pytest.raises(OptunaName, match=hint) as caught:
        use()
    message = str(caught.value)
    assert "\n" not in message
    assert message.endswith("See docs/coming-from-optuna.md.")
    assert isinstance(caught.value, AttributeError)
    assert isinstance(caught.value, ConfigError)


def test_unknown_names_raise_a_plain_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"^module 'shoal' has no attribute 'no_such_name'$") as caught:
        shoal.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    assert not isinstance(caught.value, OptunaName)
    assert not hasattr(shoal, "pruners")
    assert not hasattr(shoal.samplers, "NoSuchSampler")
    assert getattr(shoal, "logging", None) is None


def test_an_optuna_name_in_the_objective_stops_the_run_at_the_first_trial() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))

    def objective(trial: shoal.Trial) -> float:
        return float(shoal.distributions.FloatDistribution(0.0, 1.0).low)  # type: ignore[attr-defined]

    with pytest.raises(OptunaName, match=r"Use shoal\.Float\(low, high, scale='log'\)"):
        study.optimize(objective, n_trials=20)
    assert len(study.trials) == 1  # not 20 failed trials


def test_suggest_discrete_uniform_runs_suggest_float_with_step() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))
    trial = study.ask()
    with pytest.warns(FutureWarning, match=r"suggest_discrete_uniform is Optuna's old name: shoal "
                                           r"runs it as suggest_float\('x', 0.0, 1.0, step=0.25\)"):
        x = trial.suggest_discrete_uniform("x", 0.0, 1.0, 0.25)
    assert x in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert trial.distributions["x"] == shoal.Float(0.0, 1.0, step=0.25, name="x")


def test_pruner_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nothing.db'}"
    with pytest.raises(OptunaName, match=r"Use scheduler=shoal\.schedulers\.MedianStopping\(\)"):
        shoal.create_study(study_name="mnist", storage=url, pruner=object())
    assert not (tmp_path / "nothing.db").exists()  # refused before the storage was opened


def test_optuna_plot_names_resolve_to_shoals_plots() -> None:
    """`shoal.visualization.plot_*` keeps Optuna's names (loaded on first use, like Optuna's)."""
    plots = shoal.visualization  # type: ignore[attr-defined]
    for name in ("plot_optimization_history", "plot_intermediate_values", "plot_parallel_coordinate",
                 "plot_contour", "plot_slice", "plot_param_importances", "plot_pareto_front",
                 "plot_timeline"):
        assert callable(getattr(plots, name))
