"""The SLO retrain decision: a page-level burn of a performance SLO asks for training once, under
the drift decision's volume, dedupe, champion and cooldown rules."""

from datetime import UTC, datetime, timedelta

import pytest

from binclf.monitor.triggers import SloBurnEvidence, TriggerInputError, slo_retrain_decision

NOW = datetime(2026, 4, 20, 12, tzinfo=UTC)
DAY = "2026-04-19"


def burn(slo="recall", severity="page", *, sli=None, as_of=DAY, volume=200.0, version=None):
    return SloBurnEvidence(slo, sli or slo, as_of, severity, volume, 30.0, version)


def decide(burns, **overrides):
    arguments = {"last_training_at": NOW - timedelta(days=3), "now": NOW, "cooldown": timedelta(1)}
    return slo_retrain_decision(burns, **(arguments | overrides))


@pytest.mark.parametrize(
    ("case", "burns", "overrides", "code", "run_key"),
    [
        ("nothing burning", [burn(severity=None), burn("precision", None)], {},
         "no_slo_page_burn", None),
        ("slow burn only: a ticket, no retrain", [burn(severity="ticket")], {},
         "no_slo_page_burn", None),
        ("fast burn of recall", [burn(), burn("precision", None)], {}, "slo_page_burn",
         f"slo:recall@{DAY}"),
        ("two SLOs burning fast", [burn("precision"), burn()], {}, "slo_page_burn",
         f"slo:precision+recall@{DAY}"),
        ("ECE counts as performance", [burn("ece")], {}, "slo_page_burn", f"slo:ece@{DAY}"),
        ("coverage is the pipeline's problem", [burn("label_coverage"), burn("decision_coverage")],
         {}, "no_slo_page_burn", None),
        ("freshness is the pipeline's problem", [burn("scoring_freshness")], {},
         "no_slo_page_burn", None),
        ("below the volume gate", [burn(volume=29.0)], {}, "no_slo_page_burn", None),
        ("day already acted on", [burn()], {"last_triggered_day": DAY}, "no_slo_page_burn", None),
        ("a newer day after the cursor", [burn()], {"last_triggered_day": "2026-04-18"},
         "slo_page_burn", f"slo:recall@{DAY}"),
        ("scored by a retired champion", [burn(version="v0001")], {"champion": "v0002"},
         "no_slo_page_burn", None),
        ("scored by the champion", [burn(version="v0002")], {"champion": "v0002"},
         "slo_page_burn", f"slo:recall@{DAY}"),
        ("cooldown", [burn()], {"last_training_at": NOW - timedelta(hours=2)}, "cooldown", None),
        ("never trained", [burn()], {"last_training_at": None}, "slo_page_burn",
         f"slo:recall@{DAY}"),
        ("a training already queued", [burn()], {"training_pending": True}, "training_pending",
         None),
        ("no SLO at all", [], {}, "no_slo_page_burn", None),
    ],
)  # fmt: skip
def test_slo_retrain_decision(case, burns, overrides, code, run_key):
    decision = decide(burns, **overrides)
    assert decision.code == code, case
    assert decision.run == (code == "slo_page_burn"), case
    assert decision.run_key == run_key, case
    assert decision.cursor == (DAY if decision.run else None), case
    assert decision.reason


def test_the_reason_names_the_burning_slo_the_day_and_what_was_skipped():
    decision = decide([burn(), burn("precision", volume=3.0), burn("fpr", "ticket", sli="ece")])
    assert decision.reason == (
        f"SLO recall burning fast (page) as of {DAY}; skipped for low volume: ['precision']"
    )
    held = decide([burn(), burn("fpr", "ticket", sli="ece")], last_triggered_day=DAY)
    assert held.reason == "no new page-level burn of a performance SLO"
    ticket = decide([burn("fpr", "ticket", sli="false_positive_rate")])
    assert "ticket only: fpr" in ticket.reason


def test_the_same_evidence_gives_the_same_run_key_and_its_cursor_stops_a_rerun():
    first, again = decide([burn()]), decide([burn()])
    assert first.run_key == again.run_key
    assert not decide([burn()], last_triggered_day=first.cursor).run
    assert decide([burn(as_of="2026-04-20")], last_triggered_day=first.cursor).run


@pytest.mark.parametrize(
    ("burns", "overrides", "message"),
    [
        ([burn(severity="warn")], {}, "severity must be page, ticket or None"),
        ([burn(volume=-1.0)], {}, "volumes must be non-negative"),
        ([burn()], {"now": datetime(2026, 4, 20)}, "now must be timezone-aware"),
        ([burn()], {"cooldown": timedelta(hours=-1)}, "cooldown must be non-negative"),
    ],
)
def test_bad_inputs_are_refused_with_the_bad_value_named(burns, overrides, message):
    with pytest.raises(TriggerInputError, match=message):
        decide(burns, **overrides)


def test_evidence_round_trips_through_its_stored_form():
    evidence = burn(version="v0003")
    stored = {**evidence.__dict__}
    assert SloBurnEvidence.from_dict(stored) == evidence
