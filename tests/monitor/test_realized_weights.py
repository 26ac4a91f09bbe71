"""The daily performance's realized metrics are weighted by the spec's row weights."""

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_score,
    recall_score,
    roc_auc_score,
)

from binclf.monitor.estimation import EstimationInputError, partition_performance
from binclf.monitor.performance import scored_performance
from binclf.stats.metrics import expected_calibration_error

THRESHOLD = 0.3
COSTS = (1.0, 4.0)


def _day(seed: int = 0, n: int = 3_000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(2.0, 5.0, n)
    y = (rng.random(n) < p).astype(np.int8)
    weight = np.where(y == 1, rng.uniform(1.0, 6.0, n), rng.uniform(0.2, 1.5, n))
    label = pl.Series("label", y).to_list()
    for i in range(0, n, 7):  # every seventh row not labeled yet
        label[i] = None
    return pl.DataFrame(
        {
            "probability": p,
            "decision": np.where(p >= THRESHOLD, "flag", "pass"),
            "label": pl.Series(label, dtype=pl.Int8),
            "weight": weight,
        }
    )


def _performance(frame: pl.DataFrame, weight_column: str | None):
    return scored_performance(
        frame,
        date(2026, 1, 5),
        target="label",
        positive=1,
        label_time_column=None,
        as_of=datetime(2026, 1, 6, tzinfo=UTC),
        threshold=THRESHOLD,
        costs=COSTS,
        weight_column=weight_column,
    )


def test_weighted_realized_metrics_equal_sklearn_with_sample_weight():
    frame = _day()
    performance, counts = _performance(frame, "weight")
    labeled = frame.filter(pl.col("label").is_not_null())
    y, p, w = labeled["label"].to_numpy(), labeled["probability"].to_numpy(), labeled["weight"]
    w = w.to_numpy()
    flagged = p >= THRESHOLD
    tn, fp, fn, tp = confusion_matrix(y, flagged, sample_weight=w).ravel()
    realized = performance.realized
    assert realized.precision.value == pytest.approx(precision_score(y, flagged, sample_weight=w))
    assert realized.recall.value == pytest.approx(recall_score(y, flagged, sample_weight=w))
    assert realized.false_positive_rate.value == pytest.approx(fp / (fp + tn))
    assert realized.false_negative_rate.value == pytest.approx(fn / (fn + tp))
    assert realized.roc_auc.value == pytest.approx(roc_auc_score(y, p, sample_weight=w))
    assert realized.pr_auc == pytest.approx(average_precision_score(y, p, sample_weight=w))
    assert counts.pr_auc == realized.pr_auc
    cost = (COSTS[0] * fp + COSTS[1] * fn) / w.sum()
    assert realized.expected_cost.value == pytest.approx(cost)
    assert counts.ece == pytest.approx(expected_calibration_error(y, p, weights=w, debiased=True))
    assert realized.true_positives == pytest.approx(tp)
    for interval in (realized.precision, realized.recall, realized.roc_auc):
        assert interval.low < interval.value < interval.high


def test_weights_change_the_realized_metrics_and_ones_change_nothing():
    frame = _day(seed=1)
    unweighted, _ = _performance(frame, None)
    weighted, _ = _performance(frame, "weight")
    ones, _ = _performance(frame.with_columns(pl.lit(1.0).alias("weight")), "weight")
    assert weighted.realized.precision.value != pytest.approx(unweighted.realized.precision.value)
    for name in ("precision", "recall", "false_positive_rate", "expected_cost", "roc_auc"):
        a, b = getattr(ones.realized, name), getattr(unweighted.realized, name)
        assert (a.value, a.low, a.high) == pytest.approx((b.value, b.low, b.high)), name
    assert weighted.estimated == unweighted.estimated  # the estimate counts rows


def test_bad_weights_are_refused():
    p, y = np.array([0.2, 0.7, 0.4]), np.array([0.0, 1.0, 1.0])
    with pytest.raises(EstimationInputError, match="weights must be finite, non-negative"):
        partition_performance(p, 0.5, y=y, n_sim=5, weights=np.array([1.0, -1.0, 1.0]))
