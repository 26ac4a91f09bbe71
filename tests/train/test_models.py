"""Both model families: fitting, explanations, and restoring them from their files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from binclf.train.models import (
    LIGHTGBM_MODEL_FILE,
    LOGISTIC_MODEL_FILE,
    THREADED_MIN_ROWS,
    LogisticEncoding,
    ModelError,
    fit_lightgbm,
    fit_logistic,
    fit_threads,
    model_from_files,
)

LIGHTGBM_PARAMS = {"num_leaves": 7, "learning_rate": 0.1, "min_data_in_leaf": 10}


def simulated(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Logistic truth: log-odds = -1 + 1.5 x - 1.0 z + 0.8 [color = red]; x has gaps."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(2.0, 3.0, n)
    color = rng.choice(["red", "blue", "green"], n)
    log_odds = -1.0 + 1.5 * x - 1.0 * (z - 2.0) / 3.0 + 0.8 * (color == "red")
    y = (rng.random(n) < expit(log_odds)).astype(np.int8)
    X = pd.DataFrame(
        {
            "x": np.where(rng.random(n) < 0.1, np.nan, x),
            "z": z,
            "color": pd.Categorical(color, categories=["blue", "green", "red"]),
        }
    )
    return X, y


def test_lightgbm_restored_from_files_predicts_identically():
    X, y = simulated(1_000)
    model = fit_lightgbm(X, y, params=LIGHTGBM_PARAMS, num_boost_round=30)
    restored = model_from_files("lightgbm", model.to_files())
    assert np.array_equal(restored.predict_raw(X), model.predict_raw(X))
    assert restored.params == model.params
    assert model.params["num_threads"] == 1
    assert model.params["deterministic"] is True


def test_a_fit_below_threaded_min_rows_runs_on_one_thread_and_a_larger_fit_on_all():
    X, y = simulated(1_000)
    asked_two = fit_lightgbm(X, y, params=LIGHTGBM_PARAMS, num_boost_round=10, num_threads=2)
    one = fit_lightgbm(X, y, params=LIGHTGBM_PARAMS, num_boost_round=10, num_threads=1)
    assert asked_two.params["num_threads"] == 1
    assert asked_two.to_files()[LIGHTGBM_MODEL_FILE] == one.to_files()[LIGHTGBM_MODEL_FILE]
    X_large, y_large = simulated(THREADED_MIN_ROWS)
    large = fit_lightgbm(X_large, y_large, params=LIGHTGBM_PARAMS, num_boost_round=2, num_threads=2)
    assert large.params["num_threads"] == 2
    assert fit_threads(THREADED_MIN_ROWS - 1, 2) == 1


def test_lightgbm_text_is_byte_identical_for_the_same_inputs_and_seed():
    X, y = simulated(1_000)
    first = fit_lightgbm(X, y, params=LIGHTGBM_PARAMS, num_boost_round=20, seed=4)
    again = fit_lightgbm(X, y, params=LIGHTGBM_PARAMS, num_boost_round=20, seed=4)
    bagged = {**LIGHTGBM_PARAMS, "bagging_fraction": 0.5, "bagging_freq": 1}
    seeded = fit_lightgbm(X, y, params=bagged, num_boost_round=20, seed=4)
    reseeded = fit_lightgbm(X, y, params=bagged, num_boost_round=20, seed=5)
    assert first.to_files()[LIGHTGBM_MODEL_FILE] == again.to_files()[LIGHTGBM_MODEL_FILE]
    assert seeded.to_files()[LIGHTGBM_MODEL_FILE] != reseeded.to_files()[LIGHTGBM_MODEL_FILE]


def test_lightgbm_contributions_sum_to_the_log_odds():
    X, y = simulated(1_000)
    model = fit_lightgbm(X, y, params=LIGHTGBM_PARAMS, num_boost_round=30)
    contributions = model.contributions(X.iloc[:50])
    assert contributions.shape == (50, 4)
    assert contributions.sum(axis=1) == pytest.approx(logit(model.predict_raw(X.iloc[:50])))
    importance = model.feature_importance()
    assert sum(importance.values()) == pytest.approx(1.0)
    assert max(importance, key=importance.get) == "x"


def test_logistic_recovers_the_simulated_coefficients():
    X, y = simulated(40_000)
    model = fit_logistic(X, y, C=100.0)
    table = model.coefficient_table()
    x_scale = model.encoding.numeric[0]["scale"]
    # numerics are standardized: the coefficient per raw unit is coefficient / scale
    assert table["x"] / x_scale == pytest.approx(1.5, abs=0.1)
    assert table["z"] / 3.0 == pytest.approx(-1.0 / 3.0, abs=0.03)
    assert table["color=red"] - table["color=blue"] == pytest.approx(0.8, abs=0.1)
    assert "x__missing" in table and "z__missing" not in table


def test_logistic_restored_from_json_predicts_identically():
    X, y = simulated(2_000)
    model = fit_logistic(X, y, C=0.5)
    files = model.to_files()
    content = json.loads(files[LOGISTIC_MODEL_FILE])
    assert content["family"] == "logistic"
    restored = model_from_files("logistic", files)
    assert np.array_equal(restored.predict_raw(X), model.predict_raw(X))


def test_logistic_scores_unseen_levels_and_missing_values_through_the_unknown_columns():
    X, y = simulated(2_000)
    model = fit_logistic(X, y)
    new = pd.DataFrame(
        {
            "x": [np.nan, 0.0],
            "z": [np.nan, 2.0],
            "color": pd.Categorical(["purple", None]),
        }
    )
    p = model.predict_raw(new)
    assert np.all((p > 0) & (p < 1))
    contributions = model.contributions(new)
    assert contributions.shape == (2, 4)
    assert contributions.sum(axis=1) == pytest.approx(logit(p))
    encoded = model.encoding.transform(new)
    unknown = model.encoding.encoded_names.index("color=__unknown__")
    assert encoded[:, unknown].tolist() == [1.0, 1.0]


def test_logistic_importance_ranks_the_strongest_feature_first():
    X, y = simulated(5_000)
    importance = fit_logistic(X, y).feature_importance()
    assert sum(importance.values()) == pytest.approx(1.0)
    assert max(importance, key=importance.get) == "x"


def test_encoding_round_trips_through_a_dict():
    X, _ = simulated(200)
    encoding = LogisticEncoding.fit(X)
    restored = LogisticEncoding.from_dict(json.loads(json.dumps(encoding.to_dict())))
    assert np.array_equal(restored.transform(X), encoding.transform(X))


def test_model_files_of_an_unknown_family_or_incomplete_are_rejected():
    with pytest.raises(ModelError, match="unknown model family 'forest'"):
        model_from_files("forest", {})
    with pytest.raises(ModelError, match=LIGHTGBM_MODEL_FILE):
        model_from_files("lightgbm", {})
    with pytest.raises(ModelError, match="C must be positive"):
        fit_logistic(*simulated(100), C=0.0)
