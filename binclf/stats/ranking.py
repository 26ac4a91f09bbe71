"""ROC-AUC and average precision of one scored sample from a single sort.

Both are computed at the distinct score values (tied scores form one threshold), as
scikit-learn's `roc_auc_score` (trapezoids, so ties count half) and `average_precision_score`
(the step sum of precision over recall increments) do, but from one sort instead of two.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm


def roc_auc_and_average_precision(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(ROC-AUC, average precision) of scores `p` for 0/1 labels `y`; NaN when undefined
    (ROC-AUC needs both classes, average precision a positive)."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels have shape {y.shape}, scores {p.shape}")
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0:
        return math.nan, math.nan
    order = np.argsort(-p)  # order within ties is irrelevant: only group ends are read
    scores, labels = p[order], y[order]
    last = np.flatnonzero(np.diff(scores) != 0)  # the last row of each distinct score
    last = np.append(last, scores.size - 1)
    tp = np.cumsum(labels)[last].astype(float)
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    ap = float(np.sum(np.diff(recall, prepend=0.0) * precision))
    n_neg = scores.size - n_pos
    if n_neg == 0:
        return math.nan, ap
    tpr = np.concatenate(([0.0], recall))
    fpr = np.concatenate(([0.0], fp / n_neg))
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return auc, ap


def roc_auc_logit_interval(
    y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None, *, alpha: float
) -> tuple[float, float, float]:
    """(ROC-AUC, low, high): DeLong's variance, the interval built on the logit scale.

    The variance is that of the mean placement values (each positive's weighted share of
    negatives scored lower, ties half, and each negative's share of positives scored higher),
    with Kish's effective sizes under `weights`. On the logit scale the interval stays inside
    (0, 1) and follows the skew of an AUC near 1, where a bootstrap percentile interval of a
    small sample (a 250-row slice) is too narrow. NaN bounds when one class is missing; an AUC
    of exactly 0 or 1 has no logit and gets the interval (AUC, AUC).
    """
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(-p, kind="stable")
    scores, positive, weight = p[order], y[order], w[order]
    group = np.cumsum(np.r_[True, scores[1:] != scores[:-1]]) - 1
    pos_by_group = np.bincount(group, weights=weight * positive)
    neg_by_group = np.bincount(group, weights=weight * ~positive)
    total_pos, total_neg = pos_by_group.sum(), neg_by_group.sum()
    if total_pos <= 0 or total_neg <= 0:
        return math.nan, math.nan, math.nan
    neg_below = total_neg - np.cumsum(neg_by_group) + 0.5 * neg_by_group
    pos_above = np.cumsum(pos_by_group) - 0.5 * pos_by_group
    placement_pos = neg_below[group[positive]] / total_neg
    placement_neg = pos_above[group[~positive]] / total_pos
    auc = float(np.sum(weight[positive] * placement_pos) / total_pos)
    if auc <= 0.0 or auc >= 1.0:
        return auc, auc, auc
    variance = _placement_variance(placement_pos, weight[positive], auc) + _placement_variance(
        placement_neg, weight[~positive], auc
    )
    z = float(norm.ppf(1.0 - alpha / 2.0))
    half = z * math.sqrt(variance) / (auc * (1.0 - auc))
    centre = math.log(auc / (1.0 - auc))
    return auc, _expit(centre - half), _expit(centre + half)


def _placement_variance(placement: np.ndarray, w: np.ndarray, auc: float) -> float:
    """Variance of the weighted mean of placement values, with the n / (n - 1) correction at
    Kish's effective size (0 for a single effective row)."""
    total = float(w.sum())
    n_eff = total * total / float(np.sum(w * w))
    if n_eff <= 1.0:
        return 0.0
    return float(np.sum(w * w * (placement - auc) ** 2)) / total**2 * n_eff / (n_eff - 1.0)


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
