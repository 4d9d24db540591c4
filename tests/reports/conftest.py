"""Fixtures of the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_study import write_study


@pytest.fixture
def study_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/study.db"
    write_study(url)
    return url
