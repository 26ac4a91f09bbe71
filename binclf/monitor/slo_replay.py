"""An SLO replayed day by day, as it would have been judged at the end of each day.

Two monitors are compared: the blended one of `performance` (rows whose label was known by then
count with it, the others with their calibrated probability) and a labels-only one (rows without
a known label are left out, as a monitor without estimation must). Under a change the blended
SLI moves on the day of the change, while the labels-only SLI waits for the labels, so the
replay shows how many days earlier the estimate raised the alarm. Count-based SLIs only (recall,
precision, false-positive and false-negative rate, expected cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from binclf.monitor.slo import DailyCounts, SliObservation, observation, slo_status
from binclf.spec import HIGHER_IS_BETTER, SloDefinition

COUNT_BASED = frozenset(
    {"recall", "precision", "false_positive_rate", "false_negative_rate", "expected_cost"}
)


@dataclass(frozen=True)
class ScoredDay:
    """One day of scored events and the labels they eventually got."""

    day: date
    probability: np.ndarray
    flagged: np.ndarray
    positive: np.ndarray  # the eventual label; False where none ever came
    label_known_at: np.ndarray  # Unix seconds; +inf where no label ever came


@dataclass(frozen=True)
class ReplayDay:
    """What was known at the end of `day`: that day's estimate and the SLO's two verdicts."""

    day: date
    estimated: float | None  # the day's SLI from probabilities alone (known that day)
    realized: float | None  # the day's SLI on every label it eventually got (known later)
    blended_sli: float | None  # the SLO's window SLI, blended
    blended_severity: str | None  # page, ticket or None (passing)
    labels_only_sli: float | None
    labels_only_severity: str | None


def _counts(d: ScoredDay, known: np.ndarray, *, estimate_rest: bool) -> DailyCounts:
    f, y, p = d.flagged, d.positive, d.probability
    tp, fp = float(np.sum(f & known & y)), float(np.sum(f & known & ~y))
    fn, tn = float(np.sum(~f & known & y)), float(np.sum(~f & known & ~y))
    n = int(known.sum())
    if estimate_rest:
        rest = ~known
        flagged_p, other_p = p[f & rest], p[~f & rest]
        tp, fp = tp + float(flagged_p.sum()), fp + float((1 - flagged_p).sum())
        fn, tn = fn + float(other_p.sum()), tn + float((1 - other_p).sum())
        n = p.size
    kind = "blended" if estimate_rest else "realized"
    return DailyCounts(d.day, n, int(known.sum()), n, tp, fp, fn, tn, kind, True)


def _value(slo: SloDefinition, found: SliObservation | None) -> float | None:
    if found is None or found.valid <= 0:
        return None
    error = found.bad / found.valid
    return 1.0 - error if slo.sli in HIGHER_IS_BETTER else error


def replay_slo(
    slo: SloDefinition, days: Sequence[ScoredDay], *, costs: tuple[float, float]
) -> list[ReplayDay]:
    """The SLO as judged at the end of each day (UTC) with what was known then."""
    if slo.sli not in COUNT_BASED:
        raise ValueError(f"replay needs a count-based SLI, got {slo.sli!r}")
    ordered = sorted(days, key=lambda d: d.day)
    rows = []
    for index, current in enumerate(ordered):
        end = datetime.combine(current.day + timedelta(days=1), time(0), UTC).timestamp()
        start = current.day - timedelta(days=slo.window_days - 1)
        blended, labels_only = [], []
        for d in ordered[: index + 1]:
            if d.day < start:
                continue
            known = d.label_known_at <= end
            if found := observation(slo, _counts(d, known, estimate_rest=True), costs=costs):
                blended.append(found)
            if found := observation(slo, _counts(d, known, estimate_rest=False), costs=costs):
                labels_only.append(found)
        with_blend = slo_status(slo, blended, as_of=current.day)
        with_labels = slo_status(slo, labels_only, as_of=current.day)
        nothing = np.zeros(current.probability.size, dtype=bool)
        everything = np.isfinite(current.label_known_at)
        estimate = _counts(current, nothing, estimate_rest=True)
        truth = _counts(current, everything, estimate_rest=False)
        rows.append(
            ReplayDay(
                day=current.day,
                estimated=_value(slo, observation(slo, estimate, costs=costs)),
                realized=_value(slo, observation(slo, truth, costs=costs)),
                blended_sli=with_blend.sli_value,
                blended_severity=with_blend.severity,
                labels_only_sli=with_labels.sli_value,
                labels_only_severity=with_labels.severity,
            )
        )
    return rows
