"""The dashboard's static files: a fixed allow-list, so no request path ever reaches the filesystem.

The list is made once: every file shipped in `shoal/dashboard/static/` plus `plotly.min.js` from the
installed plotly package (the dashboard works offline: no CDN). A request names a key of that list
or gets 404; `..`, `%2e%2e` and absolute paths are simply names that are not in it.

Plotly.js is also listed as `plotly-<version>.min.js` (the installed plotly's version), served with
a year-long `Cache-Control: immutable`: its name changes when its content does, so a browser reuses
its copy (and the code it compiled from it) without asking. The HTML pages name that file: the
placeholder `PLOTLY_JS` in them is replaced by its path.
"""

from __future__ import annotations

import hashlib
from importlib import metadata, resources

from starlette.requests import Request
from starlette.responses import Response

from shoal.exceptions import ConfigError

__all__ = ["StaticFiles", "plotly_name"]

_FOREVER = "public, max-age=31536000, immutable"

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


def _plotly_js() -> bytes:
    try:
        return (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise ConfigError("plotly of the dashboard must be installed with its plotly.min.js. Got none. "
                          "Install it: pip install 'shoal[dashboard]'.") from None


def plotly_name() -> str:
    """The versioned name Plotly.js is served under, e.g. 'plotly-6.0.1.min.js'."""
    try:
        version = metadata.version("plotly")
    except metadata.PackageNotFoundError:
        version = "missing"
    return f"plotly-{version}.min.js"


class StaticFiles:
    """The allow-listed files, read lazily and kept in memory, served with an ETag."""

    def __init__(self) -> None:
        folder = resources.files("shoal.dashboard") / "static"
        self._sources = {entry.name: entry for entry in folder.iterdir()
                         if entry.is_file() and any(entry.name.endswith(s) for s in _TYPES)}
        self._cache: dict[str, tuple[bytes, str]] = {}
        self._plotly = plotly_name()

    def names(self) -> list[str]:
        """Every name a request may ask for."""
        return sorted([*self._sources, "plotly.min.js", self._plotly])

    def _load(self, name: str) -> tuple[bytes, str] | None:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        if name in ("plotly.min.js", self._plotly):
            body = _plotly_js()
        elif name in self._sources:
            body = self._sources[name].read_bytes()
            if name.endswith(".html"):
                body = body.replace(b"PLOTLY_JS", f"/static/{self._plotly}".encode())
        else:
            return None
        cached = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        self._cache[name] = cached
        return cached

    def response(self, name: str, request: Request) -> Response:
        """The file `name` (304 when the browser's copy is current), or 404 if it is not listed."""
        found = self._load(name)
        if found is None:
            return Response(f"no static file named {name!r}", status_code=404, media_type="text/plain")
        body, etag = found
        suffix = name[name.rfind("."):]
        headers = {"ETag": etag, "Cache-Control": _FOREVER if name == self._plotly else "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=_TYPES[suffix], headers=headers)
