"""Rebalancing the training rows, and the prior correction that undoes it.

A model trained on rebalanced rows learns the rebalanced base rate. Its probabilities are moved
back to the true base rate by a constant shift in log-odds,
`logit(true prevalence) - logit(effective prevalence)`, exact for under-sampling and weighting
(King & Zeng 2001; Elkan 2001).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

RESAMPLING_METHODS = ("none", "class_weight", "random_under", "random_over", "smote_nc")


class ResamplingError(ValueError):
    """An unknown resampling method or unusable input."""


@dataclass(frozen=True)
class Resampled:
    """Training rows after resampling, with their weights and the base rates involved."""

    X: pd.DataFrame
    y: np.ndarray
    sample_weight: np.ndarray
    method: str
    true_prevalence: float
    effective_prevalence: float

    @property
    def prior_log_odds_shift(self) -> float:
        """Log-odds to add to the model's output to restore the true base rate."""
        return float(logit(self.true_prevalence) - logit(self.effective_prevalence))


def apply_prior_shift(p: np.ndarray, shift: float) -> np.ndarray:
    """Probabilities `p` moved by `shift` in log-odds."""
    if shift == 0.0:
        return np.asarray(p, dtype=np.float64)
    clipped = np.clip(np.asarray(p, dtype=np.float64), 1e-15, 1 - 1e-15)
    return expit(logit(clipped) + shift)


def _weighted_prevalence(y: np.ndarray, weight: np.ndarray) -> float:
    return float(np.sum(weight * y) / np.sum(weight))


def balanced_weights(y: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """`weight` rescaled per class so both classes carry half the total weight."""
    total = weight.sum()
    out = weight.astype(np.float64).copy()
    for value in (0, 1):
        in_class = y == value
        out[in_class] *= total / (2.0 * weight[in_class].sum())
    return out


def _smote_nc(
    X: pd.DataFrame, y: np.ndarray, ratio: float, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """SMOTE-NC; numeric gaps are filled with medians for synthesis only.

    Original rows keep their missing values; synthetic rows get interpolated (imputed) values.
    """
    from imblearn.over_sampling import SMOTE, SMOTENC

    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    filled = X.copy()
    numeric = [c for c in X.columns if c not in categorical]
    filled[numeric] = filled[numeric].fillna(filled[numeric].median()).fillna(0.0)
    n_minority = int(min(np.sum(y == 1), np.sum(y == 0)))
    k_neighbors = min(5, n_minority - 1)
    if k_neighbors < 1:
        raise ResamplingError("smote_nc needs at least 2 rows of the minority class")
    if categorical and numeric:
        sampler = SMOTENC(
            categorical_features=categorical,
            sampling_strategy=ratio,
            random_state=seed,
            k_neighbors=k_neighbors,
        )
    elif numeric:
        sampler = SMOTE(sampling_strategy=ratio, random_state=seed, k_neighbors=k_neighbors)
    else:
        raise ResamplingError("smote_nc needs at least one numeric feature; use random_over")
    X_new, y_new = sampler.fit_resample(filled, y)
    X_new = X_new.reset_index(drop=True)
    X_new.loc[: len(X) - 1, numeric] = X[numeric].to_numpy()
    for column in categorical:
        X_new[column] = pd.Categorical(X_new[column], categories=X[column].cat.categories)
    return X_new, np.asarray(y_new)


def resample(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    method: str,
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
    ratio: float = 1.0,
) -> Resampled:
    """Rebalance the training rows with `method` (one of RESAMPLING_METHODS).

    `ratio` is the minority-to-majority ratio the samplers aim for (1.0 = balanced); when the
    data is already at least that balanced, the rows are returned unchanged. `class_weight`
    keeps every row and weights the classes to equal total weight. Rows kept or copied keep
    their `sample_weight`; synthetic SMOTE rows get the mean weight of their class.
    """
    if method not in RESAMPLING_METHODS:
        raise ResamplingError(
            f"unknown resampling method {method!r}; use one of {RESAMPLING_METHODS}"
        )
    if not 0 < ratio <= 1:
        raise ResamplingError(f"ratio must be in (0, 1], got {ratio}")
    y = np.asarray(y, dtype=np.int8)
    if len(y) != len(X):
        raise ResamplingError(f"X has {len(X)} rows but y has {len(y)}")
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    if len(np.unique(y)) < 2:
        raise ResamplingError("resampling needs both classes in y")
    true_prevalence = _weighted_prevalence(y, weight)
    counts = np.bincount(y, minlength=2)
    already_balanced = counts.min() / counts.max() >= ratio
    X_out, y_out, w_out = X, y, weight
    if method == "class_weight":
        w_out = balanced_weights(y, weight)
    elif method in ("random_under", "random_over") and not already_balanced:
        from imblearn.over_sampling import RandomOverSampler
        from imblearn.under_sampling import RandomUnderSampler

        sampler_class = RandomUnderSampler if method == "random_under" else RandomOverSampler
        sampler = sampler_class(sampling_strategy=ratio, random_state=seed)
        sampler.fit_resample(X, y)
        kept = sampler.sample_indices_
        X_out = X.iloc[kept].reset_index(drop=True)
        y_out, w_out = y[kept], weight[kept]
    elif method == "smote_nc" and not already_balanced:
        X_out, y_new = _smote_nc(X, y, ratio, seed)
        y_out = y_new.astype(np.int8)
        synthetic = y_out[len(y) :]
        class_mean = np.array([weight[y == 0].mean(), weight[y == 1].mean()])
        w_out = np.concatenate([weight, class_mean[synthetic]])
    return Resampled(
        X=X_out,
        y=y_out,
        sample_weight=w_out,
        method=method,
        true_prevalence=true_prevalence,
        effective_prevalence=_weighted_prevalence(y_out, w_out),
    )
