"""Running the dashboard: the loopback rule, the token, and uvicorn started from Python."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
import threading
from collections.abc import Callable

from shoal._validate import config_error, integer
from shoal.dashboard._figures import figure_kinds, figure_payload
from shoal.dashboard._state import Catalog
from shoal.exceptions import ShoalError
from shoal.storage import open_reader

__all__ = ["bind", "dashboard_url", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """True for names of this machine's loopback interface: 127.x.x.x, ::1, localhost."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port), or a one-line ConfigError saying what to do instead."""
    integer(port, what="port", owner="shoal dashboard", low=0, high=65535)
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        hint = f"({err.strerror}) Pass another --port, or stop the program using it."
        raise config_error("port", "shoal dashboard", f"free on {host}", port, hint=hint) from None
    sock.set_inheritable(True)
    return sock


def dashboard_url(host: str, port: int, token: str | None) -> str:
    """The address to open: a wildcard host is shown as this machine's name."""
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "[::]") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def _preload(catalog: Catalog) -> None:
    """Read every study and build its figures once while the server starts, so the first page
    waits for neither storage nor the first import of a plotting library."""
    try:
        names = catalog.names()
    except ShoalError:  # a database gone: the pages will say so
        return
    for name in names:
        try:
            state = catalog.study(name)
            for kind in figure_kinds(state.current()):
                figure_payload(state, kind, objective=None, params=None)
        except Exception:  # a figure that fails here fails again, visibly, on its page
            continue


def serve(url: str, *, host: str = "127.0.0.1", port: int = 8080, allow_remote: bool = False,
          poll_s: float = 2.0, announce: Callable[[str], None] | None = None) -> None:
    """Serve the dashboard of the studies at storage `url` until Ctrl-C (then return normally).

    Args:
        url: A storage URL; it is opened read-only (`open_reader`) and never created or changed.
        host: Where to listen. Anything but a loopback address needs `allow_remote`.
        port: TCP port; 0 picks a free one.
        allow_remote: Permit a non-loopback host. A random token is then made, printed in the URL,
            and required of every request.
        poll_s: How often the pages look for new trials, in seconds.
        announce: Receives the line that says where the dashboard is (default: print it).

    Raises:
        ConfigError: A non-loopback host without `allow_remote`, or the port is taken.
        StorageError: The storage is missing, empty or not shoal's (nothing is created).
    """
    import uvicorn

    from shoal.dashboard._app import create_app

    remote = not is_loopback(host)
    if remote and not allow_remote:
        raise config_error("host", "shoal dashboard", "a loopback address (127.0.0.1, ::1, localhost) "
                           "unless remote access is allowed", host,
                           hint="Add --allow-remote (every request then needs the token it prints).")
    reader = open_reader(url)
    try:
        token = secrets.token_urlsafe(32) if remote else None
        app = create_app(reader, token=token, poll_s=poll_s)
        threading.Thread(target=_preload, args=(app.state.catalog,), daemon=True).start()
        sock = bind(host, port)
        actual = sock.getsockname()[1]
        line = f"shoal dashboard: {dashboard_url(host, actual, token)}  (Ctrl-C to stop)"
        (announce or (lambda text: print(text, file=sys.stdout, flush=True)))(line)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                               timeout_graceful_shutdown=2))
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn shuts down gracefully, then raises Ctrl-C again: done
            pass
        finally:
            sock.close()
    finally:
        reader.close()
