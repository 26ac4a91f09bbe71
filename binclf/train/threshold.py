"""Decision thresholds on calibrated probabilities, chosen by a policy on the given rows.

Rows are sorted once by descending probability; cumulative sums of (weighted) positives and
negatives give true and false positives for every cut between distinct scores, so every policy
is evaluated over all cuts in O(n log n). A row is flagged when `p >= threshold`; a chosen
threshold lies midway between the last flagged and the first unflagged score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from binclf.stats.bootstrap import bootstrap_weighted_means, percentile_interval
from binclf.stats.metrics import validate_inputs

ThresholdKind = Literal[
    "min_cost", "max_recall_at_precision", "max_precision_at_recall", "fpr_budget"
]


class ThresholdError(ValueError):
    """A threshold request that cannot be served."""


class InfeasibleThresholdError(ThresholdError):
    """No threshold satisfies the policy's constraint on these rows."""


class ThresholdPolicy(BaseModel):
    """How to choose the threshold.

    - `min_cost`: minimum expected cost per row given the costs of a false positive and a
      false negative.
    - `max_recall_at_precision`: highest recall with precision >= `target`.
    - `max_precision_at_recall`: highest precision with recall >= `target`.
    - `fpr_budget`: highest recall with false-positive rate <= `target`.

    Only `max_recall_at_precision` can be infeasible; then `on_infeasible="min_cost"` falls
    back to the minimum-cost threshold (recorded in the choice) and `"raise"` raises
    `InfeasibleThresholdError`. `cost_smoothing` (min_cost only) averages the empirical cost
    curve over a window of that fraction of the rows on each side of a cut before taking the
    minimum: the empirical curve is a random walk around the expected one, and its raw minimum
    wanders along the flat bottom.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ThresholdKind = "min_cost"
    target: float | None = Field(None, gt=0.0, le=1.0)
    on_infeasible: Literal["raise", "min_cost"] = "min_cost"
    cost_smoothing: float = Field(0.02, ge=0.0, le=0.25)

    @model_validator(mode="after")
    def _target_matches_kind(self) -> ThresholdPolicy:
        if self.kind == "min_cost" and self.target is not None:
            raise ValueError(f"min_cost takes no target, got target={self.target}")
        if self.kind != "min_cost" and self.target is None:
            raise ValueError(f"{self.kind} needs a target in (0, 1]")
        return self


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold, how it was chosen and how it performs on the rows it was chosen on.

    `applied_kind` differs from `policy.kind` only after a fallback, explained in
    `fallback_reason`. `expected_cost` is the (weighted) mean cost per row at `value` on the rows
    it was chosen on, with a bootstrap percentile interval: having chosen the cut that is
    cheapest on these rows, it is optimistic; the test rows give the honest forecast.
    """

    value: float
    policy: ThresholdPolicy
    applied_kind: str
    fallback_reason: str | None
    cost_fp: float
    cost_fn: float
    expected_cost: float
    expected_cost_ci: tuple[float, float]
    precision: float
    recall: float
    fpr: float
    flagged_fraction: float
    data_version: str = ""  # of the training splits it was chosen on

    @property
    def feasible(self) -> bool:
        return self.fallback_reason is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "policy": self.policy.model_dump(),
            "applied_kind": self.applied_kind,
            "feasible": self.feasible,
            "fallback_reason": self.fallback_reason,
            "cost_fp": self.cost_fp,
            "cost_fn": self.cost_fn,
            "expected_cost": self.expected_cost,
            "expected_cost_ci": list(self.expected_cost_ci),
            "precision": self.precision,
            "recall": self.recall,
            "fpr": self.fpr,
            "flagged_fraction": self.flagged_fraction,
            "data_version": self.data_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdChoice:
        """Rebuild a choice from `to_dict` output."""
        fields = {k: v for k, v in data.items() if k != "feasible"}
        return cls(
            **{
                **fields,
                "policy": ThresholdPolicy(**data["policy"]),
                "expected_cost_ci": tuple(data["expected_cost_ci"]),
            }
        )


@dataclass(frozen=True)
class _Cuts:
    """Every distinct cut, from flagging nothing (index 0) to flagging every row (last)."""

    thresholds: np.ndarray
    rows_flagged: np.ndarray
    tp: np.ndarray
    fp: np.ndarray

    @property
    def positives(self) -> float:
        return float(self.tp[-1])

    @property
    def negatives(self) -> float:
        return float(self.fp[-1])


def _cuts(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> _Cuts:
    order = np.argsort(-p, kind="stable")
    p_sorted = p[order]
    positive_weight = np.where(y[order] == 1, w[order], 0.0)
    group_ends = np.flatnonzero(np.r_[p_sorted[1:] != p_sorted[:-1], True])
    values = p_sorted[group_ends]
    lower = values[1:]
    between = np.maximum((values[:-1] + lower) / 2.0, np.nextafter(lower, np.inf))
    return _Cuts(
        thresholds=np.r_[np.nextafter(values[0], np.inf), between, values[-1]],
        rows_flagged=np.r_[0, group_ends + 1],
        tp=np.r_[0.0, np.cumsum(positive_weight)[group_ends]],
        fp=np.r_[0.0, np.cumsum(w[order] - positive_weight)[group_ends]],
    )


def _smoothed_at_cuts(cost: np.ndarray, cuts: _Cuts, fraction: float) -> np.ndarray:
    """Moving average of the cost curve over +-fraction of the rows, read at each cut.

    The curve is first spread over every row position (linear within a group of tied
    scores), so the window covers rows, not distinct scores.
    """
    n_rows = int(cuts.rows_flagged[-1])
    half_window = int(fraction * n_rows)
    if half_window == 0:
        return cost
    per_row = np.interp(np.arange(n_rows + 1), cuts.rows_flagged, cost)
    running = np.r_[0.0, np.cumsum(per_row)]
    low = np.maximum(cuts.rows_flagged - half_window, 0)
    high = np.minimum(cuts.rows_flagged + half_window + 1, n_rows + 1)
    return (running[high] - running[low]) / (high - low)


def _first_best(primary: np.ndarray, secondary: np.ndarray, allowed: np.ndarray) -> int:
    """Index of the allowed cut with the largest `primary`, ties broken by largest `secondary`."""
    candidates = np.flatnonzero(allowed)
    best = np.lexsort((-secondary[candidates], -primary[candidates]))[0]
    return int(candidates[best])


def _min_cost_cut(cuts: _Cuts, cost_fp: float, cost_fn: float, smoothing: float) -> int:
    cost = cost_fp * cuts.fp + cost_fn * (cuts.positives - cuts.tp)
    return int(np.argmin(_smoothed_at_cuts(cost, cuts, smoothing)))


def _policy_cut(
    cuts: _Cuts, policy: ThresholdPolicy, cost_fp: float, cost_fn: float
) -> tuple[int, str, str | None]:
    """The chosen cut, the kind actually applied and why a fallback happened (if it did)."""
    if policy.kind == "min_cost":
        return _min_cost_cut(cuts, cost_fp, cost_fn, policy.cost_smoothing), "min_cost", None
    target = float(policy.target)
    flagged = cuts.tp + cuts.fp
    precision = np.divide(cuts.tp, flagged, out=np.zeros_like(flagged), where=flagged > 0)
    recall = cuts.tp / cuts.positives
    fpr = cuts.fp / cuts.negatives
    if policy.kind == "max_precision_at_recall":
        return _first_best(precision, recall, recall >= target), policy.kind, None
    if policy.kind == "fpr_budget":
        return _first_best(recall, -fpr, fpr <= target), policy.kind, None
    reaching = precision >= target
    if reaching.any():
        return _first_best(recall, precision, reaching), policy.kind, None
    shortfall = f"no threshold reaches precision >= {target} (highest is {precision.max():.4f})"
    if policy.on_infeasible == "raise":
        raise InfeasibleThresholdError(shortfall)
    fallback = _min_cost_cut(cuts, cost_fp, cost_fn, policy.cost_smoothing)
    return fallback, "min_cost", f"{shortfall}; fell back to min_cost"


def choose_threshold(
    p: np.ndarray,
    y: np.ndarray,
    *,
    policy: ThresholdPolicy | None = None,
    cost_fp: float,
    cost_fn: float,
    weights: np.ndarray | None = None,
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> ThresholdChoice:
    """Choose a threshold on `p` by `policy` (default min_cost) and report its cost per row.

    `p` should be calibrated probabilities of the rows set aside for calibration and
    thresholding. Costs are per false positive and per false negative.
    """
    policy = policy or ThresholdPolicy()
    for name, cost in (("cost_fp", cost_fp), ("cost_fn", cost_fn)):
        if not (np.isfinite(cost) and cost >= 0.0):
            raise ThresholdError(f"{name} must be a finite non-negative number, got {cost}")
    if cost_fp + cost_fn <= 0.0:
        raise ThresholdError("cost_fp and cost_fn are both zero; every threshold costs nothing")
    y, p, w = validate_inputs(y, p, weights=weights)

    cuts = _cuts(p, y, w)
    cut, applied_kind, fallback_reason = _policy_cut(cuts, policy, cost_fp, cost_fn)
    threshold = float(cuts.thresholds[cut])
    flagged = p >= threshold
    row_cost = np.where(flagged, cost_fp * (y == 0), cost_fn * (y == 1))
    tp, fp = float(cuts.tp[cut]), float(cuts.fp[cut])
    return ThresholdChoice(
        value=threshold,
        policy=policy,
        applied_kind=applied_kind,
        fallback_reason=fallback_reason,
        cost_fp=float(cost_fp),
        cost_fn=float(cost_fn),
        expected_cost=float(np.sum(w * row_cost) / np.sum(w)),
        expected_cost_ci=percentile_interval(
            bootstrap_weighted_means(row_cost, n_boot, seed, weights=w), alpha
        ),
        precision=tp / (tp + fp) if tp + fp > 0 else 0.0,
        recall=tp / cuts.positives,
        fpr=fp / cuts.negatives,
        flagged_fraction=float(np.sum(w * flagged) / np.sum(w)),
    )
