"""Multivariate TPE: the thin adapter from `History` to the Parzen estimators beside it."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from shoal import _validate
from shoal.samplers._protocol import History
from shoal.samplers._qmc import initial_point
from shoal.samplers._streams import space_rng
from shoal.samplers._tpe._parzen import fit_parzen, n_below, trial_weights
from shoal.samplers._tpe._split import split
from shoal.space import Categorical, Fixed, Float, Int, Space
from shoal.trial import FrozenTrial, TrialState

__all__ = ["TPESampler"]

Bandwidth = Literal["neighbour", "scott"]
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)
_MISSING = object()
_NUMBER = operator.attrgetter("number")


class TPESampler:
    """Multivariate tree-structured Parzen estimator (Bergstra et al. 2011; Falkner et al. 2018).

    Observations are split by score into a good set, the best gamma(n) = min(ceil(0.1 n), 25),
    and a bad set, the rest. Each set gets a Parzen estimator over the encoded unit cube (so log
    and 1-x scales are those of `shoal.space`): a product of Gaussians truncated to [0, 1] for
    Float and Int parameters (widths: see `bandwidth`) and of smoothed categorical kernels over
    a Categorical's choice index, plus a prior component (a wide Gaussian, uniform choices), so
    the search keeps exploring. `n_candidates` points drawn from the good estimator l are scored
    by log l(x) - log g(x) and the best is suggested; Ints are snapped to their grid and scored
    by the kernels' mass over their integer's cell (`Int.cell`), not their density at a point,
    and a categorical kernel keeps prior_weight/(n+1) on every choice (both as Optuna's TPE;
    together they took the mixed-space benchmark from -0.33 to -0.67 log10 regret). Older
    trials weigh less after 25 (Optuna's ramp).

    Conditional spaces: parameters with the same `when` condition form a group, modelled
    jointly on the trials where that group was active (Optuna's `group=True`), with its own
    good/bad split. Groups are decided in dependency order, so an inactive group is never
    sampled. Fixed parameters are not searched.

    Trials: complete and pruned ones score as `trial.scores` (with one objective a pruned one
    scores by its last report); failed ones, non-finite scores and pruned trials without values
    (with several objectives a pruned trial has none) are bad observations with the worst score,
    so a region where trials fail is avoided. Running trials of other workers (with parameters)
    are bad observations too (a constant liar), so workers spread out.

    Several objectives (MOTPE, Ozaki et al. 2020/2022): the good set, of the same size gamma(n),
    is filled by non-dominated rank; the last front that does not fit whole is cut by greedy
    hypervolume subset selection, and each good kernel is weighted by its point's hypervolume
    contribution (objectives normalised to [0, 1] over the points compared, reference 1.1 in
    each; `_split.py`). Constraints (`constraints_func` of the study), with one objective or
    several: feasible trials fill the good set first, infeasible ones only when too few are
    feasible, least violation first.

    Until `n_startup` trials have finished, suggestions are points of a scrambled Sobol sequence,
    shared by all workers. Randomness after that comes only from the per-trial generator.

    Args:
        seed: Seed for reproducible studies; None draws one now (kept when pickled).
        n_startup: Finished trials before the model is used (default 10).
        n_candidates: Points drawn from l per group (default 24).
        prior_weight: Weight of the prior component beside observations of weight <= 1.
        constant_liar: Count running trials as bad observations (default True).
        bandwidth: "neighbour" (Optuna's rule: each kernel as wide as the larger gap to its
            neighbours in that dimension) or "scott" (one width 0.2 n^(-1/(d+4)) for all
            kernels, Falkner et al. 2018); both clipped below at 1/min(100, n+2). None (default):
            "neighbour" with one objective, "scott" with several (the neighbour rule's narrow
            kernels around a clustered good set lost the front's spread: on DTLZ2 with 3
            objectives, 6 inputs, 100 evaluations, it fell below random search, 13.4 against
            14.1 hypervolume (reference 2.5 each, 5 seeds); scott 14.5, Optuna's TPE 14.7).

    Raises:
        ConfigError: An argument is out of range.

    >>> from shoal.space import Float, Space
    >>> from shoal.samplers import History, sampler_rng
    >>> from shoal.trial import FrozenTrial, TrialState
    >>> space = Space({"x": Float(-5.0, 5.0)})
    >>> xs = [-4.5, -3.0, -2.0, -0.3, 0.2, 1.0, 2.5, 3.5, 4.0, 4.8]
    >>> trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=(x * x,))
    ...           for i, x in enumerate(xs)]
    >>> sampler = TPESampler(seed=0, n_startup=10)
    >>> abs(sampler.suggest(space, History(trials, 10), sampler_rng(0, 10))["x"]) < 3.0
    True
    """

    multi_objective = True  # the split ranks fronts when trials have several scores

    def __init__(self, *, seed: int | None = None, n_startup: int = 10, n_candidates: int = 24,
                 prior_weight: float = 1.0, constant_liar: bool = True,
                 bandwidth: Bandwidth | None = None) -> None:
        self.seed = _validate.seed(seed, owner="TPESampler")
        self.n_startup = _validate.integer(n_startup, what="n_startup", owner="TPESampler", low=1)
        self.n_candidates = _validate.integer(n_candidates, what="n_candidates",
                                              owner="TPESampler", low=1)
        self.prior_weight = _validate.number(prior_weight, what="prior_weight",
                                             owner="TPESampler", low=0.0, low_open=True)
        self.bandwidth: Bandwidth | None = None if bandwidth is None else _validate.one_of(
            bandwidth, ("neighbour", "scott"), what="bandwidth", owner="TPESampler")
        self.constant_liar = bool(constant_liar)
        # Every worker must walk one Sobol sequence: its scramble is drawn once, kept when pickled.
        self._qmc_seed = seed if seed is not None else int(
            np.random.SeedSequence().generate_state(1)[0])
        self._memo: _Memo | None = None

    def __repr__(self) -> str:
        return (f"TPESampler(seed={self.seed!r}, n_startup={self.n_startup!r}, "
                f"n_candidates={self.n_candidates!r}, prior_weight={self.prior_weight!r}, "
                f"constant_liar={self.constant_liar!r}, bandwidth={self.bandwidth!r})")

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        if len(space) == 0:
            return {}
        if not _n_finished_reaches(history, self.n_startup):
            return space.decode(initial_point("sobol", list(space), history.position,
                                              seed=self._qmc_seed))
        rng = space_rng(rng, space)  # parameters asked alone do not share a stream
        liar, number = self.constant_liar, history.number
        # One pass: finished trials, and (constant liar) those other workers are running.
        trials = sorted((t for t in history.trials if t.params and (
            t.state in _FINISHED or (liar and t.state is TrialState.RUNNING and t.number != number))),
            key=_NUMBER)
        u_obs, scores, violations = self._encoded(space, trials)
        u = np.full(len(space), np.nan)
        for group in _groups(space):
            if space.is_conditional and not space.is_active(group.names[0], space.decode(u)):
                continue
            u[group.columns] = self._suggest_group(group, u_obs, scores, violations, rng)
        return space.decode(u)

    def _encoded(self, space: Space,
                 trials: list[FrozenTrial]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encoded parameters, scores (a column per objective) and constraint violations of
        `trials`, finished ones remembered between calls.

        A finished trial never changes, and encoding a thousand of them again on every
        suggestion cost more than the model (about 2 ms of 6 with 10 parameters). The memo is
        replaced, never mutated, so concurrent calls cannot see it half-updated.
        """
        memo = self._memo
        k = max((t.n_objectives for t in trials), default=1)
        if memo is None or memo.scores.shape[1] != k or (memo.space is not space
                                                         and memo.space != space):
            memo = _Memo(space, {}, np.empty((0, len(space))), np.empty((0, k)), np.empty(0))
        index = memo.index
        get = index.get  # the key of `_memo_key`, inlined: this line runs once per trial
        found = np.array([get((t.trial_id, t.datetime_complete, t.values), -1) for t in trials],
                         dtype=int)
        new = np.flatnonzero(found < 0)
        if not len(new):
            return memo.u[found], memo.scores[found], memo.violations[found]
        fresh = [trials[i] for i in new]
        u_new, s_new = encode_trials(space, fresh), _scores(fresh, k)
        v_new = np.array([t.violation for t in fresh], dtype=float)
        u_obs, scores = np.empty((len(trials), len(space))), np.empty((len(trials), k))
        violations = np.empty(len(trials))
        old = found >= 0
        u_obs[old], scores[old] = memo.u[found[old]], memo.scores[found[old]]
        violations[old] = memo.violations[found[old]]
        u_obs[new], scores[new], violations[new] = u_new, s_new, v_new
        # Running trials, and hand-made ones without a completion time, are never remembered.
        keep = [j for j, t in enumerate(fresh)
                if t.datetime_complete is not None and t.state is not TrialState.RUNNING]
        if keep:
            index = dict(index)
            index.update((_memo_key(fresh[j]), len(memo.scores) + k) for k, j in enumerate(keep))
            self._memo = _Memo(space, index, np.vstack([memo.u, u_new[keep]]),
                               np.vstack([memo.scores, s_new[keep]]),
                               np.concatenate([memo.violations, v_new[keep]]))
        return u_obs, scores, violations

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_memo": None}  # a cache, not state: workers rebuild their own

    def describe(self, space: Space, history: History) -> dict[str, Any]:
        """System attributes for the trial being filled: how its point is chosen (JSON).

        `tpe_phase` is "initial_design" (a Sobol point) or "model" (the best of the candidates
        by log l - log g).
        """
        model = len(space) > 0 and _n_finished_reaches(history, self.n_startup)
        return {"tpe_phase": "model" if model else "initial_design"}

    def _suggest_group(self, group: _Group, u_obs: np.ndarray, scores: np.ndarray,
                       violations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Encoded values of the group's parameters: the best of n_candidates draws from l."""
        sub = u_obs[:, group.columns]
        rows = np.flatnonzero(~np.isnan(sub).any(axis=1))  # trials where the group was active
        sub = sub[rows]
        good = split(scores[rows], violations[rows], n_below(len(rows)))
        rule = self.bandwidth or ("scott" if scores.shape[1] > 1 else "neighbour")
        num, cat = group.num, group.cat
        x_num, x_cat = sub[:, num], _cat_index(sub[:, cat], group.n_choices)
        l_est, g_est = (fit_parzen(x_num[i], x_cat[i], group.n_choices, w,
                                   prior_weight=self.prior_weight, rule=rule)
                        for i, w in ((good.below, good.weights),
                                     (good.above, trial_weights(len(good.above)))))
        c_num, c_cat = l_est.sample(rng, self.n_candidates)
        c_num, cells = group.snap(c_num)
        acq = l_est.log_pdf(c_num, c_cat, cells) - g_est.log_pdf(c_num, c_cat, cells)
        best = int(np.argmax(acq))
        out = np.empty(len(group.columns))
        out[num] = c_num[best]
        out[cat] = (c_cat[best] + 0.5) / np.array(group.n_choices, dtype=float)
        return out


@dataclass(frozen=True)
class _Memo:
    """Finished trials of one space already encoded: row `index[key]` of `u`, `scores` (a
    column per objective) and `violations`."""

    space: Space
    index: dict[tuple[Any, ...], int]
    u: np.ndarray
    scores: np.ndarray
    violations: np.ndarray


def _memo_key(t: FrozenTrial) -> tuple[Any, ...]:
    """What identifies a finished trial across storage reads (ids are unique in a storage).

    Only trials stamped with a completion time are remembered. The time and the values guard
    against one sampler serving two storages whose trial ids coincide.
    """
    return t.trial_id, t.datetime_complete, t.values


def _n_finished_reaches(history: History, n: int) -> bool:
    """At least `n` finished trials with parameters (stops counting there: O(n), not O(trials))."""
    count = 0
    for t in history.trials:
        if t.state in _FINISHED and t.params:
            count += 1
            if count >= n:
                return True
    return False


@dataclass(frozen=True)
class _Group:
    """Searched parameters sharing one `when` condition: modelled jointly."""

    names: list[str]
    columns: np.ndarray  # their positions in the space (encoded coordinates)
    num: np.ndarray  # positions within the group of the Float/Int parameters
    cat: np.ndarray  # positions within the group of the Categoricals
    n_choices: list[int]
    ints: list[tuple[int, Int]]  # (position among the numeric ones, parameter)

    def snap(self, x_num: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray] | None]:
        """Int coordinates moved to their integers' encodings, and (dims, lower, upper) of those
        integers' cells (`Int.cell`, for `log_pdf`); None without Ints."""
        if not self.ints:
            return x_num, None
        bounds = np.empty((2, len(x_num), len(self.ints)))
        for k, (j, param) in enumerate(self.ints):
            known: dict[int, tuple[float, float, float]] = {}  # integer: encoding, cell
            for i, v in enumerate(x_num[:, j].tolist()):
                integer = param.decode(v)
                if integer not in known:
                    u = param.encode(integer)
                    known[integer] = (u, *param.cell(u))
                x_num[i, j], bounds[0, i, k], bounds[1, i, k] = known[integer]
        return x_num, (np.array([j for j, _ in self.ints]), bounds[0], bounds[1])


def _groups(space: Space) -> list[_Group]:
    """Groups in dependency order (the space's order of their first parameter)."""
    by_when: dict[Any, list[tuple[int, str]]] = {}
    for i, (name, param) in enumerate(space.items()):
        if not isinstance(param, Fixed):
            by_when.setdefault(param.when, []).append((i, name))
    groups = []
    for members in by_when.values():
        params = [space[name] for _, name in members]
        num = [j for j, p in enumerate(params) if not isinstance(p, Categorical)]
        cat = [j for j, p in enumerate(params) if isinstance(p, Categorical)]
        ints = [(k, p) for k, p in enumerate(params[j] for j in num) if isinstance(p, Int)]
        groups.append(_Group([name for _, name in members], np.array([i for i, _ in members]),
                             np.array(num, dtype=int), np.array(cat, dtype=int),
                             [len(p.choices) for p in params if isinstance(p, Categorical)],
                             ints))
    return groups


def _cat_index(u: np.ndarray, n_choices: list[int]) -> np.ndarray:
    k = np.array(n_choices, dtype=int)
    return np.minimum((u * k).astype(int), k - 1) if len(k) else np.empty((len(u), 0), dtype=int)


def _scores(trials: Sequence[FrozenTrial], k: int) -> np.ndarray:
    """Scores to rank by, `k` per trial; worst (inf) for failed, running and non-finite ones,
    and for those without `k` scores (pruned ones with several objectives have none)."""
    bad = (TrialState.FAILED, TrialState.RUNNING)
    out = np.full((len(trials), k), math.inf)
    for i, t in enumerate(trials):
        scores = None if t.state in bad else t.scores
        if scores is not None and len(scores) == k:
            out[i] = scores
    out[~np.isfinite(out)] = math.inf  # NaN and -inf are no better than a failure
    return out


def encode_trials(space: Space, trials: Sequence[FrozenTrial]) -> np.ndarray:
    """Encoded parameters, one row per trial (NaN: inactive, missing or not of this space).

    Column by column, with Float parameters vectorised: `space.encode` trial by trial took
    about 6 ms per thousand trials of two parameters, more than a whole suggestion may.
    """
    out = np.full((len(trials), len(space)), np.nan)
    columns = _columns(list(space), trials)
    for i, (name, param) in enumerate(space.items()):
        values = columns[i]
        if isinstance(param, Float):
            out[:, i] = _encode_floats(param, values)
        else:
            out[:, i] = [_encode_one(param, v) for v in values]
        if param.when:
            active = [space.is_active(name, t.params) for t in trials]
            out[~np.array(active, dtype=bool), i] = np.nan
    return out


def _columns(names: list[str], trials: Sequence[FrozenTrial]) -> list[Sequence[Any]]:
    """The values of each parameter across trials (`_MISSING` where a trial has none)."""
    get = operator.itemgetter(*names)
    try:  # every trial has every parameter: one C-level lookup per trial
        rows = [get(t.params) for t in trials]
    except KeyError:
        return [[t.params.get(name, _MISSING) for t in trials] for name in names]
    if len(names) == 1:
        return [rows]
    return list(zip(*rows, strict=True)) if rows else [[] for _ in names]


def _encode_floats(param: Float, values: Sequence[Any]) -> np.ndarray:
    if set(map(type, values)) <= {float, int}:  # the usual case, at C speed
        x = np.array(values, dtype=float)
    else:
        x = np.array([v if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                      for v in values], dtype=float)
    lo, hi = param.low, param.high
    with np.errstate(invalid="ignore", divide="ignore"):
        if param.scale == "log":
            x, lo, hi = np.log(x), math.log(lo), math.log(hi)
        elif param.scale == "one_minus_log":
            x, lo, hi = -np.log1p(-x), -math.log1p(-lo), -math.log1p(-hi)
        u: np.ndarray = np.clip((x - lo) / (hi - lo), 0.0, 1.0)  # NaN stays NaN
    return u


def _encode_one(param: Any, value: Any) -> float:
    if value is _MISSING:
        return math.nan
    try:
        return float(param.encode(value))
    except (ValueError, TypeError):  # a value from another space version: not ours to learn from
        return math.nan
