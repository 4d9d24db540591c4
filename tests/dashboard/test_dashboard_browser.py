"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright (no download).

One browser and one live server per module. Pages are waited for with the CSS selector
`body[data-ready='1']` (the page's ready signal); every test ends with no console error. Without
/usr/bin/chromium these tests skip locally and FAIL in CI (CI=true): `make unit` installs it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote
from urllib.request import urlopen

import pytest
from dashboard_support import HOSTILE, LiveServer, add_trial, quadratic_study, start_server

from shoal.space import Float
from shoal.storage import Storage, open_reader, open_storage
from shoal.trial import Direction, TrialState

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
# The README's picture: rewritten only when asked (SHOAL_UPDATE_SCREENSHOT=1), so a test run leaves
# the working tree clean; otherwise the screenshot goes to the test's temporary folder.
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "dashboard.png"
N = 30  # trials of the study "quad": trial 3 FAILED, the others COMPLETE with value (x - 1)^2


def _needs_browser() -> None:
    missing = None
    if not CHROMIUM.exists():
        missing = (f"Chromium is not installed at {CHROMIUM}; `make unit` installs it "
                   "(scripts/ensure-chromium.sh)")
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is missing: pip install -e '.[dev]'"
    if missing is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(missing, pytrace=False)
    pytest.skip(missing)


def _x(i: int) -> float:
    return -2.0 + 4.0 * i / (N - 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Storage, LiveServer]]:
    _needs_browser()
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'shoal.db'}"
    storage = open_storage(url)
    quadratic_study(storage, "quad", N)
    quadratic_study(storage, HOSTILE, 4, objective_names=[HOSTILE], param_value=HOSTILE, user_attr=HOSTILE)
    two = storage.create_study("two", [Direction.MINIMIZE, Direction.MAXIMIZE]).study_id
    for i in range(4):
        add_trial(storage, two, params={"x": float(i)}, values=[float(i), 10.0 * i + 1],
                  distributions={"x": Float(0.0, 3.0)})
    reader = open_reader(url)
    live = start_server(reader, poll_s=0.25)
    yield storage, live
    live.stop()
    reader.close()
    storage.close()


@pytest.fixture(scope="module")
def context(world: tuple[Storage, LiveServer]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        yield ctx
        ctx.close()
        browser.close()


@pytest.fixture
def open_page(world: tuple[Storage, LiveServer], context: Any) -> Iterator[Callable[[str], Any]]:
    """Open a path and wait for its ready signal; after the test, no console error may have happened."""
    errors: list[str] = []
    pages: list[Any] = []

    def go(path: str) -> Any:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(world[1].base + path)
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        pages.append(page)
        return page

    yield go
    for page in pages:
        page.close()
    assert errors == []


def _api(live: LiveServer, path: str) -> Any:
    with urlopen(live.base + path, timeout=10) as response:
        return json.loads(response.read())


def _rows(page: Any) -> list[int]:
    numbers = page.eval_on_selector_all("#trials-table tbody tr", "rows => rows.map(r => r.dataset.number)")
    return [int(n) for n in numbers]


def _traces(page: Any, element_id: str) -> int:
    return int(page.evaluate(f"document.getElementById({element_id!r}).data.length"))


def test_studies_page_lists_every_study_as_text_and_new_ones_appear(
        open_page: Callable[[str], Any], world: tuple[Storage, LiveServer]) -> None:
    page = open_page("/")
    names = page.eval_on_selector_all("#studies tbody tr td:first-child",
                                      "cells => cells.map(c => c.textContent)")
    assert names == [HOSTILE, "quad", "two"]
    assert page.evaluate("window.__xss") is None
    assert page.eval_on_selector_all("img", "nodes => nodes.length") == 0
    world[0].create_study("arrived", [Direction.MINIMIZE])
    page.wait_for_selector("#studies tr[data-study='arrived']", timeout=10_000)


def test_plots_draw_with_the_cartesian_bundle_and_fetch_the_full_one_only_when_needed(
        open_page: Callable[[str], Any]) -> None:
    from shoal.dashboard._static import plotly_name

    page = open_page("/studies/quad")

    def scripts() -> list[str]:
        return list(page.eval_on_selector_all("script[src*='plotly']",
                                              "s => s.map(x => x.getAttribute('src'))"))

    lite, full = f"/static/{plotly_name(lite=True)}", f"/static/{plotly_name()}"
    assert scripts() == [lite]
    assert page.evaluate("document.getElementById('fig-parallel')._fullData[0].type") == "scatter"
    drawn = page.evaluate("""async () => {
        const {draw} = await import('/static/common.js');
        const node = document.getElementById('fig-history');
        await draw(node, {data: [{type: 'parcoords', dimensions: [{label: 'a', values: [1, 2]},
                                                                   {label: 'b', values: [3, 1]}]}]});
        const first = [node._fullData[0].type, node.querySelectorAll('.parcoords').length > 0];
        await draw(node, {data: [{type: 'scatter', x: [1, 2], y: [3, 4]}]});
        return [...first, node._fullData[0].type, node.querySelectorAll('.parcoords').length];
    }""")
    assert drawn == ["parcoords", True, "scatter", 0]  # the plot that needed the full bundle keeps it
    assert scripts() == [lite, full]


def test_objective_picker_redraws_the_figures(open_page: Callable[[str], Any]) -> None:
    page = open_page("/studies/two")
    history = "document.getElementById('fig-history')._fullData[0].y"
    assert list(page.evaluate(f"Array.from({history})")) == [0.0, 1.0, 2.0, 3.0]
    page.select_option("#objective", "1")
    page.wait_for_function(f"() => {history}[3] === 31", timeout=10_000)
    assert list(page.evaluate(f"Array.from({history})")) == [1.0, 11.0, 21.0, 31.0]


def test_study_page_draws_every_figure_with_its_traces(open_page: Callable[[str], Any],
                                                       world: tuple[Storage, LiveServer],
                                                       tmp_path: Path) -> None:
    live = world[1]
    page = open_page("/studies/quad")
    kinds = _api(live, "/api/studies/quad")["figures"]
    assert "history" in kinds
    for kind in kinds:
        expected = len(_api(live, f"/api/studies/quad/figures/{kind}")["figure"]["data"])
        assert _traces(page, f"fig-{kind}") == expected, kind
    assert _traces(page, "fig-history") == 2
    assert page.evaluate("document.getElementById('fig-history')._fullData[0].x.length") == N - 1
    assert _rows(page) == list(range(N))
    shot = README_SCREENSHOT if os.environ.get("SHOAL_UPDATE_SCREENSHOT") == "1" else tmp_path / "shot.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trials_table_sorts_and_filters(open_page: Callable[[str], Any]) -> None:
    page = open_page("/studies/quad")
    values = {i: (_x(i) - 1) ** 2 for i in range(N) if i != 3}
    page.click("#trials-table thead tr:first-child th:nth-child(3)")  # value, ascending
    assert _rows(page) == [*sorted(values, key=values.get), 3]  # the failed trial has none: last
    page.click("#trials-table thead tr:first-child th:nth-child(3)")  # descending
    assert _rows(page) == [*sorted(values, key=values.get, reverse=True), 3]
    page.select_option("select[aria-label='filter by state']", "FAILED")
    assert _rows(page) == [3]
    page.select_option("select[aria-label='filter by state']", "")
    page.fill("input[aria-label='x min']", "0")
    page.press("input[aria-label='x min']", "Enter")
    page.fill("input[aria-label='x max']", "1")
    page.press("input[aria-label='x max']", "Enter")
    assert sorted(_rows(page)) == [i for i in range(N) if 0 <= _x(i) <= 1]


def test_a_new_trial_appears_without_a_reload(open_page: Callable[[str], Any],
                                              world: tuple[Storage, LiveServer]) -> None:
    storage = world[0]
    page = open_page("/studies/quad")
    page.evaluate("window.__same_page = 1")
    study_id = storage.get_study("quad").study_id
    number = add_trial(storage, study_id, params={"x": 1.0, "units": 16, "act": "relu"}, values=[0.0]).number
    page.wait_for_selector(f"#trials-table tr[data-number='{number}']", timeout=10_000)
    deadline = time.monotonic() + 10
    while page.evaluate("document.getElementById('fig-history')._fullData[0].x.length") != N and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert page.evaluate("document.getElementById('fig-history')._fullData[0].x.length") == N
    assert page.evaluate("window.__same_page") == 1
    assert "best 0" in page.inner_text("#summary")


def test_trial_page_shows_curves_lineage_and_failure(open_page: Callable[[str], Any],
                                                    world: tuple[Storage, LiveServer]) -> None:
    page = open_page("/studies/quad/trials/4")
    figure = _api(world[1], "/api/studies/quad/trials/4/figure")["figure"]
    assert _traces(page, "fig-trial") == len(figure["data"])
    assert page.get_attribute("#lineage a", "href") == "/studies/quad/trials/2"
    assert "forked" in page.inner_text("#lineage")
    failed = open_page("/studies/quad/trials/3")
    assert failed.inner_text("pre.traceback") == "Traceback: boom\n<b>x</b>"
    assert failed.eval_on_selector_all("pre.traceback b", "nodes => nodes.length") == 0


def test_hostile_strings_never_run_and_show_as_text(open_page: Callable[[str], Any]) -> None:
    study = open_page("/studies/" + quote(HOSTILE, safe=""))
    assert study.inner_text("h1") == HOSTILE
    trial = open_page("/studies/" + quote(HOSTILE, safe="") + "/trials/1")
    assert trial.inner_text("#params tr:has(th:text-is('act')) td") == HOSTILE
    assert trial.inner_text("#user-attrs tr:has(th:text-is('note')) td") == HOSTILE
    for page in (study, trial):
        assert page.evaluate("window.__xss") is None
        assert page.eval_on_selector_all("img", "nodes => nodes.length") == 0
    assert HOSTILE in study.inner_text("#trials-table")


def test_a_token_in_the_url_becomes_a_cookie(world: tuple[Storage, LiveServer], context: Any) -> None:
    reader = open_reader(world[1].reader_url)
    live = start_server(reader, token="t0ken", poll_s=0.25)
    try:
        page = context.new_page()
        assert page.goto(live.base + "/api/studies").status == 401
        page.goto(live.base + "/?token=t0ken")
        page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        assert "quad" in page.inner_text("#studies")  # the API answered: the cookie carried the token
        assert page.url == live.base + "/"
        page.close()
    finally:
        live.stop()
        reader.close()



def test_a_running_trial_page_follows_its_reports(open_page: Callable[[str], Any],
                                                  world: tuple[Storage, LiveServer]) -> None:
    storage = world[0]
    study_id = storage.get_study("quad").study_id
    trial = add_trial(storage, study_id, params={"x": 0.5, "units": 16, "act": "relu"},
                      state=TrialState.RUNNING, intermediate={0: 1.0})
    page = open_page(f"/studies/quad/trials/{trial.number}")
    points = "document.getElementById('fig-trial')._fullData[0].x.length"
    assert page.evaluate(points) == 1
    storage.update_trial(trial.trial_id, intermediate={1: 0.5})
    page.wait_for_function(f"() => {points} === 2", timeout=10_000)
    assert "last step\t1" in page.inner_text("main")


def test_contour_pickers_ask_for_the_chosen_pair(open_page: Callable[[str], Any],
                                                 world: tuple[Storage, LiveServer]) -> None:
    if "contour" not in _api(world[1], "/api/studies/quad")["figures"]:
        pytest.skip("this shoal.visualization draws no contour for the study (it comes with viz-plots)")
    page = open_page("/studies/quad")
    page.select_option("#contour-x", "x")
    with page.expect_response(lambda r: "/figures/contour?params=x%2Cunits" in r.url, timeout=10_000) as got:
        page.select_option("#contour-y", "units")
    assert got.value.status == 200
    page.wait_for_function("() => document.getElementById('fig-contour').data.length > 0")
    assert page.inner_text("#fig-contour").strip() != ""
