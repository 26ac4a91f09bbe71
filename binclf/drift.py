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
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import polars as pl
from scipy import special, stats

PROFILE_FORMAT = "binclf.reference_profile"
PROFILE_VERSION = 1
METHOD = "jensen_shannon+chi2"
MIN_EXPECTED_COUNT = 5.0  # chi-square's usual rule: sparser bins are pooled before the test

ColumnKind = Literal["numeric", "categorical", "prediction"]


class DriftInputError(ValueError):
    """A profile or partition that drift cannot be computed on; the message names the column."""


@dataclass(frozen=True)
class NumericProfile:
    """Quantile bins of one numeric column: bin i holds values in (edges[i-1], edges[i]]."""

    kind: ClassVar[ColumnKind] = "numeric"
    column: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]  # len(edges) + 1 bins
    null_count: int  # nulls and NaN

    @classmethod
    def from_series(cls, series: pl.Series, *, bins: int) -> NumericProfile:
        values = _numeric_values(series)
        finite = values[np.isfinite(values)]
        if finite.size:
            quantiles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
            edges = tuple(float(e) for e in np.unique(quantiles))
        else:
            edges = ()
        counts = _numeric_bin_counts(edges, series)
        return cls(
            column=series.name,
            edges=edges,
            counts=tuple(int(c) for c in counts[:-1]),
            null_count=int(counts[-1]),
        )

    @property
    def reference_counts(self) -> np.ndarray:
        return np.array([*self.counts, self.null_count], dtype=np.int64)

    def counts_of(self, series: pl.Series) -> np.ndarray:
        """Counts of `series` in this profile's bins, the null bin last."""
        return _numeric_bin_counts(self.edges, series)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "edges": list(self.edges),
            "counts": list(self.counts),
            "null_count": self.null_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericProfile:
        profile = cls(
            column=str(data["column"]),
            edges=tuple(float(e) for e in data["edges"]),
            counts=tuple(int(c) for c in data["counts"]),
            null_count=int(data["null_count"]),
        )
        if len(profile.counts) != len(profile.edges) + 1:
            raise DriftInputError(
                f"numeric profile of {profile.column!r}: {len(profile.counts)} counts for "
                f"{len(profile.edges)} edges (expected edges + 1)"
            )
        return profile


@dataclass(frozen=True)
class CategoricalProfile:
    """The most frequent levels of one categorical column; other and unseen levels share a bin."""

    kind: ClassVar[ColumnKind] = "categorical"
    column: str
    levels: tuple[str, ...]
    counts: tuple[int, ...]
    other_count: int
    null_count: int

    @classmethod
    def from_series(cls, series: pl.Series, *, max_categories: int) -> CategoricalProfile:
        frequencies = _level_counts(series)
        known = sorted(
            ((level, count) for level, count in frequencies.items() if level is not None),
            key=lambda item: (-item[1], item[0]),
        )[:max_categories]
        levels = tuple(level for level, _ in known)
        counts = tuple(count for _, count in known)
        null_count = frequencies.get(None, 0)
        return cls(
            column=series.name,
            levels=levels,
            counts=counts,
            other_count=len(series) - sum(counts) - null_count,
            null_count=null_count,
        )

    @property
    def reference_counts(self) -> np.ndarray:
        return np.array([*self.counts, self.other_count, self.null_count], dtype=np.int64)

    def counts_of(self, series: pl.Series) -> np.ndarray:
        """Counts of `series` per level, then other/unseen levels, then nulls."""
        frequencies = _level_counts(series)
        counts = [frequencies.get(level, 0) for level in self.levels]
        null_count = frequencies.get(None, 0)
        other = len(series) - sum(counts) - null_count
        return np.array([*counts, other, null_count], dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "levels": list(self.levels),
            "counts": list(self.counts),
            "other_count": self.other_count,
            "null_count": self.null_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalProfile:
        profile = cls(
            column=str(data["column"]),
            levels=tuple(str(level) for level in data["levels"]),
            counts=tuple(int(c) for c in data["counts"]),
            other_count=int(data["other_count"]),
            null_count=int(data["null_count"]),
        )
        if len(profile.counts) != len(profile.levels):
            raise DriftInputError(
                f"categorical profile of {profile.column!r}: {len(profile.counts)} counts for "
                f"{len(profile.levels)} levels"
            )
        return profile


@dataclass(frozen=True)
class ReferenceProfile:
    """The binned reference distribution of every monitored column; JSON-ready via `to_dict`."""

    n_rows: int
    numeric: tuple[NumericProfile, ...]
    categorical: tuple[CategoricalProfile, ...]
    score: NumericProfile | None = None

    @classmethod
    def from_frame(
        cls,
        frame: pl.DataFrame,
        *,
        numeric: Sequence[str],
        categorical: Sequence[str],
        score_column: str | None = None,
        bins: int = 10,
        max_categories: int = 50,
    ) -> ReferenceProfile:
        """Profile `frame`; `score_column` (the model's probabilities) enables prediction drift."""
        if bins < 2:
            raise DriftInputError(f"bins must be at least 2, got {bins}")
        if max_categories < 1:
            raise DriftInputError(f"max_categories must be at least 1, got {max_categories}")
        if frame.height == 0:
            raise DriftInputError("the reference frame has no rows")
        if not numeric and not categorical:
            raise DriftInputError("no feature column to profile: numeric and categorical are empty")
        both = sorted(set(numeric) & set(categorical))
        if both:
            raise DriftInputError(f"columns listed as both numeric and categorical: {both}")
        if score_column is not None and score_column in {*numeric, *categorical}:
            raise DriftInputError(f"score column {score_column!r} is also listed as a feature")
        scored = [score_column] if score_column is not None else []
        _check_columns(
            frame, numeric=[*numeric, *scored], categorical=categorical, what="reference"
        )
        return cls(
            n_rows=frame.height,
            numeric=tuple(NumericProfile.from_series(frame[c], bins=bins) for c in numeric),
            categorical=tuple(
                CategoricalProfile.from_series(frame[c], max_categories=max_categories)
                for c in categorical
            ),
            score=(
                NumericProfile.from_series(frame[score_column], bins=bins)
                if score_column is not None
                else None
            ),
        )

    @property
    def score_column(self) -> str | None:
        return self.score.column if self.score is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "n_rows": self.n_rows,
            "numeric": [p.to_dict() for p in self.numeric],
            "categorical": [p.to_dict() for p in self.categorical],
            "score": self.score.to_dict() if self.score is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceProfile:
        if data.get("format") != PROFILE_FORMAT or data.get("version") != PROFILE_VERSION:
            raise DriftInputError(
                f"not a {PROFILE_FORMAT} version {PROFILE_VERSION}: format={data.get('format')!r}"
                f" version={data.get('version')!r}"
            )
        return cls(
            n_rows=int(data["n_rows"]),
            numeric=tuple(NumericProfile.from_dict(p) for p in data["numeric"]),
            categorical=tuple(CategoricalProfile.from_dict(p) for p in data["categorical"]),
            score=NumericProfile.from_dict(data["score"]) if data.get("score") else None,
        )


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
    _check_columns(
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


def _numeric_values(series: pl.Series) -> np.ndarray:
    return series.cast(pl.Float64).to_numpy()


def _numeric_bin_counts(edges: Sequence[float], series: pl.Series) -> np.ndarray:
    """Counts per bin (edges[i-1], edges[i]], then the count of nulls and NaN."""
    values = _numeric_values(series)
    missing = np.isnan(values)
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing])
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return np.append(counts, np.count_nonzero(missing)).astype(np.int64)


def _level_counts(series: pl.Series) -> dict[str | None, int]:
    counts = series.cast(pl.String).value_counts()
    return dict(zip(counts[series.name].to_list(), counts["count"].to_list(), strict=True))


def _check_columns(
    frame: pl.DataFrame, *, numeric: Sequence[str], categorical: Sequence[str], what: str
) -> None:
    missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
    if missing:
        raise DriftInputError(f"columns missing from the {what}: {missing}")
    not_numeric = [
        c for c in numeric if not (frame[c].dtype.is_numeric() or frame[c].dtype == pl.Boolean)
    ]
    if not_numeric:
        raise DriftInputError(
            f"numeric columns with a non-numeric type in the {what}: "
            + ", ".join(f"{c} ({frame[c].dtype})" for c in not_numeric)
        )
