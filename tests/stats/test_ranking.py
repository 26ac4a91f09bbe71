"""One-sort ROC-AUC and average precision against scikit-learn, ties included."""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from binclf.stats.ranking import roc_auc_and_average_precision


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
