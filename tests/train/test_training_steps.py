"""Model inputs per split: only the asked-for splits are copied, features built on demand."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from binclf.evaluate import steps as evaluation_steps
from binclf.register import candidate
from binclf.spec import spec_from_dict
from binclf.train import inputs as training_inputs
from binclf.train.bundle import ScoringBundle
from binclf.train.calibration import Calibrator
from binclf.train.features import FeatureSchema, to_model_frame
from binclf.train.models import fit_lightgbm
from binclf.train.splits import SPLIT_COLUMN

SPEC = spec_from_dict(
    {
        "name": "loans",
        "source": {"kind": "parquet", "path": "loans.parquet"},
        "target": "defaulted",
        "positive": True,
        "id_column": "loan_id",
        "weight_column": "weight",
    }
)


def split_rows(n: int = 2_000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.normal(size=n)
    return pl.DataFrame(
        {
            "loan_id": np.arange(n),
            "defaulted": rng.random(n) < 1 / (1 + np.exp(2 - amount)),
            "weight": rng.uniform(0.5, 2.0, n),
            "amount": amount,
            "purpose": rng.choice(["car", "home", "study"], n),
            SPLIT_COLUMN: rng.choice(["train", "validation", "calibration", "test"], n),
        }
    )


def test_split_frames_hold_exactly_the_rows_of_each_named_split():
    frame = split_rows()
    for names in (training_inputs.SPLITS, ("calibration",), ("train", "test")):
        parts = training_inputs.split_frames(frame, names)
        assert tuple(parts) == names
        for name, part in parts.items():
            expected = frame.filter(pl.col(SPLIT_COLUMN) == name)
            assert part.equals(expected)


def test_a_split_without_rows_is_empty_and_an_unknown_split_is_an_error():
    frame = split_rows().filter(pl.col(SPLIT_COLUMN) != "calibration")
    parts = training_inputs.split_frames(frame, ("train", "calibration"))
    assert parts["calibration"].height == 0
    assert parts["calibration"].schema == frame.schema
    with pytest.raises(ValueError, match="holdout"):
        training_inputs.split_frames(frame, ("holdout",))


def test_model_inputs_infer_the_schema_on_train_and_build_each_split_on_demand():
    frame = split_rows()
    inputs = training_inputs.model_inputs(frame, SPEC, names=("train", "validation"))
    assert inputs.schema.numeric == ("amount",)
    assert inputs.schema.categorical == {"purpose": ("car", "home", "study")}
    validation = frame.filter(pl.col(SPLIT_COLUMN) == "validation")
    X = inputs.features("validation")
    assert X.shape == (validation.height, 2)
    np.testing.assert_array_equal(X["amount"].to_numpy(), validation["amount"].to_numpy())
    assert inputs.labels("validation").tolist() == validation["defaulted"].cast(pl.Int8).to_list()
    np.testing.assert_array_equal(inputs.weights("validation"), validation["weight"].to_numpy())
    with pytest.raises(KeyError):
        inputs.features("test")


def test_model_inputs_without_train_rows_need_a_given_schema():
    with pytest.raises(ValueError, match="train"):
        training_inputs.model_inputs(split_rows(), SPEC, names=("test",))
    schema = FeatureSchema(numeric=("amount",))
    inputs = training_inputs.model_inputs(split_rows(), SPEC, names=("test",), schema=schema)
    assert list(inputs.features("test").columns) == ["amount"]


def test_leakage_is_each_features_auc_on_the_training_rows_only():
    frame = split_rows(seed=1)
    schema = FeatureSchema(numeric=("amount",), categorical={"purpose": ("car", "home", "study")})
    train = frame.filter(pl.col(SPLIT_COLUMN) == "train")
    expected = roc_auc_score(train["defaulted"].to_numpy(), train["amount"].to_numpy())
    leakage = evaluation_steps.training_leakage(frame, SPEC, schema)
    assert leakage["amount"] == pytest.approx(max(expected, 1 - expected))
    assert 0.5 <= leakage["purpose"] < 0.6


def test_a_large_training_set_is_profiled_on_a_seeded_sample(monkeypatch):
    frame = split_rows(n=20_000, seed=2).filter(pl.col(SPLIT_COLUMN) == "train")
    X = to_model_frame(frame, FeatureSchema(numeric=("amount",)))
    y = frame["defaulted"].cast(pl.Int8).to_numpy()
    model = fit_lightgbm(X, y, params={"num_leaves": 4}, num_boost_round=5)
    bundle = ScoringBundle(FeatureSchema(numeric=("amount",)), model, 0.0, Calibrator("none"), 0.5)
    full = candidate.reference_profile(bundle, frame)
    monkeypatch.setattr(candidate, "REFERENCE_PROFILE_ROWS", 3_000)
    sampled = candidate.reference_profile(bundle, frame)
    assert (full.n_rows, sampled.n_rows) == (frame.height, 3_000)
    assert sampled == candidate.reference_profile(bundle, frame)  # the same sample every time
    full_edges, sampled_edges = full.numeric[0].edges, sampled.numeric[0].edges
    assert np.allclose(sampled_edges, full_edges, atol=0.1)
