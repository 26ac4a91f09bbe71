"""The metric engine: ranking, probability and threshold metrics under bootstrap row weights.

Every interval binclf reports on scored rows comes from here: evaluation, the champion
comparison, slices and fairness. Rows are sorted once by descending score; a replicate is a
row-weight vector (bootstrap count x sample weight), so a block of replicates costs one gather,
a few cumulative sums over runs of tied scores (ROC-AUC, average precision) and one matrix
product (log loss, Brier, ECE, confusion counts at a threshold) instead of a sort per replicate.
Counts are indexed by the caller's rows in their original order, as
`binclf.stats.bootstrap.iter_bootstrap_counts` yields them: two models scored on the same rows,
or the groups of one set of rows, are measured on the same resamples.

The formulas match scikit-learn's weighted metrics: ROC-AUC by the trapezoid over distinct
scores (ties count half), PR-AUC as average precision (tied scores move together), log loss
with probabilities clipped to [eps, 1 - eps]. Conventions: a row is flagged when
`p >= threshold`; precision and F1 with a zero denominator are 0.0 (scikit-learn's
`zero_division=0`); any other metric whose denominator is zero (one class only) is NaN; `ece`
(debiased, `debiased_ece`) uses equal-width probability bins, `ece_equal_mass` bins holding
equal (weighted) shares of the rows (`equal_mass_bin_index`): at a low prevalence almost every
row falls in the first equal-width bin, where a miscalibration of the ranking is averaged away.
Bins are fixed by the data; resamples reweight their rows. Per-group sums
(`bootstrap_group_sums`, `confusion_rates`) serve metrics that are ratios of sums within groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from binclf.stats.bootstrap import iter_bootstrap_counts, iter_cluster_counts

METRICS = (
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    "ece_equal_mass",
    "precision",
    "recall",
    "f1",
    "fpr",
    "fnr",
    "balanced_accuracy",
    "prevalence",
)
_RANKING = frozenset({"roc_auc", "pr_auc"})
_AT_THRESHOLD = frozenset({"precision", "recall", "f1", "fpr", "fnr", "balanced_accuracy"})
# scikit-learn's log_loss clips probabilities to [eps, 1 - eps] with this eps.
_LOG_LOSS_EPS = float(np.finfo(np.float64).eps)
# Columns of ScoredRows.per_row.
_ONE, _POSITIVE, _LOG_LOSS, _SQUARED_ERROR, _TP, _FP = range(6)


class EngineError(ValueError):
    """A metric that the scored rows were not prepared for, or rows that cannot be ranked."""


def row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of each row, probabilities clipped as scikit-learn does."""
    clipped = np.clip(p, _LOG_LOSS_EPS, 1.0 - _LOG_LOSS_EPS)
    return -np.where(y == 1, np.log(clipped), np.log1p(-clipped))


def bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each probability; p = 1 falls in the last bin."""
    if n_bins < 1:
        raise EngineError(f"n_bins must be at least 1, got {n_bins}")
    return np.minimum((p * n_bins).astype(np.int64), n_bins - 1)


def equal_mass_bin_index(
    p: np.ndarray, n_bins: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Bin of each probability when bins hold equal (weighted) shares of the rows.

    Bin k's upper edge is the smallest probability at which the cumulative weight of the rows
    sorted by probability reaches (k + 1) / n_bins of the total; a row at an edge belongs to
    the lower bin, so tied probabilities always share a bin (a bin may stay empty).
    """
    if n_bins < 1:
        raise EngineError(f"n_bins must be at least 1, got {n_bins}")
    p = np.asarray(p, dtype=np.float64)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    cumulative = np.cumsum(w[order])
    reach = np.arange(1, n_bins) / n_bins * cumulative[-1]
    edges = p[order][np.minimum(np.searchsorted(cumulative, reach), len(p) - 1)]
    return np.searchsorted(edges, p, side="left").astype(np.int64)


def _bin_sums_matrix(
    p: np.ndarray, y: np.ndarray, w: np.ndarray, bins: np.ndarray, n_bins: int
) -> sp.csr_array:
    """Sparse (rows, 4 n_bins): in the columns of its bin, each row's 1, p - y, (p - y)^2 and
    its sample weight. Under row weights c x w these sum to each bin's weight, gap, squared gap
    and sum of c x w^2 (for the bin's effective size)."""
    n = len(p)
    gap = p - y
    values = np.column_stack([np.ones(n), gap, gap**2, w]).ravel()
    columns = (np.arange(4) * n_bins + bins[:, np.newaxis]).ravel()
    return sp.csr_array((values, (np.repeat(np.arange(n), 4), columns)), shape=(n, 4 * n_bins))


def debiased_ece(
    weight: np.ndarray, gap: np.ndarray, squared: np.ndarray, square_weight: np.ndarray
) -> np.ndarray:
    """ECE from per-bin sums (..., n_bins), each bin's |gap| debiased.

    A bin's plug-in |mean(p - y)| overstates its true gap |mu| by the noise of the mean (by
    about 0.4 standard errors even where mu = 0), so the plug-in ECE is biased upwards and a
    bootstrap, which adds that bias again, under-covers. Each bin's |mu| is estimated as
    sqrt(max(d^2 - var(d), 0)), with var(d) the within-bin variance of p - y over the bin's
    effective size (Kish's, with weights) minus one: unbiased for mu^2 before the square root.
    A bin with an effective size of one row or less contributes 0.
    """
    d = _ratio(gap, weight, fill=0.0)
    n_eff = _ratio(weight**2, square_weight, fill=0.0)
    within = np.maximum(_ratio(squared, weight, fill=0.0) - d**2, 0.0)
    var = _ratio(within, n_eff - 1.0, fill=np.inf)
    magnitude = np.sqrt(np.maximum(d**2 - var, 0.0))
    return _ratio(np.sum(weight * magnitude, axis=-1), np.sum(weight, axis=-1))


@dataclass(frozen=True)
class ScoredRows:
    """Rows of one model sorted by descending score, with the per-row values the metrics sum.

    `order` holds positions in the caller's `n_rows` rows, so replicate counts over those rows
    apply to any subset (a group) of them. `bin_sums` (rows, 4 n_bins) holds each row's
    values for the debiased ECE (`_bin_sums_matrix`) in the columns of its equal-width
    probability bin, sparse: four entries per row whatever `n_bins` is; `mass_bin_sums` the same
    for the equal-mass bins of these rows.
    """

    n_rows: int
    order: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    tie_starts: np.ndarray
    per_row: np.ndarray
    bin_sums: sp.csr_array | None
    mass_bin_sums: sp.csr_array | None
    unit_weight: bool
    has_threshold: bool

    @classmethod
    def of(
        cls,
        y: np.ndarray,
        p: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        rows: np.ndarray | None = None,
        threshold: float | None = None,
        n_bins: int = 0,
    ) -> ScoredRows:
        """Sort validated labels and probabilities (optionally only the positions `rows`).

        `threshold` enables the metrics at a threshold, `n_bins` > 0 the ECE.
        """
        positions = np.arange(len(y)) if rows is None else np.asarray(rows)
        if len(positions) == 0:
            raise EngineError("no rows to rank")
        order = positions[np.argsort(-p[positions], kind="stable")]
        p_sorted = p[order]
        positive = y[order].astype(np.float64)
        weight = np.ones(len(order)) if weights is None else np.asarray(weights)[order]
        flagged = np.zeros(len(order)) if threshold is None else (p_sorted >= threshold) * 1.0
        bin_sums = mass_bin_sums = None
        if n_bins:
            width_bins = bin_index(p_sorted, n_bins)
            bin_sums = _bin_sums_matrix(p_sorted, positive, weight, width_bins, n_bins)
            mass_bins = equal_mass_bin_index(p_sorted, n_bins, weight)
            mass_bin_sums = _bin_sums_matrix(p_sorted, positive, weight, mass_bins, n_bins)
        per_row = np.column_stack(
            [
                np.ones(len(order)),
                positive,
                row_log_loss(positive, p_sorted),
                (p_sorted - positive) ** 2,
                positive * flagged,
                (1.0 - positive) * flagged,
            ]
        )
        return cls(
            n_rows=len(y),
            order=order,
            y=positive,
            weight=weight.astype(np.float64),
            tie_starts=np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]]),
            per_row=per_row,
            bin_sums=bin_sums,
            mass_bin_sums=mass_bin_sums,
            unit_weight=bool(np.all(weight == 1.0)),
            has_threshold=threshold is not None,
        )

    def row_weights(
        self, counts: np.ndarray | None = None, *, arranged: bool = False
    ) -> np.ndarray:
        """Weights (replicates, rows) in sorted order from `counts` (r, n_rows), None = the data.

        `arranged` counts are already in this object's order (`iter_bootstrap_counts(...,
        order=self.order)`), which saves a gather per replicate.
        """
        if counts is None:
            return self.weight[np.newaxis, :]
        gathered = counts if arranged else np.take(counts, self.order, axis=1)
        return gathered if self.unit_weight else gathered * self.weight

    def metrics(
        self,
        counts: np.ndarray | None = None,
        names: Sequence[str] = METRICS,
        *,
        arranged: bool = False,
    ) -> dict[str, np.ndarray]:
        """Each metric of `names` under each row of `counts` (None: the data once), shape (r,)."""
        unknown = set(names) - set(METRICS)
        if unknown:
            raise EngineError(f"unknown metrics {sorted(unknown)}; known: {list(METRICS)}")
        if set(names) & _AT_THRESHOLD and not self.has_threshold:
            raise EngineError("metrics at a threshold need ScoredRows.of(..., threshold=...)")
        if {"ece", "ece_equal_mass"} & set(names) and self.bin_sums is None:
            raise EngineError("ece needs ScoredRows.of(..., n_bins=...)")
        weight = self.row_weights(counts, arranged=arranged)
        values: dict[str, np.ndarray] = {}
        if _RANKING & set(names):
            values |= self._ranking(weight)
        if set(names) - _RANKING:
            sums = weight @ self.per_row
            values |= self._sums(sums)
            for name, sums_by_bin in (
                ("ece", self.bin_sums),
                ("ece_equal_mass", self.mass_bin_sums),
            ):
                if name in names:
                    by_bin = np.asarray(weight @ sums_by_bin).reshape(len(weight), 4, -1)
                    values[name] = debiased_ece(*np.moveaxis(by_bin, 1, 0))
        return {name: values[name] for name in names}

    def _ranking(self, weight: np.ndarray) -> dict[str, np.ndarray]:
        group_pos = np.add.reduceat(weight * self.y, self.tie_starts, axis=1)
        group_all = np.add.reduceat(weight, self.tie_starts, axis=1)
        tp = np.cumsum(group_pos, axis=1)
        flagged = np.cumsum(group_all, axis=1)
        n_pos = tp[:, -1]
        n_neg = flagged[:, -1] - n_pos
        # Trapezoid under the ROC step of each run of tied scores; AP sums precision x recall step.
        wins = np.sum((group_all - group_pos) * (2.0 * tp - group_pos), axis=1)
        precision = _ratio(tp, flagged, fill=0.0)
        return {
            "roc_auc": _ratio(wins, 2.0 * n_pos * n_neg),
            "pr_auc": _ratio(np.sum(group_pos * precision, axis=1), n_pos),
        }

    def _sums(self, sums: np.ndarray) -> dict[str, np.ndarray]:
        total, n_pos = sums[:, _ONE], sums[:, _POSITIVE]
        n_neg = total - n_pos
        tp, fp = sums[:, _TP], sums[:, _FP]
        fn = n_pos - tp
        recall = _ratio(tp, n_pos)
        fpr = _ratio(fp, n_neg)
        return {
            "log_loss": _ratio(sums[:, _LOG_LOSS], total),
            "brier": _ratio(sums[:, _SQUARED_ERROR], total),
            "precision": _ratio(tp, tp + fp, fill=0.0),
            "recall": recall,
            "f1": _ratio(2.0 * tp, 2.0 * tp + fp + fn, fill=0.0),
            "fpr": fpr,
            "fnr": _ratio(fn, n_pos),
            "balanced_accuracy": (recall + 1.0 - fpr) / 2.0,
            "prevalence": _ratio(n_pos, total),
        }


def replicate_metrics(
    scored: Sequence[ScoredRows],
    *,
    n_boot: int,
    seed: int,
    strata: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    names: Sequence[str] = METRICS,
) -> list[dict[str, np.ndarray]]:
    """Metrics (n_boot,) of each of `scored` on the same `n_boot` resamples of their rows.

    The resamples are `iter_bootstrap_counts(n_rows, n_boot, seed, strata)`, or with `clusters`
    the block bootstrap `iter_cluster_counts`; all of `scored` must rank the same rows (two
    models, or groups of one set of rows).
    """
    if strata is not None and clusters is not None:
        raise EngineError("resample by strata or by clusters, not both")
    n_rows = {rows.n_rows for rows in scored}
    if len(n_rows) != 1:
        raise EngineError(f"scored rows must share one set of rows, got sizes {sorted(n_rows)}")
    n = n_rows.pop()
    # One model on all rows: draw the counts in its order (no gather per replicate).
    arranged = len(scored) == 1 and len(scored[0].order) == n
    order = scored[0].order if arranged else None
    blocks: list[dict[str, list[np.ndarray]]] = [{name: [] for name in names} for _ in scored]
    blocks_of_counts = (
        iter_cluster_counts(clusters, n_boot, seed, order=order)
        if clusters is not None
        else iter_bootstrap_counts(n, n_boot, seed, strata=strata, order=order)
    )
    for counts in blocks_of_counts:
        for rows, block in zip(scored, blocks, strict=True):
            for name, values in rows.metrics(counts, names, arranged=arranged).items():
                block[name].append(values)
    return [{name: np.concatenate(parts) for name, parts in block.items()} for block in blocks]


def group_membership(codes: np.ndarray, n_codes: int, values: np.ndarray) -> sp.csr_array:
    """Sparse (n, n_codes * k) matrix: row i holds values[i] in the k columns of its code."""
    n, k = values.shape
    columns = (codes[:, np.newaxis] * k + np.arange(k)).ravel()
    return sp.csr_array(
        (values.ravel(), (np.repeat(np.arange(n), k), columns)), shape=(n, n_codes * k)
    )


def bootstrap_group_sums(
    codes: np.ndarray, n_codes: int, values: np.ndarray, *, n_boot: int, seed: int
) -> np.ndarray:
    """Sums of each column of `values` (n, k) over the rows of each code, per row resample.

    Shape (n_boot, n_codes, k); resample b is `binclf.stats.bootstrap`'s resample b for `seed`.
    """
    membership = group_membership(codes, n_codes, values)
    blocks = [counts @ membership for counts in iter_bootstrap_counts(len(codes), n_boot, seed)]
    return np.concatenate(blocks).reshape(n_boot, n_codes, values.shape[1])


def confusion_rates(
    rows: Any, positives: Any, flagged: Any, true_positives: Any
) -> dict[str, np.ndarray]:
    """Rates from confusion sums (arrays of any matching shape); NaN wherever undefined.

    Unlike `ScoredRows.metrics`, precision with nothing flagged is NaN here: within a group
    it is undefined, not zero.
    """
    false_positives = np.subtract(flagged, true_positives)
    return {
        "prevalence": _ratio(positives, rows),
        "selection_rate": _ratio(flagged, rows),
        "precision": _ratio(true_positives, flagged),
        "recall": _ratio(true_positives, positives),
        "fpr": _ratio(false_positives, np.subtract(rows, positives)),
        "fnr": _ratio(np.subtract(positives, true_positives), positives),
    }


def _ratio(numerator: Any, denominator: Any, *, fill: float = np.nan) -> np.ndarray:
    """numerator / denominator, `fill` where the denominator is not positive."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, fill)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)
