"""A CatBoost trial: rung by rung like LightGBM's, with CatBoost's own space and early stopping.

CatBoost is slow on two cores, so its trials are bounded: at most `CATBOOST_MAX_ITERATIONS`
trees at `CATBOOST_LEARNING_RATE`, early stopping after `CATBOOST_EARLY_STOPPING_ROUNDS`, and
the rungs below the top (the same ladder and pruner as LightGBM's, `binclf.train.search.fidelity`)
at the low rungs' faster rate, one thread and a validation sample. The validation pool starts
at the prior shift (CatBoost's `baseline`), so its early stopping and score see prior-corrected
probabilities, as LightGBM's do.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy.special import expit

from binclf.train.catboost_model import catboost_params, catboost_pool
from binclf.train.search.fidelity import (
    LOW_RUNG_RATE_FACTOR,
    LOW_RUNG_THREADS,
    ROWS_ATTR,
    choose_top_rung,
    chosen_top_rung,
    nested_rows,
    rung_step,
    trials_deadline,
    valid_rows_for,
)
from binclf.train.search.settings import SearchSettings

CATBOOST_LEARNING_RATE = 0.1
CATBOOST_MAX_ITERATIONS = 1_000
CATBOOST_EARLY_STOPPING_ROUNDS = 30
CATBOOST_METRICS = {"log_loss": "Logloss", "pr_auc": "PRAUC"}


class _Deadline:
    """A CatBoost callback that stops boosting at `deadline` and remembers that it did."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.hit = False

    def after_iteration(self, _: Any) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.hit = True
            return False
        return True


def refit_params(point: dict[str, Any]) -> dict[str, Any]:
    """A point of the CatBoost space as the refit's training parameters (the top rung's)."""
    return {**point, "learning_rate": CATBOOST_LEARNING_RATE, "bootstrap_type": "Bayesian"}


def fit_params(
    point: dict[str, Any],
    settings: SearchSettings,
    *,
    top: bool,
    iterations: int = CATBOOST_MAX_ITERATIONS,
) -> dict[str, Any]:
    """A point of the CatBoost space as a trial's training parameters (top rung or below), at
    most `iterations` trees."""
    rate = CATBOOST_LEARNING_RATE * (1.0 if top else LOW_RUNG_RATE_FACTOR)
    return {
        **catboost_params(
            {**refit_params(point), "learning_rate": min(1.0, rate)},
            num_threads=settings.num_threads if top else LOW_RUNG_THREADS,
            seed=settings.seed,
        ),
        "eval_metric": CATBOOST_METRICS[settings.objective],
        "iterations": iterations,
        "od_type": "Iter",
        "od_wait": CATBOOST_EARLY_STOPPING_ROUNDS,
        "use_best_model": True,
    }


def _pools(data: Any, method: str, rung: int, top: bool) -> tuple[Any, Any]:
    """Training and validation pools of a rung, cached on the trial data."""
    key = ("catboost", method, rung, top)
    if key not in data.catboost_pools:
        resampled = data.resampled(method)
        rows = data.rungs(method)[rung]
        weight = None if resampled.sample_weight is None else resampled.sample_weight[rows]
        # CatBoost wants a baseline on both pools when the validation pool has one.
        train = catboost_pool(
            resampled.X.iloc[rows], resampled.y[rows], weight=weight, baseline=np.zeros(len(rows))
        )
        kept = np.arange(len(data.y_valid))
        if not top:
            size = valid_rows_for(len(rows), len(data.y_valid))
            kept = nested_rows(data.y_valid, (size,), data.settings.seed)[0]
        valid = catboost_pool(
            data.X_valid.iloc[kept],
            data.y_valid[kept],
            weight=None if data.valid_weight is None else data.valid_weight[kept],
            baseline=np.full(len(kept), resampled.prior_log_odds_shift),
        )
        data.catboost_pools[key] = (train, valid)
    return data.catboost_pools[key]


def fit_rung(
    data: Any,
    method: str,
    rung: int,
    point: dict[str, Any],
    *,
    top: bool,
    deadline: float | None,
    iterations: int = CATBOOST_MAX_ITERATIONS,
) -> tuple[Any, bool]:
    """Fit on a rung to early stopping on its validation pool, at most `iterations` trees;
    True when the deadline hit."""
    from catboost import CatBoost

    train, valid = _pools(data, method, rung, top)
    stop = _Deadline(deadline)
    model = CatBoost(fit_params(point, data.settings, top=top, iterations=iterations))
    model.fit(train, eval_set=valid, callbacks=[stop])
    return model, stop.hit


def catboost_trial(trial: Any, data: Any, method: str, point: dict[str, Any]) -> float:
    """Climb the rungs to the study's top rung (chosen here when no trial chose it yet, as a
    LightGBM trial does); pruned between rungs by the study's pruner."""
    import optuna

    settings = data.settings
    metric = CATBOOST_METRICS[settings.objective]
    n_rungs = len(data.rungs(method))
    top = chosen_top_rung(trial.study, n_rungs, settings.timeout_seconds)
    rung = 0
    while True:
        at_top = top is not None and rung >= top
        _pools(data, method, rung, at_top)  # built before the clock starts
        started = time.monotonic()
        deadline = trials_deadline(trial.study, data.deadline)
        model, late = fit_rung(data, method, rung, point, top=at_top, deadline=deadline)
        complete = (optuna.trial.TrialState.COMPLETE,)
        if late and trial.study.get_trials(deepcopy=False, states=complete):
            raise optuna.TrialPruned(f"the search's time ran out at rung {rung}")
        value = float(model.get_best_score()["validation"][metric])
        trial.set_user_attr("best_iteration", int(model.get_best_iteration()) + 1)
        trial.set_user_attr(ROWS_ATTR, len(data.rungs(method)[rung]))
        if top is None:
            seconds = time.monotonic() - started
            top = choose_top_rung(
                trial.study, seconds, n_rungs, settings.timeout_seconds, data.final_fit_follows
            )
        if at_top:
            shift = data.resampled(method).prior_log_odds_shift
            raw = model.predict(catboost_pool(data.X_valid), prediction_type="RawFormulaVal")
            data.valid_predictions[trial.number] = expit(np.asarray(raw, np.float64) + shift)
            return value
        trial.report(value, step=rung_step(rung))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after rung {rung}")
        rung += 1
