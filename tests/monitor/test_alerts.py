"""Alert decisions: one message per condition, one resolution, cooldown, events sent once."""

from datetime import UTC, date, datetime, timedelta

from binclf.monitor.alerts import (
    AlertLedger,
    check_failed_condition,
    decide_alerts,
    run_failed_condition,
    slo_conditions,
)
from binclf.monitor.slo import SliObservation, slo_status
from binclf.spec import SloDefinition

NOW = datetime(2026, 4, 1, 6, tzinfo=UTC)
COOLDOWN = timedelta(hours=24)


def _burning_status():
    slo = SloDefinition(name="recall", sli="recall", objective=0.9)
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(28)]
    obs = [SliObservation(d, 60.0 if i >= 25 else 10.0, 100.0) for i, d in enumerate(days)]
    return slo_status(slo, obs, as_of=days[-1])


def _run(conditions, ledger, hours):
    return decide_alerts(conditions, ledger, now=NOW + timedelta(hours=hours), cooldown=COOLDOWN)


def test_a_burning_slo_pages_once_and_resolves_once():
    conditions = slo_conditions([_burning_status()], base_url="https://runbooks.example")
    assert {c.severity for c in conditions} == {"page", "ticket"}
    page = [c for c in conditions if c.severity == "page"]
    ledger = AlertLedger()
    sent = []
    for hour in range(5):
        messages, ledger = _run(page, AlertLedger.from_json(ledger.to_json()), hour)
        sent += messages
    assert [m.status for m in sent] == ["firing"]
    assert "SLO recall" in sent[0].text and "6.00x over 1 d" in sent[0].text
    assert "https://runbooks.example/docs/runbooks/slo-fast-burn.md" in sent[0].text
    assert sent[0].payload() == {"text": sent[0].text}
    cleared = []
    for hour in range(5, 8):
        messages, ledger = _run([], ledger, hour)
        cleared += messages
    assert [m.status for m in cleared] == ["resolved"]
    assert "recall" in cleared[0].text


def test_a_condition_back_within_the_cooldown_is_not_sent_again():
    condition = check_failed_condition("raw_events", "passes_validation", "partition x: ...")
    messages, ledger = _run([condition], AlertLedger(), 0)
    assert len(messages) == 1
    messages, ledger = _run([], ledger, 1)
    assert [m.status for m in messages] == ["resolved"]
    messages, ledger = _run([condition], ledger, 2)
    assert messages == []
    messages, ledger = _run([], ledger, 3)
    assert [m.status for m in messages] == ["resolved"]
    messages, ledger = _run([condition], ledger, 30)
    assert [m.status for m in messages] == ["firing"]


def test_severities_are_deduplicated_separately_and_failed_runs_are_sent_once():
    statuses = [_burning_status()]
    failed = run_failed_condition("abc123", "training_job", "step model_search failed")
    messages, ledger = _run([*slo_conditions(statuses), failed], AlertLedger(), 0)
    assert sorted(m.severity for m in messages) == ["page", "ticket", "ticket"]
    messages, ledger = _run([*slo_conditions(statuses), failed], ledger, 1)
    assert messages == []
    messages, ledger = _run(slo_conditions(statuses), ledger, 2)
    assert messages == []  # a failed run is an event: nothing to resolve
