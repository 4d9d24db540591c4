"""Which Plotly.js draws a set of figures: the vendored cartesian bundle when it can, else the full one.

Compiling Plotly.js is the first thing a page with plots waits for: the full bundle (4.8 MB, the
only one the plotly package ships) takes about a third of a 10,000-trial study page's time in
headless Chromium. Every figure of `shoal.visualization` except a `Parcoords` trace (without
`svg=True`) and `Scattergl` (over 5,000 markers or 100,000 line points) uses only 2-D trace types,
which plotly.js's cartesian partial bundle (1.5 MB, vendored in `js/`) draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import metadata, resources
from typing import Any

from shoal.exceptions import ConfigError

__all__ = ["LITE_TRACES", "LITE_VERSION", "needs_full_plotly", "plotly_js_source", "plotly_js_version"]

#: The plotly.js version of the vendored cartesian bundle.
LITE_VERSION = "4.1.1"

#: The trace types that bundle holds (its README); the dashboard's common.js lists the same.
LITE_TRACES = frozenset({"bar", "box", "contour", "heatmap", "histogram", "histogram2d", "histogram2dcontour",
                         "image", "pie", "scatter", "scatterternary", "violin"})


def needs_full_plotly(figures: Iterable[Mapping[str, Any]]) -> bool:
    """Whether any of these figures (as `Figure.to_plotly_json()` or its JSON) has a trace type
    the cartesian bundle lacks (a trace without a type is a scatter)."""
    return any(str(trace.get("type") or "scatter") not in LITE_TRACES
               for figure in figures for trace in figure.get("data") or ())


def plotly_js_source(*, lite: bool) -> bytes:
    """Plotly.js itself: the vendored cartesian bundle (`lite`), or the installed plotly package's
    full plotly.min.js.

    Raises:
        ConfigError: plotly is not installed (the full bundle).
    """
    if lite:
        return (resources.files("shoal.visualization") / "js" / f"plotly-cartesian-{LITE_VERSION}.min.js"
                ).read_bytes()
    try:
        return (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise ConfigError("plotly of shoal's plots must be installed with its plotly.min.js. Got none. "
                          "Install it: pip install 'shoal[dashboard]'.") from None


def plotly_js_version(*, lite: bool) -> str:
    """A name for the bundle's content: 'cartesian-4.1.1', or the installed plotly package's version."""
    if lite:
        return f"cartesian-{LITE_VERSION}"
    try:
        return metadata.version("plotly")
    except metadata.PackageNotFoundError:
        return "missing"
