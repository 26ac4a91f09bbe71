"""Label status of each day of a run, and the run's totals the label sensor reads.

A run over a range reads one day at a time and looks up each scoring version's training cutoff
once; the totals are sums over every day of the run, never the newest day's alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from binclf.ingest.sources import fresh_labels
from binclf.io.partition_store import PartitionStore
from binclf.monitor.drift_days import scoring_version
from binclf.monitor.label_arrivals import SEEN_COLUMN, record_first_seen
from binclf.monitor.labels import label_status
from binclf.spec import DatasetSpec


@dataclass(frozen=True)
class LabelRunTotals:
    """Labels over every day of a run."""

    partitions: int
    rows: int
    labeled: int
    labeled_since_training: int
    oldest_unlabeled_age_hours: float

    @property
    def coverage(self) -> float:
        return self.labeled / self.rows if self.rows else 0.0


def label_status_by_day(
    spec: DatasetSpec,
    scores: Mapping[str, pl.LazyFrame],
    training_cutoff: Callable[[str], datetime | None],
    *,
    as_of: datetime,
    tolerated_unlabeled_share: float,
    arrivals: PartitionStore | None = None,
) -> dict[str, dict[str, Any]]:
    """Each day's label status against the labels the source has now, in partition order.

    `training_cutoff(version)` is the label cutoff the version that scored a day trained with;
    labels after it are new evidence for a retrain. Without `label_time_column`, a label is
    dated by the run that first saw it, recorded in `arrivals` (see `label_arrivals`); without
    that store (or an id to join labels on) arrivals cannot be dated and nothing counts as new.
    """
    if spec.time_column is None:
        raise ValueError("label status needs time_column: a snapshot has no event times")
    cutoffs: dict[str, datetime | None] = {}
    results: dict[str, dict[str, Any]] = {}
    for key in sorted(scores):
        frame = scores[key].collect()
        version = scoring_version(frame, key) if frame.height else ""  # "": a day without rows
        if version not in cutoffs:
            cutoffs[version] = training_cutoff(version) if version else None
        labels = fresh_labels(spec, key)
        label_time = spec.label_time_column
        if labels is not None:
            frame = frame.drop(labels.columns[1:]).join(labels, on=spec.id_column, how="left")
            if label_time is None and arrivals is not None and spec.id_column:
                aware = getattr(frame[spec.time_column].dtype, "time_zone", None) is not None
                record = record_first_seen(
                    arrivals,
                    key,
                    labels,
                    id_column=spec.id_column,
                    target=spec.target,
                    seen_at=as_of,
                    aware=aware,
                )
                frame = frame.join(record, on=spec.id_column, how="left")
                label_time = SEEN_COLUMN
        results[key] = label_status(
            frame,
            target=spec.target,
            positive=spec.positive,
            time_column=spec.time_column,
            label_time_column=label_time,
            as_of=as_of,
            # without label times an arrival cannot be dated, so nothing counts as "since"
            since=cutoffs[version] if label_time else None,
            tolerated_unlabeled_share=tolerated_unlabeled_share,
            weight_column=spec.weight_column,
        )
    return results


def label_run_totals(results: Mapping[str, Mapping[str, Any]]) -> LabelRunTotals:
    """Totals over every day of a run (not the newest day's numbers)."""
    ages = [r["oldest_unlabeled_age_hours"] for r in results.values()]
    return LabelRunTotals(
        partitions=len(results),
        rows=sum(int(r["n_rows"]) for r in results.values()),
        labeled=sum(int(r["n_labeled"]) for r in results.values()),
        labeled_since_training=sum(int(r.get("n_labeled_since") or 0) for r in results.values()),
        oldest_unlabeled_age_hours=max((a for a in ages if a is not None), default=0.0),
    )
