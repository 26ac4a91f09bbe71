"""Feature schema, model frame, target encoding, screening and trainability checks."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from binclf.spec import spec_from_dict
from binclf.train.features import (
    SPLIT_COLUMN,
    FeatureError,
    FeatureSchema,
    TargetError,
    TrainingDataError,
    check_trainable,
    infer_feature_schema,
    screen_features,
    single_feature_aucs,
    target_vector,
    to_model_frame,
)


def make_spec(**overrides):
    data = {
        "name": "people",
        "source": {"kind": "parquet", "path": "people.parquet"},
        "target": "outcome",
        "positive": "bad",
        "negative": ["good"],
        "id_column": "person_id",
        "weight_column": "weight",
        "sensitive": ["sex"],
        **overrides,
    }
    return spec_from_dict(data)


def people(n: int = 400, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 10, n)
    bad = rng.random(n) < 1 / (1 + np.exp((income - 50) / 5))
    return pl.DataFrame(
        {
            "person_id": np.arange(n),
            "outcome": np.where(bad, "bad", "good"),
            "weight": np.ones(n),
            "income": income,
            "age": rng.integers(18, 80, n),
            "sex": rng.choice(["f", "m"], n),
            "owns_home": rng.random(n) < 0.5,
            "zone": rng.integers(1, 4, n),
            "signup": [datetime(2026, 1, 1, tzinfo=UTC)] * n,
        }
    )


def test_schema_types_columns_and_keeps_sensitive_attributes_as_features():
    spec = make_spec(categorical=["zone"], features={"exclude": ["signup"]})
    frame = people().with_columns(pl.lit("train").alias(SPLIT_COLUMN))
    schema = infer_feature_schema(frame, spec)
    assert schema.numeric == ("income", "age")
    assert schema.categorical == {
        "sex": ("f", "m"),
        "owns_home": ("false", "true"),
        "zone": ("1", "2", "3"),
    }
    assert not set(schema.columns) & {"person_id", "outcome", "weight", SPLIT_COLUMN}


def test_schema_include_list_limits_the_features():
    schema = infer_feature_schema(people(), make_spec(features={"include": ["income", "sex"]}))
    assert schema.columns == ("income", "sex")


def test_schema_keeps_only_the_most_frequent_levels():
    frame = pl.DataFrame({"outcome": ["good"] * 6, "city": ["a", "a", "a", "b", "b", "c"]})
    spec = make_spec(id_column=None, weight_column=None, sensitive=[])
    assert infer_feature_schema(frame, spec, max_levels=2).categorical == {"city": ("a", "b")}


def test_schema_rejects_an_untyped_column_and_unknown_names():
    with pytest.raises(FeatureError, match="'signup' has type"):
        infer_feature_schema(people(), make_spec())
    with pytest.raises(
        FeatureError, match=r"features.exclude names columns not in the data: \['x'\]"
    ):
        infer_feature_schema(people(), make_spec(features={"exclude": ["x"]}))
    with pytest.raises(FeatureError, match="role columns"):
        infer_feature_schema(people(), make_spec(features={"include": ["income", "weight"]}))


def test_schema_round_trips_through_a_dict():
    schema = infer_feature_schema(people(), make_spec(features={"exclude": ["signup"]}))
    assert FeatureSchema.from_dict(schema.to_dict()) == schema


def test_model_frame_has_fixed_levels_and_unseen_or_null_values_become_missing():
    schema = FeatureSchema(numeric=("income",), categorical={"sex": ("f", "m")})
    frame = pl.DataFrame({"income": [1, None, 3], "sex": ["m", "x", None], "other": [0, 0, 0]})
    X = to_model_frame(frame, schema)
    assert list(X.columns) == ["income", "sex"]
    assert X["income"].dtype == np.float64
    assert np.isnan(X["income"][1])
    assert list(X["sex"].cat.categories) == ["f", "m"]
    assert X["sex"].tolist()[0] == "m"
    assert X["sex"].isna().tolist() == [False, True, True]


def test_model_frame_categoricals_match_pandas_from_strings_for_every_source_dtype():
    levels = ("a", "b", "c")
    values = ["c", None, "a", "z", "b", "a"]
    frame = pl.DataFrame(
        {
            "text": values,
            "cat": pl.Series(values, dtype=pl.Categorical),
            "enum": pl.Series(values, dtype=pl.Enum(["a", "b", "c", "z"])),
            "flag": [True, False, None, True, True, False],
        }
    )
    schema = FeatureSchema(
        numeric=(),
        categorical={"text": levels, "cat": levels, "enum": levels, "flag": ("true",)},
    )
    X = to_model_frame(frame, schema)
    for column, expected_levels in schema.categorical.items():
        as_text = frame[column].cast(pl.String).to_list()
        expected = pd.Categorical(as_text, categories=list(expected_levels))
        pd.testing.assert_series_equal(X[column], pd.Series(expected, name=column))


def test_model_frame_without_numeric_features_keeps_the_row_count():
    schema = FeatureSchema(numeric=(), categorical={"sex": ("f", "m")})
    X = to_model_frame(pl.DataFrame({"sex": ["f", "m", "f"]}), schema)
    assert X.shape == (3, 1)
    assert isinstance(X["sex"].dtype, pd.CategoricalDtype)


def test_model_frame_names_missing_columns():
    with pytest.raises(FeatureError, match="income"):
        to_model_frame(pl.DataFrame({"sex": ["f"]}), FeatureSchema(numeric=("income",)))


def test_target_vector_encodes_positive_as_one_and_rejects_unknown_values():
    frame = pl.DataFrame({"outcome": ["bad", "good", "good", "bad"]})
    assert target_vector(frame, make_spec()).tolist() == [1, 0, 0, 1]
    assert target_vector(frame, make_spec()).dtype == np.int8
    with pytest.raises(TargetError, match="maybe"):
        target_vector(pl.DataFrame({"outcome": ["bad", "maybe"]}), make_spec())
    with pytest.raises(TargetError, match="null"):
        target_vector(pl.DataFrame({"outcome": ["bad", None]}), make_spec())


def test_target_vector_without_negatives_takes_every_other_value_as_negative():
    frame = pl.DataFrame({"flag": pl.Series([1, 0, 2, 1], dtype=pl.Int8)})
    spec = make_spec(target="flag", positive=1, negative=None)
    assert target_vector(frame, spec).tolist() == [1, 0, 0, 1]


def test_single_feature_auc_matches_sklearn_for_a_numeric_feature():
    frame = people()
    y = target_vector(frame, make_spec())
    schema = FeatureSchema(numeric=("income",))
    expected = roc_auc_score(y, frame["income"].to_numpy())
    assert single_feature_aucs(frame, y, schema)["income"] == pytest.approx(
        max(expected, 1 - expected)
    )


def test_screening_drops_null_constant_and_leaking_features_with_reasons():
    frame = people()
    y = target_vector(frame, make_spec())
    rng = np.random.default_rng(1)
    frame = frame.with_columns(
        empty=pl.lit(None, dtype=pl.Float64),
        same=pl.lit("x"),
        leak=pl.Series(y * 10 + rng.normal(0, 0.1, len(y))),
        leaky_nulls=pl.Series(np.where(y == 1, np.nan, 1.0)),
    )
    schema = FeatureSchema(
        numeric=("income", "age", "empty", "leak", "leaky_nulls"),
        categorical={"sex": ("f", "m"), "same": ("x",)},
    )
    kept, exclusions = screen_features(frame, y, schema)
    reasons = {e["column"]: e["reason"] for e in exclusions}
    assert reasons == {
        "empty": "all_null",
        "same": "constant",
        "leak": "label_leak",
        "leaky_nulls": "label_leak",
    }
    assert kept == FeatureSchema(numeric=("income", "age"), categorical={"sex": ("f", "m")})
    assert all(e["detail"] for e in exclusions)


def test_screening_flags_a_categorical_that_encodes_the_label():
    frame = people()
    y = target_vector(frame, make_spec())
    frame = frame.with_columns(status=pl.Series(np.where(y == 1, "closed", "open")))
    schema = FeatureSchema(numeric=("income",), categorical={"status": ("closed", "open")})
    kept, exclusions = screen_features(frame, y, schema)
    assert [e["column"] for e in exclusions] == ["status"]
    assert kept.columns == ("income",)


def test_check_trainable_rejects_one_class_and_too_few_positives():
    with pytest.raises(TrainingDataError, match="single class"):
        check_trainable(np.zeros(50, dtype=np.int8))
    with pytest.raises(TrainingDataError, match="3 positives; at least 5"):
        check_trainable(np.array([1, 1, 1] + [0] * 50, dtype=np.int8), min_positives=5)
    check_trainable(np.array([1] * 5 + [0] * 50, dtype=np.int8), min_positives=5)
