"""Test metrics per slice: each slice column, each sensitive attribute, and score deciles.

For every group: rows, positives, prevalence and the metrics at the decision threshold
(selection rate, precision, recall, FPR, FNR) plus ROC-AUC, each with a seeded bootstrap
interval. Groups smaller than `min_size` are flagged `small`, never hidden.

Point values of the rate metrics come from fairlearn's `MetricFrame` on confusion cells (see
`binclf.evaluate.groups`). Their intervals resample rows with `binclf.stats.bootstrap`, not
stratified: test rows are a sample of the population, so group sizes and class counts vary
between replicates. Rather than one `MetricFrame` per replicate, the replicates of every group
are computed at once from bootstrap counts: per-group sums are one sparse matrix product per
block of replicates. ROC-AUC (equal to scikit-learn's) gets DeLong's interval on the logit
scale (`binclf.stats.ranking.roc_auc_logit_interval`): on a 250-row group the bootstrap
percentile interval covered the truth 91 % of the time, DeLong's on the logit scale 95 %.

With `weights` (the spec's `weight_column`) every rate and ROC-AUC is weighted, as
scikit-learn's with `sample_weight`; `rows`, `positives` and the `small` rule count rows.

Conventions: a row is flagged when `p >= threshold` (as `binclf.stats.metrics`); a metric whose
denominator is zero in a group (precision with nothing flagged, recall without positives,
ROC-AUC with one class) is undefined and reported as None, not 0. Intervals are taken over the
replicates where the metric is defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import scipy.sparse as sp

from binclf.evaluate.groups import (
    RATE_METRICS,
    confusion_cells,
    estimate_or_none,
    group_codes,
    group_rates,
)
from binclf.stats.bootstrap import iter_bootstrap_counts
from binclf.stats.engine import confusion_rates, group_membership
from binclf.stats.metrics import Estimate, validate_inputs
from binclf.stats.ranking import roc_auc_logit_interval

SliceKind = Literal["slice", "sensitive", "score_decile"]
SLICE_METRICS = (*RATE_METRICS, "roc_auc")
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
    weights: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready row per group of each slice column, sensitive attribute and score decile.

    Row keys: `kind` ("slice" | "sensitive" | "score_decile"), `column`, `group` (the value as
    text, nulls "<null>"; deciles "d01".."d10" from the lowest scores, with their score range),
    `rows`, `positives`, `small` (rows < `min_size`), and an `Estimate` or None (undefined) for
    each of `SLICE_METRICS`.
    """
    y, p, w = validate_inputs(y, p, weights=weights, require_both_classes=False)
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
    replicates = _group_replicates(groupings, y, flagged, w, n_boot=n_boot, seed=seed)
    rows: list[dict[str, Any]] = []
    for grouping, grouping_replicates in zip(groupings, replicates, strict=True):
        rates = group_rates(confusion_cells(grouping.codes, grouping.labels, y, flagged, w))
        sizes = np.bincount(grouping.codes, minlength=len(grouping.labels))
        positives = np.bincount(grouping.codes, weights=y, minlength=len(grouping.labels))
        members = _rows_by_code(grouping.codes, len(grouping.labels))
        for code, label in enumerate(grouping.labels):
            row: dict[str, Any] = {
                "kind": grouping.kind,
                "column": grouping.column,
                "group": label,
                "rows": int(sizes[code]),
                "positives": int(positives[code]),
                "small": bool(sizes[code] < min_size),
            }
            for metric in RATE_METRICS:
                row[metric] = estimate_or_none(
                    float(rates.loc[label, metric]), grouping_replicates[metric][:, code], alpha
                )
            row["roc_auc"] = _roc_auc_estimate(y, p, w, members[code], alpha)
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
    flagged: np.ndarray,
    w: np.ndarray,
    *,
    n_boot: int,
    seed: int,
) -> list[dict[str, np.ndarray]]:
    """Bootstrap values (n_boot, n_groups) of every rate metric, for each grouping.

    All groupings share the resamples: their codes stack into one membership matrix.
    """
    positive = y.astype(np.float64)
    per_row = w[:, np.newaxis] * np.column_stack(
        [np.ones_like(positive), positive, flagged, positive * flagged]
    )
    offsets = np.cumsum([0] + [len(g.labels) for g in groupings])
    membership = sp.hstack(
        [group_membership(g.codes, len(g.labels), per_row) for g in groupings], format="csr"
    )
    blocks = [counts @ membership for counts in iter_bootstrap_counts(len(y), n_boot, seed)]
    sums = np.concatenate(blocks).reshape(n_boot, offsets[-1], per_row.shape[1])
    results = []
    for j in range(len(groupings)):
        own = sums[:, offsets[j] : offsets[j + 1]]
        results.append(confusion_rates(own[..., 0], own[..., 1], own[..., 2], own[..., 3]))
    return results


def _roc_auc_estimate(
    y: np.ndarray, p: np.ndarray, w: np.ndarray, rows: np.ndarray, alpha: float
) -> Estimate | None:
    """ROC-AUC of the group's rows with DeLong's logit-scale interval; None with one class."""
    value, low, high = roc_auc_logit_interval(y[rows], p[rows], w[rows], alpha=alpha)
    if not np.isfinite(value):
        return None
    return {"value": value, "ci_low": low, "ci_high": high}


def _rows_by_code(codes: np.ndarray, n_codes: int) -> list[np.ndarray]:
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.cumsum(np.bincount(codes, minlength=n_codes))[:-1])
