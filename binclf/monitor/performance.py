"""One day of scored events to its estimated, realized and blended performance and SLI counts."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import polars as pl

from binclf.monitor.estimation import PartitionPerformance, partition_performance
from binclf.monitor.slo import DailyCounts
from binclf.stats.metrics import expected_calibration_error

MIN_LABELS_FOR_CURVES = 100


def scored_performance(
    frame: pl.DataFrame,
    day: date,
    *,
    target: str,
    positive: str | int | bool,
    label_time_column: str | None,
    as_of: datetime,
    threshold: float,
    costs: tuple[float, float],
    n_validated: int | None = None,
    seed: int = 0,
    weight_column: str | None = None,
) -> tuple[PartitionPerformance, DailyCounts]:
    """A row counts as labeled when its target is set and, with label times, known by `as_of`.

    With `weight_column` (the spec's row weights) the realized metrics, ECE and PR-AUC are
    weighted, as scikit-learn's with `sample_weight`; the SLO counts stay row counts.

    `n_validated` is the day's validated events: decision coverage is the share of them that got
    a decision. ECE (debiased, as on the card) and PR-AUC of the labeled rows are kept for the
    SLOs once at least `MIN_LABELS_FOR_CURVES` rows (and both classes) are labeled.
    """
    p = frame["probability"].fill_null(0.0).to_numpy().astype(float)
    labeled = frame[target].is_not_null()
    if label_time_column is not None:
        cutoff = as_of if frame[label_time_column].dtype.time_zone else as_of.replace(tzinfo=None)  # type: ignore[attr-defined]
        labeled = labeled & (frame[label_time_column] <= cutoff).fill_null(False)
    known = labeled.to_numpy()
    positive_rows = (frame[target] == positive).fill_null(False).to_numpy()
    y = np.where(known, positive_rows.astype(float), np.nan)
    w = None
    if weight_column is not None:
        w = frame[weight_column].cast(pl.Float64).fill_null(0.0).to_numpy()
    performance = partition_performance(p, threshold, y=y, costs=costs, seed=seed, weights=w)
    ece = pr_auc = None
    yk, pk = positive_rows[known].astype(int), p[known]
    if yk.size >= MIN_LABELS_FOR_CURVES:
        wk = None if w is None else w[known]
        ece = expected_calibration_error(yk, pk, 10, weights=wk, debiased=True)
        if 0 < yk.sum() < yk.size and performance.realized is not None:
            pr_auc = performance.realized.pr_auc  # sorted once with the realized ROC-AUC
    decided = int(frame["decision"].is_not_null().sum())
    counts = DailyCounts.from_performance(
        day, performance, n_decided=decided, ece=ece, pr_auc=pr_auc, n_validated=n_validated
    )
    return performance, counts
