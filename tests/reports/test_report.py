"""write_report: one self-contained file, every figure's JSON in it, user strings escaped, right tables."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from report_study import HOSTILE, HOSTILE_PARAM, STUDY, TRIALS, parse, write_study

from shoal import visualization
from shoal.clock import FakeClock
from shoal.exceptions import ConfigError, StudyNotFound
from shoal.reports import _figures, write_report
from shoal.reports._figures import ranked, thin
from shoal.reports._page import embed_json
from shoal.storage import InMemoryStorage, open_reader
from shoal.trial import Direction, FrozenTrial, TrialState
from shoal.visualization import StudySnapshot

plotly_io = pytest.importorskip("plotly.io")


def _snapshot(url: str, name: str = STUDY) -> StudySnapshot:
    reader = open_reader(url)
    record = reader.get_study(name)
    trials = sorted(reader.get_trials(record.study_id).trials, key=lambda t: t.number)
    reader.close()
    return StudySnapshot(record.name, record.directions, trials, record.user_attrs, record.system_attrs)


def _write(url: str, path: Path, name: str = STUDY, **options: object) -> str:
    reader = open_reader(url)
    try:
        written = write_report(reader, name, path, clock=FakeClock(start=1.7e9), **options)  # type: ignore[arg-type]
    finally:
        reader.close()
    assert written == path
    return path.read_text(encoding="utf-8")


def _array(values: object) -> list[float]:
    """A trace's array from figure JSON: a list, or plotly's typed array {"dtype", "bdata"}."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return [float(v) for v in np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])]
    assert isinstance(values, list)
    return [float(v) for v in values]


def _kinds(study: StudySnapshot) -> list[str]:
    applicable = getattr(visualization, "applicable_figures", None)
    return list(applicable(study)) if applicable is not None else list(visualization.FIGURES)


def test_every_applicable_figure_is_embedded_as_the_json_of_its_plot(study_url: str, tmp_path: Path) -> None:
    page = parse(_write(study_url, tmp_path / "r.html"))
    study = _snapshot(study_url)
    kinds = _kinds(study)
    assert "history" in kinds
    for kind in kinds:
        options = {"svg": True} if kind == "parallel" else {}  # SVG lines: no WebGL, the cartesian bundle
        figure = visualization.FIGURES[kind](study, **options)
        expected = json.loads(plotly_io.to_json(figure, validate=False))
        assert json.loads(page.blocks[f"plot-{kind}"]) == expected, kind
    # Every block has its div, and the best trial's curves are there too (trial 5: value 0.10).
    divs = {attrs["id"] for tag, attrs in page.tags if tag == "div" and "plot" in (attrs.get("class") or "")}
    assert divs == set(page.blocks)
    assert "plot-best-trial" in page.blocks
    assert json.loads(page.blocks["plot-best-trial"])["data"]


def test_the_file_needs_no_network(study_url: str, tmp_path: Path) -> None:
    text = _write(study_url, tmp_path / "r.html")
    page = parse(text)
    for tag, attrs in page.tags:
        for attribute in ("src", "href", "data", "action", "srcset"):
            target = (attrs.get(attribute) or "").strip().lower()
            assert not target.startswith(("http:", "https:", "//")), (tag, attrs)
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", text, re.I)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert all("src" not in attrs for attrs in scripts)
    lite = visualization.plotly_js_source(lite=True).decode()
    assert lite[:2000] in text  # Plotly.js itself is inlined: the cartesian bundle, all these plots need
    assert visualization.plotly_js_source(lite=False).decode()[:2000] not in text


def test_a_figure_the_cartesian_bundle_cannot_draw_gets_the_full_plotly(
        study_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(visualization.FIGURES, "parallel",
                        lambda study, **options: visualization.plot_parallel_coordinate(study))  # parcoords
    text = _write(study_url, tmp_path / "r.html")
    assert '"type":"parcoords"' in text.replace(" ", "")
    assert visualization.plotly_js_source(lite=False).decode()[:2000] in text


def test_hostile_strings_are_escaped_in_markup_and_json(study_url: str, tmp_path: Path) -> None:
    text = _write(study_url, tmp_path / "r.html")
    assert "<img src=x onerror=" not in text
    assert "</script><img" not in text
    page = parse(text)
    assert not [tag for tag, _ in page.tags if tag == "img"]
    shown = "".join(page.texts)
    # The title, the parameter's column, a parameter value and the attributes show as text.
    assert f"Study {STUDY}" in shown
    assert HOSTILE_PARAM in shown
    assert f"note={HOSTILE}" in shown
    assert f"owner={HOSTILE}" in shown
    for block in page.blocks.values():
        assert "</" not in block
        json.loads(block)


def test_embed_json_keeps_the_value_and_cannot_close_the_block() -> None:
    value = {"a</script><!--": ["</SCRIPT>", "<img src=x onerror=1>", "&amp; \u2028"]}
    embedded = embed_json(json.dumps(value))
    assert not {"<", ">", "&"} & set(embedded)
    assert json.loads(embedded) == value


def test_summary_and_top_table_follow_the_hand_ranked_trials(study_url: str, tmp_path: Path) -> None:
    text = _write(study_url, tmp_path / "r.html", top=3)
    shown = " ".join(parse(text).texts)
    # Completed values: #0 0.50, #1 0.20, #3 0.35, #5 0.10 (minimised): best #5, then #1, #3.
    assert "#5: 0.1" in shown
    assert "4 complete, 1 running, 1 pruned, 1 failed" in shown or all(
        f"{n} {s}" in shown for n, s in ((4, "complete"), (1, "pruned"), (1, "failed"), (1, "running")))
    top = text[text.index('id="top-trials"'):]
    top = top[: top.index("</table>")]
    numbers = [int(n) for n in re.findall(r'<tr><td class="n" data-v="([0-9.]+)"', top) for n in [float(n)]]
    assert numbers == [5, 1, 3]
    full = text[text.index('id="all-trials"'):]
    full = full[: full.index("</table>")]
    assert full.count("<tr>") == 1 + len(TRIALS)  # the header row and one row per trial


def test_ranked_orders_feasible_first_then_by_score() -> None:
    def trial(number: int, value: float, violation: float = 0.0) -> FrozenTrial:
        return FrozenTrial(number, number, TrialState.COMPLETE, values=(value,), signs=(-1.0,),
                           system_attrs={"constraints": [violation]})

    trials = [trial(0, 0.5), trial(1, 0.9, violation=2.0), trial(2, 0.7), trial(3, 0.7),
              trial(4, 0.95, violation=1.0), FrozenTrial(5, 5, TrialState.PRUNED, signs=(-1.0,))]
    # Maximised: feasible by value 0.7 (#2, then #3 by number), 0.5; then violations 1.0, 2.0.
    assert [t.number for t in ranked(trials)] == [2, 3, 0, 4, 1]


def test_thin_keeps_the_best_tenth_and_an_even_spread() -> None:
    trials = [FrozenTrial(i, i, TrialState.COMPLETE, values=(float((7 * i) % 30),)) for i in range(30)]
    study = StudySnapshot("s", (Direction.MINIMIZE,), trials)
    kept = thin(study, keep=10)
    # Best: value 0 is trial 0 (7i mod 30 == 0 only for i = 0). The 29 others, 9 slots: every 29/9-th.
    others = list(range(1, 30))
    expected = sorted({0} | {others[int(i * 29 / 9)] for i in range(9)})
    assert [t.number for t in kept.trials] == expected
    assert len(kept.trials) == 10
    assert thin(study, keep=30) is study


def test_a_figure_too_large_is_drawn_from_fewer_trials_and_says_so(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/many.db"
    write_study(url, "many", trials=[(TrialState.COMPLETE, 1.0 + i, [2.0 + i, 1.0 + i], "relu")
                                     for i in range(40)])
    monkeypatch.setattr(_figures, "MAX_FIGURE_BYTES", 100)
    monkeypatch.setattr(_figures, "CURVE_TRIALS", 20)
    page = parse(_write(url, tmp_path / "r.html", name="many"))
    history = json.loads(page.blocks["plot-history"])
    assert len(_array(history["data"][0]["x"])) == 20
    assert "Drawn from 20 of 40 trials (the 2 best and an even spread of the others)" in " ".join(page.texts)


def test_several_objectives_get_one_figure_per_objective_where_a_plot_needs_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/mo.db"
    write_study(url, "mo", directions=(Direction.MINIMIZE, Direction.MAXIMIZE),
                trials=[(TrialState.COMPLETE, (0.1 * i, 1.0 - 0.05 * i * i), [0.5], "relu")
                        for i in range(6)])
    page = parse(_write(url, tmp_path / "r.html", name="mo"))
    study = _snapshot(url, "mo")
    for index in (0, 1):
        figure = visualization.plot_optimization_history(study, objective=index)
        expected = json.loads(plotly_io.to_json(figure, validate=False))
        assert json.loads(page.blocks[f"plot-history-{index}"]) == expected
    assert "Pareto front" in " ".join(page.texts)


def test_fallback_curves_without_plot_trial_curves(study_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(visualization, "plot_trial_curves", raising=False)
    page = parse(_write(study_url, tmp_path / "r.html"))
    figure = json.loads(page.blocks["plot-best-trial"])
    names = {trace["name"] for trace in figure["data"]}
    assert names == {"reported value", "train_loss"}
    by_name = {trace["name"]: _array(trace["y"]) for trace in figure["data"]}
    assert by_name["reported value"] == [0.6, 0.3, 0.1]  # trial 5's curve
    assert by_name["train_loss"] == pytest.approx([0.7, 0.4, 0.2])


def test_unknown_study_and_bad_top_are_one_line_errors(study_url: str, tmp_path: Path) -> None:
    reader = open_reader(study_url)
    with pytest.raises(StudyNotFound, match="no study named 'nope'"):
        write_report(reader, "nope", tmp_path / "r.html")
    with pytest.raises(ConfigError, match=r"top of write_report must be"):
        write_report(reader, STUDY, tmp_path / "r.html", top=0)
    reader.close()
    assert not (tmp_path / "r.html").exists()


def test_empty_study_writes_a_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/e.db"
    write_study(url, "empty", trials=[])
    page = parse(_write(url, tmp_path / "r.html", name="empty"))
    assert "no trials" in " ".join(page.texts)
    assert "plot-best-trial" not in page.blocks


@pytest.mark.slow
def test_ten_thousand_trials_of_fifty_steps_in_under_ten_seconds(tmp_path: Path) -> None:
    storage = InMemoryStorage(clock=FakeClock(start=1.7e9))
    study = storage.create_study("big", [Direction.MINIMIZE])
    for i in range(10_000):
        trial = storage.create_trial(study.study_id, params={"lr": 1e-3 * (1 + i % 97), "units": i % 512,
                                                             "act": ("relu", "tanh")[i % 2]})
        curve = {s: 1.0 / (s + 1) + (i % 13) / 100 for s in range(50)}
        storage.update_trial(trial.trial_id, intermediate=curve)
        storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE, values=[(i * 7919 % 10_007) / 10_007])
    start = time.perf_counter()
    path = write_report(storage, "big", tmp_path / "big.html")
    took = time.perf_counter() - start
    size = path.stat().st_size
    assert took < 10.0, took
    assert size < 60_000_000, size
    assert parse(path.read_text(encoding="utf-8")).blocks


def test_section_titles_are_the_first_line_of_the_figure_title_as_text() -> None:
    from shoal.reports._figures import _plain

    assert _plain("Contour of objective 0 (minimize)<br><sup>binned mean of 12 trials</sup>") == \
        "Contour of objective 0 (minimize)"
    assert _plain("<b>Slice</b> of lr<BR/>second line") == "Slice of lr"
    assert _plain("") == ""
