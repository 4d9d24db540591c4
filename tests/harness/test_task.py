"""A task's own settings: checked when the task is read, with the one error sentence."""

from __future__ import annotations

import pytest

from shoal.exceptions import ConfigError
from shoal.torch import TaskSpec
from shoal.torch._task import TrainSettings, train_config


@pytest.mark.parametrize(("changes", "message"), [
    ({"epochs": 0}, "epochs of task must be an integer >= 1. Got 0."),
    ({"batch_size": True}, "batch_size of task must be an integer >= 1. Got True."),
    # On main, `patience: true` passed (a bool is an int to isinstance) and meant patience 1.
    ({"patience": True}, "patience of task must be an integer >= 1 or None. Got True. Write null"),
    ({"patience": 0}, "patience of task must be an integer >= 1 or None. Got 0. Write null"),
])
def test_task_settings_are_checked_when_read(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        TaskSpec.from_dict({"dataset": "wine", **changes})


def test_a_valid_task_reads_its_settings() -> None:
    spec = TaskSpec.from_dict({"dataset": "wine", "epochs": 3, "batch_size": 16, "patience": 2})
    assert (spec.epochs, spec.batch_size, spec.patience) == (3, 16, 2)


def test_the_loops_keys_are_read_once_with_the_task_as_default() -> None:
    spec = TaskSpec(dataset="wine", epochs=5, batch_size=64)
    assert train_config(spec, {}) == TrainSettings(epochs=5, batch_size=64, clip_grad_norm=None)
    assert train_config(spec, {"epochs": 3, "batch_size": 32.0, "clip_grad_norm": "0.5"}) == (3, 32, 0.5)


@pytest.mark.parametrize(("params", "message"), [
    # On main, int() made these 3 and 0 silently.
    ({"batch_size": 3.7}, "batch_size of task must be an integer. Got 3.7."),
    ({"epochs": 0.5}, "epochs of task must be an integer. Got 0.5."),
    ({"clip_grad_norm": 0}, "clip_grad_norm of task must be > 0. Got 0.0."),
])
def test_bad_loop_hyperparameters_are_refused(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        train_config(TaskSpec(dataset="wine"), params)
