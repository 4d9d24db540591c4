"""The conformance suite every storage must pass: subclass `StorageSuite` and say how to make one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shoal.clock import FakeClock
from shoal.exceptions import ConfigError, StudyExists, StudyNotFound
from shoal.space import Categorical, Fixed, Float, Int, Param
from shoal.storage import Storage
from shoal.testing._storage_budget import BudgetCases
from shoal.testing._storage_lifecycle import LifecycleCases
from shoal.trial import Direction, TrialState

__all__ = ["StorageSuite"]

MIN, MAX = Direction.MINIMIZE, Direction.MAXIMIZE
RUNNING, WAITING = TrialState.RUNNING, TrialState.WAITING
COMPLETE, PRUNED, FAILED = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED


class StorageSuite(LifecycleCases, BudgetCases):
    """Tests every `Storage` must pass, against a real instance (no mocks).

    Subclass it in a module named `test_*.py`, in a class named `Test*`, and define `make_storage`.
    Each test gets a fresh, empty storage built with a `FakeClock` that starts at 1000.0 s; the
    suite calls the storage's `close()` afterwards. The pause/resume cases also open a second
    object on the same data and a read-only view (`open_again`, `open_reader_of`): by URL with
    `open_storage` and `open_reader`, or the storage itself when its url is "memory"; override
    them for a storage those cannot reopen.

    >>> from shoal.storage import InMemoryStorage
    >>> class TestInMemoryStorage(StorageSuite):
    ...     def make_storage(self, tmp_path, clock):
    ...         return InMemoryStorage(clock=clock)
    """

    def make_storage(self, tmp_path: Path, clock: FakeClock) -> Storage:
        """Return a new, empty storage that takes its timestamps from `clock`."""
        raise NotImplementedError(f"{type(self).__name__} must define make_storage(tmp_path, "
                                  "clock) returning a new, empty storage.")

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(start=1000.0)

    @pytest.fixture
    def storage(self, tmp_path: Path, clock: FakeClock) -> Iterator[Storage]:
        storage = self.make_storage(tmp_path, clock)
        yield storage
        storage.close()

    # Studies ----------------------------------------------------------------------------------
    def test_is_a_storage(self, storage: Storage) -> None:
        assert isinstance(storage, Storage)
        assert isinstance(storage.url, str)

    def test_create_and_get_study(self, storage: Storage, clock: FakeClock) -> None:
        created = storage.create_study("mnist", [MAX], user_attrs={"owner": "ana"},
                                       system_attrs={"space": {"lr": [1, 2]}})
        assert created.name == "mnist"
        assert created.directions == (MAX,)
        assert created.sign == -1.0
        assert created.created == 1000.0
        got = storage.get_study("mnist")
        assert got.study_id == created.study_id
        assert got.directions == (MAX,)
        assert dict(got.user_attrs) == {"owner": "ana"}
        assert dict(got.system_attrs) == {"space": {"lr": [1, 2]}}
        assert got.created == 1000.0
        assert got.n_trials == 0

    def test_multi_objective_directions_round_trip(self, storage: Storage) -> None:
        storage.create_study("pareto", [MIN, MAX, MIN])
        assert storage.get_study("pareto").directions == (MIN, MAX, MIN)

    def test_trials_carry_one_sign_per_objective(self, storage: Storage) -> None:
        study = storage.create_study("pareto", [MIN, MAX, MIN])
        assert study.signs == (1.0, -1.0, 1.0)
        created = storage.create_trial(study.study_id)
        assert created.signs == (1.0, -1.0, 1.0)
        storage.finish_trial(created.trial_id, state=TrialState.COMPLETE, values=(1.0, 2.0, 3.0),
                             system_attrs={"constraints": [-1.0, 0.5]})
        [got] = storage.get_trials(study.study_id).trials
        assert (got.signs, got.scores) == ((1.0, -1.0, 1.0), (1.0, -2.0, 3.0))
        assert (got.constraints, got.is_feasible) == ((-1.0, 0.5), False)

    def test_create_existing_study_raises_study_exists(self, storage: Storage) -> None:
        storage.create_study("mnist", [MIN])
        with pytest.raises(StudyExists, match=r"Study 'mnist' already exists in .*"
                                              r"Use load_study\('mnist'\) or pass "
                                              r"load_if_exists=True\."):
            storage.create_study("mnist", [MAX])
        assert storage.get_study("mnist").directions == (MIN,)

    def test_missing_study_raises_study_not_found_with_hint(self, storage: Storage) -> None:
        with pytest.raises(StudyNotFound, match=r"no study named 'ghost' in .* It holds no study"):
            storage.get_study("ghost")
        storage.create_study("b", [MIN])
        storage.create_study("a", [MIN])
        with pytest.raises(KeyError, match=r"Known studies: a, b\. Try 'shoal studies'"):
            storage.get_study("ghost")

    def test_list_studies_sorted_by_name_with_trial_counts(self, storage: Storage) -> None:
        for name in ("zeta", "alpha", "mid"):
            storage.create_study(name, [MIN])
        storage.create_trial(storage.get_study("mid").study_id)
        storage.create_trial(storage.get_study("mid").study_id, state=WAITING)
        listed = storage.list_studies()
        assert [s.name for s in listed] == ["alpha", "mid", "zeta"]
        assert [s.n_trials for s in listed] == [0, 2, 0]
        assert storage.get_study("mid").n_trials == 2

    def test_set_study_attrs_merges(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN], user_attrs={"a": 1, "b": 2}, system_attrs={"x": 1})
        storage.set_study_attrs(study.study_id, user={"b": 3, "c": [1, "two"]})
        storage.set_study_attrs(study.study_id, system={"y": {"nested": True}})
        got = storage.get_study("s")
        assert dict(got.user_attrs) == {"a": 1, "b": 3, "c": [1, "two"]}
        assert dict(got.system_attrs) == {"x": 1, "y": {"nested": True}}

    def test_delete_study_cascades_to_its_trials_only(self, storage: Storage) -> None:
        doomed = storage.create_study("doomed", [MIN])
        kept = storage.create_study("kept", [MIN])
        for _ in range(3):
            storage.create_trial(doomed.study_id)
            storage.create_trial(kept.study_id, state=WAITING)
        storage.delete_study("doomed")
        assert [s.name for s in storage.list_studies()] == ["kept"]
        assert storage.get_trials(doomed.study_id).trials == []
        assert [t.number for t in storage.get_trials(kept.study_id).trials] == [0, 1, 2]
        with pytest.raises(StudyNotFound):
            storage.get_study("doomed")
        with pytest.raises(StudyNotFound, match="no study named 'doomed'"):
            storage.delete_study("doomed")
        again = storage.create_study("doomed", [MAX])
        assert again.study_id != doomed.study_id
        assert storage.create_trial(again.study_id).number == 0

    # Creating and claiming trials -------------------------------------------------------------
    def test_trial_numbers_count_from_zero_per_study(self, storage: Storage) -> None:
        a = storage.create_study("a", [MIN])
        b = storage.create_study("b", [MIN])
        made = [storage.create_trial(a.study_id, state=WAITING if i % 3 else RUNNING)
                for i in range(10)]
        made.append(storage.create_trial(b.study_id))
        assert [t.number for t in made] == [*range(10), 0]
        assert len({t.trial_id for t in made}) == 11
        assert [t.number for t in storage.get_trials(a.study_id).trials] == list(range(10))

    def test_create_trial_fields_round_trip(self, storage: Storage, clock: FakeClock) -> None:
        study = storage.create_study("s", [MAX])
        running = storage.create_trial(
            study.study_id, params={"lr": 0.01, "act": "relu"},
            distributions={"lr": Float(1e-4, 1.0, "log"), "act": Categorical(["relu", "tanh"])},
            user_attrs={"note": "hi"}, system_attrs={"fixed_params": True}, parent=7,
            checkpoint="ckpt/7.pt", worker="host:1")
        clock.advance(1.0)
        waiting = storage.create_trial(study.study_id, state=WAITING, params={"lr": 0.1},
                                       worker="ignored")
        assert running.state is RUNNING
        assert running.sign == -1.0
        assert running.datetime_start == running.last_heartbeat == 1000.0
        assert running.worker == "host:1"
        assert running.parent == 7
        assert running.checkpoint == "ckpt/7.pt"
        assert running.is_fixed
        assert waiting.state is WAITING
        assert waiting.datetime_start is None
        assert waiting.last_heartbeat is None
        assert waiting.worker is None
        assert storage.get_trials(study.study_id).trials == [running, waiting]

    def test_create_trial_in_missing_study_raises(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        with pytest.raises(StudyNotFound):
            storage.create_trial(study.study_id + 1000)

    def test_claim_takes_oldest_waiting_trial_once(self, storage: Storage, clock: FakeClock) -> None:
        study = storage.create_study("s", [MIN])
        assert storage.claim_waiting_trial(study.study_id, worker="w") is None
        storage.create_trial(study.study_id, state=WAITING, params={"x": 0})
        storage.create_trial(study.study_id)
        storage.create_trial(study.study_id, state=WAITING, params={"x": 2})
        storage.create_trial(study.study_id, state=WAITING, params={"x": 3})
        clock.advance(5.0)
        first = storage.claim_waiting_trial(study.study_id, worker="w1")
        assert first is not None
        assert (first.number, first.state, first.worker) == (0, RUNNING, "w1")
        assert first.params == {"x": 0}
        assert first.datetime_start == first.last_heartbeat == 1005.0
        claimed = [storage.claim_waiting_trial(study.study_id, worker="w2") for _ in range(3)]
        assert [t.number if t else None for t in claimed] == [2, 3, None]
        stored = storage.get_trials(study.study_id).trials
        assert [t.state for t in stored] == [RUNNING] * 4
        assert stored[0] == first
        assert stored[2] == claimed[0]

    # Updating and finishing -------------------------------------------------------------------
    def test_update_trial_merges_every_field(self, storage: Storage, clock: FakeClock) -> None:
        study = storage.create_study("s", [MIN])
        trial = storage.create_trial(study.study_id, params={"a": 1}, user_attrs={"u": 1},
                                     system_attrs={"s": 1}, distributions={"a": Int(0, 5)})
        assert storage.update_trial(trial.trial_id, params={"b": "two"},
                                    distributions={"b": Categorical(["one", "two"])},
                                    intermediate={0: 0.5, 10: 0.25}, user_attrs={"v": [2]},
                                    system_attrs={"s": 3})
        clock.advance(7.0)
        assert storage.update_trial(trial.trial_id, intermediate={5: 0.4, 10: 0.3})
        [got] = storage.get_trials(study.study_id).trials
        assert got.params == {"a": 1, "b": "two"}
        assert got.distributions == {"a": Int(0, 5), "b": Categorical(["one", "two"])}
        assert got.intermediate == {0: 0.5, 5: 0.4, 10: 0.3}
        assert all(type(step) is int for step in got.intermediate)
        assert got.last_step == 10
        assert got.user_attrs == {"u": 1, "v": [2]}
        assert got.system_attrs == {"s": 3}
        assert got.last_heartbeat == 1000.0  # heartbeat=False leaves it alone
        assert storage.update_trial(trial.trial_id, heartbeat=True)
        [got] = storage.get_trials(study.study_id).trials
        assert got.last_heartbeat == 1007.0
        assert got.params == {"a": 1, "b": "two"}

    def test_update_and_finish_only_touch_running_trials(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        done = storage.create_trial(study.study_id)
        assert storage.finish_trial(done.trial_id, state=COMPLETE, values=[1.0])
        waiting = storage.create_trial(study.study_id, state=WAITING)
        before = storage.get_trials(study.study_id)
        for trial in (done, waiting):
            assert storage.update_trial(trial.trial_id, params={"x": 1}) is False
            assert storage.update_trial(trial.trial_id, heartbeat=True) is False
            assert storage.update_trial(trial.trial_id, intermediate={1: 2.0},
                                        heartbeat=True) is False
            assert storage.finish_trial(trial.trial_id, state=FAILED, values=[9.0]) is False
        after = storage.get_trials(study.study_id, since=before.version)
        assert after.trials == []
        assert after.version == before.version
        assert storage.get_trials(study.study_id).trials == before.trials

    def test_finish_trial_values_round_trip_exactly(self, storage: Storage,
                                                    clock: FakeClock) -> None:
        study = storage.create_study("s", [MIN, MAX, MIN])
        values = (0.1 + 0.2, 1e-300, -1.7976931348623157e308)
        trial = storage.create_trial(study.study_id)
        clock.advance(2.5)
        assert storage.finish_trial(trial.trial_id, state=COMPLETE, values=list(values),
                                    system_attrs={"duration_note": "ok"})
        [got] = storage.get_trials(study.study_id).trials
        assert got.state is COMPLETE
        assert got.values == values
        assert got.datetime_complete == 1002.5
        assert got.duration == 2.5
        assert got.system_attrs == {"duration_note": "ok"}

    def test_finish_pruned_and_failed(self, storage: Storage) -> None:
        study = storage.create_study("s", [MAX])
        pruned = storage.create_trial(study.study_id)
        failed = storage.create_trial(study.study_id, system_attrs={"keep": 1})
        storage.update_trial(pruned.trial_id, intermediate={1: 0.5, 3: 0.75})
        assert storage.finish_trial(pruned.trial_id, state=PRUNED)
        assert storage.finish_trial(failed.trial_id, state=FAILED,
                                    system_attrs={"fail_reason": "ValueError: boom"})
        got_pruned, got_failed = storage.get_trials(study.study_id).trials
        assert (got_pruned.state, got_pruned.values, got_pruned.score) == (PRUNED, None, -0.75)
        assert got_failed.state is FAILED
        assert got_failed.values is None
        assert got_failed.failure_reason == "ValueError: boom"
        assert got_failed.system_attrs["keep"] == 1

    # Reading ----------------------------------------------------------------------------------
    def test_incremental_reads_return_exactly_the_changed_trials(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        other = storage.create_study("other", [MIN])
        start = storage.get_trials(study.study_id)
        assert start.trials == []
        t0, t1, t2 = (storage.create_trial(study.study_id) for _ in range(3))
        page = storage.get_trials(study.study_id, since=start.version)
        assert [t.number for t in page.trials] == [0, 1, 2]
        assert page.version > start.version
        storage.update_trial(t1.trial_id, params={"x": 1})
        storage.create_trial(other.study_id)
        page = storage.get_trials(study.study_id, since=page.version)
        assert [(t.number, t.params) for t in page.trials] == [(1, {"x": 1})]
        storage.update_trial(t2.trial_id, heartbeat=True)
        storage.finish_trial(t0.trial_id, state=COMPLETE, values=[3.0])
        page = storage.get_trials(study.study_id, since=page.version)
        assert [(t.number, t.state) for t in page.trials] == [(0, COMPLETE), (2, RUNNING)]
        quiet = storage.get_trials(study.study_id, since=page.version)
        assert quiet.trials == []
        assert quiet.version == page.version
        everything = storage.get_trials(study.study_id)
        assert [t.number for t in everything.trials] == [0, 1, 2]
        assert everything.trials[0].values == (3.0,)
        assert storage.get_trials(other.study_id, since=0).trials[0].number == 0

    def test_get_trials_of_missing_study_is_empty(self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        assert storage.get_trials(study.study_id + 1000).trials == []

    def test_json_attributes_round_trip(self, storage: Storage) -> None:
        attrs: dict[str, Any] = {
            "text": "héllo ✓ \"quoted\" \\ back", "int": 2**53 + 1, "neg": -3, "float": 0.1,
            "tiny": 5e-324, "none": None, "yes": True, "no": False, "list": [1, 2.5, "x", None],
            "nested": {"a": {"b": [{"c": []}]}}, "empty": {},
        }
        study = storage.create_study("s", [MIN], user_attrs=attrs, system_attrs=attrs)
        trial = storage.create_trial(study.study_id, params={"p": "ünï", "q": 2**40, "r": None},
                                     user_attrs=attrs)
        storage.update_trial(trial.trial_id, system_attrs=attrs)
        [got] = storage.get_trials(study.study_id).trials
        assert got.params == {"p": "ünï", "q": 2**40, "r": None}
        assert got.user_attrs == attrs
        assert got.system_attrs == attrs
        record = storage.get_study("s")
        assert (record.user_attrs, record.system_attrs) == (attrs, attrs)

    def test_distributions_round_trip_to_equal_params(self, storage: Storage) -> None:
        dists: dict[str, Param] = {
            "lr": Float(1e-5, 1.0, "log", name="lr"),
            "momentum": Float(0.9, 0.999, scale="one_minus_log"),
            "dropout": Float(0.0, 0.5, when={"act": ["relu", "gelu"]}),
            "layers": Int(1, 8),
            "width": Int(32, 512, power_of_two=True),
            "steps": Int(0, 100, step=5),
            "units": Int(1, 1024, log=True),
            "act": Categorical(["relu", "gelu", None, True, 1, 1.5]),
            "epochs": Fixed(10),
            "tag": Fixed("baseline", name="tag"),
        }
        study = storage.create_study("s", [MIN])
        first, second = dict(list(dists.items())[:5]), dict(list(dists.items())[5:])
        trial = storage.create_trial(study.study_id, distributions=first)
        storage.update_trial(trial.trial_id, distributions=second)
        [got] = storage.get_trials(study.study_id).trials
        assert dict(got.distributions) == dists
        assert all(type(got.distributions[k]) is type(p) for k, p in dists.items())
        assert got.distributions["lr"].name == "lr"
        assert got.distributions["layers"].name == ""

    # Heartbeats -------------------------------------------------------------------------------
    def test_fail_stale_trials_fails_each_stale_trial_once(self, storage: Storage,
                                                           clock: FakeClock) -> None:
        study = storage.create_study("s", [MIN])
        bystander = storage.create_study("bystander", [MIN])
        stale = storage.create_trial(study.study_id, system_attrs={"keep": 1})
        beating = storage.create_trial(study.study_id)
        done = storage.create_trial(study.study_id)
        storage.finish_trial(done.trial_id, state=COMPLETE, values=[1.0])
        other = storage.create_trial(bystander.study_id)
        clock.advance(50.0)  # 1050
        storage.update_trial(beating.trial_id, heartbeat=True)
        late = storage.create_trial(study.study_id)
        storage.create_trial(study.study_id, state=WAITING)
        clock.advance(20.0)  # 1070: only `stale` is older than 30 s
        failed = storage.fail_stale_trials(study.study_id, grace_seconds=30.0)
        assert [t.number for t in failed] == [stale.number]
        assert failed[0].state is FAILED
        assert failed[0].datetime_complete == 1000.0  # its last heartbeat, not when it was noticed
        assert failed[0].duration == 0.0
        assert failed[0].failure_reason == "heartbeat lost: none for 70 s"
        assert failed[0].system_attrs["keep"] == 1
        assert storage.fail_stale_trials(study.study_id, grace_seconds=30.0) == []
        stored = {t.number: t for t in storage.get_trials(study.study_id).trials}
        assert stored[stale.number] == failed[0]
        assert [stored[t.number].state for t in (beating, done, late)] == [RUNNING, COMPLETE,
                                                                           RUNNING]
        assert storage.update_trial(stale.trial_id, heartbeat=True) is False
        assert storage.finish_trial(stale.trial_id, state=COMPLETE, values=[0.0]) is False
        clock.advance(100.0)
        failed = storage.fail_stale_trials(study.study_id, grace_seconds=30.0)
        assert [t.number for t in failed] == [beating.number, late.number]
        assert [t.state for t in storage.get_trials(bystander.study_id).trials] == [RUNNING]
        [failed_other] = storage.fail_stale_trials(bystander.study_id, grace_seconds=1.0)
        assert failed_other.trial_id == other.trial_id
        assert storage.get_trials(bystander.study_id).trials == [failed_other]

    def test_a_stale_trial_ends_at_its_last_heartbeat(self, storage: Storage,
                                                      clock: FakeClock) -> None:
        # Its worker beat for 6 s and died; it was noticed 2 minutes later. It ran for 6 s.
        study = storage.create_study("s", [MIN])
        trial = storage.create_trial(study.study_id)
        for _ in range(3):
            clock.advance(2.0)
            assert storage.update_trial(trial.trial_id, heartbeat=True)
        clock.advance(133.0)
        [failed] = storage.fail_stale_trials(study.study_id, grace_seconds=120.0)
        assert (failed.datetime_start, failed.datetime_complete) == (1000.0, 1006.0)
        assert failed.duration == 6.0
        assert failed.failure_reason == "heartbeat lost: none for 133 s"
        [stored] = storage.get_trials(study.study_id).trials
        assert stored == failed

    # Attributes -------------------------------------------------------------------------------
    def test_attributes_json_cannot_hold_are_refused_and_nothing_is_written(
            self, storage: Storage) -> None:
        study = storage.create_study("s", [MIN])
        trial = storage.create_trial(study.study_id, user_attrs={"ok": 1})
        before = storage.get_trials(study.study_id)
        sets = r"Got \{'a'\}\. Convert it first, e\.g\. sorted\(value\) or list\(value\)\.$"
        json = r"must be JSON: str, int, float, bool, None, or lists and str-keyed dicts of them\. "
        refused: list[tuple[Callable[[], object], str]] = [
            (lambda: storage.create_trial(study.study_id, user_attrs={"tags": {"a"}}),
             rf"^user attribute 'tags' of a trial {json}{sets}"),
            (lambda: storage.update_trial(trial.trial_id, user_attrs={"model": object()}),
             rf"^user attribute 'model' of a trial {json}Got <object object at .*>\. Convert it "
             r"first, e\.g\. str\(value\), or store its parts as a dict\.$"),
            (lambda: storage.update_trial(trial.trial_id, system_attrs={"s": {"b": [1, {"a"}]}}),
             rf"^system attribute 's'\['b'\]\[1\] of a trial {json}{sets}"),
            (lambda: storage.finish_trial(trial.trial_id, state=COMPLETE, values=[1.0],
                                          system_attrs={"tags": {"a"}}),
             rf"^system attribute 'tags' of a trial {json}{sets}"),
            (lambda: storage.set_study_attrs(study.study_id, user={"tags": {"a"}}),
             rf"^user attribute 'tags' of a study {json}{sets}"),
            (lambda: storage.create_study("t", [MIN], system_attrs={"tags": {"a"}}),
             rf"^system attribute 'tags' of study 't' {json}{sets}"),
        ]
        for write, message in refused:
            with pytest.raises(ConfigError, match=message):
                write()
        assert storage.get_trials(study.study_id, since=before.version).trials == []
        assert storage.get_trials(study.study_id).trials == before.trials
        assert [s.name for s in storage.list_studies()] == ["s"]
        assert dict(storage.get_study("s").user_attrs) == {}

    def test_attributes_are_read_back_in_their_json_form(self, storage: Storage) -> None:
        attrs = {"curve": np.array([1.0, 2.5]), "best": np.float64(0.25), "n": np.int64(3),
                 "pair": (1, (2, 3)), "by_epoch": {1: "one", 2.5: "x", None: "t"}}
        plain = {"curve": [1.0, 2.5], "best": 0.25, "n": 3, "pair": [1, [2, 3]],
                 "by_epoch": {"1": "one", "2.5": "x", "null": "t"}}
        study = storage.create_study("s", [MIN], user_attrs=attrs)
        trial = storage.create_trial(study.study_id, user_attrs=attrs)
        assert storage.update_trial(trial.trial_id, system_attrs=attrs)
        [got] = storage.get_trials(study.study_id).trials
        assert got.user_attrs == got.system_attrs == plain
        assert type(got.user_attrs["n"]) is int
        assert type(got.user_attrs["best"]) is float
        assert dict(storage.get_study("s").user_attrs) == plain
