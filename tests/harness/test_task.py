"""A task's own settings: checked when the task is read, with the one error sentence."""

from __future__ import annotations

import pytest

from shoal.exceptions import ConfigError
from shoal.torch import TaskSpec


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
