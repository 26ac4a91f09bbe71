"""The scoring bundle: schema -> model -> prior shift -> calibration -> decision, as files."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy.special import expit

from binclf.train.bundle import BUNDLE_FILE, BundleError, ScoringBundle
from binclf.train.calibration import Calibrator
from binclf.train.features import FeatureSchema, to_model_frame
from binclf.train.models import fit_lightgbm, fit_logistic
from binclf.train.resampling import apply_prior_shift

SCHEMA = FeatureSchema(numeric=("amount", "age"), categorical={"channel": ("pos", "web")})


def events(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3, 1, n)
    age = rng.integers(18, 90, n).astype(float)
    channel = rng.choice(["pos", "web", "atm"], n)  # "atm" is unseen by the schema
    log_odds = -2 + 0.5 * np.log(amount) - 0.02 * age + 1.0 * (channel == "web")
    y = (rng.random(n) < expit(log_odds)).astype(np.int8)
    age[::17] = np.nan
    frame = pl.DataFrame(
        {"event_id": np.arange(n), "amount": amount, "age": age, "channel": channel}
    )
    return frame, y


@pytest.fixture(scope="module")
def models():
    frame, y = events(1_500, seed=0)
    X = to_model_frame(frame, SCHEMA)
    return {
        "lightgbm": fit_lightgbm(X, y, params={"num_leaves": 7}, num_boost_round=25),
        "logistic": fit_logistic(X, y, C=1.0),
    }


@pytest.mark.parametrize("family", ["lightgbm", "logistic"])
def test_bundle_restored_from_files_scores_identically(models, family):
    bundle = ScoringBundle(
        schema=SCHEMA,
        model=models[family],
        prior_log_odds_shift=-0.7,
        calibrator=Calibrator("sigmoid", a=-1.1, b=0.2),
        threshold=0.3,
    )
    files = bundle.to_files()
    assert all(isinstance(v, bytes) for v in files.values())
    restored = ScoringBundle.from_files({**files, "card.json": b"{}"})
    frame, _ = events(300, seed=1)
    assert restored.score(frame).equals(bundle.score(frame))
    assert restored.calibrator == bundle.calibrator
    assert restored.schema == bundle.schema


def test_score_chains_prior_shift_calibration_and_threshold(models):
    calibrator = Calibrator("sigmoid", a=-0.9, b=0.1)
    bundle = ScoringBundle(
        schema=SCHEMA,
        model=models["lightgbm"],
        prior_log_odds_shift=-1.2,
        calibrator=calibrator,
        threshold=0.25,
    )
    frame, _ = events(200, seed=2)
    scored = bundle.score(frame)
    model_p = models["lightgbm"].predict_raw(to_model_frame(frame, SCHEMA))
    expected_raw = apply_prior_shift(model_p, -1.2)
    expected_p = calibrator.transform(expected_raw)
    assert scored.columns == ["raw_score", "probability", "decision"]
    assert scored["raw_score"].to_numpy() == pytest.approx(expected_raw)
    assert scored["raw_score"].mean() < model_p.mean()
    assert scored["probability"].to_numpy() == pytest.approx(expected_p)
    assert scored["decision"].to_list() == (expected_p >= 0.25).tolist()
    assert bundle.probabilities(frame) == pytest.approx(expected_p)


def test_bundle_files_without_the_model_file_are_rejected(models):
    bundle = ScoringBundle(
        schema=SCHEMA,
        model=models["logistic"],
        prior_log_odds_shift=0.0,
        calibrator=Calibrator("none"),
        threshold=0.5,
    )
    files = bundle.to_files()
    manifest = json.loads(files[BUNDLE_FILE])
    del files[manifest["model_files"][0]]
    with pytest.raises(BundleError, match="lack the model files"):
        ScoringBundle.from_files(files)
    with pytest.raises(BundleError, match=BUNDLE_FILE):
        ScoringBundle.from_files({})


def test_threshold_outside_zero_one_is_rejected(models):
    with pytest.raises(BundleError, match="threshold"):
        ScoringBundle(
            schema=SCHEMA,
            model=models["logistic"],
            prior_log_odds_shift=0.0,
            calibrator=Calibrator("none"),
            threshold=1.5,
        )
