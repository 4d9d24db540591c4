"""PNG export: one PNG per figure, drawn by headless Chromium alone; one-line errors.

Needs Chromium (Debian's /usr/bin/chromium), no Python package: without it these tests skip on a
developer's machine and fail in CI (CI=true).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from report_study import STUDY, chromium_or_fail, parse

from shoal.clock import FakeClock
from shoal.reports import write_pngs, write_report
from shoal.reports._png import PNG_SIZE
from shoal.storage import open_reader

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def report(study_url: str, tmp_path: Path) -> Path:
    reader = open_reader(study_url)
    path = write_report(reader, STUDY, tmp_path / "report.html", clock=FakeClock(start=1.7e9))
    reader.close()
    return path


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_png_export_writes_one_drawn_png_per_figure(report: Path, tmp_path: Path) -> None:
    chromium_or_fail()
    blocks = parse(report.read_text(encoding="utf-8")).blocks
    figures = {key.removeprefix("plot-"): json.dumps(json.loads(text)) for key, text in blocks.items()}
    written = write_pngs(figures, tmp_path / "png")
    assert [p.name for p in written] == [f"{key}.png" for key in figures]
    image = pytest.importorskip("PIL.Image")
    for path in written:
        assert _png_size(path) == PNG_SIZE
        assert path.stat().st_size > 5_000, path
        with image.open(path) as picture:  # a drawn plot: many colours, not a blank rectangle
            colours = picture.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20, (path, colours and len(colours))


def test_png_export_names_a_figure_chromium_cannot_draw(tmp_path: Path) -> None:
    chromium_or_fail()
    good = json.dumps({"data": [{"type": "scatter", "x": [1, 2], "y": [3, 4]}], "layout": {}})
    with pytest.raises(RuntimeError, match=r"PNG export of figure 'broken' failed in Chromium: "):
        write_pngs({"good": good, "broken": '{"data": [{"type": "no-such-trace"'}, tmp_path / "png")


def test_png_export_without_chromium_is_one_line_saying_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal.exceptions import ConfigError

    monkeypatch.setenv("SHOAL_CHROMIUM", str(tmp_path / "no-such-chromium"))
    expected = (r"Chromium of shoal report --png must be an installed Chromium or Chrome\. "
                r"Got .*no-such-chromium.*apt-get install chromium")
    with pytest.raises(ConfigError, match=expected) as caught:
        write_pngs({"x": "{}"}, tmp_path / "png")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "png").exists()
