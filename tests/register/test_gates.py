import copy
import json

import pytest
from pydantic import ValidationError

from binclf.register.gates import evaluate_gates
from binclf.spec import GateThresholds

THRESHOLDS = GateThresholds(
    min_test_rows=1_000,
    min_test_positives=50,
    min_roc_auc=0.75,
    min_pr_auc=0.20,
    max_ece=0.03,
    max_fairness_disparity=0.15,
    min_slice_recall=0.40,
    min_slice_positives=20,
    max_single_feature_auc=0.90,
)


def estimate(value: float) -> dict[str, float]:
    return {"value": value, "ci_low": value - 0.02, "ci_high": value + 0.02}


def slice_row(kind: str, column: str, group: str, *, recall: float, positives: int, small: bool):
    return {
        "kind": kind,
        "column": column,
        "group": group,
        "rows": 5_000,
        "positives": positives,
        "small": small,
        "recall": estimate(recall),
    }


def good_evidence() -> dict:
    return {
        "test_rows": 20_000,
        "test_positives": 400,
        "test_metrics": {
            "roc_auc": estimate(0.91),
            "pr_auc": estimate(0.45),
            "ece_equal_mass": estimate(0.01),
        },
        "fairness": {
            "customer_age_group": {"disparities": {"equalized_odds_difference": estimate(0.05)}},
            "region": {"disparities": {"equalized_odds_difference": estimate(0.08)}},
        },
        "slices": [
            slice_row("slice", "channel", "web", recall=0.70, positives=200, small=False),
            slice_row(
                "sensitive", "customer_age_group", "65+", recall=0.60, positives=80, small=False
            ),
            # Ignored by the slice gate: a score decile, a small slice, too few positives.
            slice_row("score_decile", "score", "d01", recall=0.0, positives=30, small=False),
            slice_row("slice", "channel", "atm", recall=0.0, positives=40, small=True),
            slice_row("slice", "region", "north", recall=0.0, positives=5, small=False),
        ],
        "leakage": {"max_single_feature_auc": 0.71, "feature": "amount"},
    }


GATES = [
    "min_test_rows",
    "min_test_positives",
    "min_roc_auc",
    "min_pr_auc",
    "max_ece",
    "max_fairness_disparity",
    "min_slice_recall",
    "max_single_feature_auc",
]

# For each gate: where its evidence lives and a value that must trip it.
BAD_VALUE = {
    "min_test_rows": (("test_rows",), 999),
    "min_test_positives": (("test_positives",), 49),
    "min_roc_auc": (("test_metrics", "roc_auc"), estimate(0.74)),
    "min_pr_auc": (("test_metrics", "pr_auc"), estimate(0.19)),
    "max_ece": (("test_metrics", "ece_equal_mass"), estimate(0.031)),
    "max_fairness_disparity": (
        ("fairness", "region", "disparities", "equalized_odds_difference"),
        estimate(0.16),
    ),
    "min_slice_recall": (("slices", 1, "recall"), estimate(0.39)),
    "max_single_feature_auc": (("leakage", "max_single_feature_auc"), 0.97),
}


def set_path(evidence: dict, path: tuple, value) -> None:
    node = evidence
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def by_name(results):
    return {result.name: result for result in results}


def test_good_evidence_passes_every_gate_and_results_are_json_ready():
    results = evaluate_gates(good_evidence(), THRESHOLDS)
    assert [result.name for result in results] == GATES
    assert all(result.passed for result in results), [r.reason for r in results if not r.passed]
    json.dumps([result.to_dict() for result in results], allow_nan=False)
    slice_gate = by_name(results)["min_slice_recall"]
    assert slice_gate.value == pytest.approx(0.60)
    assert "customer_age_group=65+" in slice_gate.reason
    assert by_name(results)["max_fairness_disparity"].value == pytest.approx(0.08)


@pytest.mark.parametrize("gate", GATES)
def test_each_gate_trips_on_bad_evidence_and_only_that_gate(gate):
    evidence = good_evidence()
    path, value = BAD_VALUE[gate]
    set_path(evidence, path, value)
    results = by_name(evaluate_gates(evidence, THRESHOLDS))
    assert not results[gate].passed
    assert results[gate].threshold == pytest.approx(getattr(THRESHOLDS, gate))
    assert [name for name, result in results.items() if not result.passed] == [gate]


@pytest.mark.parametrize(
    ("gate", "path"),
    [
        ("min_test_rows", ("test_rows",)),
        ("min_test_positives", ("test_positives",)),
        ("min_roc_auc", ("test_metrics", "roc_auc")),
        ("min_pr_auc", ("test_metrics", "pr_auc")),
        ("max_ece", ("test_metrics", "ece_equal_mass")),
        ("max_fairness_disparity", ("fairness",)),
        ("max_fairness_disparity", ("fairness", "region", "disparities")),
        ("min_slice_recall", ("slices",)),
        ("max_single_feature_auc", ("leakage",)),
    ],
)
def test_deleting_a_gates_evidence_fails_it_closed(gate, path):
    evidence = good_evidence()
    node = evidence
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    results = by_name(evaluate_gates(evidence, THRESHOLDS))
    assert not results[gate].passed
    assert results[gate].value is None
    assert results[gate].reason == "missing evidence: " + ".".join(path)


def test_whole_test_metrics_missing_fails_every_metric_gate():
    evidence = good_evidence()
    del evidence["test_metrics"]
    results = by_name(evaluate_gates(evidence, THRESHOLDS))
    for gate in ("min_roc_auc", "min_pr_auc", "max_ece"):
        assert not results[gate].passed
        assert results[gate].reason == "missing evidence: test_metrics"


def test_null_or_nan_evidence_fails_closed():
    evidence = good_evidence()
    evidence["test_metrics"]["roc_auc"] = {"value": float("nan"), "ci_low": 0.0, "ci_high": 1.0}
    evidence["fairness"]["region"]["disparities"]["equalized_odds_difference"] = None
    results = by_name(evaluate_gates(evidence, THRESHOLDS))
    assert not results["min_roc_auc"].passed
    assert results["min_roc_auc"].reason.startswith("not a number: test_metrics.roc_auc")
    assert not results["max_fairness_disparity"].passed
    assert results["max_fairness_disparity"].reason == (
        "missing evidence: fairness.region.disparities.equalized_odds_difference"
    )


def test_nothing_to_judge_passes_with_a_reason():
    evidence = good_evidence()
    evidence["fairness"] = {}
    evidence["slices"] = [s for s in evidence["slices"] if s["kind"] == "score_decile"]
    results = by_name(evaluate_gates(evidence, THRESHOLDS))
    assert results["max_fairness_disparity"].passed
    assert results["max_fairness_disparity"].reason == "no sensitive attribute declared"
    assert results["min_slice_recall"].passed
    assert results["min_slice_recall"].value is None


def test_gates_use_point_values_not_interval_bounds():
    evidence = good_evidence()
    evidence["test_metrics"]["roc_auc"] = {"value": 0.76, "ci_low": 0.60, "ci_high": 0.90}
    assert by_name(evaluate_gates(evidence, THRESHOLDS))["min_roc_auc"].passed


def test_evidence_is_not_modified():
    evidence = good_evidence()
    before = copy.deepcopy(evidence)
    evaluate_gates(evidence, THRESHOLDS)
    assert evidence == before


def test_bad_thresholds_and_evidence_are_rejected():
    with pytest.raises(ValidationError, match="min_roc_auc"):
        GateThresholds(min_roc_auc=1.5)
    with pytest.raises(ValidationError, match="unknown_gate"):
        GateThresholds(unknown_gate=1)
    with pytest.raises(TypeError, match="evidence must be a mapping"):
        evaluate_gates([("test_rows", 10)], THRESHOLDS)
