"""Ensembles: greedy selection on validation, explanations that add up, files without pickle."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from scipy.special import expit, logit
from sklearn.metrics import average_precision_score, log_loss

from binclf.evaluate.explain import ensemble_explanations
from binclf.register.registry import Registry
from binclf.register.registry_base import IntegrityError
from binclf.train.bundle import ScoringBundle
from binclf.train.calibration import Calibrator
from binclf.train.ensemble import EnsembleModel, greedy_selection
from binclf.train.features import to_model_frame
from tests.train.test_bundle import SCHEMA, events
from tests.train.test_bundle import models as models
from tests.train.test_search import linear_truth, quick, run

optuna.logging.set_verbosity(optuna.logging.ERROR)


def noisy_candidates(n_candidates: int, *, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Labels from a known truth and candidates that see it through independent noise."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(-1.0, 1.5, 4_000)
    y = (rng.random(truth.size) < expit(truth)).astype(np.int8)
    noise = [0.6 + 0.2 * i for i in range(n_candidates)]
    return y, [expit(truth + rng.normal(0, s, truth.size)) for s in noise]


def test_selection_of_independent_errors_beats_every_candidate_in_log_loss():
    y, candidates = noisy_candidates(5, seed=0)
    singles = [log_loss(y, p) for p in candidates]
    chosen = greedy_selection(candidates, lambda p: log_loss(y, p), maximize=False)
    assert chosen.score < min(singles)
    assert len(chosen.weights) >= 2 and sum(chosen.weights.values()) == pytest.approx(1.0)
    blended = expit(sum(w * logit(candidates[i]) for i, w in chosen.weights.items()))
    assert log_loss(y, blended) == pytest.approx(chosen.score)


def test_selection_is_never_worse_than_its_best_candidate_and_may_keep_it_alone():
    y, candidates = noisy_candidates(3, seed=1)
    useless = np.full(y.size, y.mean())
    chosen = greedy_selection([useless, candidates[0]], lambda p: log_loss(y, p), maximize=False)
    assert chosen.score <= log_loss(y, candidates[0])
    same = greedy_selection([candidates[1]] * 3, lambda p: log_loss(y, p), maximize=False)
    assert same.weights == {0: 1.0}
    pr = greedy_selection(candidates, lambda p: average_precision_score(y, p), maximize=True)
    assert pr.score >= max(average_precision_score(y, p) for p in candidates)


def mixed_truth(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Log-odds linear in four numerics plus an interaction of two others: the line sees the
    first part, small trees on few rows see the second better, and a blend sees both."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 6))
    log_odds = -0.5 + Z[:, :4] @ np.array([1.0, -0.8, 0.6, 0.5]) + 0.6 * np.sign(Z[:, 4] * Z[:, 5])
    y = (rng.random(n) < expit(log_odds)).astype(np.int8)
    return pd.DataFrame(Z, columns=[f"x{i}" for i in range(6)]), y


@pytest.fixture(scope="module")
def mixed():
    return {"train": mixed_truth(2_000, seed=1), "valid": mixed_truth(1_500, seed=2)}


def test_the_search_keeps_an_ensemble_only_when_it_beats_its_best_trial(mixed, tmp_path):
    data = mixed
    result = run(data, tmp_path, quick(n_trials=6, ensemble=True))
    best_trial = min(t["value"] for t in result.history if t["state"] == "COMPLETE")
    assert result.family == "ensemble"  # on these rows a blend beats both families alone
    assert result.best_value < best_trial
    assert len(result.ensemble_members) >= 2
    assert result.prior_log_odds_shift == 0.0
    assert sum(result.ensemble_members.values()) == pytest.approx(1.0)
    families = {t["number"]: t["family"] for t in result.history}
    members = [m["family"] for m in result.params["members"]]
    assert members == [families[n] for n in result.ensemble_members]
    without = run(data, tmp_path, quick(n_trials=6), name="single")
    assert without.family in ("lightgbm", "logistic") and not without.ensemble_members


@pytest.fixture()
def ensemble(models):
    return EnsembleModel([models["lightgbm"], models["logistic"]], [0.65, 0.35], [-0.4, 0.2])


def test_ensemble_contributions_add_up_to_its_log_odds(ensemble):
    frame, _ = events(400, seed=2)
    X = to_model_frame(frame, SCHEMA)
    contributions = ensemble.contributions(X)
    assert contributions.shape == (len(X), X.shape[1] + 1)
    np.testing.assert_allclose(contributions.sum(axis=1), logit(ensemble.predict_raw(X)), atol=1e-9)
    summary = ensemble_explanations(ensemble, X, sample_rows=100, seed=0)
    assert summary["sample_rows"] == 100
    assert {row["feature"] for row in summary["shap"]} == set(X.columns)
    assert [m["weight"] for m in summary["members"]] == [0.65, 0.35]


def test_an_ensemble_version_loads_from_its_files_alone_verified_and_scores_identically(
    ensemble, tmp_path
):
    bundle = ScoringBundle(
        schema=SCHEMA,
        model=ensemble,
        prior_log_odds_shift=0.0,
        calibrator=Calibrator("sigmoid", a=-1.1, b=0.2),
        threshold=0.4,
    )
    files = bundle.to_files()
    assert not any(name.endswith((".pkl", ".joblib", ".pickle")) for name in files)
    registry = Registry(tmp_path / "registry")
    version = registry.register("demo", files, metadata={"family": "ensemble"})
    restored = ScoringBundle.from_files(registry.open_files("demo", version))
    frame, _ = events(300, seed=3)
    assert restored.model.family == "ensemble"
    assert restored.score(frame).equals(bundle.score(frame))
    member = next(name for name in files if name.startswith("member1__"))
    path = next((tmp_path / "registry").rglob(member))
    path.write_bytes(path.read_bytes().replace(b"0", b"1", 1))
    with pytest.raises(IntegrityError, match=member):
        registry.open_files("demo", version)


def test_an_ensemble_searched_twice_with_a_budget_in_trials_has_byte_identical_files(
    mixed, tmp_path
):
    first = run(mixed, tmp_path, quick(n_trials=6, ensemble=True), db="first.db")
    second = run(mixed, tmp_path, quick(n_trials=6, ensemble=True), db="second.db")
    assert first.family == "ensemble"
    assert first.model.to_files() == second.model.to_files()


def test_on_a_logistic_truth_the_logistic_model_beats_an_ensemble_within_its_noise(tmp_path):
    data = {"train": linear_truth(1_500, seed=1), "valid": linear_truth(800, seed=2)}
    result = run(data, tmp_path, quick(n_trials=6, ensemble=True))
    assert result.family == "logistic" and not result.ensemble_members
