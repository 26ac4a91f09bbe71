"""The trial budget of a study shared by several workers, and where studies are stored.

Workers here are threads on one in-memory optuna storage (trial numbers are assigned under its
lock, as PostgreSQL does under a row lock); tests/test_postgres.py runs worker processes on a
real PostgreSQL. A barrier inside the objective makes two trials be in flight at once, which is
the case that overshoots a budget checked only when trials finish.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from binclf.io import state
from binclf.train.search.budget import (
    BEYOND_BUDGET_ATTR,
    finished_trials,
    optimize_within_budget,
    shared_storage,
    trials_ahead,
    within_budget,
)

optuna.logging.set_verbosity(optuna.logging.ERROR)
MEETING_SECONDS = 0.5


def new_study(storage: Any = None, name: str = "shared") -> optuna.Study:
    return optuna.create_study(
        storage=storage, study_name=name, sampler=optuna.samplers.RandomSampler(seed=0)
    )


def square(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -1.0, 1.0)
    return x * x


def meeting_objective(barrier: threading.Barrier) -> Callable[[optuna.Trial], float]:
    """An objective whose trials wait (a while at most) until the barrier's parties all run."""

    def objective(trial: optuna.Trial) -> float:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=MEETING_SECONDS)
        return square(trial)

    return objective


def run_workers(work: Callable[[], Any], n_workers: int = 2) -> list[Any]:
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(work())) for _ in range(n_workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def numbers(study: optuna.Study, *states: TrialState) -> list[int]:
    return [t.number for t in study.get_trials(deepcopy=False, states=states or None)]


def test_max_trials_callback_alone_overshoots_when_two_trials_are_in_flight() -> None:
    storage = optuna.storages.InMemoryStorage()
    new_study(storage)
    objective = meeting_objective(threading.Barrier(2))
    stop_at_one = optuna.study.MaxTrialsCallback(1, states=(TrialState.COMPLETE,))

    def worker() -> None:
        study = optuna.load_study(study_name="shared", storage=storage)
        study.optimize(objective, n_trials=1, callbacks=[stop_at_one])

    run_workers(worker)
    assert finished_trials(optuna.load_study(study_name="shared", storage=storage)) == 2


def test_budget_holds_when_two_workers_have_trials_in_flight() -> None:
    storage = optuna.storages.InMemoryStorage()
    new_study(storage)
    objective = meeting_objective(threading.Barrier(2))

    def worker() -> int:
        study = optuna.load_study(study_name="shared", storage=storage)
        return optimize_within_budget(study, objective, n_trials=1)

    ran = run_workers(worker)
    study = optuna.load_study(study_name="shared", storage=storage)
    assert finished_trials(study) == 1
    assert sorted(ran) == [0, 1]
    rejected = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    assert all(t.user_attrs.get(BEYOND_BUDGET_ATTR) and not t.params for t in rejected)


def test_many_trials_from_four_workers_add_up_to_the_budget_exactly() -> None:
    storage = optuna.storages.InMemoryStorage()
    new_study(storage)

    def objective(trial: optuna.Trial) -> float:
        time.sleep(0.01 * (trial.number % 3))
        return square(trial)

    def worker() -> int:
        study = optuna.load_study(study_name="shared", storage=storage)
        return optimize_within_budget(study, objective, n_trials=13)

    ran = run_workers(worker, n_workers=4)
    study = optuna.load_study(study_name="shared", storage=storage)
    assert sum(ran) == 13
    assert finished_trials(study) == 13
    all_numbers = numbers(study)
    assert len(all_numbers) == len(set(all_numbers))


def test_a_running_trial_of_another_worker_holds_its_place() -> None:
    study = new_study()
    for value in (0.3, 0.2):
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=value))
    study.ask()  # another worker's trial, still running
    calls: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        calls.append(trial.number)
        return 0.1

    assert optimize_within_budget(study, objective, n_trials=3) == 0
    assert calls == []
    assert finished_trials(study) == 2
    (rejected,) = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    assert rejected.number == 3
    assert rejected.user_attrs[BEYOND_BUDGET_ATTR] is True


def test_failed_trials_free_their_place_in_the_budget() -> None:
    study = new_study()
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    assert optimize_within_budget(study, square, n_trials=3) == 2
    assert finished_trials(study) == 3


def test_trials_ahead_counts_earlier_trials_that_are_not_failed() -> None:
    study = new_study()
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))  # 0
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED))  # 1
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))  # 2
    study.ask()  # 3, running
    study.enqueue_trial({})  # 4, waiting
    study.ask()  # 4 popped, running
    study.enqueue_trial({})  # 5, waiting
    assert [trials_ahead(study, n) for n in range(7)] == [0, 1, 2, 2, 3, 4, 5]


def test_one_worker_runs_exactly_the_budget_and_a_resumed_run_adds_nothing() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = new_study(storage, name="resumable")
    assert optimize_within_budget(study, square, n_trials=5) == 5
    resumed = optuna.load_study(study_name="resumable", storage=storage)
    assert optimize_within_budget(resumed, square, n_trials=5) == 0
    assert numbers(resumed) == [0, 1, 2, 3, 4]
    assert optimize_within_budget(resumed, square, n_trials=7) == 2
    assert finished_trials(resumed) == 7


def test_within_budget_passes_the_objective_value_through() -> None:
    study = new_study()
    study.optimize(within_budget(lambda trial: 0.25, n_trials=2), n_trials=2)
    assert [t.value for t in study.trials] == [0.25, 0.25]


@pytest.mark.parametrize("bad", [0, -3])
def test_a_budget_below_one_trial_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match=f"n_trials must be at least 1, got {bad}"):
        within_budget(square, n_trials=bad)
    with pytest.raises(ValueError, match=f"n_trials must be at least 1, got {bad}"):
        optimize_within_budget(new_study(), square, n_trials=bad)


def test_shared_storage_needs_a_grace_period_longer_than_the_heartbeat() -> None:
    with pytest.raises(ValueError, match=r"grace_seconds \(30\) must exceed heartbeat_seconds"):
        shared_storage("sqlite://", heartbeat_seconds=30, grace_seconds=30)


def test_shared_storage_fails_a_dead_workers_trial_so_it_frees_its_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    storage = shared_storage(url, heartbeat_seconds=1, grace_seconds=2)
    study = new_study(storage, name="heartbeat")
    dead = study.ask()  # its worker beats once, then dies
    storage.record_heartbeat(dead._trial_id)
    time.sleep(4.0)  # well past the grace period: heartbeats are stored to the second
    assert optimize_within_budget(study, square, n_trials=2) == 2
    assert study.trials[dead.number].state == TrialState.FAIL
    assert finished_trials(study) == 2


def test_studies_go_to_the_shared_storage_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = "postgresql+psycopg2://optuna@db.example:5432/optuna"
    monkeypatch.setenv(state.OPTUNA_STORAGE_ENV, shared)
    assert state.optuna_url(tmp_path, "demo") == shared
    assert not (tmp_path / "optuna").exists()


def test_studies_default_to_an_sqlite_file_in_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(state.OPTUNA_STORAGE_ENV, raising=False)
    assert state.optuna_url(tmp_path, "demo") == f"sqlite:///{tmp_path / 'optuna' / 'demo.db'}"
