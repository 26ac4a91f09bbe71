"""Every reported 95 % interval covers the simulated truth at about its nominal rate.

Rows are drawn afresh in each simulation from a known model; the truth is each metric of the
same (slightly miscalibrated) predictor on a very large sample of the same population. ECE's
truth is the population's gap per bin (bins fixed by the population for equal mass); the
expected cost's the population's cost per row at the threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from binclf.stats.engine import ScoredRows, debiased_ece
from binclf.stats.metrics import (
    evaluate_predictions,
    expected_calibration_error,
    interval_estimates,
)

METRICS = ("roc_auc", "pr_auc", "precision", "recall", "log_loss", "brier")
CALIBRATION_AND_COST = ("ece", "ece_equal_mass", "expected_cost")
THRESHOLD = 0.4
COSTS = (1.0, 3.0)  # per false positive, per false negative


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _draw(rng: np.random.Generator, days: int, rows_per_day: int, day_sd: float):
    """Labels, the predictor's probabilities and the day of each row."""
    day_effect = rng.normal(0.0, day_sd, days).repeat(rows_per_day)
    x = rng.normal(0.0, 1.0, days * rows_per_day)
    y = (rng.random(len(x)) < _sigmoid(-1.2 + day_effect + 1.5 * x)).astype(np.int8)
    return y, _sigmoid(-1.0 + 1.3 * x), np.repeat(np.arange(days), rows_per_day)


def _truth(day_sd: float) -> dict[str, float]:
    y, q, _ = _draw(np.random.default_rng(99), 40_000, 50, day_sd)
    point = ScoredRows.of(y, q, threshold=THRESHOLD, n_bins=10).metrics()
    flagged = q >= THRESHOLD
    cost = np.mean(np.where(flagged, COSTS[0] * (1 - y), COSTS[1] * y))
    return {name: float(point[name][0]) for name in METRICS + CALIBRATION_AND_COST[:2]} | {
        "expected_cost": float(cost)
    }


def _coverage(*, sims: int, day_sd: float, by_day: bool) -> dict[str, float]:
    truth = _truth(day_sd)
    rng = np.random.default_rng(0)
    names = METRICS + CALIBRATION_AND_COST
    hits = dict.fromkeys(names, 0)
    for sim in range(sims):
        y, q, day = _draw(rng, 30, 50, day_sd)
        result = evaluate_predictions(
            y,
            q,
            threshold=THRESHOLD,
            n_boot=200,
            seed=sim,
            clusters=day if by_day else None,
            costs=COSTS,
        )
        for name in names:
            hits[name] += result[name]["ci_low"] <= truth[name] <= result[name]["ci_high"]
    return {name: count / sims for name, count in hits.items()}


@pytest.fixture(scope="module")
def independent_coverage() -> dict[str, float]:
    return _coverage(sims=400, day_sd=0.0, by_day=False)


@pytest.mark.parametrize("name", METRICS + CALIBRATION_AND_COST)
def test_intervals_cover_the_truth_at_the_nominal_rate_when_rows_are_independent(
    independent_coverage: dict[str, float], name: str
) -> None:
    print(f"{name}: coverage {independent_coverage[name]:.3f}")
    assert 0.93 <= independent_coverage[name] <= 0.97


def test_resampling_days_covers_day_to_day_variation_that_resampling_rows_misses() -> None:
    rows = _coverage(sims=150, day_sd=0.6, by_day=False)
    days = _coverage(sims=150, day_sd=0.6, by_day=True)

    assert rows["precision"] < 0.85  # rows treated as independent: far too narrow
    for name in METRICS:
        assert days[name] >= rows[name] - 0.02, (name, rows[name], days[name])
    assert np.mean([days[n] for n in METRICS]) > np.mean([rows[n] for n in METRICS]) + 0.03


def test_clusters_must_name_the_day_of_every_row() -> None:
    y, q, day = _draw(np.random.default_rng(1), 5, 20, 0.0)
    with pytest.raises(ValueError, match="clusters has 99 values for 100 rows"):
        evaluate_predictions(y, q, threshold=THRESHOLD, clusters=day[:-1])


def test_expected_cost_interval_by_day_covers_the_truth_when_days_differ() -> None:
    """Day-level random effects: whole days are resampled (30 days of 20 rows), 400 times."""
    truth = _truth(0.6)["expected_cost"]
    rng = np.random.default_rng(5)
    sims, hits = 400, 0
    for sim in range(sims):
        y, q, day = _draw(rng, 30, 20, 0.6)
        rows = ScoredRows.of(y, q, threshold=THRESHOLD)
        cost = interval_estimates(rows, n_boot=200, seed=sim, clusters=day, costs=COSTS, names=())[
            "expected_cost"
        ]
        hits += cost["ci_low"] <= truth <= cost["ci_high"]
    print(f"expected cost by day: coverage {hits / sims:.3f}")
    assert 0.93 <= hits / sims <= 0.97, hits / sims


def test_ece_intervals_by_day_cover_the_truth_when_days_differ() -> None:
    """Day-level random effects, whole days resampled (30 days of 20 rows), 400 times.

    The plain percentile interval covered 71 % (equal width) and 61 % (equal mass) here.
    """
    truth = _truth(0.6)
    rng = np.random.default_rng(5)
    sims, names = 400, CALIBRATION_AND_COST[:2]
    hits = dict.fromkeys(names, 0)
    for sim in range(sims):
        y, q, day = _draw(rng, 30, 20, 0.6)
        rows = ScoredRows.of(y, q, n_bins=10)
        result = interval_estimates(rows, n_boot=200, seed=sim, clusters=day, names=names)
        for name in names:
            hits[name] += result[name]["ci_low"] <= truth[name] <= result[name]["ci_high"]
    for name in names:
        print(f"{name} by day: coverage {hits[name] / sims:.3f}")
        assert 0.93 <= hits[name] / sims <= 0.97, (name, hits[name] / sims)


def test_debiased_ece_removes_the_noise_of_each_bins_gap() -> None:
    # One bin, gaps +-0.5 on 4 rows: mean 0, its noise alone makes the plug-in |gap| > 0.
    noise = debiased_ece(np.array([4.0]), np.array([0.0]), np.array([1.0]), np.array([4.0]))
    # One bin, gap 0.2 on every row: no noise, the gap is kept.
    exact = debiased_ece(np.array([5.0]), np.array([1.0]), np.array([0.2]), np.array([5.0]))
    assert noise == 0.0
    assert exact == pytest.approx(0.2)
    # Calibrated probabilities (true ECE 0) on 2,000 rows: the plug-in ECE is mostly noise.
    plug_in, debiased = [], []
    for seed in range(20):
        y, q, _ = _draw(np.random.default_rng(seed), 1, 2_000, 0.0)
        calibrated = _sigmoid(-1.2 + 1.5 * (np.log(q / (1 - q)) + 1.0) / 1.3)
        plug_in.append(expected_calibration_error(y, calibrated))
        debiased.append(expected_calibration_error(y, calibrated, debiased=True))
    assert np.all(np.array(debiased) <= np.array(plug_in))
    assert np.mean(plug_in) > 0.015 > 0.01 > np.mean(debiased)
