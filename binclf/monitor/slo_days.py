"""The SLOs of a dataset over its stored days: each SLO's status as of the newest day, and its
history day by day (SLI, objective and remaining budget, what the UI plots).

The history is computed with what is known now: each day's counts are those of the last
performance run (labels that arrived since count), evaluated as of every day in turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from binclf.monitor.slo import DailyCounts, SliObservation, SloStatus, observation, slo_status
from binclf.spec import SloDefinition


@dataclass(frozen=True)
class SloTimeline:
    """One SLO evaluated as of each day that has an observation."""

    slo: str
    sli: str
    objective: float
    days: tuple[date, ...]
    sli_values: tuple[float | None, ...]
    remaining_budget: tuple[float | None, ...]
    severities: tuple[str | None, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "slo": self.slo,
            "sli": self.sli,
            "objective": self.objective,
            "days": [d.isoformat() for d in self.days],
            "sli_values": list(self.sli_values),
            "remaining_budget": list(self.remaining_budget),
            "severities": list(self.severities),
        }


def slo_observations(
    slo: SloDefinition,
    days: Sequence[DailyCounts],
    *,
    costs: tuple[float, float],
    label_sla_hours: float,
    freshness: Sequence[SliObservation] = (),
) -> list[SliObservation]:
    """The daily observations of one SLO; label coverage only of days past the label SLA."""
    if slo.sli == "scoring_freshness":
        return sorted(freshness, key=lambda o: o.day)
    if not days:
        return []
    settled = max(d.day for d in days) - timedelta(hours=label_sla_hours)
    counted = [d for d in days if slo.sli != "label_coverage" or d.day <= settled]
    return sorted(
        (o for d in counted if (o := observation(slo, d, costs=costs))), key=lambda o: o.day
    )


def evaluate_slos(
    slos: Sequence[SloDefinition],
    days: Sequence[DailyCounts],
    *,
    costs: tuple[float, float],
    label_sla_hours: float,
    freshness: Sequence[SliObservation] = (),
) -> tuple[dict[str, SloStatus], dict[str, SloTimeline]]:
    """Each SLO's status as of its newest day (the newest stored day, or for scoring freshness
    the newest day past its deadline) and its timeline; SLOs without any day are left out."""
    statuses, timelines = {}, {}
    newest = max((d.day for d in days), default=None)
    for slo in slos:
        obs = slo_observations(
            slo, days, costs=costs, label_sla_hours=label_sla_hours, freshness=freshness
        )
        as_of = obs[-1].day if slo.sli == "scoring_freshness" and obs else newest
        if as_of is None or (slo.sli == "scoring_freshness" and not obs):
            continue
        statuses[slo.name] = slo_status(slo, obs, as_of=as_of)
        stored = [] if slo.sli == "scoring_freshness" else [d.day for d in days]
        timelines[slo.name] = slo_timeline(slo, obs, days=[*stored, *(o.day for o in obs)])
    return statuses, timelines


def slo_timeline(
    slo: SloDefinition,
    observations: Sequence[SliObservation],
    *,
    days: Iterable[date] | None = None,
) -> SloTimeline:
    """The SLO evaluated as of each of `days` (default: the days of `observations`) in order."""
    as_of = sorted({o.day for o in observations} if days is None else set(days))
    statuses = [slo_status(slo, observations, as_of=d) for d in as_of]
    return SloTimeline(
        slo=slo.name,
        sli=slo.sli,
        objective=slo.objective,
        days=tuple(s.as_of for s in statuses),
        sli_values=tuple(s.sli_value for s in statuses),
        remaining_budget=tuple(s.remaining_budget for s in statuses),
        severities=tuple(s.severity for s in statuses),
    )


def timelines_to_dict(timelines: Mapping[str, SloTimeline]) -> dict[str, dict[str, object]]:
    return {name: t.to_dict() for name, t in timelines.items()}
