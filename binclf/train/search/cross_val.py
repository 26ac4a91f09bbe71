"""Small data: every trial scored by k-fold cross-validation on the training and validation rows.

On a small dataset one validation split is too few rows to choose hyperparameters on (700 rows
split 80/20 leave 140 to judge by, where the log loss of two values of C differs by less than its
noise). When the training and validation rows together are at most `cv_max_rows`, each trial is
fit `cv_folds` times, each time on the other folds and judged (with early stopping for the
boosted families) on the fold left out; its score is the objective on the out-of-fold
probabilities of every row, a boosted trial's at one round count for all folds (the mean of
their early-stopped counts, which the refit trains). So both families, and the ensemble's
selection, are judged on every row, each row by a model that did not train on it. Folds are
stratified and seeded, or, when the rows are in time order (training rows oldest, then
validation), contiguous blocks of that order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from binclf.train.catboost_model import catboost_pool
from binclf.train.search.catboost_trial import fit_rung
from binclf.train.search.fidelity import ROWS_ATTR, deadline_callback, trials_deadline
from binclf.train.search.objectives import (
    ERROR_ATTR,
    TrialData,
    family_and_method,
    fit_family,
    fit_lightgbm_rung,
    score,
    trial_errors,
    trial_params,
)
from binclf.train.search.settings import SearchError, SearchSettings
from binclf.train.search.space import CATBOOST_SPACE, LIGHTGBM_SPACE, suggest

ITERATION_ATTR = "best_iteration"
FOLD_ITERATIONS_ATTR = "fold_iterations"


def uses_cross_validation(n_rows: int, settings: SearchSettings) -> bool:
    """Whether a search on `n_rows` training and validation rows cross-validates its trials."""
    return n_rows <= settings.cv_max_rows


def fold_rows(y: np.ndarray, folds: int, seed: int, in_time_order: bool) -> list[np.ndarray]:
    """The held-out rows of each fold: contiguous blocks in row order, or stratified, seeded."""
    n = len(y)
    if in_time_order:
        return [np.asarray(block) for block in np.array_split(np.arange(n), folds)]
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [held_out for _, held_out in splitter.split(np.zeros(n), y)]


@dataclass(frozen=True)
class FoldedData:
    """Every row (`whole`: its validation rows are all rows, and it keeps each trial's
    out-of-fold probabilities) and one `TrialData` per fold with that fold's held-out rows."""

    whole: TrialData
    folds: tuple[tuple[np.ndarray, TrialData], ...]

    @classmethod
    def build(
        cls,
        X: pd.DataFrame,
        y: np.ndarray,
        weight: np.ndarray | None,
        settings: SearchSettings,
        *,
        in_time_order: bool,
        deadline: float | None,
    ) -> FoldedData:
        X = X.reset_index(drop=True)
        y = np.asarray(y, dtype=np.int8)
        # One rung per fold: on so few rows every trial fits on all of its fold's rows.
        fold_settings = replace(settings, fidelity_min_rows=max(100, len(y)))
        folds = []
        for held_out in fold_rows(y, settings.cv_folds, settings.seed, in_time_order):
            kept = np.setdiff1d(np.arange(len(y)), held_out)
            if len(np.unique(y[kept])) < 2:
                raise SearchError("every fold's training rows must contain both classes")

            def part(rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
                w = None if weight is None else np.asarray(weight, float)[rows]
                return X.iloc[rows].reset_index(drop=True), y[rows], w

            fold = TrialData(*part(kept), *part(held_out), fold_settings, deadline=deadline)
            folds.append((held_out, fold))
        w_all = None if weight is None else np.asarray(weight, float)
        whole = TrialData(X, y, w_all, X, y, w_all, settings, deadline=deadline)
        return cls(whole, tuple(folds))


def _fold_deadline_pruned(trial: Any) -> Exception:
    import optuna

    return optuna.TrialPruned("the search's time ran out in a fold")


def _lightgbm_raw(trial: Any, folded: FoldedData, method: str) -> tuple[list[Any], list[int]]:
    """Each fold's booster, fit to early stopping on its held-out rows, and its best round."""
    settings = folded.whole.settings
    params = trial_params(suggest(trial, LIGHTGBM_SPACE), settings)
    boosters = []
    for _, fold in folded.folds:
        deadline = trials_deadline(trial.study, fold.deadline)
        stop = deadline_callback(deadline, trial.study, lambda: _fold_deadline_pruned(trial))
        boosters.append(fit_lightgbm_rung(fold, method, 0, params, stop, top=True))
    return boosters, [max(1, int(b.best_iteration)) for b in boosters]


def _catboost_raw(trial: Any, folded: FoldedData, method: str) -> tuple[list[Any], list[int]]:
    """Each fold's CatBoost model, fit to early stopping on its held-out rows, and its trees."""
    from optuna.trial import TrialState

    point = suggest(trial, CATBOOST_SPACE)
    models = []
    for _, fold in folded.folds:
        deadline = trials_deadline(trial.study, fold.deadline)
        model, late = fit_rung(fold, method, 0, point, top=True, deadline=deadline)
        if late and trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            raise _fold_deadline_pruned(trial)
        models.append(model)
    return models, [int(m.get_best_iteration()) + 1 for m in models]


def _boosted_out_of_fold(trial: Any, folded: FoldedData, family: str, method: str) -> np.ndarray:
    """Out-of-fold probabilities of every fold's model at one round count, the mean of the
    folds' early-stopped counts (the count the refit trains): a count chosen on each fold's own
    held-out rows would score the boosted family on rows that chose it, and flatter it against
    the logistic family, whose C is one number for all folds."""
    raw = _lightgbm_raw if family == "lightgbm" else _catboost_raw
    models, iterations = raw(trial, folded, method)
    rounds = max(1, round(float(np.mean(iterations))))
    trial.set_user_attr(FOLD_ITERATIONS_ATTR, iterations)
    trial.set_user_attr(ITERATION_ATTR, rounds)
    out_of_fold = np.empty(len(folded.whole.y_valid))
    for (held_out, fold), model in zip(folded.folds, models, strict=True):
        shift = fold.resampled(method).prior_log_odds_shift
        if family == "lightgbm":
            n = min(rounds, model.current_iteration())
            score_ = model.predict(fold.X_valid, num_iteration=n, raw_score=True)
        else:
            n = min(rounds, model.tree_count_)
            score_ = model.predict(
                catboost_pool(fold.X_valid), prediction_type="RawFormulaVal", ntree_end=n
            )
        out_of_fold[held_out] = expit(np.asarray(score_, np.float64) + shift)
    return out_of_fold


def cv_objective(trial: Any, folded: FoldedData) -> float:
    """One trial fit on each fold; the objective on its out-of-fold probabilities of every row."""
    settings = folded.whole.settings
    family, method = family_and_method(trial, settings)
    if family == "logistic":
        out_of_fold = np.empty(len(folded.whole.y_valid))
        for held_out, fold in folded.folds:
            fit_family(trial, fold, family, method)
            out_of_fold[held_out] = fold.valid_predictions.pop(trial.number)
    else:
        try:
            out_of_fold = _boosted_out_of_fold(trial, folded, family, method)
        except trial_errors(settings.families) as error:
            trial.set_user_attr(ERROR_ATTR, f"{type(error).__name__}: {error}")
            raise
    trial.set_user_attr(ROWS_ATTR, len(out_of_fold))
    folded.whole.valid_predictions[trial.number] = out_of_fold
    whole = folded.whole
    return score(whole.y_valid, out_of_fold, whole.valid_weight, settings.objective)
