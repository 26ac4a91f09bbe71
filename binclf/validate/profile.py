"""The validation profile: what reference days look like, column by column.

Column kinds, the levels of closed categorical sets, the categorical columns that are open sets
(free text, growing vocabularies) with the reason, and the target's values. An open set found in
the data keeps its reference levels and the rate at which the reference days brought new ones:
its rule is a novelty rate, not a closed list. A column the spec marks open gets no level rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from binclf.spec import DatasetSpec

MAX_CATEGORY_LEVELS = 200
# An open set with more reference levels than this keeps none: it gets no novelty rule.
MAX_OPEN_LEVELS = 20_000
# A vocabulary with more than this share of its levels new in the later reference days is open.
OPEN_LATE_LEVEL_SHARE = 0.2


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "numeric"
    if isinstance(dtype, pl.Datetime | pl.Date):
        return "datetime"
    return "string"


@dataclass(frozen=True)
class ValidationProfile:
    """What reference data looks like: column kinds, category levels, target values."""

    kinds: dict[str, str]
    categories: dict[str, list[Any]]
    target_values: list[Any]
    reference_rows: int
    reference_partitions: list[str] = field(default_factory=list)
    open_categories: dict[str, str] = field(default_factory=dict)  # column -> why it is open
    open_levels: dict[str, list[Any]] = field(default_factory=dict)  # reference levels
    novelty_rates: dict[str, float] = field(default_factory=dict)  # new-level rate, reference

    def to_dict(self) -> dict[str, Any]:
        return {
            "kinds": self.kinds,
            "categories": self.categories,
            "open_categories": self.open_categories,
            "open_levels": self.open_levels,
            "novelty_rates": self.novelty_rates,
            "target_values": self.target_values,
            "reference_rows": self.reference_rows,
            "reference_partitions": self.reference_partitions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationProfile:
        return cls(**data)


def _late_levels(reference: pl.DataFrame, column: str, spec: DatasetSpec) -> float:
    """Share of a column's levels first seen in the later half of the reference days."""
    if not spec.time_column or spec.time_column not in reference.columns:
        return 0.0
    days = reference.select(pl.col(spec.time_column).dt.date().alias("_day"), pl.col(column))
    ordered = days.drop_nulls().group_by(column).agg(pl.col("_day").min().alias("first"))
    distinct = days["_day"].drop_nulls().unique().sort()
    if distinct.len() < 4 or ordered.height == 0:
        return 0.0
    middle = distinct[distinct.len() // 2]
    return ordered.filter(pl.col("first") >= middle).height / ordered.height


def novelty_rate(reference: pl.DataFrame, column: str, spec: DatasetSpec) -> float | None:
    """Share of a column's values, from the second reference day on, that no earlier day had.

    None when the reference has fewer than two days (or no time column) to learn it from.
    """
    if not spec.time_column or spec.time_column not in reference.columns:
        return None
    days = reference.select(pl.col(spec.time_column).dt.date().alias("_day"), pl.col(column))
    days = days.drop_nulls().with_columns(pl.col(column).cast(pl.String))
    if days["_day"].n_unique() < 2:
        return None
    first_seen = days.group_by(column).agg(pl.col("_day").min().alias("_first"))
    later = days.filter(pl.col("_day") > pl.col("_day").min()).join(first_seen, on=column)
    if later.height == 0:
        return None
    return float((later["_first"] == later["_day"]).mean())


def _open_reason(reference: pl.DataFrame, column: str, levels: int, spec: DatasetSpec) -> str:
    """Why a categorical column is an open set (free text, ids, growing vocabularies), or ''."""
    if column in spec.validation.open_categories:
        return "validation.open_categories"
    if levels > MAX_CATEGORY_LEVELS:
        return f"{levels} levels, over the limit of {MAX_CATEGORY_LEVELS}"
    late = _late_levels(reference, column, spec)
    if late > OPEN_LATE_LEVEL_SHARE:
        return f"{late:.0%} of its levels first appeared in the later half of the reference days"
    return ""


def build_profile(
    reference: pl.DataFrame, spec: DatasetSpec, *, partitions: list[str] | None = None
) -> ValidationProfile:
    """Profile reference rows; spec-given categories take precedence over observed ones.

    A categorical column with more levels than a closed set can list, or whose vocabulary was
    still growing across the reference days, is recorded as open with the reason: instead of a
    closed set it is judged by its novelty rate. `validation.open_categories` marks a column
    open by hand, with no level rule at all.
    """
    kinds = {name: _kind(dtype) for name, dtype in reference.schema.items()}
    categorical = set(spec.categorical) | {
        c for c, k in kinds.items() if k in ("string", "boolean") and c not in spec.role_columns
    }
    categories: dict[str, list[Any]] = {}
    open_categories: dict[str, str] = {}
    open_levels: dict[str, list[Any]] = {}
    novelty_rates: dict[str, float] = {}
    for column in sorted(categorical & set(reference.columns)):
        if column in spec.validation.allowed_categories:
            categories[column] = sorted(map(str, spec.validation.allowed_categories[column]))
            continue
        values = reference[column].drop_nulls()
        if isinstance(values.dtype, pl.Categorical | pl.Enum):
            values = values.cast(pl.String)  # pandas gives the labels; booleans stay booleans
        levels = values.unique()
        if levels.len() == 0:
            continue
        if reason := _open_reason(reference, column, levels.len(), spec):
            open_categories[column] = reason
            rate = novelty_rate(reference, column, spec)
            by_hand = column in spec.validation.open_categories
            if not by_hand and rate is not None and levels.len() <= MAX_OPEN_LEVELS:
                open_levels[column] = sorted(levels.to_list(), key=str)
                novelty_rates[column] = rate
        else:
            categories[column] = sorted(levels.to_list(), key=str)
    target_values = (
        sorted(reference[spec.target].drop_nulls().unique().to_list(), key=str)
        if spec.target in reference.columns
        else []
    )
    return ValidationProfile(
        kinds=kinds,
        categories=categories,
        target_values=target_values,
        reference_rows=reference.height,
        reference_partitions=partitions or [],
        open_categories=open_categories,
        open_levels=open_levels,
        novelty_rates=novelty_rates,
    )


def target_domain(spec: DatasetSpec, profile: ValidationProfile) -> list[Any]:
    """Allowed target values: positive plus the spec's negatives (else the reference's values)."""
    negatives = spec.negative if spec.negative is not None else profile.target_values
    values = [spec.positive, *negatives]
    return sorted({v for v in values}, key=str)
