"""Realized metrics of a day's labeled rows, weighted by the spec's row weights when given.

Point values equal scikit-learn's with `sample_weight` (rates from weighted confusion sums;
ROC-AUC and average precision from `binclf.stats.engine`). Intervals: Wilson for the rates and
Hanley–McNeil for ROC-AUC, each with Kish's effective size of its rows (the row count when
unweighted), and a normal interval for the weighted mean cost per row.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from binclf.monitor.estimation import EstimationInputError, Interval, MetricSet, wilson
from binclf.stats.engine import ScoredRows


def _effective(w: np.ndarray) -> float:
    """Kish's effective sample size of weights `w` (0 when they sum to 0)."""
    total = float(w.sum())
    return total * total / float(np.sum(w * w)) if total > 0 else 0.0


def _share(hit: np.ndarray, rows: np.ndarray, w: np.ndarray, alpha: float) -> Interval | None:
    """Wilson interval of the weighted share of `hit` among `rows`, at the effective size."""
    weight = float(w[rows].sum())
    if weight <= 0:
        return None
    n_eff = _effective(w[rows])
    return wilson(float(w[rows & hit].sum()) / weight * n_eff, n_eff, alpha)


def realized_metrics(
    p: np.ndarray,
    flagged: np.ndarray,
    y: np.ndarray,
    *,
    costs: tuple[float, float],
    alpha: float,
    weights: np.ndarray | None = None,
) -> MetricSet:
    """Metrics of labeled rows (`y` boolean) at the decisions `flagged`."""
    w = np.ones(p.size) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != p.shape or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise EstimationInputError("weights must be finite, non-negative, one per labeled row")
    tp, fp = float(w[flagged & y].sum()), float(w[flagged & ~y].sum())
    fn, tn = float(w[~flagged & y].sum()), float(w[~flagged & ~y].sum())
    z = float(norm.ppf(1 - alpha / 2))
    auc = average_precision = None
    if tp + fn > 0:
        ranked = ScoredRows.of(y.astype(np.int8), p, w).metrics(names=("roc_auc", "pr_auc"))
        average_precision = float(ranked["pr_auc"][0])
        value = float(ranked["roc_auc"][0])
        if math.isfinite(value):
            n1, n0 = _effective(w[y]), _effective(w[~y])
            q1, q2 = value / (2 - value), 2 * value * value / (1 + value)
            var = value * (1 - value) + (n1 - 1) * (q1 - value**2) + (n0 - 1) * (q2 - value**2)
            half = z * math.sqrt(max(var / (n1 * n0), 0.0))
            auc = Interval(value, max(0.0, value - half), min(1.0, value + half))
    row_costs = np.where(flagged & ~y, costs[0], 0.0) + np.where(~flagged & y, costs[1], 0.0)
    total = float(w.sum())
    cost = float(np.sum(w * row_costs)) / total if total > 0 else math.nan
    n_eff = _effective(w)
    se = 0.0
    if n_eff > 1:
        spread = float(np.sum(w * (row_costs - cost) ** 2)) / total * n_eff / (n_eff - 1)
        se = math.sqrt(spread / n_eff)
    return MetricSet(
        kind="realized",
        n_rows=p.size,
        pr_auc=average_precision,
        precision=_share(y, flagged, w, alpha),
        recall=_share(flagged, y, w, alpha),
        false_positive_rate=_share(flagged, ~y, w, alpha),
        false_negative_rate=_share(~flagged, y, w, alpha),
        expected_cost=Interval(cost, max(0.0, cost - z * se), cost + z * se),
        roc_auc=auc,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
    )
