"""Hyperparameter search over the model families with optuna, resumable from its storage.

The study lives in RDB storage under a name that says what decides the search (`study_name`).
Several workers may run trials of one study at once on a storage they share (PostgreSQL): the
budget is checked as each trial starts (`binclf.train.search.budget`), so together they finish
exactly `n_trials`. Each trial records the run that owns it (`binclf.train.search.owners`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from binclf.train.search.budget import optimize_within_budget
from binclf.train.search.cross_val import FoldedData, cv_objective, uses_cross_validation
from binclf.train.search.ensemble import choose_ensemble, refit_ensemble
from binclf.train.search.fidelity import ROWS_ATTR, trials_deadline
from binclf.train.search.objectives import TrialData, objective, trial_errors
from binclf.train.search.owners import OWNER_ATTR, Owner
from binclf.train.search.refit import (
    FullSizeFit,
    full_fidelity_rounds,
    full_size_fit,
    refit,
    scored_on_every_trial_row,
    stack,
)
from binclf.train.search.settings import SearchError, SearchResult, SearchSettings
from binclf.train.search.study import (
    best_trial,
    history,
    log_trial,
    open_study,
    seconds_per_trial,
)

logger = logging.getLogger(__name__)


def _stratified_sample(y: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """Row indices of at most `max_rows` rows, each class in proportion; all rows if fewer."""
    if max_rows is None or len(y) <= max_rows:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    share = max_rows / len(y)
    picked = [
        rng.choice(rows, size=max(1, round(len(rows) * share)), replace=False)
        for rows in (np.flatnonzero(y == 0), np.flatnonzero(y == 1))
    ]
    return np.sort(np.concatenate(picked))


def _finished_count(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _check_inputs(
    X_train: pd.DataFrame, y_train: np.ndarray, X_valid: pd.DataFrame, y_valid: np.ndarray
) -> None:
    if len(X_train) != len(y_train) or len(X_valid) != len(y_valid):
        raise SearchError("X and y must have the same number of rows, for train and validation")
    if list(X_train.columns) != list(X_valid.columns):
        raise SearchError("train and validation frames must have the same columns")
    for name, y in (("train", y_train), ("validation", y_valid)):
        if len(np.unique(y)) < 2:
            raise SearchError(f"the {name} rows must contain both classes")


@dataclass(frozen=True)
class _RoundsChoice:
    """The refit's round count (None: the best trial's), the rows early stopping chose it on,
    that choice in words (None for logistic), and the fit on every training row if one ran."""

    rounds: int | None
    rows: int | None
    words: str | None
    full_size: FullSizeFit | None


def _chosen_rounds(
    best: Any,
    data: TrialData,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    train_weight: np.ndarray | None,
) -> _RoundsChoice:
    """On a sample, a boosted winner is fit to early stopping with every training row;
    otherwise (the trials had every training row) a winner scored below every trial row is fit
    once more on every trial row. Either way the count comes from every training row."""
    n_train = len(y_train)
    if best.params["family"] == "logistic":
        return _RoundsChoice(None, best.user_attrs.get(ROWS_ATTR), None, None)
    words = f"validation, all {n_train:,} training rows"
    if len(data.y_train) < n_train:
        started = time.perf_counter()
        full_size = full_size_fit(best, X_train, y_train, train_weight, data)
        if full_size is not None:
            logger.info(
                "rounds chosen by early stopping on validation with all %d training rows: "
                "%d (best trial: %s on %s rows) in %.1f s",
                n_train,
                full_size.rounds,
                best.user_attrs.get("best_iteration"),
                best.user_attrs.get(ROWS_ATTR),
                time.perf_counter() - started,
            )
            return _RoundsChoice(full_size.rounds, full_size.rows, words, full_size)
    method = best.params.get("resampling", data.settings.resampling)
    promoted = full_fidelity_rounds(best, data, method)
    rounds, rows = promoted or (None, best.user_attrs.get(ROWS_ATTR))
    return _RoundsChoice(rounds, rows, words, None)


def _cross_validated_rounds(best: Any, n_rows: int, folds: int) -> _RoundsChoice:
    """A cross-validated winner's round count: its trial's (the mean over its folds)."""
    if best.params["family"] == "logistic":
        return _RoundsChoice(None, n_rows, None, None)
    words = f"{folds}-fold cross-validation, mean of the folds, {n_rows:,} rows"
    return _RoundsChoice(None, n_rows, words, None)


def search_model(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    *,
    storage: str,
    study_name: str,
    settings: SearchSettings | None = None,
    train_weight: np.ndarray | None = None,
    valid_weight: np.ndarray | None = None,
    on_trial: Callable[[Any, Any], None] | None = None,
    warm_start_from: str | None = None,
    in_time_order: bool = False,
) -> SearchResult:
    """Search the families on (train, validation), then refit the winner.

    `storage` is an optuna RDB URL (e.g. ``sqlite:///state/optuna.db``); a study of the same
    `study_name` is resumed: its finished (complete or pruned) trials count toward `n_trials`.
    `on_trial(study, trial)` is called after each trial, next to the progress log. A new study
    starts with the best configurations of the study `warm_start_from` in the same storage (the
    champion's), when given. On small data (`SearchSettings.cv_max_rows`) trials are scored by
    cross-validation on training + validation rows, in contiguous blocks when `in_time_order`
    (training rows oldest, then validation), else stratified. A trial error
    fails its trial only; any other exception stops the search and is raised as it is.
    """
    import optuna

    settings = settings or SearchSettings()
    _check_inputs(X_train, y_train, X_valid, y_valid)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(storage, study_name, settings, warm_start_from, len(y_train))
    deadline = (
        None if settings.timeout_seconds is None else time.monotonic() + settings.timeout_seconds
    )
    folded = None
    if uses_cross_validation(len(y_train) + len(y_valid), settings):
        folded = FoldedData.build(
            *stack((X_train, y_train, train_weight), (X_valid, y_valid, valid_weight)),
            settings,
            in_time_order=in_time_order,
            deadline=deadline,
        )
        data = folded.whole
    else:
        sample = _stratified_sample(y_train, settings.search_sample_rows, settings.seed)
        data = TrialData(
            X_train.iloc[sample].reset_index(drop=True),
            np.asarray(y_train, dtype=np.int8)[sample],
            None if train_weight is None else np.asarray(train_weight, float)[sample],
            X_valid.reset_index(drop=True),
            np.asarray(y_valid, dtype=np.int8),
            None if valid_weight is None else np.asarray(valid_weight, float),
            settings,
            deadline=deadline,
            final_fit_follows=len(sample) < len(y_train),
        )
    owner = Owner.current().to_dict()

    def owned(trial: Any) -> float:
        trial.set_user_attr(OWNER_ATTR, owner)
        return objective(trial, data) if folded is None else cv_objective(trial, folded)

    done = _finished_count(study)
    remaining = None if settings.n_trials is None else settings.n_trials - done
    logger.info(
        "study %s: %d finished trials, running %s more (timeout %s s)",
        study_name,
        done,
        "as many as time allows" if remaining is None else max(remaining, 0),
        settings.timeout_seconds,
    )

    def stop_in_time(study: Any, _: Any) -> None:
        deadline = trials_deadline(study, data.deadline)
        if deadline is not None and time.monotonic() >= deadline:
            study.stop()

    callbacks = [log_trial, stop_in_time] + ([on_trial] if on_trial else [])
    if settings.n_trials is None:
        study.optimize(
            owned,
            timeout=settings.timeout_seconds,
            callbacks=callbacks,
            catch=trial_errors(settings.families),
            gc_after_trial=False,
        )
    elif remaining > 0:
        optimize_within_budget(
            study,
            owned,
            n_trials=settings.n_trials,
            timeout=settings.timeout_seconds,
            callbacks=callbacks,
            catch=trial_errors(settings.families),
        )
    best = best_trial(study, study_name, settings.families)
    method = best.params.get("resampling", settings.resampling)
    if folded is None:
        chosen = _chosen_rounds(best, data, X_train, y_train, train_weight)
    else:
        chosen = _cross_validated_rounds(best, len(data.y_valid), settings.cv_folds)
    full_size = chosen.full_size
    if settings.refit_with_validation:
        X_refit, y_refit, w_refit = stack(
            (X_train, y_train, train_weight), (X_valid, y_valid, valid_weight)
        )
    else:
        X_refit, y_refit, w_refit = X_train, np.asarray(y_train, dtype=np.int8), train_weight
    started = time.perf_counter()
    if full_size is not None and full_size.model is not None and not settings.refit_with_validation:
        # The early-stopped fit on every training row is the refit itself.
        model, shift = full_size.model, full_size.prior_log_odds_shift
    else:
        model, method, shift = refit(
            best, X_refit, y_refit, w_refit, settings, rounds=chosen.rounds
        )
    logger.info(
        "refit %s (trial %d) on %d rows in %.1f s",
        best.params["family"],
        best.number,
        len(y_refit),
        time.perf_counter() - started,
    )
    family, best_value = best.params["family"], float(best.value)
    # Trials scored below every trial row (a capped top rung) would pick members and weights
    # for models other than those refit, so an ensemble is only formed at full fidelity.
    at_full_fidelity = folded is not None or scored_on_every_trial_row(best, data, method)
    # Its members' refits would take the search past its budget in seconds, which is spent.
    spent = deadline is not None and time.monotonic() >= deadline
    if settings.ensemble and at_full_fidelity and spent:
        logger.info("no ensemble: the search's %s s are spent", settings.timeout_seconds)
    choice = (
        choose_ensemble(study, data, settings)
        if settings.ensemble and at_full_fidelity and not spent
        else None
    )
    if choice is not None:
        started = time.perf_counter()
        model = refit_ensemble(
            choice, study, (best.number, model, shift), X_refit, y_refit, w_refit, settings
        )
        family, best_value, shift = model.family, choice.score, 0.0
        logger.info(
            "ensemble of trials %s refit in %.1f s",
            sorted(choice.members),
            time.perf_counter() - started,
        )
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    return SearchResult(
        family=family,
        params=dict(model.params),
        best_value=best_value,
        objective=settings.objective,
        n_complete=states.count("COMPLETE"),
        n_pruned=states.count("PRUNED"),
        n_failed=states.count("FAIL"),
        history=history(trials),
        model=model,
        resampling=method,
        prior_log_odds_shift=shift,
        study_name=study_name,
        refit_rows=len(y_refit),
        seconds_per_trial=seconds_per_trial(trials),
        fidelity_rows=best.user_attrs.get(ROWS_ATTR),
        rounds_rows=chosen.rows,
        rounds_chosen_on=chosen.words,
        ensemble_members=dict(choice.members) if choice else {},
    )
