"""The winning configuration of a search, fit again on every refit row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from binclf.train.models import BinaryModel, fit_lightgbm, fit_logistic
from binclf.train.resampling import resample
from binclf.train.search.objectives import shift_for, train_weights
from binclf.train.search.settings import SearchSettings
from binclf.train.search.space import lightgbm_training_params


def refit(
    best: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    weight: np.ndarray | None,
    settings: SearchSettings,
    *,
    rounds: int | None = None,
) -> tuple[BinaryModel, str, float]:
    """The winning configuration fit on all of `X`; returns model, resampling and prior shift.

    LightGBM trains `rounds` rounds when given, else the round count of the best trial.
    """
    params = dict(best.params)
    family = params.pop("family")
    method = params.pop("resampling", settings.resampling)
    data = resample(X, y, method=method, seed=settings.seed, sample_weight=weight)
    if family == "lightgbm":
        model = fit_lightgbm(
            data.X,
            data.y,
            params=lightgbm_training_params(params, settings),
            num_boost_round=rounds or max(1, int(best.user_attrs["best_iteration"])),
            sample_weight=data.sample_weight,
            num_threads=settings.num_threads,
            seed=settings.seed,
        )
        return model, method, data.prior_log_odds_shift
    weights = train_weights(data, params["class_weight"])
    model = fit_logistic(data.X, data.y, C=params["C"], sample_weight=weights)
    model.params["class_weight"] = params["class_weight"]
    return model, method, shift_for(data, weights)


def stack(
    *parts: tuple[pd.DataFrame, np.ndarray, np.ndarray | None],
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Rows of several (X, y, weight) parts as one; weights default to 1 where some are given."""
    X = pd.concat([p[0] for p in parts], ignore_index=True)
    y = np.concatenate([np.asarray(p[1], dtype=np.int8) for p in parts])
    if all(p[2] is None for p in parts):
        return X, y, None
    weight = np.concatenate([np.ones(len(p[1])) if p[2] is None else p[2] for p in parts])
    return X, y, weight
