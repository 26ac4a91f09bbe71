"""Scoring freshness: were yesterday's scores there by the stated hour?

Day D's scores are due at `hour` (UTC, 0 to 24) on day D + 1. A day is observed once its deadline
has passed: good when its scores were first written by then, bad when they came later or not at
all. Re-scoring a day (after a promotion) does not move its first scoring time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from binclf.monitor.slo import SliObservation, day_observation


def scoring_deadline(day: date, hour: float) -> datetime:
    """When the scores of `day` are due: `hour` hours into the next UTC day."""
    if not 0 <= hour <= 24:
        raise ValueError(f"hour must be between 0 and 24, got {hour}")
    return datetime.combine(day + timedelta(days=1), time(0), UTC) + timedelta(hours=hour)


def freshness_observations(
    days: Iterable[date], first_scored: Mapping[date, datetime], *, hour: float, now: datetime
) -> list[SliObservation]:
    """One day-counted observation per day whose deadline has passed by `now`."""
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    observations = []
    for day in sorted(days):
        deadline = scoring_deadline(day, hour)
        if deadline > now:
            continue
        scored = first_scored.get(day)
        observations.append(day_observation(day, met=scored is not None and scored <= deadline))
    return observations
