"""Multi-process checks shared by the SQLite and PostgreSQL storage tests.

The workers are real forked processes hitting one real database; nothing is mocked.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from shoal.exceptions import StudyExists
from shoal.space import Int
from shoal.storage._sql import SQLStorage
from shoal.trial import Direction, TrialState

N_WORKERS = 8
JOIN_TIMEOUT_S = 100.0


def _open_study(storage: SQLStorage, name: str) -> int:
    try:
        return storage.create_study(name, [Direction.MINIMIZE]).study_id
    except StudyExists:  # another worker won the race
        return storage.get_study(name).study_id


def _ask_tell_worker(url: str, inherited: SQLStorage | None, study: str, index: int,
                     n_trials: int, barrier: Any, errors: Any) -> None:
    try:
        barrier.wait()  # all workers open (or first use) the storage at the same moment
        storage = inherited or SQLStorage(url)
        study_id = _open_study(storage, study)
        for i in range(n_trials):
            trial = storage.create_trial(study_id, worker=f"w{index}")
            x = index * 1000 + i
            assert storage.update_trial(trial.trial_id, params={"x": x},
                                        distributions={"x": Int(0, 10_000)},
                                        intermediate={0: float(x)}, heartbeat=True)
            assert storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE,
                                        values=[float(x)])
    except BaseException:
        errors.put(f"worker {index}:\n{traceback.format_exc()}")
        raise


def _claim_worker(url: str, inherited: SQLStorage | None, study_id: int, index: int,
                  barrier: Any, errors: Any, claims: Any) -> None:
    try:
        storage = inherited or SQLStorage(url)
        barrier.wait()
        n = 0
        while (trial := storage.claim_waiting_trial(study_id, worker=f"w{index}")) is not None:
            assert storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE,
                                        values=[float(index)])
            n += 1
        claims.put(n)
    except BaseException:
        errors.put(f"worker {index}:\n{traceback.format_exc()}")
        raise


def _resume_worker(url: str, inherited: SQLStorage | None, trial_ids: list[int], index: int,
                   barrier: Any, errors: Any, wins: Any) -> None:
    try:
        storage = inherited or SQLStorage(url)
        barrier.wait()
        start = index % len(trial_ids)  # each worker starts at another trial, then takes all
        for trial_id in trial_ids[start:] + trial_ids[:start]:
            trial = storage.resume_trial(trial_id, worker=f"w{index}")
            if trial is not None:
                assert storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE,
                                            values=[float(index)])
                wins.put(trial.number)
    except BaseException:
        errors.put(f"worker {index}:\n{traceback.format_exc()}")
        raise


def _run(target: Callable[..., None], args: Callable[[int], tuple[Any, ...]]) -> list[str]:
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=target, args=args(i)) for i in range(N_WORKERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(JOIN_TIMEOUT_S)
    stuck = [p for p in procs if p.is_alive()]
    for proc in stuck:
        proc.kill()
        proc.join()
    return [f"worker {i} exited with {p.exitcode}" for i, p in enumerate(procs) if p.exitcode]


def _drain(queue: Any) -> list[Any]:
    out = []
    while not queue.empty():
        out.append(queue.get(timeout=1.0))
    return out


@pytest.fixture
def check_concurrent_ask_tell() -> Callable[[str, bool, int], None]:
    """Run 8 processes x n trials (create, update, finish) on one storage URL and check the result.

    With `inherit=True` the parent opens the storage and the children use that object across
    fork; otherwise all children open a storage (maybe a brand-new file) at the same moment.
    """

    def check(url: str, inherit: bool, n_trials: int) -> None:
        ctx = mp.get_context("fork")
        barrier, errors = ctx.Barrier(N_WORKERS), ctx.Queue()
        inherited = SQLStorage(url) if inherit else None
        if inherited is not None:
            _open_study(inherited, "race")
            inherited.list_studies()  # leave a pooled connection for the children to inherit
        failed = _run(_ask_tell_worker, lambda i: (url, inherited, "race", i, n_trials, barrier,
                                                   errors))
        reports = _drain(errors)
        assert not failed + reports, "\n".join(failed + reports)
        parent = inherited or SQLStorage(url)  # the parent's inherited connections still work
        study = parent.get_study("race")
        trials = parent.get_trials(study.study_id).trials
        assert study.n_trials == N_WORKERS * n_trials
        assert [t.number for t in trials] == list(range(N_WORKERS * n_trials))
        assert all(t.state is TrialState.COMPLETE for t in trials)
        expected = {w * 1000 + i for w in range(N_WORKERS) for i in range(n_trials)}
        assert {t.params["x"] for t in trials} == expected
        assert all(t.values == (float(t.params["x"]),) for t in trials)
        assert all(t.intermediate == {0: float(t.params["x"])} for t in trials)
        assert all(t.worker == f"w{t.params['x'] // 1000}" for t in trials)
        parent.close()

    return check


@pytest.fixture
def check_concurrent_claims() -> Callable[[str, int], None]:
    """Enqueue n WAITING trials; 8 forked processes claim until none is left: each exactly once."""

    def check(url: str, n_waiting: int) -> None:
        ctx = mp.get_context("fork")
        barrier, errors, claims = ctx.Barrier(N_WORKERS), ctx.Queue(), ctx.Queue()
        parent = SQLStorage(url)
        study_id = parent.create_study("queue", [Direction.MINIMIZE]).study_id
        for i in range(n_waiting):
            parent.create_trial(study_id, state=TrialState.WAITING, params={"i": i})
        failed = _run(_claim_worker, lambda i: (url, parent if i % 2 else None, study_id, i,
                                                barrier, errors, claims))
        reports = _drain(errors)
        assert not failed + reports, "\n".join(failed + reports)
        assert sum(_drain(claims)) == n_waiting
        trials = parent.get_trials(study_id).trials
        assert [t.params["i"] for t in trials] == list(range(n_waiting))
        assert all(t.state is TrialState.COMPLETE for t in trials)
        assert all(t.values == (float(t.worker[1:]),) for t in trials if t.worker)
        parent.close()

    return check


@pytest.fixture
def check_concurrent_resumes() -> Callable[[str, int], None]:
    """Pause n trials; 8 forked processes (half on their own storage object, half on one they
    inherit) each try to resume every one of them: each trial is resumed exactly once."""

    def check(url: str, n_paused: int) -> None:
        ctx = mp.get_context("fork")
        barrier, errors, wins = ctx.Barrier(N_WORKERS), ctx.Queue(), ctx.Queue()
        parent = SQLStorage(url)
        study_id = parent.create_study("paused", [Direction.MINIMIZE]).study_id
        trial_ids = []
        for i in range(n_paused):
            trial = parent.create_trial(study_id, params={"i": i})
            parent.update_trial(trial.trial_id, intermediate={i: 0.5})
            parent.finish_trial(trial.trial_id, state=TrialState.PAUSED)
            trial_ids.append(trial.trial_id)
        failed = _run(_resume_worker, lambda i: (url, parent if i % 2 else None, trial_ids, i,
                                                 barrier, errors, wins))
        reports = _drain(errors)
        assert not failed + reports, "\n".join(failed + reports)
        assert sorted(_drain(wins)) == list(range(n_paused))
        trials = parent.get_trials(study_id).trials
        assert all(t.state is TrialState.COMPLETE for t in trials)
        assert all([e["event"] for e in t.lineage] == ["paused", "resumed"] for t in trials)
        assert all(t.lineage[1]["worker"] == t.worker for t in trials)
        assert all(t.values == (float(t.worker[1:]),) for t in trials if t.worker)
        parent.close()

    return check
