"""Shared fixtures: a tiny demo-like event table, a Parquet-file spec for it, a Dagster instance."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from binclf.spec import DatasetSpec, spec_from_dict

TINY_FIRST_DAY = date(2026, 3, 1)
TINY_DAYS = 5
TINY_ROWS_PER_DAY = 40
TINY_CHANNELS = ("app", "store", "web")
TINY_REGIONS = ("north", "south")


def tiny_events(
    *,
    first_day: date = TINY_FIRST_DAY,
    days: int = TINY_DAYS,
    rows_per_day: int = TINY_ROWS_PER_DAY,
) -> pl.DataFrame:
    """Demo-like events: unique ids, UTC event times inside their day, a yes/no target."""
    rng = np.random.default_rng(11)
    n = days * rows_per_day
    start = int(datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC).timestamp())
    seconds = start + np.repeat(np.arange(days), rows_per_day) * 86_400 + rng.integers(0, 86_400, n)
    times = pl.from_epoch(pl.Series(seconds), time_unit="s").dt.replace_time_zone("UTC")
    return pl.DataFrame(
        {
            "event_id": np.arange(1, n + 1, dtype=np.int64),
            "event_time": times.dt.cast_time_unit("us"),
            "label": np.where(rng.random(n) < 0.25, "yes", "no"),
            "amount": np.round(rng.lognormal(3.0, 0.5, n), 2),
            "channel": rng.choice(TINY_CHANNELS, n),
            "region": rng.choice(TINY_REGIONS, n),
        }
    )


def tiny_spec_dict(source_path: str = "events.parquet", **overrides: Any) -> dict[str, Any]:
    """A spec for `tiny_events` read from a Parquet file; top-level keys can be overridden."""
    end = TINY_FIRST_DAY + timedelta(days=TINY_DAYS)
    data: dict[str, Any] = {
        "name": "tiny_events",
        "source": {"kind": "parquet", "path": source_path},
        "target": "label",
        "positive": "yes",
        "negative": ["no"],
        "id_column": "event_id",
        "time_column": "event_time",
        "categorical": ["channel", "region"],
        "partitions": {"start_date": TINY_FIRST_DAY.isoformat(), "end_date": end.isoformat()},
        "validation": {"min_rows": 10, "reference_days": 2, "max_unseen_category_share": 0.05},
    }
    data.update(overrides)
    return data


@pytest.fixture(autouse=True)
def _no_binclf_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test depends on a developer's `BINCLF_*` settings; tests that need one set it."""
    for name in [n for n in os.environ if n.startswith("BINCLF_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def make_events() -> Callable[..., pl.DataFrame]:
    """A factory of tiny demo-like event tables (see `tiny_events`)."""
    return tiny_events


@pytest.fixture(scope="session")
def make_spec_dict() -> Callable[..., dict[str, Any]]:
    """A factory of tiny spec mappings (see `tiny_spec_dict`)."""
    return tiny_spec_dict


@pytest.fixture(scope="session")
def make_file_spec() -> Callable[..., DatasetSpec]:
    """A factory: the tiny spec reading from `folder`, after writing `frame` as events.parquet."""

    def make(folder: Path, frame: pl.DataFrame | None, **overrides: Any) -> DatasetSpec:
        folder.mkdir(parents=True, exist_ok=True)
        if frame is not None:
            frame.write_parquet(folder / "events.parquet")
        return spec_from_dict(tiny_spec_dict(**overrides), base_dir=folder)

    return make


@pytest.fixture
def state_root(tmp_path: Path) -> Path:
    """An empty pipeline state folder."""
    root = tmp_path / "state"
    root.mkdir()
    return root


@pytest.fixture(scope="module")
def dagster_instance() -> Iterator[Any]:
    """An in-memory Dagster instance shared by one test module."""
    from dagster import DagsterInstance

    instance = DagsterInstance.ephemeral()
    yield instance
    instance.dispose()
