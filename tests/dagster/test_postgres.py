"""The shared instance on a real PostgreSQL: Dagster runs and events, and one optuna study that
two worker processes fill together.

The server is initialized and started on loopback by tests/cluster_support.py; the tests are
skipped only when the PostgreSQL server binaries are not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cluster_support import TINY_DAYS, PostgresServer, tiny_synthetic_spec

pytest_plugins = ["cluster_support"]
pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_INSTANCE = ROOT / "deploy" / "postgres" / "dagster.yaml"
DAYS = TINY_DAYS
STUDY = "shared-study"
BUDGET = 16

# One worker process: joins the study, says it is ready, waits for the go, then runs trials until
# the shared budget is full. Trials sleep a little so that the two workers' trials overlap.
WORKER = """
import random, sys, time
import optuna
from binclf.train.search.budget import optimize_within_budget

url, name, budget, seed = sys.argv[1:5]
optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.load_study(
    study_name=name, storage=url, sampler=optuna.samplers.RandomSampler(seed=int(seed))
)
pause = random.Random(int(seed))

def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    time.sleep(pause.uniform(0.05, 0.2))
    return x * x

print("ready", flush=True)
sys.stdin.readline()
print(optimize_within_budget(study, objective, n_trials=int(budget)))
"""

# One worker of the pipeline's own search: the same rows and settings in each process, as two
# Dagster steps of the same training inputs would have.
SEARCH_WORKER = """
import sys
import numpy as np
import pandas as pd
from binclf.train.search import SearchSettings, search_model

url, name, budget = sys.argv[1:4]

def rows(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    y = (rng.random(n) < 1 / (1 + np.exp(-X["a"] + X["b"]))).astype(np.int8)
    return X, y

settings = SearchSettings(
    n_trials=int(budget), timeout_seconds=None, learning_rate=0.3, max_boost_rounds=40,
    early_stopping_rounds=5, num_threads=1,
)
print("ready", flush=True)
sys.stdin.readline()
result = search_model(*rows(600, 1), *rows(300, 2), storage=url, study_name=name, settings=settings)
print(result.n_complete + result.n_pruned)
"""


def _start_together(commands: list[list[str]]) -> list[tuple[str, str]]:
    """Start worker processes, wait until each says ready, let them go at once; their output."""
    workers = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_, errors) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, errors
    return outputs


def test_the_deploy_instance_keeps_runs_and_events_in_postgres(
    postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import AssetKey, DagsterInstance, materialize
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from pipelines.definitions import build_definitions

    monkeypatch.setenv("DAGSTER_PG_URL", postgres.create_database("dagster"))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_INSTANCE, home / "dagster.yaml")
    instance = DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        defs = build_definitions(tiny_synthetic_spec(), str(tmp_path / "state"))
        quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
        profile = [a for a in defs.assets if AssetKey("validation_profile") in a.keys]
        assert materialize(
            profile, instance=instance, resources=defs.resources, run_config=quiet
        ).success
        result = defs.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            run_config=quiet,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: DAYS[0],
                ASSET_PARTITION_RANGE_END_TAG: DAYS[-1],
            },
        )
        assert result.success
    finally:
        instance.dispose()

    runs = postgres.query("dagster", "SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
    assert runs == [("SUCCESS",)]
    materialized = postgres.query(
        "dagster",
        "SELECT asset_key, partition FROM event_logs "
        "WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION' ORDER BY 1, 2",
        (result.run_id,),
    )
    assert materialized == [
        (f'["{asset}"]', day) for asset in ("raw_events", "validated_events") for day in DAYS
    ]
    checks = postgres.query(
        "dagster",
        "SELECT count(*) FROM event_logs "
        "WHERE run_id = %s AND dagster_event_type = 'ASSET_CHECK_EVALUATION'",
        (result.run_id,),
    )
    assert checks == [(0,)]  # a clean backfill writes no check verdicts: each day's is here
    verdicts = postgres.query(
        "dagster",
        "SELECT count(*) FROM event_logs WHERE run_id = %s AND asset_key = %s "
        "AND dagster_event_type = 'ASSET_MATERIALIZATION' AND event LIKE %s",
        (result.run_id, '["validated_events"]', "%rules_passed%"),
    )
    assert verdicts == [(len(DAYS),)]


def test_two_worker_processes_fill_one_study_budget_exactly(postgres: PostgresServer) -> None:
    import optuna

    url = postgres.create_database("optuna")
    optuna.create_study(study_name=STUDY, storage=url)
    outputs = _start_together(
        [[sys.executable, "-c", WORKER, url, STUDY, str(BUDGET), str(seed)] for seed in (1, 2)]
    )
    ran = [int(out.strip().splitlines()[-1]) for out, _ in outputs]

    study = optuna.load_study(study_name=STUDY, storage=url)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    assert states.count("COMPLETE") + states.count("PRUNED") == BUDGET
    assert sum(ran) == BUDGET
    assert min(ran) > 0, f"one worker ran every trial: {ran}"
    assert set(states) <= {"COMPLETE", "FAIL"}
    assert states.count("FAIL") <= 2  # at most one trial beyond the budget per worker
    duplicated = postgres.query(
        "optuna",
        "SELECT number, count(*) FROM trials GROUP BY study_id, number HAVING count(*) > 1",
    )
    assert duplicated == []


def test_two_pipeline_searches_share_one_study_and_finish_its_budget_exactly(
    postgres: PostgresServer,
) -> None:
    import optuna

    url = postgres.create_database("optuna_pipeline")
    outputs = _start_together([[sys.executable, "-c", SEARCH_WORKER, url, STUDY, "12"]] * 2)

    study = optuna.load_study(study_name=STUDY, storage=url)
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 12
    seen = sorted(int(out.strip().splitlines()[-1]) for out, _ in outputs)
    assert 0 < seen[0] <= seen[1] == 12  # the worker that ends first may not see the last trial
    assert not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    starting_points = [t.params for t in finished if t.system_attrs.get("fixed_params")]
    assert len(starting_points) == len({str(sorted(p.items())) for p in starting_points})
