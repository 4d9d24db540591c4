"""The report in a real browser, offline: every plot drawn, no console error, the tables sort.

Needs Playwright and Chromium (Debian's /usr/bin/chromium); without Chromium these tests skip on a
developer's machine and fail in CI (CI=true).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_study import STUDY, TRIALS, chromium_or_fail, parse

from shoal.clock import FakeClock
from shoal.reports import write_report
from shoal.reports._png import BROWSER_ARGS
from shoal.storage import open_reader

if os.environ.get("CI") == "true":  # CI must run the browser tests: a missing Playwright fails there
    import playwright.sync_api as sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def report(study_url: str, tmp_path: Path) -> Path:
    reader = open_reader(study_url)
    path = write_report(reader, STUDY, tmp_path / "report.html", clock=FakeClock(start=1.7e9))
    reader.close()
    return path


@pytest.fixture
def browser_page() -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page of headless Chromium that can load file: URLs only; with its console errors and the
    URLs it tried to reach elsewhere."""
    executable = chromium_or_fail()
    errors: list[str] = []
    blocked: list[str] = []

    def offline(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=list(BROWSER_ARGS))
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.route("**/*", offline)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield page, errors, blocked
        finally:
            browser.close()


def test_every_plot_draws_offline_and_the_table_sorts(report: Path, browser_page: Any) -> None:
    page, errors, blocked = browser_page
    page.goto(report.as_uri())
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
    blocks = parse(report.read_text(encoding="utf-8")).blocks
    drawn = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll("div.plot"),
        d => [d.id, {traces: (d.data || []).length, svg: d.querySelectorAll(".main-svg").length}]))""")
    assert set(drawn) == set(blocks)
    for plot_id, block in blocks.items():
        expected = len(json.loads(block)["data"])
        assert expected > 0, plot_id
        assert drawn[plot_id]["traces"] == expected, plot_id
        assert drawn[plot_id]["svg"] > 0, plot_id
    assert errors == []
    assert blocked == []
    # The full table sorts by a clicked column (one page load for both checks: Chromium is slow here).
    header = page.locator("#all-trials th", has_text="value").first
    first_column = ("() => Array.from(document.querySelectorAll('#all-trials tbody tr'), "
                    "r => r.cells[0].textContent)")
    header.click()
    # Ascending by value: 0.10 (#5), 0.20 (#1), 0.35 (#3), 0.50 (#0), then the trials without one.
    assert page.evaluate(first_column)[:4] == ["5", "1", "3", "0"]
    header.click()
    assert page.evaluate(first_column)[:4] == ["0", "3", "1", "5"]
    assert sorted(page.evaluate(first_column), key=int) == [str(i) for i in range(len(TRIALS))]
    assert errors == []
