"""Test metrics per slice: each slice column, each sensitive attribute, and score deciles.

For every group: rows, positives, prevalence and the metrics at the decision threshold
(selection rate, precision, recall, FPR, FNR) plus ROC-AUC, each with a seeded bootstrap
interval. Groups smaller than `min_size` are flagged `small`, never hidden.

Point values of the rate metrics come from fairlearn's `MetricFrame`, run on confusion cells
(one row per group x label x decision, weighted by its row count): the same numbers as on the
rows, at a cost independent of the number of rows (fairlearn splits its inputs row by row,
~0.2 s per metric per 50k rows); ROC-AUC comes from the rank computation below at unit
weights, which equals scikit-learn's. Intervals resample rows with `binclf.bootstrap`, not
stratified: test rows are a sample of the population, so group sizes and class counts vary
between replicates. Rather than one `MetricFrame` per replicate, the replicates of every group
are computed at once from bootstrap counts: per-group sums are one sparse matrix product per
block of replicates, per-group ROC-AUC a cumulative sum over rows sorted by score.

Conventions: a row is flagged when `p >= threshold` (as `binclf.metrics`); a metric whose
denominator is zero in a group (precision with nothing flagged, recall without positives,
ROC-AUC with one class) is undefined and reported as None, not 0. Intervals are taken over the
replicates where the metric is defined.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
import scipy.sparse as sp
from fairlearn.metrics import MetricFrame

from binclf.stats.bootstrap import iter_bootstrap_counts, percentile_interval
from binclf.stats.metrics import Estimate, validate_inputs

SliceKind = Literal["slice", "sensitive", "score_decile"]
RATE_METRICS = ("prevalence", "selection_rate", "precision", "recall", "fpr", "fnr")
SLICE_METRICS = (*RATE_METRICS, "roc_auc")
NULL_GROUP = "<null>"
SCORE_COLUMN = "score"


class SliceError(ValueError):
    """Inputs that cannot be sliced; the message names the bad value or column."""


def slice_metrics(
    frame_test: pl.DataFrame,
    y: np.ndarray,
    p: np.ndarray,
    *,
    threshold: float,
    columns: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    score_deciles: bool = True,
    min_size: int = 100,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """One JSON-ready row per group of each slice column, sensitive attribute and score decile.

    Row keys: `kind` ("slice" | "sensitive" | "score_decile"), `column`, `group` (the value as
    text, nulls "<null>"; deciles "d01".."d10" from the lowest scores, with their score range),
    `rows`, `positives`, `small` (rows < `min_size`), and an `Estimate` or None (undefined) for
    each of `SLICE_METRICS`.
    """
    y, p, _ = validate_inputs(y, p, require_both_classes=False)
    if frame_test.height != len(y):
        raise SliceError(f"frame_test has {frame_test.height} rows but y has {len(y)}")
    if not np.isfinite(threshold):
        raise SliceError(f"threshold must be finite, got {threshold}")
    if min_size < 1:
        raise SliceError(f"min_size must be at least 1, got {min_size}")
    missing = [c for c in (*columns, *sensitive) if c not in frame_test.columns]
    if missing:
        raise SliceError(f"slice columns {missing} are not in frame_test")

    groupings = [_column_grouping("slice", frame_test[c]) for c in columns]
    groupings += [_column_grouping("sensitive", frame_test[c]) for c in sensitive]
    if score_deciles:
        groupings.append(_decile_grouping(p))
    if not groupings:
        return []
    flagged = p >= threshold
    aucs = _roc_aucs(_ranked_groups(groupings, y, p), np.ones((1, len(y))))
    replicates = _group_replicates(groupings, y, p, flagged, n_boot=n_boot, seed=seed)
    rows: list[dict[str, Any]] = []
    for grouping, auc, grouping_replicates in zip(groupings, aucs, replicates, strict=True):
        rates = group_rates(confusion_cells(grouping.codes, grouping.labels, y, flagged))
        sizes = np.bincount(grouping.codes, minlength=len(grouping.labels))
        positives = np.bincount(grouping.codes, weights=y, minlength=len(grouping.labels))
        for code, label in enumerate(grouping.labels):
            row: dict[str, Any] = {
                "kind": grouping.kind,
                "column": grouping.column,
                "group": label,
                "rows": int(sizes[code]),
                "positives": int(positives[code]),
                "small": bool(sizes[code] < min_size),
            }
            point = {metric: float(rates.loc[label, metric]) for metric in RATE_METRICS}
            point["roc_auc"] = float(auc[0, code])
            for metric in SLICE_METRICS:
                row[metric] = estimate_or_none(
                    point[metric], grouping_replicates[metric][:, code], alpha
                )
            rows.append(row)
    return rows


def slice_table(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """The rows of `slice_metrics` as a flat table: `<metric>`, `<metric>_ci_low`, `_ci_high`."""
    schema: dict[str, Any] = {
        "kind": pl.String,
        "column": pl.String,
        "group": pl.String,
        "rows": pl.Int64,
        "positives": pl.Int64,
        "small": pl.Boolean,
    }
    records = []
    for row in rows:
        record = {key: row[key] for key in schema}
        for metric in SLICE_METRICS:
            estimate = row[metric] or {}
            record[metric] = estimate.get("value")
            record[f"{metric}_ci_low"] = estimate.get("ci_low")
            record[f"{metric}_ci_high"] = estimate.get("ci_high")
        records.append(record)
    for metric in SLICE_METRICS:
        schema |= {f"{metric}{suffix}": pl.Float64 for suffix in ("", "_ci_low", "_ci_high")}
    return pl.DataFrame(records, schema=schema, orient="row")


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


def confusion_rates(
    rows: Any, positives: Any, flagged: Any, true_positives: Any
) -> dict[str, np.ndarray]:
    """The rate metrics from confusion sums (arrays of any matching shape); NaN where undefined."""
    false_positives = np.subtract(flagged, true_positives)
    return {
        "prevalence": _divide(positives, rows),
        "selection_rate": _divide(flagged, rows),
        "precision": _divide(true_positives, flagged),
        "recall": _divide(true_positives, positives),
        "fpr": _divide(false_positives, np.subtract(rows, positives)),
        "fnr": _divide(np.subtract(positives, true_positives), positives),
    }


def _divide(numerator: Any, denominator: Any) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


@dataclass(frozen=True)
class ConfusionCells:
    """Rows aggregated to one cell per (group, label, decision), with the cell's row count.

    fairlearn's metrics given the cells with `sample_weight=count` return the values they
    return on the rows.
    """

    group: np.ndarray
    y: np.ndarray
    flagged: np.ndarray
    count: np.ndarray


def confusion_cells(
    codes: np.ndarray, labels: Sequence[str], y: np.ndarray, flagged: np.ndarray
) -> ConfusionCells:
    """The non-empty confusion cells of grouped rows (`codes` index `labels`)."""
    key = codes * 4 + y.astype(np.int64) * 2 + flagged.astype(np.int64)
    count = np.bincount(key, minlength=len(labels) * 4)
    cells = np.flatnonzero(count)
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


def bootstrap_group_sums(
    codes: np.ndarray, n_codes: int, values: np.ndarray, *, n_boot: int, seed: int
) -> np.ndarray:
    """Sums of each column of `values` (n, k) over the rows of each code, per row resample.

    Shape (n_boot, n_codes, k); resample b is `binclf.bootstrap`'s resample b for `seed`.
    """
    membership = _membership(codes, n_codes, values)
    blocks = [counts @ membership for counts in iter_bootstrap_counts(len(codes), n_boot, seed)]
    return np.concatenate(blocks).reshape(n_boot, n_codes, values.shape[1])


def _membership(codes: np.ndarray, n_codes: int, values: np.ndarray) -> sp.csr_array:
    """Sparse (n, n_codes * k) matrix: row i holds values[i] in the k columns of its code."""
    n, k = values.shape
    columns = (codes[:, np.newaxis] * k + np.arange(k)).ravel()
    return sp.csr_array(
        (values.ravel(), (np.repeat(np.arange(n), k), columns)), shape=(n, n_codes * k)
    )


@dataclass(frozen=True)
class _Grouping:
    """One way of cutting the test rows into groups."""

    kind: SliceKind
    column: str
    codes: np.ndarray
    labels: list[str]


def _column_grouping(kind: SliceKind, series: pl.Series) -> _Grouping:
    codes, labels = group_codes(series)
    return _Grouping(kind, series.name, codes, labels)


def _decile_grouping(p: np.ndarray) -> _Grouping:
    """Ten groups of (nearly) equal size by score rank; tied scores are split by row order."""
    ranks = np.empty(len(p), dtype=np.int64)
    ranks[np.argsort(p, kind="stable")] = np.arange(len(p))
    deciles = ranks * 10 // len(p)
    present = np.unique(deciles)
    labels = [
        f"d{d + 1:02d} [{p[deciles == d].min():.3g}, {p[deciles == d].max():.3g}]" for d in present
    ]
    return _Grouping("score_decile", SCORE_COLUMN, np.searchsorted(present, deciles), labels)


def _group_replicates(
    groupings: list[_Grouping],
    y: np.ndarray,
    p: np.ndarray,
    flagged: np.ndarray,
    *,
    n_boot: int,
    seed: int,
) -> list[dict[str, np.ndarray]]:
    """Bootstrap values (n_boot, n_groups) of every metric, for each grouping.

    All groupings share the resamples: their codes stack into one membership matrix.
    """
    positive = y.astype(np.float64)
    per_row = np.column_stack([np.ones_like(positive), positive, flagged, positive * flagged])
    offsets = np.cumsum([0] + [len(g.labels) for g in groupings])
    membership = sp.hstack(
        [_membership(g.codes, len(g.labels), per_row) for g in groupings], format="csr"
    )
    ranked = _ranked_groups(groupings, y, p)
    sums_blocks, auc_blocks = [], []
    for counts in iter_bootstrap_counts(len(y), n_boot, seed):
        sums_blocks.append(counts @ membership)
        auc_blocks.append(_roc_aucs(ranked, counts))
    sums = np.concatenate(sums_blocks).reshape(n_boot, offsets[-1], per_row.shape[1])
    aucs = [np.concatenate([block[j] for block in auc_blocks]) for j in range(len(groupings))]
    results = []
    for j, auc in enumerate(aucs):
        own = sums[:, offsets[j] : offsets[j + 1]]
        rates = confusion_rates(own[..., 0], own[..., 1], own[..., 2], own[..., 3])
        results.append({**rates, "roc_auc": auc})
    return results


@dataclass(frozen=True)
class _RankedRows:
    """The rows of one group sorted by score, with the starts of runs of tied scores."""

    index: np.ndarray
    y: np.ndarray
    tie_starts: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray, y: np.ndarray, p: np.ndarray) -> _RankedRows:
        index = rows[np.argsort(p[rows], kind="stable")]
        tie_starts = np.flatnonzero(np.r_[True, np.diff(p[index]) != 0])
        return cls(index, y[index].astype(np.float64), tie_starts)

    def roc_auc(self, counts: np.ndarray) -> np.ndarray:
        """ROC-AUC under each row of `counts` (r, n) as row weights; ties count half."""
        weight = counts[:, self.index]
        positive = np.add.reduceat(weight * self.y, self.tie_starts, axis=1)
        negative = np.add.reduceat(weight * (1.0 - self.y), self.tie_starts, axis=1)
        negatives_below = np.cumsum(negative, axis=1) - negative
        wins = np.sum(positive * (negatives_below + 0.5 * negative), axis=1)
        return _divide(wins, positive.sum(axis=1) * negative.sum(axis=1))


def _ranked_groups(
    groupings: list[_Grouping], y: np.ndarray, p: np.ndarray
) -> list[list[_RankedRows]]:
    return [
        [_RankedRows.of(rows, y, p) for rows in _rows_by_code(g.codes, len(g.labels))]
        for g in groupings
    ]


def _roc_aucs(ranked: list[list[_RankedRows]], counts: np.ndarray) -> list[np.ndarray]:
    """ROC-AUC (replicates, n_groups) of each grouping under the row weights `counts`."""
    return [np.column_stack([group.roc_auc(counts) for group in groups]) for groups in ranked]


def _rows_by_code(codes: np.ndarray, n_codes: int) -> list[np.ndarray]:
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.cumsum(np.bincount(codes, minlength=n_codes))[:-1])
