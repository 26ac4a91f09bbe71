"""Groups of test rows (shared by slices and fairness) and the slices' rates by fairlearn.

A grouping is an integer code per row (`group_codes`). The slices' point values of the rate
metrics come from fairlearn's `MetricFrame`, run on confusion cells (one row per group x label
x decision, weighted by its row count): the same numbers as on the rows, at a cost independent
of the number of rows (fairlearn splits its inputs row by row, ~0.2 s per metric per 50k rows).
Intervals come from `binclf.stats.engine`; `estimate_or_none` turns a point value and its
replicates into a JSON-ready `Estimate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl
from fairlearn.metrics import MetricFrame

from binclf.stats.bootstrap import percentile_interval
from binclf.stats.engine import confusion_rates
from binclf.stats.metrics import Estimate

RATE_METRICS = ("prevalence", "selection_rate", "precision", "recall", "fpr", "fnr")
NULL_GROUP = "<null>"


def estimate_or_none(value: float, replicates: np.ndarray, alpha: float) -> Estimate | None:
    """A percentile-interval Estimate; None when the point value is undefined (NaN).

    The bounds are None when no replicate defines the metric.
    """
    if not np.isfinite(value):
        return None
    low, high = percentile_interval(replicates, alpha)
    if not np.isfinite(low):
        return {"value": value, "ci_low": None, "ci_high": None}  # type: ignore[typeddict-item]
    return {"value": value, "ci_low": low, "ci_high": high}


def group_codes(values: pl.Series | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer code per row and the sorted group labels (values as text; nulls "<null>")."""
    series = values if isinstance(values, pl.Series) else pl.Series("group", values)
    if series.dtype == pl.Object:
        text = np.array([NULL_GROUP if v is None else str(v) for v in series.to_list()])
    else:
        text = series.cast(pl.String).fill_null(NULL_GROUP).to_numpy().astype(str)
    labels, codes = np.unique(text, return_inverse=True)
    return codes.astype(np.int64), [str(label) for label in labels]


@dataclass(frozen=True)
class ConfusionCells:
    """Rows aggregated to one cell per (group, label, decision), with the cell's total weight
    (its row count when rows are unweighted).

    fairlearn's metrics given the cells with `sample_weight=count` return the values they
    return on the rows with their weights.
    """

    group: np.ndarray
    y: np.ndarray
    flagged: np.ndarray
    count: np.ndarray


def confusion_cells(
    codes: np.ndarray,
    labels: Sequence[str],
    y: np.ndarray,
    flagged: np.ndarray,
    weights: np.ndarray | None = None,
) -> ConfusionCells:
    """The non-empty confusion cells of grouped rows (`codes` index `labels`), weighted."""
    key = codes * 4 + y.astype(np.int64) * 2 + flagged.astype(np.int64)
    count = np.bincount(key, weights=weights, minlength=len(labels) * 4)
    cells = np.flatnonzero(count > 0)
    return ConfusionCells(
        group=np.asarray(labels, dtype=object)[cells // 4],
        y=((cells // 2) % 2).astype(np.int8),
        flagged=(cells % 2).astype(np.int8),
        count=count[cells].astype(np.float64),
    )


def group_rates(cells: ConfusionCells) -> pd.DataFrame:
    """`RATE_METRICS` per group (index: group label) by fairlearn's `MetricFrame`."""
    metrics = {name: _weighted_rate(name) for name in RATE_METRICS}
    frame = MetricFrame(
        metrics=metrics,
        y_true=cells.y,
        y_pred=cells.flagged,
        sensitive_features=pd.Series(cells.group, name="group"),
        sample_params={name: {"sample_weight": cells.count} for name in RATE_METRICS},
    )
    return frame.by_group


def _weighted_rate(name: str) -> Callable[..., float]:
    def rate(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
        rates = confusion_rates(
            sample_weight.sum(),
            (sample_weight * y_true).sum(),
            (sample_weight * y_pred).sum(),
            (sample_weight * y_true * y_pred).sum(),
        )
        return float(rates[name])

    rate.__name__ = name
    return rate
