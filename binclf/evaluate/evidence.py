"""The evidence a candidate model is judged on: test metrics, slices, fairness, explanations.

Everything is computed on the test rows only, at the threshold chosen on the calibration rows
(the expected cost per row too, so its interval forecasts new data), and returned JSON-ready so
it can be stored with the version and read by the gates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from binclf.evaluate.explain import (
    catboost_explanations,
    ensemble_explanations,
    lightgbm_explanations,
    linear_explanations,
)
from binclf.evaluate.fairness import fairness_report
from binclf.evaluate.slices import slice_metrics
from binclf.spec import DatasetSpec
from binclf.stats.metrics import evaluate_predictions

NUMERIC_GROUPS = 4  # numeric sensitive attributes and slices are cut into quartiles
# Resampling whole days needs enough of them: with fewer, a percentile interval over day
# resamples is itself too noisy, and rows are resampled instead.
MIN_DAYS_FOR_DAY_BOOTSTRAP = 20


def day_clusters(test: pl.DataFrame, spec: DatasetSpec) -> np.ndarray | None:
    """The day of each test row, for a block bootstrap; None for snapshots or too few days."""
    if spec.time_column is None or test.height == 0:
        return None
    days = test[spec.time_column].dt.date().to_physical().to_numpy()
    return days if len(np.unique(days)) >= MIN_DAYS_FOR_DAY_BOOTSTRAP else None


def row_weights_of(test: pl.DataFrame, spec: DatasetSpec) -> np.ndarray | None:
    """The spec's row weights of the test rows (None when the spec has none)."""
    if spec.weight_column is None:
        return None
    return test[spec.weight_column].cast(pl.Float64).to_numpy()


def grouping_columns(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Columns to group by, as text; numeric ones become quartile ranges."""
    grouped = []
    for column in columns:
        series = frame[column]
        if series.dtype.is_numeric() and series.n_unique() > 2 * NUMERIC_GROUPS:
            edges = np.unique(
                np.nanquantile(series.cast(pl.Float64).to_numpy(), np.linspace(0, 1, 5)[1:-1])
            )
            series = series.cut(list(edges)).cast(pl.String)
        grouped.append(series.cast(pl.String).alias(column))
    return pl.DataFrame(grouped)


def explanations(model: Any, X: Any, *, sample_rows: int, seed: int) -> list[dict[str, Any]]:
    """SHAP-style contributions for the tree families and ensembles, coefficients for the linear
    family."""
    if model.family == "ensemble":
        return ensemble_explanations(model, X, sample_rows=sample_rows, seed=seed)
    if model.family == "lightgbm":
        return lightgbm_explanations(model.booster, X, sample_rows=sample_rows, seed=seed)
    if model.family == "catboost":
        return catboost_explanations(model, X, sample_rows=sample_rows, seed=seed)
    return linear_explanations(model.coefficient_table())


def evaluate_candidate(
    test: pl.DataFrame,
    y: np.ndarray,
    p: np.ndarray,
    *,
    spec: DatasetSpec,
    threshold: float,
    leakage: dict[str, float],
    min_slice_size: int = 100,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics with intervals, slices, fairness per sensitive attribute, and leakage evidence."""
    groups = grouping_columns(test, list(dict.fromkeys([*spec.slices, *spec.sensitive])))
    worst = max(leakage.items(), key=lambda kv: kv[1]) if leakage else ("", 0.5)
    weights = row_weights_of(test, spec)
    return {
        "test_rows": len(y),
        "test_positives": int(np.sum(y)),
        "test_metrics": evaluate_predictions(
            y,
            p,
            threshold=threshold,
            weights=weights,
            clusters=day_clusters(test, spec),
            costs=(spec.costs.false_positive, spec.costs.false_negative),
            n_boot=n_boot,
            seed=seed,
        ),
        "slices": slice_metrics(
            groups if groups.width else test,  # score deciles only: no column to group by
            y,
            p,
            threshold=threshold,
            columns=spec.slices,
            sensitive=spec.sensitive,
            min_size=min_slice_size,
            n_boot=n_boot,
            seed=seed,
            weights=weights,
        ),
        "fairness": {
            column: fairness_report(
                y,
                p,
                groups[column],
                threshold=threshold,
                min_group_size=min_slice_size,
                n_boot=n_boot,
                seed=seed,
                weights=weights,
            )
            for column in spec.sensitive
        },
        "leakage": {"max_single_feature_auc": worst[1], "feature": worst[0]},
    }
