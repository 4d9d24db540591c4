"""The storage suite's cases for the trial lifecycle: pause, resume, lineage (DESIGN.md, section 5).

`StorageSuite` inherits them; they live here to keep each file short. They use the suite's
`storage` and `clock` fixtures, and two hooks a storage may override: `open_again` (a second
worker's object on the same data) and `open_reader_of` (the read-only view of it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shoal.clock import FakeClock
from shoal.storage import Storage, StorageReader, open_reader, open_storage
from shoal.trial import Direction, FrozenTrial, TrialState

__all__ = ["LifecycleCases"]

MIN = Direction.MINIMIZE
RUNNING, WAITING, PAUSED = TrialState.RUNNING, TrialState.WAITING, TrialState.PAUSED
COMPLETE, PRUNED, FAILED = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED
N_RACERS = 8


def _events(trial: FrozenTrial) -> list[tuple[Any, ...]]:
    return [(e["event"], e.get("step"), e.get("worker"), e.get("at")) for e in trial.lineage]


def _only(storage: Storage, study_id: int) -> FrozenTrial:
    [trial] = storage.get_trials(study_id).trials
    return trial


class LifecycleCases:
    """Pause, resume and lineage: what every storage must do as `InMemoryStorage` does."""

    def open_again(self, storage: Storage, clock: FakeClock) -> Storage:
        """Another object on the same data as `storage`, as a second worker would open it.

        By default `storage` itself when it lives in this process (url "memory"), else
        `open_storage(storage.url, clock=clock)`.
        """
        return storage if storage.url == "memory" else open_storage(storage.url, clock=clock)

    def open_reader_of(self, storage: Storage) -> StorageReader:
        """The read-only view of `storage`'s data: `storage` itself in memory, else `open_reader`."""
        return storage if storage.url == "memory" else open_reader(storage.url)

    @contextmanager
    def _second(self, storage: Storage, clock: FakeClock) -> Iterator[Storage]:
        other = self.open_again(storage, clock)
        try:
            yield other
        finally:
            if other is not storage:
                other.close()

    def _paused(self, storage: Storage, clock: FakeClock, *, steps: int = 3,
                name: str = "s") -> tuple[int, FrozenTrial]:
        """A study with one trial that reported `steps` steps (0, 1, ...) and paused, 1 s later."""
        study = storage.create_study(name, [MIN])
        trial = storage.create_trial(study.study_id, params={"lr": 0.1}, worker="w0")
        assert storage.update_trial(trial.trial_id,
                                    intermediate={s: 1.0 / (s + 1) for s in range(steps)})
        clock.advance(1.0)
        assert storage.finish_trial(trial.trial_id, state=PAUSED)
        return study.study_id, trial

    # Pause and resume -------------------------------------------------------------------------
    def test_pause_then_resume_keeps_the_trial(self, storage: Storage, clock: FakeClock) -> None:
        study_id, trial = self._paused(storage, clock)
        paused = _only(storage, study_id)
        assert (paused.state, paused.number, paused.trial_id) == (PAUSED, 0, trial.trial_id)
        assert not paused.state.is_finished
        assert (paused.datetime_start, paused.datetime_complete) == (1000.0, 1001.0)
        assert paused.score == 1.0 / 3  # its last report, as for a pruned trial
        assert paused.values is None
        assert _events(paused) == [("paused", 2, None, 1001.0)]
        clock.advance(60.0)  # 1061
        resumed = storage.resume_trial(trial.trial_id, worker="w1")
        assert resumed is not None
        assert resumed == _only(storage, study_id)  # what it returns is what is stored
        assert (resumed.state, resumed.number, resumed.trial_id) == (RUNNING, 0, trial.trial_id)
        assert resumed.params == {"lr": 0.1}
        assert resumed.intermediate == {0: 1.0, 1: 0.5, 2: 1.0 / 3}
        assert resumed.datetime_start == 1000.0  # its first start
        assert resumed.datetime_complete is None
        assert (resumed.worker, resumed.last_heartbeat) == ("w1", 1061.0)
        assert _events(resumed) == [("paused", 2, None, 1001.0), ("resumed", 2, "w1", 1061.0)]
        assert resumed.resumes == 1
        assert storage.update_trial(trial.trial_id, intermediate={3: 0.2}, heartbeat=True)
        clock.advance(1.0)
        assert storage.finish_trial(trial.trial_id, state=COMPLETE, values=[0.2])
        done = _only(storage, study_id)
        assert (done.state, done.values, done.duration) == (COMPLETE, (0.2,), 62.0)
        assert done.intermediate == {0: 1.0, 1: 0.5, 2: 1.0 / 3, 3: 0.2}
        assert done.lineage == resumed.lineage  # finishing adds no event

    def test_lineage_events_accumulate_in_order(self, storage: Storage, clock: FakeClock) -> None:
        study = storage.create_study("s", [MIN])
        fork = {"event": "forked", "parent": 3, "step": 9, "changed": {"lr": (0.01, 0.012)},
                "replaces": None, "at": 999.5}
        trial = storage.create_trial(study.study_id, parent=3, lineage=[fork])
        assert trial.lineage == ({**fork, "changed": {"lr": [0.01, 0.012]}},)  # as JSON keeps it
        assert (trial.forked_from, trial.start_step) == ((3, 9), 10)
        assert storage.finish_trial(trial.trial_id, state=PAUSED)  # no report yet: step None
        for round_ in range(3):
            clock.advance(10.0)
            assert storage.resume_trial(trial.trial_id, worker=f"w{round_}") is not None
            assert storage.update_trial(trial.trial_id, intermediate={10 + round_: 0.5})
            assert storage.finish_trial(trial.trial_id, state=PAUSED)
        got = _only(storage, study.study_id)
        assert got.lineage[0] == trial.lineage[0]
        assert _events(got)[1:] == [
            ("paused", None, None, 1000.0),
            ("resumed", None, "w0", 1010.0), ("paused", 10, None, 1010.0),
            ("resumed", 10, "w1", 1020.0), ("paused", 11, None, 1020.0),
            ("resumed", 11, "w2", 1030.0), ("paused", 12, None, 1030.0)]
        assert (got.resumes, got.forked_from, got.parent) == (3, (3, 9), 3)

    def test_only_a_paused_trial_resumes(self, storage: Storage, clock: FakeClock) -> None:
        study = storage.create_study("s", [MIN])
        running = storage.create_trial(study.study_id)
        waiting = storage.create_trial(study.study_id, state=WAITING)
        ended = [storage.create_trial(study.study_id) for _ in range(3)]
        for trial, state in zip(ended, (COMPLETE, PRUNED, FAILED), strict=True):
            assert storage.finish_trial(trial.trial_id, state=state,
                                        values=[1.0] if state is COMPLETE else None)
        before = storage.get_trials(study.study_id)
        for trial in (running, waiting, *ended):
            assert storage.resume_trial(trial.trial_id, worker="w") is None
        after = storage.get_trials(study.study_id, since=before.version)
        assert (after.trials, after.version) == ([], before.version)  # nothing written

    def test_a_paused_trial_takes_no_writes(self, storage: Storage, clock: FakeClock) -> None:
        study_id, trial = self._paused(storage, clock)
        before = storage.get_trials(study_id)
        assert storage.update_trial(trial.trial_id, params={"x": 1}) is False
        assert storage.update_trial(trial.trial_id, heartbeat=True) is False
        assert storage.update_trial(trial.trial_id, intermediate={9: 0.0}, heartbeat=True) is False
        for state in (COMPLETE, PAUSED, FAILED):
            assert storage.finish_trial(trial.trial_id, state=state, values=[0.0]) is False
        assert storage.claim_waiting_trial(study_id, worker="w") is None  # PAUSED is not WAITING
        after = storage.get_trials(study_id, since=before.version)
        assert (after.trials, after.version) == ([], before.version)
        assert storage.get_trials(study_id).trials == before.trials

    def test_incremental_reads_see_each_transition(self, storage: Storage,
                                                   clock: FakeClock) -> None:
        study = storage.create_study("s", [MIN])
        trial, other = storage.create_trial(study.study_id), storage.create_trial(study.study_id)
        page = storage.get_trials(study.study_id)
        seen = []
        for step in range(2):
            assert storage.update_trial(trial.trial_id, intermediate={step: 0.5})
            page = storage.get_trials(study.study_id, since=page.version)
            seen.append([(t.number, t.state, len(t.lineage)) for t in page.trials])
            clock.advance(1.0)
            assert storage.finish_trial(trial.trial_id, state=PAUSED)
            page = storage.get_trials(study.study_id, since=page.version)
            seen.append([(t.number, t.state, len(t.lineage)) for t in page.trials])
            assert storage.resume_trial(trial.trial_id, worker="w") is not None
            page = storage.get_trials(study.study_id, since=page.version)
            seen.append([(t.number, t.state, len(t.lineage)) for t in page.trials])
        assert seen == [[(0, RUNNING, 0)], [(0, PAUSED, 1)], [(0, RUNNING, 2)],
                        [(0, RUNNING, 2)], [(0, PAUSED, 3)], [(0, RUNNING, 4)]]
        assert storage.get_trials(study.study_id, since=page.version).trials == []
        assert [t.number for t in storage.get_trials(study.study_id).trials] == [0, other.number]

    def test_fail_stale_trials_leaves_paused_ones_alone(self, storage: Storage,
                                                        clock: FakeClock) -> None:
        study_id, trial = self._paused(storage, clock)
        clock.advance(10_000.0)  # a paused trial has no worker and sends no heartbeat
        assert storage.fail_stale_trials(study_id, grace_seconds=30.0) == []
        assert _only(storage, study_id).state is PAUSED
        assert storage.resume_trial(trial.trial_id, worker="w1") is not None
        assert storage.fail_stale_trials(study_id, grace_seconds=30.0) == []  # beat on resume
        clock.advance(31.0)
        [failed] = storage.fail_stale_trials(study_id, grace_seconds=30.0)
        assert (failed.number, failed.state) == (0, FAILED)
        assert failed.datetime_complete == 11_001.0  # its last heartbeat: the resume
        assert failed.resumes == 1

    # Several workers ---------------------------------------------------------------------------
    def test_racing_resumes_have_exactly_one_winner(self, storage: Storage,
                                                    clock: FakeClock) -> None:
        # Eight threads, half on a second storage object (a second worker), resume the same five
        # paused trials at once: each trial is resumed by exactly one of them.
        study = storage.create_study("s", [MIN])
        trials = [storage.create_trial(study.study_id) for _ in range(5)]
        for trial in trials:
            assert storage.update_trial(trial.trial_id, intermediate={4: 1.0})
            assert storage.finish_trial(trial.trial_id, state=PAUSED)
        with self._second(storage, clock) as other:
            barrier = threading.Barrier(N_RACERS)
            wins: list[tuple[int, str]] = []
            errors: list[BaseException] = []

            def race(index: int) -> None:
                mine = storage if index % 2 else other
                try:
                    barrier.wait(timeout=30.0)
                    for trial in trials[index % 5:] + trials[:index % 5]:
                        won = mine.resume_trial(trial.trial_id, worker=f"w{index}")
                        if won is not None:
                            wins.append((won.number, f"w{index}"))
                except BaseException as err:  # reported below: a thread's error is lost
                    errors.append(err)

            threads = [threading.Thread(target=race, args=(i,)) for i in range(N_RACERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120.0)
            assert not errors, errors
            assert sorted(number for number, _ in wins) == [0, 1, 2, 3, 4]
            by_number = dict(wins)
            for got in other.get_trials(study.study_id).trials:
                assert got.state is RUNNING
                assert got.worker == by_number[got.number]
                assert [e["event"] for e in got.lineage] == ["paused", "resumed"]
                assert got.lineage[1]["worker"] == by_number[got.number]

    def test_a_second_worker_sees_the_pause_and_resumes(self, storage: Storage,
                                                         clock: FakeClock) -> None:
        study_id, trial = self._paused(storage, clock)
        with self._second(storage, clock) as other:
            assert _only(other, study_id) == _only(storage, study_id)
            clock.advance(5.0)
            resumed = other.resume_trial(trial.trial_id, worker="w1")
            assert resumed is not None
            assert storage.resume_trial(trial.trial_id, worker="w0") is None  # lost the race
            assert _only(storage, study_id) == resumed
            assert storage.update_trial(trial.trial_id, heartbeat=True)  # it is RUNNING for all

    def test_lineage_survives_a_fresh_object_and_the_reader(self, storage: Storage,
                                                           clock: FakeClock) -> None:
        study_id, trial = self._paused(storage, clock)
        fork = {"event": "forked", "parent": 0, "step": 2, "changed": {"lr": [0.1, 0.05]},
                "replaces": 0, "at": clock.now()}
        child = storage.create_trial(study_id, params={"lr": 0.05}, parent=0, lineage=[fork])
        assert storage.resume_trial(trial.trial_id, worker="w1") is not None
        assert storage.finish_trial(child.trial_id, state=PAUSED)
        written = storage.get_trials(study_id)
        with self._second(storage, clock) as fresh:
            assert fresh.get_trials(study_id) == written
        reader = self.open_reader_of(storage)
        try:
            assert reader.get_trials(study_id) == written
            [parent, forked] = reader.get_trials(study_id).trials
            assert [e["event"] for e in parent.lineage] == ["paused", "resumed"]
            assert [e["event"] for e in forked.lineage] == ["forked", "paused"]
            assert forked.lineage[0] == fork
            assert forked.forked_from == (0, 2)
        finally:
            if reader is not storage:
                reader.close()
