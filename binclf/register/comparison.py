"""Challenger against champion on the same test rows, and the promotion decision.

The two models are scored on the same rows, so their metrics are compared with a paired
bootstrap: each resample takes the same rows for both models and the difference is computed
per resample. Pairing removes the test set's own variation from the comparison, which is what
makes a small real improvement detectable. Resamples are stratified by class, as in
`binclf.metrics`, so every resample has both classes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from binclf.register.gates import GateResult
from binclf.stats.bootstrap import iter_bootstrap_counts, percentile_interval
from binclf.stats.metrics import Estimate, validate_inputs

ComparisonMetric = Literal["pr_auc", "roc_auc", "log_loss", "brier"]
HIGHER_IS_BETTER: dict[str, bool] = {
    "pr_auc": True,
    "roc_auc": True,
    "log_loss": False,
    "brier": False,
}
# Codes that allow promotion when every gate passed.
PROMOTING_CODES = frozenset({"NO_CHAMPION", "NON_INFERIOR", "BETTER"})
# scikit-learn's log_loss clips probabilities to [eps, 1 - eps] with this eps.
_LOG_LOSS_EPS = float(np.finfo(np.float64).eps)


class ComparisonError(ValueError):
    """Inputs a comparison or promotion decision cannot use; the message names the bad value."""


@dataclass(frozen=True)
class _ScoredRows:
    """One model's scores, rows sorted by descending score, ready for weighted metrics."""

    order: np.ndarray
    y: np.ndarray
    tie_starts: np.ndarray
    log_loss: np.ndarray
    squared_error: np.ndarray

    @classmethod
    def of(cls, y: np.ndarray, p: np.ndarray) -> _ScoredRows:
        order = np.argsort(-p, kind="stable")
        p_sorted, y_sorted = p[order], y[order].astype(np.float64)
        clipped = np.clip(p_sorted, _LOG_LOSS_EPS, 1.0 - _LOG_LOSS_EPS)
        return cls(
            order=order,
            y=y_sorted,
            tie_starts=np.flatnonzero(np.r_[True, np.diff(p_sorted) != 0]),
            log_loss=-np.where(y_sorted == 1, np.log(clipped), np.log1p(-clipped)),
            squared_error=(p_sorted - y_sorted) ** 2,
        )

    def metric(self, counts: np.ndarray, name: str) -> np.ndarray:
        """`name` under each row of `counts` (r, n) as row weights; shape (r,)."""
        weight = counts[:, self.order]
        if name == "log_loss":
            return weight @ self.log_loss / weight.sum(axis=1)
        if name == "brier":
            return weight @ self.squared_error / weight.sum(axis=1)
        positive = np.add.reduceat(weight * self.y, self.tie_starts, axis=1)
        negative = np.add.reduceat(weight * (1.0 - self.y), self.tie_starts, axis=1)
        true_pos = np.cumsum(positive, axis=1)
        n_pos, n_neg = true_pos[:, -1], negative.sum(axis=1)
        if name == "roc_auc":
            # Pairs a positive wins: the positives scored above each negative, ties half.
            positives_above = true_pos - 0.5 * positive
            return np.sum(negative * positives_above, axis=1) / (n_pos * n_neg)
        flagged = true_pos + np.cumsum(negative, axis=1)
        precision = np.divide(true_pos, flagged, out=np.zeros_like(true_pos), where=flagged > 0)
        return np.sum(positive * precision, axis=1) / n_pos


def paired_bootstrap_difference(
    y: np.ndarray,
    p_challenger: np.ndarray,
    p_champion: np.ndarray,
    *,
    metric: ComparisonMetric = "pr_auc",
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
) -> Estimate:
    """How much better the challenger is than the champion on `metric`, with a paired interval.

    Oriented so that positive means the challenger is better: challenger - champion for
    pr_auc and roc_auc, champion - challenger for log_loss and brier. The interval is the
    (1 - alpha) percentile interval over `n_boot` class-stratified paired resamples.
    """
    if metric not in HIGHER_IS_BETTER:
        raise ComparisonError(f"metric must be one of {sorted(HIGHER_IS_BETTER)}, got {metric!r}")
    y, p_challenger, _ = validate_inputs(y, p_challenger)
    _, p_champion, _ = validate_inputs(y, p_champion)
    challenger = _ScoredRows.of(y, p_challenger)
    champion = _ScoredRows.of(y, p_champion)
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0

    def difference(counts: np.ndarray) -> np.ndarray:
        return sign * (challenger.metric(counts, metric) - champion.metric(counts, metric))

    value = float(difference(np.ones((1, len(y))))[0])
    replicates = np.concatenate(
        [difference(counts) for counts in iter_bootstrap_counts(len(y), n_boot, seed, strata=y)]
    )
    low, high = percentile_interval(replicates, alpha)
    return {"value": value, "ci_low": low, "ci_high": high}


@dataclass(frozen=True)
class PromotionDecision:
    """Whether to promote the challenger, with machine-readable reason codes.

    Codes: `NO_GATES` (no gate was evaluated), `GATE_FAILED:<name>`, and one comparison code:
    `NO_CHAMPION`, `INFERIOR` (the interval does not rule out being worse by more than the
    margin), `NOT_BETTER` (non-inferior, but improvement was required and not shown),
    `NON_INFERIOR` or `BETTER`.
    """

    decision: Literal["promote", "reject"]
    reasons: tuple[str, ...]
    comparison: Estimate | None
    margin: float
    require_improvement: bool
    gates: tuple[GateResult, ...]

    @property
    def promote(self) -> bool:
        return self.decision == "promote"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "comparison": None if self.comparison is None else dict(self.comparison),
            "margin": self.margin,
            "require_improvement": self.require_improvement,
            "gates": [gate.to_dict() for gate in self.gates],
        }


def decide_promotion(
    gates: Sequence[GateResult],
    comparison: Mapping[str, float] | None,
    *,
    margin: float = 0.0,
    require_improvement: bool = False,
) -> PromotionDecision:
    """Promote when every gate passed and the challenger holds up against the champion.

    `comparison` is `paired_bootstrap_difference(...)` (positive = challenger better), or None
    when there is no champion. Non-inferior means the interval's lower bound is above
    `-margin`; with `require_improvement` the lower bound must also be above 0. Without a
    champion, passing every gate promotes. An empty gate list rejects (nothing was checked).
    """
    if not math.isfinite(margin) or margin < 0:
        raise ComparisonError(f"margin must be a finite number >= 0, got {margin}")
    reasons = [] if gates else ["NO_GATES"]
    reasons += [f"GATE_FAILED:{gate.name}" for gate in gates if not gate.passed]
    estimate = None if comparison is None else _checked_estimate(comparison)
    if estimate is None:
        code = "NO_CHAMPION"
    elif estimate["ci_low"] <= -margin:
        code = "INFERIOR"
    elif require_improvement:
        code = "BETTER" if estimate["ci_low"] > 0 else "NOT_BETTER"
    else:
        code = "NON_INFERIOR"
    promote = not reasons and code in PROMOTING_CODES
    return PromotionDecision(
        decision="promote" if promote else "reject",
        reasons=(*reasons, code),
        comparison=estimate,
        margin=float(margin),
        require_improvement=require_improvement,
        gates=tuple(gates),
    )


def _checked_estimate(comparison: Mapping[str, float]) -> Estimate:
    values = {}
    for key in ("value", "ci_low", "ci_high"):
        raw = comparison.get(key)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise ComparisonError(f"comparison[{key!r}] must be a finite number, got {raw!r}")
        values[key] = float(raw)
    return {"value": values["value"], "ci_low": values["ci_low"], "ci_high": values["ci_high"]}
