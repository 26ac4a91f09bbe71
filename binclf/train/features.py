"""Which columns are features, how they are typed, and which ones are unusable.

The schema is inferred once from the training window and frozen: categorical levels are fixed
there, so the model frame built at scoring time has exactly the columns and category levels the
model was trained on (unseen levels become missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import TargetEncoder

from binclf.spec import DatasetSpec

SPLIT_COLUMN = "_split"  # added by `binclf.splits.make_splits`; never a feature
DEFAULT_MAX_LEVELS = 100
DEFAULT_MIN_POSITIVES = 10
LEAK_SCREEN_FOLDS = 5  # cross-fitting folds of a categorical's target encoding in the screen


class FeatureError(ValueError):
    """A feature selection or a frame that does not fit the feature schema."""


class TargetError(ValueError):
    """A target column with values that are neither the positive nor a negative class."""


class TrainingDataError(ValueError):
    """Labels that cannot train a binary classifier (one class, too few positives)."""


@dataclass(frozen=True)
class FeatureSchema:
    """The model's inputs: numeric columns and categorical columns with their known levels."""

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        """All feature columns in model order: numerics first, then categoricals."""
        return (*self.numeric, *self.categorical)

    def without(self, columns: set[str]) -> FeatureSchema:
        """The same schema minus `columns`."""
        return FeatureSchema(
            numeric=tuple(c for c in self.numeric if c not in columns),
            categorical={c: lv for c, lv in self.categorical.items() if c not in columns},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "categorical": {c: list(levels) for c, levels in self.categorical.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        return cls(
            numeric=tuple(data["numeric"]),
            categorical={c: tuple(levels) for c, levels in data["categorical"].items()},
        )


def _is_categorical_dtype(dtype: pl.DataType) -> bool:
    return dtype in (pl.String, pl.Boolean) or isinstance(dtype, pl.Categorical | pl.Enum)


def _as_text(column: str) -> pl.Expr:
    """A column as strings, the form in which categorical levels are stored."""
    return pl.col(column).cast(pl.String)


def _levels(frame: pl.DataFrame, column: str, max_levels: int) -> tuple[str, ...]:
    """The `max_levels` most frequent non-null values, sorted; rarer ones count as unseen."""
    counts = (
        frame.select(_as_text(column).alias("level"))
        .drop_nulls()
        .group_by("level")
        .len()
        .sort(["len", "level"], descending=[True, False])
        .head(max_levels)
    )
    return tuple(sorted(counts["level"].to_list()))


def infer_feature_schema(
    frame: pl.DataFrame, spec: DatasetSpec, *, max_levels: int = DEFAULT_MAX_LEVELS
) -> FeatureSchema:
    """Feature columns per the spec, typed from the frame.

    Candidates are `features.include` (or every column) minus `features.exclude`, the role
    columns and the split column. Sensitive attributes stay features unless excluded. String,
    boolean and enum columns, and those listed in `spec.categorical`, are categorical with at
    most `max_levels` levels; other numeric columns are numeric; any other type must be
    excluded explicitly.
    """
    if max_levels < 1:
        raise FeatureError(f"max_levels must be at least 1, got {max_levels}")
    for key, names in (
        ("features.include", spec.features.include or []),
        ("features.exclude", spec.features.exclude),
        ("categorical", spec.categorical),
    ):
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise FeatureError(f"{key} names columns not in the data: {missing}")
    roles = {*spec.role_columns, SPLIT_COLUMN}
    listed_roles = [c for c in spec.features.include or [] if c in roles]
    if listed_roles:
        raise FeatureError(f"features.include names role columns, never features: {listed_roles}")
    candidates = spec.features.include or frame.columns
    chosen = [c for c in candidates if c not in roles and c not in set(spec.features.exclude)]
    numeric: list[str] = []
    categorical: dict[str, tuple[str, ...]] = {}
    for column in chosen:
        dtype = frame.schema[column]
        if column in spec.categorical or _is_categorical_dtype(dtype):
            categorical[column] = _levels(frame, column, max_levels)
        elif dtype.is_numeric():
            numeric.append(column)
        else:
            raise FeatureError(
                f"column {column!r} has type {dtype}, which is neither numeric nor categorical; "
                "list it in features.exclude or in categorical"
            )
    if not numeric and not categorical:
        raise FeatureError("no feature columns are left after excluding role columns")
    return FeatureSchema(numeric=tuple(numeric), categorical=categorical)


def to_model_frame(frame: pl.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """The pandas frame models take: float numerics, categoricals with the schema's levels.

    Values outside the known levels (and nulls) become missing. Categoricals are built from
    integer codes computed in polars, never from an array of Python strings, which would cost
    tens of bytes per row.
    """
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        raise FeatureError(f"columns of the feature schema are not in the data: {missing}")
    model_frame = pd.DataFrame(
        {c: frame[c].cast(pl.Float64).fill_nan(None).to_numpy() for c in schema.numeric}
    )
    for column, levels in schema.categorical.items():
        codes = frame.select(
            _as_text(column)
            .replace_strict(levels, range(len(levels)), default=-1, return_dtype=pl.Int32)
            .fill_null(-1)
        ).to_series()
        model_frame[column] = pd.Categorical.from_codes(codes.to_numpy(), categories=list(levels))
    return model_frame


def _coerce_class_value(value: object, dtype: pl.DataType, target: str) -> object:
    """`value` as the target column's type, so `positive: 1` matches a string column of '1'."""
    try:
        return pl.Series([value]).cast(dtype, strict=True)[0]
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError):
        raise TargetError(
            f"class value {value!r} cannot be compared with target {target!r} of type {dtype}"
        ) from None


def target_vector(frame: pl.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """The target as int8: 1 for `spec.positive`, 0 for a negative value.

    Without `spec.negative` every other non-null value is negative. Nulls and values outside the
    listed classes raise, naming a few of them.
    """
    if spec.target not in frame.columns:
        raise TargetError(f"target column {spec.target!r} is not in the data")
    values = frame[spec.target]
    if values.null_count():
        raise TargetError(f"target {spec.target!r} has {values.null_count()} null values")
    dtype = values.dtype
    positive = values == _coerce_class_value(spec.positive, dtype, spec.target)
    if spec.negative is not None:
        negatives = [_coerce_class_value(v, dtype, spec.target) for v in spec.negative]
        unknown = values.filter(~positive & ~values.is_in(negatives)).unique().head(5)
        if len(unknown):
            raise TargetError(
                f"target {spec.target!r} has values that are neither positive "
                f"{spec.positive!r} nor negative {spec.negative!r}: {unknown.to_list()}"
            )
    return positive.to_numpy().astype(np.int8)


def check_trainable(y: np.ndarray, *, min_positives: int = DEFAULT_MIN_POSITIVES) -> None:
    """Raise unless `y` has both classes and at least `min_positives` positives."""
    n_positive = int(np.sum(y == 1))
    n_negative = int(np.sum(y == 0))
    if n_positive == 0 or n_negative == 0:
        raise TrainingDataError(
            f"the training window has a single class ({n_positive} positives, "
            f"{n_negative} negatives); a binary classifier needs both"
        )
    if n_positive < min_positives:
        raise TrainingDataError(
            f"the training window has {n_positive} positives; at least {min_positives} are needed"
        )


def _single_feature_auc(values: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC of one feature as a score, direction-free: max(AUC, 1 - AUC)."""
    ranks = rankdata(values)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    auc = (ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(max(auc, 1.0 - auc))


def _level_codes(series: pl.Series, levels: tuple[str, ...]) -> np.ndarray:
    """Each row's index in the schema's `levels`; -1 for any other value, -2 for missing."""
    return (
        series.cast(pl.String)
        .replace_strict(levels, range(len(levels)), default=-1, return_dtype=pl.Int32)
        .fill_null(-2)
        .to_numpy()
    )


def _cross_fitted_rates(codes: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Each row's level encoded by scikit-learn's `TargetEncoder` fitted on the other folds.

    A level seen in one row only (an id) gets the other folds' overall rate, so it carries no
    signal; an in-sample level rate would equal the row's own label and score AUC = 1.
    """
    smallest_class = int(min(np.sum(y), len(y) - np.sum(y)))
    folds = StratifiedKFold(
        n_splits=max(2, min(LEAK_SCREEN_FOLDS, smallest_class)), shuffle=True, random_state=seed
    )
    encoder = TargetEncoder(target_type="binary", cv=folds)
    return encoder.fit_transform(codes.reshape(-1, 1), y)[:, 0]


def _score_values(
    series: pl.Series, y: np.ndarray, levels: tuple[str, ...] | None, seed: int
) -> np.ndarray:
    """A feature as one number per row: its value, or its level's cross-fitted positive rate.

    Missing values form their own group below every value (or their own level), so a null
    pattern that gives the label away counts as a leak too.
    """
    if levels is not None:
        return _cross_fitted_rates(_level_codes(series, levels), y, seed)
    values = series.cast(pl.Float64).fill_nan(None)
    floor = (values.min() or 0.0) - 1.0
    return values.fill_null(floor).to_numpy()


def _without_nan(series: pl.Series) -> pl.Series:
    return series.fill_nan(None) if series.dtype.is_float() else series


def single_feature_aucs(
    frame: pl.DataFrame, y: np.ndarray, schema: FeatureSchema, *, seed: int = 0
) -> dict[str, float]:
    """Each feature's ROC-AUC as the only score, direction-free (0.5 = no signal).

    Numeric values rank as they are; a categorical ranks by its cross-fitted target encoding
    over the schema's levels (`LEAK_SCREEN_FOLDS` seeded folds; values outside the levels are
    one level, missing another). Missing numeric values rank below every value.
    """
    y = np.asarray(y, dtype=np.int8)
    if len(y) != frame.height:
        raise FeatureError(f"y has {len(y)} values but the frame has {frame.height} rows")
    if not 0 < int(y.sum()) < len(y):
        raise TrainingDataError("single-feature AUCs need both classes in y")
    aucs = {}
    for column in schema.columns:
        series = _without_nan(frame[column])
        if series.null_count() == len(series) or series.n_unique() == 1:
            aucs[column] = 0.5
            continue
        values = _score_values(series, y, schema.categorical.get(column), seed)
        aucs[column] = _single_feature_auc(values, y)
    return aucs


def _measured(column: str, schema: FeatureSchema) -> str:
    if column in schema.categorical:
        return (
            f"its {len(schema.categorical[column])} levels' positive rate, target-encoded on "
            f"{LEAK_SCREEN_FOLDS} cross-fitted folds (not on the row's own fold),"
        )
    return "its values alone, as a score (missing lowest),"


def screen_features(
    frame: pl.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    *,
    leak_auc: float = 0.99,
    seed: int = 0,
) -> tuple[FeatureSchema, list[dict[str, Any]]]:
    """Drop features that are all null, constant, or alone predict the label (a leak).

    Returns the reduced schema and one record per dropped column with `column`, `reason`
    ("all_null", "constant" or "label_leak") and a human-readable `detail` that says what was
    measured.
    """
    if not 0.5 < leak_auc <= 1.0:
        raise FeatureError(f"leak_auc must be in (0.5, 1], got {leak_auc}")
    aucs = single_feature_aucs(frame, y, schema, seed=seed)
    exclusions: list[dict[str, Any]] = []
    for column in schema.columns:
        series = _without_nan(frame[column])
        if series.null_count() == len(series):
            exclusions.append(
                {"column": column, "reason": "all_null", "detail": "every value is null"}
            )
        elif series.n_unique() == 1:
            exclusions.append(
                {"column": column, "reason": "constant", "detail": f"only value {series[0]!r}"}
            )
        elif aucs[column] > leak_auc:
            exclusions.append(
                {
                    "column": column,
                    "reason": "label_leak",
                    "detail": f"{_measured(column, schema)} has ROC-AUC "
                    f"{aucs[column]:.4f} > {leak_auc}",
                }
            )
    kept = schema.without({e["column"] for e in exclusions})
    if not kept.columns:
        raise FeatureError(f"every feature was excluded: {exclusions}")
    return kept, exclusions
