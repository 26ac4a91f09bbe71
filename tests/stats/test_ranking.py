"""One-sort ROC-AUC and average precision against scikit-learn, ties included."""

import math

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.metrics import average_precision_score, roc_auc_score

from binclf.stats.ranking import roc_auc_and_average_precision, roc_auc_logit_interval


@pytest.mark.parametrize(("rate", "decimals"), [(0.02, 3), (0.5, 1), (0.97, 2), (0.1, 12)])
def test_both_match_scikit_learn(rate, decimals):
    rng = np.random.default_rng(7)
    p = np.round(rng.beta(1.0, 5.0, 5000), decimals)  # few decimals: many ties
    y = rng.random(5000) < np.clip(p + rate - 0.1, 0.01, 0.99)
    auc, ap = roc_auc_and_average_precision(y, p)
    assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert ap == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_undefined_cases_are_nan():
    p = np.array([0.2, 0.4, 0.9])
    assert all(map(math.isnan, roc_auc_and_average_precision(np.zeros(3), p)))
    auc, ap = roc_auc_and_average_precision(np.ones(3), p)
    assert math.isnan(auc) and ap == pytest.approx(1.0)
    with pytest.raises(ValueError, match="labels have shape"):
        roc_auc_and_average_precision(np.ones(2), p)


def test_logit_interval_is_delongs_variance_on_the_logit_scale():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.round(rng.random(400) * 0.5 + 0.3 * y, 2)  # ties
    positives, negatives = p[y == 1], p[y == 0]
    # DeLong's placement values, pair by pair.
    v10 = np.array([np.mean((s > negatives) + 0.5 * (s == negatives)) for s in positives])
    v01 = np.array([np.mean((positives > s) + 0.5 * (positives == s)) for s in negatives])
    auc = v10.mean()
    se = np.sqrt(v10.var(ddof=1) / len(v10) + v01.var(ddof=1) / len(v01)) / (auc * (1 - auc))
    value, low, high = roc_auc_logit_interval(y, p, alpha=0.05)
    assert value == pytest.approx(roc_auc_score(y, p))
    assert low == pytest.approx(expit(logit(auc) - 1.959964 * se))
    assert high == pytest.approx(expit(logit(auc) + 1.959964 * se))
    assert roc_auc_logit_interval(y, p, np.full(400, 3.0), alpha=0.05) == pytest.approx(
        (value, low, high)
    )


def test_weighted_logit_interval_is_centred_on_sklearns_weighted_auc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500) * 0.5 + 0.3 * y, 2)
    w = rng.uniform(0.2, 3.0, 500)
    value, low, high = roc_auc_logit_interval(y, p, w, alpha=0.05)
    assert value == pytest.approx(roc_auc_score(y, p, sample_weight=w))
    assert low < value < high
    assert math.isnan(roc_auc_logit_interval(np.ones(5), p[:5], alpha=0.05)[1])
    assert roc_auc_logit_interval(np.array([0, 1]), np.array([0.1, 0.9]), alpha=0.05) == (
        1.0,
        1.0,
        1.0,
    )
