"""Splits: disjoint, time-ordered or stratified, with test rows fixed by the split column."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from binclf.spec import spec_from_dict
from binclf.train.splits import SPLIT_COLUMN, SPLITS, SplitError, make_splits


def make_spec(**overrides):
    data = {
        "name": "rows",
        "source": {"kind": "parquet", "path": "rows.parquet"},
        "target": "label",
        "positive": "yes",
        "id_column": "row_id",
        **overrides,
    }
    return spec_from_dict(data)


def rows(n: int = 2_000, prevalence: float = 0.2, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "row_id": np.arange(n),
            # shuffled times, so order in the frame is not time order
            "event_time": [start + timedelta(minutes=int(m)) for m in rng.permutation(n)],
            "label": np.where(rng.random(n) < prevalence, "yes", "no"),
            "x": rng.normal(size=n),
            "origin": np.where(rng.random(n) < 0.3, "test", "train"),
        }
    )


def ids_by_split(frame: pl.DataFrame) -> dict[str, set[int]]:
    return {
        name: set(frame.filter(pl.col(SPLIT_COLUMN) == name)["row_id"].to_list()) for name in SPLITS
    }


@pytest.mark.parametrize(
    "overrides", [{}, {"time_column": "event_time"}, {"split_column": "origin"}]
)
def test_splits_are_disjoint_and_cover_every_row_once(overrides):
    frame = rows()
    split = make_splits(frame, make_spec(**overrides), seed=1)
    groups = ids_by_split(split)
    assert sum(len(g) for g in groups.values()) == frame.height
    assert set().union(*groups.values()) == set(frame["row_id"].to_list())
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not groups[a] & groups[b], (a, b)
    assert split.drop(SPLIT_COLUMN).equals(frame)


def test_time_ordered_splits_put_older_rows_before_newer_ones():
    split = make_splits(rows(), make_spec(time_column="event_time"))
    spans = {
        row[SPLIT_COLUMN]: (row["start"], row["end"])
        for row in split.group_by(SPLIT_COLUMN)
        .agg(start=pl.col("event_time").min(), end=pl.col("event_time").max())
        .iter_rows(named=True)
    }
    for earlier, later in itertools.pairwise(SPLITS):
        assert spans[earlier][1] < spans[later][0], (earlier, later)
    counts = split[SPLIT_COLUMN].value_counts()
    shares = dict(zip(counts[SPLIT_COLUMN], counts["count"] / split.height, strict=True))
    assert shares == pytest.approx(dict(zip(SPLITS, (0.6, 0.15, 0.1, 0.15), strict=True)), abs=1e-3)


def test_split_column_fixes_the_test_rows_and_the_rest_never_become_test():
    frame = rows()
    split = make_splits(frame, make_spec(split_column="origin", time_column="event_time"))
    is_test = split[SPLIT_COLUMN] == "test"
    assert (is_test == (split["origin"] == "test")).all()
    others = split.filter(~is_test)[SPLIT_COLUMN].value_counts()
    shares = dict(zip(others[SPLIT_COLUMN], others["count"] / others["count"].sum(), strict=True))
    assert shares == pytest.approx({"train": 0.6 / 0.85, "validation": 0.15 / 0.85,
                                    "calibration": 0.1 / 0.85}, abs=2e-3)  # fmt: skip


def test_snapshot_splits_are_stratified_by_target_and_seeded():
    frame = rows(n=3_000, prevalence=0.1)
    split = make_splits(frame, make_spec(), seed=5)
    prevalence = split.group_by(SPLIT_COLUMN).agg((pl.col("label") == "yes").mean())
    overall = (frame["label"] == "yes").mean()
    assert prevalence["label"].to_numpy() == pytest.approx(overall, abs=0.005)
    assert make_splits(frame, make_spec(), seed=5).equals(split)
    assert not make_splits(frame, make_spec(), seed=6).equals(split)


def test_a_single_class_split_is_an_error_naming_the_split():
    frame = rows(n=400).with_columns(
        label=pl.when(pl.col("event_time").rank() > 340).then(pl.lit("yes")).otherwise(pl.lit("no"))
    )
    with pytest.raises(SplitError, match="split 'train' has a single class"):
        make_splits(frame, make_spec(time_column="event_time"))


def test_a_split_column_without_test_rows_is_an_error_naming_the_test_split():
    frame = rows().with_columns(origin=pl.lit("train"))
    with pytest.raises(SplitError, match="split 'test' is empty"):
        make_splits(frame, make_spec(split_column="origin"))


@pytest.mark.parametrize(
    ("fractions", "message"),
    [((0.5, 0.2, 0.2), "one value per split"), ((0.7, 0.2, 0.2, 0.1), "sum to 1"),
     ((0.8, 0.2, 0.0, 0.0), "positive")],
)  # fmt: skip
def test_bad_fractions_are_rejected(fractions, message):
    with pytest.raises(SplitError, match=message):
        make_splits(rows(), make_spec(), fractions=fractions)
