"""Study-wide plots: Pareto front, timeline, rungs, zoom rounds; the registry and which kinds apply."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest

import shoal
from shoal.exceptions import ConfigError
from shoal.schedulers import ASHA, Hyperband
from shoal.trial import TrialState, pareto_front
from shoal.visualization import (
    FIGURES,
    applicable_figures,
    plot_pareto_front,
    plot_rungs,
    plot_timeline,
    plot_zoom_rounds,
)
from shoal.visualization._rungs import rung_counts

KINDS = ["history", "intermediate", "parallel", "contour", "slice", "importance", "pareto", "timeline",
         "rungs", "zoom"]


def _note(fig: Any) -> str:
    assert len(fig.data) == 0
    (note,) = fig.layout.annotations
    return str(note.text)


# --- Pareto front -------------------------------------------------------------------------------

def test_pareto_front_dominated_and_infeasible(make_trial, make_study) -> None:
    two = ("minimize", "maximize")
    trials = [make_trial(0, values=[1.0, 1.0], signs=(1.0, -1.0)),   # front
              make_trial(1, values=[2.0, 3.0], signs=(1.0, -1.0)),   # front
              make_trial(2, values=[3.0, 2.0], signs=(1.0, -1.0)),   # dominated by 1
              make_trial(3, values=[0.5, 9.0], signs=(1.0, -1.0), system_attrs={"constraints": [1.0]}),
              make_trial(4, TrialState.RUNNING, signs=(1.0, -1.0))]
    fig = plot_pareto_front(make_study(trials, directions=two))
    assert [t.name for t in fig.data] == ["Pareto front", "dominated", "infeasible"]
    front, dominated, infeasible = fig.data
    assert list(front.customdata) == [0, 1]
    assert list(front.x) == [1.0, 2.0]
    assert list(front.y) == [1.0, 3.0]
    assert front.mode == "lines+markers"
    assert list(dominated.customdata) == [2]
    assert list(infeasible.customdata) == [3]
    assert fig.layout.xaxis.title.text == "objective 0 (minimize)"
    assert fig.layout.yaxis.title.text == "objective 1 (maximize)"
    assert [t.name for t in plot_pareto_front(make_study(trials[:3], directions=two)).data] \
        == ["Pareto front", "dominated"]


def test_pareto_front_of_three_objectives_matches_shoal_trial(make_trial, make_study) -> None:
    rng = np.random.default_rng(3)
    trials = [make_trial(i, values=rng.random(3).round(1).tolist(), signs=(1.0, 1.0, -1.0))
              for i in range(700)]
    study = make_study(trials, directions=("minimize", "minimize", "maximize"))
    fig = plot_pareto_front(study, objectives=(2, 0))
    assert sorted(fig.data[0].customdata) == [t.number for t in pareto_front(trials)]
    assert fig.data[0].mode == "markers"  # a projection of three objectives is not a line
    assert len(fig.data[0].customdata) + len(fig.data[1].customdata) == 700
    assert list(fig.data[0].x) == sorted(fig.data[0].x)


def test_pareto_front_refuses_one_objective_and_bad_pairs(make_trial, make_study) -> None:
    with pytest.raises(ConfigError, match=r"^directions of plot_pareto_front must be at least two "
                                          r"objectives\. Got 1\. Use plot_optimization_history"):
        plot_pareto_front(make_study([]))
    two = make_study([], directions=("minimize", "minimize"))
    with pytest.raises(ConfigError, match=r"^objectives of plot_pareto_front must be two different"):
        plot_pareto_front(two, objectives=(1, 1))
    with pytest.raises(ConfigError, match=r"must be an integer in \[0, 1\]\. Got 2\."):
        plot_pareto_front(two, objectives=(0, 2))
    assert _note(plot_pareto_front(two)) == "no completed trials yet"


# --- timeline -----------------------------------------------------------------------------------

def test_timeline_segments_per_state_and_paused_spans(make_trial, make_study) -> None:
    trials = [make_trial(0, start=100.0, end=130.0, values=[1.0]),
              make_trial(1, TrialState.RUNNING, start=110.0, heartbeat=150.0),
              make_trial(2, TrialState.PAUSED, start=120.0, end=140.0,
                         lineage=[{"event": "paused", "step": 3, "at": 140.0}]),
              make_trial(3, start=105.0, end=170.0, values=[2.0],
                         lineage=[{"event": "paused", "step": 1, "at": 115.0},
                                  {"event": "resumed", "step": 1, "at": 125.0}]),
              make_trial(4, TrialState.WAITING)]
    fig = plot_timeline(make_study(trials))
    assert [t.name for t in fig.data] == ["COMPLETE", "RUNNING", "PAUSED", "paused"]
    complete, running, paused_state, paused = fig.data
    assert list(complete.y[::3]) == [0, 3]
    assert list(complete.x[:2]) == [100_000.0, 130_000.0]
    assert math.isnan(complete.x[2])
    assert list(complete.customdata[::3]) == [30.0, 65.0]
    assert list(running.x[:2]) == [110_000.0, 150_000.0]  # to its last heartbeat
    assert list(paused_state.x[:2]) == [120_000.0, 140_000.0]
    # Trial 3's pause, then trial 2's still open: until the latest time the records hold (170).
    assert list(paused.y[::3]) == [2, 3]
    assert list(paused.x) == pytest.approx([140_000, 170_000, np.nan, 115_000, 125_000, np.nan],
                                           nan_ok=True)
    assert fig.layout.xaxis.type == "date"
    now = plot_timeline(make_study(trials), now=200.0)
    assert list(now.data[1].x[:2]) == [110_000.0, 200_000.0]  # a running trial ends at the given clock
    with pytest.raises(ConfigError, match=r"^now of plot_timeline must be a finite number\. Got nan\."):
        plot_timeline(make_study(trials), now=float("nan"))
    assert _note(plot_timeline(make_study([trials[4]]))) == "no trial started yet"


# --- rungs --------------------------------------------------------------------------------------

def _reports(last: int) -> dict[int, float]:
    return {s: 1.0 / (s + 1) for s in range(1, last + 1)}


def test_rungs_count_who_reached_each_and_what_became_of_them(make_trial, make_study) -> None:
    resumed_at_1 = [{"event": "paused", "step": 1, "at": 1.0}, {"event": "resumed", "step": 1, "at": 2.0}]
    trials = [make_trial(0, intermediate=_reports(9), values=[0.1],
                         lineage=[*resumed_at_1, {"event": "paused", "step": 3, "at": 3.0},
                                  {"event": "resumed", "step": 3, "at": 4.0}]),
              make_trial(1, TrialState.PAUSED, intermediate=_reports(3),
                         lineage=[*resumed_at_1, {"event": "paused", "step": 3, "at": 5.0}]),
              make_trial(2, TrialState.PAUSED, intermediate=_reports(1),
                         lineage=[{"event": "paused", "step": 1, "at": 1.0}]),
              make_trial(3, TrialState.PRUNED, intermediate=_reports(1)),
              make_trial(4, TrialState.RUNNING, intermediate={1: 0.5, 2: 0.4}),
              make_trial(5, TrialState.FAILED, intermediate={1: 0.5})]
    fig = plot_rungs(make_study(trials))
    assert [t.name for t in fig.data] == ["promoted", "paused", "stopped", "ended or running there"]
    assert list(fig.data[0].x) == ["step 1", "step 3"]
    counts = {t.name: list(t.y) for t in fig.data}
    # Rung 1: six reached it; 0, 1 (resumed there) and 4 (reported later) went on.
    assert counts == {"promoted": [3, 1], "paused": [1, 1], "stopped": [1, 0],
                      "ended or running there": [1, 0]}
    assert fig.layout.barmode == "stack"


def _brute_force_counts(trials: list[Any], levels: list[int]) -> list[dict[str, int]]:
    """The rule of plot_rungs, rung by rung, as the schedulers state it."""
    out = []
    for level in levels:
        count = {"promoted": 0, "paused": 0, "stopped": 0, "ended or running there": 0}
        for t in trials:
            later = [s for s in t.intermediate if s >= level]
            if not later:
                continue
            step = min(later)
            resumed = any(e["event"] == "resumed" and e["step"] >= step for e in t.lineage)
            if max(t.intermediate) > step or resumed:
                count["promoted"] += 1
            elif t.state is TrialState.PAUSED:
                count["paused"] += 1
            elif t.state is TrialState.PRUNED:
                count["stopped"] += 1
            else:
                count["ended or running there"] += 1
        out.append(count)
    return out


def test_rung_counts_match_a_brute_force_count_over_random_records(make_trial) -> None:
    rng = np.random.default_rng(7)
    states = list(TrialState)
    trials = []
    for i in range(300):
        steps = sorted({int(s) for s in rng.integers(0, 30, size=rng.integers(0, 8))})
        resumed = {"event": "resumed", "step": int(rng.integers(0, 30)), "at": 1.0}
        lineage = [resumed] if rng.random() < 0.2 else []
        rng.shuffle(steps)  # reports in any order
        trials.append(make_trial(i, states[int(rng.integers(0, len(states)))],
                                 intermediate={s: 1.0 for s in steps},
                                 lineage=lineage))
    levels = [1, 3, 9, 10, 27]
    assert rung_counts(trials, levels) == _brute_force_counts(trials, levels)


def test_rungs_recorded_by_the_study_and_brackets(make_trial, make_study) -> None:
    trials = [make_trial(0, intermediate=_reports(4), values=[0.2], system_attrs={"bracket": 1}),
              make_trial(1, TrialState.PRUNED, intermediate=_reports(2), system_attrs={"bracket": 1}),
              make_trial(2, TrialState.PRUNED, intermediate=_reports(3), system_attrs={"bracket": 0})]
    fig = plot_rungs(make_study(trials, system_attrs={"rung_steps": [2, 4]}))
    assert [list(level) for level in fig.data[0].x] == [["bracket 0", "bracket 0", "bracket 1", "bracket 1"],
                                                        ["step 2", "step 4", "step 2", "step 4"]]
    assert list(fig.data[0].y) == [1, 0, 1, 0]  # promoted: trial 2 past 2; trial 0 past 2
    assert list(fig.data[2].y) == [0, 0, 1, 0]  # stopped: trial 1 at 2 (trial 2 stopped at 3, not a rung)
    assert list(fig.data[3].y) == [0, 0, 0, 1]  # trial 2 never reported at 4 or later; trial 0 ended at 4
    assert _note(plot_rungs(make_study([make_trial(0, intermediate={1: 1.0}, values=[1.0])]))) \
        == "no trial was paused or stopped at a step yet"


def _nine_steps(trial: shoal.Trial) -> float:
    """Reports x + 1/step for steps 1-9 and stops when the scheduler says so."""
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(1, 10):
        trial.report(x + 1.0 / step, step)
        if trial.should_prune():
            raise shoal.TrialPruned()
    return x


def test_rungs_of_a_real_asha_study() -> None:
    study = shoal.create_study(scheduler=ASHA(max_resource=9, reduction_factor=3),
                               sampler=shoal.samplers.RandomSampler(seed=1))

    study.optimize(_nine_steps, n_trials=12)
    fig = plot_rungs(study)
    stopped = {x: y for x, y in zip(fig.data[0].x, fig.data[2].y, strict=True)}
    reached = {x: sum(t.y[i] for t in fig.data) for i, x in enumerate(fig.data[0].x)}
    pruned = [t for t in study.trials if t.state is TrialState.PRUNED]
    assert pruned
    assert set(fig.data[0].x) == {f"step {t.last_step}" for t in pruned}
    assert sum(stopped.values()) == len(pruned)
    assert reached.get("step 1") == 12


def test_a_hyperband_study_records_each_trials_bracket_and_the_rungs_plot_groups_by_it() -> None:
    hyperband = Hyperband(max_resource=9, reduction_factor=3)
    study = shoal.create_study(scheduler=hyperband, sampler=shoal.samplers.RandomSampler(seed=1))

    study.optimize(_nine_steps, n_trials=20)
    assert [t.system_attrs["bracket"] for t in study.trials] \
        == [hyperband.bracket_of(t.number) for t in study.trials]
    fig = plot_rungs(study)
    groups = {group for group, _ in zip(*fig.data[0].x, strict=True)}
    assert groups == {f"bracket {b}" for b in {hyperband.bracket_of(t.number) for t in study.trials
                                              if t.state is TrialState.PRUNED}}


# --- zoom rounds --------------------------------------------------------------------------------

def test_zoom_rounds_best_per_round_and_regions(make_trial, make_study) -> None:
    rows = [(0, 5.0, {"lr": [1e-4, 1.0], "x": [0.0, 10.0]}), (0, 3.0, {"lr": [1e-4, 1.0], "x": [0.0, 10.0]}),
            (1, 4.0, {"lr": [1e-3, 0.1], "x": [2.0, 9.0]}), (1, 2.0, {"lr": [2e-3, 0.2], "x": [1.0, 8.0]}),
            (2, 2.5, {"lr": [0.01, 0.02], "x": [3.0, 7.0]})]
    trials = [make_trial(i, params={"lr": 0.01, "x": 5.0}, values=[v],
                         system_attrs={"zoom_round": r, "zoom_box": box})
              for i, (r, v, box) in enumerate(rows)]
    fig = plot_zoom_rounds(make_study(trials))
    assert [t.name for t in fig.data] == ["trials", "best in round", "best so far", "lr", "x"]
    assert list(fig.data[1].y) == [3.0, 2.0, 2.5]
    assert list(fig.data[2].y) == [3.0, 2.0, 2.0]
    lr = fig.data[3]
    assert list(lr.x) == [0, 1, 2]
    assert list(lr.base) == [1e-4, 1e-3, 0.01]
    assert list(lr.customdata) == [1.0, 0.2, 0.02]  # the envelope of the round's boxes
    assert fig.layout.yaxis2.type == "log"
    assert fig.layout.yaxis3.type != "log"
    assert [t.name for t in plot_zoom_rounds(make_study(trials), params=["x"]).data][3:] == ["x"]
    with pytest.raises(ConfigError, match=r"^params of plot_zoom_rounds must be a list of names among "
                                          r"\['lr', 'x'\]\. Got \['y'\]\."):
        plot_zoom_rounds(make_study(trials), params=["y"])
    assert _note(plot_zoom_rounds(make_study([]))) \
        == "no trial records a zoom round (CoarseToFineSampler) yet"


def test_zoom_rounds_of_a_real_coarse_to_fine_study() -> None:
    sampler = shoal.samplers.CoarseToFineSampler(seed=0, n_initial=6, trials_per_round=6, rounds=2)
    study = shoal.create_study(sampler=sampler)
    study.optimize(lambda t: (t.suggest_float("x", -5.0, 5.0) - 1.0) ** 2, n_trials=18)
    fig = plot_zoom_rounds(study)
    assert list(fig.data[1].x) == [0, 1, 2]
    widths = list(fig.data[3].y)
    assert fig.data[3].name == "x"
    assert widths[0] == pytest.approx(10.0)
    assert widths[2] < widths[1] < widths[0]


# --- the registry -------------------------------------------------------------------------------

def test_the_registry_holds_exactly_the_documented_kinds() -> None:
    assert list(FIGURES) == KINDS
    for kind, function in FIGURES.items():
        keywords = inspect.signature(function).parameters
        assert {"objective", "params"} <= set(keywords), kind
        assert all(p.kind is p.KEYWORD_ONLY for name, p in keywords.items() if name != "study"), kind


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_draws_a_brand_new_study_as_an_annotated_empty_figure(kind, make_study) -> None:
    study = make_study([], directions=("minimize", "maximize"))
    fig = FIGURES[kind](study, objective=0, params=None)
    assert isinstance(fig, go.Figure)
    assert _note(fig)


def test_applicable_figures(make_trial, make_study) -> None:
    assert applicable_figures(make_study([])) == ["history"]
    started = [make_trial(i, params={"x": float(i), "lr": 0.1 * (i + 1)}, values=[float(i)], start=1.0,
                          end=2.0, intermediate={1: float(i)}) for i in range(8)]
    assert applicable_figures(make_study(started[:2])) == ["history", "intermediate", "parallel", "slice",
                                                           "timeline"]
    assert applicable_figures(make_study(started)) == ["history", "intermediate", "parallel", "contour",
                                                       "slice", "importance", "timeline"]
    multi = make_study([make_trial(0, values=[1.0, 2.0], signs=(1.0, 1.0), start=1.0, end=2.0)],
                       directions=("minimize", "minimize"))
    assert applicable_figures(multi) == ["history", "pareto", "timeline"]
    mf = [*started, make_trial(8, TrialState.PAUSED, intermediate={1: 0.5}, params={"x": 1.0},
                               system_attrs={"zoom_round": 0, "zoom_box": {"x": [0, 1]}})]
    assert applicable_figures(make_study(mf))[-2:] == ["rungs", "zoom"]


def test_a_study_read_through_storage_plots_alike(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plots.db'}"
    study = shoal.create_study(study_name="stored", storage=url, sampler=shoal.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=5)
    from shoal.storage import open_reader
    from shoal.visualization import StudySnapshot

    reader = open_reader(url)
    try:
        record = reader.get_study("stored")
        page = reader.get_trials(record.study_id)
        snap = StudySnapshot(record.name, tuple(record.directions), list(page.trials))
    finally:
        reader.close()
    assert applicable_figures(snap) == ["history", "parallel", "slice", "timeline"]  # 5 trials, 1 parameter
    for kind in applicable_figures(snap):
        assert FIGURES[kind](snap).to_plotly_json() == FIGURES[kind](study).to_plotly_json(), kind


def test_hostile_names_and_values_are_shown_as_text_never_markup(make_trial, make_study) -> None:
    from shoal.space import Categorical, Float
    from shoal.visualization import plot_trial_curves

    bad = '<img src=x onerror=alert(1)> %{x}'
    dists = {bad: Float(1e-3, 1.0, scale="log"), "opt": Categorical(["<script>alert(2)</script>", "sgd"]),
             "x": Float(0.0, 1.0)}
    trials = [make_trial(i, params={bad: 10.0 ** -(i % 3), "opt": dists["opt"].choices[i % 2], "x": i / 10},
                         values=[float(i % 4)], intermediate={0: 1.0, 1: 0.5}, start=1.0, end=2.0,
                         distributions=dists,
                         system_attrs={"curves": {bad: {"0": 1.0}}, "zoom_round": i // 5,
                                       "zoom_box": {bad: [1e-3, 1.0]}})
              for i in range(10)]
    study = make_study(trials, system_attrs={"objective_names": ["<b onmouseover=alert(3)>loss"]})
    figures = [FIGURES[kind](study) for kind in applicable_figures(study)]
    figures += [plot_trial_curves(study, 0), FIGURES["intermediate"](study, curve=bad)]
    assert len(figures) == 10
    for fig in figures:
        raw = json.dumps(fig.to_plotly_json(), default=str)
        assert "<img" not in raw
        assert "<script" not in raw
        assert "<b on" not in raw
        assert "> %{x}" not in raw  # the name's "%{x}" never becomes a hover template field
    parallel = FIGURES["parallel"](study).data[0]
    assert parallel.dimensions[0].label == "&lt;img src=x onerror=alert(1)&gt; &#37;{x} (log)"
    assert list(parallel.dimensions[1].ticktext) == ["&lt;script&gt;alert(2)&lt;/script&gt;", "sgd"]
