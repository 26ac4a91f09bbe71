"""One trial of the search: pick a family and resampling, fit on the trial rows, score validation.

Validation scores are prior-corrected, so a model trained on rebalanced rows is judged by the
probabilities it will actually serve.

Only errors that a point of the search space can cause in fitting or scoring fail a trial and
let the search go on (`TRIAL_ERRORS`): `ValueError` (which includes numpy's `LinAlgError` and
scikit-learn's input checks), `ArithmeticError` (which includes `FloatingPointError` and
`OverflowError`), LightGBM's `LightGBMError` and CatBoost's `CatBoostError`. Anything else
(`TypeError`, `KeyError`, `AttributeError`, ...) is a bug, not a bad configuration: it stops the
search and reaches the caller unchanged.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from binclf.train.models import (
    LogisticEncoding,
    fit_logistic,
    fit_threads,
    import_lightgbm,
    lightgbm_params,
)
from binclf.train.resampling import (
    RESAMPLING_METHODS,
    Resampled,
    apply_prior_shift,
    balanced_weights,
    resample,
)
from binclf.train.search.catboost_trial import catboost_trial
from binclf.train.search.fidelity import (
    LOW_RUNG_EARLY_STOPPING_ROUNDS,
    ROWS_ATTR,
    choose_top_rung,
    chosen_top_rung,
    deadline_callback,
    ladder,
    low_rung_params,
    nested_rows,
    rung_step,
    trials_deadline,
    valid_rows_for,
)
from binclf.train.search.settings import LIGHTGBM_METRICS, SearchSettings
from binclf.train.search.space import (
    CATBOOST_SPACE,
    LIGHTGBM_SPACE,
    LOGISTIC_SPACE,
    lightgbm_training_params,
    suggest,
)

VALID_NAME = "validation"
ERROR_ATTR = "error"


def trial_errors(families: tuple[str, ...] = ()) -> tuple[type[Exception], ...]:
    """The exceptions that fail one trial and let the search go on (see the module docstring);
    with CatBoost among `families`, also its `CatBoostError`."""
    lgb = import_lightgbm()
    errors = (ValueError, ArithmeticError, np.linalg.LinAlgError, lgb.basic.LightGBMError)
    if "catboost" in families:
        from catboost import CatBoostError

        errors = (*errors, CatBoostError)
    return errors


def score(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None, objective: str) -> float:
    from sklearn.metrics import average_precision_score, log_loss

    if objective == "pr_auc":
        return float(average_precision_score(y, p, sample_weight=weight))
    return float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), sample_weight=weight, labels=[0, 1]))


class TrialData:
    """Training and validation data, prepared once per resampling choice and reused by trials.

    `deadline` (a `time.monotonic()` value) is when the search's time is up, if it has one;
    `final_fit_follows` says that the training rows are a sample, so the winner will be fit again
    on every training row (the trials then keep time for it, `choose_top_rung`).
    """

    def __init__(
        self,
        X_train: pd.DataFrame,
        y_train: np.ndarray,
        train_weight: np.ndarray | None,
        X_valid: pd.DataFrame,
        y_valid: np.ndarray,
        valid_weight: np.ndarray | None,
        settings: SearchSettings,
        deadline: float | None = None,
        final_fit_follows: bool = False,
    ) -> None:
        self.X_train, self.y_train, self.train_weight = X_train, y_train, train_weight
        self.X_valid, self.y_valid, self.valid_weight = X_valid, y_valid, valid_weight
        self.settings = settings
        self.deadline = deadline
        self.final_fit_follows = final_fit_follows
        self._resampled: dict[str, Resampled] = {}
        self._full: dict[str, Any] = {}
        self._rungs: dict[str, list[np.ndarray]] = {}
        self._lightgbm: dict[tuple[str, int, bool], tuple[Any, Any]] = {}
        # Prior-corrected validation probabilities of this run's completed trials, by number.
        self.valid_predictions: dict[int, np.ndarray] = {}
        self._logistic: dict[str, tuple[LogisticEncoding, np.ndarray, np.ndarray]] = {}
        # CatBoost pools by (family, method, rung, top), filled by `catboost_trial`.
        self.catboost_pools: dict[tuple[str, str, int, bool], tuple[Any, Any]] = {}

    def resampled(self, method: str) -> Resampled:
        if method not in self._resampled:
            self._resampled[method] = resample(
                self.X_train,
                self.y_train,
                method=method,
                seed=self.settings.seed,
                sample_weight=self.train_weight,
            )
        return self._resampled[method]

    def rungs(self, method: str) -> list[np.ndarray]:
        """Row indices of each fidelity rung of the resampled rows, smallest first."""
        if method not in self._rungs:
            y = self.resampled(method).y
            sizes = ladder(len(y), self.settings.fidelity_min_rows)
            self._rungs[method] = nested_rows(y, sizes, self.settings.seed)
        return self._rungs[method]

    def lightgbm_datasets(self, method: str, rung: int, full_valid: bool = True) -> tuple[Any, Any]:
        """Binned train/validation Datasets of a rung; every rung shares the bins of all rows.

        Validation starts at the prior shift, so every LightGBM validation metric is computed on
        prior-corrected probabilities. Without `full_valid` it is a seeded stratified sample of
        `valid_rows_for` rows (the same for every trial), which decides only whether a trial
        climbs on: scores that compete with other families are always on every validation row.
        """
        lgb = import_lightgbm()
        dataset_params = {"feature_pre_filter": False, "verbose": -1, "max_bin": 255}
        data = self.resampled(method)
        if method not in self._full:
            self._full[method] = lgb.Dataset(
                data.X,
                data.y,
                weight=data.sample_weight,
                params=dataset_params,
                free_raw_data=False,
            ).construct()
        key = (method, rung, full_valid)
        if key not in self._lightgbm:
            rows = self.rungs(method)[rung]
            full = self._full[method]
            train = full if len(rows) == len(data.y) else full.subset(rows).construct()
            kept = np.arange(len(self.y_valid))
            if not full_valid:
                size = valid_rows_for(len(rows), len(self.y_valid))
                kept = nested_rows(self.y_valid, (size,), self.settings.seed)[0]
            weight = None if self.valid_weight is None else self.valid_weight[kept]
            valid = lgb.Dataset(
                self.X_valid.iloc[kept],
                self.y_valid[kept],
                weight=weight,
                init_score=np.full(len(kept), data.prior_log_odds_shift),
                reference=train,
                params=dataset_params,
                free_raw_data=False,
            ).construct()
            self._lightgbm[key] = (train, valid)
        return self._lightgbm[key]

    def logistic_inputs(self, method: str) -> tuple[LogisticEncoding, np.ndarray, np.ndarray]:
        """The encoding fitted on the resampled rows, their matrix, and the validation matrix."""
        if method not in self._logistic:
            data = self.resampled(method)
            encoding = LogisticEncoding.fit(data.X)
            self._logistic[method] = (
                encoding,
                encoding.transform(data.X),
                encoding.transform(self.X_valid),
            )
        return self._logistic[method]


def train_weights(data: Resampled, class_weight: str) -> np.ndarray:
    if class_weight == "balanced":
        return balanced_weights(data.y, data.sample_weight)
    return data.sample_weight


def shift_for(data: Resampled, weights: np.ndarray) -> float:
    """Prior shift of a model trained on `data` with `weights` (log-odds, true minus effective)."""
    effective = float(np.sum(weights * data.y) / np.sum(weights))
    return float(logit(data.true_prevalence) - logit(effective))


def fit_lightgbm_rung(
    data: TrialData, method: str, rung: int, params: dict, stop: Any, top: bool = True
) -> Any:
    """Fit on a rung to early stopping on validation; `stop` is one more callback.

    A fit at the top rung uses `params` and every validation row; one below it the low rungs'
    cheaper parameters and patience on a validation sample (`binclf.train.search.fidelity`).
    The booster keeps its training state (no round trip through its text), so the top rung's
    validation predictions can be read back without predicting again (`valid_probabilities`).
    """
    lgb = import_lightgbm()
    settings = data.settings
    train, valid = data.lightgbm_datasets(method, rung, full_valid=top)
    patience = settings.early_stopping_rounds if top else LOW_RUNG_EARLY_STOPPING_ROUNDS
    if top:
        params = {**params, "num_threads": fit_threads(train.num_data(), params["num_threads"])}
    return lgb.train(
        params if top else low_rung_params(params),
        train,
        num_boost_round=settings.max_boost_rounds,
        valid_sets=[valid],
        valid_names=[VALID_NAME],
        callbacks=[lgb.early_stopping(patience, verbose=False), stop],
        keep_training_booster=True,
    )


def trial_params(point: dict[str, Any], settings: SearchSettings) -> dict[str, Any]:
    """A point of the LightGBM space as the parameters its trials train with."""
    metric = LIGHTGBM_METRICS[settings.objective]
    return lightgbm_params(
        {**lightgbm_training_params(point, settings), "metric": metric},
        num_threads=settings.num_threads,
        seed=settings.seed,
    )


def lightgbm_trial(trial: Any, data: TrialData, method: str) -> float:
    """Fit rung by rung (`binclf.train.search.fidelity`); pruned between rungs by the pruner."""
    import optuna

    settings = data.settings
    params = trial_params(suggest(trial, LIGHTGBM_SPACE), settings)
    n_rungs = len(data.rungs(method))
    rung = 0
    top = chosen_top_rung(trial.study, n_rungs, settings.timeout_seconds)
    while True:
        full_valid = top is not None and rung >= top
        data.lightgbm_datasets(method, rung, full_valid)  # binned before the clock starts
        stop = deadline_callback(
            trials_deadline(trial.study, data.deadline),
            trial.study,
            lambda rung=rung: optuna.TrialPruned(f"the search's time ran out at rung {rung}"),
        )
        started = time.monotonic()
        booster = fit_lightgbm_rung(data, method, rung, params, stop, top=full_valid)
        value = float(booster.best_score[VALID_NAME][params["metric"]])
        trial.set_user_attr("best_iteration", int(booster.best_iteration))
        trial.set_user_attr(ROWS_ATTR, len(data.rungs(method)[rung]))
        if top is None:
            seconds = time.monotonic() - started
            top = choose_top_rung(
                trial.study, seconds, n_rungs, settings.timeout_seconds, data.final_fit_follows
            )
        if rung >= top:
            p = valid_probabilities(booster)
            data.valid_predictions[trial.number] = p
            return value
        trial.report(value, step=rung_step(rung))
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after rung {rung}")
        rung += 1


def valid_probabilities(booster: Any) -> np.ndarray:
    """The prior-corrected probabilities at the best round on every validation row.

    Read from the booster's own validation scores (which start at the prior shift) after
    rolling back the rounds past the best: no second pass over the validation frame. LightGBM
    hands a custom metric these scores as probabilities (documented for `feval`).
    """
    while booster.current_iteration() > booster.best_iteration > 0:
        booster.rollback_one_iter()
    kept: list[np.ndarray] = []

    def capture(preds: np.ndarray, _: Any) -> tuple[str, float, bool]:
        kept.append(np.array(preds, dtype=np.float64))
        return "captured", 0.0, False

    booster.eval_valid(feval=capture)
    return kept[0]


def logistic_trial(trial: Any, data: TrialData, method: str) -> float:
    point = suggest(trial, LOGISTIC_SPACE)
    resampled = data.resampled(method)
    encoding, matrix, valid_matrix = data.logistic_inputs(method)
    weights = train_weights(resampled, point["class_weight"])
    trial.set_user_attr(ROWS_ATTR, len(resampled.y))
    model = fit_logistic(
        resampled.X,
        resampled.y,
        C=point["C"],
        sample_weight=weights,
        encoding=encoding,
        encoded=matrix,
    )
    shift = shift_for(resampled, weights)
    log_odds = valid_matrix @ model.coefficients + model.intercept
    p = apply_prior_shift(expit(log_odds), shift)
    data.valid_predictions[trial.number] = p
    return score(data.y_valid, p, data.valid_weight, data.settings.objective)


def family_and_method(trial: Any, settings: SearchSettings) -> tuple[str, str]:
    """The trial's family and resampling method, asked of the trial."""
    family = trial.suggest_categorical("family", list(settings.families))
    method = (
        trial.suggest_categorical("resampling", list(RESAMPLING_METHODS))
        if settings.resampling == "auto"
        else settings.resampling
    )
    return family, method


def fit_family(trial: Any, data: TrialData, family: str, method: str) -> float:
    """Fit the trial's family on `data` and return its validation score.

    A trial error (`trial_errors()`) is recorded on the trial as the user attribute `error`
    before it fails the trial, so a family's failures can be reported by their first cause.
    """
    try:
        if family == "lightgbm":
            return lightgbm_trial(trial, data, method)
        if family == "catboost":
            return catboost_trial(trial, data, method, suggest(trial, CATBOOST_SPACE))
        return logistic_trial(trial, data, method)
    except trial_errors(data.settings.families) as error:
        trial.set_user_attr(ERROR_ATTR, f"{type(error).__name__}: {error}")
        raise


def objective(trial: Any, data: TrialData) -> float:
    """One trial: pick the family and resampling, fit, return the validation score."""
    family, method = family_and_method(trial, data.settings)
    return fit_family(trial, data, family, method)
