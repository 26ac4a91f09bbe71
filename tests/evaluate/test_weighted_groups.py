"""Row weights in slices, fairness and the champion comparison equal scikit-learn's and
fairlearn's `sample_weight` values."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    equal_opportunity_difference,
    equalized_odds_difference,
)
from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score

from binclf.evaluate.fairness import fairness_report
from binclf.evaluate.slices import slice_metrics
from binclf.register.comparison import paired_bootstrap_difference
from binclf.stats.metrics import expected_calibration_error

THRESHOLD = 0.4


def _weighted_rows(n: int = 3_000, seed: int = 4):
    rng = np.random.default_rng(seed)
    group = rng.choice(np.array(["a", "b", "c"]), n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < np.where(group == "a", 0.3, 0.2)).astype(np.int8)
    p = np.clip(0.25 + 0.3 * y + rng.normal(0, 0.15, n), 0, 1).round(3)
    # Weights that change every rate: heavy on the group's false positives and missed positives.
    w = rng.uniform(0.2, 1.0, n) * np.where((p >= THRESHOLD) != (y == 1), 4.0, 1.0)
    return pl.DataFrame({"segment": group}), y, p, w


def _fpr(y, flagged, w):
    negative = y == 0
    return np.sum(w[negative] * flagged[negative]) / np.sum(w[negative])


def test_weighted_slice_values_equal_sklearn_with_sample_weight():
    frame, y, p, w = _weighted_rows()
    rows = slice_metrics(
        frame, y, p, threshold=THRESHOLD, columns=["segment"], n_boot=20, weights=w
    )
    unweighted = slice_metrics(frame, y, p, threshold=THRESHOLD, columns=["segment"], n_boot=20)
    segment = frame["segment"].to_numpy()
    flagged = p >= THRESHOLD
    judged = [row for row in rows if row["column"] == "segment"]
    assert len(judged) == 3
    for row in judged:
        mask = segment == row["group"]
        yg, fg, pg, wg = y[mask], flagged[mask], p[mask], w[mask]
        assert row["rows"] == mask.sum() and row["positives"] == yg.sum()
        assert row["recall"]["value"] == pytest.approx(recall_score(yg, fg, sample_weight=wg))
        assert row["precision"]["value"] == pytest.approx(precision_score(yg, fg, sample_weight=wg))
        assert row["fpr"]["value"] == pytest.approx(_fpr(yg, fg, wg))
        assert row["selection_rate"]["value"] == pytest.approx(np.average(fg, weights=wg))
        assert row["prevalence"]["value"] == pytest.approx(np.average(yg, weights=wg))
        assert row["roc_auc"]["value"] == pytest.approx(roc_auc_score(yg, pg, sample_weight=wg))
        assert row["recall"]["ci_low"] <= row["recall"]["value"] <= row["recall"]["ci_high"]
    # The weights matter here: the unweighted recall of a group differs.
    assert by_group(unweighted)["a"]["recall"]["value"] != pytest.approx(
        by_group(judged)["a"]["recall"]["value"]
    )


def by_group(rows):
    return {row["group"]: row for row in rows if row["column"] == "segment"}


def test_weighted_fairness_equals_fairlearn_and_sklearn_with_sample_weight():
    frame, y, p, w = _weighted_rows()
    sensitive = frame["segment"]
    report = fairness_report(y, p, sensitive, threshold=THRESHOLD, n_boot=20, weights=w)
    flagged = p >= THRESHOLD
    s = sensitive.to_numpy()
    kwargs = {"sensitive_features": s, "sample_weight": w}
    disparities = report["disparities"]
    assert disparities["equalized_odds_difference"]["value"] == pytest.approx(
        equalized_odds_difference(y, flagged, **kwargs)
    )
    assert disparities["demographic_parity_difference"]["value"] == pytest.approx(
        demographic_parity_difference(y, flagged, **kwargs)
    )
    assert disparities["equal_opportunity_difference"]["value"] == pytest.approx(
        equal_opportunity_difference(y, flagged, **kwargs)
    )
    for row in report["groups"]:
        mask = s == row["group"]
        yg, fg, wg = y[mask], flagged[mask], w[mask]
        assert row["tpr"]["value"] == pytest.approx(recall_score(yg, fg, sample_weight=wg))
        assert row["fpr"]["value"] == pytest.approx(_fpr(yg, fg, wg))
        assert row["ece"]["value"] == pytest.approx(
            expected_calibration_error(yg, p[mask], weights=wg, debiased=True)
        )


def test_weighted_champion_comparison_equals_sklearn_with_sample_weight():
    _, y, p, w = _weighted_rows()
    rng = np.random.default_rng(9)
    champion = np.clip(p + rng.normal(0, 0.2, len(p)), 0, 1)
    result = paired_bootstrap_difference(y, p, champion, metric="pr_auc", n_boot=20, weights=w)
    expected = average_precision_score(y, p, sample_weight=w) - average_precision_score(
        y, champion, sample_weight=w
    )
    assert result["value"] == pytest.approx(expected)
