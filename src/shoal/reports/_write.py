"""`write_report`: one study, read through the read-only storage view, as one self-contained HTML file."""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path

from shoal._validate import integer
from shoal.clock import Clock, SystemClock
from shoal.reports._figures import Drawn, best_curves, draw_figures, ranked
from shoal.reports._page import (
    Section,
    definition_list,
    format_time,
    format_value,
    key_values,
    plot_block,
    render_page,
    trials_table,
)
from shoal.storage import StorageReader
from shoal.trial import FrozenTrial, describe_counts, pareto_front
from shoal.visualization import StudySnapshot, study_summary

__all__ = ["write_report"]


def write_report(reader: StorageReader, name: str, path: str | os.PathLike[str], *,
                 png_dir: str | os.PathLike[str] | None = None, top: int = 20,
                 progress: Callable[[str], None] | None = None, clock: Clock | None = None) -> Path:
    """Write study `name` as one HTML file that opens anywhere, with no network.

    The file holds Plotly.js (from the installed plotly package), a summary (directions, trials by
    state, the best trial and its parameters), every figure `shoal.visualization` finds applicable,
    the `top` best trials, every trial in a sortable table and the best trial's curves. A figure
    too large for a file (learning curves of 10,000 trials) is drawn from 1,000 trials, and says so.

    Args:
        reader: A read-only storage view (`shoal.storage.open_reader(url)`); it is not closed.
        name: The study.
        path: The HTML file to write (its folder must exist); replaced if present.
        png_dir: Also write each figure as `{kind}.png` into this folder (created if missing),
            drawn by headless Chromium (`shoal.reports.write_pngs`).
        top: How many of the best trials the first table shows.
        progress: Called with a short line before each stage (the CLI prints them).
        clock: Where "written at" comes from (default: the system clock).

    Returns:
        The path of the HTML file.

    Raises:
        StudyNotFound: No study of that name (the message lists the known ones).
        ConfigError: `top` is not an integer >= 1; or `png_dir` and no Chromium was found.
        RuntimeError: `png_dir` and Chromium could not draw a figure.

    >>> import tempfile
    >>> from shoal.storage import open_reader, open_storage
    >>> from shoal.trial import Direction
    >>> folder = tempfile.mkdtemp()
    >>> storage = open_storage(f"sqlite:///{folder}/shoal.db")
    >>> _ = storage.create_study("demo", [Direction.MINIMIZE]); storage.close()
    >>> reader = open_reader(f"sqlite:///{folder}/shoal.db")
    >>> write_report(reader, "demo", f"{folder}/demo.html").name
    'demo.html'
    >>> reader.close()
    """
    top = integer(top, what="top", owner="write_report", low=1)
    say = progress or (lambda line: None)
    record = reader.get_study(name)
    say(f"reading study {name!r}")
    trials = sorted(reader.get_trials(record.study_id).trials, key=lambda t: t.number)
    study = StudySnapshot(record.name, record.directions, trials, record.user_attrs, record.system_attrs)
    say(f"drawing the figures of {len(trials):,} trials")
    figures, skipped = draw_figures(study)
    best = ranked(trials)
    curves = best_curves(study, best[0].number) if best else None
    say("writing the page")
    written = (clock or SystemClock()).now()
    page = render_page(
        title=f"Study {record.name}",
        subtitle=f"{describe_counts(trials)} · written {format_time(written)} by shoal {_version()}",
        sections=_sections(study, figures, skipped, best, top, curves),
        figures=[f.json for f in [*figures, *([curves] if curves else [])]])
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    if png_dir is not None:
        from shoal.reports._png import write_pngs

        say(f"writing PNGs into {png_dir}")
        write_pngs({f.key: f.json for f in [*figures, *([curves] if curves else [])]}, png_dir)
    return out


def _sections(study: StudySnapshot, figures: list[Drawn], skipped: list[str], best: list[FrozenTrial],
              top_k: int, curves: Drawn | None) -> list[Section]:
    top = best[:top_k]
    sections = [Section("summary", "Summary", _summary(study, best, skipped))]
    for figure in figures:
        note = f'<p class="note">{html.escape(figure.note)}</p>' if figure.note else ""
        sections.append(Section(figure.key, figure.title, note + plot_block(figure.key, figure.json)))
    if top:
        table = trials_table(top, study.directions, table_id="top-trials", attrs=True)
        sections.append(Section("top", f"Top {len(top)} trials", f'<div class="scroll">{table}</div>'))
    if curves is not None:
        sections.append(Section(curves.key, curves.title, plot_block(curves.key, curves.json)))
    sections.append(Section("trials", f"All {len(study.trials):,} trials",
                            '<p class="note">Click a column to sort.</p><div class="scroll">'
                            + trials_table(study.trials, study.directions, table_id="all-trials") + "</div>"))
    return sections


def _summary(study: StudySnapshot, done: list[FrozenTrial], skipped: list[str]) -> str:
    summary = study_summary(study)
    pairs = [("directions", html.escape(", ".join(summary["directions"]))),
             ("trials", html.escape(f"{summary['n_trials']:,}: {describe_counts(study.trials)}")),
             ("last activity", html.escape(format_time(summary["last_activity"])))]
    if len(study.directions) == 1 and done:
        winner = done[0]
        pairs.append(("best trial", html.escape(
            f"#{winner.number}: {', '.join(format_value(v) for v in winner.values or ())}")))
        pairs.append(("its parameters", key_values(winner.params)))
    elif done:
        front = pareto_front(study.trials)
        pairs.append(("Pareto front", html.escape(f"{len(front)} trials: "
                                                  + ", ".join(f"#{t.number}" for t in front[:20])
                                                  + (" ..." if len(front) > 20 else ""))))
    if study.user_attrs:
        pairs.append(("study attributes", key_values(study.user_attrs)))
    notes = "".join(f'<p class="note">Not drawn: {html.escape(line)}</p>' for line in skipped)
    return definition_list(pairs) + notes


def _version() -> str:
    """shoal's installed version (`shoal.__version__` would import the study layer)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("shoal")
    except PackageNotFoundError:
        return "(not installed)"
