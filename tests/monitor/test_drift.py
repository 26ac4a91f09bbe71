import json

import numpy as np
import polars as pl
import pytest
from scipy import stats

from binclf.monitor.drift import _holm, drift_statistics
from binclf.stats.profiles import DriftInputError, ReferenceProfile

NUMERIC = ["x_normal", "x_lognormal", "x_count", "x_with_nan"]
CATEGORICAL = ["c_small", "c_many"]
SMALL_LEVELS = ["a", "b", "c", "d"]
SMALL_WEIGHTS = np.array([0.4, 0.3, 0.2, 0.1])
MANY_LEVELS = [f"level{i:02d}" for i in range(30)]
MANY_WEIGHTS = np.r_[0.5, np.full(29, 0.5 / 29)]


def simulate(
    n: int,
    rng: np.random.Generator,
    *,
    mean_shift: float = 0.0,
    small_weights: np.ndarray = SMALL_WEIGHTS,
) -> pl.DataFrame:
    """Six features of different shapes: continuous, skewed, discrete, with NaN, categorical."""
    return pl.DataFrame(
        {
            "x_normal": rng.normal(mean_shift, 1.0, n),
            "x_lognormal": rng.lognormal(3.0, 1.0, n),
            "x_count": rng.poisson(2.0, n),
            "x_with_nan": np.where(rng.random(n) < 0.2, np.nan, rng.normal(0.0, 1.0, n)),
            "c_small": rng.choice(SMALL_LEVELS, n, p=small_weights),
            "c_many": rng.choice(MANY_LEVELS, n, p=MANY_WEIGHTS),
        }
    )


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    reference = simulate(5_000, np.random.default_rng(0))
    return ReferenceProfile.from_frame(reference, numeric=NUMERIC, categorical=CATEGORICAL)


def test_alarm_rate_without_drift_is_at_most_alpha(profile):
    rng = np.random.default_rng(1)
    alpha, partitions = 0.05, 100
    significance_only = [
        drift_statistics(profile, simulate(2_000, rng), alpha=alpha, min_effect=0.0)
        for _ in range(partitions)
    ]
    # Alarm on any drifted feature: the strictest rule; Holm keeps it at the nominal rate.
    any_feature_alarms = sum(r.share_drifted > 0 for r in significance_only)
    assert any_feature_alarms <= stats.binom.ppf(0.999, partitions, alpha)
    # The raw per-feature tests are calibrated: neither liberal nor dead.
    p_values = np.array([f.p_value for r in significance_only for f in r.features])
    low, high = stats.binom.ppf([0.0005, 0.9995], p_values.size, alpha) / p_values.size
    assert low <= np.mean(p_values < alpha) <= high
    # With the default effect floor the alarm is rarer still.
    defaults = [drift_statistics(profile, simulate(2_000, rng)) for _ in range(partitions)]
    assert sum(r.alarm for r in defaults) <= stats.binom.ppf(0.999, partitions, alpha)


def test_planted_shift_fires_the_alarm_on_the_shifted_features(profile):
    rng = np.random.default_rng(2)
    shifted_weights = np.array([0.15, 0.25, 0.25, 0.35])
    for _ in range(20):
        current = simulate(2_000, rng, mean_shift=0.6, small_weights=shifted_weights)
        result = drift_statistics(profile, current, share_threshold=0.3)
        assert result.alarm
        assert result.drifted_columns == ["x_normal", "c_small"]
        assert result.share_drifted == pytest.approx(2 / 6)


def test_large_partition_with_negligible_shift_does_not_alarm():
    reference = simulate(200_000, np.random.default_rng(3))
    profile = ReferenceProfile.from_frame(reference, numeric=NUMERIC, categorical=CATEGORICAL)
    current = simulate(200_000, np.random.default_rng(4), mean_shift=0.05)
    result = drift_statistics(profile, current)
    normal = next(f for f in result.features if f.column == "x_normal")
    assert normal.p_value_adjusted < 1e-6  # a significance test alone would flag it
    assert normal.statistic < result.min_effect
    assert not normal.drifted
    assert not result.alarm


def test_small_partition_noise_above_the_distance_floor_is_not_drift(profile):
    rng = np.random.default_rng(5)
    alpha, partitions = 0.05, 20
    results = [
        drift_statistics(profile, simulate(100, rng), alpha=alpha) for _ in range(partitions)
    ]
    # A fixed 0.1 distance rule would flag nearly every sample of the reference itself.
    fixed_rule_alarms = sum(any(f.statistic >= 0.1 for f in r.features) for r in results)
    assert fixed_rule_alarms >= 0.8 * partitions
    assert sum(r.share_drifted > 0 for r in results) <= stats.binom.ppf(0.999, partitions, alpha)


def test_unseen_categories_and_new_nulls_are_drift(profile):
    rng = np.random.default_rng(6)
    current = simulate(3_000, rng).with_columns(
        pl.when(pl.Series(rng.random(3_000) < 0.3)).then(pl.lit("new")).otherwise("c_small")
        .alias("c_small"),
        pl.when(pl.Series(rng.random(3_000) < 0.3)).then(None).otherwise("x_lognormal")
        .alias("x_lognormal"),
    )  # fmt: skip
    result = drift_statistics(profile, current)
    assert set(result.drifted_columns) == {"c_small", "x_lognormal"}


def test_prediction_drift_is_reported_apart_from_the_feature_share():
    rng = np.random.default_rng(7)
    reference = simulate(5_000, rng).with_columns(probability=pl.Series(rng.beta(1, 30, 5_000)))
    profile = ReferenceProfile.from_frame(
        reference, numeric=NUMERIC, categorical=CATEGORICAL, score_column="probability"
    )
    same = simulate(2_000, rng).with_columns(probability=pl.Series(rng.beta(1, 30, 2_000)))
    moved = simulate(2_000, rng).with_columns(probability=pl.Series(rng.beta(1, 10, 2_000)))
    assert not drift_statistics(profile, same).prediction_drift.drifted
    moved_result = drift_statistics(profile, moved)
    assert moved_result.prediction_drift.drifted
    assert moved_result.prediction_drift.kind == "prediction"
    assert moved_result.share_drifted == 0.0


def test_numeric_bins_are_reference_deciles_and_count_every_row():
    values = np.random.default_rng(8).normal(size=10_000)
    profile = ReferenceProfile.from_frame(
        pl.DataFrame({"x": values}), numeric=["x"], categorical=[]
    )
    column = profile.numeric[0]
    assert column.edges == pytest.approx(np.quantile(values, np.arange(1, 10) / 10))
    assert sum(column.counts) + column.null_count == 10_000
    assert column.counts == tuple([1_000] * 10)


def test_profile_round_trips_through_json(profile):
    restored = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert restored == profile
    current = simulate(1_000, np.random.default_rng(9), mean_shift=0.3)
    assert (
        drift_statistics(restored, current).to_dict()
        == drift_statistics(profile, current).to_dict()
    )
    json.dumps(drift_statistics(profile, current).to_dict())


def test_holm_adjustment_matches_hand_computation():
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, max(0.04*1, 0.06) = 0.06
    assert _holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert _holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_bad_inputs_are_rejected_with_the_column_named(profile):
    frame = simulate(100, np.random.default_rng(10))
    with pytest.raises(DriftInputError, match="x_normal"):
        drift_statistics(profile, frame.drop("x_normal"))
    with pytest.raises(DriftInputError, match="c_small"):
        ReferenceProfile.from_frame(frame, numeric=["c_small"], categorical=[])
    with pytest.raises(DriftInputError, match="both numeric and categorical"):
        ReferenceProfile.from_frame(frame, numeric=["x_count"], categorical=["x_count"])
    with pytest.raises(DriftInputError, match="no rows"):
        drift_statistics(profile, frame.head(0))
    with pytest.raises(DriftInputError, match="alpha"):
        drift_statistics(profile, frame, alpha=1.5)
    with pytest.raises(DriftInputError, match="format"):
        ReferenceProfile.from_dict({"format": "something else"})


def test_constant_reference_column_still_detects_a_move_away_from_the_constant():
    reference = pl.DataFrame({"flag": np.zeros(1_000)})
    profile = ReferenceProfile.from_frame(reference, numeric=["flag"], categorical=[])
    assert profile.numeric[0].edges == (0.0,)
    same = drift_statistics(profile, pl.DataFrame({"flag": np.zeros(500)}))
    assert same.features[0].p_value == 1.0
    assert not same.alarm
    moved = drift_statistics(profile, pl.DataFrame({"flag": np.r_[np.zeros(250), np.ones(250)]}))
    assert moved.features[0].drifted
