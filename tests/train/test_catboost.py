"""CatBoost: one JSON file per inputs and seed, loaded from files alone, searched, ensembled."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
from scipy.special import logit

from binclf.evaluate.evidence import explanations
from binclf.register.registry import Registry
from binclf.register.registry_base import IntegrityError
from binclf.train.bundle import ScoringBundle
from binclf.train.calibration import Calibrator
from binclf.train.catboost_model import (
    CATBOOST_MODEL_FILE,
    VOLATILE_FIELDS,
    CatBoostModel,
    fit_catboost,
)
from binclf.train.ensemble import EnsembleModel
from binclf.train.features import to_model_frame
from binclf.train.models import model_from_files
from tests.train.test_bundle import SCHEMA, events
from tests.train.test_search import linear_truth, quick, run

optuna.logging.set_verbosity(optuna.logging.ERROR)
PARAMS = {"depth": 4, "learning_rate": 0.2, "bootstrap_type": "Bayesian"}


@pytest.fixture(scope="module")
def fitted():
    frame, y = events(1_500, seed=0)
    X = to_model_frame(frame, SCHEMA)
    model = fit_catboost(X, y, params=PARAMS, iterations=40, num_threads=1, seed=7)
    return X, y, model


def test_catboost_json_is_byte_identical_for_the_same_inputs_and_seed(fitted):
    X, y, model = fitted
    again = fit_catboost(X, y, params=PARAMS, iterations=40, num_threads=1, seed=7)
    other = fit_catboost(X, y, params=PARAMS, iterations=40, num_threads=1, seed=8)
    assert again.to_files() == model.to_files()
    assert other.to_files()[CATBOOST_MODEL_FILE] != model.to_files()[CATBOOST_MODEL_FILE]
    info = json.loads(model.to_files()[CATBOOST_MODEL_FILE])["model_info"]
    assert not set(VOLATILE_FIELDS) & set(info)


def test_catboost_reloaded_from_its_json_predicts_and_explains_identically(fitted):
    X, _, model = fitted
    restored = model_from_files("catboost", model.to_files())
    assert isinstance(restored, CatBoostModel)
    np.testing.assert_allclose(restored.predict_raw(X), model.predict_raw(X), rtol=0, atol=1e-12)
    contributions = restored.contributions(X.iloc[:200])
    assert contributions.shape == (200, X.shape[1] + 1)
    np.testing.assert_allclose(
        contributions.sum(axis=1), logit(model.predict_raw(X.iloc[:200])), atol=1e-9
    )
    summary = explanations(restored, X, sample_rows=300, seed=0)
    assert summary["family"] == "catboost"
    assert {row["feature"] for row in summary["shap"]} == set(X.columns)


def test_a_catboost_version_loads_from_its_files_alone_verified_and_scores_identically(
    fitted, tmp_path
):
    _, _, model = fitted
    bundle = ScoringBundle(
        schema=SCHEMA,
        model=model,
        prior_log_odds_shift=-0.3,
        calibrator=Calibrator("sigmoid", a=-1.1, b=0.2),
        threshold=0.4,
    )
    files = bundle.to_files()
    registry = Registry(tmp_path / "registry")
    version = registry.register("demo", files, metadata={"family": "catboost"})
    restored = ScoringBundle.from_files(registry.open_files("demo", version))
    frame, _ = events(300, seed=3)  # with a level the model never saw
    assert restored.model.family == "catboost"
    assert restored.score(frame).equals(bundle.score(frame))
    path = next((tmp_path / "registry").rglob(CATBOOST_MODEL_FILE))
    path.write_bytes(path.read_bytes().replace(b"1", b"2", 1))
    with pytest.raises(IntegrityError, match=CATBOOST_MODEL_FILE):
        registry.open_files("demo", version)


def test_an_ensemble_with_a_catboost_member_round_trips_its_files(fitted):
    X, y, model = fitted
    from binclf.train.models import fit_logistic

    ensemble = EnsembleModel([model, fit_logistic(X, y)], [0.6, 0.4], [0.0, 0.0])
    restored = model_from_files("ensemble", ensemble.to_files())
    np.testing.assert_allclose(restored.predict_raw(X), ensemble.predict_raw(X), atol=1e-12)


def test_the_search_prunes_and_refits_catboost_trials(tmp_path):
    data = {"train": linear_truth(2_700, seed=3), "valid": linear_truth(800, seed=4)}
    settings = quick(families=("catboost",), n_trials=4, fidelity_min_rows=300, cv_max_rows=0)
    result = run(data, tmp_path, settings)
    assert result.family == "catboost"
    assert result.fidelity_rows == 2_700
    assert {t["family"] for t in result.history} == {"catboost"}
    assert result.n_complete + result.n_pruned == 4
    assert result.model.params["iterations"] >= 1
    X_valid, y_valid = data["valid"]
    assert result.model.predict_raw(X_valid).shape == (len(y_valid),)
