"""The promotion headline states both models' values, the paired interval, the bound and the
verdict that the decision's reason code stands for."""

from datetime import date

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, log_loss

from binclf.register.comparison import decide_promotion, metric_value
from binclf.register.gates import GateResult
from binclf.register.headline import ComparedModels, promotion_headline, rejection_line

PASSING = [GateResult("min_roc_auc", True, 0.9, 0.7, "0.9 >= 0.7")]
WINDOW = (date(2026, 4, 21), date(2026, 4, 30))


def _models(**changes) -> ComparedModels:
    values = {
        "challenger": "v0002",
        "champion": "v0001",
        "metric": "pr_auc",
        "challenger_value": 0.1434,
        "champion_value": 0.0912,
        "rows": 8877,
        "window": WINDOW,
    }
    return ComparedModels(**{**values, **changes})


def test_a_non_inferior_challenger_reads_as_the_promotion_it_is() -> None:
    decision = decide_promotion(
        PASSING, {"value": 0.0522, "ci_low": 0.0271, "ci_high": 0.0834}, margin=0.01
    )

    assert promotion_headline(decision, _models()) == (
        "PROMOTE v0002 over v0001 — PR-AUC 0.143 vs 0.091 on 8,877 shared test rows "
        "(04-21..04-30); Δ +0.052 [+0.027, +0.083] > −0.01 → non-inferior"
    )


def test_an_inferior_challenger_reads_as_a_rejection_with_its_bound() -> None:
    decision = decide_promotion(
        PASSING, {"value": -0.011, "ci_low": -0.03, "ci_high": 0.005}, margin=0.01
    )

    line = promotion_headline(decision, _models(challenger_value=0.080))

    assert line.startswith("REJECT v0002 against v0001 — PR-AUC 0.080 vs 0.091")
    assert "Δ −0.011 [−0.030, +0.005] ≤ −0.01 → worse by more than the margin" in line


def test_a_required_improvement_is_judged_against_zero_and_failed_gates_are_named() -> None:
    failed = [*PASSING, GateResult("max_ece", False, 0.09, 0.05, "0.09 > 0.05")]
    decision = decide_promotion(
        failed,
        {"value": 0.02, "ci_low": -0.001, "ci_high": 0.04},
        margin=0.01,
        require_improvement=True,
    )

    line = promotion_headline(decision, _models(window=None))

    assert "shared test rows;" in line  # no window for snapshot data
    assert "≤ 0 → not shown better; gates failed: max_ece" in line
    assert line.startswith("REJECT")


def test_without_a_champion_the_headline_has_one_value() -> None:
    decision = decide_promotion(PASSING, None)

    line = promotion_headline(decision, _models(champion=None, champion_value=None))

    assert line == "PROMOTE v0002 (no champion) — PR-AUC 0.143 on 8,877 test rows (04-21..04-30)"


@pytest.mark.parametrize(("metric", "reference"), [("pr_auc", average_precision_score)])
def test_metric_value_is_the_metric_the_comparison_uses(metric, reference) -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.1).astype(np.int8)
    p = np.clip(0.1 + 0.3 * y + rng.normal(0, 0.15, len(y)), 0.001, 0.999)

    assert metric_value(y, p, metric=metric) == pytest.approx(reference(y, p))
    assert metric_value(y, p, metric="log_loss") == pytest.approx(log_loss(y, p))


def test_a_refused_comparison_names_the_champion_and_the_reason() -> None:
    reason = "only 40 test rows were not seen by v0001 (at least 100 needed)"
    decision = decide_promotion(PASSING, None, margin=0.01, refusal=reason)

    line = promotion_headline(decision, _models(champion_value=None))

    assert line == f"REJECT v0002 against v0001 — no comparison: {reason}"
    assert decision.reasons[-1] == "COMPARISON_REFUSED"


def test_the_weighted_metric_value_equals_scikit_learns() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 400), 0.01, 0.99)
    w = rng.uniform(0.2, 3.0, 400)

    value = metric_value(y, p, metric="log_loss", weights=w)

    assert value == pytest.approx(log_loss(y, p, sample_weight=w), rel=1e-9)


def test_a_rejection_is_one_line_naming_every_failed_gate_and_its_reason() -> None:
    gates = [
        *PASSING,
        GateResult("max_fairness_disparity", False, 0.2168, 0.2, "0.2168 > 0.2 (worst: sex)"),
        GateResult("max_ece", False, 0.07, 0.05, "0.07 > 0.05"),
    ]

    line = rejection_line("v0003", gates)

    assert line is not None and "\n" not in line
    assert line.startswith("REJECT v0003 — 2 of 3 gates failed: ")
    assert "max_fairness_disparity: 0.2168 > 0.2 (worst: sex)" in line
    assert "max_ece: 0.07 > 0.05" in line and "min_roc_auc" not in line
    assert rejection_line("v0003", PASSING) is None
