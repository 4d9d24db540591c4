"""Offline reports: a study as one self-contained HTML file, and its figures as PNGs (issue 18).

`write_report(reader, name, path)` reads the study through the read-only storage view and writes a
page that opens with no network (Plotly.js is inlined); `shoal report NAME -o report.html` is the
same from the command line. Needs the `dashboard` extra (plotly); PNGs also need a Chromium (or
Chrome) binary, and no other package.
"""

from __future__ import annotations

from shoal.reports._png import find_chromium, write_pngs
from shoal.reports._write import write_report

__all__ = ["find_chromium", "write_pngs", "write_report"]
