"""The sampler suite's cases for studies with several objectives (mixed into `SamplerSuite`)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from shoal.exceptions import ConfigError, SearchSpaceExhausted
from shoal.samplers import History, Sampler, sampler_rng
from shoal.space import Float, Space
from shoal.trial import FrozenTrial, TrialState

__all__ = ["MultiObjectiveCases", "mo_histories", "spread_of_proposals"]

_SEED = 7
#: Mixed directions: the second objective is maximised (sign -1).
_SIGNS = (1.0, -1.0, 1.0)
#: The collapse check: a study of 30 trials on f(x) = (x, 1 - x), where every point is
#: Pareto-optimal; its last 10 proposals must fall in at least 4 of 10 equal bins of x.
#: Ten uniform draws leave fewer than 4 bins with probability 0.0007 (random search passes);
#: a sampler that optimises one objective puts them in one or two bins at an end.
SPREAD_TRIALS, SPREAD_LAST, SPREAD_BINS, SPREAD_MIN = 30, 10, 10, 4


def spread_of_proposals(sampler: Sampler, space: Space) -> tuple[list[float], int]:
    """The x proposed in a study of f(x) = (x, 1 - x), and how many are judged (the last ones).

    The second objective is maximised as x - 1, so its score is 1 - x. A sampler that raises
    `SearchSpaceExhausted` ends the study early; then every proposal is judged.
    """
    trials: list[FrozenTrial] = []
    for number in range(SPREAD_TRIALS):
        filling = FrozenTrial(number, number, TrialState.RUNNING, signs=(1.0, -1.0))
        history = History((*trials, filling), number)
        try:
            params = sampler.suggest(space, history, sampler_rng(sampler.seed, number))
        except SearchSpaceExhausted:
            break
        space.validate(params)
        x = float(params["x"])
        trials.append(FrozenTrial(number, number, TrialState.COMPLETE, params=params,
                                  distributions=dict(space.items()), values=(x, x - 1.0),
                                  signs=(1.0, -1.0)))
    xs = [float(t.params["x"]) for t in trials]
    return xs, SPREAD_LAST if len(xs) == SPREAD_TRIALS else len(xs)


class MultiObjectiveCases:
    """Cases for a sampler with `multi_objective = True`; skipped, with the reason, for any other.

    Histories of 2 and 3 objectives in mixed directions, with complete, failed, pruned, running
    and waiting trials and constraints violated by some; the checks: valid proposals, the same
    proposal for the same inputs, a reproducible study, no collapse onto one end of a front
    where every point is Pareto-optimal, and `create_study` refusing a sampler that does not
    declare the capability.
    """

    #: A reason to skip the multi-objective cases of a sampler that declares the capability but
    #: relies on parts that do not have it yet (empty: run them).
    multi_objective_pending: ClassVar[str] = ""

    def make_sampler_for(self, space: Space, seed: int | None) -> Sampler:
        raise NotImplementedError("MultiObjectiveCases is mixed into SamplerSuite")

    def handles_several_objectives(self, sampler: Sampler) -> bool:
        """Whether the multi-objective cases run for `sampler` (declared and not pending)."""
        return getattr(type(sampler), "multi_objective", False) is True \
            and not self.multi_objective_pending

    def _mo_sampler(self, space: Space) -> Sampler:
        """The sampler for `space`, or a skip saying why its multi-objective cases do not run."""
        sampler = self.make_sampler_for(space, _SEED)
        name = type(sampler).__name__
        if getattr(type(sampler), "multi_objective", False) is not True:
            pytest.skip(f"{name} does not declare multi_objective = True, so create_study refuses "
                        "it for several objectives (test_refused_unless_multi_objective checks that)")
        if self.multi_objective_pending:
            pytest.skip(f"{name}: {self.multi_objective_pending}")
        return sampler

    def _mo_suggest(self, sampler: Sampler, space: Space, history: History) -> dict[str, Any] | None:
        try:
            params = sampler.suggest(space, history, sampler_rng(sampler.seed, history.number))
        except SearchSpaceExhausted:
            assert history.position > 0, f"{sampler!r} exhausted before any trial was proposed"
            return None
        from shoal.testing._sampler_suite import check_params  # that module imports this one

        check_params(space, params)
        return params

    def _mo_study(self, sampler: Sampler, space: Space, n_objectives: int, n: int) -> list[FrozenTrial]:
        trials: list[FrozenTrial] = []
        for number in range(n):
            filling = FrozenTrial(number, number, TrialState.RUNNING, signs=_SIGNS[:n_objectives])
            history = History((*trials, filling), number)
            params = self._mo_suggest(sampler, space, history)
            if params is None:
                break
            trials.append(_mo_finished(number, params, space, n_objectives))
        return trials

    @pytest.mark.parametrize("n_objectives", [2, 3])
    def test_several_objectives_valid(self, n_objectives: int) -> None:
        for space_name in ("mixed", "conditional"):
            space = _space(space_name)
            trials = self._mo_study(self._mo_sampler(space), space, n_objectives, 12)
            assert trials, f"the sampler proposed nothing ({space_name} space)"

    @pytest.mark.parametrize("n_objectives", [2, 3])
    def test_several_objectives_unusual_histories(self, n_objectives: int) -> None:
        space = _space("mixed")
        sampler = self._mo_sampler(space)
        suggested = [self._mo_suggest(sampler, space, h) for h in mo_histories(space, n_objectives)]
        assert any(p is not None for p in suggested), "the sampler proposed nothing"

    @pytest.mark.parametrize("n_objectives", [2, 3])
    def test_several_objectives_reproducible(self, n_objectives: int) -> None:
        from shoal.testing._sampler_suite import canonical

        space = _space("conditional")
        first = self._mo_sampler(space)
        second = self.make_sampler_for(space, _SEED)
        for history in mo_histories(space, n_objectives):
            expected = canonical(self._mo_suggest(first, space, history))
            assert canonical(self._mo_suggest(first, space, history)) == expected
            assert canonical(self._mo_suggest(second, space, history)) == expected
        runs = [[canonical(t.params) for t in self._mo_study(
            self.make_sampler_for(space, _SEED), space, n_objectives, 12)] for _ in range(2)]
        assert runs[0] == runs[1]

    def test_several_objectives_do_not_collapse(self) -> None:
        """The issue's case: on a front of Pareto-optimal points, not 20 of 20 trials at one end."""
        space = Space({"x": Float(0.0, 1.0)})
        xs, last = spread_of_proposals(self._mo_sampler(space), space)
        judged = xs[-last:]
        bins = {min(int(x * SPREAD_BINS), SPREAD_BINS - 1) for x in judged}
        need = min(SPREAD_MIN, len(judged))
        assert judged, "the sampler proposed nothing"
        assert len(bins) >= need, (
            f"the last {len(judged)} proposals on f(x) = (x, 1 - x), where every point is "
            f"Pareto-optimal, fall in {len(bins)} of {SPREAD_BINS} bins of x (at least {need} "
            f"wanted): {sorted(round(x, 3) for x in judged)}")

    def test_refused_unless_multi_objective(self) -> None:
        import shoal

        space = Space({"x": Float(0.0, 1.0)})
        sampler = self.make_sampler_for(space, _SEED)
        name = type(sampler).__name__
        if getattr(type(sampler), "multi_objective", False) is not True:
            with pytest.raises(ConfigError, match=rf"^sampler of study 'mo' must handle 2 "
                                                  rf"objectives; {name} ranks trials by one\."):
                shoal.create_study("mo", directions=["minimize", "maximize"], sampler=sampler)
            return
        self._mo_sampler(space)  # skips while pending
        study = shoal.create_study("mo", directions=["minimize", "maximize"], sampler=sampler,
                                   space=space)
        for _ in range(3):  # a grid of three points has three
            trial = study.ask()
            x = float(trial.params["x"])
            study.tell(trial, [x, x - 1.0])
        assert len(study.best_trials) >= 1


def _space(name: str) -> Space:
    from shoal.testing._sampler_suite import SUITE_SPACES  # that module imports this one

    return SUITE_SPACES[name]()


def _mo_values(space: Space, params: dict[str, Any], n_objectives: int) -> tuple[float, ...]:
    """Raw values (signed by direction) of objectives with optima at different corners."""
    u = np.nan_to_num(space.encode(params), nan=0.5)
    scores = [float(np.sum((u - c) ** 2)) for c in (0.2, 0.8, 0.5)[:n_objectives]]
    return tuple(s * score for s, score in zip(_SIGNS, scores, strict=False))


def _mo_finished(number: int, params: dict[str, Any], space: Space, n_objectives: int) -> FrozenTrial:
    """A finished trial: complete, failed, pruned, or complete but violating its constraint."""
    dists = {name: space[name] for name in params}
    signs = _SIGNS[:n_objectives]
    kind = number % 6
    if kind == 3:
        return FrozenTrial(number, number, TrialState.FAILED, params=params, distributions=dists,
                           signs=signs, system_attrs={"fail_reason": "ValueError: boom"})
    if kind == 4:
        return FrozenTrial(number, number, TrialState.PRUNED, params=params, distributions=dists,
                           signs=signs, intermediate={0: 1.0, 1: 0.5})
    attrs = {"constraints": [1.0 if kind == 5 else -1.0, -0.5]} if kind in (2, 5) else {}
    return FrozenTrial(number, number, TrialState.COMPLETE, params=params, distributions=dists,
                       values=_mo_values(space, params, n_objectives), signs=signs,
                       system_attrs=attrs)


def mo_histories(space: Space, n_objectives: int) -> list[History]:
    """Histories of a study with several objectives, with every kind of trial it can hold."""
    rng = np.random.default_rng(40 + n_objectives)
    signs = _SIGNS[:n_objectives]
    trials: list[FrozenTrial] = []

    def add(state: TrialState, *, params: bool = True, values: bool = False, **kwargs: Any) -> None:
        drawn = space.sample(rng) if params else {}
        out = _mo_values(space, drawn, n_objectives) if values else None
        trials.append(FrozenTrial(len(trials), 500 + len(trials), state, params=drawn,
                                  distributions={k: space[k] for k in drawn}, values=out,
                                  signs=signs, **kwargs))

    for _ in range(4):
        add(TrialState.COMPLETE, values=True)
    add(TrialState.FAILED, system_attrs={"fail_reason": "CUDA out of memory"})
    add(TrialState.PRUNED, intermediate={0: 2.0, 1: 1.5})
    add(TrialState.PRUNED)
    add(TrialState.COMPLETE, values=True, system_attrs={"constraints": [0.5, -1.0]})  # violated
    add(TrialState.COMPLETE, values=True, system_attrs={"constraints": [-0.2, 0.0]})  # satisfied
    add(TrialState.COMPLETE, values=True, system_attrs={"fixed_params": True})  # enqueued
    add(TrialState.RUNNING)  # another worker's trial, with its parameters
    add(TrialState.RUNNING, params=False)
    add(TrialState.WAITING, params=False)
    for i in range(8):
        add(TrialState.COMPLETE, values=True,
            system_attrs={"constraints": [float(i % 3) - 1.0]} if i % 2 else {})
    add(TrialState.RUNNING, params=False)
    violated = [FrozenTrial(i, i, TrialState.COMPLETE, params=p, signs=signs,
                            values=_mo_values(space, p, n_objectives),
                            system_attrs={"constraints": [float(i + 1)]})
                for i, p in enumerate(space.sample(rng) for _ in range(3))]
    same = space.sample(rng)  # one configuration, tried three times: every trial ties
    ties = [FrozenTrial(i, i, TrialState.COMPLETE, params=same, signs=signs,
                        values=_mo_values(space, same, n_objectives)) for i in range(3)]
    # The trial being filled is in the history as RUNNING, as a study creates it before asking.
    return [
        History(trials, len(trials) - 1),
        History(trials[:5], 5),
        History(trials, len(trials)),
        History([*violated, FrozenTrial(3, 3, TrialState.RUNNING, signs=signs)], 3),
        History(ties, 3),
        History([], 0),
    ]
