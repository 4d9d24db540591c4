"""The top-level API grows only on purpose: this list changes in the same commit as the API."""

from __future__ import annotations

import subprocess
import sys
import types

import shoal

PUBLIC = [
    "Categorical", "ConfigError", "Direction", "Fixed", "Float", "FrozenTrial", "Heartbeat", "Int",
    "MaxTrialsCallback",
    "NoCompletedTrials", "Resources", "RetryPolicy", "SearchSpaceExhausted", "ShoalError", "Space", "Study",
    "StudyExists", "StudyNotFound", "Trial", "TrialFailed", "TrialPaused", "TrialPruned", "TrialState",
    "__version__", "create_study", "delete_study", "list_studies", "load_study", "samplers",
    "schedulers", "storage",
]


def test_top_level_api_is_pinned() -> None:
    assert sorted(shoal.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert hasattr(shoal, name), name


def test_dir_shows_the_api_and_subpackages_only() -> None:
    # Optuna's names are answered by a module __getattr__ (a hint, then AttributeError): never listed.
    public = {name for name in dir(shoal) if not name.startswith("_")}
    extra = public - set(PUBLIC)  # the subpackages that importing shoal loads, and nothing else
    assert {"exceptions", "space", "study", "trial"} <= extra
    assert all(isinstance(getattr(shoal, name), types.ModuleType) for name in extra)
    assert not {"pruners", "distributions", "logging", "storages"} & set(dir(shoal))


def test_import_shoal_stays_light() -> None:
    code = ("import sys, shoal; "
            "heavy = {'torch', 'pandas', 'ray', 'sqlalchemy', 'rich'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
