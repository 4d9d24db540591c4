"""The top-level API grows only on purpose: this list changes in the same commit as the API."""

from __future__ import annotations

import subprocess
import sys

import shoal

PUBLIC = [
    "Categorical", "ConfigError", "Direction", "Fixed", "Float", "FrozenTrial", "Heartbeat", "Int",
    "MaxTrialsCallback",
    "NoCompletedTrials", "RetryPolicy", "SearchSpaceExhausted", "ShoalError", "Space", "Study",
    "StudyExists", "StudyNotFound", "Trial", "TrialFailed", "TrialPruned", "TrialState",
    "__version__", "create_study", "delete_study", "list_studies", "load_study", "samplers",
    "schedulers", "storage",
]


def test_top_level_api_is_pinned() -> None:
    assert sorted(shoal.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert hasattr(shoal, name), name


def test_import_shoal_stays_light() -> None:
    code = ("import sys, shoal; "
            "heavy = {'torch', 'pandas', 'ray', 'sqlalchemy', 'rich'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
