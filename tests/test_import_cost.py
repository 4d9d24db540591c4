"""`import shoal` and the CLI's cheap commands stay light: checked by structure, never by time.

Each check runs in a fresh interpreter and looks at `sys.modules`, so it cannot flake; the times
themselves are measured by `benchmarks/bench_import.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import shoal

HEAVY = ["numpy", "scipy", "sqlalchemy", "torch", "pandas", "rich", "yaml", "ray"]


def _loaded_after(code: str, cwd: Path | None = None) -> set[str]:
    """The heavy top-level packages in sys.modules after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    src = str(Path(shoal.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=cwd, env=env, timeout=60)
    return set(json.loads(done.stdout.strip().splitlines()[-1])) & set(HEAVY)


def test_import_shoal_loads_no_heavy_package() -> None:
    assert _loaded_after("import shoal") == set()


def test_the_public_api_resolves_lazily_to_the_same_objects() -> None:
    code = ("import shoal, shoal.samplers as s, shoal.study as st\n"
            "from shoal.samplers._tpe.sampler import TPESampler\n"
            "from shoal.analysis import param_importances\n"
            "assert s.TPESampler is TPESampler and st.param_importances is param_importances\n"
            "assert all(hasattr(s, n) for n in s.__all__) and set(s.__all__) <= set(dir(s))\n")
    assert _loaded_after(code) >= {"numpy", "scipy"}  # loaded when asked for, not before


def test_cli_help_loads_no_heavy_package() -> None:
    code = ("from shoal.cli import main\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['--help']) == 0\n")
    assert _loaded_after(code) == set()


def test_cli_studies_loads_only_what_reading_a_database_needs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'light.db'}"
    study = shoal.create_study(study_name="light", storage=url,
                               sampler=shoal.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    code = ("from shoal.cli import main\n"
            "import contextlib, io\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            f"    assert main(['studies', '--storage', {url!r}]) == 0\n"
            "assert 'light' in out.getvalue()\n")
    assert _loaded_after(code, cwd=tmp_path) <= {"rich"}  # SQLite is read without SQLAlchemy


def test_reading_a_sqlite_file_loads_no_heavy_package(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'light.db'}"
    study = shoal.create_study(study_name="light", storage=url,
                               sampler=shoal.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    code = ("from shoal.storage import open_reader\n"
            f"reader = open_reader({url!r})\n"
            "[record] = reader.list_studies()\n"
            "assert len(reader.get_trials(record.study_id).trials) == 2\n"
            "assert reader.get_study('light') == record\n"
            "reader.close()\n")
    assert _loaded_after(code) == set()


@pytest.mark.parametrize("module", ["shoal.samplers", "shoal.study"])
def test_lazy_packages_still_name_their_missing_attributes(module: str) -> None:
    package = __import__(module, fromlist=["_"])
    with pytest.raises(AttributeError, match=rf"^module '{module}' has no attribute 'nope'$"):
        package.nope  # noqa: B018
