"""`shoal report`: the file and the PNGs written, the progress lines, and one-line errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from report_study import STUDY, chromium_or_fail, parse, write_study

from shoal.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_writes_the_file_and_says_where(study_url: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "r.html"
    code, out, err = _run(capsys, "report", STUDY, "--storage", study_url, "-o", str(out_file))
    assert code == 0, err
    assert out.startswith(f"Wrote the report of study {STUDY!r} to {out_file} (")
    assert "report: reading study" in err
    assert "report: drawing the figures of 7 trials" in err
    assert "plot-history" in parse(out_file.read_text(encoding="utf-8")).blocks


def test_default_output_is_the_study_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/s.db"
    write_study(url, "mnist/v2 <x>")
    code, _, err = _run(capsys, "report", "mnist/v2 <x>", "--storage", url)
    assert code == 0, err
    assert (tmp_path / "mnist_v2_x.html").exists()


def test_unknown_study_is_the_usual_hint_and_nothing_is_written(study_url: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    db = Path(study_url.removeprefix("sqlite:///"))
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    code, out, err = _run(capsys, "report", "nope", "--storage", study_url, "-o", str(tmp_path / "r.html"))
    assert code == 1
    assert out == ""
    assert err.startswith("Error: no study named 'nope' in ")
    assert "shoal studies" in err
    assert not (tmp_path / "r.html").exists()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_missing_database_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/absent.db"
    code, _, err = _run(capsys, "report", "x", "--storage", url, "-o", str(tmp_path / "r.html"))
    assert code == 1
    assert "does not exist" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_unwritable_output_is_one_line(study_url: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    target = str(tmp_path / "no" / "r.html")
    code, _, err = _run(capsys, "report", STUDY, "--storage", study_url, "-o", target)
    assert code == 1
    assert f"Error: cannot write {tmp_path / 'no' / 'r.html'}: No such file or directory." in err


def test_bad_top_is_a_usage_error(study_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "report", STUDY, "--storage", study_url, "--top", "0")
    assert code == 2
    assert "must be an integer >= 1. Got '0'" in err


def test_png_option_writes_pngs(study_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chromium_or_fail()
    code, out, err = _run(capsys, "report", STUDY, "--storage", study_url, "-o", str(tmp_path / "r.html"),
                          "--png", str(tmp_path / "png"))
    assert code == 0, err
    assert f"Wrote its plots as PNG files into {tmp_path / 'png'}." in out
    names = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert "history.png" in names
    assert "best-trial.png" in names
    for name in names:
        assert (tmp_path / "png" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_without_chromium_says_what_to_install(study_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHOAL_CHROMIUM", str(tmp_path / "nowhere" / "chromium"))
    code, _, err = _run(capsys, "report", STUDY, "--storage", study_url, "-o", str(tmp_path / "r.html"),
                        "--png", str(tmp_path / "png"))
    assert code == 1
    lines = [line for line in err.splitlines() if not line.startswith("report:")]
    assert len(lines) == 1
    missing = tmp_path / "nowhere" / "chromium"
    assert lines[0].startswith("Error: Chromium of shoal report --png must be an installed Chromium or "
                               f"Chrome. Got '{missing}'. Install one (apt-get install chromium)")
    assert (tmp_path / "r.html").exists()  # the report itself was written first
