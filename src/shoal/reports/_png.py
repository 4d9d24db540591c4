"""Figures as PNG files, drawn by headless Chromium from the command line: no Python package needed.

Why this way: kaleido (plotly's exporter) is not one of the `dashboard` extra's packages and, from
version 1, needs a Chrome anyway; Playwright is a test tool. A Chromium alone does it: one
`chromium --headless --dump-dom` run loads a page holding Plotly.js and every figure, draws each with
`Plotly.newPlot`, turns it into a PNG with `Plotly.toImage` (Plotly's own export, so the PNG is the
plot the report shows) and writes the data URLs into the page, which Chromium prints when the page
has gone idle. One browser start for all the figures; nothing leaves the machine.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from shoal._validate import config_error

__all__ = ["BROWSER_ARGS", "PNG_SIZE", "find_chromium", "write_pngs"]

#: Flags for a headless Chromium that must not talk to anyone (no host name resolves).
BROWSER_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")
#: Width and height of each PNG, in pixels.
PNG_SIZE = (1100, 460)
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_RESULT = re.compile(r'<pre data-png="([^"]*)"(?: data-error="([^"]*)")?>([^<]*)</pre>')

_EXPORT = """
(async function () {
  for (const block of document.querySelectorAll('script[type="application/json"][data-key]')) {
    const out = document.createElement("pre");
    out.dataset.png = block.dataset.key;
    const target = document.createElement("div");
    document.body.appendChild(target);
    try {
      const figure = JSON.parse(block.textContent);
      await Plotly.newPlot(target, figure.data || [], figure.layout || {}, {staticPlot: true});
      out.textContent = await Plotly.toImage(target, {format: "png", width: %d, height: %d});
    } catch (err) {
      out.dataset.error = String(err);
    }
    Plotly.purge(target);
    target.remove();
    document.body.appendChild(out);
  }
  const done = document.createElement("pre");
  done.id = "shoal-done";
  document.body.appendChild(done);
})();
"""


def find_chromium() -> str | None:
    """A Chromium or Chrome binary: $SHOAL_CHROMIUM, else the first of chromium, chromium-browser,
    google-chrome(-stable) and chrome on PATH; None if there is none."""
    chosen = os.environ.get("SHOAL_CHROMIUM")
    if chosen:
        return chosen
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def write_pngs(figures: Mapping[str, str], folder: str | os.PathLike[str], *,
               timeout_s: float = 300.0) -> list[Path]:
    """Write each figure (name -> Plotly JSON) as `folder/{name}.png`, drawn by headless Chromium.

    Returns:
        The files written, in the order of `figures`.

    Raises:
        ConfigError: No Chromium was found, or it would not start (the message says how to get one).
        RuntimeError: Chromium ran but a figure could not be drawn (the message names it).
    """
    from shoal.reports._page import embed_json, plotly_js

    chromium = find_chromium()
    if chromium is None or not Path(chromium).exists():
        raise _no_chromium(chromium)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    blocks = "".join(f'<script type="application/json" data-key="{html.escape(key)}">{embed_json(text)}'
                     "</script>" for key, text in figures.items())
    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
            f"<script>{plotly_js(figures.values())}</script></head>"
            f"<body>{blocks}<script>{_EXPORT % PNG_SIZE}</script></body></html>")
    with tempfile.TemporaryDirectory(prefix="shoal-png-") as scratch:
        source = Path(scratch) / "figures.html"
        source.write_text(page, encoding="utf-8")
        dom = _dump_dom(chromium, source, Path(scratch) / "profile", timeout_s)
    if 'id="shoal-done"' not in dom:
        raise RuntimeError(f"PNG export: Chromium ({chromium}) stopped before drawing every figure. "
                           f"Try again with fewer trials, or open the HTML report instead.")
    results = {html.unescape(key): (html.unescape(error or ""), data)
               for key, error, data in _RESULT.findall(dom)}
    written = []
    for key in figures:
        error, data = results.get(key, ("not drawn", ""))
        if error or not data.startswith("data:image/png;base64,"):
            raise RuntimeError(f"PNG export of figure {key!r} failed in Chromium: {error or 'no image'}.")
        path = out / f"{_SAFE.sub('-', key).strip('-') or 'figure'}.png"
        path.write_bytes(base64.b64decode(data.removeprefix("data:image/png;base64,")))
        written.append(path)
    return written


def _dump_dom(chromium: str, source: Path, profile: Path, timeout_s: float) -> str:
    argv = [chromium, "--headless", *BROWSER_ARGS, f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=600000", "--dump-dom",
            source.as_uri()]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except OSError:
        raise _no_chromium(chromium) from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"PNG export: Chromium ({chromium}) took more than {timeout_s:.0f} s. "
                           "Open the HTML report instead, or export fewer figures.") from None
    if done.returncode != 0:
        raise _no_chromium(chromium, f" (it exited with status {done.returncode})")
    return done.stdout


def _no_chromium(chromium: str | None, detail: str = "") -> Exception:
    hint = ("Install one (apt-get install chromium), or set SHOAL_CHROMIUM to the path of a Chromium "
            f"or Chrome{detail}.")
    return config_error("Chromium", "shoal report --png", "an installed Chromium or Chrome", chromium,
                        hint=hint)
