"""Multi-fidelity over training rows: the ladder, its nested samples, the adaptive top rung."""

from __future__ import annotations

import itertools
import logging
import time

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from binclf.train.models import LIGHTGBM_MODEL_FILE
from binclf.train.search import search_model
from binclf.train.search.fidelity import (
    FINAL_FIT_SHARE,
    RESERVE_ATTR,
    TOP_RUNG_ATTR,
    choose_top_rung,
    deadline_callback,
    ladder,
    nested_rows,
    top_rung,
)
from tests.train.test_search import linear_truth, quick, run

optuna.logging.set_verbosity(optuna.logging.ERROR)


@pytest.fixture(scope="module")
def data():
    return {"train": linear_truth(2_700, seed=3), "valid": linear_truth(800, seed=4)}


def test_the_ladder_divides_by_three_down_to_the_smallest_rung():
    assert ladder(100_000, 3_000) == (3_704, 11_112, 33_334, 100_000)
    assert ladder(2_700, 300) == (300, 900, 2_700)
    assert ladder(2_000, 3_000) == (2_000,)


def test_each_rung_holds_the_smaller_ones_and_the_class_balance():
    y = (np.random.default_rng(0).random(9_000) < 0.1).astype(np.int8)
    samples = nested_rows(y, ladder(len(y), 1_000), seed=5)
    assert [len(s) for s in samples] == [1_000, 3_000, 9_000]
    for small, large in itertools.pairwise(samples):
        assert np.isin(small, large).all()
    for sample in samples:
        assert y[sample].mean() == pytest.approx(y.mean(), abs=1e-3)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(samples, nested_rows(y, (1_000, 3_000, 9_000), 5), strict=True)
    )


def test_the_top_rung_is_the_largest_expected_to_fit_an_eighth_of_the_budget():
    # 60 s budget: 7.5 s per top-rung fit at most. The first rung is timed at 4 times the
    # learning rate, so 0.2 s there is 0.8 s at the top rate: 2.4 s a rung up, 7.2 s two up.
    assert top_rung(0.2, 4, 60.0) == 2
    assert top_rung(0.01, 4, 60.0) == 3
    assert top_rung(0.01, 2, 60.0) == 1


def test_the_first_rung_only_prunes_however_slow_it_is():
    assert top_rung(1.0, 4, 60.0) == 1
    assert top_rung(20.0, 4, 60.0) == 1
    assert top_rung(20.0, 1, 60.0) == 0


def test_lightgbm_trials_climb_the_rungs_and_most_are_pruned_on_the_small_ones(data, tmp_path):
    settings = quick(families=("lightgbm",), n_trials=12, fidelity_min_rows=300, cv_max_rows=0)
    result = run(data, tmp_path, settings)
    rows = {t["number"]: t["rows"] for t in result.history}
    complete = [t for t in result.history if t["state"] == "COMPLETE"]
    pruned = [t for t in result.history if t["state"] == "PRUNED"]
    assert pruned and complete
    assert all(t["rows"] == 2_700 for t in complete)  # a budget in trials climbs to every row
    assert {rows[t["number"]] for t in pruned} <= {300, 900}
    assert result.fidelity_rows == 2_700


def test_a_budget_in_trials_gives_byte_identical_models_with_several_rungs(data, tmp_path):
    settings = quick(
        families=("lightgbm",), n_trials=6, fidelity_min_rows=300, cv_max_rows=0, seed=3
    )
    first = run(data, tmp_path, settings, db="first.db")
    second = run(data, tmp_path, settings, db="second.db")
    assert [t["state"] for t in first.history] == [t["state"] for t in second.history]
    text = first.model.to_files()[LIGHTGBM_MODEL_FILE]
    assert text == second.model.to_files()[LIGHTGBM_MODEL_FILE]


def test_a_budget_in_seconds_stores_its_top_rung_and_no_trial_climbs_above_it(data, tmp_path):
    settings = quick(
        families=("lightgbm",),
        n_trials=6,
        timeout_seconds=30.0,
        fidelity_min_rows=300,
        cv_max_rows=0,
    )
    result = run(data, tmp_path, settings)
    study = optuna.load_study(study_name="study", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    top = study.user_attrs[TOP_RUNG_ATTR]
    assert top in (1, 2)
    assert max(t["rows"] for t in result.history) == (300, 900, 2_700)[top]


class _AttrStudy:
    def __init__(self) -> None:
        self.user_attrs: dict[str, object] = {}

    def set_user_attr(self, key: str, value: object) -> None:
        self.user_attrs[key] = value


def test_the_trials_keep_time_for_a_final_fit_below_the_top_or_after_a_sample():
    # 0.01 s on the first rung: every rung fits, so trials climb to the last one and no fit on
    # more trial rows follows, unless the trial rows are a sample of the training rows.
    for final_fit_follows, reserve in ((False, 0.0), (True, FINAL_FIT_SHARE * 60.0)):
        study = _AttrStudy()
        assert choose_top_rung(study, 0.01, 4, 60.0, final_fit_follows) == 3
        assert study.user_attrs[RESERVE_ATTR] == reserve
    below_the_top = _AttrStudy()
    assert choose_top_rung(below_the_top, 0.2, 4, 60.0) == 2
    assert below_the_top.user_attrs[RESERVE_ATTR] == FINAL_FIT_SHARE * 60.0


def test_no_ensemble_is_refit_once_the_budget_in_seconds_is_spent(data, tmp_path, caplog):
    def outlast_the_budget(study, trial) -> None:
        if trial.number == 0:
            time.sleep(1.6)

    (X, y), (X_valid, y_valid) = data["train"], data["valid"]
    settings = quick(n_trials=3, timeout_seconds=1.5, ensemble=True, cv_max_rows=0)
    with caplog.at_level(logging.INFO, logger="binclf.train.search.run"):
        result = search_model(
            X, y, X_valid, y_valid, storage=f"sqlite:///{tmp_path / 'optuna.db'}",
            study_name="spent", settings=settings, on_trial=outlast_the_budget,
        )  # fmt: skip
    assert result.ensemble_members == {}
    assert "no ensemble: the search's 1.5 s are spent" in caplog.text


class _Study:
    def __init__(self, complete: int) -> None:
        self.complete = complete

    def get_trials(self, deepcopy: bool, states: tuple[TrialState, ...]) -> list[int]:
        return list(range(self.complete)) if TrialState.COMPLETE in states else []


def test_a_fit_past_the_deadline_is_pruned_once_the_study_has_a_completed_trial():
    check = deadline_callback(0.0, _Study(complete=1), lambda: optuna.TrialPruned("late"))
    with pytest.raises(optuna.TrialPruned):
        check(None)
    deadline_callback(0.0, _Study(complete=0), lambda: optuna.TrialPruned("late"))(None)
    deadline_callback(None, _Study(complete=1), lambda: optuna.TrialPruned("late"))(None)


def test_a_warm_started_study_begins_with_the_champions_parameters(data, tmp_path):
    champion = run(data, tmp_path, quick(n_trials=5), name="champion")
    best = optuna.load_study(
        study_name="champion", storage=f"sqlite:///{tmp_path / 'optuna.db'}"
    ).best_trial.params
    (X, y), (X_valid, y_valid) = data["train"], data["valid"]
    warm = search_model(
        X, y, X_valid, y_valid, storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        study_name="retrain", settings=quick(n_trials=1, seed=9), warm_start_from="champion",
    )  # fmt: skip
    study = optuna.load_study(study_name="retrain", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    first = study.get_trials(deepcopy=False)[0]
    assert first.params == best and first.state == TrialState.COMPLETE
    assert warm.history[0]["params"] == best
    assert champion.family == best["family"]
    waiting = [t.params for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))]
    assert best not in waiting and len(waiting) >= 1


def test_warm_start_from_a_study_not_in_the_storage_starts_cold(data, tmp_path):
    (X, y), (X_valid, y_valid) = data["train"], data["valid"]
    result = search_model(
        X, y, X_valid, y_valid, storage=f"sqlite:///{tmp_path / 'optuna.db'}",
        study_name="cold", settings=quick(n_trials=1), warm_start_from="gone",
    )  # fmt: skip
    assert result.history[0]["params"] == {"family": "logistic", "C": 1.0, "class_weight": "none"}


def test_a_winner_scored_below_the_top_is_fit_on_every_trial_row_for_its_rounds(data, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="capped", storage=storage).set_user_attr(TOP_RUNG_ATTR, 0)
    settings = quick(
        families=("lightgbm",),
        n_trials=3,
        timeout_seconds=60.0,
        fidelity_min_rows=300,
        cv_max_rows=0,
    )
    result = run(data, tmp_path, settings, name="capped")
    assert {t["rows"] for t in result.history} == {300}
    assert (result.fidelity_rows, result.rounds_rows) == (300, 2_700)


def test_the_champions_study_is_read_from_its_verified_card(tmp_path):
    import json

    from binclf.register.loading import CARD_FILE, champion_study
    from binclf.register.registry import Registry

    registry = Registry(tmp_path / "registry")
    assert champion_study(registry, "demo") is None
    card = {"search": {"study": "demo-data1-code2"}}
    version = registry.register("demo", {CARD_FILE: json.dumps(card).encode()}, metadata={})
    registry.promote("demo", version, expected_champion=None, reason="test")
    assert champion_study(registry, "demo") == "demo-data1-code2"


def test_the_families_take_their_shares_of_the_trials_though_most_boosted_ones_are_pruned(
    data, tmp_path
):
    settings = quick(n_trials=10, fidelity_min_rows=300, cv_max_rows=0)
    result = run(data, tmp_path, settings)
    families = [t["family"] for t in result.history]
    # The logistic starting point and three LightGBM ones, then LightGBM 0.8 : logistic 0.2.
    assert (families.count("lightgbm"), families.count("logistic")) == (8, 2)
    assert any(t["state"] == "PRUNED" for t in result.history)
