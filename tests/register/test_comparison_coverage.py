"""The paired comparison's interval covers the true difference when days differ.

Rows of one day share a random effect on the log-odds (sd 0.6), so rows are not independent.
Each simulation draws 30 fresh days of 50 rows; the challenger uses a second feature the
champion lacks. The truth is each model's metric on two million rows of the same population.
Resampling whole days and widening by sqrt(C / (C - 1)) t_{C-1} / z, as single-model intervals
do, covers the true difference at about 95 %.
"""

from __future__ import annotations

import numpy as np
import pytest

from binclf.register.comparison import HIGHER_IS_BETTER, paired_bootstrap_difference
from binclf.stats.engine import ScoredRows

SIMULATIONS = 400
DAY_SD = 0.6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _draw(rng: np.random.Generator, days: int, rows_per_day: int):
    """Labels, the challenger's and the champion's probabilities, and each row's day."""
    day_effect = rng.normal(0.0, DAY_SD, days).repeat(rows_per_day)
    x, x2 = rng.normal(size=(2, days * rows_per_day))
    y = (rng.random(len(x)) < _sigmoid(-1.2 + day_effect + 1.5 * x + 0.6 * x2)).astype(np.int8)
    challenger, champion = _sigmoid(-0.9 + 1.6 * x + 0.5 * x2), _sigmoid(-1.0 + 1.3 * x)
    return y, challenger, champion, np.repeat(np.arange(days), rows_per_day)


@pytest.mark.parametrize("metric", ["log_loss", "roc_auc"])
def test_paired_interval_by_day_covers_the_true_difference_when_days_differ(metric: str) -> None:
    y, challenger, champion, _ = _draw(np.random.default_rng(99), 40_000, 50)
    values = [
        ScoredRows.of(y, p).metrics(names=(metric,))[metric][0] for p in (challenger, champion)
    ]
    truth = (values[0] - values[1]) * (1.0 if HIGHER_IS_BETTER[metric] else -1.0)
    rng = np.random.default_rng(7)
    hits = 0
    for sim in range(SIMULATIONS):
        y, challenger, champion, day = _draw(rng, 30, 50)
        estimate = paired_bootstrap_difference(
            y, challenger, champion, metric=metric, n_boot=200, seed=sim, clusters=day
        )
        hits += estimate["ci_low"] <= truth <= estimate["ci_high"]
    print(f"paired {metric} by day: coverage {hits / SIMULATIONS:.3f}")
    assert truth > 0  # the challenger is truly better: the interval is not centred on 0
    assert 0.93 <= hits / SIMULATIONS <= 0.97
