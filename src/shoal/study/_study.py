"""The study: ask for trials, tell their results, and find the best; all state lives in storage."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shoal.clock import Clock, SystemClock
from shoal.exceptions import ConfigError, NoCompletedTrials, SearchSpaceExhausted
from shoal.samplers import DescribesTrials, History, Sampler, sampler_rng
from shoal.schedulers import Decision, NoStopping, Scheduler, Suggestion, SuggestsJobs
from shoal.space import Param, Space
from shoal.storage import BudgetRecord, Retention, Storage, StudyRecord
from shoal.study._host import LazyHistory, TrialWrite, sampler_failure
from shoal.study._lifecycle import create_fork, plan_for
from shoal.study._outcome import ConstraintsFunc, constraints_of, outcome
from shoal.study._policies import Heartbeat, HeartbeatThread, RetryPolicy
from shoal.study._trial import Trial
from shoal.trial import Direction, FrozenTrial, TrialState, best_trial, describe_counts, pareto_front

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from shoal.executors import Executor

__all__ = ["ConstraintsFunc", "Study"]

log = logging.getLogger("shoal")
Objective = Callable[[Trial], Any]
Callback = Callable[["Study", FrozenTrial], None]
#: Studies (by name) whose objective was told, in this process, that the default never stops.
_TOLD_NO_STOPPING: set[str] = set()


class Study:
    """A named optimisation problem and everything tried for it so far.

    Create one with `shoal.create_study` or `shoal.load_study`. Every method reads and writes
    through the storage, so any number of processes can share one study.
    """

    def __init__(self, *, record: StudyRecord, storage: Storage, sampler: Sampler,
                 scheduler: Scheduler | None, space: Space | None = None,
                 heartbeat: Heartbeat | None = None, retry: RetryPolicy | None = None,
                 clock: Clock | None = None, constraints_func: ConstraintsFunc | None = None,
                 retention: Retention | None = None) -> None:
        self._record = record
        self.retention = retention or Retention()
        self.constraints_func = constraints_func
        self.storage = storage
        self.sampler = sampler
        # None: the default, NoStopping; an objective that asks for a decision is told so once.
        self._default_scheduler = scheduler is None
        self.scheduler: Scheduler = scheduler if scheduler is not None else NoStopping()
        self.space = space
        self.heartbeat = heartbeat or Heartbeat()
        self.retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        self._beats = HeartbeatThread(storage, self.heartbeat.interval)
        self._cache: list[FrozenTrial | None] = []
        self._version = 0
        self._distributions: dict[str, Param] = {}
        self._live: dict[int, Trial] = {}
        self._last_reap = -math.inf

    # Identity -----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._record.name

    @property
    def study_id(self) -> int:
        return self._record.study_id

    @property
    def directions(self) -> tuple[Direction, ...]:
        return self._record.directions

    @property
    def direction(self) -> Direction:
        return self._record.directions[0]

    @property
    def sign(self) -> float:
        return self._record.sign

    @property
    def user_attrs(self) -> dict[str, Any]:
        return dict(self.storage.get_study(self.name).user_attrs)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-serialisable value to the study."""
        self.storage.set_study_attrs(self.study_id, user={key: value})

    def __repr__(self) -> str:
        if len(self.directions) == 1:
            aim = f"direction={self.direction.value!r}"
        else:
            aim = f"directions={[d.value for d in self.directions]!r}"
        return f"Study(name={self.name!r}, {aim}, storage={self.storage.url!r})"

    # Reading ------------------------------------------------------------------------------------
    def _sync(self) -> None:
        page = self.storage.get_trials(self.study_id, since=self._version)
        for trial in page.trials:
            if trial.number >= len(self._cache):
                self._cache.extend([None] * (trial.number + 1 - len(self._cache)))
            self._cache[trial.number] = trial
            for name, param in trial.distributions.items():
                self._distributions.setdefault(name, param)
        self._version = max(self._version, page.version)

    def _history(self) -> list[FrozenTrial]:
        self._sync()
        return [t for t in self._cache if t is not None]

    def known_distribution(self, name: str) -> Param | None:
        """The distribution `name` has in this study: declared, or seen in a trial; else None."""
        if self.space is not None and name in self.space:
            return self.space[name]
        return self._distributions.get(name)

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial of the study, by number."""
        return self._history()

    def get_trials(self, states: Iterable[TrialState] | None = None, *,
                   deepcopy: bool = True) -> list[FrozenTrial]:
        """The trials in `states` (all if None). `deepcopy` is Optuna's; records are frozen anyway."""
        wanted = set(states) if states is not None else None
        return [t for t in self._history() if wanted is None or t.state in wanted]

    @property
    def best_trial(self) -> FrozenTrial:
        """The feasible completed trial with the best value. Raises NoCompletedTrials if none."""
        if len(self.directions) != 1:
            raise ConfigError(f"best_trial of study {self.name!r} must have one objective; the "
                              f"study has {len(self.directions)}. Use study.best_trials (the Pareto "
                              "front).")
        trials = self._history()
        best = best_trial(trials)
        if best is None:
            if any(t.state is TrialState.COMPLETE and not t.is_feasible for t in trials):
                raise NoCompletedTrials(f"study {self.name!r} has no feasible trial yet: every "
                                        "completed trial violates a constraint. Run more trials, "
                                        "or loosen constraints_func.")
            raise NoCompletedTrials(f"study {self.name!r} has no completed trial yet "
                                    f"({describe_counts(trials)}). Run study.optimize(...), or see "
                                    f"why trials failed with 'shoal trials {self.name}'.")
        return best

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """The Pareto front: feasible completed trials no other dominates, by number.

        With one objective, the trials that share the best value. Empty until a trial completes.
        """
        return pareto_front(self._history())

    @property
    def best_value(self) -> float:
        value = self.best_trial.value
        assert value is not None  # a complete, usable trial has a value
        return value

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    def trials_dataframe(self) -> pd.DataFrame:
        """The trials as a pandas DataFrame: number, state, value, times, params_*, user_attrs_*."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("trials_dataframe() needs pandas: pip install 'shoal[pandas]'") from None
        from shoal.study._export import trial_rows

        return pd.DataFrame(trial_rows(self._history(), self.directions))

    # Writing ------------------------------------------------------------------------------------
    def enqueue(self, params: Mapping[str, Any], *, user_attrs: Mapping[str, Any] | None = None) -> int:
        """Queue a configuration to run before sampled ones; returns its trial number.

        Parameters left out are sampled as usual. With a declared space the values are checked now.
        """
        distributions: dict[str, Param] = {}
        if self.space is not None:
            for name, value in params.items():
                if name not in self.space:
                    raise ConfigError(f"parameter {name!r} of the enqueued configuration must be one "
                                      f"of the space's {list(self.space)!r}.")
                param = self.space[name]
                if not param.contains(value):
                    raise ConfigError(f"value of enqueued parameter {name!r} must lie in "
                                      f"{param!r}. Got {value!r}.")
                distributions[name] = param
        trial = self.storage.create_trial(
            self.study_id, state=TrialState.WAITING, params=dict(params), distributions=distributions,
            user_attrs=user_attrs, system_attrs={"fixed_params": True, "enqueued": True})
        return trial.number

    def ask(self, space: Space | Mapping[str, Any] | None = None) -> Trial:
        """Start a trial: an enqueued configuration if one is waiting, else the sampler's proposal.

        Args:
            space: Parameters to propose jointly now (defaults to the study's declared space, or
                to every parameter seen so far). Others are drawn when the objective suggests them.
        """
        if space is not None and not isinstance(space, Space):
            space = Space(space)
        job = self.next_job()
        if job is not None and not job.wait:
            continued = self.start_job(job)
            if continued is not None:
                return continued
        return self.ask_new(space)

    def ask_new(self, space: Space | Mapping[str, Any] | None = None) -> Trial:
        """Start a new configuration (an enqueued one if waiting, else the sampler's), without
        asking the scheduler for a continuation first (`ask` does)."""
        if space is not None and not isinstance(space, Space):
            space = Space(space)
        self._reap_stale_trials()
        worker = _worker_name()
        # Always ask storage: another process may have just enqueued (a cheap read when none wait).
        frozen = self.storage.claim_waiting_trial(self.study_id, worker=worker)
        fresh = frozen is None
        if frozen is None:
            frozen = self.storage.create_trial(self.study_id, worker=worker)
        history = History(self._history(), frozen.number)
        rng = sampler_rng(self.sampler.seed, frozen.number)
        declared = space if space is not None else self.space
        joint = declared if declared is not None else Space(self._distributions)
        missing = [n for n in joint.active_names(frozen.params) if n not in frozen.params]
        proposal: dict[str, Any] = {}
        system: dict[str, Any] = {}
        if missing and (not frozen.is_fixed or declared is not None):
            try:
                proposal = self.sampler.suggest(joint, history, rng)
                system = {"sampler": type(self.sampler).__name__,
                          **(self.sampler.describe(joint, history)
                             if isinstance(self.sampler, DescribesTrials) else {})}
            except BaseException as err:  # nothing else could ever end this trial: end it FAILED
                attrs = {"fail_reason": sampler_failure(err)}
                if not isinstance(err, SearchSpaceExhausted):
                    attrs["traceback"] = traceback.format_exc()
                self.storage.finish_trial(frozen.trial_id, state=TrialState.FAILED, system_attrs=attrs)
                raise
        bracket_of = getattr(self.scheduler, "bracket_of", None)  # Hyperband: for plots and reports
        if callable(bracket_of) and not frozen.lineage:
            system = {**system, "bracket": int(bracket_of(frozen.number))}
        trial = self._start(frozen, rng=rng, proposal=proposal, system=system,
                            fresh=fresh and not frozen.lineage)
        if declared is not None:  # a declared space is sampled whole: record every active value now
            trial.apply_proposal(declared)
        return trial

    def _start(self, frozen: FrozenTrial, *, rng: np.random.Generator | None = None,
               proposal: Mapping[str, Any] | None = None, system: Mapping[str, Any] | None = None,
               fresh: bool = False) -> Trial:
        """A live Trial over a RUNNING record, with its checkpoint plan and heartbeat."""
        rungs = getattr(self.scheduler, "rung_steps", ())
        plan = plan_for(frozen, storage_url=self.storage.url, study_name=self.name,
                        retention=self.retention, rungs=rungs or (), fresh=fresh,
                        parents=lambda: {t.number: t.parent for t in self._history()})
        trial = Trial(host=self, frozen=frozen, proposal=proposal, system_attrs=system,
                      rng=rng if rng is not None else sampler_rng(self.sampler.seed, frozen.number),
                      checkpoints=plan)
        self._live[trial.number] = trial
        self._beats.add(trial.trial_id)
        return trial

    # Continuations: resume a paused trial, fork one ---------------------------------------------
    def next_job(self) -> Suggestion | None:
        """What the scheduler asks the next free worker to run instead of a new configuration:
        resume a PAUSED trial, fork one, or wait; None when it has nothing (or cannot say)."""
        if not isinstance(self.scheduler, SuggestsJobs):
            return None
        self._reap_stale_trials()
        return self.scheduler.next_job(LazyHistory(self._history))

    def start_job(self, job: Suggestion) -> Trial | None:
        """Start the continuation `job` names; None when another worker took it first."""
        if job.resume is not None:
            return self.resume(job.resume)
        if job.fork is not None:
            trial = self._fork(job.fork, step=job.step, params=job.params, replaces=job.replaces,
                               waiting=False)
            assert isinstance(trial, Trial)
            return trial
        return None

    def resume(self, number: int) -> Trial | None:
        """Continue the PAUSED trial `number` in this process, from its newest checkpoint.

        Returns None when it is not PAUSED any more (another worker resumed it first).
        """
        paused = self._trial(number)
        frozen = self.storage.resume_trial(paused.trial_id, worker=_worker_name())
        if frozen is None:
            return None
        return self._start(frozen)

    def fork(self, number: int, *, step: int | None, params: Mapping[str, Any]) -> int:
        """Queue a new trial that starts from trial `number`'s checkpoint at `step` (or its newest
        before it) with `params` changed; returns the new trial's number.

        The parent's checkpoint is pinned now (hard links), so the fork keeps its start point
        whatever the parent deletes later. The new trial records its parent, the step taken and
        what changed (`lineage`), and any free worker runs it, from `resume_step`.
        """
        trial = self._fork(number, step=step, params=params, replaces=None, waiting=True)
        assert isinstance(trial, int)
        return trial

    def _fork(self, number: int, *, step: int | None, params: Mapping[str, Any],
              replaces: int | None, waiting: bool) -> Trial | int:
        frozen = create_fork(self.storage, study_id=self.study_id, study_name=self.name,
                             space=self.space, parent=self._trial(number), step=step,
                             params=params, replaces=replaces, now=self._clock.now(),
                             worker=None if waiting else _worker_name())
        return frozen.number if waiting else self._start(frozen)

    def _trial(self, number: int) -> FrozenTrial:
        trials = self._history()
        found = next((t for t in trials if t.number == number), None)
        if found is None:
            raise ConfigError(f"trial of study {self.name!r} must be one of its {len(trials)} "
                              f"trials. Got {number!r}. See them with 'shoal trials {self.name}'.")
        return found

    def tell(self, trial: Trial | int, value: float | Sequence[float] | None = None, *,
             state: TrialState | None = None, reason: str | None = None) -> FrozenTrial:
        """Finish a trial: with a value it COMPLETEs; PRUNED and FAILED take no value.

        A value that is None, not a number, NaN or infinite makes the trial FAILED with the reason
        recorded, so one bad configuration never stops a study.
        """
        live = self._live.get(trial) if isinstance(trial, int) else trial
        if live is None or live.finished:
            raise ConfigError(f"trial {trial!r} must have been asked by this Study object and not "
                              "told yet. Tell each trial once.")
        return live.finish(value, state=state, reason=reason)

    # Host of the running trials (the TrialHost protocol; a Trial calls these) -------------------
    def write_trial(self, *, number: int, trial_id: int, fields: TrialWrite) -> None:
        """Merge `fields` into a running trial's record; a trial no longer RUNNING is left alone."""
        if not self.storage.update_trial(trial_id, **fields):
            log.warning("trial %d is no longer RUNNING in %s (its heartbeat was lost?); "
                        "the update was not recorded.", number, self.storage.url)

    def propose(self, *, number: int, space: Space, rng: np.random.Generator) -> dict[str, Any]:
        """The sampler's values for `space` in trial `number`, given the study's history."""
        return self.sampler.suggest(space, History(self._history(), number), rng)

    def decide(self, trial: FrozenTrial) -> Decision:
        """The scheduler's decision for a running trial."""
        if self._default_scheduler and self.name not in _TOLD_NO_STOPPING:
            _TOLD_NO_STOPPING.add(self.name)
            log.warning("trial %d asked its scheduler whether to stop, but study %r has none: "
                        "NoStopping (the default) lets every trial run to the end. Pass e.g. "
                        "scheduler=shoal.schedulers.ASHA(max_resource=EPOCHS) to stop poor trials "
                        "early (why this default: README, 'Stopping trials early').",
                        trial.number, self.name)
        # Loaded only if the scheduler looks: NoStopping never does, and a read costs a query.
        return self.scheduler.decide(trial, LazyHistory(self._history))

    def finish_trial(self, trial: FrozenTrial, value: Any = None, *, state: TrialState | None = None,
                     reason: str | None = None,
                     system_attrs: Mapping[str, Any] | None = None) -> FrozenTrial:
        """End a running trial (as `tell` does, which calls this through the trial)."""
        values, state, reason = outcome(value, state, reason, len(self.directions))
        attrs = dict(system_attrs or {})
        if state is TrialState.COMPLETE and self.constraints_func is not None:
            done = dataclasses.replace(trial, state=state, values=values,
                                       system_attrs={**trial.system_attrs, **attrs})
            constraints, reason = constraints_of(self.constraints_func, done)
            if constraints is None:
                values, state = None, TrialState.FAILED
            else:
                attrs["constraints"] = constraints
        if reason:
            attrs["fail_reason"] = reason
        try:
            ok = self.storage.finish_trial(trial.trial_id, state=state, values=values,
                                           system_attrs=attrs)
        finally:
            self._beats.discard(trial.trial_id)
        self._live.pop(trial.number, None)
        if not ok:
            log.warning("trial %d had already been finished elsewhere (its heartbeat was lost?); "
                        "its result %r was not recorded.", trial.number, value)
        frozen = dataclasses.replace(trial, state=state, values=values,
                                     system_attrs={**trial.system_attrs, **attrs})
        if ok and state is TrialState.FAILED and self.retry.retry_failed:
            self._enqueue_retry(frozen)
        if ok and state is TrialState.PAUSED:  # what storage appended, for the caller's record
            frozen = dataclasses.replace(frozen, lineage=(*frozen.lineage, {
                "event": "paused", "step": frozen.last_step, "at": self._clock.now()}))
        return frozen

    # Fault tolerance --------------------------------------------------------------------------
    def _reap_stale_trials(self) -> None:
        now = self._clock.now()
        if now - self._last_reap < self.heartbeat.interval:
            return
        self._last_reap = now
        for dead in self.storage.fail_stale_trials(self.study_id, grace_seconds=self.heartbeat.grace):
            log.warning("trial %d failed: %s (worker %s).", dead.number, dead.failure_reason, dead.worker)
            self._enqueue_retry(dead)

    def _enqueue_retry(self, dead: FrozenTrial) -> None:
        count = int(dead.system_attrs.get("retry_count", 0))
        if count >= self.retry.max_retries or not dead.params:
            return
        retry = self.storage.create_trial(
            self.study_id, state=TrialState.WAITING, params=dict(dead.params),
            distributions=dict(dead.distributions), user_attrs=dict(dead.user_attrs),
            system_attrs={"fixed_params": True, "retry_of": dead.number, "retry_count": count + 1},
            parent=dead.number, checkpoint=dead.checkpoint)
        log.warning("trial %d re-runs the parameters of trial %d (retry %d of %d).",
                    retry.number, dead.number, count + 1, self.retry.max_retries)

    # Running ----------------------------------------------------------------------------------
    def optimize(self, objective: Objective, n_trials: int | None = None, *,
                 timeout: float | None = None, n_jobs: int = 1,
                 catch: Iterable[type[BaseException]] = (Exception,),
                 callbacks: Iterable[Callback] = (), show_progress_bar: bool = False,
                 executor: Executor | None = None, max_consecutive_failures: int | None = 10,
                 trial_timeout: float | None = None) -> None:
        """Run `objective` on new trials until `n_trials` ran, `timeout` seconds passed, the
        sampler is exhausted, `stop()` is called, or Ctrl-C (or SIGTERM, handled alike: running
        trials end FAILED("interrupted") and KeyboardInterrupt, `shoal.exceptions.Terminated`
        for SIGTERM, is raised).

        Each finished trial is logged at INFO on the "shoal" logger (`Trial 3 finished with value
        0.12 and parameters {...}. Best is trial 1 with value 0.08.`); silence it with
        `logging.getLogger("shoal").setLevel(logging.WARNING)`.

        Args:
            objective: Takes a Trial, returns the value to minimise or maximise.
            n_trials: Trials to run in this call, over all workers (None: no limit).
            timeout: Seconds after which no new trial starts.
            n_jobs: Worker processes sharing the storage; -1 uses every core.
            catch: Exceptions that mark a trial FAILED and let the study go on; others stop it.
                Errors in shoal's own configuration (a bad parameter, a storage error) always stop.
            callbacks: Called as `callback(study, frozen_trial)` after each trial of this call, in
                this process (also with n_jobs > 1: workers send their trials here), one trial at
                a time, including trials ended by an interruption. A trial that pauses is sent
                each time it stops running (PAUSED, then again when it ends).
            show_progress_bar: Draw a progress bar of this call's trials while they run.
            executor: How workers run; defaults to this process (n_jobs=1) or local processes.
            max_consecutive_failures: Stop once this many trials of this call failed in a row
                (running trials finish), then raise `TooManyFailures`; None never stops.
            trial_timeout: Seconds one trial may run; past it the trial is stopped and ends
                FAILED("timeout"), and its worker goes on with the next (README, "Fault tolerance").
        """
        from shoal.study._optimize import optimize

        optimize(self, objective, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs,
                 catch=tuple(catch), callbacks=tuple(callbacks),
                 show_progress_bar=show_progress_bar, executor=executor,
                 max_consecutive_failures=max_consecutive_failures, trial_timeout=trial_timeout)

    def set_budget(self, *, n_trials: int | None = None, timeout: float | None = None) -> BudgetRecord:
        """Store the study's budget, shared by every worker on every machine (`shoal worker`).

        Args:
            n_trials: New trials the study may start in all, those it already started included
                (resuming or forking a paused trial uses none); None: no limit.
            timeout: Seconds from now after which no worker starts anything; None: no deadline.

        Returns the stored budget (`used`: slots taken so far). Workers that run under it:
        `shoal tune`, `shoal worker`, or `optimize(executor=shoal.study.StudyBudgetExecutor(study))`.
        """
        from shoal.study._budget import set_budget

        return set_budget(self, n_trials=n_trials, timeout=timeout, clock=self._clock)

    # Stopping ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the running `optimize` call: no worker starts another trial; running ones finish.

        Call it from the objective or a callback, as in Optuna; elsewhere it raises ShoalError.
        """
        from shoal.study._optimize import stop

        stop(self)

    # Optuna spellings ---------------------------------------------------------------------------
    # Accepted where harmless, refused at once (OptunaName) where shoal differs, and pickling as
    # Optuna studies do: see docs/coming-from-optuna.md.
    @property
    def study_name(self) -> str:
        """Optuna's name for `name`."""
        return self.name

    def enqueue_trial(self, params: Mapping[str, Any], *, user_attrs: Mapping[str, Any] | None = None,
                      skip_if_exists: bool = False) -> int | None:
        """Optuna's spelling of `enqueue`: queue `params`; returns the trial number.

        With `skip_if_exists`, nothing is queued when a trial in any state already has exactly
        these parameters (a re-run script does not queue its seeds twice); then it returns None.
        """
        if skip_if_exists and any(dict(t.params) == dict(params) for t in self._history()):
            return None
        return self.enqueue(params, user_attrs=user_attrs)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the study's identity and policies; the trials stay in storage.

        Threads, caches and live trials are dropped: the copy reconnects by the storage URL (as
        joblib and multiprocessing workers need). An in-memory study refuses: its trials live in
        this process only, and a copy that silently diverged would lose every trial it ran.
        """
        if self.storage.url == "memory":
            raise ConfigError(f"storage of study {self.name!r} must be a database for the study to "
                              "pickle; in-memory trials live in this process only. Got 'memory'. "
                              "Use create_study(..., storage='sqlite:///shoal.db').")
        return {"record": self._record, "storage": self.storage, "sampler": self.sampler,
                "scheduler": None if self._default_scheduler else self.scheduler,
                "space": self.space, "heartbeat": self.heartbeat,
                "retry": self.retry, "clock": self._clock, "constraints_func": self.constraints_func,
                "retention": self.retention}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Study.__init__(self, **state)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
