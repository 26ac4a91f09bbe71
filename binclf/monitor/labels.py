"""Label arrival and delayed performance of one partition of scored events.

Labels arrive after the events they describe (chargebacks, investigations), so a partition's
performance can only be measured on the rows labeled so far. `label_status` reports how many are
labeled as of a moment, how long labels took, how long the oldest still-missing label has been
waiting, and the realized precision, recall, PR-AUC and ECE on the labeled rows (weighted by the
spec's row weights when given, as scikit-learn's with `sample_weight`). The time-to-label
is right-censored (slow labels are not in yet) and labeled rows are not a random sample when
positives and negatives are labeled at different speeds; read early numbers with that in mind.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score

from binclf.stats.metrics import expected_calibration_error

_EPOCH = datetime(1970, 1, 1)
_MICROSECONDS_PER_HOUR = 3_600 * 1_000_000


class LabelInputError(ValueError):
    """A frame or argument that label status cannot be computed on; the message names it."""


def label_status(
    frame: pl.DataFrame,
    *,
    target: str,
    positive: str | int | bool,
    time_column: str,
    label_time_column: str | None,
    probability_column: str = "probability",
    decision_column: str = "decision",
    as_of: datetime,
    since: datetime | None = None,
    tolerated_unlabeled_share: float = 0.0,
    n_bins: int = 10,
    weight_column: str | None = None,
) -> dict[str, Any]:
    """Coverage, time-to-label, label lateness and delayed performance, JSON-ready.

    A row is labeled when its target is not null and its label time (if any) is at or before
    `as_of`. `since` adds the number of labels that arrived after it (e.g. the last training).
    The oldest unlabeled age skips the `tolerated_unlabeled_share` x `n_rows` oldest unlabeled
    rows, so the few events that are never labeled do not make every partition look late.
    Metrics that are undefined (no labels, one class, nothing flagged) are None, and
    `undefined` says why. With `weight_column` (null weights count 0) the realized metrics are
    weighted; the counts stay row counts.
    """
    _validate(
        frame,
        target=target,
        time_columns=[time_column] + ([label_time_column] if label_time_column else []),
        probability_column=probability_column,
        decision_column=decision_column,
        weight_column=weight_column,
    )
    if since is not None and label_time_column is None:
        raise LabelInputError("since needs label_time_column: arrivals cannot be dated without it")
    if not 0.0 <= tolerated_unlabeled_share < 1.0:
        raise LabelInputError(
            f"tolerated_unlabeled_share must be in [0, 1), got {tolerated_unlabeled_share}"
        )
    as_of_us = _microseconds(as_of, frame[time_column].dtype, name="as_of")
    event_us = frame[time_column].dt.epoch("us").to_numpy()
    if np.any(event_us > as_of_us):
        raise LabelInputError(
            f"{np.count_nonzero(event_us > as_of_us)} rows have {time_column} after as_of "
            f"{as_of.isoformat()}"
        )

    has_target = frame[target].is_not_null().to_numpy()
    if label_time_column is None:
        label_us = None
        arrived = np.zeros(frame.height, dtype=bool)
        labeled = has_target
    else:
        label_time = frame[label_time_column].dt.epoch("us")
        has_time = label_time.is_not_null().to_numpy()
        label_us = label_time.fill_null(0).to_numpy()
        arrived = has_target & has_time & (label_us <= as_of_us)
        labeled = arrived | (has_target & ~has_time)

    n_rows, n_labeled = frame.height, int(labeled.sum())
    status: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "n_rows": n_rows,
        "n_labeled": n_labeled,
        "label_coverage": n_labeled / n_rows if n_rows else None,
        "time_to_label_hours": None,
        "time_to_label_days": None,
        "oldest_unlabeled_age_hours": _oldest_unlabeled_age_hours(
            event_us[~labeled], as_of_us, skip=math.floor(tolerated_unlabeled_share * n_rows)
        ),
    }
    if label_us is not None:
        delays = (label_us[arrived] - event_us[arrived]) / _MICROSECONDS_PER_HOUR
        if delays.size:
            median, p90 = float(np.median(delays)), float(np.quantile(delays, 0.9))
            status["time_to_label_hours"] = {"median": median, "p90": p90}
            status["time_to_label_days"] = {"median": median / 24, "p90": p90 / 24}
        if since is not None:
            since_us = _microseconds(since, frame[label_time_column].dtype, name="since")
            status["since"] = since.isoformat()
            status["n_labeled_since"] = int(np.count_nonzero(arrived & (label_us > since_us)))
    positive_value = _as_column_type(positive, frame[target].dtype, target)
    y = (frame[target].filter(pl.Series(labeled)) == positive_value).to_numpy().astype(np.int8)
    p = frame[probability_column].filter(pl.Series(labeled)).to_numpy().astype(np.float64)
    decision = frame[decision_column].filter(pl.Series(labeled)).to_numpy().astype(bool)
    weights = None
    if weight_column is not None:
        column = frame[weight_column].cast(pl.Float64).fill_null(0.0)
        weights = column.filter(pl.Series(labeled)).to_numpy()
    performance, undefined = delayed_performance(y, p, decision, n_bins=n_bins, weights=weights)
    status["performance"] = performance
    status["undefined"] = undefined
    return status


def delayed_performance(
    y: np.ndarray,
    p: np.ndarray,
    decision: np.ndarray,
    *,
    n_bins: int = 10,
    weights: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Precision and recall of the decisions, PR-AUC and ECE of the probabilities, on labeled rows.

    Point values only, so PR-AUC is scikit-learn's `average_precision_score`. With `weights`
    prevalence, precision, recall, PR-AUC and ECE are weighted (scikit-learn's `sample_weight`);
    `n_labeled`, `n_positive` and `n_flagged` count rows, and a metric whose rows all weigh 0 is
    undefined. Returns the metrics (None when undefined) and, for each undefined one, the reason.
    """
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != np.shape(y) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise LabelInputError("weights must be finite, non-negative, one per labeled row")
    n, n_positive, n_flagged = len(y), int(y.sum()), int(decision.sum())
    positive = y == 1
    total, positive_weight = float(w.sum()), float(w[positive].sum())
    flagged_weight = float(w[decision].sum())
    true_positives = float(w[decision & positive].sum())
    performance: dict[str, Any] = {
        "n_labeled": n,
        "n_positive": n_positive,
        "n_flagged": n_flagged,
        "prevalence": positive_weight / total if total > 0 else None,
        "precision": None,
        "recall": None,
        "pr_auc": None,
        "ece": None,
    }
    if total <= 0:
        metrics = ("prevalence", "precision", "recall", "pr_auc", "ece")
        reason = "no labeled rows yet" if n == 0 else f"the {n} labeled rows all weigh 0"
        return performance, dict.fromkeys(metrics, reason)
    undefined: dict[str, str] = {}
    performance["ece"] = expected_calibration_error(y, p, n_bins, weights=w)
    if flagged_weight > 0:
        performance["precision"] = true_positives / flagged_weight
    else:
        undefined["precision"] = f"no positive decision among the {n} labeled rows"
    if positive_weight <= 0:
        reason = f"no positive label among the {n} labeled rows"
        undefined["recall"] = reason
        undefined["pr_auc"] = reason
    else:
        performance["recall"] = true_positives / positive_weight
        if positive_weight >= total:
            undefined["pr_auc"] = f"only positive labels among the {n} labeled rows"
        else:
            performance["pr_auc"] = float(average_precision_score(y, p, sample_weight=w))
    return performance, undefined


def _oldest_unlabeled_age_hours(
    unlabeled_event_us: np.ndarray, as_of_us: int, *, skip: int
) -> float | None:
    if unlabeled_event_us.size <= skip:
        return None
    oldest = np.partition(unlabeled_event_us, skip)[skip]
    return float((as_of_us - oldest) / _MICROSECONDS_PER_HOUR)


def _microseconds(moment: datetime, dtype: pl.DataType, *, name: str) -> int:
    """`moment` as microseconds since the epoch, in the time convention of a column."""
    column_is_aware = getattr(dtype, "time_zone", None) is not None
    if column_is_aware != (moment.tzinfo is not None):
        raise LabelInputError(
            f"{name} {moment.isoformat()} must be "
            + ("timezone-aware" if column_is_aware else "naive")
            + f" to compare with a column of type {dtype}"
        )
    naive = moment.astimezone(UTC).replace(tzinfo=None) if column_is_aware else moment
    return (naive - _EPOCH) // timedelta(microseconds=1)


def _as_column_type(value: str | int | bool, dtype: pl.DataType, column: str) -> object:
    """`value` in the column's type, so `positive: 1` matches a string column of '1'."""
    try:
        return pl.Series([value]).cast(dtype, strict=True)[0]
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        raise LabelInputError(
            f"positive value {value!r} cannot be compared with {column!r} of type {dtype}"
        ) from None


def _validate(
    frame: pl.DataFrame,
    *,
    target: str,
    time_columns: list[str],
    probability_column: str,
    decision_column: str,
    weight_column: str | None = None,
) -> None:
    required = [target, *time_columns, probability_column, decision_column]
    required += [weight_column] if weight_column else []
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise LabelInputError(f"columns missing from the scored frame: {missing}")
    not_datetime = [c for c in time_columns if not isinstance(frame[c].dtype, pl.Datetime)]
    if not_datetime:
        raise LabelInputError(f"time columns that are not datetimes: {not_datetime}")
    event_time = time_columns[0]
    if frame[event_time].null_count():
        raise LabelInputError(f"{event_time!r} has {frame[event_time].null_count()} null values")
    for column in (probability_column, decision_column):
        if frame[column].null_count():
            raise LabelInputError(f"{column!r} has {frame[column].null_count()} null values")
    probabilities = frame[probability_column].cast(pl.Float64).to_numpy()
    if not np.all((probabilities >= 0.0) & (probabilities <= 1.0)):
        raise LabelInputError(f"{probability_column!r} has values outside [0, 1] or NaN")
