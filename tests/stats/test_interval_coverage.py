"""Every reported 95 % interval covers the simulated truth at about its nominal rate.

Rows are drawn afresh in each simulation from a known model; the truth is each metric of the
same (slightly miscalibrated) predictor on a very large sample of the same population.
"""

from __future__ import annotations

import numpy as np
import pytest

from binclf.stats.engine import ScoredRows
from binclf.stats.metrics import evaluate_predictions

METRICS = ("roc_auc", "pr_auc", "precision", "recall", "log_loss", "brier")
THRESHOLD = 0.4


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
    return {name: float(point[name][0]) for name in METRICS}


def _coverage(*, sims: int, day_sd: float, by_day: bool) -> dict[str, float]:
    truth = _truth(day_sd)
    rng = np.random.default_rng(0)
    hits = dict.fromkeys(METRICS, 0)
    for sim in range(sims):
        y, q, day = _draw(rng, 30, 50, day_sd)
        result = evaluate_predictions(
            y, q, threshold=THRESHOLD, n_boot=200, seed=sim, clusters=day if by_day else None
        )
        for name in METRICS:
            hits[name] += result[name]["ci_low"] <= truth[name] <= result[name]["ci_high"]
    return {name: count / sims for name, count in hits.items()}


@pytest.fixture(scope="module")
def independent_coverage() -> dict[str, float]:
    return _coverage(sims=400, day_sd=0.0, by_day=False)


@pytest.mark.parametrize("name", METRICS)
def test_intervals_cover_the_truth_at_the_nominal_rate_when_rows_are_independent(
    independent_coverage: dict[str, float], name: str
) -> None:
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
