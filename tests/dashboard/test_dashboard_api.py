"""The dashboard's JSON API, static files and guard, through Starlette's test client and a live server."""

from __future__ import annotations

import base64
import csv
import io
import json
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from dashboard_support import HOSTILE, TestClient, add_trial, quadratic_study, start_server

from shoal import visualization
from shoal.dashboard import create_app, serve
from shoal.dashboard._figures import escape_figure, figure_payload
from shoal.dashboard._guard import CSP
from shoal.dashboard._serve import is_loopback
from shoal.dashboard._state import Catalog
from shoal.exceptions import ConfigError, StorageError
from shoal.storage import Storage, StorageReader, TrialsPage, open_reader, study_folder
from shoal.visualization import StudySnapshot


def _values(array: Any) -> list[float]:
    """A Plotly JSON array: a plain list, or numpy's base64 form {"dtype", "bdata"}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def _expected_kinds(storage: Storage, name: str) -> list[str]:
    """`applicable_figures` of the study where shoal.visualization has it, else every registered kind."""
    record = storage.get_study(name)
    snap = StudySnapshot(name, record.directions, storage.get_trials(record.study_id).trials)
    applicable = getattr(visualization, "applicable_figures", None)
    kinds = applicable(snap) if applicable is not None else list(visualization.FIGURES)
    assert "history" in kinds
    return list(kinds)


def test_studies_list_counts_states_and_best(client: TestClient, storage: Storage) -> None:
    quadratic_study(storage, "another", 3)
    body = client.get("/api/studies").json()
    assert [s["name"] for s in body["studies"]] == ["another", "quad"]
    quad = body["studies"][1]
    assert quad["n_trials"] == 12
    assert quad["states"]["COMPLETE"] == 11
    assert quad["states"]["FAILED"] == 1
    xs = [-2.0 + 4.0 * i / 11 for i in range(12) if i != 3]
    assert quad["best"] == [pytest.approx(min((x - 1) ** 2 for x in xs))]
    assert quad["figures"] == _expected_kinds(storage, "quad")


def test_study_summary_names_version_figures_and_params(client: TestClient, storage: Storage) -> None:
    body = client.get("/api/studies/quad").json()
    assert body["name"] == "quad"
    assert body["directions"] == ["minimize"]
    assert body["version"] > 0
    assert body["params"] == ["x", "units", "act"]
    assert body["figures"] == _expected_kinds(storage, "quad")


class CountingReader:
    """A reader that records every `since` it was asked for."""

    def __init__(self, inner: StorageReader) -> None:
        self.inner, self.url, self.since = inner, inner.url, []

    def list_studies(self) -> Any:
        return self.inner.list_studies()

    def get_study(self, name: str) -> Any:
        return self.inner.get_study(name)

    def get_trials(self, study_id: int, *, since: int = 0) -> TrialsPage:
        self.since.append(since)
        return self.inner.get_trials(study_id, since=since)

    def close(self) -> None:
        self.inner.close()


def test_trials_since_returns_only_changes_and_storage_is_read_incrementally(
        reader: StorageReader, storage: Storage) -> None:
    counting = CountingReader(reader)
    client = TestClient(create_app(counting, poll_s=0.05), base_url="http://127.0.0.1")
    first = client.get("/api/studies/quad/trials?since=0").json()
    assert [t["number"] for t in first["trials"]] == list(range(12))
    assert "intermediate" not in first["trials"][0]  # the table's records carry no curves
    study_id = storage.get_study("quad").study_id
    add_trial(storage, study_id, params={"x": 1.5, "units": 32, "act": "relu"}, values=[0.25])
    time.sleep(0.06)
    later = client.get(f"/api/studies/quad/trials?since={first['version']}").json()
    assert [t["number"] for t in later["trials"]] == [12]
    assert later["version"] > first["version"]
    unchanged = client.get(f"/api/studies/quad/trials?since={later['version']}").json()
    assert unchanged["trials"] == []
    assert counting.since[0] == 0
    assert all(s > 0 for s in counting.since[1:])
    assert len(counting.since) >= 2


def test_trials_since_refuses_a_bad_version(client: TestClient) -> None:
    response = client.get("/api/studies/quad/trials?since=-1")
    assert response.status_code == 400
    assert "since of a dashboard request must be an integer >= 0" in response.json()["error"]


def test_table_rows_carry_only_what_the_table_shows(client: TestClient) -> None:
    full = client.get("/api/studies/quad/trials?since=0").json()["trials"]
    rows = client.get("/api/studies/quad/trials?since=0&fields=table").json()["trials"]
    assert [set(r) for r in rows] == [{"number", "state", "params", "values", "duration"}] * len(full)
    assert [{k: t[k] for k in r} for r, t in zip(rows, full, strict=True)] == rows
    bad = client.get("/api/studies/quad/trials?since=0&fields=some")
    assert bad.status_code == 400
    assert "fields of a dashboard request must be 'all' or 'table'" in bad.json()["error"]


def test_csv_has_a_row_per_trial(client: TestClient) -> None:
    response = client.get("/api/studies/quad/trials.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["number"]) for r in rows] == list(range(12))
    assert rows[3]["state"] == "FAILED"
    assert rows[3]["value"] == ""
    assert float(rows[0]["value"]) == pytest.approx(9.0)
    assert float(rows[0]["params_x"]) == -2.0


def test_history_figure_json(client: TestClient) -> None:
    body = client.get("/api/studies/quad/figures/history").json()
    assert body["version"] == client.get("/api/studies/quad").json()["version"]
    markers, best = body["figure"]["data"]
    assert _values(markers["x"]) == [i for i in range(12) if i != 3]
    assert _values(best["y"])[-1] == pytest.approx(min(_values(markers["y"])))


def test_figures_draw_at_most_max_trials_and_the_trial_page_its_trial(
        reader: StorageReader, monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal.dashboard import _figures

    monkeypatch.setattr(_figures, "MAX_TRIALS", 4)
    client = TestClient(create_app(reader, poll_s=0.05), base_url="http://127.0.0.1")
    history = client.get("/api/studies/quad/figures/history").json()["figure"]
    markers, best = history["data"]
    # 11 completed, x = -2 + 4i/11: the best 2 are nearest x = 1 (trials 8 and 9, at 0.91 and 1.27),
    # and an even sample of 2 over the other 9 is their first and last (trials 0 and 11)
    values = {i: (-2.0 + 4.0 * i / 11 - 1) ** 2 for i in range(12) if i != 3}
    assert sorted(values, key=values.__getitem__)[:2] == [8, 9]
    assert _values(markers["x"]) == [0, 8, 9, 11]
    assert _values(best["y"])[-1] == pytest.approx(min(values.values()))  # over every trial
    (note,) = [a for a in history["layout"]["annotations"] if a.get("name") == "thinned"]
    assert note["text"].startswith("4 of 11 trials drawn")
    curves = client.get("/api/studies/quad/figures/intermediate").json()["figure"]
    assert [t["name"] for t in curves["data"]][:2] == ["10-90 % of all trials", "median of all trials"]
    trial = client.get("/api/studies/quad/trials/7/figure").json()["figure"]
    assert not [a for a in trial["layout"].get("annotations", []) if a.get("name") == "thinned"]


def test_plotly_js_is_served_under_its_version_and_cached_for_a_year(client: TestClient) -> None:
    from shoal.dashboard._static import plotly_name

    name = plotly_name()
    assert name.startswith("plotly-")
    assert name.endswith(".min.js")
    assert "missing" not in name
    page = client.get("/studies/quad").text
    assert f'<meta name="plotly-js" content="/static/{name}">' in page
    versioned = client.get(f"/static/{name}")
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = client.get("/static/plotly.min.js")
    assert plain.content == versioned.content
    assert plain.headers["cache-control"] == "no-cache"


def test_pages_name_the_cartesian_bundle_and_every_served_figure_needs_only_it(
        client: TestClient, storage: Storage) -> None:
    from shoal.dashboard._static import plotly_name

    lite = plotly_name(lite=True)
    assert lite == "plotly-cartesian-4.1.1.min.js"
    for page in ("/", "/studies/quad", "/studies/quad/trials/0"):
        assert f'<meta name="plotly-lite-js" content="/static/{lite}">' in client.get(page).text
    served = client.get(f"/static/{lite}")
    assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert served.content == visualization.plotly_js_source(lite=True)
    figures = [client.get(f"/api/studies/quad/figures/{kind}").json()["figure"]
               for kind in _expected_kinds(storage, "quad")]
    figures.append(client.get("/api/studies/quad/trials/0/figure").json()["figure"])
    assert "parallel" in _expected_kinds(storage, "quad")
    assert not visualization.needs_full_plotly(figures)


def test_unknown_figure_and_bad_objective(client: TestClient) -> None:
    response = client.get("/api/studies/quad/figures/nope")
    assert response.status_code == 404
    assert "kind of a dashboard figure must be one of" in response.json()["error"]
    response = client.get("/api/studies/quad/figures/history?objective=3")
    assert response.status_code == 400
    assert "objective" in response.json()["error"]


def test_trial_json_has_curves_lineage_failure_and_checkpoints(client: TestClient, url: str) -> None:
    step = study_folder(url, "quad") / "trial-4" / "step-2"
    step.mkdir(parents=True)
    (step / "state.pt").write_bytes(b"x" * 123)
    trial = client.get("/api/studies/quad/trials/4").json()
    assert trial["parent"] == 2
    assert trial["lineage"][0]["event"] == "forked"
    assert trial["intermediate"]["0"] == pytest.approx(trial["intermediate"]["4"] + 1 - 0.2)
    assert trial["checkpoints_on_disk"]["steps"] == [{"step": 2, "bytes": 123, "path": str(step)}]
    assert client.get("/api/studies/quad/trials/2").json()["children"] == [4]
    failed = client.get("/api/studies/quad/trials/3").json()
    assert failed["state"] == "FAILED"
    assert failed["fail_reason"] == "diverged"
    assert failed["traceback"] == "Traceback: boom\n<b>x</b>"
    figure = client.get("/api/studies/quad/trials/4/figure").json()["figure"]
    assert figure["data"][0]["name"] == "value"  # plot_trial_curves may add the parent's part


def test_trial_curves_without_plot_trial_curves_draw_value_and_named_curves() -> None:
    from shoal.dashboard._figures import _trial_curves
    from shoal.trial import Direction, FrozenTrial, TrialState

    trial = FrozenTrial(number=0, trial_id=1, state=TrialState.COMPLETE, intermediate={1: 0.5, 0: 0.9},
                        system_attrs={"curves": {"train_loss": {"0": 1.0, "1": 0.7}, "lr": {}}})
    figure = _trial_curves(StudySnapshot("s", (Direction.MINIMIZE,), [trial]), 0)
    assert [(t.name, list(t.x), list(t.y)) for t in figure.data] == [
        ("value", [0, 1], [0.9, 0.5]), ("train_loss", [0, 1], [1.0, 0.7])]


def test_unknown_study_and_trial_are_404_with_a_hint(client: TestClient) -> None:
    response = client.get("/api/studies/nope")
    assert response.status_code == 404
    assert "no study named 'nope'" in response.json()["error"]
    assert "Known studies: quad" in response.json()["error"]
    for path in ("/api/studies/quad/trials/99", "/api/studies/quad/trials/99/figure"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == ("number of a trial of study 'quad' must be one of 0 to 11. "
                                            "Got 99. Open /studies/quad for its trials.")


def test_every_response_has_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/studies/quad", "/api/studies", "/api/studies/nope", "/static/common.js",
                 "/static/nope.js"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CSP, path
        assert headers["x-content-type-options"] == "nosniff", path
    assert "default-src 'self'" in CSP
    assert "script-src 'self' 'unsafe-eval';" in CSP  # no 'unsafe-inline', no other origin for scripts


def test_a_token_is_required_when_set(reader: StorageReader) -> None:
    client = TestClient(create_app(reader, token="s3cret"), base_url="http://example.org:9000")
    assert client.get("/api/studies").status_code == 401
    assert client.get("/api/studies", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert "Got a wrong one" in client.get("/api/studies?token=nope").json()["error"]
    assert client.get("/static/common.js").status_code == 401
    assert client.get("/api/studies", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    first = client.get("/studies/quad?token=s3cret", follow_redirects=False)
    assert first.status_code == 200  # served, not redirected: the page strips the token itself
    assert first.headers["content-security-policy"] == CSP
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("shoal_token_9000=s3cret;")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "set-cookie" not in client.get("/api/studies?token=s3cret").headers  # pages only
    assert client.get("/api/studies/quad").status_code == 200  # the client kept the cookie
    client.cookies.clear()
    assert client.get("/api/studies/quad").status_code == 401
    big = client.get("/static/plotly.min.js", headers={"Authorization": "Bearer s3cret"})
    assert big.headers["content-encoding"] == "gzip"  # remote: compressed
    assert big.headers["content-security-policy"] == CSP


def test_without_a_token_only_loopback_hosts_are_served(reader: StorageReader) -> None:
    app = create_app(reader)
    plain = TestClient(app, base_url="http://127.0.0.1").get("/static/plotly.min.js")
    assert "content-encoding" not in plain.headers  # loopback: not worth compressing
    for base in ("http://127.0.0.1:8080", "http://localhost", "http://[::1]:8080", "http://127.0.0.2:80"):
        assert TestClient(app, base_url=base).get("/api/studies").status_code == 200, base
    for base in ("http://10.0.0.1:8080", "http://127.0.0.1.example.com"):
        assert TestClient(app, base_url=base).get("/api/studies").status_code == 400, base
    refused = TestClient(app, base_url="http://rebound.example.com:8080").get("/api/studies")
    assert refused.status_code == 400
    assert "--allow-remote" in refused.json()["error"]


def _raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (an HTTP client would normalise the dots away)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def test_static_paths_cannot_leave_the_allow_list(reader: StorageReader, tmp_path: Path) -> None:
    live = start_server(reader)
    try:
        assert _raw_get(live.base, "/static/plotly.min.js")[0] == 200
        for path in ("/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                     "/static/..%2f..%2f..%2fetc%2fpasswd", "/static//etc/passwd",
                     "/static/%2fetc%2fpasswd", "/static/../_app.py", "/static/..%2f_app.py"):
            status, body = _raw_get(live.base, path)
            assert status in (400, 404), path
            assert b"root:" not in body, path
            assert b"create_app" not in body, path
    finally:
        live.stop()


def test_hostile_strings_come_back_as_data_never_markup(storage: Storage, url: str) -> None:
    quadratic_study(storage, HOSTILE, 4, objective_names=[HOSTILE], param_value=HOSTILE, user_attr=HOSTILE)
    reader = open_reader(url)
    try:
        client = TestClient(create_app(reader), base_url="http://127.0.0.1")
        path = "/api/studies/" + quote(HOSTILE, safe="")
        summary = client.get(path)
        assert summary.headers["content-type"] == "application/json"
        assert summary.json()["name"] == HOSTILE
        trial = client.get(f"{path}/trials/1").json()
        assert trial["params"]["act"] == HOSTILE
        assert trial["user_attrs"]["note"] == HOSTILE
        page = client.get("/studies/" + quote(HOSTILE, safe="")).text
        assert "<img" not in page
        assert "onerror" not in page
        figure = client.get(f"{path}/figures/history").json()["figure"]
        text = json.dumps(figure)
        assert "<img" not in text
        assert "&lt;img src=x onerror=window.__xss=1&gt;" in text
    finally:
        reader.close()


def test_escape_figure_keeps_formatting_tags_and_numbers() -> None:
    figure = {"data": [{"x": np.arange(3.0), "text": np.array(["<b>a</b>", "a&b", "<script>"]),
                        "hovertemplate": "x %{x}<br>y<extra></extra>"}],
              "layout": {"title": {"text": "<a href='javascript:alert(1)'>t</a>"}}}
    escaped = escape_figure(figure)
    assert escaped["data"][0]["x"] is figure["data"][0]["x"]
    assert escaped["data"][0]["text"] == ["<b>a</b>", "a&amp;b", "&lt;script&gt;"]
    assert escaped["data"][0]["hovertemplate"] == "x %{x}<br>y<extra></extra>"
    assert escaped["layout"]["title"]["text"] == "&lt;a href='javascript:alert(1)'&gt;t&lt;/a&gt;"


def test_figures_are_cached_by_version_and_slow_ones_rebuilt_sparingly(
        reader: StorageReader, storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[int] = []

    def counted(study: Any) -> Any:
        builds.append(len(study.trials))
        return visualization.plot_optimization_history(study)

    monkeypatch.setitem(visualization.FIGURES, "counted", counted)
    now = [0.0]
    catalog = Catalog(reader, min_interval=1.0, clock=lambda: now[0])
    state = catalog.study("quad")
    first = figure_payload(state, "counted", objective=None, params=None, clock=lambda: now[0])
    assert figure_payload(state, "counted", objective=None, params=None, clock=lambda: now[0]) == first
    assert builds == [12]
    add_trial(storage, state.record.study_id, params={"x": 0.0}, values=[1.0])
    assert catalog.study("quad").version == state.version  # within min_interval: not read again
    now[0] = 1.0
    state = catalog.study("quad")
    figure_payload(state, "counted", objective=None, params=None, clock=lambda: now[0])
    assert builds == [12, 13]
    key = next(k for k in state.figures if k[0] == "counted")
    cached = state.figures[key]
    state.figures[key] = type(cached)(cached.version, cached.payload, 2.0, now[0])  # as if it took 2 s
    add_trial(storage, state.record.study_id, params={"x": 0.5}, values=[0.25])
    now[0] = 2.0
    state = catalog.study("quad")
    figure_payload(state, "counted", objective=None, params=None, clock=lambda: now[0])
    assert builds == [12, 13]  # 1 s after a 2 s build: the cached figure is served
    now[0] = 21.0
    figure_payload(state, "counted", objective=None, params=None, clock=lambda: now[0])
    assert builds == [12, 13, 14]


def test_a_build_is_slow_by_its_cpu_time_not_the_wall_time_spent_waiting_for_other_requests(
        reader: StorageReader, storage: Storage) -> None:
    wall, cpu = [0.0], [0.0]

    def clock() -> float:  # every look at the wall clock finds 3 s gone: other figures ran meanwhile
        wall[0] += 3.0
        return wall[0]

    def cost() -> float:
        cpu[0] += 0.05
        return cpu[0]

    catalog = Catalog(reader, min_interval=0.0)
    state = catalog.study("quad")
    first = figure_payload(state, "history", objective=None, params=None, clock=clock, cost=cost)
    (cached,) = state.figures.values()
    assert cached.build_s == pytest.approx(0.05)
    add_trial(storage, state.record.study_id, params={"x": 0.0}, values=[1.0])
    state = catalog.study("quad")
    again = figure_payload(state, "history", objective=None, params=None, clock=clock, cost=cost)
    assert json.loads(again)["version"] == state.version > json.loads(first)["version"]


def test_a_study_deleted_and_created_again_is_read_afresh(reader: StorageReader, storage: Storage) -> None:
    now = [0.0]
    catalog = Catalog(reader, min_interval=1.0, clock=lambda: now[0])
    assert len(catalog.study("quad").trials) == 12
    storage.delete_study("quad")
    quadratic_study(storage, "quad", 2)
    now[0] = 5.0
    assert catalog.names() == ["quad"]
    assert sorted(catalog.study("quad").trials) == [0, 1]


def test_serve_never_creates_a_missing_or_empty_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(StorageError):
        serve(f"sqlite:///{missing}", port=0)
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(StorageError):
        serve(f"sqlite:///{empty}", port=0)
    assert empty.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


def test_a_remote_host_needs_allow_remote(url: str, reader: StorageReader) -> None:
    with pytest.raises(ConfigError) as err:
        serve(url, host="0.0.0.0", port=0)
    assert str(err.value) == (
        "host of shoal dashboard must be a loopback address (127.0.0.1, ::1, localhost) unless remote "
        "access is allowed. Got '0.0.0.0'. Add --allow-remote (every request then needs the token it "
        "prints).")
    assert [h for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "0.0.0.0", "10.0.0.1",
                        "example.org") if is_loopback(h)] == ["127.0.0.1", "127.0.0.2", "::1", "[::1]",
                                                               "localhost"]


def test_preload_reads_every_study_and_builds_its_figures(reader: StorageReader) -> None:
    from shoal.dashboard._serve import _preload

    catalog = Catalog(reader, min_interval=60.0)
    _preload(catalog)
    state = catalog.study("quad")
    built = sorted(key[0] for key in state.figures)
    assert built == sorted(_expected_kinds_of(state))
    assert all(figure.version == state.version for figure in state.figures.values())


def _expected_kinds_of(state: Any) -> list[str]:
    applicable = getattr(visualization, "applicable_figures", None)
    return list(applicable(state.current())) if applicable is not None else list(visualization.FIGURES)


def test_several_objectives_draw_objective_0_unless_asked(storage: Storage, url: str) -> None:
    from shoal.trial import Direction

    two = storage.create_study("two", [Direction.MINIMIZE, Direction.MAXIMIZE]).study_id
    for i in range(3):
        add_trial(storage, two, params={"x": float(i)}, values=[float(i), 10.0 * i + 1])
    reader = open_reader(url)
    try:
        client = TestClient(create_app(reader), base_url="http://127.0.0.1")
        first = client.get("/api/studies/two/figures/history").json()["figure"]["data"][0]
        second = client.get("/api/studies/two/figures/history?objective=1").json()["figure"]["data"][0]
        assert _values(first["y"]) == [0.0, 1.0, 2.0]
        assert _values(second["y"]) == [1.0, 11.0, 21.0]
        assert client.get("/api/studies/two").json()["directions"] == ["minimize", "maximize"]
    finally:
        reader.close()


def test_a_failing_figure_is_a_json_error(reader: StorageReader, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    def broken(study: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(visualization.FIGURES, "broken", broken)
    client = TestClient(create_app(reader), base_url="http://127.0.0.1", raise_server_exceptions=False)
    response = client.get("/api/studies/quad/figures/broken")
    assert response.status_code == 500
    assert response.json()["error"].startswith(
        "/api/studies/quad/figures/broken failed: ZeroDivisionError: division by zero.")
    assert response.headers["content-security-policy"] == CSP
    assert "ZeroDivisionError" in caplog.text  # the traceback is logged for the report



def test_escaping_a_figure_twice_changes_nothing_and_keeps_bare_ampersands_safe() -> None:
    from shoal.dashboard._figures import escape_figure

    raw = {"title": "a & b <i>x</i> <img src=x onerror=alert(1)> &lt;kept&gt; &#37;"}
    once = escape_figure(raw)
    assert once["title"] == "a &amp; b <i>x</i> &lt;img src=x onerror=alert(1)&gt; &lt;kept&gt; &#37;"
    assert escape_figure(once) == once
