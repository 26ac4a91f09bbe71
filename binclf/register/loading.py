"""Loading a registered model version and scoring events with it.

A version is loaded only after the registry verified every checksum; nothing executable is
read. Scores always carry the version that made them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from binclf.register.registry import Registry, RegistryError
from binclf.stats.profiles import ReferenceProfile
from binclf.train.bundle import ScoringBundle

REFERENCE_PROFILE_FILE = "reference_profile.json"
REFERENCE_SAMPLE_FILE = "reference_sample.parquet"
CARD_FILE = "card.json"


class NoChampionError(RegistryError):
    """Scoring was asked for before any version became champion."""


@dataclass(frozen=True)
class ServingModel:
    """A verified model version: its scoring bundle, drift reference and card."""

    version: str
    bundle: ScoringBundle
    reference: ReferenceProfile
    reference_sample: pl.DataFrame
    card: dict[str, Any]


def load_version(registry: Registry, dataset: str, version: str) -> ServingModel:
    """Load one version after checking every file against its manifest."""
    files = registry.open_files(dataset, version)
    return ServingModel(
        version=version,
        bundle=ScoringBundle.from_files(files),
        reference=ReferenceProfile.from_dict(json.loads(files[REFERENCE_PROFILE_FILE])),
        reference_sample=pl.read_parquet(io.BytesIO(files[REFERENCE_SAMPLE_FILE])),
        card=json.loads(files[CARD_FILE]),
    )


def load_champion(registry: Registry, dataset: str) -> ServingModel:
    """The current champion of a dataset, verified."""
    version = registry.champion(dataset)
    if version is None:
        raise NoChampionError(
            f"dataset {dataset!r} has no champion model yet: run training_job first"
        )
    return load_version(registry, dataset, version)


def champion_study(registry: Registry, dataset: str) -> str | None:
    """The optuna study that found the current champion (from its verified card), if any.

    A retrain warm-starts its search from it (`binclf.train.search.warm`).
    """
    version = registry.champion(dataset)
    if version is None:
        return None
    card = json.loads(registry.open_files(dataset, version, [CARD_FILE])[CARD_FILE])
    study = card.get("search", {}).get("study")
    return study if isinstance(study, str) else None
