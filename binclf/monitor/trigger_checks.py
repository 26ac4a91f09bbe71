"""The decision type, input checks and the cooldown rule shared by the retraining decisions
in `triggers`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Literal, Protocol

DecisionCode = Literal[
    "drift_persistent",
    "no_persistent_drift",
    "no_partitions",
    "labels_ready",
    "not_enough_labels",
    "labels_late",
    "no_new_labels",
    "cooldown",
    "slo_page_burn",
    "no_slo_page_burn",
    "training_pending",
]


@dataclass(frozen=True)
class TriggerDecision:
    """Whether to request a training run, why, and the idempotency key of that run."""

    run: bool
    code: DecisionCode
    reason: str
    run_key: str | None
    cursor: str | None = None  # when run: what the sensor stores to not trigger on it again


class DriftSummary(Protocol):
    """What the checks read of a partition's drift summary."""

    @property
    def partition_key(self) -> str: ...
    @property
    def share_drifted(self) -> float: ...
    @property
    def n_rows(self) -> int: ...


class TriggerInputError(ValueError):
    """Trigger inputs that cannot be decided on; the message names the bad value."""


def cooldown_reason(
    last_training_at: datetime | None, *, now: datetime, cooldown: timedelta
) -> str | None:
    if last_training_at is None:
        return None
    elapsed = now - last_training_at
    if elapsed >= cooldown:
        return None
    return (
        f"in cooldown: last training {hours(elapsed)} ago at {last_training_at.isoformat()}, "
        f"cooldown {hours(cooldown)}"
    )


def hours(span: timedelta) -> str:
    return f"{span / timedelta(hours=1):.1f} h"


def check_times(*, last_training_at: datetime | None, now: datetime, cooldown: timedelta) -> None:
    if now.tzinfo is None:
        raise TriggerInputError(f"now must be timezone-aware, got {now.isoformat()}")
    if last_training_at is not None:
        if last_training_at.tzinfo is None:
            raise TriggerInputError(
                f"last_training_at must be timezone-aware, got {last_training_at.isoformat()}"
            )
        if last_training_at > now:
            raise TriggerInputError(
                f"last_training_at {last_training_at.isoformat()} is after now {now.isoformat()}"
            )
    if cooldown < timedelta(0):
        raise TriggerInputError(f"cooldown must be non-negative, got {cooldown}")


def check_history(history: Sequence[DriftSummary]) -> None:
    """Partitions in ascending order, shares in [0, 1], non-negative row counts."""
    for before, after in pairwise(history):
        if not before.partition_key < after.partition_key:
            raise TriggerInputError(
                "history must be in ascending partition order without duplicates: "
                f"{before.partition_key!r} then {after.partition_key!r}"
            )
    for partition in history:
        if not 0.0 <= partition.share_drifted <= 1.0:
            raise TriggerInputError(
                f"partition {partition.partition_key!r}: share_drifted must be in [0, 1], "
                f"got {partition.share_drifted}"
            )
        if partition.n_rows < 0:
            raise TriggerInputError(
                f"partition {partition.partition_key!r}: n_rows must be non-negative, "
                f"got {partition.n_rows}"
            )


def run_unless_cooling_down(
    *,
    code: DecisionCode,
    reason: str,
    run_key: str,
    cursor: str,
    evidence: str,
    cooling: str | None,
    training_pending: bool = False,
) -> TriggerDecision:
    """The run a trigger asks for, unless a training run is already queued or running (another
    trigger may have asked for it on the same evidence) or the last training is within the
    cooldown (`cooling` says how, from `cooldown_reason`)."""
    if training_pending:
        return TriggerDecision(
            run=False,
            code="training_pending",
            reason=f"{evidence}, but a training run is already queued or running",
            run_key=None,
        )
    if cooling:
        return TriggerDecision(
            run=False, code="cooldown", reason=f"{evidence}, but {cooling}", run_key=None
        )
    return TriggerDecision(run=True, code=code, reason=reason, run_key=run_key, cursor=cursor)
