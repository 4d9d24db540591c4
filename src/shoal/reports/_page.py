"""The report's HTML: one file with Plotly.js inlined, figures as JSON blocks, and sortable tables.

Every user string (study name, parameter names and values, attributes) goes through `html.escape`;
figure JSON sits in `<script type="application/json">` blocks with `<`, `>` and `&` written as
`\\u003c`, `\\u003e` and `\\u0026`, so no string in it can close the block or open a tag.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shoal.trial import Direction, FrozenTrial

__all__ = ["Section", "definition_list", "embed_json", "format_time", "format_value", "key_values",
           "plot_block", "plotly_js", "render_page", "trials_table"]

_SCRIPT_END = re.compile(r"</(script)", re.IGNORECASE)

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:16px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c5cbd6}nav{padding:8px 28px;background:#fff;border-bottom:1px solid #dde1e8}
nav a{margin-right:14px;color:#2457c5;text-decoration:none}main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:16px 0;padding:12px 18px}
h2{font-size:17px;margin:4px 0 10px}table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 10px;border-bottom:1px solid #eceff3;text-align:left;white-space:nowrap}
th{background:#f1f3f6;position:sticky;top:0}table.sortable th{cursor:pointer}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
td.n{text-align:right;font-variant-numeric:tabular-nums}.note{color:#6b7385;margin:6px 0}
.scroll{max-height:520px;overflow:auto}.plot{width:100%;height:460px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}dt{color:#6b7385}dd{margin:0}
"""

# Draws every figure from its JSON block, then says so on <body> (tests and the PNG export wait for it).
_DRAW = """
(async function () {
  const blocks = document.querySelectorAll('script[type="application/json"][data-plot]');
  await Promise.all(Array.from(blocks, async function (block) {
    const target = document.getElementById(block.dataset.plot);
    try {
      const figure = JSON.parse(block.textContent);
      await Plotly.newPlot(target, figure.data || [], figure.layout || {},
                           {displaylogo: false, responsive: true});
    } catch (err) {
      target.textContent = "This figure could not be drawn: " + err;
      console.error(err);
    }
  }));
  document.body.dataset.ready = "1";
})();
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    const table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    const dir = th.dataset.dir === "asc" ? "desc" : "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir;
    const key = function (row) {
      const cell = row.cells[col];
      if (cell.dataset.v === undefined) return cell.textContent;
      return cell.dataset.v === "" ? null : Number(cell.dataset.v);
    };
    const rows = Array.from(body.rows, function (row) { return [key(row), row]; });
    rows.sort(function (a, b) {
      if (a[0] === null || b[0] === null) return (a[0] === null) - (b[0] === null);
      const c = typeof a[0] === "number" ? a[0] - b[0] : String(a[0]).localeCompare(String(b[0]));
      return dir === "asc" ? c : -c;
    });
    const fragment = document.createDocumentFragment();
    rows.forEach(function (pair) { fragment.appendChild(pair[1]); });
    body.appendChild(fragment);
  });
});
"""


def plotly_js(figures: Iterable[str] | None = None) -> str:
    """Plotly.js, safe to place inside a <script> element: shoal's vendored cartesian bundle (1.5 MB)
    when every one of `figures` (Plotly JSON texts) has only 2-D traces, else the installed plotly
    package's full plotly.min.js (4.8 MB); the full one when `figures` is None."""
    from shoal.visualization import needs_full_plotly, plotly_js_source

    try:
        lite = figures is not None and not needs_full_plotly(json.loads(text) for text in figures)
    except (ValueError, AttributeError):  # not a figure: the full bundle, and Chromium says what failed
        lite = False
    source = plotly_js_source(lite=lite).decode("utf-8")
    return _SCRIPT_END.sub(r"<\\/\1", source)


def embed_json(text: str) -> str:
    """JSON text made safe inside <script type="application/json">: the same value when parsed."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def format_value(value: Any) -> str:
    """A number with 6 significant digits; anything else as its text."""
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def format_time(moment: float | None) -> str:
    """A storage timestamp as 'YYYY-MM-DD HH:MM:SS UTC'; empty for None."""
    if moment is None:
        return ""
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(value: Any) -> str:
    """A <td>; numbers carry their value for sorting and align right."""
    if isinstance(value, bool) or value is None or not isinstance(value, (int, float)):
        return f"<td>{html.escape('' if value is None else str(value))}</td>"
    sort = repr(float(value)) if math.isfinite(value) else ""
    return f'<td class="n" data-v="{sort}">{html.escape(format_value(value))}</td>'


def _num_cell(value: float | int | None) -> str:
    if value is None:
        return '<td class="n" data-v=""></td>'
    return _cell(value)


def trials_table(trials: Sequence[FrozenTrial], directions: Sequence[Direction], *,
                 table_id: str, attrs: bool = False) -> str:
    """A sortable table of trials: number, state, value(s), duration, last step, each parameter
    (and, with `attrs`, the user attributes as key=value)."""
    names = list(dict.fromkeys(name for t in trials for name in t.params))
    k = len(directions)
    value_heads = ["value"] if k == 1 else [f"value {i} ({d.value})" for i, d in enumerate(directions)]
    heads = ["#", "state", *value_heads, "duration (s)", "last step", *names]
    if attrs:
        heads.append("user attrs")
    out = [f'<table class="sortable" id="{html.escape(table_id)}"><thead><tr>',
           "".join(f"<th>{html.escape(h)}</th>" for h in heads), "</tr></thead><tbody>"]
    for t in trials:
        values: Sequence[float | None] = list(t.values) if t.values is not None else [None] * k
        row = [_num_cell(t.number), _cell(t.state.value.lower()),
               *(_num_cell(v) for v in values), _num_cell(t.duration), _num_cell(t.last_step),
               *(_cell(t.params.get(n)) for n in names)]
        if attrs:
            row.append(_cell(", ".join(f"{key}={_short(v)}" for key, v in t.user_attrs.items())))
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


class Section:
    """One titled block of the page, with an anchor for the navigation bar."""

    def __init__(self, anchor: str, title: str, body: str) -> None:
        self.anchor, self.title, self.body = anchor, title, body


def definition_list(pairs: Iterable[tuple[str, str]]) -> str:
    """<dl> of (label, already-escaped HTML) pairs."""
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def key_values(mapping: Mapping[str, Any]) -> str:
    """`a=1, b='x'`, escaped."""
    return html.escape(", ".join(f"{k}={format_value(v)}" for k, v in mapping.items()))


def plot_block(anchor: str, figure_json: str) -> str:
    """A plot's <div> and the JSON block the inline script draws it from."""
    plot_id = html.escape(f"plot-{anchor}")
    return (f'<div class="plot" id="{plot_id}"></div>'
            f'<script type="application/json" data-plot="{plot_id}">{embed_json(figure_json)}</script>')


def render_page(*, title: str, subtitle: str, sections: Sequence[Section], figures: Sequence[str]) -> str:
    """The whole self-contained page, with the Plotly.js that `figures` (the Plotly JSON texts the
    sections embed) need."""
    nav = "".join(f'<a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{html.escape(s.anchor)}"><h2>{html.escape(s.title)}</h2>{s.body}</section>'
                   for s in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
            f"<script>{plotly_js(figures)}</script></head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{body}</main><script>{_DRAW}</script></body></html>\n")
