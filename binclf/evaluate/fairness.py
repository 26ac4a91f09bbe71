"""Group fairness of the decisions at the threshold, for one sensitive attribute.

Per group: selection rate, TPR, FPR, FNR, precision and ECE. Across groups: demographic-parity
difference and ratio, equalized-odds difference (the larger of the TPR and FPR gaps),
equal-opportunity difference (the TPR gap) and the disparate-impact ratio (lowest over highest
selection rate; the four-fifths rule flags it below 0.8 - it is the demographic-parity ratio
read as that rule). Every number carries a seeded bootstrap interval.

Point values and replicates come from the same per-group sums (`binclf.stats.engine`), so a
number and its interval are one computation; they equal fairlearn's (`MetricFrame` rates and
its disparity functions, with `sample_weight`), which the tests check. fairlearn itself, which
splits its inputs group by group in pandas (~0.1 s per `MetricFrame`), is not run per report.
Group ECE is debiased (`binclf.stats.engine.debiased_ece`), as the test ECE is. Only groups
with at least `min_group_size` rows and both classes are compared: a tiny group's rates are
noise and would decide the max-minus-min disparities alone. Replicates resample rows as
`binclf.evaluate.slices` does, so a slice report and a fairness report with the same seed use
the same resamples.

With `weights` (the spec's `weight_column`) every rate, ECE and disparity is weighted, as
fairlearn and scikit-learn compute them with `sample_weight`; `rows`, `positives` and the size
rule count rows.

Intervals: per-group metrics use percentile intervals. A disparity is a max-minus-min (or
min-over-max) of noisy rates, biased away from "no disparity" even when the groups are equal,
and resampling adds that bias a second time; a percentile interval of it would exclude zero
almost always. The demographic-parity disparities use the basic (reverse-percentile) interval
`[2 v - q_high, 2 v - q_low]`, which subtracts the bias, clipped to [0, 1]. For the gaps of
TPR (and FPR) that over-corrects when one pair of groups is clearly apart (it covered 86 % and
89 %), so equalized-odds and equal-opportunity differences get the interval of the largest
pairwise gap (`binclf.stats.gaps.largest_gap_interval`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from binclf.evaluate.groups import estimate_or_none, group_codes
from binclf.stats.bootstrap import percentile_interval
from binclf.stats.engine import bin_index, bootstrap_group_sums, confusion_rates, debiased_ece
from binclf.stats.gaps import largest_gap_interval
from binclf.stats.metrics import Estimate, validate_inputs

FOUR_FIFTHS = 0.8
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "fnr", "precision", "ece")
DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "disparate_impact_ratio",
)
# Disparities that are the largest gap of these group rates between two groups.
_LARGEST_GAPS = {
    "equalized_odds_difference": ("tpr", "fpr"),
    "equal_opportunity_difference": ("tpr",),
}
# GROUP_METRICS name -> the name `binclf.stats.engine.confusion_rates` gives it.
_RATE_NAMES = {
    "selection_rate": "selection_rate",
    "tpr": "recall",
    "fpr": "fpr",
    "fnr": "fnr",
    "precision": "precision",
}


class FairnessError(ValueError):
    """Inputs a fairness report cannot use; the message names the bad value."""


def fairness_report(
    y: np.ndarray,
    p: np.ndarray,
    sensitive: pl.Series | np.ndarray,
    *,
    threshold: float,
    min_group_size: int = 100,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    n_bins: int = 10,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """Fairness metrics of the decisions `p >= threshold` across the groups of `sensitive`.

    Returns a JSON-ready dict: `attribute` (the Series name, else None), `threshold`,
    `min_group_size`, `groups` (one row per group: `group`, `rows`, `positives`, `small`,
    `compared`, and an Estimate or None (undefined) per `GROUP_METRICS`), `compared_groups`,
    `not_compared_groups` with the `size_rule` that left them out,
    `disparities` (an Estimate per `DISPARITIES`, None with fewer than two compared groups) and
    `four_fifths_violated` (disparate-impact ratio below 0.8; None when undefined).
    """
    y, p, w = validate_inputs(y, p, weights=weights, require_both_classes=False)
    if len(sensitive) != len(y):
        raise FairnessError(f"sensitive has {len(sensitive)} values but y has {len(y)}")
    if not np.isfinite(threshold):
        raise FairnessError(f"threshold must be finite, got {threshold}")
    if min_group_size < 1:
        raise FairnessError(f"min_group_size must be at least 1, got {min_group_size}")
    if n_bins < 1:
        raise FairnessError(f"n_bins must be at least 1, got {n_bins}")

    codes, labels = group_codes(sensitive)
    flagged = p >= threshold
    # Equal-width probability bins, as binclf.stats.metrics.expected_calibration_error uses.
    cell_codes = codes * n_bins + bin_index(p, n_bins)
    positive = y.astype(np.float64)
    per_row = w[:, np.newaxis] * np.column_stack(
        [np.ones_like(p), positive, flagged, positive * flagged, p - y, (p - y) ** 2, w]
    )
    point_sums = np.stack(
        [np.bincount(cell_codes, weights=col, minlength=len(labels) * n_bins) for col in per_row.T],
        axis=-1,
    )
    point = _group_metrics(point_sums.reshape(1, len(labels), n_bins, -1))
    boot_sums = bootstrap_group_sums(
        cell_codes, len(labels) * n_bins, per_row, n_boot=n_boot, seed=seed
    )
    replicates = _group_metrics(boot_sums.reshape(n_boot, len(labels), n_bins, -1))

    rows = np.bincount(codes, minlength=len(labels))
    positives = np.bincount(codes, weights=y, minlength=len(labels)).astype(np.int64)
    compared = (rows >= min_group_size) & (positives > 0) & (positives < rows)
    groups = []
    for code, label in enumerate(labels):
        group: dict[str, Any] = {
            "group": label,
            "rows": int(rows[code]),
            "positives": int(positives[code]),
            "small": bool(rows[code] < min_group_size),
            "compared": bool(compared[code]),
        }
        for metric in GROUP_METRICS:
            value = float(point[metric][0, code])
            group[metric] = estimate_or_none(value, replicates[metric][:, code], alpha)
        groups.append(group)

    compared_labels = [label for label, keep in zip(labels, compared, strict=True) if keep]
    disparities = dict.fromkeys(DISPARITIES)
    if len(compared_labels) >= 2:
        values, boot = _disparities(point, compared), _disparities(replicates, compared)
        for name in DISPARITIES:
            value = float(values[name][0])
            if name in _LARGEST_GAPS:
                rates = _LARGEST_GAPS[name]
                bounds = largest_gap_interval(
                    [point[rate][0, compared] for rate in rates],
                    [replicates[rate][:, compared] for rate in rates],
                    alpha,
                )
                disparities[name] = _estimate(value, bounds)
            else:
                disparities[name] = _basic_estimate(value, boot[name], alpha)
    impact = disparities["disparate_impact_ratio"]
    return {
        "attribute": sensitive.name if isinstance(sensitive, pl.Series) else None,
        "threshold": float(threshold),
        "min_group_size": int(min_group_size),
        "groups": groups,
        "compared_groups": compared_labels,
        "not_compared_groups": [label for label in labels if label not in compared_labels],
        "size_rule": f"a group is compared with at least {min_group_size} rows and both classes",
        "disparities": disparities,
        "four_fifths_violated": None if impact is None else bool(impact["value"] < FOUR_FIFTHS),
    }


def _group_metrics(sums: np.ndarray) -> dict[str, np.ndarray]:
    """GROUP_METRICS (..., groups) from sums (..., groups, bins, [weight, positives, flagged,
    tp, p - y, (p - y)^2, weight^2])."""
    per_group = sums.sum(axis=-2)
    rates = confusion_rates(
        per_group[..., 0], per_group[..., 1], per_group[..., 2], per_group[..., 3]
    )
    metrics = {metric: rates[name] for metric, name in _RATE_NAMES.items()}
    by_bin = np.moveaxis(sums[..., [0, 4, 5, 6]], -1, 0)
    metrics["ece"] = debiased_ece(*by_bin)
    return metrics


def _disparities(metrics: dict[str, np.ndarray], compared: np.ndarray) -> dict[str, np.ndarray]:
    """DISPARITIES (replicates,) over the compared groups of group metrics (replicates, groups),
    as fairlearn defines them: max minus min, min over max, the larger of the TPR and FPR gaps."""
    selection = metrics["selection_rate"][:, compared]
    tpr_gap = np.ptp(metrics["tpr"][:, compared], axis=1)
    ratio = np.divide(
        selection.min(axis=1),
        selection.max(axis=1),
        out=np.full(len(selection), np.nan),
        where=selection.max(axis=1) > 0,
    )
    return {
        "demographic_parity_difference": np.ptp(selection, axis=1),
        "demographic_parity_ratio": ratio,
        "equalized_odds_difference": np.maximum(
            tpr_gap, np.ptp(metrics["fpr"][:, compared], axis=1)
        ),
        "equal_opportunity_difference": tpr_gap,
        "disparate_impact_ratio": ratio,
    }


def _basic_estimate(value: float, replicates: np.ndarray, alpha: float) -> Estimate | None:
    """The basic bootstrap interval [2 v - q_high, 2 v - q_low], clipped to [0, 1]."""
    q_low, q_high = percentile_interval(replicates, alpha)
    return _estimate(value, (2 * value - q_high, 2 * value - q_low))


def _estimate(value: float, bounds: tuple[float, float]) -> Estimate | None:
    """None for an undefined value; bounds None when no replicate defines them."""
    if not np.isfinite(value):
        return None
    low, high = bounds
    if not np.isfinite(low):
        return {"value": value, "ci_low": None, "ci_high": None}  # type: ignore[typeddict-item]
    return {
        "value": value,
        "ci_low": float(np.clip(low, 0.0, 1.0)),
        "ci_high": float(np.clip(high, 0.0, 1.0)),
    }
