import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from binclf.register.comparison import (
    ComparisonError,
    decide_promotion,
    paired_bootstrap_difference,
)
from binclf.register.gates import GateResult
from binclf.stats.bootstrap import bootstrap_indices, percentile_interval
from binclf.stats.metrics import PredictionInputError

SKLEARN = {
    "pr_auc": (average_precision_score, 1.0),
    "roc_auc": (roc_auc_score, 1.0),
    "log_loss": (log_loss, -1.0),
    "brier": (brier_score_loss, -1.0),
}
PASSING = [
    GateResult("min_roc_auc", True, 0.9, 0.7, "0.9 >= 0.7"),
    GateResult("max_ece", True, 0.01, 0.05, "0.01 <= 0.05"),
]


def scores(rng, y: np.ndarray, separation: float) -> np.ndarray:
    """Probabilities of a model whose quality is set by `separation` (same for equal values)."""
    logit = separation * (y - 0.5) + rng.normal(0, 1, len(y)) - 1.0
    return np.round(1 / (1 + np.exp(-logit)), 3)


def labels(rng, n: int, prevalence: float = 0.3) -> np.ndarray:
    return (rng.random(n) < prevalence).astype(np.int8)


@pytest.mark.parametrize("metric", list(SKLEARN))
def test_difference_matches_sklearn_oriented_so_positive_means_challenger_better(metric):
    rng = np.random.default_rng(0)
    y = labels(rng, 400)
    better, worse = scores(rng, y, 2.5), scores(rng, y, 1.0)
    function, sign = SKLEARN[metric]
    result = paired_bootstrap_difference(y, better, worse, metric=metric, n_boot=20)
    assert result["value"] == pytest.approx(sign * (function(y, better) - function(y, worse)))
    assert result["value"] > 0


@pytest.mark.parametrize("metric", list(SKLEARN))
def test_interval_equals_paired_resampling_and_recomputing(metric):
    rng = np.random.default_rng(1)
    y = labels(rng, 300)
    p_challenger, p_champion = scores(rng, y, 2.0), scores(rng, y, 1.8)
    n_boot, seed, alpha = 40, 7, 0.1
    function, sign = SKLEARN[metric]
    differences = [
        sign * (function(y[idx], p_challenger[idx]) - function(y[idx], p_champion[idx]))
        for idx in bootstrap_indices(len(y), n_boot, seed)  # rows resampled, classes free
    ]
    low, high = percentile_interval(np.array(differences), alpha)
    result = paired_bootstrap_difference(
        y, p_challenger, p_champion, metric=metric, n_boot=n_boot, seed=seed, alpha=alpha
    )
    assert result["ci_low"] == pytest.approx(low)
    assert result["ci_high"] == pytest.approx(high)


def test_clearly_worse_challenger_is_rejected_as_inferior():
    rng = np.random.default_rng(2)
    y = labels(rng, 1_000)
    challenger, champion = scores(rng, y, 0.8), scores(rng, y, 3.0)
    comparison = paired_bootstrap_difference(y, challenger, champion, metric="roc_auc")
    assert comparison["ci_high"] < 0
    decision = decide_promotion(PASSING, comparison, margin=0.01)
    assert decision.decision == "reject"
    assert not decision.promote
    assert decision.reasons == ("INFERIOR",)


def test_clearly_better_challenger_is_promoted_as_better():
    rng = np.random.default_rng(3)
    y = labels(rng, 1_000)
    comparison = paired_bootstrap_difference(
        y, scores(rng, y, 3.0), scores(rng, y, 0.8), metric="pr_auc"
    )
    decision = decide_promotion(PASSING, comparison, margin=0.01, require_improvement=True)
    assert decision.promote
    assert decision.reasons == ("BETTER",)


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc"])
def test_identical_models_are_falsely_promoted_at_most_alpha_of_the_time(metric):
    """Two models of equal true quality (independent noise): requiring a shown improvement
    should promote the challenger in at most alpha of the simulations (plus binomial slack)."""
    rng = np.random.default_rng(4)
    n_sims, alpha = 200, 0.1
    promoted = 0
    for sim in range(n_sims):
        y = labels(rng, 300)
        comparison = paired_bootstrap_difference(
            y,
            scores(rng, y, 2.0),
            scores(rng, y, 2.0),
            metric=metric,
            n_boot=100,
            seed=sim,
            alpha=alpha,
        )
        promoted += decide_promotion(PASSING, comparison, require_improvement=True).promote
    slack = 2 * np.sqrt(alpha * (1 - alpha) / n_sims)
    assert promoted / n_sims <= alpha + slack, promoted


def test_failed_gate_rejects_even_a_better_challenger():
    gates = [*PASSING, GateResult("min_pr_auc", False, 0.05, 0.1, "0.05 < 0.1")]
    comparison = {"value": 0.05, "ci_low": 0.02, "ci_high": 0.08}
    decision = decide_promotion(gates, comparison, require_improvement=True)
    assert decision.decision == "reject"
    assert decision.reasons == ("GATE_FAILED:min_pr_auc", "BETTER")


def test_without_a_champion_passing_every_gate_promotes():
    decision = decide_promotion(PASSING, None)
    assert decision.promote
    assert decision.reasons == ("NO_CHAMPION",)
    failing = [GateResult("min_test_rows", False, None, 500, "missing evidence: test_rows")]
    rejected = decide_promotion(failing, None)
    assert rejected.reasons == ("GATE_FAILED:min_test_rows", "NO_CHAMPION")
    assert not rejected.promote


def test_no_gates_evaluated_rejects():
    decision = decide_promotion([], None)
    assert decision.decision == "reject"
    assert decision.reasons == ("NO_GATES", "NO_CHAMPION")


@pytest.mark.parametrize(
    ("margin", "require_improvement", "expected"),
    [
        (0.02, False, ("promote", "NON_INFERIOR")),
        (0.005, False, ("reject", "INFERIOR")),
        (0.02, True, ("reject", "NOT_BETTER")),
    ],
)
def test_margin_and_required_improvement_read_the_lower_bound(
    margin, require_improvement, expected
):
    comparison = {"value": 0.001, "ci_low": -0.01, "ci_high": 0.012}
    decision = decide_promotion(
        PASSING, comparison, margin=margin, require_improvement=require_improvement
    )
    assert (decision.decision, decision.reasons[-1]) == expected


def test_decision_is_json_ready():
    decision = decide_promotion(PASSING, {"value": 0.01, "ci_low": 0.001, "ci_high": 0.02})
    payload = json.loads(json.dumps(decision.to_dict(), allow_nan=False))
    assert payload["decision"] == "promote"
    assert payload["reasons"] == ["NON_INFERIOR"]
    assert payload["gates"][0]["name"] == "min_roc_auc"
    assert payload["comparison"]["ci_low"] == 0.001


def test_bad_input_is_rejected_with_a_clear_error():
    y = np.array([0, 1, 0, 1], dtype=np.int8)
    p = np.array([0.2, 0.8, 0.3, 0.6])
    with pytest.raises(ComparisonError, match="metric must be one of"):
        paired_bootstrap_difference(y, p, p, metric="accuracy")
    with pytest.raises(PredictionInputError, match="y has 4 rows but p has 3"):
        paired_bootstrap_difference(y, p, p[:3])
    with pytest.raises(ComparisonError, match="margin must be a finite number >= 0"):
        decide_promotion(PASSING, None, margin=-0.1)
    with pytest.raises(ComparisonError, match=r"comparison\['ci_low'\] must be a finite number"):
        decide_promotion(PASSING, {"value": 0.0, "ci_low": float("nan"), "ci_high": 0.1})
