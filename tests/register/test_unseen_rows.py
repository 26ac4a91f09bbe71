"""A snapshot retrained on a grown frame is compared only on rows the champion never saw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from binclf.register.comparison import decide_promotion
from binclf.register.gates import GateResult
from binclf.register.unseen_rows import (
    FITTED_SPLITS,
    TRAINED_ROWS_FILE,
    fitted_until_from_card,
    trained_rows_file,
    unseen_by_champion,
)
from binclf.spec import spec_from_dict
from binclf.train.features import target_vector
from binclf.train.inputs import split_summary
from binclf.train.splits import SPLIT_COLUMN, make_splits


def _spec(**overrides):
    return spec_from_dict(
        {
            "name": "snap",
            "source": {"kind": "parquet", "path": "s.parquet"},
            "target": "label",
            "positive": 1,
            **overrides,
        }
    )


def _rows(start: int, n: int) -> pl.DataFrame:
    rng = np.random.default_rng(start)
    return pl.DataFrame(
        {
            "row_id": np.arange(start, start + n),
            "x": rng.normal(size=n).round(6),
            "city": rng.choice(["a", "b", "c"], n),
            "label": (rng.random(n) < 0.25).astype(np.int8),
        }
    )


def _fitted_ids(splits: pl.DataFrame) -> set[int]:
    return set(splits.filter(pl.col(SPLIT_COLUMN).is_in(FITTED_SPLITS))["row_id"].to_list())


@pytest.mark.parametrize("id_column", ["row_id", None])
def test_no_row_of_the_comparison_set_was_seen_by_the_champion(id_column):
    spec = _spec(id_column=id_column)
    original = _rows(0, 3_000)
    champion_splits = make_splits(original, spec, seed=0)
    recorded = trained_rows_file(champion_splits, spec)
    grown = pl.concat([original, _rows(3_000, 1_500)])
    challenger_splits = make_splits(grown, spec, seed=0)
    test = challenger_splits.filter(pl.col(SPLIT_COLUMN) == "test")
    y = target_vector(test, spec)

    rows = unseen_by_champion(test, y, spec, recorded["trained_rows.parquet"], min_rows=100)

    assert rows.refusal is None
    compared = set(test.filter(pl.Series(rows.mask))["row_id"].to_list())
    champion_saw = _fitted_ids(champion_splits)
    assert not compared & champion_saw
    # Every seen test row was left out, and the split by key kept almost every old row in place.
    seen = set(test["row_id"].to_list()) & champion_saw
    assert rows.left_out == len(seen) < 0.03 * test.height
    assert len(compared) == test.height - len(seen) > 500


def test_a_random_resplit_would_have_tested_on_the_champions_rows():
    """What the key split prevents: a seeded permutation of the grown frame moves most rows."""
    original = _rows(0, 3_000)
    grown = pl.concat([original, _rows(3_000, 1_500)])
    champion_test = set(original.sample(fraction=0.15, seed=0)["row_id"].to_list())
    challenger_test = set(grown.sample(fraction=0.15, seed=0)["row_id"].to_list())
    old_rows_in_test = challenger_test & set(original["row_id"].to_list())
    assert len(old_rows_in_test - champion_test) > 0.7 * len(old_rows_in_test)


def test_the_comparison_is_refused_with_a_reason():
    spec = _spec(id_column="row_id")
    splits = make_splits(_rows(0, 2_000), spec, seed=0)
    test = splits.filter(pl.col(SPLIT_COLUMN) == "test")
    y = target_vector(test, spec)
    recorded = trained_rows_file(splits, spec)["trained_rows.parquet"]

    unknown = unseen_by_champion(test, y, spec, None, min_rows=10)
    assert unknown.mask is None and "recorded no training rows" in unknown.refusal

    too_few = unseen_by_champion(test, y, spec, recorded, min_rows=1_000)
    assert too_few.mask is None and "at least 1000 rows" in too_few.refusal

    no_ids = _spec()
    rekeyed = unseen_by_champion(test, y, no_ids, recorded, min_rows=10)
    assert rekeyed.mask is None and "keyed its rows by ['id:row_id']" in rekeyed.refusal

    gate = GateResult("min_roc_auc", True, 0.9, 0.7, "")
    decision = decide_promotion([gate], None, refusal=too_few.refusal)
    assert not decision.promote
    assert decision.reasons == ("COMPARISON_REFUSED",)
    assert decision.to_dict()["comparison_refused"] == too_few.refusal


def _days(first_day: int, days: int, per_day: int = 60) -> pl.DataFrame:
    frame = _rows(first_day * per_day, days * per_day)
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=first_day)
    at = [start + timedelta(days=i // per_day, minutes=i % per_day) for i in range(frame.height)]
    return frame.with_columns(pl.Series("at", at))


def test_time_partitioned_champion_is_compared_only_on_days_after_its_fitted_rows():
    """The champion's window (days 10-61) runs into the challenger's test days (51-59)."""
    spec = _spec(time_column="at")
    champion_splits = make_splits(_days(10, 52), spec, seed=0)
    recorded = trained_rows_file(champion_splits, spec)[TRAINED_ROWS_FILE]
    challenger_splits = make_splits(_days(0, 60), spec, seed=0)
    test = challenger_splits.filter(pl.col(SPLIT_COLUMN) == "test")
    y = target_vector(test, spec)

    rows = unseen_by_champion(test, y, spec, recorded, min_rows=100)

    assert rows.refusal is None
    fitted = champion_splits.filter(pl.col(SPLIT_COLUMN).is_in(FITTED_SPLITS))
    compared = test.filter(pl.Series(rows.mask))
    assert compared["at"].min() > fitted["at"].max()
    assert not set(compared["row_id"].to_list()) & _fitted_ids(champion_splits)
    assert rows.left_out == int((test["at"] <= fitted["at"].max()).sum()) > 0
    assert compared.height == test.height - rows.left_out


def test_a_champion_without_the_file_is_compared_by_its_cards_split_times():
    spec = _spec(time_column="at")
    champion_splits = make_splits(_days(10, 52), spec, seed=0)
    card = {"splits": split_summary(champion_splits, spec)}
    test = make_splits(_days(0, 60), spec, seed=0).filter(pl.col(SPLIT_COLUMN) == "test")
    y = target_vector(test, spec)
    from_file = unseen_by_champion(
        test, y, spec, trained_rows_file(champion_splits, spec)[TRAINED_ROWS_FILE], min_rows=10
    )
    from_card = unseen_by_champion(test, y, spec, fitted_until_from_card(card), min_rows=10)
    assert np.array_equal(from_card.mask, from_file.mask)
    assert (
        fitted_until_from_card(
            {"splits": split_summary(make_splits(_rows(0, 900), _spec(), seed=0), _spec())}
        )
        is None
    )


def test_too_few_later_days_or_no_record_refuse_and_say_what_to_do():
    spec = _spec(time_column="at")
    test = make_splits(_days(0, 40), spec, seed=0).filter(pl.col(SPLIT_COLUMN) == "test")
    y = target_vector(test, spec)
    later_champion = trained_rows_file(make_splits(_days(0, 60), spec, seed=0), spec)
    all_seen = unseen_by_champion(test, y, spec, later_champion[TRAINED_ROWS_FILE], min_rows=10)
    assert all_seen.mask is None and all_seen.left_out == test.height
    assert "0 test rows (0 positive) were after the champion's fitted rows" in all_seen.refusal
    for dataset in (spec, _spec(id_column="row_id")):
        unknown = unseen_by_champion(test, y, dataset, None, min_rows=10)
        assert unknown.mask is None and "binclf promote VERSION" in unknown.refusal
