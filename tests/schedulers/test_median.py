"""MedianStopping: its arguments are checked where they are given, in the one sentence shape.

The conformance suite (SchedulerSuite, with a hand-computed oracle) runs in tests/test_common.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from shoal.exceptions import ConfigError
from shoal.schedulers import MedianStopping


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_trials": 0}, "min_trials of MedianStopping must be an integer >= 1. Got 0."),
    # Accepted on main (2.5 >= 1, True >= 1), then compared with counts at every report.
    ({"min_trials": 2.5}, "min_trials of MedianStopping must be an integer >= 1. Got 2.5."),
    ({"min_trials": True}, "min_trials of MedianStopping must be an integer >= 1. Got True."),
    # A TypeError from `"3" < 1` on main.
    ({"warmup_steps": "3"}, "warmup_steps of MedianStopping must be an integer >= 0. Got '3'."),
    ({"interval_steps": 0}, "interval_steps of MedianStopping must be an integer >= 1. Got 0."),
])
def test_bad_arguments_are_one_sentence(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        MedianStopping(**kwargs)


def test_good_arguments_are_kept() -> None:
    assert repr(MedianStopping(min_trials=3, warmup_steps=2, interval_steps=4)) == (
        "MedianStopping(min_trials=3, warmup_steps=2, interval_steps=4)")
