"""The search: resumable budget, reproducible models, the better family wins."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from binclf.train.models import LIGHTGBM_MODEL_FILE
from binclf.train.search import SearchError, SearchSettings, search_model


def quick(**overrides) -> SearchSettings:
    """Settings small enough for a unit test; single models unless a test asks for ensembles."""
    values = {
        "n_trials": 4,
        "timeout_seconds": None,
        "learning_rate": 0.2,
        "max_boost_rounds": 60,
        "early_stopping_rounds": 10,
        "num_threads": 1,
        "ensemble": False,
        **overrides,
    }
    return SearchSettings(**values)


def linear_truth(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Log-odds linear in five numerics and one categorical: a logistic model is exact."""
    rng = np.random.default_rng(seed)
    numerics = rng.normal(size=(n, 5))
    level = rng.choice(["a", "b"], n)
    log_odds = -1.0 + numerics @ np.array([1.2, -0.8, 0.6, 0.4, -0.3]) + 0.7 * (level == "b")
    y = (rng.random(n) < expit(log_odds)).astype(np.int8)
    X = pd.DataFrame(numerics, columns=[f"x{i}" for i in range(5)])
    X["level"] = pd.Categorical(level, categories=["a", "b"])
    return X, y


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    return {"train": linear_truth(1_500, seed=1), "valid": linear_truth(800, seed=2)}


def run(data, tmp_path, settings: SearchSettings, name: str = "study", db: str = "optuna.db"):
    (X, y), (X_valid, y_valid) = data["train"], data["valid"]
    return search_model(
        X,
        y,
        X_valid,
        y_valid,
        storage=f"sqlite:///{tmp_path / db}",
        study_name=name,
        settings=settings,
    )


def test_interrupted_search_resumes_and_stops_at_the_budget(data, tmp_path):
    first = run(data, tmp_path, quick(n_trials=3))
    resumed = run(data, tmp_path, quick(n_trials=6))
    assert first.n_complete + first.n_pruned == 3
    assert resumed.n_complete + resumed.n_pruned == 6
    assert len(resumed.history) == 6
    kept = [(t["number"], t["params"], t["value"]) for t in resumed.history[:3]]
    assert kept == [(t["number"], t["params"], t["value"]) for t in first.history]
    again = run(data, tmp_path, quick(n_trials=6))
    assert len(again.history) == 6


def test_a_trial_left_running_by_a_killed_run_is_failed_and_does_not_count(data, tmp_path):
    import optuna

    run(data, tmp_path, quick(n_trials=2))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.load_study(study_name="study", storage=storage).ask()  # killed mid-trial
    resumed = run(data, tmp_path, quick(n_trials=4))
    assert resumed.n_complete + resumed.n_pruned == 4
    assert [t["state"] for t in resumed.history].count("FAIL") == 1
    assert "RUNNING" not in [t["state"] for t in resumed.history]


def test_same_inputs_and_seed_give_byte_identical_lightgbm_text(data, tmp_path):
    settings = quick(families=("lightgbm",), n_trials=3, seed=7)
    first = run(data, tmp_path, settings, db="first.db")
    second = run(data, tmp_path, settings, db="second.db")
    assert first.family == second.family == "lightgbm"
    assert first.params == second.params
    text = first.model.to_files()[LIGHTGBM_MODEL_FILE]
    assert text == second.model.to_files()[LIGHTGBM_MODEL_FILE]


def test_logistic_family_wins_on_data_from_a_logistic_truth(data, tmp_path):
    result = run(data, tmp_path, quick(n_trials=6))
    families = {t["family"] for t in result.history if t["state"] == "COMPLETE"}
    assert families == {"lightgbm", "logistic"}
    assert result.family == "logistic"
    assert result.model.family == "logistic"
    best_logged = min(t["value"] for t in result.history if t["state"] == "COMPLETE")
    assert result.best_value == best_logged


def test_under_sampled_search_is_scored_and_refit_with_its_prior_shift(data, tmp_path):
    result = run(data, tmp_path, quick(families=("lightgbm",), resampling="random_under"))
    y_all = np.concatenate([data["train"][1], data["valid"][1]])
    assert result.resampling == "random_under"
    assert result.prior_log_odds_shift == pytest.approx(logit(y_all.mean()))
    assert result.refit_rows == len(y_all)


def test_auto_resampling_is_a_searched_choice(data, tmp_path):
    result = run(data, tmp_path, quick(resampling="auto", n_trials=5))
    assert all("resampling" in t["params"] for t in result.history)
    assert result.resampling in {t["params"]["resampling"] for t in result.history}


def test_pr_auc_objective_is_maximized_and_a_resumed_study_keeps_its_objective(data, tmp_path):
    result = run(data, tmp_path, quick(objective="pr_auc", n_trials=3))
    values = [t["value"] for t in result.history if t["state"] == "COMPLETE"]
    assert result.best_value == max(values)
    assert 0.5 < result.best_value <= 1.0
    with pytest.raises(SearchError, match="objective 'pr_auc'"):
        run(data, tmp_path, quick(objective="log_loss", n_trials=3))


def test_search_on_a_sample_refits_on_every_training_row(data, tmp_path):
    settings = quick(families=("lightgbm",), n_trials=2, search_sample_rows=400)
    result = run(data, tmp_path, settings)
    assert result.refit_rows == len(data["train"][1]) + len(data["valid"][1])
    without_validation = run(
        data, tmp_path, quick(families=("logistic",), n_trials=2, refit_with_validation=False),
        name="train-only",
    )  # fmt: skip
    assert without_validation.refit_rows == len(data["train"][1])


def test_each_trial_is_logged(data, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="binclf.train.search.study"):
        run(data, tmp_path, quick(n_trials=2))
    trial_lines = [r.message for r in caplog.records if r.message.startswith("trial ")]
    assert len(trial_lines) == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"n_trials": None, "timeout_seconds": None}, "budget"), ({"objective": "auc"}, "objective"),
     ({"resampling": "tomek"}, "resampling"), ({"families": ("forest",)}, "families")],
)  # fmt: skip
def test_bad_settings_are_rejected(overrides, message):
    with pytest.raises(SearchError, match=message):
        quick(**overrides)


def test_an_objective_that_raises_a_type_error_fails_the_search_with_it(
    data, tmp_path, monkeypatch
):
    from binclf.train.search import objectives

    def broken(trial, trial_data, method):
        raise TypeError("unsupported operand in the logistic objective")

    monkeypatch.setattr(objectives, "logistic_trial", broken)
    with pytest.raises(TypeError, match="unsupported operand in the logistic objective"):
        run(data, tmp_path, quick(n_trials=4))


def test_a_family_whose_trials_all_fail_fails_the_search_naming_the_first_error(
    data, tmp_path, monkeypatch
):
    from binclf.train.search import objectives

    calls = iter(range(100))

    def failing(trial, trial_data, method):
        raise ValueError(f"bad leaves {next(calls)}")

    monkeypatch.setattr(objectives, "lightgbm_trial", failing)
    # On the validation split (the cross-validated path has its own test).
    with pytest.raises(SearchError, match=r"no lightgbm trial completed \(3 failed\)") as raised:
        run(data, tmp_path, quick(n_trials=4, cv_max_rows=0))
    assert "first error: ValueError: bad leaves 0" in str(raised.value)


def test_a_changed_search_space_starts_a_new_study_with_the_full_budget(
    data, tmp_path, monkeypatch
):
    import polars as pl

    from binclf.spec import spec_from_dict
    from binclf.train.search import space, study_name

    spec = spec_from_dict(
        {
            "name": "demo",
            "source": {"kind": "parquet", "path": "demo.parquet"},
            "target": "y",
            "positive": 1,
        }
    )
    splits = pl.DataFrame({"y": data["train"][1], "x0": data["train"][0]["x0"]})
    settings = quick(n_trials=3)
    first_name = study_name(spec, splits, {"n_trials": 3})
    first = run(data, tmp_path, settings, name=first_name)
    assert study_name(spec, splits, {"n_trials": 3}) == first_name
    assert len(run(data, tmp_path, settings, name=first_name).history) == 3  # resumed, nothing new
    monkeypatch.setitem(
        space.LIGHTGBM_SPACE, "num_leaves", {**space.LIGHTGBM_SPACE["num_leaves"], "high": 64}
    )
    changed_name = study_name(spec, splits, {"n_trials": 3})
    assert changed_name != first_name
    changed = run(data, tmp_path, settings, name=changed_name)
    assert [t["number"] for t in changed.history] == [0, 1, 2]
    assert changed.n_complete + changed.n_pruned == 3
    assert first.n_complete + first.n_pruned == 3
