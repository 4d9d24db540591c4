"""Thinning (`max_trials`): the subset each plot draws, hand-checked, and the aggregates kept over all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from shoal.exceptions import ConfigError
from shoal.trial import FrozenTrial, TrialState
from shoal.visualization import (
    StudySnapshot,
    plot_contour,
    plot_intermediate_values,
    plot_optimization_history,
    plot_parallel_coordinate,
    plot_pareto_front,
    plot_slice,
    plot_timeline,
)
from shoal.visualization._intermediate import step_quantiles
from shoal.visualization._thin import THINNED, objective_key, thin

MakeTrial = Callable[..., FrozenTrial]
MakeStudy = Callable[..., StudySnapshot]

C, R, P, X = TrialState.COMPLETE, TrialState.RUNNING, TrialState.PAUSED, TrialState.PRUNED


def _notes(fig: Any) -> list[str]:
    return [str(a.text) for a in fig.layout.annotations if a.name == THINNED]


def _many(make_trial: MakeTrial, n: int, *, seed: int = 0) -> list[FrozenTrial]:
    """n completed trials with two parameters, a curve of 5 steps, and start/end times."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        lr, x = float(10 ** rng.uniform(-4, 0)), float(rng.uniform(0, 10))
        value = (x - 3) ** 2 + float(rng.normal())
        out.append(make_trial(i, values=[value], params={"lr": lr, "x": x},
                              intermediate={s: value + 5 - s + float(rng.normal()) for s in range(5)},
                              start=1000.0 + i, end=1000.5 + i))
    return out


def test_the_rule_on_a_hand_checked_case(make_trial: MakeTrial, make_study: MakeStudy) -> None:
    # minimise: values by number; 2, 5 and 9 are best (1.0, 2.0, 3.0); 10, 11 run, 12 is paused
    states = [C, C, C, X, C, C, C, C, C, C, R, R, P, C, C, C]
    values = [9.0, 8.0, 1.0, None, 7.0, 2.0, 6.0, 5.5, 5.0, 3.0, None, None, None, 4.5, 4.0, 3.5]
    trials = [make_trial(i, s, values=None if v is None else [v]) for i, (s, v) in enumerate(
        zip(states, values, strict=True))]
    snap = make_study(trials)
    picked = thin(trials, 8, key=objective_key(snap, 0), owner="test")
    # best 4: 2 (1.0), 5 (2.0), 9 (3.0), 15 (3.5); live up to 2, newest first: 12, 11;
    # rest by number: 0 1 3 4 6 7 8 10 13 14 -> 2 slots at positions 0 and 9: trials 0 and 14
    assert [t.number for t in picked.trials] == [0, 2, 5, 9, 11, 12, 14, 15]
    assert (picked.best, picked.live, picked.spread, picked.total) == (4, 2, 2, 16)
    assert picked.note == "8 of 16 trials drawn: the best 4, 2 running or paused, an even sample of 2"
    # maximise: the best are the largest values; 5 slots spread over the rest
    snap_max = make_study(trials, directions=("maximize",))
    picked = thin(trials, 9, key=objective_key(snap_max, 0), owner="test")
    # best 0 1 4 6 (9.0, 8.0, 7.0, 6.0); live 12 11; rest 2 3 5 7 8 9 10 13 14 15 at 0, 4.5, 9
    assert [t.number for t in picked.trials] == [0, 1, 2, 4, 6, 9, 11, 12, 15]
    assert (picked.best, picked.live, picked.spread) == (4, 2, 3)


def test_no_thinning_at_or_under_the_budget_and_bad_budgets(make_trial: MakeTrial,
                                                             make_study: MakeStudy) -> None:
    trials = [make_trial(i, values=[float(i)], params={"x": float(i)}) for i in range(5)]
    key = objective_key(make_study(trials), 0)
    for budget in (None, 5, 100):
        picked = thin(trials, budget, key=key, owner="test")
        assert picked.trials == trials
        assert picked.note is None
    assert [t.number for t in thin(trials, 1, key=key, owner="test").trials] == [0]  # spread of 1
    for bad in (0, -3, 2.5, "10", True):
        with pytest.raises(ConfigError, match=r"^max_trials of plot_slice must be"):
            plot_slice(make_study(trials), params=None, max_trials=bad)  # type: ignore[arg-type]


def test_history_thins_markers_but_the_best_line_follows_every_trial(make_trial: MakeTrial,
                                                                   make_study: MakeStudy) -> None:
    trials = _many(make_trial, 300)
    full = plot_optimization_history(make_study(trials))
    fig = plot_optimization_history(make_study(trials), max_trials=40)
    markers, best = fig.data
    assert len(markers.x) == 40
    assert len(full.data[0].x) == 300
    assert not _notes(full)
    assert _notes(fig) == ["40 of 300 trials drawn: the best 20, 0 running or paused, an even sample of 20"]
    values = np.array([t.values[0] for t in trials])
    assert sorted(markers.y)[:20] == sorted(values)[:20]
    # the step line (last point at or before each trial) is the running minimum over all 300
    line_x, line_y = np.asarray(best.x), np.asarray(best.y)
    at = np.searchsorted(line_x, np.arange(300), side="right") - 1
    np.testing.assert_allclose(line_y[at], np.minimum.accumulate(values))
    assert line_x[-1] == 299
    assert len(line_x) < 300
    np.testing.assert_allclose(np.asarray(full.data[1].y)[-1], values.min())


def test_learning_curves_thinned_with_a_band_over_every_trial(make_trial: MakeTrial,
                                                              make_study: MakeStudy) -> None:
    trials = [*_many(make_trial, 200), make_trial(200, R, intermediate={0: 50.0, 1: 60.0})]
    fig = plot_intermediate_values(make_study(trials), max_trials=20)
    names = ["10-90 % of all trials", "median of all trials", "COMPLETE", "RUNNING"]
    assert [t.name for t in fig.data] == names
    complete = fig.data[2]
    assert len(set(complete.customdata.tolist())) == 19
    assert fig.data[3].customdata.tolist() == [200] * 3
    # the band and median against numpy over every trial's points at each step (201 at steps 0, 1)
    points: dict[int, list[float]] = {}
    for t in trials:
        for s, v in t.intermediate.items():
            points.setdefault(s, []).append(v)
    median = [float(np.quantile(points[s], 0.5)) for s in range(5)]
    np.testing.assert_allclose(fig.data[1].y, median, rtol=1e-6)
    band = np.asarray(fig.data[0].y)
    np.testing.assert_allclose(band[:5], [np.quantile(points[s], 0.1) for s in range(5)], rtol=1e-6)
    np.testing.assert_allclose(band[5:], [np.quantile(points[s], 0.9) for s in reversed(range(5))], rtol=1e-6)
    assert fig.data[0].x.tolist() == [0, 1, 2, 3, 4, 4, 3, 2, 1, 0]
    assert fig.data[0].fill == "toself"
    unthinned = plot_intermediate_values(make_study(trials))
    assert [t.name for t in unthinned.data] == ["COMPLETE", "RUNNING"]
    assert not _notes(unthinned)


def test_step_quantiles_match_numpy_on_random_groups() -> None:
    rng = np.random.default_rng(3)
    steps = rng.integers(0, 30, 2000)
    values = rng.normal(size=2000)
    values[::97] = np.nan  # non-finite values are left out
    at, (q1, q2) = step_quantiles(steps, values, (0.1, 0.9))
    for k, s in enumerate(at):
        group = values[(steps == s) & np.isfinite(values)]
        assert q1[k] == pytest.approx(np.quantile(group, 0.1))
        assert q2[k] == pytest.approx(np.quantile(group, 0.9))


def test_contour_grid_uses_every_trial_and_only_the_scatter_thins(make_trial: MakeTrial,
                                                                  make_study: MakeStudy) -> None:
    trials = _many(make_trial, 400)
    full = plot_contour(make_study(trials), params=["lr", "x"])
    fig = plot_contour(make_study(trials), params=["lr", "x"], max_trials=50)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), np.asarray(full.data[0].z))
    assert len(full.data[1].x) == 400
    assert len(fig.data[1].x) == 50
    by_number = {t.number: t for t in trials}
    for n, x in zip(fig.data[1].customdata, fig.data[1].x, strict=True):  # each mark at its own trial
        assert by_number[int(n)].params["lr"] == pytest.approx(x)
    assert _notes(fig)
    assert "of 400 completed" in fig.layout.title.text


def test_parallel_slice_timeline_and_pareto_draw_at_most_max_trials(make_trial: MakeTrial,
                                                                    make_study: MakeStudy) -> None:
    trials = _many(make_trial, 120)
    snap = make_study(trials)
    parallel = plot_parallel_coordinate(snap, max_trials=30)
    assert len(parallel.data[0].dimensions[0].values) == 30
    values = [t.values[0] for t in trials]
    assert (parallel.data[0].line.cmin, parallel.data[0].line.cmax) == (min(values), max(values))
    slices = plot_slice(snap, max_trials=30)
    assert [len(trace.x) for trace in slices.data] == [30, 30]
    assert (slices.data[0].marker.cmin, slices.data[0].marker.cmax) == (0, 119)
    timeline = plot_timeline(snap, max_trials=30)
    assert len(timeline.data[0].x) == 3 * 30  # start, end, gap per trial
    two = make_study([make_trial(i, values=[float(i), float(120 - i) + (i % 7)], signs=(1.0, 1.0))
                      for i in range(120)], directions=("minimize", "minimize"))
    full, thinned = plot_pareto_front(two), plot_pareto_front(two, max_trials=30)
    assert thinned.data[0].customdata.tolist() == full.data[0].customdata.tolist()  # the front, whole
    assert len(thinned.data[1].x) == 30
    assert len(full.data[1].x) == 120 - len(full.data[0].x)
    for fig in (parallel, slices, timeline, thinned):
        assert len(_notes(fig)) == 1


def test_svg_for_few_points_and_webgl_above(make_trial: MakeTrial, make_study: MakeStudy,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal.visualization import _thin

    snap = make_study(_many(make_trial, 30))
    assert {t.type for t in plot_slice(snap).data} == {"scatter"}  # 60 markers
    assert {t.type for t in plot_intermediate_values(snap).data} == {"scatter"}  # 30 x 5 points
    monkeypatch.setattr(_thin, "SVG_MARKERS", 59)
    monkeypatch.setattr(_thin, "SVG_LINE_POINTS", 149)
    assert {t.type for t in plot_slice(snap).data} == {"scattergl"}
    assert {t.type for t in plot_intermediate_values(snap).data} == {"scattergl"}
    assert {t.type for t in plot_timeline(snap).data} == {"scatter"}  # 90 points
    assert {t.type for t in plot_slice(snap, max_trials=29).data} == {"scatter"}  # 58 markers drawn
