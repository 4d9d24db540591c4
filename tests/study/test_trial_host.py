"""A Trial over a fake host: no Study, no storage; the host sees exactly the calls it should."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import shoal
from shoal import Float, FrozenTrial, Int, Space, TrialState
from shoal.exceptions import ConfigError, DistributionMismatch
from shoal.schedulers import Decision
from shoal.space import Param
from shoal.study import Trial, TrialHost
from shoal.study._host import TrialWrite


class FakeHost:
    """Records every call a Trial makes; proposes `low` (or the first choice) for every parameter."""

    def __init__(self, *, known: Mapping[str, Param] | None = None, decision: Decision = Decision.CONTINUE,
                 fail_with: Exception | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.known = dict(known or {})
        self.decision = decision
        self.fail_with = fail_with

    def write_trial(self, *, number: int, trial_id: int, fields: TrialWrite) -> None:
        self.calls.append(("write", (number, trial_id, copy.deepcopy(dict(fields)))))

    def known_distribution(self, name: str) -> Param | None:
        return self.known.get(name)

    def propose(self, *, number: int, space: Space, rng: np.random.Generator) -> dict[str, Any]:
        self.calls.append(("propose", (number, list(space))))
        if self.fail_with is not None:
            raise self.fail_with
        return {name: param.decode(0.0) for name, param in space.items()}

    def decide(self, trial: FrozenTrial) -> Decision:
        self.calls.append(("decide", trial))
        return self.decision

    def finish_trial(self, trial: FrozenTrial, value: Any = None, *, state: TrialState | None = None,
                     reason: str | None = None,
                     system_attrs: Mapping[str, Any] | None = None) -> FrozenTrial:
        self.calls.append(("finish", (value, state, reason, dict(system_attrs or {}))))
        final = state or TrialState.COMPLETE
        return FrozenTrial(number=trial.number, trial_id=trial.trial_id, state=final,
                           values=(value,) if final is TrialState.COMPLETE else None)


def _trial(host: FakeHost, **frozen: Any) -> Trial:
    record = FrozenTrial(number=3, trial_id=30, state=TrialState.RUNNING, **frozen)
    return Trial(host=host, frozen=record, rng=np.random.default_rng(0),
                 system_attrs={"sampler": "FakeSampler"})


def test_a_trial_runs_over_a_fake_host_with_exactly_the_expected_writes() -> None:
    host = FakeHost(decision=Decision.STOP)
    trial = _trial(host)
    assert trial.suggest_float("lr", 0.5, 1.0) == 0.5
    assert trial.suggest_float("lr", 0.5, 1.0) == 0.5  # no second write
    trial.report(2.0, 0, name="train_loss")  # rides along with the next write
    trial.report(0.5, 0)
    assert trial.should_prune()
    trial.set_user_attr("note", "hi")
    lr = Float(0.5, 1.0, name="lr")
    writes = [args for kind, args in host.calls if kind == "write"]
    assert writes == [
        (3, 30, {"params": {"lr": 0.5}, "distributions": {"lr": lr},
                 "system_attrs": {"sampler": "FakeSampler"}}),
        (3, 30, {"intermediate": {0: 0.5}, "system_attrs": {"curves": {"train_loss": {"0": 2.0}}}}),
        (3, 30, {"user_attrs": {"note": "hi"}}),
    ]
    assert [kind for kind, _ in host.calls] == ["propose", "write", "write", "decide", "write"]
    assert host.calls[0] == ("propose", (3, ["lr"]))
    decided = host.calls[3][1]
    assert (decided.number, decided.state, decided.intermediate) == (3, TrialState.RUNNING, {0: 0.5})
    assert not trial.finished


def test_finishing_goes_through_the_host_once_with_the_unsaved_attributes() -> None:
    host = FakeHost()
    trial = _trial(host)
    trial.report(1.0, 4, name="lr")
    final = trial.finish(0.25)
    assert host.calls == [("finish", (0.25, None, None, {"sampler": "FakeSampler",
                                                         "curves": {"lr": {"4": 1.0}}}))]
    assert trial.finished
    assert trial.result is final
    assert final.state is TrialState.COMPLETE
    with pytest.raises(ConfigError, match="trial 3 must be finished once"):
        trial.finish(0.5)


def test_given_values_win_and_the_sampler_is_not_asked() -> None:
    host = FakeHost()
    trial = _trial(host, params={"n": 7}, system_attrs={"fixed_params": True})
    assert trial.suggest_int("n", 1, 10) == 7
    assert [kind for kind, _ in host.calls] == ["write"]


def test_a_known_distribution_of_the_host_is_enforced() -> None:
    host = FakeHost(known={"n": Int(1, 10, name="n")})
    with pytest.raises(DistributionMismatch, match="distribution of parameter 'n' must stay"):
        _trial(host).suggest_int("n", 1, 20)
    assert host.calls == []


def test_apply_proposal_records_the_active_values_in_one_write() -> None:
    host = FakeHost()
    space = Space({"opt": ["sgd", "adam"], "m": Float(0.0, 1.0, when={"opt": ["sgd"]}), "k": Int(1, 4)})
    record = FrozenTrial(number=0, trial_id=1, state=TrialState.RUNNING)
    trial = Trial(host=host, frozen=record, rng=np.random.default_rng(0),
                  proposal={"opt": "adam", "m": 0.3, "k": 2})
    trial.apply_proposal(space)
    assert trial.params == {"opt": "adam", "k": 2}
    [(kind, (_, _, fields))] = host.calls
    assert kind == "write"
    assert fields["params"] == {"opt": "adam", "k": 2}
    assert "system_attrs" not in fields


def test_a_sampler_error_in_suggest_finishes_the_trial_failed_and_is_raised() -> None:
    host = FakeHost(fail_with=RuntimeError("model exploded"))
    trial = _trial(host)
    with pytest.raises(RuntimeError, match="model exploded"):
        trial.suggest_float("x", 0.0, 1.0)
    kind, (value, state, reason, attrs) = host.calls[-1]
    assert (kind, value, state) == ("finish", None, TrialState.FAILED)
    assert reason == "sampler failed: RuntimeError: model exploded"
    assert "Traceback" in attrs["traceback"]
    assert attrs["sampler"] == "FakeSampler"
    assert trial.finished
    assert "x" not in trial.params


def test_study_is_a_trial_host_and_trial_study_is_only_a_study() -> None:
    study = shoal.create_study()
    assert isinstance(study, TrialHost)
    assert isinstance(FakeHost(), TrialHost)
    assert study.ask().study is study
    with pytest.raises(AttributeError, match="study of Trial 3 must be a Study"):
        _ = _trial(FakeHost()).study
