"""Scoring freshness, decision coverage and the SLO timeline against hand-computed values; the
SLO chart renders the timeline it is given."""

import struct
from datetime import UTC, date, datetime, timedelta

import pytest

from binclf.monitor.freshness import freshness_observations, scoring_deadline
from binclf.monitor.slo import DailyCounts, SliObservation, observation, slo_status
from binclf.monitor.slo_charts import slo_chart
from binclf.monitor.slo_days import evaluate_slos, slo_timeline
from binclf.spec import SloDefinition

START = date(2026, 3, 1)
FRESH = SloDefinition(name="fresh", sli="scoring_freshness", objective=6, bad_day_share=0.1)
COVERAGE = SloDefinition(name="decided", sli="decision_coverage", objective=0.99)
RECALL = SloDefinition(name="recall", sli="recall", objective=0.9)


def day(i: int) -> date:
    return START + timedelta(days=i)


def counts(i: int, *, n_rows=1000, n_decided=1000, n_validated=None, fn=10.0, tp=90.0):
    return DailyCounts(
        day(i), n_rows, 0, n_decided, tp, 20.0, fn, n_rows - tp - 20.0 - fn, "estimated", True,
        n_validated=n_validated,
    )  # fmt: skip


def test_yesterdays_scores_are_due_at_the_stated_hour_of_the_next_utc_day():
    assert scoring_deadline(day(0), 6) == datetime(2026, 3, 2, 6, tzinfo=UTC)
    assert scoring_deadline(day(0), 0) == datetime(2026, 3, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="hour must be between 0 and 24, got 25"):
        scoring_deadline(day(0), 25)


def test_a_day_is_bad_when_scored_after_its_deadline_or_never_and_unjudged_before_it():
    on_time = datetime(2026, 3, 2, 5, 59, tzinfo=UTC)
    late = datetime(2026, 3, 3, 6, 1, tzinfo=UTC)
    now = datetime(2026, 3, 4, 7, tzinfo=UTC)  # day 2 is due at 03-04 06:00, day 3 not yet
    observed = freshness_observations(
        [day(3), day(0), day(1), day(2)], {day(0): on_time, day(1): late}, hour=6, now=now
    )
    assert [(o.day, o.bad, o.valid) for o in observed] == [
        (day(0), 0.0, 1.0),
        (day(1), 1.0, 1.0),
        (day(2), 1.0, 1.0),  # never scored
    ]


def test_two_late_days_of_three_page_on_the_freshness_slo():
    # 10 % of days may be late: burn = late share / 0.1; the fast rule needs >= 28 / 6 on the
    # last day (1 late of 1: 10) and over 3 days (2 of 3: 6.67).
    now = datetime(2026, 3, 31, 12, tzinfo=UTC)
    first = {day(i): scoring_deadline(day(i), 6) - timedelta(hours=1) for i in range(30)}
    for late in (27, 29):
        first[day(late)] = scoring_deadline(day(late), 6) + timedelta(minutes=5)
    observed = freshness_observations([day(i) for i in range(30)], first, hour=6, now=now)
    status = slo_status(FRESH, observed, as_of=day(29))
    fast = status.burns[0]
    assert fast.short_burn == pytest.approx(10.0)
    assert fast.long_burn == pytest.approx(2 / 3 / 0.1)
    assert status.severity == "page"
    assert status.sli_value == pytest.approx(1 - 2 / 28)
    assert status.remaining_budget == pytest.approx(1 - (2 / 28) / 0.1)


def test_decision_coverage_counts_validated_events_without_a_decision():
    obs = observation(
        COVERAGE, counts(0, n_rows=950, n_decided=940, n_validated=1000), costs=(1, 1)
    )
    assert (obs.bad, obs.valid) == (60.0, 1000.0)
    older = observation(COVERAGE, counts(0, n_rows=950, n_decided=940), costs=(1, 1))
    assert (older.bad, older.valid) == (10.0, 950.0)  # stored before validated counts were kept


def test_the_timeline_is_the_status_as_of_each_day():
    observed = [SliObservation(day(i), b, 100.0) for i, b in enumerate([5, 5, 30, 60, 60])]
    timeline = slo_timeline(RECALL, observed)
    assert timeline.days == tuple(day(i) for i in range(5))
    # as of day 2: 40 misses of 300 positives; budget 0.1 x 300 = 30, spent 40 / 30
    assert timeline.sli_values[2] == pytest.approx(1 - 40 / 300)
    assert timeline.remaining_budget[2] == pytest.approx(1 - 40 / 30)
    assert timeline.remaining_budget[0] == pytest.approx(0.5)
    assert timeline.severities[:2] == (None, None)
    # day 3: 1-day burn 6, 3-day 95 / 300 / 0.1 = 3.2 (< 4.67, >= 2), 4-day 2.5: a ticket;
    # day 4: 1-day 6, 3-day 150 / 300 / 0.1 = 5: a page
    assert timeline.severities[3:] == ("ticket", "page")


def test_evaluate_slos_leaves_freshness_out_without_due_days_and_keeps_the_newest_day():
    days = [counts(i, n_validated=1000, n_decided=999) for i in range(4)]
    statuses, timelines = evaluate_slos(
        [RECALL, COVERAGE, FRESH], days, costs=(1.0, 1.0), label_sla_hours=24
    )
    assert set(statuses) == {"recall", "decided"}
    assert statuses["recall"].as_of == day(3)
    assert statuses["decided"].sli_value == pytest.approx(0.999)
    assert timelines["recall"].sli_values[-1] == pytest.approx(statuses["recall"].sli_value)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", png[16:24])


def test_the_slo_chart_is_a_600_by_450_png_and_changes_with_its_data():
    observed = [SliObservation(day(i), b, 100.0) for i, b in enumerate([5] * 10 + [40] * 4)]
    chart = slo_chart(slo_timeline(RECALL, observed))
    calm = slo_chart(slo_timeline(RECALL, observed[:10]))
    assert _png_size(chart) == (600, 450)
    assert 5_000 < len(chart) < 150_000
    assert chart != calm
