"""Reference profiles: the binned distribution of every monitored column, stored with a model.

Numeric columns get quantile bins, categorical ones their frequent levels, both a null bin; drift
compares a partition with these counts (see `binclf.monitor.drift`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl

PROFILE_FORMAT = "binclf.reference_profile"


PROFILE_VERSION = 1


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
        values = numeric_values(series)
        finite = values[np.isfinite(values)]
        if finite.size:
            quantiles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
            edges = tuple(float(e) for e in np.unique(quantiles))
        else:
            edges = ()
        counts = numeric_bin_counts(edges, series)
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
        return numeric_bin_counts(self.edges, series)

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
        frequencies = level_counts(series)
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
        frequencies = level_counts(series)
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
        check_columns(frame, numeric=[*numeric, *scored], categorical=categorical, what="reference")
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


def numeric_values(series: pl.Series) -> np.ndarray:
    return series.cast(pl.Float64).to_numpy()


def numeric_bin_counts(edges: Sequence[float], series: pl.Series) -> np.ndarray:
    """Counts per bin (edges[i-1], edges[i]], then the count of nulls and NaN."""
    values = numeric_values(series)
    missing = np.isnan(values)
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing])
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return np.append(counts, np.count_nonzero(missing)).astype(np.int64)


def level_counts(series: pl.Series) -> dict[str | None, int]:
    counts = series.cast(pl.String).value_counts()
    return dict(zip(counts[series.name].to_list(), counts["count"].to_list(), strict=True))


def check_columns(
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
