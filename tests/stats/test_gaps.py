"""The largest-gap interval covers the true max-minus-min of group rates, whatever the shape.

Each simulation draws a rate per group from 150 rows; its bootstrap replicates are binomial
redraws at the observed rate (the row bootstrap of a proportion), so 2,000 simulations take
about a second. Shapes: every group equal (the truth is "no gap"), two groups tied at the top,
one pair clearly apart, and (equalized odds) a second rate whose gap comes close.
"""

from __future__ import annotations

import numpy as np
import pytest

from binclf.stats.gaps import largest_gap_interval

SIMULATIONS = 2_000
ROWS = 150


def _coverage(rates: list[tuple[float, ...]], seed: int) -> float:
    rng = np.random.default_rng(seed)
    truth = max(np.ptp(r) for r in rates)
    hits = 0
    for _ in range(SIMULATIONS):
        point = [rng.binomial(ROWS, np.array(r)) / ROWS for r in rates]
        boot = [rng.binomial(ROWS, p, size=(200, len(p))) / ROWS for p in point]
        low, high = largest_gap_interval(point, boot, alpha=0.05)
        assert low <= max(np.ptp(p) for p in point) <= high
        hits += low <= truth <= high
    return hits / SIMULATIONS


@pytest.mark.parametrize(
    "rates",
    [
        [(0.6, 0.6, 0.6)],
        [(0.7, 0.7, 0.5)],
        [(0.75, 0.65, 0.52)],
        [(0.75, 0.65, 0.52), (0.3, 0.2, 0.12)],
    ],
    ids=["equal", "tied_at_the_top", "clearly_apart", "two_rates"],
)
def test_largest_gap_interval_covers_the_true_gap(rates: list[tuple[float, ...]]) -> None:
    coverage = _coverage(rates, seed=0)
    print(f"largest gap {rates}: coverage {coverage:.3f}")
    # With no gap the truth sits on the boundary 0: only the lower bound can miss, so a
    # two-sided 95 % interval covers about 97.5 % there.
    assert 0.93 <= coverage <= (0.98 if np.ptp(rates[0]) == 0 else 0.97)


def test_no_gap_is_kept_until_a_simultaneous_bound_rules_it_out() -> None:
    point = [np.array([0.50, 0.52, 0.49])]
    boot = [np.random.default_rng(0).normal(point[0], 0.04, (200, 3))]
    low, high = largest_gap_interval(point, boot, alpha=0.05)
    assert low == 0.0
    assert high == pytest.approx(
        0.03 + 1.96 * np.std(boot[0][:, 1] - boot[0][:, 2], ddof=1), abs=0.01
    )


def test_one_pair_clearly_apart_gets_its_own_studentized_interval() -> None:
    rng = np.random.default_rng(1)
    point = [np.array([0.2, 0.8])]
    boot = [point[0] + rng.normal(0.0, 0.02, (2_000, 2))]
    low, high = largest_gap_interval(point, boot, alpha=0.05)
    se = np.std(boot[0][:, 1] - boot[0][:, 0], ddof=1)
    # Only the pair (1, 0) may be the largest: its bounds, z = 1.96 both sides.
    assert low == pytest.approx(0.6 - 1.96 * se, abs=0.005)
    assert high == pytest.approx(0.6 + 1.96 * se, abs=0.001)


def test_replicates_where_a_rate_is_undefined_are_left_out() -> None:
    point = [np.array([0.2, 0.8])]
    boot = [np.array([[0.2, 0.8], [np.nan, 0.7], [0.25, 0.75]])]
    assert np.isfinite(largest_gap_interval(point, boot, alpha=0.05)[0])
    assert np.isnan(largest_gap_interval(point, [boot[0][1:2]], alpha=0.05)[0])
