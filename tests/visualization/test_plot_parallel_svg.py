"""Parallel coordinates as SVG lines (`svg=True`) and the Plotly.js bundle a set of figures needs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shoal.trial import Direction, TrialState
from shoal.visualization import (
    LITE_TRACES,
    needs_full_plotly,
    plot_parallel_coordinate,
    plotly_js_source,
)
from shoal.visualization._bundle import LITE_VERSION
from shoal.visualization._parallel_svg import BANDS

COMMON_JS = Path(__file__).parents[2] / "src" / "shoal" / "dashboard" / "static" / "common.js"


@pytest.fixture
def study(make_trial, make_study):
    rows = [(0.001, 1.0, "adam", 3.0), (0.01, 4.0, "sgd", 2.0), (0.1, 9.0, "adam", 1.0),
            (0.1, 5.0, "sgd", 1.5)]
    trials = [make_trial(i, params={"lr": lr, "x": x, "opt": opt}, values=[v])
              for i, (lr, x, opt, v) in enumerate(rows)]
    trials.append(make_trial(4, TrialState.PRUNED, params={"lr": 0.5, "x": 2.0, "opt": "sgd"},
                             intermediate={0: 9.0}))
    return make_study(trials)


def _lines(fig: Any) -> dict[int, tuple[list[float], list[float]]]:
    """trial number -> (x, y) of its polyline, read back from the band traces."""
    out: dict[int, tuple[list[float], list[float]]] = {}
    for trace in fig.data[:-1]:
        x, y = np.asarray(trace.x, float), np.asarray(trace.y, float)
        who = np.asarray(trace.customdata, float)
        starts = [0, *(np.flatnonzero(np.isnan(x)) + 1)][:-1]
        for start in starts:
            stop = start + int(np.flatnonzero(np.isnan(x[start:]))[0])
            assert len(set(who[start:stop + 1, 0])) == 1  # one trial per polyline, gap included
            out[int(who[start, 0])] = (list(x[start:stop]), list(y[start:stop]))
    return out


def test_svg_lines_scale_every_axis_over_its_range(study) -> None:
    fig = plot_parallel_coordinate(study, svg=True)
    assert {t.type for t in fig.data} == {"scatter"}
    assert list(fig.layout.xaxis.ticktext) == ["lr<br>(log)", "x", "opt", "objective 0<br>(minimize)"]
    lines = _lines(fig)
    assert sorted(lines) == [0, 1, 2, 3]  # completed trials only
    lr = {0: 0.001, 1: 0.01, 2: 0.1, 3: 0.1}
    x = {0: 1.0, 1: 4.0, 2: 9.0, 3: 5.0}
    opt = {0: 0, 1: 1, 2: 0, 3: 1}
    value = {0: 3.0, 1: 2.0, 2: 1.0, 3: 1.5}
    for number, (xs, ys) in lines.items():
        assert xs == [0.0, 1.0, 2.0, 3.0]
        expected = [(math.log10(lr[number]) + 3) / 2, (x[number] - 1) / 8, opt[number],
                    (value[number] - 1) / 2]
        assert ys == pytest.approx(expected, abs=1e-6)


def test_svg_bands_draw_the_best_last_and_share_the_colour_scale(study) -> None:
    fig = plot_parallel_coordinate(study, svg=True)
    *bands, scale = fig.data
    # minimised: value 1.0 is the best (brightest band, drawn last), 3.0 the worst (drawn first)
    firsts = [int(np.asarray(t.customdata, float)[0, 0]) for t in bands]
    assert firsts[0] == 0
    assert firsts[-1] == 2
    assert [int(t.name.split()[1]) for t in bands] == sorted(int(t.name.split()[1]) for t in bands)
    assert all(1 <= int(t.name.split()[1]) <= BANDS for t in bands)
    assert (scale.marker.cmin, scale.marker.cmax, scale.marker.reversescale) == (1.0, 3.0, True)
    assert scale.marker.showscale
    assert scale.hoverinfo == "skip"
    # axis ticks: the log axis in units at its powers of ten, the choices by name
    texts = {(a.x, a.text) for a in fig.layout.annotations}
    assert {(0, "0.001"), (0, "0.01"), (0, "0.1"), (2, "adam"), (2, "sgd"), (1, "1"), (1, "9")} <= texts
    assert len(fig.layout.shapes) == 4


def test_svg_thinned_keeps_the_colour_range_and_says_so(make_trial, make_study) -> None:
    trials = [make_trial(i, params={"a": float(i), "b": float(i % 7)}, values=[float(i)]) for i in range(60)]
    fig = plot_parallel_coordinate(make_study(trials), svg=True, max_trials=20)
    assert len(_lines(fig)) == 20
    assert (fig.data[-1].marker.cmin, fig.data[-1].marker.cmax) == (0.0, 59.0)
    assert any("20 of 60 trials drawn" in str(a.text) for a in fig.layout.annotations)


def test_svg_maximised_constant_axis_and_few_trials(make_trial, make_study) -> None:
    trials = [make_trial(i, params={"c": 2.0, "v": float(i)}, values=[float(i)]) for i in range(3)]
    fig = plot_parallel_coordinate(make_study(trials, directions=[Direction.MAXIMIZE]), svg=True)
    lines = _lines(fig)
    assert all(ys[0] == 0.5 for _, ys in lines.values())  # a constant axis sits in the middle
    assert fig.data[-1].marker.reversescale is False
    assert int(np.asarray(fig.data[-2].customdata, float)[0, 0]) == 2  # maximised: the largest on top


def test_needs_full_plotly_by_trace_type() -> None:
    assert not needs_full_plotly([{"data": [{"type": "scatter"}, {}]}, {"data": []}, {"layout": {}}])
    assert needs_full_plotly([{"data": [{"type": "bar"}]}, {"data": [{"type": "parcoords"}]}])
    assert needs_full_plotly([{"data": [{"type": "scattergl"}]}])


def test_the_lite_bundle_is_the_vendored_cartesian_plotly_and_common_js_lists_its_traces() -> None:
    head = plotly_js_source(lite=True)[:200].decode()
    assert f"plotly.js (cartesian - minified) v{LITE_VERSION}" in head
    assert b"plotly.js v" in plotly_js_source(lite=False)[:200]
    source = COMMON_JS.read_text()
    listed = source[source.index("LITE_TRACES = new Set(["):].split("]", 1)[0]
    assert set(json.loads(listed[listed.index("[") :] + "]")) == set(LITE_TRACES)


def test_parcoords_needs_the_full_bundle_and_svg_lines_do_not(study) -> None:
    assert needs_full_plotly([plot_parallel_coordinate(study).to_plotly_json()])
    assert not needs_full_plotly([plot_parallel_coordinate(study, svg=True).to_plotly_json()])
