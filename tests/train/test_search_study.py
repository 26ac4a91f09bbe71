"""What keys a study (the search definition and a stable data hash) and whose trials it fails."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import numpy as np
import optuna
import pandas as pd
import polars as pl
from optuna.trial import TrialState
from scipy.special import expit

from binclf.train.inputs import data_version
from binclf.train.search import SearchSettings, search_model
from binclf.train.search.families import next_family
from binclf.train.search.owners import OWNER_ATTR, Owner
from binclf.train.search.space import (
    SEARCH_DEFINITION_VERSION,
    SMALL_DATA_ROWS,
    STARTING_POINTS,
    space_hash,
)
from binclf.train.search.study import open_study

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_the_search_definition_version_is_pinned_with_the_hash_of_its_description():
    # A changed space, starting point, sampler or pruner changes the hash: bump the version too.
    assert (SEARCH_DEFINITION_VERSION, space_hash()) == (5, "186c600c06be")


def tiny_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "amount": [1.5, None, -2.0],
            "count": [1, 2, None],
            "flag": [True, None, False],
            "purpose": ["car", None, "home"],
            "region": pl.Series(["north", "south", "north"], dtype=pl.Categorical),
            "at": [datetime(2026, 1, 1), datetime(2026, 1, 2, 3), None],
        }
    )


def test_the_data_version_of_a_tiny_frame_is_known_and_stable():
    frame = tiny_frame()
    assert data_version(frame) == "a7b0d5162fb1"
    assert data_version(frame.clone()) == data_version(frame)
    assert data_version(pl.concat([frame.slice(0, 1), frame.slice(1)], rechunk=False)) == (
        "a7b0d5162fb1"
    )


def test_the_data_version_follows_values_names_and_order_but_not_categories():
    frame = tiny_frame()
    as_strings = frame.with_columns(pl.col("region").cast(pl.String))
    assert data_version(as_strings) == data_version(frame)
    assert data_version(frame.with_columns(pl.col("amount").fill_null(0.0))) != data_version(frame)
    assert data_version(frame.rename({"count": "n"})) != data_version(frame)
    assert data_version(frame.reverse()) != data_version(frame)
    assert data_version(frame.with_columns(pl.col("count").cast(pl.Int32))) != data_version(frame)


def rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    y = (rng.random(n) < expit(X["a"] - X["b"])).astype(np.int8)
    return X, y


def search(storage: str, n_trials: int):
    settings = SearchSettings(
        n_trials=n_trials, timeout_seconds=None, families=("logistic",), num_threads=1
    )
    return search_model(
        *rows(400, 1), *rows(200, 2), storage=storage, study_name="s", settings=settings
    )


def running_trial(storage: str, owner: Owner | None) -> int:
    """A trial another run holds RUNNING, owned by `owner`."""
    trial = optuna.load_study(study_name="s", storage=storage).ask()
    if owner is not None:
        trial.set_user_attr(OWNER_ATTR, owner.to_dict())
    return trial.number


def state_of(storage: str, number: int) -> TrialState:
    return optuna.load_study(study_name="s", storage=storage).trials[number].state


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_live_runs_running_trial_is_left_running_by_a_starting_search(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    search(storage, n_trials=1)
    live = running_trial(storage, Owner.current())  # another run in this live process
    resumed = search(storage, n_trials=3)
    assert state_of(storage, live) == TrialState.RUNNING
    assert resumed.n_complete == 2  # the live trial holds its place in the budget
    failed = [t for t in resumed.history if t["state"] == "FAIL"]
    assert all(not t["params"] for t in failed)  # only the trial beyond the budget, unrun


def test_a_running_trial_whose_process_is_gone_is_failed(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    search(storage, n_trials=1)
    gone = Owner(run="gone", host=Owner.current().host, pid=dead_pid(), started=None)
    orphan = running_trial(storage, gone)
    resumed = search(storage, n_trials=3)
    assert state_of(storage, orphan) == TrialState.FAIL
    assert resumed.n_complete == 3


def test_an_owner_is_alive_only_while_its_own_process_runs():
    me = Owner.current()
    assert me.is_alive()
    assert not Owner(run="x", host=me.host, pid=dead_pid(), started=me.started).is_alive()
    if me.started is not None:  # a reused process id: same pid, another start time
        assert not Owner(run="x", host=me.host, pid=me.pid, started="0").is_alive()
    assert Owner(run="x", host=me.host + "-elsewhere", pid=1, started=None).is_alive()


def test_every_trial_records_its_owner(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    search(storage, n_trials=2)
    trials = optuna.load_study(study_name="s", storage=storage).trials
    owners = {Owner.from_attrs(t.user_attrs) for t in trials}
    assert len(owners) == 1 and None not in owners


def test_each_family_gets_its_share_of_the_trials_whatever_their_scores():
    started: list[str] = []
    for _ in range(20):
        started.append(next_family(started, ("lightgbm", "logistic")))
    assert (started.count("lightgbm"), started.count("logistic")) == (16, 4)
    assert started[:3] == ["lightgbm", "lightgbm", "logistic"]
    assert {next_family(started, ("logistic",)) for _ in range(3)} == {"logistic"}


def _queued_lightgbm_starts(storage: str, training_rows: int) -> list[dict]:
    settings = SearchSettings(n_trials=10, timeout_seconds=None, num_threads=1)
    study = open_study(storage, f"rows-{training_rows}", settings, None, training_rows)
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    queued = [t.system_attrs["fixed_params"] for t in waiting]
    return [p for p in queued if p["family"] == "lightgbm"]


def test_small_data_adds_a_few_leaf_strongly_regularized_start_and_large_data_does_not(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    small = _queued_lightgbm_starts(storage, SMALL_DATA_ROWS)
    large = _queued_lightgbm_starts(storage, SMALL_DATA_ROWS + 1)

    assert len(large) == len(STARTING_POINTS["lightgbm"])
    assert len(small) == len(large) + 1
    extra = [p for p in small if p not in large]
    assert [p["num_leaves"] for p in extra] == [4]
    assert extra[0]["lambda_l2"] >= 30
