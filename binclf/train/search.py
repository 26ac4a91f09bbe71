"""Hyperparameter search over both model families with optuna, resumable from its storage.

One study holds LightGBM and logistic-regression trials, so the family that scores best on the
validation split wins. The study lives in RDB storage under a name the caller derives from the
dataset, data version and code version: a killed run resumes, keeps its finished trials and
only runs what is left of the budget. Several workers may run trials of one study at once on a
storage they share (PostgreSQL): the budget is checked as each trial starts
(`binclf.trial_budget`), so together they finish exactly `n_trials`. Validation scores are
prior-corrected, so a model trained on rebalanced rows is judged by the probabilities it will
actually serve.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from binclf.train.models import (
    FAMILIES,
    BinaryModel,
    LogisticEncoding,
    fit_lightgbm,
    fit_logistic,
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
from binclf.train.trial_budget import optimize_within_budget, shared_storage

logger = logging.getLogger(__name__)

OBJECTIVES = {"log_loss": "minimize", "pr_auc": "maximize"}
LIGHTGBM_METRICS = {"log_loss": "binary_logloss", "pr_auc": "average_precision"}
VALID_NAME = "validation"
REPORT_INTERVAL = 10
N_STARTUP_TRIALS = 8
# Pruning compares trials at the same boosting round; shallow trees learn slower early on, so
# only trials in the worst quarter after a warm-up are stopped.
PRUNE_PERCENTILE = 75.0
PRUNE_WARMUP_ROUNDS = 200
OBJECTIVE_ATTR = "objective"


class SearchError(ValueError):
    """Search settings that cannot work, or a search in which no trial completed."""


@dataclass(frozen=True)
class SearchSettings:
    """How the search runs; the defaults suit a 2-core machine and about a minute of search.

    The budget is `n_trials` (finished trials over all runs of the study) and/or
    `timeout_seconds` (per call). `resampling` is one of RESAMPLING_METHODS or "auto" (then it is
    searched). Trials fit on at most `search_sample_rows` training rows; the winner is refit on
    every training row, plus the validation rows when `refit_with_validation`, LightGBM with the
    round count early stopping chose at the fixed `learning_rate` (fixed, so pruning compares
    trials at equal progress). A timeout makes the trial count depend on machine speed: for
    byte-identical reruns set `timeout_seconds=None` and let `n_trials` bound the search.
    """

    n_trials: int | None = 100
    timeout_seconds: float | None = 60.0
    objective: str = "log_loss"
    families: tuple[str, ...] = FAMILIES
    resampling: str = "none"
    search_sample_rows: int | None = 100_000
    learning_rate: float = 0.05
    early_stopping_rounds: int = 50
    max_boost_rounds: int = 5_000
    refit_with_validation: bool = True
    num_threads: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_trials is None and self.timeout_seconds is None:
            raise SearchError("give a budget: n_trials and/or timeout_seconds")
        if self.n_trials is not None and self.n_trials < 1:
            raise SearchError(f"n_trials must be at least 1, got {self.n_trials}")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise SearchError(f"timeout_seconds must be positive, got {self.timeout_seconds}")
        if self.objective not in OBJECTIVES:
            raise SearchError(
                f"unknown objective {self.objective!r}; use one of {list(OBJECTIVES)}"
            )
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise SearchError(
                f"families must be a non-empty subset of {FAMILIES}, got {self.families}"
            )
        if self.resampling != "auto" and self.resampling not in RESAMPLING_METHODS:
            raise SearchError(
                f"unknown resampling {self.resampling!r}; use 'auto' or one of {RESAMPLING_METHODS}"
            )
        if self.search_sample_rows is not None and self.search_sample_rows < 100:
            raise SearchError(
                f"search_sample_rows must be at least 100, got {self.search_sample_rows}"
            )
        if not 0 < self.learning_rate <= 1:
            raise SearchError(f"learning_rate must be in (0, 1], got {self.learning_rate}")


@dataclass
class SearchResult:
    """The winner of a search, refit, with the evidence of how it was found."""

    family: str
    params: dict[str, Any]
    best_value: float
    objective: str
    n_complete: int
    n_pruned: int
    n_failed: int
    history: list[dict[str, Any]]
    model: BinaryModel
    resampling: str
    prior_log_odds_shift: float
    study_name: str
    refit_rows: int


def _lightgbm_space(trial: Any) -> dict[str, Any]:
    """Tree shape, row/column sampling, regularization and the categorical split style."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 4, 128, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 200, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 100.0, log=True),
        "max_cat_to_onehot": trial.suggest_categorical("max_cat_to_onehot", [4, 64]),
    }


def _lightgbm_training_params(space: dict[str, Any], settings: SearchSettings) -> dict[str, Any]:
    """A point of the search space as LightGBM training parameters."""
    return {
        **space,
        "bagging_freq": 1 if space["bagging_fraction"] < 1.0 else 0,
        "learning_rate": settings.learning_rate,
    }


# The first trials of a new study: a small portfolio of configurations that are sound on most
# tabular data (small regularized trees with column sampling, near-library defaults, larger
# trees for larger data) and a plain logistic regression. The search starts from them, so it
# never ends worse than they do on validation.
_STARTING_POINTS = {
    "lightgbm": [
        {"num_leaves": 15, "min_data_in_leaf": 20, "feature_fraction": 0.4,
         "bagging_fraction": 1.0, "lambda_l2": 5.0, "cat_smooth": 10.0, "max_cat_to_onehot": 64},
        {"num_leaves": 31, "min_data_in_leaf": 20, "feature_fraction": 0.8,
         "bagging_fraction": 0.8, "lambda_l2": 1.0, "cat_smooth": 10.0, "max_cat_to_onehot": 4},
        {"num_leaves": 63, "min_data_in_leaf": 50, "feature_fraction": 0.6,
         "bagging_fraction": 0.8, "lambda_l2": 10.0, "cat_smooth": 10.0, "max_cat_to_onehot": 64},
    ],
    "logistic": [{"C": 1.0, "class_weight": "none"}],
}  # fmt: skip


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


def _score(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None, objective: str) -> float:
    from sklearn.metrics import average_precision_score, log_loss

    if objective == "pr_auc":
        return float(average_precision_score(y, p, sample_weight=weight))
    return float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), sample_weight=weight, labels=[0, 1]))


class _TrialData:
    """Training and validation data, prepared once per resampling choice and reused by trials."""

    def __init__(
        self,
        X_train: pd.DataFrame,
        y_train: np.ndarray,
        train_weight: np.ndarray | None,
        X_valid: pd.DataFrame,
        y_valid: np.ndarray,
        valid_weight: np.ndarray | None,
        settings: SearchSettings,
    ) -> None:
        self.X_train, self.y_train, self.train_weight = X_train, y_train, train_weight
        self.X_valid, self.y_valid, self.valid_weight = X_valid, y_valid, valid_weight
        self.settings = settings
        self._resampled: dict[str, Resampled] = {}
        self._lightgbm: dict[str, tuple[Any, Any]] = {}
        self._logistic: dict[str, tuple[LogisticEncoding, np.ndarray, np.ndarray]] = {}

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

    def lightgbm_datasets(self, method: str) -> tuple[Any, Any]:
        """Binned train/validation Datasets; validation starts at the prior shift, so every
        LightGBM validation metric is computed on prior-corrected probabilities."""
        lgb = import_lightgbm()
        if method not in self._lightgbm:
            data = self.resampled(method)
            dataset_params = {"feature_pre_filter": False, "verbose": -1, "max_bin": 255}
            train = lgb.Dataset(
                data.X,
                data.y,
                weight=data.sample_weight,
                params=dataset_params,
                free_raw_data=False,
            )
            valid = lgb.Dataset(
                self.X_valid,
                self.y_valid,
                weight=self.valid_weight,
                init_score=np.full(len(self.y_valid), data.prior_log_odds_shift),
                reference=train,
                params=dataset_params,
                free_raw_data=False,
            )
            self._lightgbm[method] = (train, valid)
        return self._lightgbm[method]

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


def _train_weights(data: Resampled, class_weight: str) -> np.ndarray:
    if class_weight == "balanced":
        return balanced_weights(data.y, data.sample_weight)
    return data.sample_weight


def _shift_for(data: Resampled, weights: np.ndarray) -> float:
    """Prior shift of a model trained on `data` with `weights` (log-odds, true minus effective)."""
    effective = float(np.sum(weights * data.y) / np.sum(weights))
    return float(logit(data.true_prevalence) - logit(effective))


def _lightgbm_trial(trial: Any, data: _TrialData, method: str) -> float:
    lgb = import_lightgbm()
    from optuna_integration import LightGBMPruningCallback

    settings = data.settings
    metric = LIGHTGBM_METRICS[settings.objective]
    params = lightgbm_params(
        {**_lightgbm_training_params(_lightgbm_space(trial), settings), "metric": metric},
        num_threads=settings.num_threads,
        seed=settings.seed,
    )
    train, valid = data.lightgbm_datasets(method)
    booster = lgb.train(
        params,
        train,
        num_boost_round=settings.max_boost_rounds,
        valid_sets=[valid],
        valid_names=[VALID_NAME],
        callbacks=[
            lgb.early_stopping(settings.early_stopping_rounds, verbose=False),
            LightGBMPruningCallback(
                trial, metric, valid_name=VALID_NAME, report_interval=REPORT_INTERVAL
            ),
        ],
    )
    trial.set_user_attr("best_iteration", int(booster.best_iteration))
    return float(booster.best_score[VALID_NAME][metric])


def _logistic_trial(trial: Any, data: _TrialData, method: str) -> float:
    C = trial.suggest_float("C", 1e-3, 100.0, log=True)
    class_weight = trial.suggest_categorical("class_weight", ["none", "balanced"])
    resampled = data.resampled(method)
    encoding, matrix, valid_matrix = data.logistic_inputs(method)
    weights = _train_weights(resampled, class_weight)
    model = fit_logistic(
        resampled.X, resampled.y, C=C, sample_weight=weights, encoding=encoding, encoded=matrix
    )
    shift = _shift_for(resampled, weights)
    log_odds = valid_matrix @ model.coefficients + model.intercept
    p = apply_prior_shift(expit(log_odds), shift)
    return _score(data.y_valid, p, data.valid_weight, data.settings.objective)


def _objective(trial: Any, data: _TrialData) -> float:
    """One trial: pick the family and resampling, fit, return the validation score."""
    settings = data.settings
    family = trial.suggest_categorical("family", list(settings.families))
    method = (
        trial.suggest_categorical("resampling", list(RESAMPLING_METHODS))
        if settings.resampling == "auto"
        else settings.resampling
    )
    if family == "lightgbm":
        return _lightgbm_trial(trial, data, method)
    return _logistic_trial(trial, data, method)


def _log_trial(study: Any, trial: Any) -> None:
    duration = trial.duration.total_seconds() if trial.duration else float("nan")
    try:
        best = f"{study.best_value:.5f}"
    except ValueError:
        best = "none yet"
    choice = " ".join(str(trial.params[k]) for k in ("family", "resampling") if k in trial.params)
    logger.info(
        "trial %d %s: %s value=%s best=%s (%.1f s)",
        trial.number,
        trial.state.name,
        choice,
        "-" if trial.value is None else f"{trial.value:.5f}",
        best,
        duration,
    )


def _history(trials: list[Any]) -> list[dict[str, Any]]:
    """One record per trial that started (queued starting points that never ran are left out)."""
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "family": t.params.get("family"),
            "params": dict(t.params),
            "best_iteration": t.user_attrs.get("best_iteration"),
            "duration_seconds": t.duration.total_seconds() if t.duration else None,
        }
        for t in trials
        if t.state.name != "WAITING"
    ]


def _is_single_worker(url: str) -> bool:
    """SQLite storages serve one worker at a time; other RDB storages may be shared."""
    return url.startswith("sqlite")


def _fail_orphans(study: Any) -> None:
    """Mark trials a stopped run left RUNNING as failed, so they neither count nor block.

    Only for single-worker storage, where no other worker can be running them.
    """
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        logger.warning("trial %d was left running by a stopped run; marked failed", trial.number)


def _open_study(storage: str, study_name: str, settings: SearchSettings) -> Any:
    """Create the study, or load it when it exists (another run or worker made it).

    Only the worker that creates the study enqueues the starting points, so workers that start
    together do not run them twice.
    """
    import optuna

    options = {
        "storage": storage if _is_single_worker(storage) else shared_storage(storage),
        "study_name": study_name,
        "sampler": optuna.samplers.TPESampler(
            seed=settings.seed, n_startup_trials=N_STARTUP_TRIALS, multivariate=True
        ),
        "pruner": optuna.pruners.PercentilePruner(
            PRUNE_PERCENTILE, n_startup_trials=5, n_warmup_steps=PRUNE_WARMUP_ROUNDS
        ),
    }
    try:
        study = optuna.create_study(direction=OBJECTIVES[settings.objective], **options)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**options)
        created = False
    stored = study.user_attrs.get(OBJECTIVE_ATTR)
    if stored is None:
        study.set_user_attr(OBJECTIVE_ATTR, settings.objective)
    elif stored != settings.objective:
        raise SearchError(
            f"study {study_name!r} was run with objective {stored!r}, not {settings.objective!r}; "
            "use another study name"
        )
    if _is_single_worker(storage):
        _fail_orphans(study)
    if created:
        for family in settings.families:
            for point in _STARTING_POINTS[family]:
                start = {"family": family, **point}
                if settings.resampling == "auto":
                    start["resampling"] = "none"
                study.enqueue_trial(start)
    return study


def _finished_count(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _refit(
    best: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    weight: np.ndarray | None,
    settings: SearchSettings,
) -> tuple[BinaryModel, str, float]:
    """The winning configuration fit on all of `X`; returns model, resampling and prior shift."""
    params = dict(best.params)
    family = params.pop("family")
    method = params.pop("resampling", settings.resampling)
    data = resample(X, y, method=method, seed=settings.seed, sample_weight=weight)
    if family == "lightgbm":
        model = fit_lightgbm(
            data.X,
            data.y,
            params=_lightgbm_training_params(params, settings),
            num_boost_round=max(1, int(best.user_attrs["best_iteration"])),
            sample_weight=data.sample_weight,
            num_threads=settings.num_threads,
            seed=settings.seed,
        )
        return model, method, data.prior_log_odds_shift
    weights = _train_weights(data, params["class_weight"])
    model = fit_logistic(data.X, data.y, C=params["C"], sample_weight=weights)
    model.params["class_weight"] = params["class_weight"]
    return model, method, _shift_for(data, weights)


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
) -> SearchResult:
    """Search both families on (train, validation), then refit the winner.

    `storage` is an optuna RDB URL (e.g. ``sqlite:///state/optuna.db``); a study of the same
    `study_name` is resumed: its finished (complete or pruned) trials count toward `n_trials`.
    `on_trial(study, trial)` is called after each trial, next to the progress log.
    """
    import optuna

    settings = settings or SearchSettings()
    if len(X_train) != len(y_train) or len(X_valid) != len(y_valid):
        raise SearchError("X and y must have the same number of rows, for train and validation")
    if list(X_train.columns) != list(X_valid.columns):
        raise SearchError("train and validation frames must have the same columns")
    for name, y in (("train", y_train), ("validation", y_valid)):
        if len(np.unique(y)) < 2:
            raise SearchError(f"the {name} rows must contain both classes")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(storage, study_name, settings)
    sample = _stratified_sample(y_train, settings.search_sample_rows, settings.seed)
    data = _TrialData(
        X_train.iloc[sample].reset_index(drop=True),
        np.asarray(y_train, dtype=np.int8)[sample],
        None if train_weight is None else np.asarray(train_weight, float)[sample],
        X_valid.reset_index(drop=True),
        np.asarray(y_valid, dtype=np.int8),
        None if valid_weight is None else np.asarray(valid_weight, float),
        settings,
    )
    done = _finished_count(study)
    remaining = None if settings.n_trials is None else settings.n_trials - done
    logger.info(
        "study %s: %d finished trials, running %s more (timeout %s s)",
        study_name,
        done,
        "as many as time allows" if remaining is None else max(remaining, 0),
        settings.timeout_seconds,
    )
    callbacks = [_log_trial] + ([on_trial] if on_trial else [])
    if settings.n_trials is None:
        study.optimize(
            lambda trial: _objective(trial, data),
            timeout=settings.timeout_seconds,
            callbacks=callbacks,
            catch=(Exception,),
            gc_after_trial=False,
        )
    elif remaining > 0:
        optimize_within_budget(
            study,
            lambda trial: _objective(trial, data),
            n_trials=settings.n_trials,
            timeout=settings.timeout_seconds,
            callbacks=callbacks,
            catch=(Exception,),
        )
    best = _best_trial(study, study_name)
    if settings.refit_with_validation:
        X_refit, y_refit, w_refit = _stack(
            (X_train, y_train, train_weight), (X_valid, y_valid, valid_weight)
        )
    else:
        X_refit, y_refit, w_refit = X_train, np.asarray(y_train, dtype=np.int8), train_weight
    started = time.perf_counter()
    model, method, shift = _refit(best, X_refit, y_refit, w_refit, settings)
    logger.info(
        "refit %s (trial %d) on %d rows in %.1f s",
        best.params["family"],
        best.number,
        len(y_refit),
        time.perf_counter() - started,
    )
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    return SearchResult(
        family=best.params["family"],
        params=dict(model.params),
        best_value=float(best.value),
        objective=settings.objective,
        n_complete=states.count("COMPLETE"),
        n_pruned=states.count("PRUNED"),
        n_failed=states.count("FAIL"),
        history=_history(trials),
        model=model,
        resampling=method,
        prior_log_odds_shift=shift,
        study_name=study_name,
        refit_rows=len(y_refit),
    )


def _stack(
    *parts: tuple[pd.DataFrame, np.ndarray, np.ndarray | None],
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Rows of several (X, y, weight) parts as one; weights default to 1 where some are given."""
    X = pd.concat([p[0] for p in parts], ignore_index=True)
    y = np.concatenate([np.asarray(p[1], dtype=np.int8) for p in parts])
    if all(p[2] is None for p in parts):
        return X, y, None
    weight = np.concatenate([np.ones(len(p[1])) if p[2] is None else p[2] for p in parts])
    return X, y, weight


def _best_trial(study: Any, study_name: str) -> Any:
    """The best completed trial; raises with the last failure when none completed."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        reason = failed[-1].system_attrs.get("fail_reason", "unknown") if failed else "none ran"
        raise SearchError(f"study {study_name!r} has no completed trial; last failure: {reason}")
    return study.best_trial
