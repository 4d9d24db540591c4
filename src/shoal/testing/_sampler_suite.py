"""The conformance suite every sampler must pass: subclass `SamplerSuite` and name the factory."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

from shoal.exceptions import ConfigError, SearchSpaceExhausted
from shoal.samplers import DescribesTrials, History, Sampler, sampler_rng
from shoal.space import Categorical, Fixed, Float, Int, Space
from shoal.testing._mo_cases import MultiObjectiveCases, mo_histories
from shoal.trial import FrozenTrial, TrialState

__all__ = ["SUITE_SPACES", "SamplerSuite"]

_SEED = 7


def _spaces() -> dict[str, Callable[[], Space]]:
    return {
        "float_linear": lambda: Space({"x": Float(-2.0, 3.0)}),
        "float_log": lambda: Space({"lr": Float(1e-5, 1.0, scale="log")}),
        "float_one_minus_log": lambda: Space({"momentum": Float(0.9, 0.999, scale="one_minus_log")}),
        "int_step": lambda: Space({"n": Int(0, 20, step=4)}),
        "int_negative": lambda: Space({"shift": Int(-3, 3)}),
        "int_log": lambda: Space({"units": Int(1, 1000, log=True)}),
        "int_power_of_two": lambda: Space({"batch": Int(16, 1024, power_of_two=True)}),
        "categorical_mixed": lambda: Space(
            {"c": Categorical(["a", 1, 2.5, None, True, False])}),
        "fixed": lambda: Space({"epochs": Fixed(10), "tag": Fixed(None), "x": Float(0.0, 1.0)}),
        "mixed": lambda: Space({
            "x": Float(-2.0, 3.0), "lr": Float(1e-5, 1.0, scale="log"),
            "momentum": Float(0.9, 0.999, scale="one_minus_log"), "n": Int(0, 20, step=4),
            "units": Int(1, 1000, log=True), "batch": Int(16, 1024, power_of_two=True),
            "c": Categorical(["a", 1, 2.5, None, True, False]), "epochs": Fixed(10),
        }),
        "conditional": lambda: Space({
            "optimizer": Categorical(["sgd", "adam", "rmsprop"]),
            "lr": Float(1e-5, 1.0, scale="log"),
            "momentum": Float(0.8, 0.999, scale="one_minus_log", when={"optimizer": ["sgd"]}),
            "nesterov": Categorical([True, False], when={"optimizer": ["sgd"]}),
            "dampening": Float(0.0, 0.5, when={"nesterov": [False]}),  # a grandchild
            "beta2": Float(0.9, 0.9999, scale="one_minus_log", when={"optimizer": ["adam"]}),
            "eps": Float(1e-10, 1e-6, scale="log", when={"optimizer": ["adam", "rmsprop"]}),
        }),
        "conditional_int_parent": lambda: Space({
            "layers": Int(1, 3),
            "width_2": Int(8, 64, step=8, when={"layers": [2, 3]}),
            "width_3": Int(8, 64, step=8, when={"layers": [3]}),
            "act": Categorical(["relu", "gelu"]),
        }),
    }


#: The spaces the suite draws from, by name: every parameter kind and two conditional spaces.
SUITE_SPACES: dict[str, Callable[[], Space]] = _spaces()

def _finite_space() -> Space:
    """A small finite space: 2 x 3 configurations for sgd plus 3 for adam, 9 in all."""
    return Space({
        "opt": Categorical(["sgd", "adam"]),
        "nesterov": Categorical([True, False], when={"opt": ["sgd"]}),
        "layers": Int(1, 3),
    })


class SamplerSuite(MultiObjectiveCases):
    """Conformance tests for a sampler: subclass it in a test file and define `make_sampler`.

    The suite builds `History` objects from `FrozenTrial` records directly (no study, no
    storage) and checks that the sampler:

    - returns valid configurations (`space.validate`, and no value for an inactive parameter)
      for every parameter kind (Float on each scale, Int on a step grid, log and power-of-two,
      Categorical of mixed types with None and bools, Fixed) and for conditional spaces;
    - copes with failed trials, NaN and infinite scores, pruned trials with intermediate values,
      running and waiting trials without parameters, enqueued trials, and maximised objectives;
    - is reproducible: the same seed, history and trial number give the same configuration, in
      this process, after pickling, and in a fresh Python process;
    - raises `SearchSpaceExhausted` only once it has proposed every configuration, without
      repeating one (never for the first trial), and does not propose one configuration over
      and over;
    - draws independently per parameter: two parameters asked alone (as in define-by-run, where
      each parameter first seen in a trial is a one-parameter space) with the same history and
      generators in the same state do not get the same (or correlated) quantiles;
    - refuses a seed that is not an integer >= 0 or None at construction (`ConfigError`);
    - if it has a `describe(space, history)` hook (`DescribesTrials`), returns JSON-serialisable
      attributes, the same for the same inputs;
    - with `multi_objective = True` (`MultiObjectiveCases`): proposes valid configurations from
      histories of 2 and 3 objectives in mixed directions, with failed, pruned, running and
      infeasible trials, reproducibly, and does not collapse onto one end of a front where every
      point is Pareto-optimal; without it, `create_study` refuses it for several objectives
      (the other multi-objective cases are skipped, saying so). A sampler that declares the
      capability but waits on parts that lack it sets `multi_objective_pending` to the reason.

    Override `make_sampler_for(space, seed)` when the sampler must be configured for a space
    (a grid naming points for its continuous parameters). Samplers are called with
    `sampler_rng(sampler.seed, number)`, as the study does.

    Example (a whole test file; pytest collects it through the `Test` prefix):

    >>> from shoal.samplers import RandomSampler
    >>> class TestRandomSampler(SamplerSuite):
    ...     def make_sampler(self, seed):
    ...         return RandomSampler(seed=seed)
    >>> TestRandomSampler().make_sampler(0)
    RandomSampler(seed=0)
    """

    #: Trials drawn in each simulated study.
    n_trials: ClassVar[int] = 12
    #: Whether different seeds give different studies (False for an unshuffled grid).
    seeded: ClassVar[bool] = True

    def make_sampler(self, seed: Any) -> Sampler:
        """Return a new sampler seeded with `seed` (passed on to the constructor as given)."""
        raise NotImplementedError("define make_sampler(self, seed) in the SamplerSuite subclass")

    def make_sampler_for(self, space: Space, seed: int | None) -> Sampler:
        """Return a new sampler for `space`; the default ignores the space."""
        return self.make_sampler(seed)

    # Helpers ----------------------------------------------------------------------------------
    def run_study(self, sampler: Sampler, space: Space, n: int) -> list[FrozenTrial]:
        """Simulate a study of `n` trials with mixed outcomes; validate every suggestion.

        Stops early, returning the trials so far, when the sampler raises SearchSpaceExhausted;
        then the sampler must not have proposed any configuration twice.
        """
        trials: list[FrozenTrial] = []
        for number in range(n):
            history = History((*trials, FrozenTrial(number, number, TrialState.RUNNING)), number)
            try:
                params = sampler.suggest(space, history, sampler_rng(sampler.seed, number))
            except SearchSpaceExhausted:
                assert number > 0, "SearchSpaceExhausted before any trial was proposed"
                keys = [canonical(t.params) for t in trials]
                assert len(set(keys)) == len(keys), (
                    f"{sampler!r} raised SearchSpaceExhausted after proposing a configuration "
                    "twice")
                break
            check_params(space, params)
            trials.append(_finished(number, params, space))
        return trials

    # Tests ------------------------------------------------------------------------------------
    def test_is_a_sampler(self) -> None:
        sampler = self.make_sampler(_SEED)
        assert isinstance(sampler, Sampler)
        assert sampler.seed == _SEED

    @pytest.mark.parametrize("space_name", list(SUITE_SPACES))
    def test_suggestions_are_valid(self, space_name: str) -> None:
        space = SUITE_SPACES[space_name]()
        trials = self.run_study(self.make_sampler_for(space, _SEED), space, self.n_trials)
        assert trials, "the sampler proposed nothing"

    @pytest.mark.parametrize("space_name", list(SUITE_SPACES))
    def test_unusual_histories(self, space_name: str) -> None:
        space = SUITE_SPACES[space_name]()
        sampler = self.make_sampler_for(space, _SEED)
        suggested = [_suggest_or_none(sampler, space, h) for h in _unusual_histories(space)]
        assert any(p is not None for p in suggested), "the sampler proposed nothing"

    @pytest.mark.parametrize("space_name", ["mixed", "conditional"])
    def test_same_inputs_same_suggestion(self, space_name: str) -> None:
        space = SUITE_SPACES[space_name]()
        first, second = (self.make_sampler_for(space, _SEED) for _ in range(2))
        for history in _unusual_histories(space):
            expected = _suggest_or_none(first, space, history)
            again = _suggest_or_none(first, space, history)  # stateless: no drift between calls
            other = _suggest_or_none(second, space, history)
            assert canonical(again) == canonical(expected) == canonical(other)

    def test_whole_study_is_reproducible(self) -> None:
        space = SUITE_SPACES["conditional"]()
        runs = [self.run_study(self.make_sampler_for(space, _SEED), space, self.n_trials)
                for _ in range(2)]
        assert [canonical(t.params) for t in runs[0]] == [canonical(t.params) for t in runs[1]]

    def test_pickles(self) -> None:
        space = SUITE_SPACES["mixed"]()
        sampler = self.make_sampler_for(space, _SEED)
        copy = pickle.loads(pickle.dumps(sampler))
        for history in _unusual_histories(space):
            assert canonical(_suggest_or_none(copy, space, history)) == canonical(
                _suggest_or_none(sampler, space, history))

    def test_reproducible_in_a_fresh_process(self) -> None:
        space = SUITE_SPACES["conditional"]()
        sampler = self.make_sampler_for(space, _SEED)
        histories = [_unusual_histories(space)[0]]
        if self.handles_several_objectives(sampler):  # and a 3-objective history with constraints
            histories.append(mo_histories(space, 3)[0])
        script = ("import pickle, sys\n"
                  "from shoal.samplers import sampler_rng\n"
                  "sampler, space, histories = pickle.loads(sys.stdin.buffer.read())\n"
                  "params = [sampler.suggest(space, h, sampler_rng(sampler.seed, h.number))\n"
                  "          for h in histories]\n"
                  "sys.stdout.buffer.write(pickle.dumps(params))\n")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              input=pickle.dumps((sampler, space, histories)), timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        there = pickle.loads(done.stdout)
        assert [canonical(p) for p in there] == [
            canonical(_suggest_or_none(sampler, space, h)) for h in histories]

    def test_exhausts_only_when_exhausted(self) -> None:
        space = _finite_space()
        every = {canonical(c) for c in _all_configs(space)}
        n = 2 * len(every) + 2
        trials = self.run_study(self.make_sampler_for(space, _SEED), space, n)
        if len(trials) < n:  # it gave up: it must have tried everything first
            assert {canonical(t.params) for t in trials} == every

    def test_does_not_repeat_itself(self) -> None:
        space = SUITE_SPACES["mixed"]()
        trials = self.run_study(self.make_sampler_for(space, _SEED), space, self.n_trials)
        distinct = {canonical(t.params) for t in trials}
        assert len(distinct) > len(trials) // 2, (
            f"{len(distinct)} distinct configurations in {len(trials)} trials")

    def test_seed_changes_the_study(self) -> None:
        if not self.seeded:
            pytest.skip("the sampler's draws do not depend on its seed")
        space = SUITE_SPACES["mixed"]()
        runs = [[canonical(t.params) for t in self.run_study(
            self.make_sampler_for(space, seed), space, self.n_trials)] for seed in (_SEED, _SEED + 1)]
        assert runs[0] != runs[1], "seeds 7 and 8 gave the same study"

    @pytest.mark.parametrize("seed", ["a", 1.5, -1, True])
    def test_refuses_a_bad_seed(self, seed: Any) -> None:
        with pytest.raises(ConfigError, match=r"^seed of \w+ must be an integer >= 0 or None\. "):
            self.make_sampler(seed)

    def test_parameters_asked_alone_draw_independently(self) -> None:
        """Issue 15: define-by-run asks each new parameter alone; a = b = c was the result."""
        alone = {name: Space({name: Float(0.0, 1.0)}) for name in ("a", "b")}
        sampler = self.make_sampler_for(Space(
            {name: Float(0.0, 1.0) for name in alone}), _SEED)
        n, checked = 40, 0
        for kind, history_of in _first_draw_histories(n):
            pairs = []
            for number in range(n):
                history = history_of(number)
                draws = [_suggest_or_none(sampler, s, history) for s in alone.values()]
                if draws[0] is None or draws[1] is None:
                    break  # a finite grid is used up
                pairs.append((draws[0]["a"], draws[1]["b"]))
            if not pairs:  # a grid used up by the earlier trials: nothing to compare here
                continue
            checked += 1
            assert len(pairs) >= 8, f"only {len(pairs)} draws before exhaustion ({kind})"
            a, b = np.array(pairs).T
            for name, x in (("a", a), ("b", b)):  # knowing nothing of it: not only at the bounds
                assert len(np.unique(x)) >= 3, (
                    f"{len(np.unique(x))} distinct values of {name!r} in {len(x)} trials where "
                    f"it was asked alone ({kind} history): {sorted(set(x.tolist()))[:6]}")
            same = int(np.sum(np.isclose(a, b, rtol=0, atol=1e-9)))
            assert same < len(pairs) / 2, (
                f"{same} of {len(pairs)} trials drew a == b for two parameters asked alone "
                f"({kind} history): the draws must depend on the parameter's name")
            corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 1.0
            assert abs(corr) < 0.6, (
                f"draws of two parameters asked alone correlate at {corr:.2f} ({kind} history)")
        assert checked, "no history left a draw to compare"

    def test_describe_is_json_and_pure(self) -> None:
        if not isinstance(self.make_sampler(_SEED), DescribesTrials):
            pytest.skip("the sampler has no describe hook")
        for space_name in ("mixed", "conditional", "float_log"):
            space = SUITE_SPACES[space_name]()
            sampler = self.make_sampler_for(space, _SEED)
            assert isinstance(sampler, DescribesTrials)
            describe = sampler.describe
            for history in (*_unusual_histories(space), *_study_histories(self, sampler, space)):
                attrs = describe(space, history)
                assert isinstance(attrs, dict)
                text = json.dumps(attrs, allow_nan=False, sort_keys=True)
                assert json.dumps(describe(space, history), allow_nan=False,
                                  sort_keys=True) == text


def canonical(params: Any) -> Any:
    """A comparable form of a configuration that tells 1, 1.0 and True apart."""
    if params is None:
        return None
    return tuple(sorted((name, type(v).__name__, repr(v)) for name, v in params.items()))


def check_params(space: Space, params: dict[str, Any]) -> None:
    """A valid configuration, with values for the active parameters and no others."""
    space.validate(params)
    extra = set(params) - set(space.active_names(params))
    assert not extra, f"values given for inactive parameters {sorted(extra)}: {params!r}"


def _suggest_or_none(sampler: Sampler, space: Space, history: History) -> dict[str, Any] | None:
    """The checked suggestion, or None where a sampler with a finite grid has nothing left.

    Exhaustion before any trial was drawn (position 0) is a failure, not None: a sampler that
    always raises `SearchSpaceExhausted` must not pass the tests built on this.
    """
    try:
        params = sampler.suggest(space, history, sampler_rng(sampler.seed, history.number))
    except SearchSpaceExhausted:
        assert history.position > 0, (
            f"{sampler!r} raised SearchSpaceExhausted before any trial was proposed")
        return None
    check_params(space, params)
    return params


def _first_draw_histories(n: int) -> list[tuple[str, Callable[[int], History]]]:
    """Histories for trial `number` < n: where a sampler asks about a parameter it never saw."""
    rng = np.random.default_rng(99)
    other = Space({"x": Float(-1.0, 1.0), "k": Categorical(["u", "v"])})
    done = [FrozenTrial(i, i, TrialState.COMPLETE, params=p, distributions=dict(other.items()),
                        values=(float(np.sum(other.encode(p))),))
            for i, p in enumerate(other.sample(rng) for _ in range(12))]

    def running(number: int) -> History:  # parallel workers: every earlier trial still running
        return History([FrozenTrial(i, i, TrialState.RUNNING) for i in range(number + 1)], number)

    def after(number: int) -> History:  # a conditional branch first taken after 12 trials
        k = len(done)
        return History([*done, *(FrozenTrial(k + i, k + i, TrialState.RUNNING)
                                 for i in range(number + 1))], k + number)

    return [("running", running), ("after other parameters", after)]


def _objective(space: Space, params: dict[str, Any]) -> float:
    u = space.encode(params)
    return float(np.nansum((u - 0.3) ** 2))


def _finished(number: int, params: dict[str, Any], space: Space) -> FrozenTrial:
    """A finished trial whose outcome cycles through complete, failed, NaN and pruned."""
    dists = {name: space[name] for name in params}
    kind = number % 6
    score = _objective(space, params)
    if kind == 3:
        return FrozenTrial(number, number, TrialState.FAILED, params=params, distributions=dists,
                           system_attrs={"fail_reason": "ValueError: boom"})
    if kind == 4:
        return FrozenTrial(number, number, TrialState.PRUNED, params=params, distributions=dists,
                           intermediate={0: score + 1.0, 1: score + 0.5})
    value = math.nan if kind == 5 else score
    return FrozenTrial(number, number, TrialState.COMPLETE, params=params, distributions=dists,
                       values=(value,))


def _unusual_histories(space: Space) -> list[History]:
    """Histories with every kind of awkward trial a sampler meets in a real study."""
    rng = np.random.default_rng(2024)
    trials: list[FrozenTrial] = []

    def add(state: TrialState, *, params: bool = True, **kwargs: Any) -> None:
        values = space.sample(rng) if params else {}
        trials.append(FrozenTrial(len(trials), 1000 + len(trials), state, params=values,
                                  distributions={k: space[k] for k in values}, **kwargs))

    for _ in range(4):
        add(TrialState.COMPLETE, values=(float(rng.normal()),))
    add(TrialState.FAILED, system_attrs={"fail_reason": "CUDA out of memory"})
    add(TrialState.COMPLETE, values=(math.nan,))
    add(TrialState.COMPLETE, values=(math.inf,))
    add(TrialState.COMPLETE, values=(-math.inf,))
    add(TrialState.PRUNED, intermediate={0: 2.0, 1: 1.5, 5: 1.2})
    add(TrialState.PRUNED, intermediate={0: math.nan})
    add(TrialState.PRUNED)
    add(TrialState.COMPLETE, values=(0.5,), signs=(-1.0,))  # from a maximised objective
    add(TrialState.COMPLETE, values=(0.1,), system_attrs={"fixed_params": True})  # enqueued
    add(TrialState.RUNNING, params=False)
    add(TrialState.WAITING, params=False)
    for _ in range(10):
        add(TrialState.COMPLETE, values=(float(rng.normal()),))
    add(TrialState.RUNNING, params=False)
    failed_only = [FrozenTrial(i, i, TrialState.FAILED, params=space.sample(rng))
                   for i in range(3)]
    nan_only = [FrozenTrial(i, i, TrialState.COMPLETE, params=space.sample(rng),
                            values=(math.nan,)) for i in range(3)]
    # The trial being filled is in the history as RUNNING, as a study creates it before asking.
    return [
        History(trials, len(trials) - 1),
        History(trials[:5], 5),
        History(trials, len(trials)),
        History([*failed_only, FrozenTrial(3, 3, TrialState.RUNNING)], 3),
        History(nan_only, 3),
        History([], 0),
    ]


def _study_histories(suite: SamplerSuite, sampler: Sampler, space: Space) -> Iterator[History]:
    """The histories each trial of a simulated study was drawn from."""
    trials = suite.run_study(sampler, space, suite.n_trials)
    for number in range(len(trials)):
        yield History((*trials[:number], FrozenTrial(number, number, TrialState.RUNNING)), number)


def _all_configs(space: Space) -> list[dict[str, Any]]:
    """Every valid configuration of a space without Float parameters."""
    configs: list[dict[str, Any]] = [{}]
    for name, param in space.items():
        grown = []
        for config in configs:
            if not space.is_active(name, config):
                grown.append(config)
                continue
            if isinstance(param, Categorical):
                values: list[Any] = list(param.choices)
            elif isinstance(param, Fixed):
                values = [param.value]
            elif isinstance(param, Int):
                values = [v for v in range(param.low, param.high + 1) if param.contains(v)]
            else:
                raise TypeError(f"_all_configs needs a finite space; {name!r} is continuous")
            grown.extend({**config, name: v} for v in values)
        configs = grown
    return configs
