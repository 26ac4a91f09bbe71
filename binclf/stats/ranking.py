"""ROC-AUC and average precision of one scored sample from a single sort.

Both are computed at the distinct score values (tied scores form one threshold), as
scikit-learn's `roc_auc_score` (trapezoids, so ties count half) and `average_precision_score`
(the step sum of precision over recall increments) do, but from one sort instead of two.
"""

from __future__ import annotations

import math

import numpy as np


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
