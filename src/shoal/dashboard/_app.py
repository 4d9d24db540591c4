"""The dashboard's web app: three HTML pages, a JSON API over the read-only storage view, static files.

The pages are fixed files with no data in them; their scripts fetch the JSON API and build the
DOM with `textContent`, so no user string is ever parsed as HTML. Every response carries a
Content-Security-Policy that allows scripts from this server only (no inline script, no other
origin).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shoal._validate import config_error, number
from shoal.dashboard._figures import figure_kinds, figure_payload, trial_figure_payload
from shoal.dashboard._guard import Guard
from shoal.dashboard._state import CachedFigure, Catalog, StudyState
from shoal.dashboard._static import StaticFiles
from shoal.exceptions import ConfigError, StorageError, StudyNotFound
from shoal.storage import CheckpointFolder, StorageReader, study_folder
from shoal.visualization import json_safe, study_summary, trial_record, trials_csv

__all__ = ["create_app"]


def _json(payload: bytes | Any, status: int = 200) -> Response:
    body = payload if isinstance(payload, bytes) else json.dumps(
        json_safe(payload), allow_nan=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def _message(err: Exception) -> str:
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def _query_int(request: Request, key: str, *, low: int) -> int | None:
    text = request.query_params.get(key)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise config_error(key, "a dashboard request", f"an integer >= {low}", text,
                           hint=f"Drop {key}= or pass a whole number.")
    return value


def _query_params(request: Request) -> list[str] | None:
    names = [name for item in request.query_params.getlist("params") for name in item.split(",") if name]
    return names or None


def _param_names(state: StudyState) -> list[str]:
    return list(dict.fromkeys(name for t in state.current().trials for name in t.params))


def _trial_not_found(name: str, state: StudyState, number_: int) -> Response:
    n = len(state.trials)
    constraint = f"one of 0 to {n - 1}" if n else "a trial number; the study has no trials yet"
    message = str(config_error("number of a trial", f"study {name!r}", constraint, number_,
                               hint=f"Open /studies/{quote(name, safe='')} for its trials."))
    return _json({"error": message}, 404)


def _checkpoints_on_disk(url: str, name: str, number_: int) -> dict[str, Any]:
    folder = CheckpointFolder(study_folder(url, name) / f"trial-{number_}")
    steps = []
    for step in folder.steps():
        path = folder.step_path(step)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        steps.append({"step": step, "bytes": size, "path": str(path)})
    return {"folder": str(folder.path), "steps": steps}


def create_app(reader: StorageReader, *, token: str | None = None, poll_s: float = 2.0) -> Starlette:
    """The dashboard as a Starlette app over a read-only storage view.

    Args:
        reader: Where the studies are read (`shoal.storage.open_reader(url)`); never written.
        token: When set, every request must carry it (`?token=` on the first page load, then a
            cookie; or `Authorization: Bearer TOKEN`), else 401. When None, only requests with a
            loopback Host header (127.0.0.1, localhost, [::1]) are served, which defeats DNS rebinding.
        poll_s: How often the pages ask for changes, in seconds; storage is read at most twice as often.
            With a token (a remote server) responses are gzipped; on loopback that costs more than it saves.

    Returns:
        The app; serve it with uvicorn (`shoal.dashboard.serve` does).

    >>> from shoal.storage import InMemoryStorage
    >>> app = create_app(InMemoryStorage())
    >>> sorted(route.path for route in app.routes)[:2]
    ['/', '/api/studies']
    """
    poll_s = number(poll_s, what="poll_s", owner="create_app", low=0.05,
                    hint="Pages poll every poll_s seconds; 2.0 is a good default.")
    catalog = Catalog(reader, min_interval=min(poll_s / 2, 1.0))
    static = StaticFiles()

    def page(file: str) -> Any:
        def endpoint(request: Request) -> Response:
            return static.response(file, request)

        return endpoint

    def summary(state: StudyState) -> bytes:
        cached = state.figures.get(("summary",))
        if cached is not None and cached.version == state.version:
            return cached.payload
        snap = state.current()
        body = {**study_summary(snap), "version": state.version, "figures": figure_kinds(snap),
                "params": _param_names(state), "user_attrs": dict(snap.user_attrs),
                "objective_names": snap.system_attrs.get("objective_names"), "poll_s": poll_s}
        payload = json.dumps(json_safe(body), allow_nan=False, separators=(",", ":")).encode()
        state.figures[("summary",)] = CachedFigure(state.version, payload, 0.0, 0.0)
        return payload

    def api_studies(request: Request) -> Response:
        parts = []
        for name in catalog.names():
            try:
                parts.append(summary(catalog.study(name)))
            except StudyNotFound:  # deleted since it was listed
                continue
        return _json(b'{"poll_s":%s,"studies":[%s]}' % (repr(poll_s).encode(), b",".join(parts)))

    def api_study(request: Request) -> Response:
        return _json(summary(catalog.study(request.path_params["name"])))

    def api_trials(request: Request) -> Response:
        since = _query_int(request, "since", low=0) or 0
        fields = request.query_params.get("fields", "all")
        if fields not in ("all", "table"):
            raise config_error("fields", "a dashboard request", "'all' or 'table'", fields,
                               hint="Drop fields= for every field of each trial.")
        return _json(catalog.study(request.path_params["name"]).trials_json(
            since, rows=fields == "table")[1])

    def api_csv(request: Request) -> Response:
        name = request.path_params["name"]
        state = catalog.study(name)
        disposition = f"attachment; filename*=UTF-8''{quote(name, safe='')}.csv"
        return Response(trials_csv(state.current().trials), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})

    def api_figure(request: Request) -> Response:
        state = catalog.study(request.path_params["name"])
        payload = figure_payload(state, request.path_params["kind"],
                                 objective=_query_int(request, "objective", low=0),
                                 params=_query_params(request))
        return _json(payload)

    def api_trial(request: Request) -> Response:
        name, number_ = request.path_params["name"], request.path_params["number"]
        state = catalog.study(name)
        trial = state.trials.get(number_)
        if trial is None:
            return _trial_not_found(name, state, number_)
        record = trial_record(trial, curves=True)
        record["version"] = state.version
        record["children"] = sorted(t.number for t in state.trials.values() if t.parent == number_)
        record["checkpoints_on_disk"] = _checkpoints_on_disk(reader.url, name, number_)
        return _json(record)

    def api_trial_figure(request: Request) -> Response:
        name, number_ = request.path_params["name"], request.path_params["number"]
        state = catalog.study(name)
        if number_ not in state.trials:
            return _trial_not_found(name, state, number_)
        return _json(trial_figure_payload(state, number_))

    def static_file(request: Request) -> Response:
        return static.response(request.path_params["file"], request)

    async def not_found(request: Request, err: Exception) -> Response:
        return _json({"error": _message(err)}, 404)

    async def bad_request(request: Request, err: Exception) -> Response:
        status = 404 if "kind of a dashboard figure" in str(err) else 400
        return _json({"error": _message(err)}, status)

    async def unavailable(request: Request, err: Exception) -> Response:
        return _json({"error": _message(err)}, 503)

    routes = [
        Route("/", page("index.html")),
        Route("/studies/{name:path}/trials/{number:int}", page("trial.html")),
        Route("/studies/{name:path}", page("study.html")),
        Route("/api/studies", api_studies),
        Route("/api/studies/{name:path}/trials.csv", api_csv),
        Route("/api/studies/{name:path}/trials/{number:int}/figure", api_trial_figure),
        Route("/api/studies/{name:path}/trials/{number:int}", api_trial),
        Route("/api/studies/{name:path}/trials", api_trials),
        Route("/api/studies/{name:path}/figures/{kind}", api_figure),
        Route("/api/studies/{name:path}", api_study),
        Route("/static/{file:path}", static_file),
    ]
    app = Starlette(routes=routes, exception_handlers={
        StudyNotFound: not_found, ConfigError: bad_request, StorageError: unavailable})
    if token is not None:  # served to other machines: a 10,000-trial study's JSON is megabytes
        app.add_middleware(GZipMiddleware, minimum_size=4096, compresslevel=5)
    app.add_middleware(Guard, token=token)
    app.state.catalog = catalog
    return app

