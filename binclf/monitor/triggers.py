"""Retraining decisions: plain functions of monitoring metadata that sensors call.

A sensor only reads stored metadata (drift shares, label counts, the last training time) and
passes it here; nothing heavy runs in a sensor. Each decision carries a machine-readable `code`,
a human-readable `reason`, and, when it asks for a run, a `run_key` derived only from the
evidence that triggered it, so evaluating the same evidence twice yields the same key and
Dagster starts the run once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from binclf.monitor.trigger_checks import (
    TriggerDecision,
    TriggerInputError,
    check_history,
    check_times,
    cooldown_reason,
    hours,
    run_unless_cooling_down,
)

# SLIs of the model's predictions: a burn of these is evidence against the model, and a retrain
# can fix it. Coverage and freshness burns are the pipeline's problem, not the model's.
PERFORMANCE_SLIS = frozenset(
    {"recall", "precision", "false_positive_rate", "false_negative_rate", "expected_cost"}
    | {"pr_auc", "ece"}
)


@dataclass(frozen=True)
class LabelEvidence:
    """What the label sensor remembers of its last request: the record, champion and labels."""

    record: str
    champion: str | None
    labels: int

    def to_cursor(self) -> str:
        return json.dumps({"record": self.record, "champion": self.champion, "labels": self.labels})

    @classmethod
    def from_cursor(cls, cursor: str | None) -> LabelEvidence | None:
        """The remembered evidence; None for no cursor or one of an older form."""
        try:
            data = json.loads(cursor or "")
            return cls(str(data["record"]), data["champion"], int(data["labels"]))
        except (ValueError, TypeError, KeyError):
            return None

    def seen_for(self, record: str, champion: str | None) -> int | None:
        """Labels the last request saw, if it was about the same champion and another record
        (the same record asks again with the same run key, which Dagster deduplicates)."""
        return self.labels if champion == self.champion and record != self.record else None


@dataclass(frozen=True)
class PartitionDrift:
    """The drift summary of one partition against the current champion's reference."""

    partition_key: str
    share_drifted: float
    n_rows: int
    model_version: str | None = None  # the version whose reference it was measured against


def drift_retrain_decision(
    history: Sequence[PartitionDrift],
    *,
    share_threshold: float,
    consecutive: int,
    min_rows: int,
    last_training_at: datetime | None,
    now: datetime,
    cooldown: timedelta,
    last_triggered_key: str | None = None,
    champion: str | None = None,
    training_pending: bool = False,
) -> TriggerDecision:
    """Request training when the last `consecutive` partitions with volume all drifted.

    `history` is in partition order (keys ascending, as ISO dates are). A partition drifted when
    its share of drifted features is >= `share_threshold`. Partitions with fewer than
    `min_rows` rows neither count toward the streak nor break it: their drift share is too noisy
    to confirm or refute the drift around them. Partitions up to `last_triggered_key` (the sensor's
    cursor: the `cursor` of the last decision that ran) already triggered a run and are ignored.
    No run within `cooldown` of the last training, nor while a training run is queued or running
    (the SLO or label sensor may have asked for it). The run key names the first and last
    partition of the triggering streak. With a `champion`, only partitions measured against that
    version count: drift against a retired champion is history, not evidence against the new one.
    """
    check_times(last_training_at=last_training_at, now=now, cooldown=cooldown)
    if not 0.0 < share_threshold <= 1.0:
        raise TriggerInputError(f"share_threshold must be in (0, 1], got {share_threshold}")
    if consecutive < 1:
        raise TriggerInputError(f"consecutive must be at least 1, got {consecutive}")
    if min_rows < 0:
        raise TriggerInputError(f"min_rows must be non-negative, got {min_rows}")
    check_history(history)

    fresh = [
        p
        for p in history
        if (last_triggered_key is None or p.partition_key > last_triggered_key)
        and (champion is None or p.model_version in (None, champion))
    ]
    with_volume = [p for p in fresh if p.n_rows >= min_rows]
    low_volume = [p.partition_key for p in fresh if p.n_rows < min_rows]
    skipped = f"; skipped for low volume (< {min_rows} rows): {low_volume}" if low_volume else ""
    if not with_volume:
        return TriggerDecision(
            run=False,
            code="no_partitions",
            reason=f"no new partition with at least {min_rows} rows{skipped}",
            run_key=None,
        )

    streak: list[PartitionDrift] = []
    for partition in reversed(with_volume):
        if partition.share_drifted < share_threshold or len(streak) == consecutive:
            break
        streak.append(partition)
    latest = with_volume[-1]
    if len(streak) < consecutive:
        return TriggerDecision(
            run=False,
            code="no_persistent_drift",
            reason=(
                f"{len(streak)} of {consecutive} consecutive partitions with drift share >= "
                f"{share_threshold} (latest {latest.partition_key}: "
                f"{latest.share_drifted:.2f}){skipped}"
            ),
            run_key=None,
        )

    first, last = streak[-1].partition_key, streak[0].partition_key
    evidence = f"drift share >= {share_threshold} in {consecutive} partitions {first}..{last}"
    return run_unless_cooling_down(
        code="drift_persistent",
        reason=evidence + skipped,
        run_key=f"drift:{first}..{last}",
        cursor=last,
        evidence=evidence,
        cooling=cooldown_reason(last_training_at, now=now, cooldown=cooldown),
        training_pending=training_pending,
    )


@dataclass(frozen=True)
class SloBurnEvidence:
    """An SLO's burn as of its newest day, as `slo_status` records it for the retrain sensor."""

    slo: str
    sli: str
    as_of: str  # ISO day of the newest partition in the SLO's window
    severity: str | None  # page, ticket or None
    volume: float  # valid events in the smaller window of the fast (page) rule
    min_volume: float
    model_version: str | None = None  # the version that scored the newest day

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SloBurnEvidence:
        return cls(
            str(data["slo"]),
            str(data["sli"]),
            str(data["as_of"]),
            data.get("severity"),
            float(data["volume"]),
            float(data["min_volume"]),
            data.get("model_version"),
        )


def slo_retrain_decision(
    burns: Sequence[SloBurnEvidence],
    *,
    last_training_at: datetime | None,
    now: datetime,
    cooldown: timedelta,
    last_triggered_day: str | None = None,
    champion: str | None = None,
    training_pending: bool = False,
) -> TriggerDecision:
    """Request training when a performance SLO burns at page level (the fast burn rule).

    Only SLIs in `PERFORMANCE_SLIS` count. The rules mirror the drift decision: a burn whose
    fast-rule window has fewer than `min_volume` valid events does not count; a day up to
    `last_triggered_day` (the sensor's cursor) already triggered a run; with a `champion`, burns
    on days scored by another version are history. No run within `cooldown` of the last training,
    nor while a training run is queued or running (the drift or label sensor may have asked for
    it on the same evidence). The run key names the burning SLOs and the day.
    """
    check_times(last_training_at=last_training_at, now=now, cooldown=cooldown)
    for burn in burns:
        if burn.severity not in (None, "page", "ticket"):
            raise TriggerInputError(f"SLO {burn.slo!r}: severity must be page, ticket or None")
        if burn.volume < 0 or burn.min_volume < 0:
            raise TriggerInputError(f"SLO {burn.slo!r}: volumes must be non-negative")
    fresh = [
        b
        for b in burns
        if b.sli in PERFORMANCE_SLIS
        and (last_triggered_day is None or b.as_of > last_triggered_day)
        and (champion is None or b.model_version in (None, champion))
    ]
    paging = [b for b in fresh if b.severity == "page"]
    with_volume = [b for b in paging if b.volume >= b.min_volume]
    low = [b.slo for b in paging if b.volume < b.min_volume]
    skipped = f"; skipped for low volume: {low}" if low else ""
    if not with_volume:
        tickets = sorted(b.slo for b in fresh if b.severity == "ticket")
        also = f" (slow burn, ticket only: {', '.join(tickets)})" if tickets else ""
        return TriggerDecision(
            run=False,
            code="no_slo_page_burn",
            reason=f"no new page-level burn of a performance SLO{also}{skipped}",
            run_key=None,
        )
    names = sorted(b.slo for b in with_volume)
    day = max(b.as_of for b in with_volume)
    evidence = f"SLO {', '.join(names)} burning fast (page) as of {day}"
    return run_unless_cooling_down(
        code="slo_page_burn",
        reason=evidence + skipped,
        run_key=f"slo:{'+'.join(names)}@{day}",
        cursor=day,
        evidence=evidence,
        cooling=cooldown_reason(last_training_at, now=now, cooldown=cooldown),
        training_pending=training_pending,
    )


def label_retrain_decision(
    new_labeled_rows: int,
    label_coverage: float | None,
    *,
    min_new_labels: int,
    min_coverage: float,
    last_training_at: datetime | None,
    now: datetime,
    cooldown: timedelta,
    oldest_unlabeled_age: timedelta | None,
    label_sla: timedelta,
    cursor: str,
    labels_seen: int | None = None,
) -> TriggerDecision:
    """Request training when enough labels arrived since the last training.

    Enough means `new_labeled_rows >= min_new_labels`, or a label coverage of the events since
    the last training of at least `min_coverage` with at least one new label. Labels late beyond
    `label_sla` (the oldest awaited label has waited longer, e.g. `label_status`'s
    `oldest_unlabeled_age_hours`) block training: the labeled rows would then be a biased sample,
    and the label feed needs attention. No run within `cooldown` of the last training. The run
    key is derived from `cursor`, an identifier of the label evidence evaluated (e.g. the newest
    label time or the storage id of the newest label-status record). `labels_seen` is what the
    last requested run saw of the same champion's evidence: a run that trained on it (and was
    perhaps rejected by the gates) is not asked for again until more labels arrived.
    """
    check_times(last_training_at=last_training_at, now=now, cooldown=cooldown)
    if new_labeled_rows < 0:
        raise TriggerInputError(f"new_labeled_rows must be non-negative, got {new_labeled_rows}")
    if label_coverage is not None and not 0.0 <= label_coverage <= 1.0:
        raise TriggerInputError(f"label_coverage must be in [0, 1], got {label_coverage}")
    if min_new_labels < 1:
        raise TriggerInputError(f"min_new_labels must be at least 1, got {min_new_labels}")
    if not 0.0 < min_coverage <= 1.0:
        raise TriggerInputError(f"min_coverage must be in (0, 1], got {min_coverage}")
    if label_sla <= timedelta(0):
        raise TriggerInputError(f"label_sla must be positive, got {label_sla}")
    if not cursor:
        raise TriggerInputError("cursor must be a non-empty identifier of the label evidence")

    if oldest_unlabeled_age is not None and oldest_unlabeled_age > label_sla:
        return TriggerDecision(
            run=False,
            code="labels_late",
            reason=(
                f"labels late: the oldest awaited label has waited {hours(oldest_unlabeled_age)}"
                f", beyond the SLA of {hours(label_sla)}; check the label feed"
            ),
            run_key=None,
        )
    coverage_text = f"{label_coverage:.1%}" if label_coverage is not None else "unknown"
    evidence = f"{new_labeled_rows} new labeled rows, coverage {coverage_text}"
    enough_rows = new_labeled_rows >= min_new_labels
    enough_coverage = (
        new_labeled_rows > 0 and label_coverage is not None and label_coverage >= min_coverage
    )
    if not (enough_rows or enough_coverage):
        return TriggerDecision(
            run=False,
            code="not_enough_labels",
            reason=(
                f"{evidence}: below {min_new_labels} new rows and coverage below {min_coverage:.1%}"
            ),
            run_key=None,
        )
    if labels_seen is not None and new_labeled_rows <= labels_seen:
        return TriggerDecision(
            run=False,
            code="no_new_labels",
            reason=(
                f"{evidence}: no label beyond the {labels_seen} the last requested training "
                "already saw"
            ),
            run_key=None,
        )
    in_cooldown = cooldown_reason(last_training_at, now=now, cooldown=cooldown)
    if in_cooldown:
        return TriggerDecision(
            run=False, code="cooldown", reason=f"{evidence}, but {in_cooldown}", run_key=None
        )
    return TriggerDecision(
        run=True, code="labels_ready", reason=evidence, run_key=f"labels:{cursor}", cursor=cursor
    )
