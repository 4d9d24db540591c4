"""The dashboard's static files: a fixed allow-list, so no request path ever reaches the filesystem.

The list is made once: every file shipped in `shoal/dashboard/static/` plus Plotly.js (the dashboard
works offline: no CDN). A request names a key of that list or gets 404; `..`, `%2e%2e` and absolute
paths are simply names that are not in it.

Plotly.js comes in two bundles (`shoal.visualization.plotly_js_source`): the full one of the
installed plotly package, as `plotly.min.js` and `plotly-<version>.min.js`, and shoal's vendored
cartesian one as `plotly-cartesian-<version>.min.js`. The versioned names are served with a
year-long `Cache-Control: immutable`: a name changes when its content does, so a browser reuses its
copy (and the code it compiled from it) without asking. The HTML pages name both: the placeholders
`PLOTLY_JS` and `PLOTLY_LITE_JS` in them are replaced by their paths, and common.js loads the
cartesian bundle unless a figure needs the full one.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from shoal.visualization import plotly_js_source, plotly_js_version

__all__ = ["StaticFiles", "plotly_name"]

_FOREVER = "public, max-age=31536000, immutable"

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


def plotly_name(*, lite: bool = False) -> str:
    """The versioned name a Plotly.js bundle is served under: 'plotly-7.1.0.min.js' (the installed
    plotly's full bundle) or 'plotly-cartesian-4.1.1.min.js' (`lite`)."""
    return f"plotly-{plotly_js_version(lite=lite)}.min.js"


class StaticFiles:
    """The allow-listed files, read lazily and kept in memory, served with an ETag."""

    def __init__(self) -> None:
        folder = resources.files("shoal.dashboard") / "static"
        self._sources = {entry.name: entry for entry in folder.iterdir()
                         if entry.is_file() and any(entry.name.endswith(s) for s in _TYPES)}
        self._cache: dict[str, tuple[bytes, str]] = {}
        self._plotly = plotly_name()
        self._lite = plotly_name(lite=True)

    def names(self) -> list[str]:
        """Every name a request may ask for."""
        return sorted([*self._sources, "plotly.min.js", self._plotly, self._lite])

    def _load(self, name: str) -> tuple[bytes, str] | None:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        if name in ("plotly.min.js", self._plotly, self._lite):
            body = plotly_js_source(lite=name == self._lite)
        elif name in self._sources:
            body = self._sources[name].read_bytes()
            if name.endswith(".html"):
                body = body.replace(b"PLOTLY_LITE_JS", f"/static/{self._lite}".encode())
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
        forever = name in (self._plotly, self._lite)
        headers = {"ETag": etag, "Cache-Control": _FOREVER if forever else "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=_TYPES[suffix], headers=headers)
