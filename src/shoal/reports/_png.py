"""Each figure of a written report as a PNG, drawn by headless Chromium through Playwright.

Why a browser and not kaleido: the PNG is then the very plot the report shows (same Plotly.js, same
JSON), and the `dashboard` extra's users who want PNGs need only Playwright and a Chromium (Debian's
`chromium` works), which the dashboard's browser tests use already; kaleido >= 1 needs a Chrome too.
"""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from shoal._validate import config_error

__all__ = ["BROWSER_ARGS", "find_chromium", "write_pngs"]

#: Flags for a headless Chromium that must not talk to anyone.
BROWSER_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def find_chromium() -> str | None:
    """A Chromium or Chrome binary: $SHOAL_CHROMIUM, else the first of chromium, chromium-browser,
    google-chrome(-stable) and chrome on PATH; None if there is none (Playwright's own then)."""
    chosen = os.environ.get("SHOAL_CHROMIUM")
    if chosen:
        return chosen
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pngs(report: str | os.PathLike[str], folder: str | os.PathLike[str], *, timeout_s: float = 120.0
               ) -> list[Path]:
    """Open the report offline in headless Chromium and save every plot as `folder/{figure}.png`.

    Raises:
        ImportError: Playwright is not installed.
        ConfigError: No Chromium was found (the message says how to give one).
    """
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise ImportError("PNG export of shoal report needs Playwright and a Chromium: pip install "
                          "playwright, then apt-get install chromium (or playwright install chromium)."
                          ) from None
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    # The sync API refuses to run inside an asyncio loop (a notebook): a thread has none.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_shoot, Path(report).resolve(), out, timeout_s).result()


def _shoot(report: Path, out: Path, timeout_s: float) -> list[Path]:
    from playwright.sync_api import Error, sync_playwright

    executable = find_chromium()
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable, args=list(BROWSER_ARGS))
        except Error:
            hint = ("Install one (apt-get install chromium, or playwright install chromium), or set "
                    "SHOAL_CHROMIUM to its path.")
            raise config_error("Chromium", "shoal report --png", "an installed Chromium or Chrome",
                               executable, hint=hint) from None
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.route("**/*", _offline)
            page = context.new_page()
            page.goto(report.as_uri())
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=timeout_s * 1000)
            written = []
            for plot in page.query_selector_all("div.plot"):
                name = _SAFE.sub("-", (plot.get_attribute("id") or "plot").removeprefix("plot-"))
                path = out / f"{name}.png"
                plot.screenshot(path=str(path))
                written.append(path)
            return written
        finally:
            browser.close()


def _offline(route: Any) -> None:
    """Let the report's own file load and nothing else: the report must need no network."""
    if route.request.url.startswith("file:"):
        route.continue_()
    else:
        route.abort()
