"""Model explanations for the model card: what drives the scores, and in which direction.

LightGBM models are explained by split gain and by SHAP values (LightGBM's exact TreeSHAP via
`predict(X, pred_contrib=True)`) on a test sample; logistic models by their coefficients;
ensembles by their members' contributions, weighted. Every
summary is a list of JSON-ready rows sharing the keys `feature` and `importance`, so
`top_features` ranks any of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

if TYPE_CHECKING:
    import lightgbm

# |Spearman correlation| between a feature's value and its contribution above which the feature
# is said to move the score one way; below it the effect is reported as "mixed" (non-monotone).
DIRECTION_MIN_CORRELATION = 0.3


class ExplanationError(ValueError):
    """Inputs that cannot be explained; the message names the bad value."""


def shap_summary(
    contributions: np.ndarray,
    feature_names: Sequence[str],
    *,
    feature_values: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Summarise per-row contributions (n, n_features + 1; last column is the bias).

    Per feature: mean |contribution| (`importance`) and its share of the total, the mean signed
    contribution, the share of rows it pushes up, and — when `feature_values` are given — the
    direction: for numeric features the Spearman correlation of value and contribution
    ("increases" means higher values raise the score), for categorical ones the levels that raise
    and lower the score most. Rows are sorted by importance, highest first.
    """
    contrib = np.asarray(contributions, dtype=np.float64)
    names = list(feature_names)
    if contrib.ndim != 2 or contrib.shape[1] != len(names) + 1:
        raise ExplanationError(
            f"contributions must have shape (rows, {len(names) + 1}) for {len(names)} features "
            f"plus the bias column, got {contrib.shape}"
        )
    if contrib.shape[0] == 0:
        raise ExplanationError("contributions has no rows")
    if feature_values is not None:
        missing = [name for name in names if name not in feature_values.columns]
        if missing:
            raise ExplanationError(f"feature_values lacks columns {missing}")
        if len(feature_values) != contrib.shape[0]:
            raise ExplanationError(
                f"feature_values has {len(feature_values)} rows, contributions {contrib.shape[0]}"
            )
    per_feature = contrib[:, :-1]
    mean_abs = np.abs(per_feature).mean(axis=0)
    total = float(mean_abs.sum())
    rows = []
    for j, name in enumerate(names):
        column = per_feature[:, j]
        values = None if feature_values is None else feature_values[name]
        rows.append(
            {
                "feature": name,
                "importance": float(mean_abs[j]),
                "importance_share": float(mean_abs[j] / total) if total > 0 else 0.0,
                "mean_contribution": float(column.mean()),
                "positive_share": float((column > 0).mean()),
                **_direction(column, values),
            }
        )
    return sorted(rows, key=lambda row: row["importance"], reverse=True)


def _direction(contribution: np.ndarray, values: pd.Series | None) -> dict[str, Any]:
    """How a feature's value relates to its contribution."""
    result: dict[str, Any] = {
        "direction": "unknown",
        "value_correlation": None,
        "highest_level": None,
        "lowest_level": None,
    }
    if not np.any(contribution != 0):
        return {**result, "direction": "none"}
    if values is None:
        return result
    known = values.notna().to_numpy()
    if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values):
        by_level = (
            pd.Series(contribution[known]).groupby(values[known].astype(str).to_numpy()).mean()
        )
        if by_level.empty:
            return result
        return {
            **result,
            "direction": "by level",
            "highest_level": str(by_level.idxmax()),
            "lowest_level": str(by_level.idxmin()),
        }
    numeric = values.to_numpy(dtype=np.float64, na_value=np.nan)[known]
    if np.unique(numeric).size < 2 or np.unique(contribution[known]).size < 2:
        return result
    rho = float(spearmanr(numeric, contribution[known]).statistic)
    if abs(rho) < DIRECTION_MIN_CORRELATION:
        direction = "mixed"
    else:
        direction = "increases" if rho > 0 else "decreases"
    return {**result, "direction": direction, "value_correlation": rho}


def gain_importance(booster: lightgbm.Booster) -> list[dict[str, Any]]:
    """Total split gain per feature and its share, sorted highest first."""
    names = booster.feature_name()
    gains = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    total = float(gains.sum())
    rows = [
        {
            "feature": name,
            "importance": float(gain / total) if total > 0 else 0.0,
            "gain": float(gain),
        }
        for name, gain in zip(names, gains, strict=True)
    ]
    return sorted(rows, key=lambda row: row["importance"], reverse=True)


def lightgbm_explanations(
    booster: lightgbm.Booster,
    X: pd.DataFrame,
    *,
    sample_rows: int = 2_000,
    seed: int = 0,
    num_threads: int = 1,
) -> dict[str, Any]:
    """Gain importance plus a SHAP summary on a seeded sample of at most `sample_rows` rows.

    `X` must hold the booster's features in the booster's order (as the model frame does);
    LightGBM matches pandas columns by position, so a reordered frame would be explained wrongly.
    """
    if sample_rows < 1:
        raise ExplanationError(f"sample_rows must be at least 1, got {sample_rows}")
    if num_threads < 1:
        raise ExplanationError(f"num_threads must be at least 1, got {num_threads}")
    if len(X) == 0:
        raise ExplanationError("X has no rows to explain")
    names = booster.feature_name()
    if list(X.columns) != names:
        raise ExplanationError(
            f"X columns {list(X.columns)} differ from the model's features {names}"
        )
    if len(X) > sample_rows:
        rng = np.random.default_rng(seed)
        X = X.iloc[np.sort(rng.choice(len(X), size=sample_rows, replace=False))]
    contributions = np.asarray(
        booster.predict(X, pred_contrib=True, num_threads=num_threads), dtype=np.float64
    )
    return {
        "family": "lightgbm",
        "sample_rows": len(X),
        "expected_raw_score": float(contributions[:, -1].mean()),
        "gain": gain_importance(booster),
        "shap": shap_summary(contributions, names, feature_values=X),
    }


def _explained_rows(X: pd.DataFrame, sample_rows: int, seed: int) -> pd.DataFrame:
    """The rows an explanation is computed on: all of `X`, or a seeded sample of `sample_rows`."""
    if sample_rows < 1:
        raise ExplanationError(f"sample_rows must be at least 1, got {sample_rows}")
    if len(X) == 0:
        raise ExplanationError("X has no rows to explain")
    if len(X) <= sample_rows:
        return X
    rng = np.random.default_rng(seed)
    return X.iloc[np.sort(rng.choice(len(X), size=sample_rows, replace=False))]


def catboost_explanations(
    model: Any, X: pd.DataFrame, *, sample_rows: int = 2_000, seed: int = 0
) -> dict[str, Any]:
    """CatBoost's own importance plus a SHAP summary (its `ShapValues`) on a seeded sample of
    at most `sample_rows` rows."""
    X = _explained_rows(X, sample_rows, seed)
    contributions = np.asarray(model.contributions(X), dtype=np.float64)
    return {
        "family": "catboost",
        "sample_rows": len(X),
        "expected_raw_score": float(contributions[:, -1].mean()),
        "importance": model.feature_importance(),
        "shap": shap_summary(contributions, list(X.columns), feature_values=X),
    }


def ensemble_explanations(
    model: Any, X: pd.DataFrame, *, sample_rows: int = 2_000, seed: int = 0
) -> dict[str, Any]:
    """A SHAP summary of an ensemble: its members' contributions weighted as it weights their
    log-odds (`binclf.train.ensemble`), on a seeded sample of at most `sample_rows` rows."""
    X = _explained_rows(X, sample_rows, seed)
    contributions = np.asarray(model.contributions(X), dtype=np.float64)
    return {
        "family": "ensemble",
        "members": [
            {"family": m.family, "weight": w}
            for m, w in zip(model.members, model.weights, strict=True)
        ],
        "sample_rows": len(X),
        "expected_raw_score": float(contributions[:, -1].mean()),
        "shap": shap_summary(contributions, list(X.columns), feature_values=X),
    }


def linear_explanations(
    coefficients: Mapping[str, float], *, intercept: float | None = None
) -> dict[str, Any]:
    """Coefficients ranked by magnitude with their sign.

    Magnitudes compare features only when the model was fitted on standardised inputs.
    """
    if not coefficients:
        raise ExplanationError("coefficients is empty")
    bad = {name: value for name, value in coefficients.items() if not np.isfinite(value)}
    if bad:
        raise ExplanationError(f"coefficients must be finite, got {bad}")
    total = float(sum(abs(value) for value in coefficients.values()))
    rows = [
        {
            "feature": name,
            "coefficient": float(value),
            "importance": abs(float(value)),
            "importance_share": abs(float(value)) / total if total > 0 else 0.0,
            "direction": "increases" if value > 0 else "decreases" if value < 0 else "none",
        }
        for name, value in coefficients.items()
    ]
    return {
        "family": "logistic",
        "intercept": None if intercept is None else float(intercept),
        "coefficients": sorted(rows, key=lambda row: row["importance"], reverse=True),
    }


def top_features(rows: Sequence[Mapping[str, Any]], k: int) -> list[str]:
    """Names of the `k` most important features of any summary above."""
    if k < 1:
        raise ExplanationError(f"k must be at least 1, got {k}")
    ranked = sorted(rows, key=lambda row: row["importance"], reverse=True)
    return [str(row["feature"]) for row in ranked[:k]]
