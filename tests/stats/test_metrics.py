"""Metrics with bootstrap intervals, and the shared bootstrap helpers they rest on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from binclf.stats.bootstrap import (
    BootstrapError,
    bootstrap_indices,
    bootstrap_weighted_means,
    iter_bootstrap_counts,
    iter_bootstrap_indices,
    percentile_interval,
)
from binclf.stats.metrics import (
    PredictionInputError,
    calibration_summary,
    evaluate_predictions,
    expected_calibration_error,
    reliability_bins,
)

METRIC_KEYS = {
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "ece_equal_mass",
    "precision",
    "recall",
    "f1",
    "fpr",
    "fnr",
    "balanced_accuracy",
    "prevalence",
}


def _simulated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from calibrated probabilities, rounded to 3 decimals so that there are ties."""
    rng = np.random.default_rng(seed)
    p = np.round(rng.beta(1.0, 6.0, n), 3)
    y = (rng.uniform(size=n) < p).astype(np.int8)
    return y, p


@pytest.mark.parametrize("weighted", [False, True])
def test_point_values_match_sklearn(weighted: bool) -> None:
    y, p = _simulated(3_000, seed=1)
    weights = np.random.default_rng(2).uniform(0.2, 3.0, len(y)) if weighted else None
    threshold = 0.2
    flagged = p >= threshold
    result = evaluate_predictions(y, p, threshold=threshold, weights=weights, n_boot=5)

    expected = {
        "roc_auc": skm.roc_auc_score(y, p, sample_weight=weights),
        "pr_auc": skm.average_precision_score(y, p, sample_weight=weights),
        "log_loss": skm.log_loss(y, p, sample_weight=weights),
        "brier": skm.brier_score_loss(y, p, sample_weight=weights),
        "precision": skm.precision_score(y, flagged, sample_weight=weights),
        "recall": skm.recall_score(y, flagged, sample_weight=weights),
        "f1": skm.f1_score(y, flagged, sample_weight=weights),
        "balanced_accuracy": skm.balanced_accuracy_score(y, flagged, sample_weight=weights),
    }
    tn, fp, fn, tp = skm.confusion_matrix(y, flagged, sample_weight=weights).ravel()
    expected["fpr"] = fp / (fp + tn)
    expected["fnr"] = fn / (fn + tp)
    expected["prevalence"] = np.average(y, weights=weights)
    expected["ece"] = expected_calibration_error(y, p, weights=weights, debiased=True)
    expected["ece_equal_mass"] = expected_calibration_error(
        y, p, weights=weights, binning="equal_mass", debiased=True
    )
    for name, value in expected.items():
        assert result[name]["value"] == pytest.approx(value, rel=1e-9, abs=1e-12), name

    tn, fp, fn, tp = skm.confusion_matrix(y, flagged).ravel()
    assert result["confusion"] == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def test_result_has_every_metric_as_json_ready_estimate_with_interval_around_it() -> None:
    y, p = _simulated(4_000, seed=3)
    result = evaluate_predictions(y, p, threshold=0.15, n_boot=60, seed=0)

    assert set(result) == METRIC_KEYS | {"confusion"}
    assert json.loads(json.dumps(result)) == result
    for name in METRIC_KEYS:
        estimate = result[name]
        assert all(type(estimate[k]) is float for k in ("value", "ci_low", "ci_high")), name
        assert estimate["ci_low"] <= estimate["value"] <= estimate["ci_high"], name
        assert estimate["ci_low"] < estimate["ci_high"], name
    assert all(type(count) is int for count in result["confusion"].values())
    assert sum(result["confusion"].values()) == len(y)


def test_intervals_are_reproducible_with_a_seed_and_narrow_with_more_rows() -> None:
    y, p = _simulated(8_000, seed=4)
    first = evaluate_predictions(y, p, threshold=0.2, n_boot=40, seed=7)
    again = evaluate_predictions(y, p, threshold=0.2, n_boot=40, seed=7)
    fewer = evaluate_predictions(y[:800], p[:800], threshold=0.2, n_boot=40, seed=7)

    assert first == again
    for name in ("roc_auc", "pr_auc", "brier", "recall"):
        width = first[name]["ci_high"] - first[name]["ci_low"]
        assert width < fewer[name]["ci_high"] - fewer[name]["ci_low"], name


def test_swapping_labels_and_mirroring_probabilities_keeps_roc_auc() -> None:
    y, p = _simulated(2_000, seed=5)
    original = evaluate_predictions(y, p, threshold=0.5, n_boot=5)["roc_auc"]["value"]
    mirrored = evaluate_predictions(1 - y, 1.0 - p, threshold=0.5, n_boot=5)["roc_auc"]["value"]
    reversed_scores = evaluate_predictions(y, 1.0 - p, threshold=0.5, n_boot=5)["roc_auc"]["value"]

    assert mirrored == pytest.approx(original, abs=1e-12)
    assert reversed_scores == pytest.approx(1.0 - original, abs=1e-12)


def test_rare_positives_are_present_in_every_resample() -> None:
    y = np.zeros(2_000, dtype=np.int8)
    y[:4] = 1
    p = np.linspace(0.0, 1.0, len(y))
    result = evaluate_predictions(y, p, threshold=0.5, n_boot=50, seed=1)

    assert np.isfinite([result["roc_auc"]["ci_low"], result["roc_auc"]["ci_high"]]).all()
    for indices in iter_bootstrap_indices(len(y), 20, 0, strata=y):
        assert np.sum(y[indices]) == 4


def test_ece_uses_equal_width_bins_and_measures_the_gap() -> None:
    # Bin [0.2, 0.3): predicted 0.25, observed 0.5; bin [0.9, 1.0]: predicted 0.95 and 1.0,
    # observed 1.0 -> gaps 0.25 on 4 rows and 0.025 on 2 rows.
    p = np.array([0.25, 0.25, 0.25, 0.25, 0.95, 1.0])
    y = np.array([1, 0, 1, 0, 1, 1])

    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx((4 * 0.25 + 2 * 0.025) / 6)
    bins = reliability_bins(y, p, n_bins=10)
    np.testing.assert_allclose(bins.mean_predicted, [0.25, 0.975])
    np.testing.assert_allclose(bins.observed_rate, [0.5, 1.0])


def test_ece_is_near_zero_for_calibrated_probabilities_and_large_for_shifted_ones() -> None:
    y, p = _simulated(50_000, seed=6)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.clip(p + 0.1, 0, 1)) > 0.08


def test_equal_mass_ece_matches_hand_computed_values() -> None:
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.9])
    # Equal mass, 3 bins: {.1, .2} gap .15, {.3, .4} gap |.35 - .5|, {.6, .9} gap .25.
    assert expected_calibration_error(y, p, 3, binning="equal_mass") == pytest.approx(1.1 / 6)
    # Equal width, 3 bins: {.1, .2, .3} gap |.2 - 1/3|, {.4, .6} gap 0, {.9} gap .1.
    assert expected_calibration_error(y, p, 3) == pytest.approx(0.5 / 6)
    # Weights move the edge: half the weight on .9, so the bins are {.1 ... .6} and {.9}.
    weights = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 5.0])
    assert expected_calibration_error(
        y, p, 2, weights=weights, binning="equal_mass"
    ) == pytest.approx((5 * abs(1.6 / 5 - 0.4) + 5 * 0.1) / 10)
    # Tied probabilities share a bin: {.2, .2, .2} and {.8}.
    ties = expected_calibration_error(
        np.array([0, 0, 1, 1]), np.array([0.2, 0.2, 0.2, 0.8]), 2, binning="equal_mass"
    )
    assert ties == pytest.approx((3 * abs(0.2 - 1 / 3) + 0.2) / 4)


def test_equal_mass_ece_sees_a_miscalibration_at_low_prevalence_that_equal_width_averages_away():
    rng = np.random.default_rng(12)
    truth = rng.beta(0.5, 25.0, 200_000)  # about 2 % positive
    y = (rng.uniform(size=len(truth)) < truth).astype(np.int8)
    flattened = 0.3 * truth + 0.7 * truth.mean()  # right on average, ranking squeezed
    width = expected_calibration_error(y, flattened)
    mass = expected_calibration_error(y, flattened, binning="equal_mass")
    result = evaluate_predictions(y, flattened, threshold=0.05, n_boot=2)
    assert result["ece_equal_mass"]["value"] == pytest.approx(
        expected_calibration_error(y, flattened, binning="equal_mass", debiased=True)
    )
    assert mass > 0.01 > width * 2


def test_calibration_summary_matches_sklearn() -> None:
    y, p = _simulated(1_000, seed=8)
    summary = calibration_summary(y, p)
    assert summary["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert summary["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert summary["ece"] == expected_calibration_error(y, p)


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([0, 1, 1], [0.1, 1.2, 0.3], r"probabilities in \[0, 1\]"),
        ([0, 1], [0.1, 0.2, 0.3], "y has 2 rows but p has 3"),
        ([0, 0, 0], [0.1, 0.2, 0.3], "no positive rows"),
    ],
)
def test_bad_inputs_are_rejected_with_the_reason(y, p, message) -> None:
    with pytest.raises(PredictionInputError, match=message):
        evaluate_predictions(np.array(y), np.array(p), threshold=0.5, n_boot=2)


def test_bootstrap_helpers_draw_the_same_resamples() -> None:
    rng = np.random.default_rng(0)
    strata = rng.uniform(size=300) < 0.1
    values, weights = rng.normal(size=300), rng.uniform(0.5, 2.0, 300)

    indices = bootstrap_indices(300, 12, 5, strata=strata)
    counts = np.vstack(list(iter_bootstrap_counts(300, 12, 5, strata=strata)))
    means = bootstrap_weighted_means(values, 12, 5, strata=strata, weights=weights)

    assert indices.shape == (12, 300)
    assert np.array_equal(indices, bootstrap_indices(300, 12, 5, strata=strata))
    assert not np.array_equal(indices, bootstrap_indices(300, 12, 6, strata=strata))
    assert (strata[indices].sum(axis=1) == strata.sum()).all()
    for replicate in range(12):
        rows = indices[replicate]
        assert np.array_equal(counts[replicate], np.bincount(rows, minlength=300))
        assert means[replicate] == pytest.approx(np.average(values[rows], weights=weights[rows]))


def test_counts_in_an_order_are_the_same_resamples_rearranged() -> None:
    rng = np.random.default_rng(1)
    strata = rng.uniform(size=500) < 0.2
    order = rng.permutation(500)

    plain = np.vstack(list(iter_bootstrap_counts(500, 9, 3, strata=strata)))
    arranged = np.vstack(list(iter_bootstrap_counts(500, 9, 3, strata=strata, order=order)))

    assert np.array_equal(arranged, plain[:, order])
    with pytest.raises(BootstrapError, match="permutation"):
        next(iter_bootstrap_counts(500, 9, 3, order=order[:10]))


def test_percentile_interval_leaves_out_undefined_replicates() -> None:
    samples = np.r_[np.arange(101, dtype=float), np.nan, np.nan]
    assert percentile_interval(samples, 0.1) == pytest.approx((5.0, 95.0))
    assert np.isnan(percentile_interval(np.array([np.nan]), 0.1)).all()
    with pytest.raises(BootstrapError, match="alpha"):
        percentile_interval(samples, 1.5)
    with pytest.raises(BootstrapError, match="n_boot"):
        bootstrap_indices(10, 0, 0)
