"""Test-set evidence honours the spec's row weights and resamples days when there are enough."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from binclf.evaluate.evidence import day_clusters, evaluate_candidate
from binclf.spec import spec_from_dict


def _spec(**extra):
    return spec_from_dict(
        {
            "name": "loans",
            "source": {"kind": "parquet", "path": "loans.parquet"},
            "target": "defaulted",
            "positive": True,
            "time_column": "event_time",
            **extra,
        }
    )


def _test_rows(n: int, days: int, seed: int = 0) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    p = np.clip(0.3 + 0.35 * (y - 0.3) + rng.normal(0, 0.2, n), 0.01, 0.99)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "event_time": [start + timedelta(days=int(d)) for d in rng.integers(0, days, n)],
            "defaulted": y.astype(bool),
            "weight": rng.uniform(0.2, 5.0, n),
        }
    )
    return frame, y, p


def test_a_weighted_dataset_gets_the_weighted_metrics_scikit_learn_gives() -> None:
    frame, y, p = _test_rows(3_000, 10)
    w = frame["weight"].to_numpy()

    weighted = evaluate_candidate(
        frame, y, p, spec=_spec(weight_column="weight"), threshold=0.4, leakage={}, n_boot=20
    )["test_metrics"]
    plain = evaluate_candidate(frame, y, p, spec=_spec(), threshold=0.4, leakage={}, n_boot=20)[
        "test_metrics"
    ]

    flagged = (p >= 0.4).astype(int)
    expected = {
        "roc_auc": skm.roc_auc_score(y, p, sample_weight=w),
        "pr_auc": skm.average_precision_score(y, p, sample_weight=w),
        "log_loss": skm.log_loss(y, p, sample_weight=w),
        "brier": skm.brier_score_loss(y, p, sample_weight=w),
        "precision": skm.precision_score(y, flagged, sample_weight=w),
        "recall": skm.recall_score(y, flagged, sample_weight=w),
    }
    for name, value in expected.items():
        assert weighted[name]["value"] == pytest.approx(value, rel=1e-9), name
    assert plain["log_loss"]["value"] == pytest.approx(skm.log_loss(y, p), rel=1e-9)
    assert plain["log_loss"]["value"] != pytest.approx(weighted["log_loss"]["value"], rel=1e-6)


def test_days_are_resampled_only_when_the_test_rows_span_enough_of_them() -> None:
    few, _, _ = _test_rows(500, 10)
    many, _, _ = _test_rows(500, 40)

    assert day_clusters(few, _spec()) is None
    clusters = day_clusters(many, _spec())
    assert clusters is not None and len(np.unique(clusters)) >= 20
    assert day_clusters(many, _spec(time_column=None)) is None
