"""Performance before the labels come: confidence-based estimation (CBPE) from calibrated
probabilities, realized metrics on the labeled rows, and a calibration check between them.

With calibrated probabilities p and threshold t, a row flagged (p >= t) is a true positive with
probability p, so the expected confusion matrix is TP = Σ p·[p ≥ t], FP = Σ (1−p)·[p ≥ t],
FN = Σ p·[p < t], TN = Σ (1−p)·[p < t]. Intervals come from a parametric bootstrap: labels are
drawn as y ~ Bernoulli(p) for the rows not yet labeled (labeled rows keep their label), and each
metric is computed on every draw. The interval therefore covers the value the labels will show,
not only the mean. The estimate rests on two assumptions (as NannyML documents for CBPE): the
probabilities are calibrated on today's data, and P(y | x) has not changed. `calibration_check`
tests the first on the labeled rows; when it fails the estimates are marked unreliable.

Counts are drawn from their normal approximation (sum of independent Bernoulli draws; exact mean
and variance), so the cost is O(n) once plus O(n_sim); ROC-AUC draws row labels on a seeded sample
of at most `auc_sample_rows` rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy.special import ndtri
from scipy.stats import norm, rankdata

from binclf.stats.ranking import roc_auc_and_average_precision


class EstimationInputError(ValueError):
    """Probabilities, labels or settings that performance cannot be estimated from."""


@dataclass(frozen=True)
class Interval:
    """A point value and its (1 − alpha) interval; None when undefined."""

    value: float
    low: float
    high: float

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class MetricSet:
    """Decision and ranking metrics with intervals, plus the counts the SLOs pool over."""

    kind: str  # "estimated", "realized" or "blended"
    n_rows: int
    precision: Interval | None
    recall: Interval | None
    false_positive_rate: Interval | None
    false_negative_rate: Interval | None
    expected_cost: Interval | None
    roc_auc: Interval | None
    true_positives: float
    false_positives: float
    false_negatives: float
    true_negatives: float
    pr_auc: float | None = None  # average precision, realized metrics only (same sort as AUC)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class CalibrationCheck:
    """Observed against predicted positive rate on labeled rows, overall and per decision."""

    n_labeled: int
    observed_rate: float | None
    predicted_rate: float | None
    interval: Interval | None  # where the observed rate lies if calibration holds
    max_abs_z: float | None
    reliable: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PartitionPerformance:
    """One partition's estimated, realized and blended metrics and the calibration verdict."""

    n_rows: int
    n_labeled: int
    labeled_share: float
    estimated: MetricSet
    realized: MetricSet | None
    blended: MetricSet
    calibration: CalibrationCheck

    @property
    def reliable(self) -> bool:
        return self.calibration.reliable

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _check(p: np.ndarray, y: np.ndarray | None) -> None:
    if p.ndim != 1 or not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise EstimationInputError("probabilities must be a 1-d array of values in [0, 1]")
    if y is not None and y.shape != p.shape:
        raise EstimationInputError(f"labels have shape {y.shape}, probabilities {p.shape}")


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def _interval(point: float, draws: np.ndarray, alpha: float) -> Interval | None:
    draws = draws[np.isfinite(draws)]
    if not math.isfinite(point) or draws.size == 0:
        return None
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return Interval(float(point), float(min(low, point)), float(max(high, point)))


def _simulated_aucs(
    p: np.ndarray, known: np.ndarray, y: np.ndarray, *, n_sim: int, rng: np.random.Generator
) -> np.ndarray:
    """ROC-AUC of each draw of labels (known rows fixed, the others ~ Bernoulli(p)): the rank
    sum of the positives, with the known rows' part computed once and only open rows drawn."""
    ranks = rankdata(p)
    open_ = ~known
    fixed_rank, fixed_n1 = float(ranks[known & y].sum()), int(np.count_nonzero(known & y))
    p_open, ranks_open = p[open_], ranks[open_]
    n, aucs = p.size, np.full(n_sim, np.nan)
    for i in range(n_sim):
        draw = rng.random(p_open.size) < p_open
        n1 = fixed_n1 + int(np.count_nonzero(draw))
        if 0 < n1 < n:
            rank_sum = fixed_rank + float(ranks_open[draw].sum())
            aucs[i] = (rank_sum - n1 * (n1 + 1) / 2) / (n1 * (n - n1))
    return aucs


def _metric_set(
    kind: str,
    p: np.ndarray,
    flagged: np.ndarray,
    known: np.ndarray,
    y: np.ndarray,
    *,
    costs: tuple[float, float],
    alpha: float,
    n_sim: int,
    auc_sample_rows: int,
    seed: int,
) -> MetricSet:
    """Metrics where `known` rows count with label y and the others with y ~ Bernoulli(p)."""
    rng = np.random.default_rng(seed)
    open_ = ~known
    parts = []
    for group in (flagged, ~flagged):
        fixed = float(np.sum(y[group & known]))
        q = p[group & open_]
        parts.append((fixed + float(q.sum()), float(np.sum(q * (1 - q))), fixed, q.size))
    n_flag, n = float(flagged.sum()), p.size
    (tp, tp_var, _, _), (fn, fn_var, _, _) = parts

    def draw(mean: float, var: float, upper: float) -> np.ndarray:
        return np.clip(mean + math.sqrt(var) * rng.standard_normal(n_sim), 0.0, upper)

    tp_s = draw(tp, tp_var, n_flag)
    fn_s = draw(fn, fn_var, n - n_flag)
    fp, fp_s = n_flag - tp, n_flag - tp_s
    tn, tn_s = n - n_flag - fn, n - n_flag - fn_s
    c_fp, c_fn = costs

    def both(fn_: object) -> Interval | None:
        point = float(fn_(tp, fp, fn, tn))  # type: ignore[operator]
        return _interval(point, np.asarray(fn_(tp_s, fp_s, fn_s, tn_s)), alpha)  # type: ignore[operator]

    sample = np.arange(n)
    if n > auc_sample_rows:
        sample = np.sort(rng.choice(n, auc_sample_rows, replace=False))
    ps, ks, ys = p[sample], known[sample], y[sample].astype(bool)
    aucs = _simulated_aucs(ps, ks, ys, n_sim=n_sim, rng=rng)
    finite = aucs[np.isfinite(aucs)]
    auc = None
    if finite.size:
        auc = _interval(float(finite.mean()), finite, alpha)
        if ks.all():
            auc = _interval(roc_auc_and_average_precision(ys, ps)[0], finite, alpha)
    return MetricSet(
        kind=kind,
        n_rows=n,
        precision=both(lambda a, b, c, d: _ratio(a, a + b)),
        recall=both(lambda a, b, c, d: _ratio(a, a + c)),
        false_positive_rate=both(lambda a, b, c, d: _ratio(b, b + d)),
        false_negative_rate=both(lambda a, b, c, d: _ratio(c, a + c)),
        expected_cost=both(lambda a, b, c, d: _ratio(c_fp * b + c_fn * c, n)),
        roc_auc=auc,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
    )


def calibration_check(
    p: np.ndarray, y: np.ndarray, flagged: np.ndarray, *, alpha: float = 0.01
) -> CalibrationCheck:
    """Do the labeled rows show the positive rate the probabilities predict?

    Overall and within the flagged and unflagged rows (where precision and recall come from), the
    observed number of positives is compared with Σ p, whose variance under calibration is
    Σ p(1 − p); the estimates are unreliable when any |z| exceeds the Bonferroni-adjusted
    two-sided critical value for `alpha`. Without labels there is nothing to check.
    """
    _check(p, y)
    n = p.size
    if n == 0:
        return CalibrationCheck(0, None, None, None, None, True, "no labeled rows yet")
    z_crit = float(ndtri(1 - alpha / 6))
    q = p * (1 - p)
    totals = (float(y.sum()), float(p.sum()), float(q.sum()))
    zs = []
    for group in (flagged, ~flagged):
        var = float(np.sum(q, where=group))
        if var > 0:
            positives = float(np.count_nonzero(y & group))
            zs.append((positives - float(np.sum(p, where=group))) / math.sqrt(var))
    if totals[2] > 0:
        zs.append((totals[0] - totals[1]) / math.sqrt(totals[2]))
    observed, predicted = totals[0] / n, totals[1] / n
    half = z_crit * math.sqrt(totals[2]) / n
    band = Interval(predicted, max(0.0, predicted - half), min(1.0, predicted + half))
    worst = max((abs(z) for z in zs), default=0.0)
    reliable = worst <= z_crit
    reason = (
        f"observed positive rate {observed:.4f} vs predicted {predicted:.4f}, max |z| "
        f"{worst:.2f} {'<=' if reliable else '>'} {z_crit:.2f}"
    )
    return CalibrationCheck(n, observed, predicted, band, worst, reliable, reason)


def partition_performance(
    p: np.ndarray,
    threshold: float,
    *,
    y: np.ndarray | None = None,
    costs: tuple[float, float] = (1.0, 10.0),
    alpha: float = 0.05,
    calibration_alpha: float = 0.01,
    n_sim: int = 400,
    auc_sample_rows: int = 20_000,
    seed: int = 0,
    weights: np.ndarray | None = None,
) -> PartitionPerformance:
    """Estimated (all rows from p), realized (labeled rows) and blended metrics of a partition.

    `y` holds 1/0 for labeled rows and NaN (or a negative value) for rows not labeled yet.
    `weights` (the spec's row weights) weight the realized metrics; the estimated and blended
    ones, which the SLOs pool as row counts, count rows.
    """
    p = np.asarray(p, dtype=float)
    labels = np.full(p.size, np.nan) if y is None else np.asarray(y, dtype=float)
    _check(p, labels)
    known = np.isfinite(labels) & (labels >= 0)
    y01 = np.where(known, labels, 0.0).astype(bool)
    if np.any(known & ~np.isin(labels, (0.0, 1.0))):
        raise EstimationInputError("labels must be 0, 1 or missing")
    flagged = p >= threshold
    settings = {
        "costs": costs,
        "alpha": alpha,
        "n_sim": n_sim,
        "auc_sample_rows": auc_sample_rows,
    }
    none = np.zeros(p.size, bool)
    estimated = _metric_set("estimated", p, flagged, none, y01, seed=seed, **settings)
    blended = replace(estimated, kind="blended")  # without labels the blend is the estimate
    if known.any():
        blended = _metric_set("blended", p, flagged, known, y01, seed=seed + 1, **settings)
    realized = None
    if known.any():
        from binclf.monitor.realized import realized_metrics  # it builds this module's types

        wk = None if weights is None else np.asarray(weights, dtype=float)[known]
        realized = realized_metrics(
            p[known], flagged[known], y01[known], costs=costs, alpha=alpha, weights=wk
        )
    check = calibration_check(p[known], y01[known], flagged[known], alpha=calibration_alpha)
    n_labeled = int(known.sum())
    share = n_labeled / p.size if p.size else 0.0
    return PartitionPerformance(p.size, n_labeled, share, estimated, realized, blended, check)


def wilson(successes: float, total: float, alpha: float) -> Interval | None:
    """Wilson score interval of a proportion; None when the total is zero."""
    if total <= 0:
        return None
    z = float(norm.ppf(1 - alpha / 2))
    rate = successes / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total))
    half /= 1 + z * z / total
    return Interval(rate, max(0.0, centre - half), min(1.0, centre + half))
