"""The local web dashboard: `shoal dashboard` (issue 18).

A Starlette app over the read-only storage view: a studies list, a page per study with every
applicable plot and a trials table, a page per trial; pages update while trials run, reading only
what changed. Needs the `dashboard` extra: `pip install 'shoal[dashboard]'`.
"""

from __future__ import annotations

from shoal.dashboard._app import create_app
from shoal.dashboard._serve import serve

__all__ = ["create_app", "serve"]
