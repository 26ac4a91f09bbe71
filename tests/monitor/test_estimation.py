"""Confidence-based performance estimation against a simulated truth and known answers."""

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from binclf.monitor.estimation import (
    EstimationInputError,
    calibration_check,
    partition_performance,
)

THRESHOLD = 0.1


def _partition(rng, *, shift, n=4000, concept=0.0):
    """Rows with x ~ N(shift, 1), true P(y|x) = sigmoid(-3 + 1.5 x + concept); p is the model."""
    x = rng.normal(shift, 1.0, n)
    p = 1 / (1 + np.exp(-(-3 + 1.5 * x)))
    truth = 1 / (1 + np.exp(-(-3 + 1.5 * x + concept)))
    return p, (rng.random(n) < truth).astype(float)


def test_expected_confusion_matrix_is_the_sum_of_probabilities():
    p = np.array([0.9, 0.6, 0.2, 0.05, 0.5])
    result = partition_performance(p, 0.5, n_sim=50, seed=1).estimated
    assert result.true_positives == pytest.approx(0.9 + 0.6 + 0.5)
    assert result.false_positives == pytest.approx(0.1 + 0.4 + 0.5)
    assert result.false_negatives == pytest.approx(0.25)
    assert result.true_negatives == pytest.approx(0.8 + 0.95)
    assert result.recall.value == pytest.approx(2.0 / 2.25)
    assert result.precision.value == pytest.approx(2.0 / 3.0)
    assert result.expected_cost.value == pytest.approx((1 * 1.0 + 10 * 0.25) / 5)


def test_realized_metrics_match_scikit_learn_and_blended_equals_realized_when_all_labeled():
    rng = np.random.default_rng(3)
    p, y = _partition(rng, shift=0.5)
    result = partition_performance(p, THRESHOLD, y=y, n_sim=100, seed=2)
    flagged = p >= THRESHOLD
    assert result.labeled_share == 1.0
    assert result.realized.recall.value == pytest.approx(recall_score(y, flagged))
    assert result.realized.precision.value == pytest.approx(precision_score(y, flagged))
    assert result.realized.roc_auc.value == pytest.approx(roc_auc_score(y, p))
    assert result.realized.pr_auc == pytest.approx(average_precision_score(y, p))
    assert result.blended.recall.value == pytest.approx(result.realized.recall.value)
    assert result.blended.true_positives == result.realized.true_positives


def test_intervals_cover_realized_values_under_covariate_shift():
    rng = np.random.default_rng(11)
    covered = {"recall": 0, "precision": 0}
    for i in range(100):
        p, y = _partition(rng, shift=rng.uniform(-0.5, 1.0))
        estimate = partition_performance(p, THRESHOLD, n_sim=300, seed=i).estimated
        truth = partition_performance(p, THRESHOLD, y=y, n_sim=10, seed=i).realized
        covered["recall"] += estimate.recall.covers(truth.recall.value)
        covered["precision"] += estimate.precision.covers(truth.precision.value)
    assert covered["recall"] >= 90, covered
    assert covered["precision"] >= 90, covered


def test_calibration_check_passes_when_calibrated_and_flags_concept_drift():
    rng = np.random.default_rng(5)
    passed = sum(
        calibration_check(p, y.astype(bool), p >= THRESHOLD).reliable
        for p, y in (_partition(rng, shift=0.3) for _ in range(50))
    )
    assert passed >= 47
    flagged = 0
    for _ in range(20):
        p, y = _partition(rng, shift=0.3, concept=1.0)
        flagged += not partition_performance(p, THRESHOLD, y=y, n_sim=20).reliable
    assert flagged == 20


def test_partially_labeled_partition_blends_labels_and_estimates():
    rng = np.random.default_rng(8)
    p, y = _partition(rng, shift=0.0)
    labels = y.copy()
    labels[2000:] = np.nan
    result = partition_performance(p, THRESHOLD, y=labels, n_sim=200)
    flagged = p >= THRESHOLD
    expected_tp = y[:2000][flagged[:2000]].sum() + p[2000:][flagged[2000:]].sum()
    assert result.n_labeled == 2000 and result.labeled_share == 0.5
    assert result.blended.true_positives == pytest.approx(expected_tp)
    width = result.blended.recall.high - result.blended.recall.low
    assert width < result.estimated.recall.high - result.estimated.recall.low


def test_rejects_bad_inputs():
    with pytest.raises(EstimationInputError):
        partition_performance(np.array([0.2, 1.5]), 0.5)
    with pytest.raises(EstimationInputError):
        partition_performance(np.array([0.2, 0.5]), 0.5, y=np.array([0.0, 2.0]))


@pytest.mark.parametrize("positive_rate", [0.03, 0.5, 0.97])
def test_roc_auc_with_ties_matches_scikit_learn_whichever_class_is_rarer(positive_rate):
    rng = np.random.default_rng(5)
    p = np.round(rng.beta(1.0, 6.0, 3000), 2)  # many ties
    y = (rng.random(3000) < positive_rate).astype(float)
    result = partition_performance(p, THRESHOLD, y=y, n_sim=20, seed=0)
    assert result.realized.roc_auc.value == pytest.approx(roc_auc_score(y, p))
    assert result.blended.roc_auc.value == pytest.approx(roc_auc_score(y, p))


def test_simulated_auc_of_a_fully_open_partition_centres_on_the_expected_auc():
    # with y ~ Bernoulli(p), the mean AUC over draws is close to the AUC of a large draw
    rng = np.random.default_rng(8)
    p = rng.beta(1.0, 8.0, 20_000)
    big = np.tile(p, 20)
    expected = roc_auc_score(rng.random(big.size) < big, big)
    estimate = partition_performance(p, THRESHOLD, n_sim=200, seed=4).estimated.roc_auc
    assert estimate.value == pytest.approx(expected, abs=0.005)
    assert estimate.low < expected < estimate.high
