"""The live trial an objective receives: suggests parameters, reports progress, asks to prune."""

from __future__ import annotations

import contextlib
import logging
import math
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoal._optuna_names import renamed
from shoal._validate import integer
from shoal.exceptions import ConfigError, DistributionMismatch
from shoal.schedulers import Decision
from shoal.space import Categorical, ChoiceValue, Float, Int, Param, Space, param_from_dict
from shoal.study._host import TrialHost, TrialWrite, sampler_failure
from shoal.study._lifecycle import CheckpointPlan, best_step, kept_summary
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
    the sampler asked about that one parameter. Everything the trial needs from its study goes
    through its `TrialHost` (writes, known distributions, proposals, decisions, finishing), so a
    Trial can be built over any host: `Trial(host=..., frozen=..., rng=...)`.
    """

    def __init__(self, *, host: TrialHost, frozen: FrozenTrial, rng: np.random.Generator,
                 proposal: Mapping[str, Any] | None = None,
                 system_attrs: Mapping[str, Any] | None = None,
                 checkpoints: CheckpointPlan | None = None) -> None:
        """A running trial over `host`; `Study.ask()` builds them.

        Args:
            host: The study (or any `TrialHost`) that stores and steers this trial.
            frozen: The trial's record when it started (RUNNING).
            rng: The generator the sampler uses for this trial's one-parameter proposals.
            proposal: The sampler's joint proposal made at ask time, used where it fits.
            system_attrs: Attributes from ask time (the sampler's name...); they ride along with
                the trial's next write.
            checkpoints: Where the trial keeps step checkpoints and resumes from (a Study makes
                one for every trial it starts); None: `checkpoint()` is refused.
        """
        self._host = host
        self.number = frozen.number
        self.trial_id = frozen.trial_id
        self._signs = frozen.signs
        self._given = dict(frozen.params) if frozen.is_fixed else {}
        self._proposal = dict(proposal or {})
        self._rng = rng
        self._params: dict[str, Any] = dict(frozen.params)
        self._distributions: dict[str, Param] = dict(frozen.distributions)
        self._intermediate: dict[int, float] = dict(frozen.intermediate)
        self._user_attrs: dict[str, Any] = dict(frozen.user_attrs)
        self._system_attrs: dict[str, Any] = {**frozen.system_attrs, **(system_attrs or {})}
        self._unsaved_system: dict[str, Any] = dict(system_attrs or {})
        self._curves: dict[str, dict[str, float]] = {
            name: dict(points) for name, points in dict(frozen.system_attrs.get("curves", {})).items()}
        self.parent = frozen.parent
        self.checkpoint_source = frozen.checkpoint
        self.lineage = tuple(frozen.lineage)
        self._start_step = frozen.start_step
        self._plan = checkpoints
        self._result: FrozenTrial | None = None

    @property
    def study(self) -> Study:
        """The Study running this trial, as Optuna's `trial.study` (its name, trials, storage).

        Only a trial hosted by a Study has one; over another `TrialHost` this raises
        AttributeError. Code that only suggests and reports never needs it.
        """
        from shoal.study._study import Study  # the study module imports this one

        if not isinstance(self._host, Study):
            raise AttributeError(f"study of Trial {self.number} must be a Study to be read. Got a "
                                 f"{type(self._host).__name__} host. Read what you need from that host.")
        return self._host

    # Suggest ------------------------------------------------------------------------------------
    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False, scale: str | None = None) -> float:
        """A float in [low, high]; `log=True` is shorthand for `scale="log"`.

        `step` restricts the values to `low + k*step` (Optuna's `step=`; linear scale only, and
        `high - low` must be a multiple of it). `scale="one_minus_log"` samples 1-x
        log-uniformly, for momentum-like values near 1.
        """
        # Float resolves the two spellings and refuses a contradiction; log=False means "not said".
        param = Float(low, high, scale, step=step, log=True if log else None, name=name)  # type: ignore[arg-type]
        return float(self.suggest(name, param))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False,
                    scale: str | None = None, power_of_two: bool = False) -> int:
        """An integer in [low, high] on a step grid, log-uniform, or among powers of two.

        `scale="log"` is another spelling of `log=True` (as `Float` spells it).
        """
        param = Int(low, high, step, True if log else None, scale=scale,  # type: ignore[arg-type]
                    power_of_two=power_of_two, name=name)
        return int(self.suggest(name, param))

    def suggest_categorical(self, name: str, choices: Sequence[ChoiceValue]) -> Any:
        """One of `choices` (None, bool, int, float or str)."""
        return self.suggest(name, Categorical(choices, name=name))

    def suggest(self, name: str, param: Param) -> Any:
        """A value for `name` drawn from `param`; the same name must keep the same distribution.

        If the sampler raises, this trial is finished FAILED with the reason recorded, and the
        error is raised again.
        """
        if param.name != name:  # carry the name, so error messages can say which parameter
            param = param_from_dict(param.to_dict(), name=name)
        known = self._distributions.get(name) or self._host.known_distribution(name)
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
            value = self._propose(name, param)
        self._params[name] = value
        self._distributions[name] = param
        self._write({"params": {name: value}, "distributions": {name: param}})
        return value

    def _propose(self, name: str, param: Param) -> Any:
        try:
            return self._host.propose(number=self.number, space=Space({name: param}), rng=self._rng)[name]
        except Exception as err:  # a trial the sampler could not fill must not stay RUNNING
            if self._result is None:
                self.finish(state=TrialState.FAILED, reason=sampler_failure(err),
                            system_attrs={"traceback": traceback.format_exc()})
            raise

    def apply_proposal(self, space: Space) -> None:
        """Record a value for every active parameter of a declared `space` now, in one write.

        Given values (enqueued, retried) win over the ask-time proposal. `Study.ask` calls this
        for a declared space, which is sampled whole.
        """
        given = {**self._proposal, **self._given}
        names = space.active_names(given)
        params = {n: given[n] for n in names}
        distributions = {n: space[n] for n in names}
        self._params.update(params)
        self._distributions.update(distributions)
        self._write({"params": params, "distributions": distributions})

    def _write(self, fields: TrialWrite) -> None:
        if self._unsaved_system:
            fields["system_attrs"] = {**self._take_unsaved(), **fields.get("system_attrs", {})}
        self._host.write_trial(number=self.number, trial_id=self.trial_id, fields=fields)

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
        the trial for plots and reports. Schedulers read only the curves "objective_1",
        "objective_2", ...: the other objectives of a study with several, per step (report them
        before the first objective's value at the same step). Named curves are written with
        the trial's next write (its next value report, or its end), so reporting them before the
        value costs no extra storage transaction.
        """
        integer(step, what="step", owner="report", low=0)
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
        self._write({"intermediate": {step: value}})

    def decision(self) -> Decision:
        """The scheduler's advice for this trial after its latest report."""
        return self._host.decide(self.snapshot())

    def should_prune(self) -> bool:
        """True when the scheduler advises stopping; then `raise shoal.TrialPruned()`."""
        return self.decision() is Decision.STOP

    def should_pause(self) -> bool:
        """True when the scheduler advises pausing at this step (a promotion scheduler's rung).

        Save the step with `trial.checkpoint(step)` first, then `raise shoal.TrialPaused()`: the
        trial is recorded PAUSED, holds no process, and a free worker may resume it later from
        that checkpoint (`resume_step`). An objective that never asks simply runs on.
        """
        return self.decision() is Decision.PAUSE

    # Checkpoints --------------------------------------------------------------------------------
    def _checkpoint_plan(self) -> CheckpointPlan:
        if self._plan is None:
            raise ConfigError(f"checkpoints of trial {self.number} must come from a Study: this "
                              f"trial's host ({type(self._host).__name__}) gave none. Start trials "
                              "with study.ask() or study.optimize().")
        return self._plan

    @property
    def checkpoint_dir(self) -> Path:
        """This trial's own checkpoint folder (one sub-folder per step)."""
        return self._checkpoint_plan().folder.path

    @contextlib.contextmanager
    def checkpoint(self, step: int) -> Iterator[Path]:
        """Write step `step`'s checkpoint: yields an empty folder to write files into.

        The folder becomes the step's checkpoint only when the block ends without an error (a
        crash leaves the earlier steps intact), then older steps are deleted by the study's
        `Retention` (keeping the newest, the best reported step and the scheduler's rungs). The
        kept steps and their size are recorded with the trial (`system_attrs["checkpoints"]`).

        >>> # with trial.checkpoint(epoch) as folder:
        >>> #     torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()},
        >>> #                folder / "state.pt")
        """
        integer(step, what="step", owner="checkpoint", low=0)
        plan = self._checkpoint_plan()
        with plan.folder.write(step) as folder:
            yield folder
        best = best_step({s: self._signs[0] * v for s, v in self._intermediate.items()})
        plan.folder.prune(plan.retention, best=best, rungs=plan.rungs)
        summary = kept_summary(plan.folder)
        self._system_attrs["checkpoints"] = summary
        self._unsaved_system["checkpoints"] = summary

    @property
    def resume_step(self) -> int | None:
        """The step of the checkpoint this trial continues from; None: start from scratch.

        Set for a PAUSED trial that was resumed (its own newest step), a fork (the parent's step it
        was forked at) and a retry of a trial whose worker died (that trial's newest step). Train
        from step `resume_step + 1`.
        """
        return None if self._plan is None else self._plan.resume_step

    @property
    def resume_checkpoint(self) -> Path | None:
        """The folder of the checkpoint to load (see `resume_step`), or None."""
        return None if self._plan is None else self._plan.resume_path

    @property
    def start_step(self) -> int:
        """The first step this trial's own record holds: 0, or a fork's step + 1.

        A fork's record starts after its parent's step: the steps before are the parent's (its
        lineage names them), so report only steps >= start_step.
        """
        return self._start_step

    # Attributes -------------------------------------------------------------------------------
    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to this trial."""
        self._user_attrs[key] = value
        self._write({"user_attrs": {key: value}})

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

    # Ending -----------------------------------------------------------------------------------
    def finish(self, value: Any = None, *, state: TrialState | None = None, reason: str | None = None,
               system_attrs: Mapping[str, Any] | None = None) -> FrozenTrial:
        """End this trial through its host, once: what `study.tell(trial, ...)` does.

        Args:
            value: The objective's value(s); COMPLETEs the trial (a non-number FAILs it).
            state: PRUNED or FAILED instead of a value.
            reason: Why it FAILED, recorded with the trial.
            system_attrs: Extra attributes recorded with the end (a traceback).

        Returns:
            The trial's final record, also kept as `result`.
        """
        if self._result is not None:
            raise ConfigError(f"trial {self.number} must be finished once. Got a second finish "
                              f"after it ended {self._result.state.name}. Tell each trial once.")
        unsaved = self._take_unsaved()
        try:
            result = self._host.finish_trial(self.snapshot(), value, state=state, reason=reason,
                                             system_attrs={**unsaved, **(system_attrs or {})})
        except BaseException:
            self._unsaved_system = {**unsaved, **self._unsaved_system}  # not written: keep for a retry
            raise
        self._result = result
        return result

    @property
    def finished(self) -> bool:
        """Whether the trial has ended (told, or failed by its sampler)."""
        return self._result is not None

    @property
    def result(self) -> FrozenTrial | None:
        """The record written when the trial ended; None while it runs."""
        return self._result

    def snapshot(self) -> FrozenTrial:
        """This trial as a FrozenTrial, from what this process knows."""
        return FrozenTrial(number=self.number, trial_id=self.trial_id, state=TrialState.RUNNING,
                           params=dict(self._params), distributions=dict(self._distributions),
                           intermediate=dict(self._intermediate), user_attrs=dict(self._user_attrs),
                           system_attrs=dict(self._system_attrs), signs=self._signs,
                           parent=self.parent, checkpoint=self.checkpoint_source,
                           lineage=self.lineage)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self._params!r})"

    # Optuna spellings ---------------------------------------------------------------------------
    # Optuna's pre-3.0 names: each runs its suggest_float equivalent and warns; see
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
        """Optuna's old name for `suggest_float(name, low, high, step=q)`, with a FutureWarning."""
        renamed("suggest_discrete_uniform", f"suggest_float({name!r}, {low!r}, {high!r}, step={q!r})")
        return self.suggest_float(name, low, high, step=q)
