"""The metric engine against scikit-learn, and one engine behind every interval."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from binclf.register.comparison import paired_bootstrap_difference
from binclf.stats.bootstrap import bootstrap_indices, iter_bootstrap_counts, percentile_interval
from binclf.stats.engine import METRICS, EngineError, ScoredRows, replicate_metrics
from binclf.stats.metrics import evaluate_predictions


def _tied(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, probabilities on a coarse grid (many ties, including 0 and 1) and weights."""
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 21, n) / 20
    y = (rng.random(n) < 0.2 + 0.6 * p).astype(np.int8)
    return y, p, rng.uniform(0.1, 4.0, n)


def _sklearn(y, p, threshold, weights) -> dict[str, float]:
    flagged = p >= threshold
    tn, fp, fn, tp = skm.confusion_matrix(y, flagged, sample_weight=weights).ravel()
    return {
        "roc_auc": skm.roc_auc_score(y, p, sample_weight=weights),
        "pr_auc": skm.average_precision_score(y, p, sample_weight=weights),
        "log_loss": skm.log_loss(y, p, sample_weight=weights),
        "brier": skm.brier_score_loss(y, p, sample_weight=weights),
        "precision": skm.precision_score(y, flagged, sample_weight=weights, zero_division=0),
        "recall": skm.recall_score(y, flagged, sample_weight=weights),
        "f1": skm.f1_score(y, flagged, sample_weight=weights, zero_division=0),
        "fpr": fp / (fp + tn),
        "fnr": fn / (fn + tp),
        "balanced_accuracy": skm.balanced_accuracy_score(y, flagged, sample_weight=weights),
    }


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_values_match_sklearn_with_ties_and_weights(weighted: bool, seed: int) -> None:
    y, p, w = _tied(1_500, seed)
    weights = w if weighted else None
    point = ScoredRows.of(y, p, weights, threshold=0.4, n_bins=10).metrics()
    for name, value in _sklearn(y, p, 0.4, weights).items():
        assert point[name][0] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_a_subset_of_rows_matches_sklearn_on_those_rows() -> None:
    y, p, w = _tied(1_000, 3)
    rows = np.flatnonzero(np.random.default_rng(4).random(len(y)) < 0.3)
    point = ScoredRows.of(y, p, w, rows=rows, threshold=0.5).metrics(names=("roc_auc", "pr_auc"))
    expected = _sklearn(y[rows], p[rows], 0.5, w[rows])
    assert point["roc_auc"][0] == pytest.approx(expected["roc_auc"], rel=1e-9)
    assert point["pr_auc"][0] == pytest.approx(expected["pr_auc"], rel=1e-9)


def test_replicates_equal_sklearn_on_the_resampled_rows() -> None:
    y, p, w = _tied(400, 5)
    scored = ScoredRows.of(y, p, w, threshold=0.3, n_bins=10)
    (replicates,) = replicate_metrics([scored], n_boot=6, seed=9, strata=y)
    assert set(replicates) == set(METRICS)
    for b, idx in enumerate(bootstrap_indices(len(y), 6, 9, strata=y)):
        for name, value in _sklearn(y[idx], p[idx], 0.3, w[idx]).items():
            assert replicates[name][b] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_undefined_ranking_metrics_are_nan_and_empty_precision_is_zero() -> None:
    y, p = np.zeros(5, dtype=np.int8), np.linspace(0.1, 0.5, 5)
    point = ScoredRows.of(y, p, threshold=0.9).metrics(names=("roc_auc", "pr_auc", "precision"))
    assert np.isnan(point["roc_auc"][0]) and np.isnan(point["pr_auc"][0])
    assert point["precision"][0] == 0.0
    with pytest.raises(EngineError, match="threshold"):
        ScoredRows.of(y, p).metrics(names=("recall",))


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc"])
def test_paired_comparison_and_single_model_intervals_come_from_the_same_resamples(metric):
    """Against a constant champion (ROC-AUC 0.5, PR-AUC the resample's prevalence), the paired
    difference is the challenger's own replicate minus the champion's: its interval follows from
    the single-model replicates only if both use the same engine and the same resamples."""
    rng = np.random.default_rng(6)
    y = (rng.random(800) < 0.25).astype(np.int8)
    p = np.clip(0.25 + 0.3 * (y - 0.25) + rng.normal(0, 0.2, len(y)), 0, 1).round(2)
    constant = np.full(len(y), 0.5)
    single = evaluate_predictions(y, p, threshold=0.5, n_boot=80, seed=3, alpha=0.1)[metric]
    paired = paired_bootstrap_difference(
        y, p, constant, metric=metric, n_boot=80, seed=3, alpha=0.1
    )
    (own,) = replicate_metrics(
        [ScoredRows.of(y, p)], n_boot=80, seed=3, names=(metric, "prevalence")
    )
    champion = 0.5 if metric == "roc_auc" else own["prevalence"]
    low, high = percentile_interval(own[metric] - champion, 0.1)
    assert (single["ci_low"], single["ci_high"]) == percentile_interval(own[metric], 0.1)
    shift = 0.5 if metric == "roc_auc" else y.mean()
    assert paired["value"] == pytest.approx(single["value"] - shift, abs=1e-12)
    assert paired["ci_low"] == pytest.approx(low, abs=1e-12)
    assert paired["ci_high"] == pytest.approx(high, abs=1e-12)


def test_models_on_the_same_rows_see_the_same_counts() -> None:
    y, p, _ = _tied(300, 7)
    a, b = ScoredRows.of(y, p), ScoredRows.of(y, 1.0 - p)
    first, second = replicate_metrics([a, b], n_boot=5, seed=2, names=("roc_auc",))
    counts = np.vstack(list(iter_bootstrap_counts(len(y), 5, 2)))
    np.testing.assert_allclose(first["roc_auc"], a.metrics(counts, ("roc_auc",))["roc_auc"])
    np.testing.assert_allclose(first["roc_auc"] + second["roc_auc"], 1.0)
