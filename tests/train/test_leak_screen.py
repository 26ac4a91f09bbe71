"""The leak screen measures a categorical by its cross-fitted target encoding, not in sample."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from binclf.spec import spec_from_dict
from binclf.train.features import (
    FeatureSchema,
    infer_feature_schema,
    screen_features,
    single_feature_aucs,
)

ROWS = 10_000


def _frame() -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(5)
    y = (rng.random(ROWS) < 0.2).astype(np.int8)
    flips = rng.random(ROWS) < 0.005
    return (
        pl.DataFrame(
            {
                "account": [f"acct-{i:05d}" for i in rng.permutation(ROWS)],  # 10k levels
                "status": np.where((y == 1) ^ flips, "closed", "open"),  # planted leak
                "income": rng.normal(50 + 5 * y, 10.0),
                "outcome": np.where(y == 1, "bad", "good"),
            }
        ),
        y,
    )


def _spec():
    return spec_from_dict(
        {
            "name": "accounts",
            "source": {"kind": "parquet", "path": "a.parquet"},
            "target": "outcome",
            "positive": "bad",
            "negative": ["good"],
        }
    )


@pytest.mark.parametrize("all_levels", [False, True])
def test_an_id_like_column_without_signal_is_not_a_leak_and_a_planted_leak_is(all_levels):
    frame, y = _frame()
    schema = infer_feature_schema(frame, _spec())
    if all_levels:  # the encoding, not the schema's level cap, keeps the id honest
        schema = FeatureSchema(
            numeric=schema.numeric,
            categorical={
                **schema.categorical,
                "account": tuple(sorted(frame["account"].to_list())),
            },
        )
    aucs = single_feature_aucs(frame, y, schema, seed=3)
    kept, exclusions = screen_features(frame, y, schema, leak_auc=0.95, seed=3)
    assert aucs["account"] < 0.56, aucs
    assert aucs["status"] > 0.99, aucs
    assert [e["column"] for e in exclusions] == ["status"]
    assert "account" in kept.columns and "income" in kept.columns
    detail = exclusions[0]["detail"]
    assert "target-encoded on 5 cross-fitted folds" in detail and "> 0.95" in detail


def test_leak_screen_is_seeded():
    frame, y = _frame()
    schema = infer_feature_schema(frame, _spec())
    first = single_feature_aucs(frame, y, schema, seed=1)
    assert single_feature_aucs(frame, y, schema, seed=1) == first
