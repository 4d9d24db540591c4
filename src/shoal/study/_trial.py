"""The live trial an objective receives: suggests parameters, reports progress, asks to prune."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from shoal._optuna_names import fail, renamed
from shoal.exceptions import ConfigError, DistributionMismatch
from shoal.samplers import History
from shoal.schedulers import Decision
from shoal.space import Categorical, ChoiceValue, Float, Int, Param, Space, param_from_dict
from shoal.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    import numpy as np

    from shoal.study._study import Study

__all__ = ["Trial"]

log = logging.getLogger("shoal")


class Trial:
    """One running trial. Created by `Study.ask()`; pass it back to `Study.tell()`.

    Parameter values come, in order of preference, from the trial's given parameters (enqueued
    or retried trials), from the sampler's joint proposal made when the trial was asked, or from
    the sampler asked about that one parameter.
    """

    def __init__(self, study: Study, frozen: FrozenTrial, proposal: Mapping[str, Any],
                 rng: np.random.Generator) -> None:
        self.study = study
        self.number = frozen.number
        self.trial_id = frozen.trial_id
        self._given = dict(frozen.params) if frozen.is_fixed else {}
        self._proposal = dict(proposal)
        self._rng = rng
        self._params: dict[str, Any] = dict(frozen.params)
        self._distributions: dict[str, Param] = dict(frozen.distributions)
        self._intermediate: dict[int, float] = dict(frozen.intermediate)
        self._user_attrs: dict[str, Any] = dict(frozen.user_attrs)
        self._system_attrs: dict[str, Any] = dict(frozen.system_attrs)
        self._unsaved_system: dict[str, Any] = {}
        self._curves: dict[str, dict[str, float]] = {
            name: dict(points) for name, points in dict(frozen.system_attrs.get("curves", {})).items()}
        self.parent = frozen.parent
        self.checkpoint = frozen.checkpoint
        self.finished = False

    # Suggest ------------------------------------------------------------------------------------
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False,
                      scale: str | None = None) -> float:
        """A float in [low, high]; `log=True` is shorthand for `scale="log"`.

        `scale="one_minus_log"` samples 1-x log-uniformly, for momentum-like values near 1.
        """
        if log and scale not in (None, "log"):
            raise ConfigError(f"log of Float {name!r} must be False when scale={scale!r}. Got True.")
        chosen = "log" if log else (scale or "linear")
        return float(self.suggest(name, Float(low, high, chosen, name=name)))  # type: ignore[arg-type]

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False,
                    power_of_two: bool = False) -> int:
        """An integer in [low, high] on a step grid, log-uniform, or among powers of two."""
        return int(self.suggest(name, Int(low, high, step, log, power_of_two=power_of_two, name=name)))

    def suggest_categorical(self, name: str, choices: Sequence[ChoiceValue]) -> Any:
        """One of `choices` (None, bool, int, float or str)."""
        return self.suggest(name, Categorical(choices, name=name))

    def suggest(self, name: str, param: Param) -> Any:
        """A value for `name` drawn from `param`; the same name must keep the same distribution."""
        if param.name != name:  # carry the name, so error messages can say which parameter
            param = param_from_dict(param.to_dict(), name=name)
        known = self._distributions.get(name) or self.study._known_distribution(name)
        if known is not None and known.distribution() != param.distribution():
            raise DistributionMismatch(
                f"distribution of parameter {name!r} must stay {known!r} within a study. Got "
                f"{param!r}. Use a new parameter name, or a new study for the new space.")
        if name in self._params and name in self._distributions:
            return self._params[name]
        if name in self._given:
            value = self._given[name]
            if not param.contains(value):
                raise ConfigError(f"value of enqueued parameter {name!r} must lie in {param!r}. "
                                  f"Got {value!r}. Fix the enqueued configuration.")
        elif name in self._proposal and param.contains(self._proposal[name]):
            value = self._proposal[name]
        else:
            history = History(self.study._history(), self.number)
            value = self.study.sampler.suggest(Space({name: param}), history, self._rng)[name]
        self._params[name] = value
        self._distributions[name] = param
        self.study._write(self, params={name: value}, distributions={name: param})
        return value

    @property
    def params(self) -> dict[str, Any]:
        """The parameters suggested so far (all active ones, when the study declares a space)."""
        return dict(self._params)

    @property
    def distributions(self) -> dict[str, Param]:
        return dict(self._distributions)

    # Report and prune -------------------------------------------------------------------------
    def report(self, value: float, step: int, *, name: str | None = None) -> None:
        """Record the objective's value at `step` (an epoch, a fold), for schedulers and curves.

        With `name`, record another curve instead (a training loss, a learning rate): kept with
        the trial for plots and reports, never read by schedulers. Named curves are written with
        the trial's next write (its next value report, or its end), so reporting them before the
        value costs no extra storage transaction.
        """
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ConfigError(f"step of report must be an integer >= 0. Got {step!r}.")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"value of report must be a number. Got {value!r}.") from None
        if not math.isfinite(value):
            log.warning("trial %d reported %r at step %d; not recorded. Raise "
                        "shoal.TrialFailed('diverged') to end a diverged trial.", self.number, value, step)
            return
        if name is not None:
            self._curves.setdefault(name, {})[str(step)] = value
            self._system_attrs["curves"] = self._curves
            self._unsaved_system["curves"] = self._curves
            return
        self._intermediate[step] = value
        self.study._write(self, intermediate={step: value})

    def decision(self) -> Decision:
        """The scheduler's advice for this trial after its latest report."""
        # Loaded only if the scheduler looks: NoStopping never does, and a read costs a query.
        return self.study.scheduler.decide(self.snapshot(), _LazyHistory(self.study._history))

    def should_prune(self) -> bool:
        """True when the scheduler advises stopping; then `raise shoal.TrialPruned()`."""
        return self.decision() is Decision.STOP

    # Attributes -------------------------------------------------------------------------------
    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to this trial."""
        self._user_attrs[key] = value
        self.study._write(self, user_attrs={key: value})

    @property
    def user_attrs(self) -> dict[str, Any]:
        return dict(self._user_attrs)

    @property
    def curves(self) -> dict[str, dict[int, float]]:
        """The named curves reported so far, by name and step."""
        return {name: {int(s): v for s, v in points.items()} for name, points in self._curves.items()}

    def _take_unsaved(self) -> dict[str, Any]:
        """System attributes waiting for the next write (copied: the trial keeps changing them)."""
        unsaved, self._unsaved_system = self._unsaved_system, {}
        if "curves" in unsaved:
            unsaved["curves"] = {name: dict(points) for name, points in self._curves.items()}
        return unsaved

    def snapshot(self) -> FrozenTrial:
        """This trial as a FrozenTrial, from what this process knows."""
        return FrozenTrial(number=self.number, trial_id=self.trial_id, state=TrialState.RUNNING,
                           params=dict(self._params), distributions=dict(self._distributions),
                           intermediate=dict(self._intermediate), user_attrs=dict(self._user_attrs),
                           system_attrs=dict(self._system_attrs), sign=self.study.sign)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self._params!r})"

    # Optuna spellings ---------------------------------------------------------------------------
    # Optuna's pre-3.0 names: the two with an exact equivalent run it and warn; see
    # docs/coming-from-optuna.md.
    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        """Optuna's old name for `suggest_float(name, low, high)`: runs it, with a FutureWarning."""
        renamed("suggest_uniform", f"suggest_float({name!r}, {low!r}, {high!r})")
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        """Optuna's old name for `suggest_float(name, low, high, log=True)`, with a FutureWarning."""
        renamed("suggest_loguniform", f"suggest_float({name!r}, {low!r}, {high!r}, log=True)")
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        """Optuna's old float grid: refused at once (a ConfigError), naming what to write."""
        raise fail(f"suggest_discrete_uniform of Trial is Optuna's old name for a float grid, which "
                   f"shoal spells with an integer index. Use {low!r} + {q!r} * trial.suggest_int("
                   f"{name!r}, 0, {round((high - low) / q)}).")


class _LazyHistory(Sequence[FrozenTrial]):
    """The study's trials, read from storage on first access."""

    def __init__(self, load: Callable[[], list[FrozenTrial]]) -> None:
        self._load = load
        self._items: list[FrozenTrial] | None = None

    def _get(self) -> list[FrozenTrial]:
        if self._items is None:
            self._items = self._load()
        return self._items

    @overload
    def __getitem__(self, index: int) -> FrozenTrial: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[FrozenTrial]: ...

    def __getitem__(self, index: int | slice) -> FrozenTrial | Sequence[FrozenTrial]:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[FrozenTrial]:
        return iter(self._get())
