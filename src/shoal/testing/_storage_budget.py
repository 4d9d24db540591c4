"""The storage suite's cases for a study's stored budget (`set_budget`, `claim_budget`, ...).

`StorageSuite` inherits them. The race case claims from `N_RACERS` threads, each on its own
storage object (`open_again`), as workers on several machines would.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from shoal.clock import FakeClock
from shoal.exceptions import StudyNotFound
from shoal.storage import BudgetRecord, Storage
from shoal.trial import Direction

__all__ = ["BudgetCases"]

MIN = Direction.MINIMIZE
N_RACERS = 8


class BudgetCases:
    """A study's budget, shared by every worker: what every storage must do as `InMemoryStorage` does."""

    if TYPE_CHECKING:  # LifecycleCases, which StorageSuite also inherits, defines it
        def open_again(self, storage: Storage, clock: FakeClock) -> Storage: ...

    def test_a_study_without_a_budget_claims_freely(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        assert storage.get_budget(study.study_id) is None
        assert all(storage.claim_budget(study.study_id) for _ in range(5))
        storage.release_budget(study.study_id)  # nothing to give back: no error, no budget made
        assert storage.get_budget(study.study_id) is None

    def test_claims_stop_at_the_limit_and_releases_give_slots_back(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        other = storage.create_study("other", [MIN])
        stored = storage.set_budget(study.study_id, n_trials=3, deadline=1234.5)
        assert stored == BudgetRecord(3, 1234.5, 0)
        assert [storage.claim_budget(study.study_id) for _ in range(5)] == [True] * 3 + [False] * 2
        assert storage.get_budget(study.study_id) == BudgetRecord(3, 1234.5, 3)
        assert storage.get_budget(study.study_id).left == 0  # type: ignore[union-attr]
        storage.release_budget(study.study_id)
        assert storage.get_budget(study.study_id) == BudgetRecord(3, 1234.5, 2)
        assert storage.claim_budget(study.study_id)
        assert not storage.claim_budget(study.study_id)
        assert storage.get_budget(other.study_id) is None  # budgets are per study

    def test_release_never_goes_below_zero(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        storage.set_budget(study.study_id, n_trials=2, deadline=None)
        storage.release_budget(study.study_id)
        assert storage.get_budget(study.study_id) == BudgetRecord(2, None, 0)

    def test_setting_again_keeps_the_claims_and_raises_the_floor(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        storage.set_budget(study.study_id, n_trials=2, deadline=None)
        assert storage.claim_budget(study.study_id)
        assert storage.claim_budget(study.study_id)
        assert not storage.claim_budget(study.study_id)
        # A larger budget: the two claims stay counted, so one more slot opens, not three.
        assert storage.set_budget(study.study_id, n_trials=3, deadline=None, used_at_least=1) == \
            BudgetRecord(3, None, 2)
        assert storage.claim_budget(study.study_id)
        assert not storage.claim_budget(study.study_id)
        assert storage.set_budget(study.study_id, n_trials=None, deadline=99.0,
                                  used_at_least=7) == BudgetRecord(None, 99.0, 7)
        assert storage.claim_budget(study.study_id)  # no limit
        assert storage.get_budget(study.study_id) == BudgetRecord(None, 99.0, 8)

    def test_budget_of_a_missing_study_raises(self, storage: Storage) -> None:
        try:
            storage.set_budget(987654, n_trials=1, deadline=None)
        except StudyNotFound:
            return
        raise AssertionError("set_budget of a missing study must raise StudyNotFound")

    def test_deleting_the_study_deletes_its_budget(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        storage.set_budget(study.study_id, n_trials=1, deadline=None)
        storage.delete_study("s")
        again = storage.create_study("s", [MIN])
        assert storage.get_budget(again.study_id) is None
        assert storage.get_budget(study.study_id) is None

    def test_racing_claims_never_exceed_the_limit(self, storage: Storage, clock: FakeClock) -> None:
        study = storage.create_study("s", [MIN])
        limit = 2 * N_RACERS + 3  # not a multiple of the racers: someone loses the last slot
        storage.set_budget(study.study_id, n_trials=limit, deadline=None)
        won = [0] * N_RACERS
        errors: list[BaseException] = []
        barrier = threading.Barrier(N_RACERS)
        others = [self.open_again(storage, clock) for _ in range(N_RACERS)]

        def race(index: int) -> None:
            try:
                barrier.wait()
                while others[index].claim_budget(study.study_id):
                    won[index] += 1
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(N_RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for other in others:
            if other is not storage:
                other.close()
        assert errors == []
        assert sum(won) == limit
        assert storage.get_budget(study.study_id) == BudgetRecord(limit, None, limit)
