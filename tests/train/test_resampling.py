"""Resampling methods and the prior correction that restores the true base rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from binclf.train.models import fit_logistic
from binclf.train.resampling import RESAMPLING_METHODS, ResamplingError, apply_prior_shift, resample


def simulated(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Logistic truth with about 5 % positives, a numeric with gaps and a categorical."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    group = rng.choice(["a", "b", "c"], n)
    log_odds = -3.4 + 1.2 * x + np.select([group == "b", group == "c"], [0.5, -0.5], 0.0)
    y = (rng.random(n) < expit(log_odds)).astype(np.int8)
    x_observed = np.where(rng.random(n) < 0.05, np.nan, x)
    X = pd.DataFrame({"x": x_observed, "group": pd.Categorical(group, categories=["a", "b", "c"])})
    return X, y


def test_under_sampling_with_prior_correction_recovers_the_base_rate_on_validation():
    X, y = simulated(20_000, seed=1)
    X_valid, y_valid = simulated(20_000, seed=2)
    data = resample(X, y, method="random_under", seed=0)
    assert data.effective_prevalence == pytest.approx(0.5)
    model = fit_logistic(data.X, data.y, C=10.0, sample_weight=data.sample_weight)
    uncorrected = model.predict_raw(X_valid)
    corrected = apply_prior_shift(uncorrected, data.prior_log_odds_shift)
    assert abs(uncorrected.mean() - y_valid.mean()) > 0.1
    assert abs(corrected.mean() - y_valid.mean()) < 0.01


def test_prior_shift_is_the_log_odds_gap_between_true_and_effective_prevalence():
    X, y = simulated(5_000, seed=3)
    data = resample(X, y, method="class_weight")
    assert data.true_prevalence == pytest.approx(y.mean())
    assert data.effective_prevalence == pytest.approx(0.5)
    assert data.prior_log_odds_shift == pytest.approx(logit(y.mean()))
    assert len(data.y) == len(y)
    weights_per_class = [data.sample_weight[data.y == v].sum() for v in (0, 1)]
    assert weights_per_class[0] == pytest.approx(weights_per_class[1])


def test_prior_shift_round_trips_probabilities():
    p = np.array([0.01, 0.2, 0.5, 0.9])
    assert apply_prior_shift(apply_prior_shift(p, 1.3), -1.3) == pytest.approx(p)
    assert apply_prior_shift(p, 0.0) == pytest.approx(p)


def test_over_sampling_keeps_every_original_row_and_balances_classes():
    X, y = simulated(3_000, seed=4)
    data = resample(X, y, method="random_over", seed=0)
    assert np.bincount(data.y).tolist() == [int((y == 0).sum())] * 2
    assert data.prior_log_odds_shift == pytest.approx(logit(y.mean()))
    assert len(data.X) == len(data.y) == len(data.sample_weight)


def test_smote_nc_synthesizes_minority_rows_and_leaves_original_rows_untouched():
    X, y = simulated(3_000, seed=5)
    weight = np.linspace(1.0, 2.0, len(y))
    data = resample(X, y, method="smote_nc", seed=0, sample_weight=weight)
    n = len(y)
    assert np.array_equal(data.sample_weight[:n], weight)
    assert data.sample_weight[n:] == pytest.approx(weight[y == 1].mean())
    assert np.bincount(data.y).tolist() == [int((y == 0).sum())] * 2
    pd.testing.assert_frame_equal(data.X.iloc[:n], X)
    synthetic = data.X.iloc[n:]
    assert (data.y[n:] == 1).all()
    assert list(data.X["group"].cat.categories) == ["a", "b", "c"]
    assert synthetic["group"].notna().all()
    minority_x = X["x"][y == 1]
    assert synthetic["x"].between(minority_x.min(), minority_x.max()).all()


@pytest.mark.parametrize("method", ["random_under", "random_over", "smote_nc"])
def test_resampling_is_reproducible_with_a_seed(method):
    X, y = simulated(2_000, seed=6)
    first = resample(X, y, method=method, seed=3)
    again = resample(X, y, method=method, seed=3)
    other = resample(X, y, method=method, seed=4)
    pd.testing.assert_frame_equal(first.X, again.X)
    assert not first.X.equals(other.X)


def test_rows_already_balanced_enough_are_left_unchanged():
    X, y = simulated(2_000, seed=7)
    data = resample(X, y, method="random_under", ratio=0.01)
    assert data.X is X
    assert data.prior_log_odds_shift == 0.0


def test_sample_weights_follow_the_rows_they_belong_to():
    X, y = simulated(2_000, seed=8)
    weight = np.arange(len(y), dtype=float) + 1.0
    data = resample(X.assign(row=np.arange(len(y))), y, method="random_under", sample_weight=weight)
    assert np.array_equal(data.sample_weight, weight[data.X["row"].to_numpy()])


def test_unknown_method_and_one_class_are_rejected():
    X, y = simulated(500, seed=9)
    with pytest.raises(ResamplingError, match="unknown resampling method 'tomek'"):
        resample(X, y, method="tomek")
    with pytest.raises(ResamplingError, match="both classes"):
        resample(X, np.zeros(len(y), dtype=np.int8), method="none")
    assert "none" in RESAMPLING_METHODS
