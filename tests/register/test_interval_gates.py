"""Gates on interval bounds, volume floors, and groups too small to judge."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from binclf.evaluate.fairness import fairness_report
from binclf.register.gates import evaluate_gates
from binclf.spec import GateThresholds
from binclf.stats.metrics import evaluate_predictions


def _estimate(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": value, "ci_low": low, "ci_high": high}


def _evidence(*, rows: int = 20_000, positives: int = 400) -> dict:
    return {
        "test_rows": rows,
        "test_positives": positives,
        "test_metrics": {
            "roc_auc": _estimate(0.76, 0.66, 0.84),
            "pr_auc": _estimate(0.30, 0.22, 0.38),
            "ece_equal_mass": _estimate(0.03, 0.01, 0.06),
        },
        "fairness": {
            "region": {
                "compared_groups": ["n", "s"],
                "disparities": {"equalized_odds_difference": _estimate(0.10, 0.02, 0.25)},
            }
        },
        "slices": [
            {
                "kind": "slice",
                "column": "channel",
                "group": "web",
                "small": False,
                "positives": 100,
                "recall": _estimate(0.5, 0.25, 0.7),
            }
        ],
        "leakage": {"max_single_feature_auc": 0.7},
    }


def _by_name(evidence: dict, **thresholds) -> dict:
    return {g.name: g for g in evaluate_gates(evidence, GateThresholds(**thresholds))}


def test_interval_gates_judge_the_pessimistic_bound_and_say_so():
    point = _by_name(_evidence())
    assert all(g.passed for g in point.values()), [g.reason for g in point.values()]
    bounds = _by_name(_evidence(), use_interval=True)
    failed = {name for name, g in bounds.items() if not g.passed}
    assert failed == {
        "min_roc_auc",  # lower bound 0.66 < 0.70
        "max_ece",  # upper bound 0.06 > 0.05
        "max_fairness_disparity",  # upper bound 0.25 > 0.20
        "min_slice_recall",  # lower bound 0.25 < 0.30
    }
    assert bounds["min_roc_auc"].value == 0.66 and "lower bound" in bounds["min_roc_auc"].reason
    assert bounds["max_ece"].value == 0.06 and "upper bound" in bounds["max_ece"].reason
    assert bounds["min_pr_auc"].value == 0.22 and bounds["min_pr_auc"].passed


def test_interval_gates_fail_closed_without_an_interval():
    evidence = _evidence()
    evidence["test_metrics"]["pr_auc"] = _estimate(0.3, None, None)
    gate = _by_name(evidence, use_interval=True)["min_pr_auc"]
    assert not gate.passed and gate.reason == "missing evidence: test_metrics.pr_auc.ci_low"


@pytest.mark.parametrize(
    ("use_interval", "rows", "positives", "passes"),
    [
        (False, 300, 40, False),  # a 1,000-row dataset's test split never meets 500
        (True, 300, 40, True),  # interval gates: the floor is 100 rows, 10 positives
        (True, 90, 40, False),
        (True, 300, 9, False),
    ],
)
def test_volume_minimums_become_floors_with_interval_gates(use_interval, rows, positives, passes):
    gates = _by_name(_evidence(rows=rows, positives=positives), use_interval=use_interval)
    assert (gates["min_test_rows"].passed and gates["min_test_positives"].passed) is passes


def test_an_explicit_volume_minimum_wins_over_the_floor():
    gates = _by_name(_evidence(rows=300), use_interval=True, min_test_rows=400)
    assert not gates["min_test_rows"].passed and gates["min_test_rows"].threshold == 400


def test_groups_too_small_are_not_judged_and_the_spec_says_warn_or_fail():
    rng = np.random.default_rng(0)
    y = (rng.random(150) < 0.3).astype(np.int8)
    p = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.2, 150), 0, 1)
    sensitive = pl.Series("age_group", rng.choice(["a", "b", "c"], 150))
    report = fairness_report(y, p, sensitive, threshold=0.5, min_group_size=100, n_boot=10)
    assert report["not_compared_groups"] == ["a", "b", "c"]
    assert "100 rows" in report["size_rule"]
    evidence = _evidence()
    evidence["fairness"] = {"age_group": report}
    evidence["slices"] = [{**evidence["slices"][0], "small": True}]

    warned = _by_name(evidence)
    for name in ("max_fairness_disparity", "min_slice_recall"):
        assert warned[name].passed and not warned[name].judged
        assert warned[name].reason.startswith("not judged: ")
    assert "age_group" in warned["max_fairness_disparity"].reason
    assert "100 rows" in warned["max_fairness_disparity"].reason

    failed = _by_name(evidence, when_nothing_judged="fail")
    assert not failed["max_fairness_disparity"].passed
    assert not failed["min_slice_recall"].passed


def test_attributes_too_small_are_listed_beside_the_judged_ones():
    evidence = _evidence()
    evidence["fairness"]["tiny"] = {
        "compared_groups": ["x"],
        "min_group_size": 100,
        "size_rule": "a group is compared with at least 100 rows and both classes",
        "disparities": {"equalized_odds_difference": None},
    }
    gate = _by_name(evidence)["max_fairness_disparity"]
    assert gate.passed and gate.judged and gate.value == 0.10
    assert "not judged: tiny (a group is compared with at least 100 rows" in gate.reason


def _auc_gate_pass_rates(sims: int = 120, rows: int = 600) -> tuple[float, float]:
    """A model whose true ROC-AUC (~0.68) is under the 0.70 bar, judged on 600 test rows."""
    rng = np.random.default_rng(4)
    point = bound = 0
    for sim in range(sims):
        y = (rng.random(rows) < 0.2).astype(np.int8)
        p = 1 / (1 + np.exp(-(rng.normal(0, 1, rows) + 0.66 * y - 1.5)))
        metrics = evaluate_predictions(y, p, threshold=0.5, n_boot=200, seed=sim)
        evidence = {**_evidence(), "test_metrics": metrics}
        point += _by_name(evidence)["min_roc_auc"].passed
        bound += _by_name(evidence, use_interval=True)["min_roc_auc"].passed
    return point / sims, bound / sims


def test_a_model_under_the_bar_passes_point_gates_on_luck_but_not_interval_gates():
    point, bound = _auc_gate_pass_rates()
    assert point > 0.1, point
    assert bound <= 0.03, bound
