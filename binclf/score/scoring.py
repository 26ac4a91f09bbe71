"""Scoring events with a verified model version; scores always carry the version that made them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from binclf.register.loading import ServingModel

SCORE_COLUMNS = ("raw_score", "probability", "decision", "model_version")


def score_events(model: ServingModel, events: pl.DataFrame) -> pl.DataFrame:
    """The events with the model's raw score, calibrated probability, decision and version."""
    scored = model.bundle.score(events)
    return pl.concat(
        [
            events.drop([c for c in SCORE_COLUMNS if c in events.columns]),
            scored.select("raw_score", "probability", "decision"),
        ],
        how="horizontal",
    ).with_columns(pl.lit(model.version).alias("model_version"))


@dataclass(frozen=True)
class ScoredDay:
    """What one day's scores say at a glance: how many, by which version, how many flagged."""

    rows: int
    model_version: str
    flag_rate: float | None
    mean_probability: float | None


def summarize_scores(scores: pl.DataFrame, *, model_version: str) -> ScoredDay:
    """The rows, flag rate and mean calibrated probability of one day's scores (None if empty)."""
    if scores.height == 0:
        return ScoredDay(0, model_version, None, None)
    return ScoredDay(
        rows=scores.height,
        model_version=model_version,
        flag_rate=float(scores["decision"].mean()),
        mean_probability=float(scores["probability"].mean()),
    )


def training_cutoff(model: ServingModel) -> datetime | None:
    """The label cutoff the version was trained with (None for snapshot data)."""
    cutoff = model.card.get("dataset", {}).get("cutoff")
    return datetime.fromisoformat(cutoff) if cutoff else None
