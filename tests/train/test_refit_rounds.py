"""The refit's rounds after trials on a sample: early stopping with every training row."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from binclf.train.models import LIGHTGBM_MODEL_FILE, fit_lightgbm, import_lightgbm, lightgbm_params
from binclf.train.search import run as search_run
from binclf.train.search.space import LIGHTGBM_SPACE, lightgbm_training_params
from tests.train.test_search import linear_truth, quick, run

optuna.logging.set_verbosity(optuna.logging.ERROR)
N_TRAIN = 3_000


@pytest.fixture(scope="module")
def data():
    return {"train": linear_truth(N_TRAIN, seed=5), "valid": linear_truth(1_000, seed=6)}


def sampled(**overrides):
    """One LightGBM trial on 300 of the training rows, with room for many more rounds."""
    values = {
        "families": ("lightgbm",),
        "n_trials": 1,
        "search_sample_rows": 300,
        "fidelity_min_rows": 300,
        "cv_max_rows": 0,
        "learning_rate": 0.2,
        "max_boost_rounds": 1_000,
        **overrides,
    }
    return quick(**values)


def direct_rounds(data, tmp_path, settings) -> tuple[int, int]:
    """Rounds early stopping picks with every training row, fit with lightgbm directly; and
    the winning trial's own round count on the sample."""
    lgb = import_lightgbm()
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    best = optuna.load_study(study_name="study", storage=storage).best_trial
    point = {name: best.params[name] for name in LIGHTGBM_SPACE}
    params = lightgbm_params(
        {**lightgbm_training_params(point, settings), "metric": "binary_logloss"},
        num_threads=1,
        seed=settings.seed,
    )
    (X, y), (X_valid, y_valid) = data["train"], data["valid"]
    train = lgb.Dataset(X, y)
    booster = lgb.train(
        params,
        train,
        num_boost_round=settings.max_boost_rounds,
        valid_sets=[lgb.Dataset(X_valid, y_valid, reference=train)],
        callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)],
    )
    return int(booster.best_iteration), int(best.user_attrs["best_iteration"])


def test_a_sampled_search_refits_with_the_rounds_chosen_on_every_training_row(data, tmp_path):
    settings = sampled()
    result = run(data, tmp_path, settings)
    at_full_size, on_sample = direct_rounds(data, tmp_path, settings)
    assert result.model.params["num_boost_round"] == at_full_size
    assert at_full_size > on_sample  # the sample's count would under-boost the refit
    assert (result.fidelity_rows, result.rounds_rows) == (300, N_TRAIN)
    assert result.rounds_chosen_on == f"validation, all {N_TRAIN:,} training rows"
    assert result.refit_rows == N_TRAIN + 1_000
    again = run(data, tmp_path, settings, db="again.db")
    text = result.model.to_files()[LIGHTGBM_MODEL_FILE]
    assert text == again.model.to_files()[LIGHTGBM_MODEL_FILE]


def test_without_validation_rows_the_early_stopped_fit_is_the_final_model(data, tmp_path):
    settings = sampled(refit_with_validation=False)
    result = run(data, tmp_path, settings)
    rounds = result.model.params["num_boost_round"]
    assert rounds == direct_rounds(data, tmp_path, settings)[0]
    (X, y), (X_valid, _) = data["train"], data["valid"]
    refit = fit_lightgbm(
        X,
        y,
        params=lightgbm_training_params(result.params, settings),
        num_boost_round=rounds,
        num_threads=1,
        seed=settings.seed,
    )
    np.testing.assert_allclose(result.model.predict_raw(X_valid), refit.predict_raw(X_valid))
    assert result.refit_rows == N_TRAIN


def test_a_search_on_every_training_row_fits_nothing_more(data, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(search_run, "full_size_fit", lambda *args: calls.append(args))
    result = run(data, tmp_path, sampled(search_sample_rows=None))
    assert calls == []
    assert result.rounds_chosen_on == f"validation, all {N_TRAIN:,} training rows"
