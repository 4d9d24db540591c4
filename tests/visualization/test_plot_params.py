"""Plots over parameters: parallel coordinates, contour, slice and importance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shoal.analysis import Importances
from shoal.exceptions import ConfigError
from shoal.trial import TrialState
from shoal.visualization import _importance as importance_module
from shoal.visualization import (
    plot_contour,
    plot_parallel_coordinate,
    plot_param_importances,
    plot_slice,
)


def _note(fig: Any) -> str:
    assert len(fig.data) == 0
    (note,) = fig.layout.annotations
    return str(note.text)


@pytest.fixture
def study(make_trial, make_study):
    rows = [(0.001, 1.0, "adam", 16, 3.0), (0.01, 4.0, "sgd", 64, 2.0), (0.1, 9.0, "adam", 256, 1.0)]
    trials = [make_trial(i, params={"lr": lr, "x": x, "opt": opt, "width": w}, values=[v])
              for i, (lr, x, opt, w, v) in enumerate(rows)]
    trials.append(make_trial(3, TrialState.PRUNED, params={"lr": 0.5, "x": 2.0, "opt": "sgd", "width": 32},
                             intermediate={0: 9.0}))
    return make_study(trials)


# --- parallel coordinates -----------------------------------------------------------------------

def test_parallel_axes_in_units_log10_and_choices(study) -> None:
    (trace,) = plot_parallel_coordinate(study).data
    assert trace.type == "parcoords"
    dims = {d.label: d for d in trace.dimensions}
    assert [d.label for d in trace.dimensions] == ["lr (log)", "x", "opt", "width (log)",
                                                   "objective 0 (minimize)"]
    assert list(dims["lr (log)"].values) == pytest.approx([-3.0, -2.0, -1.0])
    assert list(dims["lr (log)"].ticktext) == ["0.001", "0.01", "0.1"]
    assert list(dims["lr (log)"].tickvals) == pytest.approx([-3, -2, -1])
    assert list(dims["width (log)"].ticktext) == ["16", "100", "256"]  # one power of ten inside: ends too
    assert list(dims["width (log)"].range) == pytest.approx([np.log10(16), np.log10(256)])
    assert list(dims["opt"].values) == [0, 1, 0]
    assert list(dims["opt"].ticktext) == ["adam", "sgd"]
    assert list(dims["x"].values) == [1.0, 4.0, 9.0]
    assert list(dims["objective 0 (minimize)"].values) == [3.0, 2.0, 1.0]  # completed trials only
    assert list(trace.line.color) == [3.0, 2.0, 1.0]


def test_parallel_params_and_trials_without_them(make_trial, make_study, study) -> None:
    (trace,) = plot_parallel_coordinate(study, params=["x", "lr"]).data
    assert [d.label for d in trace.dimensions] == ["x", "lr (log)", "objective 0 (minimize)"]
    conditional = make_study([*study.trials, make_trial(4, params={"x": 5.0}, values=[0.5])])
    fig = plot_parallel_coordinate(conditional)
    assert "(1 trials without every parameter left out)" in fig.layout.title.text
    assert len(fig.data[0].dimensions[0].values) == 3
    with pytest.raises(ConfigError, match=r"^params of plot_parallel_coordinate must be a list of distinct "
                                          r"names among \['lr', 'x', 'opt', 'width'\]\. Got \['y'\]\."):
        plot_parallel_coordinate(study, params=["y"])
    assert _note(plot_parallel_coordinate(make_study([]))) == "no completed trials yet"


# --- contour ------------------------------------------------------------------------------------

def test_contour_is_the_binned_mean_on_encoded_axes(make_trial, make_study) -> None:
    # 18 trials: sqrt(18 / 2) = 3 bins a side; lr spans 1e-4..1e-1 (3 decades: a bin per decade),
    # x spans 0..9 (bins [0, 3), [3, 6), [6, 9]).
    points = [(1e-4, 0.0, 1.0), (1e-4, 1.0, 3.0), (1e-3 * 2, 0.5, 5.0), (1e-1, 9.0, 7.0),
              (0.05, 8.0, 9.0), (0.002, 4.0, 4.0)]
    points += [(1e-1, 9.0, 7.0)] * 12  # weight one cell, so the mean there stays 7
    trials = [make_trial(i, params={"lr": lr, "x": x}, values=[v]) for i, (lr, x, v) in enumerate(points)]
    fig = plot_contour(make_study(trials), params=["lr", "x"])
    contour, scatter = fig.data
    assert (contour.type, contour.name, scatter.name) == ("contour", "binned mean", "trials")
    assert list(contour.x) == pytest.approx([10 ** -3.5, 10 ** -2.5, 10 ** -1.5])
    assert list(contour.y) == pytest.approx([1.5, 4.5, 7.5])
    z = np.asarray(contour.z, dtype=float)  # z[y bin, x bin]
    expected = np.full((3, 3), np.nan)
    expected[0, 0] = (1.0 + 3.0) / 2  # lr in [1e-4, 1e-3), x in [0, 3)
    expected[0, 1] = 5.0
    expected[1, 1] = 4.0
    expected[2, 2] = (9.0 + 7.0 * 13) / 14
    np.testing.assert_allclose(z, expected)  # empty cells stay NaN; plotly fills them when drawing
    assert contour.connectgaps is True
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.yaxis.type == "linear"
    assert list(scatter.customdata) == list(range(18))


def test_contour_defaults_to_the_two_most_important(make_trial, make_study, monkeypatch) -> None:
    asked: list[dict[str, Any]] = []

    def fake(trials: Any, *, objective: int | None = None, **options: Any) -> Importances:
        asked.append(options)
        return Importances(main={"width": 0.6, "x": 0.3, "lr": 0.1}, n_trials=len(trials))

    monkeypatch.setattr(importance_module, "importances", fake)
    importance_module._CACHE.clear()
    rng = np.random.default_rng(0)
    trials = [make_trial(i, params={"lr": float(10 ** rng.uniform(-4, 0)), "x": float(rng.uniform(0, 10)),
                                    "width": int(rng.integers(16, 257))}, values=[float(rng.random())])
              for i in range(10)]
    fig = plot_contour(make_study(trials))
    assert fig.layout.xaxis.title.text == "width"
    assert fig.layout.yaxis.title.text == "x"
    assert fig.layout.xaxis.type == "log"
    assert asked == [{"max_trials": 500, "n_trees": 8, "pairs": False}]  # a quick ranking, memoised
    plot_contour(make_study(trials))
    assert len(asked) == 1


def test_contour_errors_and_empty_cases(make_trial, make_study, study) -> None:
    with pytest.raises(ConfigError, match=r"^params of plot_contour must be exactly 2 names among"):
        plot_contour(study, params=["lr"])
    with pytest.raises(ConfigError, match=r"^objective of plot_contour must be an index in \[0, 1\]"):
        plot_contour(make_study([], directions=("minimize", "minimize")))
    one = make_study([make_trial(i, params={"x": float(i)}, values=[1.0]) for i in range(5)])
    assert _note(plot_contour(one)) == "a contour needs two parameters"
    assert _note(plot_contour(make_study([]))) == "no completed trials yet"


def test_contour_of_a_categorical_ticks_its_choices(study) -> None:
    fig = plot_contour(study, params=["opt", "x"])
    assert list(fig.data[0].x) == [0.0, 1.0]
    assert list(fig.layout.xaxis.ticktext) == ["adam", "sgd"]


# --- slice --------------------------------------------------------------------------------------

def test_slice_one_panel_per_parameter(study) -> None:
    fig = plot_slice(study)
    assert [t.name for t in fig.data] == ["lr", "x", "opt", "width"]
    assert {t.type for t in fig.data} == {"scatter"}  # SVG: few points
    lr, _x, opt, _ = fig.data
    assert list(lr.x) == [0.001, 0.01, 0.1]
    assert list(lr.y) == [3.0, 2.0, 1.0]
    assert list(lr.marker.color) == [0, 1, 2]  # coloured by trial number
    assert list(opt.x) == ["adam", "sgd", "adam"]
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.xaxis2.type is None
    assert fig.layout.xaxis3.type == "category"
    assert fig.layout.xaxis4.type == "log"
    assert [a.text for a in fig.layout.annotations] == ["lr", "x", "opt", "width"]
    assert [t.name for t in plot_slice(study, params=["x"]).data] == ["x"]
    assert _note(plot_slice(study.__class__("e", study.directions, []))) == "no completed trials yet"


# --- importance ---------------------------------------------------------------------------------

def test_importance_bars_and_interactions_from_the_record(study, monkeypatch) -> None:
    calls: list[int] = []

    def fake(trials: Any, *, objective: int | None = None, seed: int = 0) -> Importances:
        calls.append(len(trials))
        return Importances(main={"lr": 0.7, "x": 0.2, "opt": 0.05},
                           pairs={("lr", "x"): 0.04, ("x", "opt"): 0.01}, n_trials=3, method="fANOVA")

    monkeypatch.setattr(importance_module, "importances", fake)
    importance_module._CACHE.clear()
    fig = plot_param_importances(study)
    pairs, main = fig.data  # interactions first: plotly stacks categories from the bottom up
    assert (main.name, pairs.name, main.orientation) == ("main effect", "interactions", "h")
    assert list(main.y) == ["opt", "x", "lr"]
    assert list(main.x) == [0.05, 0.2, 0.7]
    assert list(pairs.y) == ["x x opt", "lr x x"]
    assert "fANOVA" in fig.layout.title.text
    assert fig.layout.title.text.endswith("<sup>fANOVA</sup>")
    plot_param_importances(study)
    assert len(calls) == 1  # unchanged finished trials: memoised


def test_importance_with_the_real_estimator_and_too_few_trials(make_trial, make_study, study) -> None:
    importance_module._CACHE.clear()
    assert _note(plot_param_importances(study)) == ("too few finished trials to estimate importance yet: "
                                                    "fANOVA (needs 8 finished trials, has 4)")
    rng = np.random.default_rng(1)
    xs = rng.uniform(0, 10, 40)
    trials = [make_trial(i, params={"x": float(x), "lr": float(10 ** rng.uniform(-4, 0))},
                         values=[float(x)]) for i, x in enumerate(xs)]
    fig = plot_param_importances(make_study(trials))
    main = fig.data[-1]
    assert [t.name for t in fig.data] in (["main effect"], ["interactions", "main effect"])
    assert list(main.y)[-1] == "x"  # x explains the value
    assert main.x[-1] > 0.8
    assert main.x[0] < 0.2
    assert "fANOVA (random forest" in fig.layout.title.text
    with pytest.raises(ConfigError, match=r"^objective of plot_param_importances must be"):
        plot_param_importances(make_study([], directions=("minimize", "maximize")))


def test_several_objectives_pick_one_for_every_parameter_plot(make_trial, make_study) -> None:
    trials = [make_trial(i, params={"x": float(i), "lr": 10.0 ** -i}, values=[float(i), 10.0 - i],
                         signs=(1.0, -1.0)) for i in range(1, 5)]
    study = make_study(trials, directions=("minimize", "maximize"))
    for plot in (plot_parallel_coordinate, plot_slice, plot_contour, plot_param_importances):
        with pytest.raises(ConfigError, match=rf"^objective of {plot.__name__} must be an index in \[0, 1\]"):
            plot(study)
    assert list(plot_slice(study, objective=1).data[0].y) == [9.0, 8.0, 7.0, 6.0]
    (trace,) = plot_parallel_coordinate(study, objective=1).data
    assert trace.dimensions[-1].label == "objective 1 (maximize)"
    assert list(trace.dimensions[-1].values) == [9.0, 8.0, 7.0, 6.0]
    assert trace.line.reversescale is False  # maximised: larger is brighter
    assert plot_contour(study, objective=0).data[0].reversescale is True
