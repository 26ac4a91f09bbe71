"""Small data: trials scored by k-fold cross-validation on training + validation rows."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from binclf.train.search import SearchSettings, search_model
from binclf.train.search.cross_val import FoldedData, cv_objective, fold_rows

optuna.logging.set_verbosity(optuna.logging.ERROR)


def simulated(n: int, n_features: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A logistic truth with a few strong and many weak coefficients."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    beta = np.where(np.arange(n_features) < 4, 1.0, 0.1)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ beta - 0.5)))).astype(np.int8)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(n_features)]), y


def test_stratified_folds_keep_the_class_balance_and_time_folds_are_blocks_in_order():
    y = np.array([0] * 80 + [1] * 20, dtype=np.int8)
    stratified = fold_rows(y, 5, seed=0, in_time_order=False)
    assert sorted(np.concatenate(stratified).tolist()) == list(range(100))
    assert [int(y[rows].sum()) for rows in stratified] == [4] * 5
    blocks = fold_rows(y, 4, seed=0, in_time_order=True)
    assert [rows.tolist() for rows in blocks] == [list(range(i, i + 25)) for i in (0, 25, 50, 75)]


def test_a_logistic_trial_scores_the_out_of_fold_log_loss_scikit_learn_gives_on_its_folds():
    X, y = simulated(400, 8, seed=1)
    settings = SearchSettings(families=("logistic",), n_trials=1, timeout_seconds=None)
    folded = FoldedData.build(X, y, None, settings, in_time_order=False, deadline=None)
    study = optuna.create_study()
    study.enqueue_trial({"family": "logistic", "C": 0.05, "class_weight": "none"})
    study.optimize(lambda trial: cv_objective(trial, folded), n_trials=1)

    folds = [(np.setdiff1d(np.arange(len(y)), rows), rows) for rows, _ in folded.folds]
    reference = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
    p = cross_val_predict(reference, X, y, cv=folds, method="predict_proba")[:, 1]
    assert study.best_value == pytest.approx(log_loss(y, p), abs=1e-6)


def _chosen_c(X, y, cv_max_rows: int, seed: int) -> float:
    n_fit = int(len(y) * 0.8)
    result = search_model(
        X.iloc[:n_fit], y[:n_fit], X.iloc[n_fit:], y[n_fit:],
        storage="sqlite:///:memory:", study_name="c",
        settings=SearchSettings(
            families=("logistic",), n_trials=15, timeout_seconds=None, ensemble=False,
            cv_max_rows=cv_max_rows, seed=seed,
        ),
    )  # fmt: skip
    return float(result.params["C"])


def test_cross_validation_chooses_c_nearer_the_best_c_than_one_validation_split():
    # The best C of each simulated problem is the one with the lowest log loss on 5,000 fresh
    # rows from the same truth; the search sees 300 rows (60 of them for validation).
    grid = np.logspace(-3, 2, 26)
    cv_misses, split_misses = [], []
    for seed in range(4):
        X_all, y_all = simulated(5_300, 30, seed=seed)
        X, y = X_all.iloc[:300].reset_index(drop=True), y_all[:300]
        X_test, y_test = X_all.iloc[300:], y_all[300:]
        scaler = StandardScaler().fit(X)
        losses = [
            log_loss(y_test, LogisticRegression(C=c, max_iter=2000)
                     .fit(scaler.transform(X), y).predict_proba(scaler.transform(X_test))[:, 1])
            for c in grid
        ]  # fmt: skip
        best = np.log10(grid[int(np.argmin(losses))])
        cv_misses.append(abs(np.log10(_chosen_c(X, y, 5_000, seed)) - best))
        split_misses.append(abs(np.log10(_chosen_c(X, y, 0, seed)) - best))
    assert np.mean(cv_misses) < np.mean(split_misses)


def test_a_cross_validated_lightgbm_winner_is_refit_with_the_mean_of_its_folds_rounds(tmp_path):
    X, y = simulated(600, 6, seed=2)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    result = search_model(
        X.iloc[:480], y[:480], X.iloc[480:], y[480:],
        storage=storage, study_name="rounds",
        settings=SearchSettings(
            families=("lightgbm",), n_trials=2, timeout_seconds=None, ensemble=False,
            learning_rate=0.2, max_boost_rounds=200, early_stopping_rounds=10, num_threads=1,
        ),
    )  # fmt: skip
    best = optuna.load_study(study_name="rounds", storage=storage).best_trial
    folds = best.user_attrs["fold_iterations"]
    assert len(folds) == 5 and best.user_attrs["rows"] == 600
    assert result.model.params["num_boost_round"] == max(1, round(float(np.mean(folds))))
    assert result.rounds_chosen_on == "5-fold cross-validation, mean of the folds, 600 rows"
    assert result.refit_rows == 600


def test_a_cross_validated_family_whose_trials_all_fail_fails_the_search_naming_the_error(
    tmp_path, monkeypatch
):
    from binclf.train.search import cross_val
    from binclf.train.search.settings import SearchError

    def failing(*args, **kwargs):
        raise ValueError("bad leaves")

    monkeypatch.setattr(cross_val, "fit_lightgbm_rung", failing)
    X, y = simulated(400, 4, seed=3)
    with pytest.raises(SearchError, match=r"no lightgbm trial completed \(3 failed\)") as raised:
        search_model(
            X.iloc[:320], y[:320], X.iloc[320:], y[320:],
            storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name="fails",
            settings=SearchSettings(n_trials=4, timeout_seconds=None, ensemble=False),
        )  # fmt: skip
    assert "first error: ValueError: bad leaves" in str(raised.value)
