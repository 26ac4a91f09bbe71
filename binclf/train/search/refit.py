"""The winning configuration of a search, fit again on every refit row.

The refit's round count comes from early stopping on the validation split. When the trials ran
on a sample of the training rows, a boosted winner is fit once more to early stopping on every
training row (`full_size_fit`): a round count chosen on the sample under-boosts a model trained
on many times more rows. That fit is not cut at the search's deadline (a cut fit would be
under-boosted again); like the refit, it runs after the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from binclf.train.catboost_model import fit_catboost
from binclf.train.models import (
    BinaryModel,
    LightGBMModel,
    fit_lightgbm,
    fit_logistic,
    fit_threads,
    import_lightgbm,
    lightgbm_params,
)
from binclf.train.resampling import resample
from binclf.train.search.catboost_trial import fit_rung, refit_params
from binclf.train.search.fidelity import ROWS_ATTR, stop_boosting_at
from binclf.train.search.objectives import (
    TrialData,
    fit_lightgbm_rung,
    shift_for,
    train_weights,
    trial_params,
)
from binclf.train.search.settings import SearchSettings
from binclf.train.search.space import CATBOOST_SPACE, LIGHTGBM_SPACE, lightgbm_training_params


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

    LightGBM and CatBoost train `rounds` rounds when given, else the round count of the best
    trial.
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
    if family == "catboost":
        model = fit_catboost(
            data.X,
            data.y,
            params=refit_params(params),
            iterations=rounds or max(1, int(best.user_attrs["best_iteration"])),
            sample_weight=data.sample_weight,
            num_threads=settings.num_threads,
            seed=settings.seed,
        )
        return model, method, data.prior_log_odds_shift
    weights = train_weights(data, params["class_weight"])
    model = fit_logistic(data.X, data.y, C=params["C"], sample_weight=weights)
    model.params["class_weight"] = params["class_weight"]
    return model, method, shift_for(data, weights)


# Trees a CatBoost fit on every training row may grow: well above a trial's cap.
FULL_SIZE_CATBOOST_ITERATIONS = 5_000


@dataclass(frozen=True)
class FullSizeFit:
    """The round count early stopping chose with every training row; `model` is that fit
    itself (a LightGBM winner, cut at `rounds`), final when the refit leaves validation out,
    with its prior shift."""

    rounds: int
    rows: int
    model: BinaryModel | None
    prior_log_odds_shift: float


def scored_on_every_trial_row(best: Any, data: TrialData, method: str) -> bool:
    """Whether the winning trial was scored on every trial row (always so for logistic)."""
    top = len(data.rungs(method)[-1])
    return best.params["family"] == "logistic" or best.user_attrs.get(ROWS_ATTR) == top


def full_size_fit(
    best: Any,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    train_weight: np.ndarray | None,
    data: TrialData,
) -> FullSizeFit | None:
    """The winner fit to early stopping on the validation split with every training row.

    Same parameters and patience as the trials' top rung, at most `max_boost_rounds` rounds
    (LightGBM) or `FULL_SIZE_CATBOOST_ITERATIONS` trees (CatBoost); None for logistic.
    Deterministic given the seed, so reruns with a budget in trials stay byte-identical.
    """
    family = best.params["family"]
    if family == "logistic":
        return None
    settings = data.settings
    method = best.params.get("resampling", settings.resampling)
    full = TrialData(
        X_train.reset_index(drop=True),
        np.asarray(y_train, dtype=np.int8),
        None if train_weight is None else np.asarray(train_weight, float),
        data.X_valid,
        data.y_valid,
        data.valid_weight,
        settings,
    )
    top = len(full.rungs(method)) - 1
    rows = len(full.rungs(method)[top])
    shift = full.resampled(method).prior_log_odds_shift
    if family == "catboost":
        point = {name: best.params[name] for name in CATBOOST_SPACE}
        model, _ = fit_rung(
            full,
            method,
            top,
            point,
            top=True,
            deadline=None,
            iterations=FULL_SIZE_CATBOOST_ITERATIONS,
        )
        return FullSizeFit(int(model.get_best_iteration()) + 1, rows, None, shift)
    point = {name: best.params[name] for name in LIGHTGBM_SPACE}
    booster = fit_lightgbm_rung(
        full, method, top, trial_params(point, settings), stop_boosting_at(None)
    )
    rounds = max(1, int(booster.best_iteration))
    # The refit's own parameters and a booster freed of its training data, cut at `rounds`.
    params = lightgbm_params(
        lightgbm_training_params(point, settings),
        num_threads=fit_threads(rows, settings.num_threads),
        seed=settings.seed,
    )
    cut = import_lightgbm().Booster(model_str=booster.model_to_string(num_iteration=rounds))
    model = LightGBMModel(cut, {**params, "num_boost_round": rounds})
    return FullSizeFit(rounds, rows, model, shift)


def full_fidelity_rounds(best: Any, data: TrialData, method: str) -> tuple[int, int] | None:
    """The winner's round count from early stopping on every trial row, with those rows.

    None when the winner was already scored on every trial row (or is logistic). Boosting
    stops at the search's deadline, keeping the best round so far.
    """
    if scored_on_every_trial_row(best, data, method):
        return None
    rows = data.rungs(method)
    family = best.params["family"]
    if family == "catboost":
        point = {name: best.params[name] for name in CATBOOST_SPACE}
        model, _ = fit_rung(data, method, len(rows) - 1, point, top=True, deadline=data.deadline)
        return int(model.get_best_iteration()) + 1, len(rows[-1])
    point = {name: best.params[name] for name in LIGHTGBM_SPACE}
    booster = fit_lightgbm_rung(
        data,
        method,
        len(rows) - 1,
        trial_params(point, data.settings),
        stop_boosting_at(data.deadline),
    )
    return max(1, int(booster.best_iteration)), len(rows[-1])


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
