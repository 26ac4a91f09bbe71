"""The SLO replay on a simulated stream with a known truth: calibrated probabilities, a covariate
shift on day 15 that moves positives below the threshold, labels arriving 10 days late."""

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest

from binclf.monitor.slo_replay import ScoredDay, replay_slo
from binclf.spec import SloDefinition

START, CHANGE, DAYS, ROWS, THRESHOLD = date(2026, 3, 1), 15, 30, 4000, 0.1
# recall is 0.93 before the change and 0.5 after; 8 % of positives may be missed, so the burn
# goes from 0.9 to 6.2, above the fast rule's 4.67 once the 3-day window is past the change.
RECALL = SloDefinition(name="recall", sli="recall", objective=0.92)


def stream(delay_days: int, seed: int = 0) -> list[ScoredDay]:
    rng = np.random.default_rng(seed)
    days = []
    for i in range(DAYS):
        day = START + timedelta(days=i)
        # before: most positive mass above the threshold; after: most of it below
        p = rng.beta(2.0, 8.0, ROWS) if i < CHANGE else rng.beta(1.0, 16.0, ROWS)
        y = rng.random(ROWS) < p  # calibrated: P(y | p) = p before and after
        end = datetime.combine(day + timedelta(days=1), time(0), UTC).timestamp()
        known_at = np.full(ROWS, end + delay_days * 86_400.0)
        days.append(ScoredDay(day, p, p >= THRESHOLD, y, known_at))
    return days


def first_alarm(rows, attribute: str) -> int | None:
    return next((i for i, r in enumerate(rows) if getattr(r, attribute) is not None), None)


def test_the_estimate_raises_the_alarm_days_before_the_labels_do():
    rows = replay_slo(RECALL, stream(delay_days=10), costs=(1.0, 1.0))

    blended = first_alarm(rows, "blended_severity")
    assert blended is not None and CHANGE <= blended <= CHANGE + 2
    assert rows[CHANGE + 2].blended_severity == "page"
    assert rows[CHANGE].blended_sli > RECALL.objective > rows[CHANGE + 1].blended_sli
    # labels alone confirm it only once the labels of the changed days are in, and their burn
    # windows (the last 1 to 7 days) never hold a label, so they cannot page at all
    confirmed = next(i for i, r in enumerate(rows) if (r.labels_only_sli or 1) < RECALL.objective)
    assert confirmed >= CHANGE + 10
    assert first_alarm(rows, "labels_only_severity") is None
    # before the change neither monitor alerts
    assert all(r.blended_severity is None and r.labels_only_severity is None for r in rows[:CHANGE])
    # the day's estimate is known that day and lands near the truth the labels show later
    errors = [abs(r.estimated - r.realized) for r in rows]
    assert np.mean(errors) < 0.03
    assert rows[CHANGE].estimated < RECALL.objective < rows[CHANGE - 1].estimated


def test_with_labels_known_at_once_both_monitors_agree():
    rows = replay_slo(RECALL, stream(delay_days=0), costs=(1.0, 1.0))
    for row in rows:
        assert row.blended_sli == pytest.approx(row.labels_only_sli)
        assert row.blended_severity == row.labels_only_severity


def test_a_day_based_sli_cannot_be_replayed():
    pr_auc = SloDefinition(name="p", sli="pr_auc", objective=0.3)
    with pytest.raises(ValueError, match="count-based SLI, got 'pr_auc'"):
        replay_slo(pr_auc, stream(0)[:2], costs=(1.0, 1.0))
