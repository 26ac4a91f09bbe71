"""Scoring events with a verified model version; scores always carry the version that made them."""

from __future__ import annotations

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


def training_cutoff(model: ServingModel) -> datetime | None:
    """The label cutoff the version was trained with (None for snapshot data)."""
    cutoff = model.card.get("dataset", {}).get("cutoff")
    return datetime.fromisoformat(cutoff) if cutoff else None
