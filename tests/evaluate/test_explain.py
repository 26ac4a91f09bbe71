import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from binclf.evaluate.explain import (
    ExplanationError,
    gain_importance,
    lightgbm_explanations,
    linear_explanations,
    shap_summary,
    top_features,
)

LGB_PARAMS = {
    "objective": "binary",
    "num_threads": 1,
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
    "seed": 0,
}


@pytest.fixture(scope="module")
def two_signal_model() -> tuple[lgb.Booster, pd.DataFrame]:
    """Six features; only x0 (raises the score) and x1 (lowers it) drive the label."""
    rng = np.random.default_rng(0)
    n = 3_000
    X = pd.DataFrame(rng.normal(size=(n, 6)), columns=[f"x{i}" for i in range(6)])
    logit = 2.0 * X["x0"] - 1.5 * X["x1"] - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    booster = lgb.train(LGB_PARAMS, lgb.Dataset(X, y), num_boost_round=60)
    return booster, X


def test_only_informative_features_rank_on_top_by_shap_and_gain(two_signal_model):
    booster, X = two_signal_model
    explanations = lightgbm_explanations(booster, X, sample_rows=800, seed=1)
    assert explanations["sample_rows"] == 800
    assert set(top_features(explanations["shap"], 2)) == {"x0", "x1"}
    assert set(top_features(explanations["gain"], 2)) == {"x0", "x1"}
    shares = {row["feature"]: row["importance_share"] for row in explanations["shap"]}
    assert shares["x0"] + shares["x1"] > 0.8
    assert sum(shares.values()) == pytest.approx(1.0)


def test_shap_direction_follows_the_simulated_effect_signs(two_signal_model):
    booster, X = two_signal_model
    rows = {row["feature"]: row for row in lightgbm_explanations(booster, X)["shap"]}
    assert rows["x0"]["direction"] == "increases"
    assert rows["x0"]["value_correlation"] > 0.8
    assert rows["x1"]["direction"] == "decreases"
    assert rows["x1"]["value_correlation"] < -0.8


def test_contributions_sum_to_the_raw_margin(two_signal_model):
    booster, X = two_signal_model
    contributions = booster.predict(X, pred_contrib=True)
    raw = booster.predict(X, raw_score=True)
    np.testing.assert_allclose(contributions.sum(axis=1), raw, atol=1e-9)
    summary = shap_summary(contributions, booster.feature_name())
    mean_abs = np.abs(contributions[:, :-1]).mean(axis=0)
    by_name = dict(zip(booster.feature_name(), mean_abs, strict=True))
    for row in summary:
        assert row["importance"] == pytest.approx(by_name[row["feature"]])


def test_gain_importance_matches_booster_gains(two_signal_model):
    booster, _ = two_signal_model
    rows = gain_importance(booster)
    gains = booster.feature_importance(importance_type="gain")
    expected = dict(zip(booster.feature_name(), gains / gains.sum(), strict=True))
    assert {row["feature"]: row["importance"] for row in rows} == pytest.approx(expected)


def test_categorical_direction_names_the_levels_that_raise_and_lower_the_score():
    values = pd.DataFrame({"channel": pd.Categorical(["web", "pos", "web", "atm", "pos"])})
    contributions = np.array([[0.9, -1.0], [-0.1, -1.0], [0.7, -1.0], [-0.8, -1.0], [0.0, -1.0]])
    (row,) = shap_summary(contributions, ["channel"], feature_values=values)
    assert row["direction"] == "by level"
    assert row["highest_level"] == "web"
    assert row["lowest_level"] == "atm"


def test_unused_feature_has_no_direction():
    contributions = np.array([[0.5, 0.0, 1.0], [-0.5, 0.0, 1.0]])
    values = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    rows = {r["feature"]: r for r in shap_summary(contributions, ["a", "b"], feature_values=values)}
    assert rows["b"]["direction"] == "none"
    assert rows["b"]["importance"] == 0.0


def test_linear_explanations_rank_by_magnitude_and_keep_sign():
    result = linear_explanations({"a": 0.2, "b": -1.5, "c": 0.7}, intercept=-3.0)
    assert result["intercept"] == -3.0
    assert [row["feature"] for row in result["coefficients"]] == ["b", "c", "a"]
    assert [row["direction"] for row in result["coefficients"]] == [
        "decreases",
        "increases",
        "increases",
    ]
    assert top_features(result["coefficients"], 1) == ["b"]


def test_explanations_reject_bad_input(two_signal_model):
    booster, X = two_signal_model
    with pytest.raises(ExplanationError, match="differ from the model's features"):
        lightgbm_explanations(booster, X[list(reversed(X.columns))])
    with pytest.raises(ExplanationError, match=r"shape \(rows, 3\)"):
        shap_summary(np.zeros((4, 2)), ["a", "b"])
    with pytest.raises(ExplanationError, match="must be finite"):
        linear_explanations({"a": float("nan")})
    with pytest.raises(ExplanationError, match="k must be at least 1"):
        top_features([{"feature": "a", "importance": 1.0}], 0)
