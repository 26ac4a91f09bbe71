"""Threshold policies against analytic optima and brute force over every cut."""

from __future__ import annotations

import json

import numpy as np
import pytest

from binclf.train.threshold import (
    InfeasibleThresholdError,
    ThresholdError,
    ThresholdPolicy,
    choose_threshold,
)


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    return p, (rng.uniform(size=n) < p).astype(np.int8)


@pytest.fixture(scope="module")
def million_calibrated_rows() -> tuple[np.ndarray, np.ndarray]:
    return _calibrated(1_000_000, seed=0)


@pytest.mark.parametrize(("cost_fp", "cost_fn"), [(1.0, 1.0), (1.0, 3.0), (1.0, 9.0)])
def test_min_cost_threshold_matches_the_analytic_optimum(
    million_calibrated_rows, cost_fp: float, cost_fn: float
) -> None:
    # For calibrated p, flagging a row costs cost_fp * (1 - p) and passing it costs cost_fn * p:
    # the optimum flags p >= cost_fp / (cost_fp + cost_fn).
    p, y = million_calibrated_rows
    choice = choose_threshold(p, y, cost_fp=cost_fp, cost_fn=cost_fn, n_boot=20)
    assert choice.value == pytest.approx(cost_fp / (cost_fp + cost_fn), abs=0.01)


def _brute_force(p, y, w):
    """Precision, recall and FPR of flagging p >= t for every distinct t, and 'flag nothing'."""
    cuts = np.r_[np.inf, np.unique(p)[::-1]]
    flagged = p[None, :] >= cuts[:, None]
    tp = (flagged * (w * y)).sum(axis=1)
    fp = (flagged * (w * (1 - y))).sum(axis=1)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    return precision, tp / np.sum(w * y), fp / np.sum(w * (1 - y))


def _rates_at(threshold, p, y, w):
    flagged = p >= threshold
    tp, fp = np.sum(w * y * flagged), np.sum(w * (1 - y) * flagged)
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    return precision, tp / np.sum(w * y), fp / np.sum(w * (1 - y))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    ("kind", "target"),
    [("max_recall_at_precision", 0.6), ("max_precision_at_recall", 0.8), ("fpr_budget", 0.1)],
)
def test_constrained_policies_meet_the_target_and_are_optimal(kind, target, weighted) -> None:
    rng = np.random.default_rng(0)
    p = np.round(rng.uniform(size=400), 2)  # many ties
    y = (rng.uniform(size=400) < p).astype(np.int8)
    w = rng.uniform(0.5, 2.0, 400) if weighted else np.ones(400)
    precision, recall, fpr = _brute_force(p, y, w)

    choice = choose_threshold(
        p,
        y,
        policy=ThresholdPolicy(kind=kind, target=target),
        cost_fp=1.0,
        cost_fn=5.0,
        weights=w if weighted else None,
        n_boot=10,
    )

    got_precision, got_recall, got_fpr = _rates_at(choice.value, p, y, w)
    assert choice.feasible
    assert (choice.precision, choice.recall, choice.fpr) == pytest.approx(
        (got_precision, got_recall, got_fpr)
    )
    if kind == "max_recall_at_precision":
        assert got_precision >= target
        assert got_recall == pytest.approx(recall[precision >= target].max())
    elif kind == "max_precision_at_recall":
        assert got_recall >= target
        assert got_precision == pytest.approx(precision[recall >= target].max())
    else:
        assert got_fpr <= target
        assert got_recall == pytest.approx(recall[fpr <= target].max())


def test_min_cost_without_smoothing_is_the_brute_force_minimum() -> None:
    rng = np.random.default_rng(1)
    p = np.round(rng.uniform(size=500), 2)
    y = (rng.uniform(size=500) < p).astype(np.int8)
    _, recall, fpr = _brute_force(p, y, np.ones(500))
    n_pos, n_neg = y.sum(), len(y) - y.sum()
    brute_costs = (2.0 * fpr * n_neg + 7.0 * (1 - recall) * n_pos) / len(y)

    choice = choose_threshold(
        p, y, policy=ThresholdPolicy(cost_smoothing=0.0), cost_fp=2.0, cost_fn=7.0, n_boot=10
    )

    assert choice.expected_cost == pytest.approx(brute_costs.min())


def test_threshold_flags_whole_groups_of_tied_scores() -> None:
    p = np.array([0.9, 0.9, 0.6, 0.6, 0.6, 0.2, 0.2])
    y = np.array([1, 1, 1, 0, 1, 0, 0])
    choice = choose_threshold(
        p,
        y,
        policy=ThresholdPolicy(kind="max_recall_at_precision", target=0.7),
        cost_fp=1.0,
        cost_fn=1.0,
        n_boot=10,
    )
    assert 0.2 < choice.value <= 0.6
    assert choice.recall == 1.0
    assert choice.precision == pytest.approx(0.8)


def test_infeasible_precision_falls_back_to_min_cost_and_says_so() -> None:
    p, y = _calibrated(2_000, seed=2)
    y[np.argmax(p)] = 0  # every cut flags this negative, so no cut has precision 1
    policy = ThresholdPolicy(kind="max_recall_at_precision", target=1.0)
    min_cost = choose_threshold(p, y, cost_fp=1.0, cost_fn=2.0, n_boot=10)

    choice = choose_threshold(p, y, policy=policy, cost_fp=1.0, cost_fn=2.0, n_boot=10)

    assert not choice.feasible
    assert choice.applied_kind == "min_cost"
    assert "no threshold reaches precision >= 1.0" in choice.fallback_reason
    assert choice.value == min_cost.value
    strict = ThresholdPolicy(kind="max_recall_at_precision", target=1.0, on_infeasible="raise")
    with pytest.raises(InfeasibleThresholdError, match=r"precision >= 1.0 \(highest is 0\.\d+\)"):
        choose_threshold(p, y, policy=strict, cost_fp=1.0, cost_fn=2.0, n_boot=10)


def test_expected_cost_is_the_mean_cost_per_row_with_an_interval_around_it() -> None:
    p, y = _calibrated(5_000, seed=3)
    choice = choose_threshold(p, y, cost_fp=1.0, cost_fn=4.0, n_boot=100, seed=1)

    flagged = p >= choice.value
    manual = (np.sum(flagged & (y == 0)) * 1.0 + np.sum(~flagged & (y == 1)) * 4.0) / len(y)
    assert choice.expected_cost == pytest.approx(manual)
    low, high = choice.expected_cost_ci
    assert low < choice.expected_cost < high
    document = json.loads(json.dumps(choice.to_dict()))
    assert document["expected_cost_ci"] == [low, high]
    assert document["policy"]["kind"] == "min_cost"
    assert choice == choose_threshold(p, y, cost_fp=1.0, cost_fn=4.0, n_boot=100, seed=1)


def test_integer_weights_act_like_repeated_rows() -> None:
    rng = np.random.default_rng(4)
    p = np.round(rng.uniform(size=300), 3)
    y = (rng.uniform(size=300) < p).astype(np.int8)
    repeats = rng.integers(1, 4, 300)
    policy = ThresholdPolicy(kind="max_precision_at_recall", target=0.7)
    weighted = choose_threshold(
        p, y, policy=policy, cost_fp=1.0, cost_fn=3.0, weights=repeats.astype(float), n_boot=5
    )
    repeated = choose_threshold(
        np.repeat(p, repeats),
        np.repeat(y, repeats),
        policy=policy,
        cost_fp=1.0,
        cost_fn=3.0,
        n_boot=5,
    )
    assert weighted.value == repeated.value
    assert weighted.expected_cost == pytest.approx(repeated.expected_cost)


def test_bad_policies_and_costs_are_rejected_with_the_reason() -> None:
    p, y = _calibrated(100, seed=5)
    with pytest.raises(ValueError, match="min_cost takes no target"):
        ThresholdPolicy(kind="min_cost", target=0.5)
    with pytest.raises(ValueError, match="fpr_budget needs a target"):
        ThresholdPolicy(kind="fpr_budget")
    with pytest.raises(ValueError, match="less than or equal to 1"):
        ThresholdPolicy(kind="max_precision_at_recall", target=1.5)
    with pytest.raises(ThresholdError, match="cost_fn must be a finite non-negative number"):
        choose_threshold(p, y, cost_fp=1.0, cost_fn=-1.0)
    with pytest.raises(ThresholdError, match="both zero"):
        choose_threshold(p, y, cost_fp=0.0, cost_fn=0.0)
