"""The heartbeat thread beats while a trial runs and is gone once no trial is left."""

from __future__ import annotations

import gc
import time
import weakref
from pathlib import Path

import pytest

import shoal
from shoal import TrialState
from shoal.study import _policies


def _last_beat(study: shoal.Study, number: int) -> float:
    trial = next(t for t in study.storage.get_trials(study.study_id).trials if t.number == number)
    return trial.last_heartbeat or 0.0


def _wait_until(condition: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_running_trial_gets_heartbeats_and_the_thread_ends_with_it(tmp_path: Path) -> None:
    study = shoal.create_study("beat", storage=f"sqlite:///{tmp_path / 'b.db'}",
                               heartbeat=shoal.Heartbeat(interval=0.05, grace=1.0))
    trial = study.ask()
    first = _last_beat(study, trial.number)
    assert first > 0
    assert _wait_until(lambda: _last_beat(study, trial.number) > first)
    thread = study._beats._thread
    assert thread is not None
    assert thread.name == "shoal-heartbeat"
    study.tell(trial, 1.0)
    thread.join(timeout=5.0)
    assert not thread.is_alive()
    assert not study._beats.running


def test_a_new_trial_after_the_thread_ended_starts_it_again(tmp_path: Path) -> None:
    study = shoal.create_study("again", storage=f"sqlite:///{tmp_path / 'a.db'}",
                               heartbeat=shoal.Heartbeat(interval=0.05, grace=1.0))
    study.tell(study.ask(), 1.0)
    assert _wait_until(lambda: not study._beats.running)
    trial = study.ask()
    assert study._beats.running
    before = _last_beat(study, trial.number)
    assert _wait_until(lambda: _last_beat(study, trial.number) > before)
    study.tell(trial, state=TrialState.PRUNED)
    assert _wait_until(lambda: not study._beats.running)


def test_dropped_studies_leave_no_thread_and_are_collected(tmp_path: Path) -> None:
    refs, threads = [], []
    for i in range(5):
        study = shoal.create_study(f"s{i}", storage=f"sqlite:///{tmp_path / f'{i}.db'}")
        study.optimize(lambda t: threads.append(t.study._beats._thread) or t.suggest_float("x", 0, 1),
                       n_trials=2)
        refs.append(weakref.ref(study))
        del study
    assert len(threads) == 10
    for thread in threads:
        assert thread is not None
        thread.join(timeout=5.0)
        assert not thread.is_alive()
    gc.collect()
    assert [r for r in refs if r() is not None] == []


def test_trials_in_quick_succession_share_one_thread(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_policies, "LINGER", 1.0)  # room for a slow CI machine between trials
    study = shoal.create_study("quick", storage=f"sqlite:///{tmp_path / 'q.db'}")
    seen = []
    for _ in range(5):  # an ask/tell loop: each trial starts well within LINGER of the last end
        trial = study.ask()
        seen.append(study._beats._thread)
        study.tell(trial, 1.0)
    assert seen[0] is not None
    assert all(thread is seen[0] for thread in seen)
    seen[0].join(timeout=5.0)  # and it still ends once no trial comes
    assert not seen[0].is_alive()
