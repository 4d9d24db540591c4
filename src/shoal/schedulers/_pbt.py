"""Population-based training (Jaderberg et al., 2017): exploit the best members, explore around them.

The scheduler is stateless, as every shoal scheduler: who is a member, who was exploited and what
replaces it are read from the history (lineage events, states, reports) each time, and every random
choice is drawn from `np.random.default_rng((seed, exploited trial number))`, so any worker that
asks computes the same fork.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shoal import _validate
from shoal.schedulers._protocol import Decision, Suggestion
from shoal.space import Categorical, Float, Int, Param
from shoal.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PBT", "crosses", "perturb"]

_OWNER = "PBT"
#: States whose reports rank a member: still training, waiting to resume, or done.
_RANKED = (TrialState.RUNNING, TrialState.PAUSED, TrialState.COMPLETE)


class PBT:
    """Population-based training: every `interval` steps the worst members restart from a copy of a
    top member's checkpoint with perturbed hyperparameters.

    **Members.** The first `population` trials that are neither forks nor retries (drawn by the
    study's sampler, or enqueued) found the population; a fork that replaces a member (`replaces=`
    in its "forked" lineage event) and the retry of a member whose worker died are members too.
    Other trials are left alone (CONTINUE). Run the study with `n_trials=population`: the forks
    and resumes that follow are continuations and use no budget (with fewer, the members pause
    for founders that never start; a later `optimize` resumes them).

    **Exploit** (`decide`). Steps are counted from 0, so a member has trained `interval` steps when it
    reports step `interval - 1`; at its first report s at or past such a step (`crosses`;
    s < `max_step`; a report every step meets s + 1 = k * interval exactly) its score at s is
    ranked against every other member that is running, paused or complete, each at its newest
    report at or before s (the asynchronous rule of Ray Tune and Syne Tune: a member behind is
    ranked by its latest report, a member ahead by the report it made at s). With n
    ranked members, the k = ceil(n * quantile) worst (at most n // 2; none when n < 2; ties go
    against the newer trial) are in the bottom quantile: such a member, if it is strictly worse
    than every member of the top quantile and every founder has started, gets `Decision.STOP` and
    its record ends PRUNED, with its curve and checkpoints kept. (Without those two conditions a
    single worker could fork the first members among themselves for ever: a fork tied with an
    older member ranks last and is exploited again.)

    **Time sharing.** A member that is not exploited gets `Decision.PAUSE` while another member is
    behind it (a PAUSED member at an earlier step, or founders not yet started), so a population
    larger than the number of workers advances together (as Ray Tune's PBT pauses trials); an
    objective that never calls `trial.should_pause()` simply trains on.

    **Two workers, one fork.** Workers that ask at the same moment get the same fork and may both
    start it; the higher-numbered copy is no member and gets `Decision.STOP` at its first report
    (one step trained), so the population keeps its size.

    **Explore** (`next_job`). For each PRUNED member (exploited, or pruned by the objective itself,
    e.g. a diverged loss) at a step s < `max_step` that no fork replaces yet, the next worker starts
    `Suggestion(fork=parent, step=..., params=..., replaces=member)`: `parent` drawn uniformly from
    the top quantile at s (the same ranking as above), its newest checkpoint step at or before s
    (from `system_attrs["checkpoints"]["steps"]`; failing that its newest checkpoint; without any
    record its newest report at or before s). `params` are the parent's hyperparameters perturbed
    by `perturb`. Then, in order: a new founder while the population is not full (None), the
    PAUSED member that is furthest behind (`resume=`), `wait=True` while a running member may still
    be exploited, else None.

    **One objective only**: ranking needs one score, so PBT has no `multi_objective` attribute and
    `create_study` refuses it for several objectives (use one objective, or a scalarisation of them
    reported as the value).

    Args:
        population: Number of members trained together.
        interval: Steps between two exploit decisions of a member.
        quantile: Fraction of the ranked members exploited (bottom) and copied from (top), in
            [0, 0.5]; 0 never exploits.
        perturb: The factors a perturbed hyperparameter is multiplied by, one drawn uniformly.
        resample_probability: Chance that a hyperparameter is drawn afresh from its distribution
            instead of multiplied.
        hyperparams: Names of the parameters to perturb; None perturbs every Float and Int parameter
            (categoricals only when named: they are resampled).
        seed: Seed of every random choice; None draws one now (copies made by pickling agree; pass
            a seed when each machine builds its own scheduler).
        max_step: The last step a member trains, if known: no exploit at or after it, and the
            interval steps up to it are the `rung_steps` checkpoint retention keeps.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> curve = lambda v: {s: v for s in range(4)}
    >>> members = [FrozenTrial(i, i, TrialState.RUNNING, intermediate=curve(float(i)))
    ...            for i in range(8)]
    >>> [PBT(seed=0).decide(m, members).value for m in members]
    ['CONTINUE', 'CONTINUE', 'CONTINUE', 'CONTINUE', 'CONTINUE', 'CONTINUE', 'STOP', 'STOP']
    """

    def __init__(self, *, population: int = 8, interval: int = 4, quantile: float = 0.25,
                 perturb: Sequence[float] = (0.8, 1.2), resample_probability: float = 0.25,
                 hyperparams: Sequence[str] | None = None, seed: int | None = None,
                 max_step: int | None = None) -> None:
        self.population = _validate.integer(population, what="population", owner=_OWNER, low=2)
        self.interval = _validate.integer(interval, what="interval", owner=_OWNER, low=1)
        self.quantile = _validate.number(quantile, what="quantile", owner=_OWNER, low=0.0, high=0.5)
        if isinstance(perturb, (str, bytes)) or not isinstance(perturb, Sequence) or not perturb:
            raise _validate.config_error("perturb", _OWNER, "a non-empty list of factors > 0",
                                         perturb)
        self.perturb = tuple(_validate.number(f, what="each factor of perturb", owner=_OWNER, low=0.0,
                                              low_open=True) for f in perturb)
        self.resample_probability = _validate.number(resample_probability,
                                                     what="resample_probability", owner=_OWNER,
                                                     low=0.0, high=1.0)
        if hyperparams is not None and (isinstance(hyperparams, (str, bytes))
                                        or not isinstance(hyperparams, Sequence) or not hyperparams
                                        or not all(isinstance(n, str) for n in hyperparams)):
            raise _validate.config_error("hyperparams", _OWNER,
                                         "a non-empty list of parameter names or None", hyperparams,
                                         "Name the parameters to perturb, e.g. ['lr'].")
        self.hyperparams = None if hyperparams is None else tuple(hyperparams)
        self.seed = _validate.seed(seed, owner=_OWNER)
        self._entropy = self.seed if self.seed is not None else secrets.randbits(63)
        self.max_step = _validate.integer(max_step, what="max_step", owner=_OWNER, low=0, none=True)

    @property
    def rung_steps(self) -> frozenset[int]:
        """The steps a member is ranked at, up to `max_step` (none without it): their checkpoints are
        kept, so a fork finds its parent's state at the step it was ranked."""
        if self.max_step is None:
            return frozenset()
        return frozenset(range(self.interval - 1, self.max_step, self.interval))

    # Decisions ---------------------------------------------------------------------------------
    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        step = trial.last_step
        if step is not None and _replaces(trial) is not None \
                and trial.number in _duplicates(_by_number(history, trial)):
            return Decision.STOP  # a second fork of one member: the lower-numbered one goes on
        if step is None or not self._before_end(step) or not crosses(trial, self.interval):
            return Decision.CONTINUE
        trials = _by_number(history, trial)
        members = self._members(trials)
        if trial.number not in members:
            return Decision.CONTINUE
        ranked = _ranking(trials, members, step, include=trial)
        k = self._count(len(ranked))
        # Only a full population is ranked (with founders missing, the first members would fork
        # among themselves for ever), and only a member strictly worse than the whole top
        # quantile is exploited: members that tie (all at chance) have nothing to copy.
        if k and self._full(trials) and trial.number in ranked[len(ranked) - k:] and \
                _score_at(trial, step) > _score_at(trials[ranked[k - 1]], step):  # type: ignore[operator]
            return Decision.STOP
        if not self._full(trials) or any(
                trials[n].state is TrialState.PAUSED and n != trial.number
                and (trials[n].last_step is None or trials[n].last_step < step)  # type: ignore[operator]
                for n in members):
            return Decision.PAUSE
        return Decision.CONTINUE

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        trials = _by_number(history)
        members = self._members(trials)
        replaced = {_replaces(t) for t in trials.values()}
        for number in sorted(members):
            member = trials[number]
            if member.state is TrialState.PRUNED and number not in replaced \
                    and member.last_step is not None and self._before_end(member.last_step):
                fork = self._fork(member, trials, members)
                if fork is not None:
                    return fork
        if not self._full(trials):
            return None
        paused = [trials[n] for n in members if trials[n].state is TrialState.PAUSED]
        if paused:
            behind = min(paused, key=lambda t: (-1 if t.last_step is None else t.last_step, t.number))
            return Suggestion(resume=behind.number)
        if any(trials[n].state is TrialState.RUNNING
               and (trials[n].last_step is None or self._before_end(trials[n].last_step))  # type: ignore[arg-type]
               for n in members):
            return Suggestion(wait=True)
        return None

    # Helpers -------------------------------------------------------------------------------------
    def _before_end(self, step: int) -> bool:
        return self.max_step is None or step < self.max_step

    def _count(self, n: int) -> int:
        """How many members the top and the bottom quantile each hold among n ranked ones."""
        if n < 2:
            return 0
        return min(math.ceil(round(n * self.quantile, 9)), n // 2)

    def _founders(self, trials: Mapping[int, FrozenTrial]) -> list[int]:
        return [n for n in sorted(trials)
                if trials[n].forked_from is None and _retry_of(trials[n]) is None]

    def _full(self, trials: Mapping[int, FrozenTrial]) -> bool:
        return len(self._founders(trials)) >= self.population

    def _members(self, trials: Mapping[int, FrozenTrial]) -> set[int]:
        members = set(self._founders(trials)[:self.population])
        duplicates = _duplicates(trials)
        for number in sorted(trials):  # a fork or a retry is newer than the member it follows
            if number in duplicates:
                continue
            if _replaces(trials[number]) in members or _retry_of(trials[number]) in members:
                members.add(number)
        return members

    def _fork(self, member: FrozenTrial, trials: Mapping[int, FrozenTrial],
              members: set[int]) -> Suggestion | None:
        import numpy as np

        step = member.last_step
        assert step is not None
        ranked = _ranking(trials, members, step, include=member)
        top = [n for n in ranked[:self._count(len(ranked))] if n != member.number
               and self._before_end(_fork_step(trials[n], step))]  # a fork must have steps left
        if not top:
            return None
        rng = np.random.default_rng((self._entropy, member.number))
        parent = trials[top[int(rng.integers(len(top)))]]
        names = self.hyperparams if self.hyperparams is not None else sorted(
            n for n, p in parent.distributions.items() if isinstance(p, (Float, Int)))
        params = self._explore(parent, names, step=step, trials=trials, members=members, rng=rng)
        return Suggestion(fork=parent.number, step=_fork_step(parent, step), params=params,
                          replaces=member.number)

    def _explore(self, parent: FrozenTrial, names: Sequence[str], *, step: int,
                 trials: Mapping[int, FrozenTrial], members: Collection[int],
                 rng: np.random.Generator) -> dict[str, Any]:
        """The fork's new hyperparameters: the parent's, perturbed (PB2 chooses them by a model)."""
        return perturb(parent.params, parent.distributions, names=names, factors=self.perturb,
                       resample_probability=self.resample_probability, rng=rng)

    def __repr__(self) -> str:
        return (f"PBT(population={self.population}, interval={self.interval}, "
                f"quantile={self.quantile}, perturb={self.perturb}, "
                f"resample_probability={self.resample_probability}, "
                f"hyperparams={self.hyperparams}, seed={self.seed}, max_step={self.max_step})")


def crosses(trial: FrozenTrial, interval: int) -> bool:
    """True when the trial's newest report is its first at or past an interval's end: a step s
    with s + 1 a multiple of `interval` lies after its previous report (or its start) and at or
    before this one. A report at or before a step it was resumed at, or before a fork's start
    step (the PyTorch harness reports its restored step again), decides nothing: it was judged
    there already.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> [crosses(FrozenTrial(0, 0, TrialState.RUNNING, intermediate=dict.fromkeys(range(0, n, 2), 1.0)), 4)
    ...  for n in (3, 5, 7, 9)]
    [False, True, False, True]
    """
    steps = sorted(trial.intermediate)
    if not steps:
        return False
    last = steps[-1]
    resumed = [e["step"] for e in trial.lineage
               if e.get("event") == "resumed" and e.get("step") is not None]
    if last < trial.start_step or (resumed and last <= max(resumed)):
        return False
    before = steps[-2] if len(steps) > 1 else trial.start_step - 1
    return (last + 1) // interval > (before + 1) // interval


def _by_number(history: Iterable[FrozenTrial], trial: FrozenTrial | None = None) -> dict[int, FrozenTrial]:
    """The trials by number; `trial` (the one being decided) wins over its copy in the history."""
    out = {t.number: t for t in history}
    if trial is not None:
        out[trial.number] = trial
    return out


def _replaces(trial: FrozenTrial) -> int | None:
    for event in trial.lineage:
        if event.get("event") == "forked":
            replaces = event.get("replaces")
            return None if replaces is None else int(replaces)
    return None


def _duplicates(trials: Mapping[int, FrozenTrial]) -> set[int]:
    """Forks that replace a member a lower-numbered fork already replaces: two workers that asked
    at the same moment both started the same fork, and trial numbers settle which one counts."""
    seen: set[int] = set()
    out = set()
    for number in sorted(trials):
        replaces = _replaces(trials[number])
        if replaces is not None:
            if replaces in seen:
                out.add(number)
            seen.add(replaces)
    return out


def _retry_of(trial: FrozenTrial) -> int | None:
    """The trial this one re-runs after its worker died (the study's retry policy), if any."""
    dead = trial.system_attrs.get("retry_of")
    return None if dead is None else int(dead)


def _score_at(trial: FrozenTrial, step: int) -> float | None:
    """The trial's score at its newest report at or before `step` (NaN ranks last), or None."""
    seen = [s for s in trial.intermediate if s <= step]
    if not seen:
        return None
    score = trial.intermediate_scores[max(seen)]
    return math.inf if math.isnan(score) else score


def _ranking(trials: Mapping[int, FrozenTrial], members: Collection[int], step: int, *,
             include: FrozenTrial) -> list[int]:
    """Member numbers, best first, by score at or before `step`; `include` counts whatever its state."""
    scored = []
    for number in members:
        trial = trials[number]
        if trial.state in _RANKED or number == include.number:
            score = _score_at(trial, step)
            if score is not None:
                scored.append((score, number))
    return [number for _, number in sorted(scored)]


def _fork_step(parent: FrozenTrial, step: int) -> int:
    """The parent's newest checkpoint at or before `step`, else its newest checkpoint, else (no
    record of checkpoints) its newest report at or before `step`."""
    recorded = parent.system_attrs.get("checkpoints")
    steps = [int(s) for s in recorded.get("steps", ())] if isinstance(recorded, Mapping) else []
    if steps:
        before = [s for s in steps if s <= step]
        return max(before) if before else max(steps)
    reports = [s for s in parent.intermediate if s <= step]
    return max(reports) if reports else step


def perturb(params: Mapping[str, Any], distributions: Mapping[str, Param], *, names: Iterable[str],
            factors: Sequence[float], resample_probability: float,
            rng: np.random.Generator) -> dict[str, Any]:
    """PBT's explore step: the named parameters, each resampled or multiplied by a random factor.

    For each name in order (names without a value or a Float/Int/Categorical distribution are
    skipped): with probability `resample_probability`, or always for a categorical, a fresh value
    drawn uniformly on the parameter's own scale; else the value times a factor drawn uniformly
    from `factors`, clipped to [low, high]. Log-scale values are multiplied as well; a
    `one_minus_log` value has its distance to 1 multiplied; an integer is rounded to its grid and
    moves at least one step in the factor's direction (2 * 1.2 rounds back to 2); a power of two
    doubles or halves. A categorical that other parameters are conditioned on is left alone (its
    children would appear or vanish).

    >>> import numpy as np
    >>> from shoal.space import Float
    >>> perturb({"lr": 0.1}, {"lr": Float(1e-4, 1.0, log=True)}, names=["lr"], factors=(2.0,),
    ...         resample_probability=0.0, rng=np.random.default_rng(0))
    {'lr': 0.2}
    """
    parents = {parent for p in distributions.values() for parent, _ in p.when}
    out: dict[str, Any] = {}
    for name in names:
        dist = distributions.get(name)
        if name not in params or not isinstance(dist, (Float, Int, Categorical)):
            continue
        if isinstance(dist, Categorical):
            if name not in parents:
                out[name] = dist.choices[int(rng.integers(len(dist.choices)))]
            continue
        if rng.random() < resample_probability:
            out[name] = dist.decode(float(rng.random()))
            continue
        factor = float(factors[int(rng.integers(len(factors)))])
        out[name] = _scaled(dist, params[name], factor)
    return out


def _scaled(dist: Float | Int, value: Any, factor: float) -> float | int:
    if isinstance(dist, Float):
        one_minus = dist.scale == "one_minus_log"
        x = 1.0 - (1.0 - float(value)) * factor if one_minus else float(value) * factor
        if dist.step is not None:
            x = dist.low + round((x - dist.low) / dist.step) * dist.step
        return min(max(x, dist.low), dist.high)
    old = int(value)
    if dist.power_of_two:
        new = old * 2 if factor > 1 else old // 2
    else:
        new = dist.low + round((old * factor - dist.low) / dist.step) * dist.step
        if new == old and factor != 1:
            new = old + (dist.step if factor > 1 else -dist.step)
    return min(max(new, dist.low), dist.high)
