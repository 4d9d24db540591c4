"""Learning curves: every trial's reported values by state, forks from their branch point; one trial."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import shoal
from shoal.exceptions import ConfigError
from shoal.trial import TrialState
from shoal.visualization import plot_intermediate_values, plot_trial_curves


def _note(fig: Any) -> str:
    assert len(fig.data) == 0
    (note,) = fig.layout.annotations
    return str(note.text)


def _curves(trace: Any) -> dict[int, list[tuple[int, float]]]:
    """Trial number -> its (step, value) points, split at the NaN gaps."""
    out: dict[int, list[tuple[int, float]]] = {}
    for x, y, n in zip(trace.x, trace.y, trace.customdata, strict=True):
        if not math.isnan(float(y)):
            out.setdefault(int(n), []).append((int(x), float(y)))
    return out


@pytest.fixture
def study(make_trial, make_study):
    return make_study([
        make_trial(0, intermediate={0: 1.0, 1: 0.5, 2: 0.25}, values=[0.25]),
        make_trial(1, TrialState.PRUNED, intermediate={1: 0.9, 0: 1.5}),  # reported out of order
        make_trial(2, TrialState.PAUSED, intermediate={0: 1.2, 1: 0.7},
                   lineage=[{"event": "paused", "step": 1, "at": 5.0}]),
        make_trial(3, TrialState.RUNNING, intermediate={0: 2.0}),
        make_trial(4, TrialState.WAITING),
    ])


def test_one_trace_per_state_in_order_with_each_trials_points(study) -> None:
    fig = plot_intermediate_values(study)
    assert [t.name for t in fig.data] == ["COMPLETE", "PRUNED", "RUNNING", "PAUSED"]
    assert {t.type for t in fig.data} == {"scatter"}  # SVG: few points
    by_name = {t.name: t for t in fig.data}
    assert _curves(by_name["COMPLETE"]) == {0: [(0, 1.0), (1, 0.5), (2, 0.25)]}
    assert _curves(by_name["PRUNED"]) == {1: [(0, 1.5), (1, pytest.approx(0.9))]}
    assert _curves(by_name["PAUSED"]) == {2: [(0, pytest.approx(1.2)), (1, pytest.approx(0.7))]}
    assert by_name["PAUSED"].line.dash == "dash"
    assert by_name["COMPLETE"].line.dash is None
    assert fig.layout.xaxis.title.text == "step"
    assert fig.layout.yaxis.title.text == "objective 0 (minimize)"


def test_trials_are_separated_by_a_gap_after_each_curve(make_trial, make_study) -> None:
    study = make_study([make_trial(0, intermediate={0: 3.0, 1: 2.0}, values=[2.0]),
                        make_trial(1, intermediate={0: 4.0}, values=[4.0])])
    (trace,) = plot_intermediate_values(study).data
    assert list(trace.x) == [0, 1, 1, 0, 0]  # a gap sits at its trial's last step
    assert np.isnan(trace.y[[2, 4]]).all()
    assert list(trace.y[[0, 1, 3]]) == [3.0, 2.0, 4.0]
    assert list(trace.customdata) == [0, 0, 0, 1, 1]


def test_a_fork_starts_at_its_parents_value_at_the_branch_step(make_trial, make_study) -> None:
    parent = make_trial(0, intermediate={0: 1.0, 1: 0.8, 2: 0.6, 3: 0.5}, values=[0.5])
    fork = make_trial(1, intermediate={3: 0.55, 4: 0.4}, values=[0.4],
                      lineage=[{"event": "forked", "parent": 0, "step": 2, "changed": {"lr": [0.1, 0.01]}}])
    # A fork from a step the parent never reported starts from its newest point before it.
    late = make_trial(2, TrialState.RUNNING, intermediate={6: 0.3},
                      lineage=[{"event": "forked", "parent": 0, "step": 5, "changed": {}}])
    queued = make_trial(3, TrialState.WAITING,
                        lineage=[{"event": "forked", "parent": 0, "step": 1, "changed": {}}])
    fig = plot_intermediate_values(make_study([parent, fork, late, queued]))  # a queued fork has not run
    assert [t.name for t in fig.data] == ["COMPLETE", "RUNNING", "branch points"]
    curves = _curves(fig.data[0])
    assert curves[1][0] == (2, pytest.approx(0.6))  # the parent's point at step 2
    assert curves[1][1:] == [(3, pytest.approx(0.55)), (4, pytest.approx(0.4))]
    assert _curves(fig.data[1])[2] == [(3, 0.5), (6, pytest.approx(0.3))]
    branches = fig.data[2]
    assert list(zip(branches.x, branches.y, branches.customdata, strict=True)) == [(2, 0.6, 1), (3, 0.5, 2)]


def test_a_named_curve_instead_of_the_value(make_trial, make_study) -> None:
    study = make_study([make_trial(0, intermediate={0: 1.0}, values=[1.0],
                                   system_attrs={"curves": {"train_loss": {"0": 2.0, "1": 1.5}}})])
    fig = plot_intermediate_values(study, curve="train_loss")
    assert _curves(fig.data[0]) == {0: [(0, 2.0), (1, 1.5)]}
    assert fig.layout.yaxis.title.text == "train_loss"
    with pytest.raises(ConfigError, match=r"^curve of plot_intermediate_values must be one of the "
                                          r"reported curves \['train_loss'\]\. Got 'lr'\."):
        plot_intermediate_values(study, curve="lr")
    with pytest.raises(ConfigError, match="objective of plot_intermediate_values must be None when curve"):
        plot_intermediate_values(study, curve="train_loss", objective=0)


def test_several_objectives_need_one_and_read_its_curve(make_trial, make_study) -> None:
    trial = make_trial(0, intermediate={0: 1.0, 1: 0.5}, values=[0.5, 7.0], signs=(1.0, -1.0),
                       system_attrs={"curves": {"objective_1": {"0": 5.0, "1": 7.0}}})
    study = make_study([trial], directions=("minimize", "maximize"))
    with pytest.raises(ConfigError, match=r"^objective of plot_intermediate_values must be an index in "
                                          r"\[0, 1\] for a study with 2 objectives\. Got None\. Pass"):
        plot_intermediate_values(study)
    assert _curves(plot_intermediate_values(study, objective=0).data[0]) == {0: [(0, 1.0), (1, 0.5)]}
    fig = plot_intermediate_values(study, objective=1)
    assert _curves(fig.data[0]) == {0: [(0, 5.0), (1, 7.0)]}
    assert fig.layout.yaxis.title.text == "objective 1 (maximize)"
    with pytest.raises(ConfigError, match=r"must be an integer in \[0, 1\]\. Got 2\."):
        plot_intermediate_values(study, objective=2)


def test_nothing_reported_is_an_annotated_empty_figure(make_trial, make_study) -> None:
    assert _note(plot_intermediate_values(make_study([]))) == "no completed trials yet"
    assert _note(plot_intermediate_values(make_study([make_trial(0, TrialState.RUNNING)]))) \
        == "no reported values yet"


def test_a_real_study_with_a_pruned_trial() -> None:
    study = shoal.create_study(sampler=shoal.samplers.RandomSampler(seed=0))
    for number in range(3):
        trial = study.ask()
        for step in range(4 if number != 1 else 2):
            trial.report(10.0 * number + step, step)
        if number == 1:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, 1.0)
    fig = plot_intermediate_values(study)
    assert [t.name for t in fig.data] == ["COMPLETE", "PRUNED"]
    assert _curves(fig.data[1]) == {1: [(0, 10.0), (1, 11.0)]}
    assert sorted(_curves(fig.data[0])) == [0, 2]


# --- one trial ----------------------------------------------------------------------------------

def test_one_trials_value_and_named_curves_as_small_multiples(make_trial, make_study) -> None:
    trial = make_trial(0, intermediate={0: 1.0, 1: 0.5, 2: 0.4}, values=[0.4],
                       system_attrs={"curves": {"train_loss": {"0": 2.0, "1": 1.0, "2": 0.8},
                                                "lr": {"0": 1.0, "1": 0.1, "2": 0.001}}},
                       lineage=[{"event": "paused", "step": 1, "at": 3.0},
                                {"event": "resumed", "step": 1, "at": 9.0, "worker": "w"}])
    fig = plot_trial_curves(make_study([trial]), 0)
    assert [t.name for t in fig.data] == ["value", "lr", "train_loss"]
    assert [a.text for a in fig.layout.annotations][:3] == ["objective 0 (minimize)", "lr", "train_loss"]
    assert list(fig.data[0].x) == [0, 1, 2]
    assert list(fig.data[0].y) == [1.0, 0.5, 0.4]
    assert list(fig.data[2].y) == [2.0, 1.0, 0.8]
    assert fig.layout.yaxis2.type == "log"  # lr spans three decades
    assert fig.layout.yaxis3.type != "log"
    assert [(s.x0, s.line.dash) for s in fig.layout.shapes] == [(1, "dash")] * 6  # 2 events x 3 rows
    assert [a.text for a in fig.layout.annotations][3:] == ["paused, resumed"]  # one step, one label


def test_a_forks_parents_part_is_drawn_grey_up_to_the_branch_step(make_trial, make_study) -> None:
    grand = make_trial(0, intermediate={0: 3.0, 1: 2.0, 2: 1.5}, values=[1.5])
    parent = make_trial(1, intermediate={2: 1.8, 3: 1.2, 4: 1.0}, values=[1.0],
                        lineage=[{"event": "forked", "parent": 0, "step": 1, "changed": {}}])
    fork = make_trial(2, intermediate={4: 0.9, 5: 0.7}, values=[0.7],
                      lineage=[{"event": "forked", "parent": 1, "step": 3, "changed": {}}])
    fig = plot_trial_curves(make_study([grand, parent, fork]), 2)
    assert [t.name for t in fig.data] == ["value", "trial 1 (parent)", "trial 0 (parent)"]
    assert list(fig.data[1].x) == [2, 3]
    assert list(fig.data[2].x) == [0, 1]
    assert fig.data[1].line.color == fig.data[2].line.color != fig.data[0].line.color
    assert [a.text for a in fig.layout.annotations if a.text.startswith("forked")] == ["forked from 1"]


def test_trial_curves_refuse_an_unknown_number_and_annotate_an_empty_trial(make_trial, make_study) -> None:
    study = make_study([make_trial(0, TrialState.RUNNING)])
    with pytest.raises(ConfigError, match=r"^number of plot_trial_curves must be one of the study's 1 "
                                          r"trial numbers\. Got 5\. See them with 'shoal trials s'\."):
        plot_trial_curves(study, 5)
    assert _note(plot_trial_curves(study, 0)) == "trial 0 reported no values yet"
