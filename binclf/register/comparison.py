"""Challenger against champion on the same test rows, and the promotion decision.

The two models are scored on the same rows, so their metrics are compared with a paired
bootstrap: each resample takes the same rows for both models and the difference is computed
per resample. Pairing removes the test set's own variation from the comparison, which is what
makes a small real improvement detectable. Both models are measured by `binclf.stats.engine`
on the same resamples (rows, or whole days) that `binclf.stats.metrics.evaluate_predictions`
uses for one model's intervals, weighted by the spec's row weights. Which test rows are compared
is decided before (`binclf.register.unseen_rows`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from binclf.register.gates import GateResult
from binclf.stats.bootstrap import percentile_interval
from binclf.stats.engine import ScoredRows, replicate_metrics
from binclf.stats.metrics import Estimate, cluster_widening, validate_inputs

ComparisonMetric = Literal["pr_auc", "roc_auc", "log_loss", "brier"]
HIGHER_IS_BETTER: dict[str, bool] = {
    "pr_auc": True,
    "roc_auc": True,
    "log_loss": False,
    "brier": False,
}
# Codes that allow promotion when every gate passed.
PROMOTING_CODES = frozenset({"NO_CHAMPION", "NON_INFERIOR", "BETTER"})


class ComparisonError(ValueError):
    """Inputs a comparison or promotion decision cannot use; the message names the bad value."""


def paired_bootstrap_difference(
    y: np.ndarray,
    p_challenger: np.ndarray,
    p_champion: np.ndarray,
    *,
    metric: ComparisonMetric = "pr_auc",
    n_boot: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> Estimate:
    """How much better the challenger is than the champion on `metric`, with a paired interval.

    Oriented so that positive means the challenger is better: challenger - champion for
    pr_auc and roc_auc, champion - challenger for log_loss and brier. The interval is the
    (1 - alpha) percentile interval over `n_boot` paired resamples of the rows (or of whole
    `clusters`, e.g. days), the same resamples single-model intervals use; resampled by
    cluster, it is widened about the value by `cluster_widening`, as single-model intervals
    are. `weights` weight every metric.
    """
    if metric not in HIGHER_IS_BETTER:
        raise ComparisonError(f"metric must be one of {sorted(HIGHER_IS_BETTER)}, got {metric!r}")
    y, p_challenger, w = validate_inputs(y, p_challenger, weights=weights)
    _, p_champion, _ = validate_inputs(y, p_champion, weights=weights)
    models = [ScoredRows.of(y, p_challenger, w), ScoredRows.of(y, p_champion, w)]
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    challenger, champion = (rows.metrics(names=(metric,))[metric][0] for rows in models)
    paired = replicate_metrics(models, n_boot=n_boot, seed=seed, clusters=clusters, names=(metric,))
    value = float(sign * (challenger - champion))
    low, high = percentile_interval(sign * (paired[0][metric] - paired[1][metric]), alpha)
    widen = cluster_widening(clusters, alpha)
    return {
        "value": value,
        "ci_low": value - widen * (value - low),
        "ci_high": value + widen * (high - value),
    }


def metric_value(
    y: np.ndarray,
    p: np.ndarray,
    *,
    metric: ComparisonMetric,
    weights: np.ndarray | None = None,
) -> float:
    """One model's `metric` on all the rows, as the paired comparison measures it."""
    if metric not in HIGHER_IS_BETTER:
        raise ComparisonError(f"metric must be one of {sorted(HIGHER_IS_BETTER)}, got {metric!r}")
    y, p, w = validate_inputs(y, p, weights=weights)
    return float(ScoredRows.of(y, p, w).metrics(names=(metric,))[metric][0])


@dataclass(frozen=True)
class PromotionDecision:
    """Whether to promote the challenger, with machine-readable reason codes.

    Codes: `NO_GATES` (no gate was evaluated), `GATE_FAILED:<name>`, and one comparison code:
    `NO_CHAMPION`, `COMPARISON_REFUSED` (no fair comparison was possible: `refusal` says why),
    `INFERIOR` (the interval does not rule out being worse by more than the
    margin), `NOT_BETTER` (non-inferior, but improvement was required and not shown),
    `NON_INFERIOR` or `BETTER`.
    """

    decision: Literal["promote", "reject"]
    reasons: tuple[str, ...]
    comparison: Estimate | None
    margin: float
    require_improvement: bool
    gates: tuple[GateResult, ...]
    refusal: str | None = None

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
            **({"comparison_refused": self.refusal} if self.refusal else {}),
        }


def decide_promotion(
    gates: Sequence[GateResult],
    comparison: Mapping[str, float] | None,
    *,
    margin: float = 0.0,
    require_improvement: bool = False,
    refusal: str | None = None,
) -> PromotionDecision:
    """Promote when every gate passed and the challenger holds up against the champion.

    `comparison` is `paired_bootstrap_difference(...)` (positive = challenger better), or None
    when there is no champion. Non-inferior means the interval's lower bound is above
    `-margin`; with `require_improvement` the lower bound must also be above 0. Without a
    champion, passing every gate promotes. An empty gate list rejects (nothing was checked), and
    so does a `refusal` (a champion exists but no fair comparison could be made).
    """
    if not math.isfinite(margin) or margin < 0:
        raise ComparisonError(f"margin must be a finite number >= 0, got {margin}")
    reasons = [] if gates else ["NO_GATES"]
    reasons += [f"GATE_FAILED:{gate.name}" for gate in gates if not gate.passed]
    estimate = None if comparison is None else _checked_estimate(comparison)
    if refusal is not None:
        code = "COMPARISON_REFUSED"
    elif estimate is None:
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
        refusal=refusal,
    )


def _checked_estimate(comparison: Mapping[str, float]) -> Estimate:
    values = {}
    for key in ("value", "ci_low", "ci_high"):
        raw = comparison.get(key)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise ComparisonError(f"comparison[{key!r}] must be a finite number, got {raw!r}")
        values[key] = float(raw)
    return {"value": values["value"], "ci_low": values["ci_low"], "ci_high": values["ci_high"]}
