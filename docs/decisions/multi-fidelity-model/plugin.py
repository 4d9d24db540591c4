"""Development plugin of docs/decisions/multi-fidelity-model.md (not the official benchmark): shoal samplers + a minimal ASHA, for run.py --plugin.

ASHA, stopping type (Syne Tune's ASHA(type="stopping") rule): rungs 1, 3, 9, 27 (grace 1, eta 3);
at a rung a trial goes on iff fewer than ceil(n / eta) of the n values recorded there (itself
included) are better than its own. Promotion type: pause at the rungs, resume the best paused
trial of the highest rung where it is in the top 1/eta and not yet promoted, else a new trial.
"""
from __future__ import annotations

import math
import os
import sys
import time

if os.environ.get("SHOAL_SRC"):  # a source tree to test, else the installed shoal
    sys.path.insert(0, os.environ["SHOAL_SRC"])

from adapters.base import Adapter, Job  # noqa: E402
from common import MAX_EPOCH  # noqa: E402

from shoal.samplers import GPSampler, History, MultiFidelitySampler, RandomSampler, TPESampler, sampler_rng  # noqa: E402
from shoal.space import Float, Int, Space  # noqa: E402
from shoal.trial import FrozenTrial, TrialState  # noqa: E402

SPACE = Space({
    "batch_size": Int(16, 512, log=True), "learning_rate": Float(1e-4, 1e-1, scale="log"),
    "momentum": Float(0.1, 0.99), "weight_decay": Float(1e-5, 1e-1),
    "num_layers": Int(1, 5), "max_units": Int(64, 1024, log=True), "max_dropout": Float(0.0, 1.0),
})
RUNGS = (1, 3, 9, 27)
ETA = 3
TIMES: list[float] = []  # suggest() seconds of the last run


class ShoalASHA(Adapter):
    def __init__(self, sampler, seed, promotion=False):
        self.sampler, self.seed, self.promotion = sampler, seed, promotion
        self.curves: dict[int, dict[int, float]] = {}
        self.params: dict[int, dict] = {}
        self.state: dict[int, TrialState] = {}
        self.done_at: dict[int, float] = {}
        self.frozen: dict[int, FrozenTrial] = {}
        self.rung: dict[int, list[tuple[float, int]]] = {r: [] for r in RUNGS}
        self.promoted: set[tuple[int, int]] = set()
        self.suggest_s: list[float] = []
        TIMES.clear()

    def _record(self, n):
        st = self.state[n]
        if n in self.frozen and st is not TrialState.RUNNING:
            return self.frozen[n]
        curve = self.curves[n]
        values = (curve[MAX_EPOCH],) if st is TrialState.COMPLETE else None
        t = FrozenTrial(n, n, st, params=self.params[n], values=values, intermediate=dict(curve),
                        signs=(-1.0,), datetime_start=0.0, datetime_complete=self.done_at.get(n))
        if st is not TrialState.RUNNING:
            self.frozen[n] = t
        return t

    def _finish(self, n, state, now):
        self.state[n] = state
        self.done_at[n] = now
        self.frozen.pop(n, None)

    def start(self, now):
        if self.promotion:
            job = self._promote(now)
            if job is not None:
                return job
        n = len(self.params)
        trials = [self._record(i) for i in range(n)]
        trials.append(FrozenTrial(n, n, TrialState.RUNNING))
        t0 = time.perf_counter()
        params = self.sampler.suggest(SPACE, History(trials, n), sampler_rng(self.seed, n))
        dt = time.perf_counter() - t0
        self.suggest_s.append(dt)
        TIMES.append(dt)
        self.params[n], self.curves[n], self.state[n] = params, {}, TrialState.RUNNING
        return Job(n, params)

    def _promote(self, now):
        for r in reversed(RUNGS):
            recs = sorted(self.rung[r], reverse=True)  # higher accuracy first
            k = len(recs) // ETA
            for acc, n in recs[:k]:
                if (n, r) not in self.promoted and self.state[n] is TrialState.PAUSED:
                    self.promoted.add((n, r))
                    self.state[n] = TrialState.RUNNING
                    self.frozen.pop(n, None)
                    return Job(n, resume=True)
        return None

    def report(self, trial_id, epoch, value, now):
        n = trial_id
        self.curves[n][epoch] = value
        if epoch >= MAX_EPOCH:
            self._finish(n, TrialState.COMPLETE, now)
            return "stop"
        if epoch in self.rung:
            recs = self.rung[epoch]
            recs.append((value, n))
            if self.promotion:
                self._finish(n, TrialState.PAUSED, now)
                return "pause"
            better = sum(1 for v, _ in recs if v > value)
            if better >= math.ceil(len(recs) / ETA):
                self._finish(n, TrialState.PRUNED, now)
                return "stop"
        return "continue"


def _mf(kind, promotion=False, **kw):
    def make(s):
        base = {"tpe": TPESampler(seed=s), "gp": GPSampler(seed=s),
                "scott": TPESampler(seed=s, bandwidth="scott"),
                "prior2": TPESampler(seed=s, prior_weight=2.0)}[kind]
        return ShoalASHA(MultiFidelitySampler(base=base, **kw), s, promotion=promotion)
    return make


# Variants as they were run: "drop" was the default until "impute" was written.
METHODS = {
    "dev-random-asha": lambda s: ShoalASHA(RandomSampler(seed=s), s),
    "dev-tpe-asha": lambda s: ShoalASHA(TPESampler(seed=s), s),
    "dev-mf-tpe-rf0-asha": _mf("tpe", random_fraction=0.0, unreached="drop"),
    "dev-mf-tpe-bad-rf0-asha": _mf("tpe", random_fraction=0.0, unreached="bad"),
    "dev-mf-tpe-asha": _mf("tpe", unreached="drop"),
    "dev-mf-tpe-bad-asha": _mf("tpe", unreached="bad"),
    "dev-mf-tpe-rf20-asha": _mf("tpe", random_fraction=0.2, unreached="drop"),
    "dev-mf-tpe-rf50-asha": _mf("tpe", random_fraction=0.5, unreached="drop"),
    "dev-mf-tpe-mp20-asha": _mf("tpe", min_points=20, unreached="drop"),
    "dev-mf-tpe-mp40-asha": _mf("tpe", min_points=40, unreached="drop"),
    "dev-mf-gp-asha": _mf("gp", unreached="drop"),
    "dev-mf-gp-impute-asha": _mf("gp", unreached="impute"),
    "dev-mf-gp-impute-rf0-asha": _mf("gp", unreached="impute", random_fraction=0.0),
    "dev-mf-tpe-impute-asha": _mf("tpe", unreached="impute"),
    "dev-mf-gp-rf0-asha": _mf("gp", random_fraction=0.0, unreached="drop"),
    "dev-mf-scott-asha": _mf("scott", unreached="drop"),
    "dev-mf-scott-mp20-asha": _mf("scott", min_points=20, unreached="drop"),
    "dev-mf-tpe-mp80-asha": _mf("tpe", min_points=80, unreached="drop"),
    "dev-random-asha-prom": lambda s: ShoalASHA(RandomSampler(seed=s), s, promotion=True),
    "dev-tpe-asha-prom": lambda s: ShoalASHA(TPESampler(seed=s), s, promotion=True),
    "dev-mf-tpe-asha-prom": _mf("tpe", promotion=True, unreached="drop"),
    "dev-mf-gp-asha-prom": _mf("gp", promotion=True, unreached="drop"),
    "dev-mf-gp-impute-asha-prom": _mf("gp", promotion=True),
}

