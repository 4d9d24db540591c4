"""Who may talk to the dashboard, the security headers of every response, and errors as JSON.

Without a token (a loopback server) only requests whose Host header names the loopback interface
are served: a web page elsewhere cannot reach the dashboard by pointing its own domain name at
127.0.0.1 (DNS rebinding). With a token (a server reachable from other machines) every request must
carry it: `?token=` on the first page load, after which a cookie (HttpOnly, SameSite=Strict) carries
it and the page takes it out of the address bar, or an `Authorization: Bearer` header for programs.
Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.requests import cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["LOOPBACK_HOSTS", "SECURITY_HEADERS", "Guard", "error_response"]

log = logging.getLogger("shoal.dashboard")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# Scripts come from this server only, never inline. Plotly draws with inline styles, and its WebGL
# traces (Scattergl, used at 10,000 trials) compile their draw calls with `new Function` (regl), which
# needs 'unsafe-eval': without it they show "WebGL is not supported". No page code evaluates strings.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def error_response(message: str, status: int) -> Response:
    """`{"error": message}` with `status`."""
    return Response(json.dumps({"error": message}), status_code=status, media_type="application/json")


def _is_loopback_name(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback  # 127.0.0.2 is this machine too
    except ValueError:
        return False


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:8080
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware: the token or loopback-Host check, then the security headers; an unexpected
    error becomes a one-line JSON 500 (with those headers), its traceback logged.

    Args:
        app: The app to guard.
        token: The token every request must carry, or None for a loopback-only server.
    """

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    def _cookie_name(self, scope: Scope) -> str:
        server = scope.get("server")
        return f"shoal_token_{server[1]}" if server and server[1] is not None else "shoal_token"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        refused = self._refusal(scope)
        cookie = self._cookie_to_set(scope) if refused is None else None

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                if cookie is not None:
                    headers.append("set-cookie", cookie)
            await send(message)

        if refused is not None:
            await refused(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as err:
            if started:
                raise
            # a bug in a plotting function, say: the page shows this line where the plot would be
            log.exception("dashboard request %s failed", scope.get("path"))
            message = (f"{scope.get('path')} failed: {type(err).__name__}: {err}. Please report it, with "
                       "the output of the command that started the dashboard.")
            await error_response(message, 500)(scope, receive, send_with_headers)

    def _cookie_to_set(self, scope: Scope) -> str | None:
        """For a page opened with a valid `?token=`: the cookie that carries it from then on (the
        page's script then takes the token out of the address bar). The page is served, not
        redirected: a SameSite=Strict cookie would not follow a redirect from another site's link."""
        if self.token is None or scope.get("method") != "GET":
            return None
        if scope.get("path", "").startswith(("/api/", "/static/")):
            return None
        query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token") is None:
            return None
        response = Response()
        response.set_cookie(self._cookie_name(scope), self.token, httponly=True, samesite="strict", path="/")
        return response.headers["set-cookie"]

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if self.token is None:
            host = _host_name(headers.get("host", ""))
            if _is_loopback_name(host):
                return None
            return error_response(
                f"Host of a dashboard request must be a loopback name (127.0.0.1, localhost, [::1]) on "
                f"a server started without --allow-remote. Got {host!r}. Open http://127.0.0.1:PORT/, "
                "or restart with --host and --allow-remote to serve other machines.", 400)
        cookie_name = self._cookie_name(scope)
        query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
        authorization = headers.get("authorization", "")
        candidates = [query.get("token"), cookie_parser(headers.get("cookie", "")).get(cookie_name)]
        if authorization.lower().startswith("bearer "):
            candidates.append(authorization[7:].strip())
        expected = self.token.encode()
        if not any(c and hmac.compare_digest(c.encode(), expected) for c in candidates):
            return error_response(
                "token of a dashboard request must be the one 'shoal dashboard' printed. Got "
                f"{'a wrong one' if any(candidates) else 'none'}. Open the printed URL (it ends in "
                "?token=...) or send the header 'Authorization: Bearer TOKEN'.", 401)
        return None
