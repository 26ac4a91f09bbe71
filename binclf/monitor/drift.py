"""Fast per-feature drift of a partition against a reference profile stored with the model.

The reference (the champion's training data) is summarised once into a `ReferenceProfile`: quantile
bins for numeric columns, the frequent levels for categorical ones, a null bin for both, and the
reference counts in those bins. A partition is then compared bin by bin with two numbers:

- the Jensen-Shannon distance (base 2, from 0 to 1) between the two binned distributions: the
  effect size. 0.1 (the scale of evidently's default) is about a 0.25 standard-deviation mean shift
  of a normal variable on 10 quantile bins, or a population stability index of about 0.055;
- a chi-square test of homogeneity on the counts: the significance, which accounts for the sample
  size of both the reference and the partition.

A feature drifts only when both agree: distance >= `min_effect` AND Holm-adjusted p-value < `alpha`.
A fixed distance alone is crossed by chance on small partitions with many bins; a test alone is
significant for any negligible shift on a million rows. Holm's adjustment over the features makes
the alarm `share_drifted >= share_threshold` fire on a partition without drift with probability at
most `alpha`, whatever the threshold (> 0) and the dependence between features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from scipy import special, stats

from binclf.stats.profiles import (
    CategoricalProfile,
    ColumnKind,
    DriftInputError,
    NumericProfile,
    ReferenceProfile,
    check_columns,
)

METHOD = "jensen_shannon+chi2"
MIN_EXPECTED_COUNT = 5.0  # chi-square's usual rule: sparser bins are pooled before the test


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one column: effect size, test and verdict."""

    column: str
    kind: ColumnKind
    method: str
    statistic: float  # Jensen-Shannon distance, base 2
    chi2: float
    dof: int
    p_value: float
    p_value_adjusted: float  # Holm over the features; equals p_value for the prediction
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "method": self.method,
            "statistic": self.statistic,
            "chi2": self.chi2,
            "dof": self.dof,
            "p_value": self.p_value,
            "p_value_adjusted": self.p_value_adjusted,
            "drifted": self.drifted,
        }


@dataclass(frozen=True)
class DriftResult:
    """Drift of one partition: per feature, the share drifted, the alarm, prediction drift."""

    features: tuple[FeatureDrift, ...]
    prediction_drift: FeatureDrift | None
    share_drifted: float
    alarm: bool  # share_drifted >= share_threshold
    n_rows: int
    alpha: float
    min_effect: float
    share_threshold: float

    @property
    def drifted_columns(self) -> list[str]:
        return [f.column for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "share_drifted": self.share_drifted,
            "alarm": self.alarm,
            "drifted_columns": self.drifted_columns,
            "alpha": self.alpha,
            "min_effect": self.min_effect,
            "share_threshold": self.share_threshold,
            "features": [f.to_dict() for f in self.features],
            "prediction_drift": (
                self.prediction_drift.to_dict() if self.prediction_drift is not None else None
            ),
        }


def drift_statistics(
    profile: ReferenceProfile,
    current: pl.DataFrame,
    *,
    alpha: float = 0.05,
    min_effect: float = 0.1,
    share_threshold: float = 0.3,
) -> DriftResult:
    """Compare `current` with the reference profile; see the module docstring for the rule."""
    if not 0.0 < alpha < 1.0:
        raise DriftInputError(f"alpha must be in (0, 1), got {alpha}")
    if not 0.0 <= min_effect <= 1.0:
        raise DriftInputError(f"min_effect must be in [0, 1], got {min_effect}")
    if not 0.0 < share_threshold <= 1.0:
        raise DriftInputError(f"share_threshold must be in (0, 1], got {share_threshold}")
    if current.height == 0:
        raise DriftInputError("the current partition has no rows")
    scored = [profile.score.column] if profile.score is not None else []
    check_columns(
        current,
        numeric=[p.column for p in profile.numeric] + scored,
        categorical=[p.column for p in profile.categorical],
        what="current partition",
    )

    columns: list[NumericProfile | CategoricalProfile] = [*profile.numeric, *profile.categorical]
    comparisons = [_compare(p.reference_counts, p.counts_of(current[p.column])) for p in columns]
    adjusted = _holm([c.p_value for c in comparisons])
    features = tuple(
        _feature_drift(p.column, p.kind, comparison, p_adj, alpha=alpha, min_effect=min_effect)
        for p, comparison, p_adj in zip(columns, comparisons, adjusted, strict=True)
    )
    prediction = None
    if profile.score is not None:
        score = profile.score
        comparison = _compare(score.reference_counts, score.counts_of(current[score.column]))
        prediction = _feature_drift(
            score.column,
            "prediction",
            comparison,
            comparison.p_value,
            alpha=alpha,
            min_effect=min_effect,
        )
    share = sum(f.drifted for f in features) / len(features)
    return DriftResult(
        features=features,
        prediction_drift=prediction,
        share_drifted=share,
        alarm=share >= share_threshold,
        n_rows=current.height,
        alpha=alpha,
        min_effect=min_effect,
        share_threshold=share_threshold,
    )


def _feature_drift(
    column: str,
    kind: ColumnKind,
    comparison: _Comparison,
    p_adjusted: float,
    *,
    alpha: float,
    min_effect: float,
) -> FeatureDrift:
    return FeatureDrift(
        column=column,
        kind=kind,
        method=METHOD,
        statistic=comparison.distance,
        chi2=comparison.chi2,
        dof=comparison.dof,
        p_value=comparison.p_value,
        p_value_adjusted=p_adjusted,
        drifted=bool(p_adjusted < alpha and comparison.distance >= min_effect),
    )


class _Comparison(NamedTuple):
    distance: float  # Jensen-Shannon, base 2
    chi2: float
    dof: int
    p_value: float


def _compare(reference: np.ndarray, current: np.ndarray) -> _Comparison:
    """Jensen-Shannon distance, chi-square, degrees of freedom and p-value of two count vectors."""
    reference, current = _pool_sparse_bins(reference, current)
    n_ref, n_cur = reference.sum(), current.sum()
    p, q = reference / n_ref, current / n_cur
    middle = (p + q) / 2
    divergence = (special.rel_entr(p, middle).sum() + special.rel_entr(q, middle).sum()) / 2
    distance = float(np.sqrt(max(divergence / np.log(2), 0.0)))
    if reference.size < 2:
        return _Comparison(distance, 0.0, 0, 1.0)
    totals = reference + current
    expected_ref = totals * (n_ref / (n_ref + n_cur))
    expected_cur = totals * (n_cur / (n_ref + n_cur))
    chi2 = float(
        np.sum((reference - expected_ref) ** 2 / expected_ref)
        + np.sum((current - expected_cur) ** 2 / expected_cur)
    )
    dof = reference.size - 1
    return _Comparison(distance, chi2, dof, float(stats.chi2.sf(chi2, dof)))


def _pool_sparse_bins(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop empty bins and pool bins whose expected count is below 5 in either sample."""
    occupied = (reference + current) > 0
    reference, current = reference[occupied].astype(float), current[occupied].astype(float)
    share_ref = reference.sum() / (reference.sum() + current.sum())
    totals = reference + current
    sparse = _expected_minimum(totals, share_ref) < MIN_EXPECTED_COUNT
    if not sparse.any():
        return reference, current
    pooled_ref, pooled_cur = reference[sparse].sum(), current[sparse].sum()
    reference, current = reference[~sparse], current[~sparse]
    pooled_total = np.asarray(pooled_ref + pooled_cur)
    if _expected_minimum(pooled_total, share_ref) < MIN_EXPECTED_COUNT and reference.size > 0:
        smallest = int(np.argmin(reference + current))
        reference[smallest] += pooled_ref
        current[smallest] += pooled_cur
        return reference, current
    return np.append(reference, pooled_ref), np.append(current, pooled_cur)


def _expected_minimum(totals: np.ndarray, share_ref: float) -> np.ndarray:
    """The smaller of the two expected counts of each bin under homogeneity."""
    return np.minimum(totals * share_ref, totals * (1 - share_ref))


def _holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error control under any dependence)."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order]).clip(max=1.0)
    adjusted = np.empty(m)
    adjusted[order] = stepped
    return [float(a) for a in adjusted]
