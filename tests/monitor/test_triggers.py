from datetime import UTC, datetime, timedelta

import pytest

from binclf.monitor.triggers import (
    LabelEvidence,
    PartitionDrift,
    TriggerInputError,
    drift_retrain_decision,
    label_retrain_decision,
)

NOW = datetime(2026, 4, 10, 12, tzinfo=UTC)
LOW = 50  # rows: below MIN_ROWS
MIN_ROWS = 1_000


def history(*days: tuple[float, int]) -> list[PartitionDrift]:
    """Partitions 2026-04-01, 04-02, ... with (share_drifted, n_rows)."""
    return [
        PartitionDrift(partition_key=f"2026-04-{i + 1:02d}", share_drifted=share, n_rows=rows)
        for i, (share, rows) in enumerate(days)
    ]


def decide_drift(partitions, **overrides):
    arguments = {
        "share_threshold": 0.3,
        "consecutive": 3,
        "min_rows": MIN_ROWS,
        "last_training_at": None,
        "now": NOW,
        "cooldown": timedelta(days=7),
    }
    return drift_retrain_decision(partitions, **(arguments | overrides))


@pytest.mark.parametrize(
    ("case", "partitions", "overrides", "code", "run_key"),
    [
        ("below threshold", history((0.1, 2000), (0.2, 2000), (0.29, 2000)), {},
         "no_persistent_drift", None),
        ("K-1 drifted days", history((0.1, 2000), (0.5, 2000), (0.5, 2000)), {},
         "no_persistent_drift", None),
        ("K drifted days", history((0.1, 2000), (0.5, 2000), (0.4, 2000), (0.3, 2000)), {},
         "drift_persistent", "drift:2026-04-02..2026-04-04"),
        ("a clean day breaks the streak", history((0.5, 2000), (0.5, 2000), (0.1, 2000),
         (0.5, 2000)), {}, "no_persistent_drift", None),
        ("low volume does not count", history((0.5, 2000), (0.9, LOW), (0.5, 2000)), {},
         "no_persistent_drift", None),
        ("low volume does not break", history((0.5, 2000), (0.5, 2000), (0.0, LOW), (0.5, 2000)),
         {}, "drift_persistent", "drift:2026-04-01..2026-04-04"),
        ("only low volume", history((0.9, LOW), (0.9, LOW), (0.9, LOW)), {}, "no_partitions",
         None),
        ("no history", [], {}, "no_partitions", None),
        ("cooldown", history((0.5, 2000), (0.5, 2000), (0.5, 2000)),
         {"last_training_at": NOW - timedelta(days=2)}, "cooldown", None),
        ("cooldown elapsed", history((0.5, 2000), (0.5, 2000), (0.5, 2000)),
         {"last_training_at": NOW - timedelta(days=8)}, "drift_persistent",
         "drift:2026-04-01..2026-04-03"),
        ("already triggered", history((0.5, 2000), (0.5, 2000), (0.5, 2000), (0.5, 2000)),
         {"last_triggered_key": "2026-04-03"}, "no_persistent_drift", None),
        ("a training already queued", history((0.5, 2000), (0.5, 2000), (0.5, 2000)),
         {"training_pending": True}, "training_pending", None),
        ("a training queued, no drift", history((0.1, 2000), (0.1, 2000), (0.1, 2000)),
         {"training_pending": True}, "no_persistent_drift", None),
    ],
)  # fmt: skip
def test_drift_retrain_decision(case, partitions, overrides, code, run_key):
    decision = decide_drift(partitions, **overrides)
    assert decision.code == code, case
    assert decision.run == (code == "drift_persistent"), case
    assert decision.run_key == run_key, case
    assert decision.reason


def test_low_volume_partitions_are_named_in_the_reason():
    decision = decide_drift(history((0.5, 2000), (0.9, LOW), (0.5, 2000)))
    assert "2 of 3" in decision.reason
    assert "2026-04-02" in decision.reason


def test_duplicate_drift_evaluation_gives_the_same_run_key_and_the_cursor_stops_a_rerun():
    partitions = history((0.5, 2000), (0.5, 2000), (0.5, 2000))
    first, again = decide_drift(partitions), decide_drift(list(partitions))
    assert first.run and again.run
    assert first.run_key == again.run_key
    next_day = [*partitions, PartitionDrift("2026-04-04", 0.5, 2000)]
    assert not decide_drift(next_day, last_triggered_key=first.cursor).run


def decide_labels(new_labeled_rows, label_coverage, **overrides):
    arguments = {
        "min_new_labels": 500,
        "min_coverage": 0.8,
        "last_training_at": NOW - timedelta(days=3),
        "now": NOW,
        "cooldown": timedelta(days=1),
        "oldest_unlabeled_age": timedelta(days=10),
        "label_sla": timedelta(days=30),
        "cursor": "2026-04-10T06:00:00+00:00",
    }
    return label_retrain_decision(new_labeled_rows, label_coverage, **(arguments | overrides))


@pytest.mark.parametrize(
    ("case", "new_rows", "coverage", "overrides", "code"),
    [
        ("below both thresholds", 100, 0.3, {}, "not_enough_labels"),
        ("one row short", 499, 0.79, {}, "not_enough_labels"),
        ("enough new rows", 500, 0.3, {}, "labels_ready"),
        ("enough coverage", 100, 0.85, {}, "labels_ready"),
        ("coverage without a new label", 0, 0.95, {}, "not_enough_labels"),
        ("unknown coverage, enough rows", 800, None, {}, "labels_ready"),
        ("labels late", 800, 0.9, {"oldest_unlabeled_age": timedelta(days=31)}, "labels_late"),
        ("nothing awaited", 800, 1.0, {"oldest_unlabeled_age": None}, "labels_ready"),
        ("cooldown", 800, 0.9, {"last_training_at": NOW - timedelta(hours=2)}, "cooldown"),
        ("never trained", 800, 0.9, {"last_training_at": None}, "labels_ready"),
    ],
)
def test_label_retrain_decision(case, new_rows, coverage, overrides, code):
    decision = decide_labels(new_rows, coverage, **overrides)
    assert decision.code == code, case
    assert decision.run == (code == "labels_ready"), case
    expected_key = "labels:2026-04-10T06:00:00+00:00" if decision.run else None
    assert decision.run_key == expected_key, case


def test_late_labels_say_so_with_the_wait_and_the_sla():
    decision = decide_labels(800, 0.9, oldest_unlabeled_age=timedelta(days=31))
    assert "labels late" in decision.reason
    assert "744.0 h" in decision.reason and "720.0 h" in decision.reason


def test_duplicate_label_evaluation_gives_the_same_run_key():
    assert decide_labels(800, 0.9).run_key == decide_labels(800, 0.9).run_key
    assert decide_labels(800, 0.9).run_key != decide_labels(800, 0.9, cursor="later").run_key


def test_bad_trigger_inputs_are_rejected_by_name():
    with pytest.raises(TriggerInputError, match="ascending"):
        decide_drift(list(reversed(history((0.5, 2000), (0.5, 2000)))))
    with pytest.raises(TriggerInputError, match="now must be timezone-aware"):
        decide_drift([], now=datetime(2026, 4, 10))
    with pytest.raises(TriggerInputError, match="share_threshold"):
        decide_drift([], share_threshold=0.0)
    with pytest.raises(TriggerInputError, match="after now"):
        decide_drift([], last_training_at=NOW + timedelta(days=1))
    with pytest.raises(TriggerInputError, match="cursor"):
        decide_labels(800, 0.9, cursor="")
    with pytest.raises(TriggerInputError, match="label_coverage"):
        decide_labels(800, 1.5)


def test_drift_against_a_retired_champion_is_not_evidence_against_the_new_one() -> None:
    old = [PartitionDrift(f"2026-01-0{d}", 0.9, 1_000, model_version="v0001") for d in (1, 2, 3)]
    new = [PartitionDrift("2026-01-04", 0.9, 1_000, model_version="v0002")]
    settings = {
        "share_threshold": 0.3,
        "consecutive": 3,
        "min_rows": 100,
        "last_training_at": None,
        "now": datetime(2026, 1, 5, tzinfo=UTC),
        "cooldown": timedelta(0),
    }

    after_promotion = drift_retrain_decision([*old, *new], champion="v0002", **settings)
    before_promotion = drift_retrain_decision(old, champion="v0001", **settings)

    assert not after_promotion.run
    assert "1 of 3 consecutive partitions" in after_promotion.reason
    assert before_promotion.run


def test_labels_a_requested_training_already_saw_do_not_ask_again() -> None:
    settings = {
        "label_coverage": 0.5,
        "min_new_labels": 500,
        "min_coverage": 0.8,
        "last_training_at": None,
        "now": datetime(2026, 4, 10, tzinfo=UTC),
        "cooldown": timedelta(0),
        "oldest_unlabeled_age": None,
        "label_sla": timedelta(days=14),
        "cursor": "42",
    }

    same = label_retrain_decision(800, labels_seen=800, **settings)
    more = label_retrain_decision(801, labels_seen=800, **settings)

    assert not same.run and same.code == "no_new_labels"
    assert "beyond the 800" in same.reason
    assert more.run


def test_label_evidence_is_remembered_per_champion_and_record() -> None:
    evidence = LabelEvidence("42", "v0002", 800)
    back = LabelEvidence.from_cursor(evidence.to_cursor())

    assert back == evidence
    assert back.seen_for("43", "v0002") == 800
    assert back.seen_for("42", "v0002") is None  # the same record: the same run key again
    assert back.seen_for("43", "v0003") is None  # a new champion: its evidence starts afresh
    assert LabelEvidence.from_cursor("17") is None  # a cursor of the older form
