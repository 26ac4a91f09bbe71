"""Metrics of binary probability predictions, each with an interval (bootstrap or Wilson).

Input checks, calibration summaries and `evaluate_predictions`. Every metric with an interval
comes from `binclf.stats.engine` (rows sorted once, replicates as row weights), which also
serves the champion comparison, slices and fairness; its point values match scikit-learn's
weighted metrics.

Conventions: a row is flagged positive when `p >= threshold`; a ratio with a zero denominator
(precision with nothing flagged) is 0.0, as scikit-learn's `zero_division=0`; `ece` uses
equal-width probability bins, `ece_equal_mass` bins with equal shares of the rows; both, as
reported with an interval, are debiased (`binclf.stats.engine.debiased_ece`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from binclf.stats.bootstrap import percentile_interval
from binclf.stats.engine import (
    METRICS,
    ScoredRows,
    bin_index,
    debiased_ece,
    equal_mass_bin_index,
    replicate_metrics,
    row_log_loss,
)

Binning = Literal["equal_width", "equal_mass"]
# Block-bootstrap intervals shifted down by the replicates' mean excess over the value.
_SHIFTED = frozenset({"ece", "ece_equal_mass"})


class PredictionInputError(ValueError):
    """Labels, probabilities or weights that cannot be evaluated."""


class Estimate(TypedDict):
    """A metric value with its bootstrap percentile interval."""

    value: float
    ci_low: float
    ci_high: float


def validate_inputs(
    y: np.ndarray,
    p: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    require_both_classes: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check labels, probabilities and weights; return them as int8, float64, float64 arrays.

    Missing weights become ones. Raises `PredictionInputError` naming the bad input.
    """
    y_arr = np.asarray(y)
    p_arr = np.asarray(p, dtype=np.float64)
    if y_arr.ndim != 1 or p_arr.ndim != 1:
        raise PredictionInputError(f"y and p must be 1-D, got shapes {y_arr.shape}, {p_arr.shape}")
    if len(y_arr) != len(p_arr):
        raise PredictionInputError(f"y has {len(y_arr)} rows but p has {len(p_arr)}")
    if len(y_arr) == 0:
        raise PredictionInputError("y and p are empty")
    bad_labels = set(np.unique(y_arr).tolist()) - {0, 1}
    if bad_labels:
        raise PredictionInputError(f"y must hold only 0 and 1, found {sorted(bad_labels)[:5]}")
    if not np.all(np.isfinite(p_arr)) or p_arr.min() < 0.0 or p_arr.max() > 1.0:
        raise PredictionInputError("p must be finite probabilities in [0, 1]")
    if weights is None:
        w_arr = np.ones(len(y_arr), dtype=np.float64)
    else:
        w_arr = np.asarray(weights, dtype=np.float64)
        if w_arr.shape != y_arr.shape:
            raise PredictionInputError(f"weights has shape {w_arr.shape}, expected {y_arr.shape}")
        if not np.all(np.isfinite(w_arr)) or w_arr.min() < 0.0:
            raise PredictionInputError("weights must be finite and non-negative")
    y_int = y_arr.astype(np.int8)
    if require_both_classes:
        for label, name in ((1, "positive"), (0, "negative")):
            if w_arr[y_int == label].sum() <= 0.0:
                raise PredictionInputError(f"y has no {name} rows (with positive weight)")
    return y_int, p_arr, w_arr


def _check_bins(n_bins: int) -> None:
    if n_bins < 1:
        raise PredictionInputError(f"n_bins must be at least 1, got {n_bins}")


@dataclass(frozen=True)
class ReliabilityBins:
    """Per non-empty bin: mean probability, observed positive rate, total weight."""

    mean_predicted: np.ndarray
    observed_rate: np.ndarray
    weight: np.ndarray


def reliability_bins(
    y: np.ndarray,
    p: np.ndarray,
    *,
    n_bins: int = 10,
    weights: np.ndarray | None = None,
    binning: Binning = "equal_width",
) -> ReliabilityBins:
    """Bin probabilities (equal-width, or equal (weighted) shares of the rows) and compare each
    bin's mean probability with its observed rate."""
    y, p, w = validate_inputs(y, p, weights=weights, require_both_classes=False)
    _check_bins(n_bins)
    bins = bin_index(p, n_bins) if binning == "equal_width" else equal_mass_bin_index(p, n_bins, w)
    total = np.bincount(bins, weights=w, minlength=n_bins)
    sum_p = np.bincount(bins, weights=w * p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=w * y, minlength=n_bins)
    filled = total > 0
    return ReliabilityBins(
        mean_predicted=sum_p[filled] / total[filled],
        observed_rate=sum_y[filled] / total[filled],
        weight=total[filled],
    )


def expected_calibration_error(
    y: np.ndarray,
    p: np.ndarray,
    n_bins: int = 10,
    *,
    weights: np.ndarray | None = None,
    binning: Binning = "equal_width",
    debiased: bool = False,
) -> float:
    """Weighted mean gap between predicted and observed rate over the bins of `binning`.

    `debiased` estimates each bin's gap without the upward bias of its noise
    (`binclf.stats.engine.debiased_ece`), as the ECE reported with an interval is.
    """
    if debiased:
        y, p, w = validate_inputs(y, p, weights=weights, require_both_classes=False)
        _check_bins(n_bins)
        index = (
            bin_index(p, n_bins) if binning == "equal_width" else equal_mass_bin_index(p, n_bins, w)
        )
        sums = [
            np.bincount(index, weights=values, minlength=n_bins)
            for values in (w, w * (p - y), w * (p - y) ** 2, w**2)
        ]
        return float(debiased_ece(*sums))
    bins = reliability_bins(y, p, n_bins=n_bins, weights=weights, binning=binning)
    gaps = np.abs(bins.mean_predicted - bins.observed_rate)
    return float(np.sum(bins.weight * gaps) / np.sum(bins.weight))


def log_loss(y: np.ndarray, p: np.ndarray, *, weights: np.ndarray | None = None) -> float:
    """Weighted mean negative log-likelihood, probabilities clipped as scikit-learn does."""
    y, p, w = validate_inputs(y, p, weights=weights, require_both_classes=False)
    return float(np.sum(w * row_log_loss(y, p)) / np.sum(w))


def calibration_summary(
    y: np.ndarray, p: np.ndarray, *, weights: np.ndarray | None = None, n_bins: int = 10
) -> dict[str, float]:
    """Log loss, Brier score and ECE (equal-width and equal-mass bins), as plain floats."""
    y, p, w = validate_inputs(y, p, weights=weights, require_both_classes=False)
    return {
        "log_loss": float(np.sum(w * row_log_loss(y, p)) / np.sum(w)),
        "brier": float(np.sum(w * (p - y) ** 2) / np.sum(w)),
        "ece": expected_calibration_error(y, p, n_bins, weights=w),
        "ece_equal_mass": expected_calibration_error(y, p, n_bins, weights=w, binning="equal_mass"),
    }


def _wilson_estimate(hit: np.ndarray, w: np.ndarray, alpha: float) -> Estimate | None:
    """Wilson interval of the weighted share of `hit` rows, with Kish's effective sample size;
    None when the rows have no weight."""
    if np.sum(w) <= 0:
        return None
    value = float(np.sum(w * hit) / np.sum(w))
    n_eff = float(np.sum(w) ** 2 / np.sum(w**2))
    z = float(norm.ppf(1.0 - alpha / 2.0))
    centre = (value + z**2 / (2 * n_eff)) / (1 + z**2 / n_eff)
    half = z * np.sqrt(value * (1 - value) / n_eff + z**2 / (4 * n_eff**2)) / (1 + z**2 / n_eff)
    return {"value": value, "ci_low": float(centre - half), "ci_high": float(centre + half)}


def _proportion_estimates(
    y: np.ndarray, flagged: np.ndarray, w: np.ndarray, alpha: float
) -> dict[str, Estimate]:
    """Wilson intervals of the metrics that are one share of a set of rows.

    Given its denominator rows (all rows, the positives, the negatives or the flagged rows) each
    is a binomial proportion at a threshold fixed beforehand. A percentile interval of 200
    bootstrap replicates covers these shares a little less often than stated (recall 92 % in
    simulation, against 94 % for Wilson); rows must be independent, so with day clusters the
    bootstrap stays.
    """
    positive = y == 1
    shares = {
        "prevalence": (positive, np.ones_like(positive)),
        "recall": (flagged, positive),
        "fnr": (~flagged, positive),
        "fpr": (flagged, ~positive),
        "precision": (positive, flagged),
    }
    estimates = {}
    for name, (hit, rows) in shares.items():
        estimate = _wilson_estimate(hit[rows], w[rows], alpha)
        if estimate is not None:
            estimates[name] = estimate
    return estimates


def _cost_per_row(values: dict[str, np.ndarray], costs: tuple[float, float]) -> np.ndarray:
    """(cost_fp * FP + cost_fn * FN) / rows from the rates: FP / rows = fpr x (1 - prevalence)."""
    prevalence = values["prevalence"]
    false_positives = np.nan_to_num(values["fpr"]) * (1.0 - prevalence)
    false_negatives = np.nan_to_num(values["fnr"]) * prevalence
    return costs[0] * false_positives + costs[1] * false_negatives


def cluster_widening(clusters: np.ndarray | None, alpha: float) -> float:
    """sqrt(C / (C - 1)) t_{C-1} / z for a block bootstrap over C clusters, 1 without clusters.

    A bootstrap over C clusters understates the variance by (C - 1) / C, and its spread is
    estimated from C clusters only (hence the t quantile); every interval of a block bootstrap
    is widened about its value by this factor, single-model and paired alike.
    """
    if clusters is None:
        return 1.0
    n_clusters = len(np.unique(clusters))
    if n_clusters < 2:
        return 1.0
    t_over_z = student_t.ppf(1 - alpha / 2, n_clusters - 1) / norm.ppf(1 - alpha / 2)
    return float(np.sqrt(n_clusters / (n_clusters - 1)) * t_over_z)


def interval_estimates(
    rows: ScoredRows,
    *,
    n_boot: int,
    seed: int,
    alpha: float = 0.05,
    clusters: np.ndarray | None = None,
    costs: tuple[float, float] | None = None,
    names: Sequence[str] = METRICS,
) -> dict[str, Estimate]:
    """The metrics `names` of scored rows (and `expected_cost` with `costs`), each with its
    bootstrap interval: the intervals `evaluate_predictions` reports.

    Rows resampled: the percentile interval. Whole clusters resampled (a block bootstrap over C
    days): the percentile interval widened about the value by sqrt(C / (C - 1)) t_{C-1} / z, as
    a bootstrap over C clusters understates the variance by (C - 1) / C and its spread is
    estimated from C clusters only (the t quantile); bounds below 0 are clipped to 0.
    The debiased ECE of a resample of days is biased upwards again (a bin's gap near 0 is
    truncated at 0, its day-to-day noise only adds): with clusters, the ECE's percentile
    interval is first shifted down by the replicates' mean excess over the value (the
    bootstrap's estimate of that bias), kept around the value. Resampled rows need no shift.
    """
    needed = set(names) | ({"prevalence", "fpr", "fnr"} if costs is not None else set())
    computed = [name for name in METRICS if name in needed]
    point = rows.metrics(names=computed)
    (replicates,) = replicate_metrics(
        [rows], n_boot=n_boot, seed=seed, clusters=clusters, names=computed
    )
    reported = [name for name in METRICS if name in names]
    if costs is not None:
        point["expected_cost"] = _cost_per_row(point, costs)
        replicates["expected_cost"] = _cost_per_row(replicates, costs)
        reported.append("expected_cost")
    widen = cluster_widening(clusters, alpha)
    estimates: dict[str, Estimate] = {}
    for name in reported:
        value = float(point[name][0])
        low, high = percentile_interval(replicates[name], alpha)
        if name in _SHIFTED and clusters is not None and np.isfinite(low):
            excess = float(np.nanmean(replicates[name])) - value
            low, high = min(low - excess, value), max(high - excess, value)
        if widen != 1.0:
            low, high = max(value - widen * (value - low), 0.0), value + widen * (high - value)
        estimates[name] = {"value": value, "ci_low": low, "ci_high": high}
    return estimates


def evaluate_predictions(
    y: np.ndarray,
    p: np.ndarray,
    *,
    threshold: float,
    weights: np.ndarray | None = None,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    n_bins: int = 10,
    clusters: np.ndarray | None = None,
    costs: tuple[float, float] | None = None,
) -> dict[str, Estimate | dict[str, int]]:
    """Every metric of `p` against `y` as an `Estimate`, plus the confusion counts at `threshold`.

    Intervals come from `n_boot` seeded resamples of the rows, with the class counts free to vary
    as they would in new data (fixing them understates the uncertainty of precision, PR-AUC, log
    loss and ECE). With `clusters` (e.g. the day of each row) whole clusters are resampled, so
    day-to-day variation is in the interval too (`interval_estimates`). Without clusters the
    shares prevalence, precision, recall, FPR and FNR use Wilson intervals
    (`_proportion_estimates`). With `costs`
    (per false positive, per false negative) `expected_cost` is the (weighted) cost per row at
    `threshold`, on the same resamples.
    Confusion counts are numbers of rows, not weighted. Everything returned is JSON-ready.
    """
    y, p, w = validate_inputs(y, p, weights=weights)
    if not np.isfinite(threshold):
        raise PredictionInputError(f"threshold must be finite, got {threshold}")
    _check_bins(n_bins)
    rows = ScoredRows.of(y, p, w, threshold=threshold, n_bins=n_bins)
    if clusters is not None and len(clusters) != len(y):
        raise PredictionInputError(f"clusters has {len(clusters)} values for {len(y)} rows")
    result: dict[str, Estimate | dict[str, int]] = {}
    result |= interval_estimates(
        rows, n_boot=n_boot, seed=seed, alpha=alpha, clusters=clusters, costs=costs
    )
    flagged = p >= threshold
    if clusters is None:
        result |= _proportion_estimates(y, flagged, w, alpha)
    result["confusion"] = {
        "tp": int(np.sum(flagged & (y == 1))),
        "fp": int(np.sum(flagged & (y == 0))),
        "tn": int(np.sum(~flagged & (y == 0))),
        "fn": int(np.sum(~flagged & (y == 1))),
    }
    return result
