"""SLOs over daily SLIs: error budget, what is left of it, and multiwindow burn-rate alerts.

Every SLI is counted as bad events over valid events per day, so budgets pool over days the way
the SRE workbook pools requests: recall counts missed positives over positives, precision false
alarms over flags, the false-positive rate false alarms over negatives, the expected cost its
cost units over rows, ECE its calibration error times labeled rows, the coverages the unlabeled
(unscored) rows. PR-AUC and scoring freshness are counted in days: a day is bad when it misses the
objective, and the SLO allows `bad_day_share` of bad days.

The allowed error rate is 1 − objective for SLIs where higher is better and the objective
itself otherwise. Over a window, burn = (Σ bad / Σ valid) / allowed rate; burn 1 spends the
budget exactly in `window_days`. The SRE workbook pages at 14.4× over 1 h and 5 min (2 % of a
30-day budget in an hour); daily data has no hours, so the rules are scaled to days:

| rule | short window | long window | burn factor | meaning (28-day window) |
|---|---|---|---|---|
| fast (page) | 1 day | 3 days | window_days / 6 (4.67) | half the budget gone in 3 days |
| slow (ticket) | 3 days | 7 days | window_days / 14 (2.0) | half the budget gone in a week |

A rule fires when both of its windows burn at or above the factor; a window with less than
`min_volume` valid events (positives for recall, flags for precision, ...) never fires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from binclf.monitor.estimation import PartitionPerformance
from binclf.spec import HIGHER_IS_BETTER, SloDefinition

DAY_COUNTED = frozenset({"pr_auc", "scoring_freshness"})
DEFAULT_MIN_VOLUME = {
    "recall": 30.0,
    "false_negative_rate": 30.0,
    "precision": 30.0,
    "false_positive_rate": 1000.0,
    "expected_cost": 1000.0,
    "ece": 1000.0,
    "label_coverage": 100.0,
    "decision_coverage": 100.0,
    "pr_auc": 1.0,
    "scoring_freshness": 1.0,
}


@dataclass(frozen=True)
class SliObservation:
    """One day of an SLI as bad and valid events; `kind` says where the numbers came from."""

    day: date
    bad: float
    valid: float
    kind: str = "observed"  # estimated, realized, blended or observed
    reliable: bool = True


@dataclass(frozen=True)
class BurnRule:
    name: str
    severity: str
    short_days: int
    long_days: int
    factor: float


@dataclass(frozen=True)
class BurnResult:
    rule: BurnRule
    short_burn: float | None  # None when the window is below the volume gate
    long_burn: float | None
    firing: bool
    short_volume: float = 0.0  # valid events in each window, for the volume gate
    long_volume: float = 0.0


@dataclass(frozen=True)
class SloStatus:
    """An SLO's state as of a day: SLI, budget, burn rates and the alert severity, if any."""

    name: str
    sli: str
    objective: float
    window_days: int
    as_of: date
    sli_value: float | None
    kinds: tuple[str, ...]
    unreliable_days: int
    allowed_error_rate: float
    budget_spent: float | None  # share of the window's budget used; above 1 is overspent
    remaining_budget: float | None
    burns: tuple[BurnResult, ...]
    severity: str | None  # "page", "ticket" or None
    min_volume: float = 0.0  # the volume gate of each burn window

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def burn_rules(window_days: int) -> tuple[BurnRule, BurnRule]:
    """The fast (page) and slow (ticket) rules scaled to a window of `window_days`."""
    return (
        BurnRule("fast", "page", 1, min(3, window_days), window_days / 6),
        BurnRule("slow", "ticket", min(3, window_days), min(7, window_days), window_days / 14),
    )


def allowed_error_rate(slo: SloDefinition) -> float:
    if slo.sli in DAY_COUNTED:
        return slo.bad_day_share
    return 1.0 - slo.objective if slo.sli in HIGHER_IS_BETTER else slo.objective


@dataclass(frozen=True)
class DailyCounts:
    """What the SLIs of one day are computed from, stored by the performance asset."""

    day: date
    n_rows: int
    n_labeled: int
    n_decided: int
    true_positives: float
    false_positives: float
    false_negatives: float
    true_negatives: float
    kind: str
    reliable: bool
    ece: float | None = None
    pr_auc: float | None = None
    n_validated: int | None = None  # validated events of the day; None: taken as n_rows

    @classmethod
    def from_performance(
        cls,
        day: date,
        performance: PartitionPerformance,
        *,
        n_decided: int | None = None,
        ece: float | None = None,
        pr_auc: float | None = None,
        n_validated: int | None = None,
    ) -> DailyCounts:
        """The blended counts: labeled rows with their labels, the rest as estimated."""
        m = performance.blended
        kind = "realized" if performance.labeled_share == 1 else m.kind
        if performance.n_labeled == 0:
            kind = "estimated"
        return cls(
            day,
            performance.n_rows,
            performance.n_labeled,
            performance.n_rows if n_decided is None else n_decided,
            m.true_positives,
            m.false_positives,
            m.false_negatives,
            m.true_negatives,
            kind,
            performance.reliable,
            ece,
            pr_auc,
            n_validated,
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DailyCounts:
        return cls(**{**data, "day": date.fromisoformat(data["day"])})


def observation(
    slo: SloDefinition, counts: DailyCounts, *, costs: tuple[float, float]
) -> SliObservation | None:
    """A day of an SLO's SLI; None when the day says nothing about it (e.g. no labels for ECE)."""
    c = counts
    if slo.sli in ("ece", "pr_auc"):
        value = c.ece if slo.sli == "ece" else c.pr_auc
        if value is None:
            return None
        if slo.sli == "pr_auc":
            return day_observation(c.day, met=value >= slo.objective)
        return SliObservation(c.day, value * c.n_labeled, float(c.n_labeled), "realized")
    if slo.sli == "scoring_freshness":
        return None
    validated = c.n_rows if c.n_validated is None else c.n_validated
    table = {
        "recall": (c.false_negatives, c.true_positives + c.false_negatives),
        "false_negative_rate": (c.false_negatives, c.true_positives + c.false_negatives),
        "precision": (c.false_positives, c.true_positives + c.false_positives),
        "false_positive_rate": (c.false_positives, c.false_positives + c.true_negatives),
        "expected_cost": (costs[0] * c.false_positives + costs[1] * c.false_negatives, c.n_rows),
        "label_coverage": (c.n_rows - c.n_labeled, c.n_rows),
        "decision_coverage": (max(validated - c.n_decided, 0), validated),
    }
    bad, valid = table[slo.sli]
    observed = slo.sli in ("label_coverage", "decision_coverage")
    kind = "observed" if observed else c.kind
    return SliObservation(c.day, float(bad), float(valid), kind, observed or c.reliable)


def observation_from_performance(
    slo: SloDefinition, day: date, performance: PartitionPerformance, *, costs: tuple[float, float]
) -> SliObservation | None:
    """A day's SLI straight from its partition performance (see `DailyCounts`)."""
    return observation(slo, DailyCounts.from_performance(day, performance), costs=costs)


def day_observation(day: date, *, met: bool) -> SliObservation:
    """A day-counted SLI (PR-AUC, scoring freshness): one valid day, bad when missed."""
    return SliObservation(day, 0.0 if met else 1.0, 1.0)


def _window(observations: Sequence[SliObservation], as_of: date, days: int) -> list[SliObservation]:
    start = as_of - timedelta(days=days - 1)
    return [o for o in observations if start <= o.day <= as_of]


def _burn(rows: list[SliObservation], rate: float, min_volume: float) -> float | None:
    valid = sum(o.valid for o in rows)
    if valid <= 0 or valid < min_volume:
        return None
    return sum(o.bad for o in rows) / valid / rate


def _volume(observations: Sequence[SliObservation], as_of: date, days: int) -> float:
    return float(sum(o.valid for o in _window(observations, as_of, days)))


def slo_status(
    slo: SloDefinition, observations: Sequence[SliObservation], *, as_of: date
) -> SloStatus:
    """Evaluate one SLO on its daily observations up to and including `as_of`."""
    rate = allowed_error_rate(slo)
    gate = slo.min_volume if slo.min_volume is not None else DEFAULT_MIN_VOLUME[slo.sli]
    window = _window(observations, as_of, slo.window_days)
    bad, valid = sum(o.bad for o in window), sum(o.valid for o in window)
    sli_value = spent = None
    if valid > 0:
        error = bad / valid
        higher = slo.sli in HIGHER_IS_BETTER or slo.sli in DAY_COUNTED
        sli_value = 1.0 - error if higher else error
        spent = bad / (rate * valid)
    burns = []
    for rule in burn_rules(slo.window_days):
        short = _burn(_window(observations, as_of, rule.short_days), rate, gate)
        long = _burn(_window(observations, as_of, rule.long_days), rate, gate)
        firing = short is not None and long is not None and min(short, long) >= rule.factor
        volumes = (
            _volume(observations, as_of, rule.short_days),
            _volume(observations, as_of, rule.long_days),
        )
        burns.append(BurnResult(rule, short, long, firing, *volumes))
    severity = next((b.rule.severity for b in burns if b.firing), None)
    return SloStatus(
        name=slo.name,
        sli=slo.sli,
        objective=slo.objective,
        window_days=slo.window_days,
        as_of=as_of,
        sli_value=sli_value,
        kinds=tuple(sorted({o.kind for o in window})),
        unreliable_days=sum(not o.reliable for o in window),
        allowed_error_rate=rate,
        budget_spent=spent,
        remaining_budget=None if spent is None else 1.0 - spent,
        burns=tuple(burns),
        severity=severity,
        min_volume=gate,
    )
