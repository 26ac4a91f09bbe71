"""A snapshot retrained on a grown frame is compared only on rows the champion never saw."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from binclf.register.comparison import decide_promotion
from binclf.register.gates import GateResult
from binclf.register.unseen_rows import FITTED_SPLITS, trained_rows_file, unseen_by_champion
from binclf.spec import spec_from_dict
from binclf.train.features import target_vector
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


def test_time_partitioned_datasets_compare_every_test_row_and_record_no_keys():
    spec = _spec(time_column="at")
    assert trained_rows_file(pl.DataFrame({"at": [], SPLIT_COLUMN: []}), spec) == {}
    rows = unseen_by_champion(pl.DataFrame({"x": [1, 2]}), np.array([0, 1]), spec, None, min_rows=5)
    assert rows.mask.all() and rows.refusal is None
